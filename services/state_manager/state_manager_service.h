#pragma once
// state-manager (SERVICES.md §2.4) as a native port: the public factory. The port registers every
// action of §2.4 (get, put, patch, delete, list_keys) and `_fixture` (fixture document shape:
// services/state_manager/README.md).

#include <memory>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

std::unique_ptr<Service> MakeStateManagerService(const ServiceDeps& deps);

}  // namespace sidecar::services
