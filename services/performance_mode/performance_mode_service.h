#pragma once
// performance-mode (SERVICES.md §2.8) as a native port: the public factory. The port registers
// every action of §2.8 (evaluate, report_frame_stats, get_player_mode, set_server_mode) and
// `_fixture` (document shape: services/performance_mode/README.md).

#include <memory>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

std::unique_ptr<Service> MakePerformanceModeService(const ServiceDeps& deps);

}  // namespace sidecar::services
