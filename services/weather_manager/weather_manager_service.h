#pragma once
// weather-manager (SERVICES.md §2.13) as a native port: the public factory. Registers put_region,
// get_weather, forecast, set_override, clear_override and `_fixture` (document shape: README.md).

#include <memory>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

std::unique_ptr<Service> MakeWeatherManagerService(const ServiceDeps& deps);

}  // namespace sidecar::services
