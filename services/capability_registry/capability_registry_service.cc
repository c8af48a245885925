#include "services/capability_registry/capability_registry_service.h"

#include <string>
#include <utility>

#include "services/capability_registry/capability_registry_fixture.h"
#include "services/capability_registry/capability_registry_logic.h"
#include "services/capability_registry/capability_registry_store.h"
#include "services/common/fixtures.h"

namespace sidecar::services {
namespace {

namespace pb = ::capability_registry::v1;
using capability_registry::CapabilityRegistryLogic;

// The thin binding: one typed handler per §2.7 action, all forwarding to CapabilityRegistryLogic.
class CapabilityRegistryService final : public Service {
 public:
  explicit CapabilityRegistryService(const ServiceDeps& deps)
      : deps_(deps), logic_(*deps.store, *deps.events) {}

  std::string_view name() const override { return capability_registry::kServiceName; }

  void Register(HandlerRegistry& r) override {
    r.Add<pb::RegisterRequest, pb::RegisterResponse>(
        "register", [this](const CallContext& ctx, pb::RegisterRequest rq,
                           Done<pb::RegisterResponse> done) {
          logic_.Register(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::HeartbeatRequest, pb::HeartbeatResponse>(
        "heartbeat", [this](const CallContext& ctx, pb::HeartbeatRequest rq,
                            Done<pb::HeartbeatResponse> done) {
          logic_.Heartbeat(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::DeregisterRequest, pb::DeregisterResponse>(
        "deregister", [this](const CallContext& ctx, pb::DeregisterRequest rq,
                             Done<pb::DeregisterResponse> done) {
          logic_.Deregister(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::ResolveRequest, pb::ResolveResponse>(
        "resolve",
        [this](const CallContext& ctx, pb::ResolveRequest rq, Done<pb::ResolveResponse> done) {
          logic_.Resolve(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::ListCapabilitiesRequest, pb::ListCapabilitiesResponse>(
        "list_capabilities", [this](const CallContext& ctx, pb::ListCapabilitiesRequest rq,
                                    Done<pb::ListCapabilitiesResponse> done) {
          logic_.ListCapabilities(ctx, std::move(rq), std::move(done));
        });
    RegisterFixtureAction(r, deps_.fixtures_enabled, *deps_.store,
                          {std::string(capability_registry::kStorePrefix)},
                          capability_registry::MapCapabilityRegistryFixture);
  }

 private:
  ServiceDeps deps_;
  CapabilityRegistryLogic logic_;
};

}  // namespace

std::unique_ptr<Service> MakeCapabilityRegistryService(const ServiceDeps& deps) {
  return std::make_unique<CapabilityRegistryService>(deps);
}

}  // namespace sidecar::services
