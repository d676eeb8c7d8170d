#include "kube_csr_approver/observability/memory.h"

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
