// The process's heap, as seen by the allocator.
#pragma once

namespace kca {

// Hands the free pages that malloc keeps inside its heaps back to the system (glibc's
// malloc_trim(0): every arena, not only the top of the main heap). Nothing live moves; the next
// allocations fault the pages in again. Worth it after a peak that is freed at once, such as the
// pages of a relist (docs/reliability.md, "Memory over relists"). Thread-safe; a no-op without
// glibc.
void ReleaseFreedMemory();

// Caps the number of malloc arenas (glibc's M_ARENA_MAX) unless the environment already sets
// MALLOC_ARENA_MAX (an admin's choice wins). glibc otherwise gives each new thread its own arena,
// up to 8 per core, and each keeps the free pages of its own peaks: with a few arenas a relist's
// freed memory is reused instead of held per thread (docs/reliability.md, "Memory over relists").
// Call before any thread starts. A no-op without glibc.
void LimitMallocArenas(int max_arenas);

}  // namespace kca
