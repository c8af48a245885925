#pragma once
// orchestration (SERVICES.md §2.19) as a native port: the factory the host calls.

#include <cstdint>
#include <memory>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

// The port, public so a host or a test can drive its sweeper (rule 5) directly.
class OrchestrationService : public Service {
 public:
  // Takes over running/compensating sagas idle > 30 s at `wall_now_ms` (unix ms) that this instance
  // is not running, and runs them to a final status in the background; `done` (may be null) gets
  // how many were taken over. Dispatcher thread only. The port also calls it by itself every 10 s
  // once it has served its first request (it can arm a timer only on the dispatcher thread).
  virtual void ResumeStale(int64_t wall_now_ms, Done<int> done) = 0;
  // Sagas this instance is running now (dispatcher thread).
  virtual size_t ActiveSagas() const = 0;
};

// Registers start_saga, get_saga, retry_compensation and `_fixture`. Calls payment, quest-system
// and world-state through deps.dependencies; needs deps.timers for retry backoff and the sweeper.
std::unique_ptr<Service> MakeOrchestrationService(const ServiceDeps& deps);

}  // namespace sidecar::services
