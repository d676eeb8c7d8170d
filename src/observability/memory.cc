#include "kube_csr_approver/observability/memory.h"

#include <cstdlib>  // any libc header: it defines __GLIBC__ for the test below

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace kca {

void ReleaseFreedMemory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

void LimitMallocArenas(int max_arenas) {
#if defined(__GLIBC__)
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, max_arenas);
#else
  (void)max_arenas;
#endif
}

}  // namespace kca
