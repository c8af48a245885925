#pragma once
// router (SERVICES.md §2.6) as a native port: the public factory. The port registers every
// action of §2.6 (put_route, delete_route, list_routes, put_flag, resolve — public) and
// `_fixture` (document shape: services/router/README.md).

#include <memory>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

std::unique_ptr<Service> MakeRouterService(const ServiceDeps& deps);

}  // namespace sidecar::services
