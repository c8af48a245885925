#pragma once
// orchestration (SERVICES.md §2.19): the actions, the saga runner and the sweeper over the
// StateStore, the DependencyClient and Timers.
//
// A saga runs on the dispatcher as a chain of callbacks (never blocking): persist -> call (up to 3
// attempts, 100/200 ms apart through Timers) -> record the answer -> persist -> ... The stored saga
// is rewritten before every call (write-ahead, rule 5), so whichever replica resumes it re-sends
// the same call with the same idempotency key / delta_id.
//
// start_saga and retry_compensation answer when the saga reaches a final status. A request whose
// deadline runs out first is answered with the saga as last stored (running or compensating,
// "start_saga returns 200 whenever a saga exists") and the saga goes on without it, each later
// attempt with its own 2000 ms budget: a saga is never abandoned halfway because a caller stopped
// waiting, so money is never left moved without the matching quest or world change.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "services/common/call_context.h"
#include "services/common/service.h"
#include "services/common/service_deps.h"
#include "services/orchestration/orchestration_rules.h"

namespace sidecar::services::orchestration {

class SagaRunner;

class OrchestrationLogic : public std::enable_shared_from_this<OrchestrationLogic> {
 public:
  struct Options {
    // Wall clock (unix ms) for the sweeper's idle test; tests inject one.
    std::function<int64_t()> wall_clock_ms;
    // How often the binding's sweeper looks for stale sagas.
    std::chrono::milliseconds sweep_interval{10000};
  };

  static std::shared_ptr<OrchestrationLogic> Create(const ServiceDeps& deps, Options options);

  void StartSaga(const CallContext& ctx, const pb::StartSagaRequest& rq,
                 Done<pb::StartSagaResponse> done);
  void GetSaga(const CallContext& ctx, const pb::GetSagaRequest& rq,
               Done<pb::GetSagaResponse> done);
  void RetryCompensation(const CallContext& ctx, const pb::RetryCompensationRequest& rq,
                         Done<pb::RetryCompensationResponse> done);

  // Rule 5: takes over every running/compensating saga whose last write is older than 30 s at
  // `wall_now_ms` and that this instance is not running, and runs it to a final status in the
  // background. `done` (may be null) gets how many sagas were taken over, once they are claimed.
  // Dispatcher thread only.
  void ResumeStale(int64_t wall_now_ms, Done<int> done);
  // Arms the periodic sweeper (once; dispatcher thread). The binding calls it from its handlers.
  void EnsureSweeper();

  // Sagas this instance is running now.
  size_t active() const { return active_.size(); }

 private:
  friend class SagaRunner;
  OrchestrationLogic(const ServiceDeps& deps, Options options);

  int64_t WallNowMs() const;
  void ScheduleSweep();
  // Step 5 of start_saga: the stored saga (replay or ALREADY_EXISTS), else create and run.
  void LookupOrCreate(const CallContext& ctx, const pb::StartSagaRequest& rq,
                      std::string fingerprint, int attempts_left, Done<Saga> done);
  void Run(std::shared_ptr<SagaRunner> runner);
  void Forget(const std::string& saga_id, const SagaRunner* runner);
  void Publish(const Saga& saga, int64_t now_ms);

  ServiceDeps deps_;
  Options options_;
  bool sweeper_armed_ = false;
  std::map<std::string, std::shared_ptr<SagaRunner>> active_;
};

}  // namespace sidecar::services::orchestration
