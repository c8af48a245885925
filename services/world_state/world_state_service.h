#pragma once
// world-state (SERVICES.md §2.14) as a native port: the factory the host calls.

#include <memory>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

// Registers put_region, get_region, apply_delta, revert_delta, get_standing and `_fixture`.
std::unique_ptr<Service> MakeWorldStateService(const ServiceDeps& deps);

}  // namespace sidecar::services
