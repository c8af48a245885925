#pragma once
// event-bus (SERVICES.md §2.5) as a native port: the factory the host calls.

#include <memory>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

// Registers create_topic, publish, fetch, ack, get_topic and `_fixture`.
std::unique_ptr<Service> MakeEventBusService(const ServiceDeps& deps);

}  // namespace sidecar::services
