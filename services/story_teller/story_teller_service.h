#pragma once
// story-teller (SERVICES.md §2.22) as a native port: the factory the host calls.

#include <memory>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

// Registers put_story, start_session, choose, get_session and `_fixture` (README.md). Narrates
// through ai-router `route` (deps.dependencies).
std::unique_ptr<Service> MakeStoryTellerService(const ServiceDeps& deps);

}  // namespace sidecar::services
