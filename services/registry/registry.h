#pragma once
// Every native port this binary can host, by spec name. The one place that links the ports: a
// port never includes another, and the host (the native cluster) knows ports only through here.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

// Spec names of the hostable ports, in SERVICES.md §2 order.
std::vector<std::string> HostableServices();

// NOT_FOUND (naming the hostable ones) when `name` has no native port in this build.
absl::StatusOr<ServicePtr> MakeService(std::string_view name, const ServiceDeps& deps);

}  // namespace sidecar::services
