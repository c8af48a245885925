#include "services/performance_mode/performance_mode_service.h"

#include <string>
#include <utility>

#include "services/common/fixtures.h"
#include "services/performance_mode/performance_mode_fixture.h"
#include "services/performance_mode/performance_mode_logic.h"
#include "services/performance_mode/performance_mode_store.h"

namespace sidecar::services {
namespace {

namespace pb = ::performance_mode::v1;
using performance_mode::PerformanceModeLogic;

// The thin binding: one typed handler per §2.8 action, all forwarding to PerformanceModeLogic.
class PerformanceModeService final : public Service {
 public:
  explicit PerformanceModeService(const ServiceDeps& deps)
      : deps_(deps), logic_(*deps.store, *deps.events) {}

  std::string_view name() const override { return performance_mode::kServiceName; }

  void Register(HandlerRegistry& r) override {
    r.Add<pb::EvaluateRequest, pb::EvaluateResponse>(
        "evaluate",
        [this](const CallContext& ctx, pb::EvaluateRequest rq, Done<pb::EvaluateResponse> done) {
          logic_.Evaluate(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::ReportFrameStatsRequest, pb::ReportFrameStatsResponse>(
        "report_frame_stats", [this](const CallContext& ctx, pb::ReportFrameStatsRequest rq,
                                     Done<pb::ReportFrameStatsResponse> done) {
          logic_.ReportFrameStats(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::GetPlayerModeRequest, pb::GetPlayerModeResponse>(
        "get_player_mode", [this](const CallContext& ctx, pb::GetPlayerModeRequest rq,
                                  Done<pb::GetPlayerModeResponse> done) {
          logic_.GetPlayerMode(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::SetServerModeRequest, pb::SetServerModeResponse>(
        "set_server_mode", [this](const CallContext& ctx, pb::SetServerModeRequest rq,
                                  Done<pb::SetServerModeResponse> done) {
          logic_.SetServerMode(ctx, std::move(rq), std::move(done));
        });
    RegisterFixtureAction(r, deps_.fixtures_enabled, *deps_.store,
                          {std::string(performance_mode::kStorePrefix)},
                          performance_mode::MapPerformanceModeFixture);
  }

 private:
  ServiceDeps deps_;
  PerformanceModeLogic logic_;
};

}  // namespace

std::unique_ptr<Service> MakePerformanceModeService(const ServiceDeps& deps) {
  return std::make_unique<PerformanceModeService>(deps);
}

}  // namespace sidecar::services
