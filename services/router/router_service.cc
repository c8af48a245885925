#include "services/router/router_service.h"

#include <string>
#include <utility>

#include "services/common/fixtures.h"
#include "services/router/router_fixture.h"
#include "services/router/router_logic.h"
#include "services/router/router_store.h"

namespace sidecar::services {
namespace {

namespace pb = ::router::v1;
using router::RouterLogic;

// The thin binding: one typed handler per §2.6 action, all forwarding to RouterLogic.
class RouterService final : public Service {
 public:
  explicit RouterService(const ServiceDeps& deps) : deps_(deps), logic_(*deps.store, *deps.events) {}

  std::string_view name() const override { return router::kServiceName; }

  void Register(HandlerRegistry& r) override {
    r.Add<pb::PutRouteRequest, pb::PutRouteResponse>(
        "put_route", [this](const CallContext& ctx, pb::PutRouteRequest rq,
                            Done<pb::PutRouteResponse> done) {
          logic_.PutRoute(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::DeleteRouteRequest, pb::DeleteRouteResponse>(
        "delete_route", [this](const CallContext& ctx, pb::DeleteRouteRequest rq,
                               Done<pb::DeleteRouteResponse> done) {
          logic_.DeleteRoute(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::ListRoutesRequest, pb::ListRoutesResponse>(
        "list_routes", [this](const CallContext& ctx, pb::ListRoutesRequest rq,
                              Done<pb::ListRoutesResponse> done) {
          logic_.ListRoutes(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::PutFlagRequest, pb::PutFlagResponse>(
        "put_flag", [this](const CallContext& ctx, pb::PutFlagRequest rq,
                           Done<pb::PutFlagResponse> done) {
          logic_.PutFlag(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::ResolveRequest, pb::ResolveResponse>(
        "resolve",
        [this](const CallContext& ctx, pb::ResolveRequest rq, Done<pb::ResolveResponse> done) {
          logic_.Resolve(ctx, std::move(rq), std::move(done));
        },
        MethodOptions{.is_public = true});
    RegisterFixtureAction(r, deps_.fixtures_enabled, *deps_.store,
                          {std::string(router::kStorePrefix)}, router::MapRouterFixture);
  }

 private:
  ServiceDeps deps_;
  RouterLogic logic_;
};

}  // namespace

std::unique_ptr<Service> MakeRouterService(const ServiceDeps& deps) {
  return std::make_unique<RouterService>(deps);
}

}  // namespace sidecar::services
