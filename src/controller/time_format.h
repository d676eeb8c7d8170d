// The Kubernetes timestamp formats live with the rest of the API machinery in kube/.
#pragma once

#include "../kube/time_format.h"

namespace kca::controller {
using kube::FormatMicroTime;
using kube::FormatRfc3339;
}  // namespace kca::controller
