#pragma once
// capability-registry (SERVICES.md §2.7) as a native port: the public factory. The port
// registers every action of §2.7 (register, heartbeat, deregister, resolve, list_capabilities)
// and `_fixture` (document shape: services/capability_registry/README.md).

#include <memory>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

std::unique_ptr<Service> MakeCapabilityRegistryService(const ServiceDeps& deps);

}  // namespace sidecar::services
