// The thin binding of npc-behavior: typed handlers onto NpcBehaviorLogic, plus `_fixture`.
#include "services/npc_behavior/npc_behavior_service.h"

#include "services/common/fixtures.h"
#include "services/npc_behavior/npc_behavior_logic.h"
#include "services/npc_behavior/npc_behavior_store.h"

namespace sidecar::services {
namespace {

using namespace ::npc_behavior::v1;  // NOLINT: the message names of this service only
using npc_behavior::NpcBehaviorLogic;

class NpcBehaviorService final : public Service {
 public:
  explicit NpcBehaviorService(const ServiceDeps& deps)
      : deps_(deps), logic_(*deps.store, *deps.events) {}

  std::string_view name() const override { return npc_behavior::kServiceName; }

  void Register(HandlerRegistry& r) override {
    r.Add<PutNpcRequest, PutNpcResponse>(
        "put_npc", [this](const CallContext& ctx, PutNpcRequest rq, Done<PutNpcResponse> done) {
          logic_.PutNpc(ctx, rq, std::move(done));
        });
    r.Add<GetNpcRequest, GetNpcResponse>(
        "get_npc", [this](const CallContext& ctx, GetNpcRequest rq, Done<GetNpcResponse> done) {
          logic_.GetNpc(ctx, rq, std::move(done));
        });
    r.Add<DecideRequest, DecideResponse>(
        "decide", [this](const CallContext& ctx, DecideRequest rq, Done<DecideResponse> done) {
          logic_.Decide(ctx, rq, std::move(done));
        });
    r.Add<RecordInteractionRequest, RecordInteractionResponse>(
        "record_interaction", [this](const CallContext& ctx, RecordInteractionRequest rq,
                                     Done<RecordInteractionResponse> done) {
          logic_.RecordInteraction(ctx, rq, std::move(done));
        });
    // The fixture replaces NPCs, dispositions and interaction records (README.md).
    RegisterFixtureAction(
        r, deps_.fixtures_enabled, *deps_.store,
        {std::string(npc_behavior::kStorePrefix), std::string(npc_behavior::kIdempotencyPrefix)},
        &npc_behavior::MapNpcBehaviorFixture);
  }

 private:
  ServiceDeps deps_;
  NpcBehaviorLogic logic_;
};

}  // namespace

std::unique_ptr<Service> MakeNpcBehaviorService(const ServiceDeps& deps) {
  return std::make_unique<NpcBehaviorService>(deps);
}

}  // namespace sidecar::services
