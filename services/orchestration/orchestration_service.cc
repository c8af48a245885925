// The thin binding of orchestration: typed handlers onto OrchestrationLogic, the sweeper, and
// `_fixture`.
#include "services/orchestration/orchestration_service.h"

#include "services/common/fixtures.h"
#include "services/orchestration/orchestration_logic.h"
#include "services/orchestration/orchestration_store.h"

namespace sidecar::services {
namespace {

using namespace ::orchestration::v1;  // NOLINT: the message names of this service only
using orchestration::OrchestrationLogic;

class OrchestrationServiceImpl final : public OrchestrationService {
 public:
  explicit OrchestrationServiceImpl(const ServiceDeps& deps)
      : deps_(deps), logic_(OrchestrationLogic::Create(deps, {})) {}

  std::string_view name() const override { return orchestration::kServiceName; }

  void Register(HandlerRegistry& r) override {
    r.Add<StartSagaRequest, StartSagaResponse>(
        "start_saga",
        [this](const CallContext& ctx, StartSagaRequest rq, Done<StartSagaResponse> done) {
          logic_->EnsureSweeper();
          logic_->StartSaga(ctx, rq, std::move(done));
        });
    r.Add<GetSagaRequest, GetSagaResponse>(
        "get_saga", [this](const CallContext& ctx, GetSagaRequest rq, Done<GetSagaResponse> done) {
          logic_->EnsureSweeper();
          logic_->GetSaga(ctx, rq, std::move(done));
        });
    r.Add<RetryCompensationRequest, RetryCompensationResponse>(
        "retry_compensation", [this](const CallContext& ctx, RetryCompensationRequest rq,
                                     Done<RetryCompensationResponse> done) {
          logic_->EnsureSweeper();
          logic_->RetryCompensation(ctx, rq, std::move(done));
        });
    // Rule 5: a restarted host resumes interrupted sagas without waiting for traffic. Timers may be
    // armed from the thread that builds the port (services/common/timers.h).
    logic_->EnsureSweeper();
    // The fixture replaces every stored saga (README.md).
    RegisterFixtureAction(r, deps_.fixtures_enabled, *deps_.store,
                          {std::string(orchestration::kStorePrefix)},
                          &orchestration::MapOrchestrationFixture);
  }

  void ResumeStale(int64_t wall_now_ms, Done<int> done) override {
    logic_->ResumeStale(wall_now_ms, std::move(done));
  }
  size_t ActiveSagas() const override { return logic_->active(); }

 private:
  ServiceDeps deps_;
  std::shared_ptr<OrchestrationLogic> logic_;
};

}  // namespace

std::unique_ptr<Service> MakeOrchestrationService(const ServiceDeps& deps) {
  return std::make_unique<OrchestrationServiceImpl>(deps);
}

}  // namespace sidecar::services
