#pragma once
// ai-router (SERVICES.md §2.20) as a native port: the public factory. Registers put_route,
// get_route, route, explain and `_fixture` (document shape: README.md). Calls ai-integration
// `complete` through ServiceDeps::dependencies.

#include <memory>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

std::unique_ptr<Service> MakeAiRouterService(const ServiceDeps& deps);

}  // namespace sidecar::services
