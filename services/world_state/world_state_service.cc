// The thin binding of world-state: typed handlers onto WorldStateLogic, plus `_fixture`.
#include "services/world_state/world_state_service.h"

#include "services/common/fixtures.h"
#include "services/world_state/world_state_logic.h"
#include "services/world_state/world_state_store.h"

namespace sidecar::services {
namespace {

using namespace ::world_state::v1;  // NOLINT: the message names of this service only
using world_state::WorldStateLogic;

class WorldStateService final : public Service {
 public:
  explicit WorldStateService(const ServiceDeps& deps)
      : deps_(deps), logic_(*deps.store, *deps.events) {}

  std::string_view name() const override { return world_state::kServiceName; }

  void Register(HandlerRegistry& r) override {
    r.Add<PutRegionRequest, PutRegionResponse>(
        "put_region",
        [this](const CallContext& ctx, PutRegionRequest rq, Done<PutRegionResponse> done) {
          logic_.PutRegion(ctx, rq, std::move(done));
        });
    r.Add<GetRegionRequest, GetRegionResponse>(
        "get_region",
        [this](const CallContext& ctx, GetRegionRequest rq, Done<GetRegionResponse> done) {
          logic_.GetRegion(ctx, rq, std::move(done));
        });
    r.Add<ApplyDeltaRequest, ApplyDeltaResponse>(
        "apply_delta",
        [this](const CallContext& ctx, ApplyDeltaRequest rq, Done<ApplyDeltaResponse> done) {
          logic_.ApplyDelta(ctx, rq, std::move(done));
        });
    r.Add<RevertDeltaRequest, RevertDeltaResponse>(
        "revert_delta",
        [this](const CallContext& ctx, RevertDeltaRequest rq, Done<RevertDeltaResponse> done) {
          logic_.RevertDelta(ctx, rq, std::move(done));
        });
    r.Add<GetStandingRequest, GetStandingResponse>(
        "get_standing",
        [this](const CallContext& ctx, GetStandingRequest rq, Done<GetStandingResponse> done) {
          logic_.GetStanding(ctx, rq, std::move(done));
        });
    RegisterFixtureAction(r, deps_.fixtures_enabled, *deps_.store,
                          {std::string(world_state::kStorePrefix)},
                          &world_state::MapWorldStateFixture);
  }

 private:
  ServiceDeps deps_;
  WorldStateLogic logic_;
};

}  // namespace

std::unique_ptr<Service> MakeWorldStateService(const ServiceDeps& deps) {
  return std::make_unique<WorldStateService>(deps);
}

}  // namespace sidecar::services
