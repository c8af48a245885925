#pragma once
// npc-behavior (SERVICES.md §2.16) as a native port: the factory the host calls.

#include <memory>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

// Registers put_npc, get_npc, decide, record_interaction and `_fixture`.
std::unique_ptr<Service> MakeNpcBehaviorService(const ServiceDeps& deps);

}  // namespace sidecar::services
