#pragma once
// payment (SERVICES.md §2.3) as a native port: the factory the host calls.

#include <memory>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

// Registers get_wallet, credit, purchase, transfer, refund, list_entries and `_fixture`.
std::unique_ptr<Service> MakePaymentService(const ServiceDeps& deps);

}  // namespace sidecar::services
