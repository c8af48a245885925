#pragma once
// settings (SERVICES.md §2.2) as a native port: the public factory. The port registers every
// action of §2.2 (put_schema, get_schema, get_effective, set_values, reset) and `_fixture`
// (fixture document shape: services/settings/README.md).

#include <memory>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

std::unique_ptr<Service> MakeSettingsService(const ServiceDeps& deps);

}  // namespace sidecar::services
