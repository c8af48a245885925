#pragma once
// model-management (SERVICES.md §2.9) as a native port: the public factory. Registers put_model,
// get_model, list_models, set_alias, set_status and `_fixture` (document shape: README.md).

#include <memory>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

std::unique_ptr<Service> MakeModelManagementService(const ServiceDeps& deps);

}  // namespace sidecar::services
