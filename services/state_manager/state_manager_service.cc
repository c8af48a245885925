#include "services/state_manager/state_manager_service.h"

#include <string>
#include <utility>

#include "services/common/fixtures.h"
#include "services/state_manager/state_manager_fixture.h"
#include "services/state_manager/state_manager_logic.h"
#include "services/state_manager/state_manager_store.h"

namespace sidecar::services {
namespace {

namespace pb = ::state_manager::v1;
using state_manager::StateManagerLogic;

// The thin binding: one typed handler per §2.4 action, all forwarding to StateManagerLogic.
class StateManagerService final : public Service {
 public:
  explicit StateManagerService(const ServiceDeps& deps)
      : deps_(deps), logic_(*deps.store, *deps.events) {}

  std::string_view name() const override { return state_manager::kServiceName; }

  void Register(HandlerRegistry& r) override {
    r.Add<pb::GetRequest, pb::GetResponse>(
        "get", [this](const CallContext& ctx, pb::GetRequest rq, Done<pb::GetResponse> done) {
          logic_.Get(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::PutRequest, pb::PutResponse>(
        "put", [this](const CallContext& ctx, pb::PutRequest rq, Done<pb::PutResponse> done) {
          logic_.Put(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::PatchRequest, pb::PatchResponse>(
        "patch",
        [this](const CallContext& ctx, pb::PatchRequest rq, Done<pb::PatchResponse> done) {
          logic_.Patch(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::DeleteRequest, pb::DeleteResponse>(
        "delete",
        [this](const CallContext& ctx, pb::DeleteRequest rq, Done<pb::DeleteResponse> done) {
          logic_.Delete(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::ListKeysRequest, pb::ListKeysResponse>(
        "list_keys",
        [this](const CallContext& ctx, pb::ListKeysRequest rq, Done<pb::ListKeysResponse> done) {
          logic_.ListKeys(ctx, std::move(rq), std::move(done));
        });
    RegisterFixtureAction(r, deps_.fixtures_enabled, *deps_.store,
                          {std::string(state_manager::kStorePrefix)},
                          state_manager::MapStateManagerFixture);
  }

 private:
  ServiceDeps deps_;
  StateManagerLogic logic_;
};

}  // namespace

std::unique_ptr<Service> MakeStateManagerService(const ServiceDeps& deps) {
  return std::make_unique<StateManagerService>(deps);
}

}  // namespace sidecar::services
