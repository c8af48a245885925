#pragma once
// environmental-narrative (SERVICES.md §2.18) as a native port: the factory the host calls.

#include <memory>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

// Registers put_rule, delete_rule, list_rules, describe and `_fixture` (README.md). Calls
// weather-manager `get_weather` and language-system `translate` through deps.dependencies.
std::unique_ptr<Service> MakeEnvironmentalNarrativeService(const ServiceDeps& deps);

}  // namespace sidecar::services
