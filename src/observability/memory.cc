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

}  // namespace kca
