#pragma once
// time-manager (SERVICES.md §2.12): the native port's factory. Registers create_clock, get_time,
// set_scale, schedule_timer, cancel_timer, tick and `_fixture` (see README.md for its document).

#include <memory>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

std::unique_ptr<Service> MakeTimeManagerService(const ServiceDeps& deps);

}  // namespace sidecar::services
