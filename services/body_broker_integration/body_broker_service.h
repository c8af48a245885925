#pragma once
// body-broker-integration (SERVICES.md §2.21) as a native port: the factory the host calls.

#include <memory>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

// Registers post_contract, accept_contract, settle_contract, appraise, get_contract,
// list_contracts and `_fixture` (README.md). Calls world-state `get_standing`, payment `transfer`
// and orchestration `start_saga` through deps.dependencies.
std::unique_ptr<Service> MakeBodyBrokerIntegrationService(const ServiceDeps& deps);

}  // namespace sidecar::services
