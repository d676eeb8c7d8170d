// The process's heap, as seen by the allocator.
#pragma once

namespace kca {

// Hands the free pages that malloc keeps inside its heaps back to the system (glibc's
// malloc_trim(0): every arena, not only the top of the main heap). Nothing live moves; the next
// allocations fault the pages in again. Worth it after a peak that is freed at once, such as the
// pages of a relist (docs/reliability.md, "Memory over relists"). Thread-safe; a no-op without
// glibc.
void ReleaseFreedMemory();

}  // namespace kca
