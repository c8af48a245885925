#include "services/ai_router/ai_router_service.h"

#include <string>
#include <utility>
#include <vector>

#include "services/ai_router/ai_router_logic.h"
#include "services/common/fixtures.h"
#include "services/common/jcs.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services {
namespace {

namespace ar = ai_router;
namespace pb = ::ai_router::v1;

// `_fixture`: {"routes": [Route...]} (README.md), parsed and written back in canonical form.
absl::StatusOr<std::vector<StoreEntry>> MapFixture(const google::protobuf::Struct& document,
                                                   const CallContext&) {
  ASSIGN_OR_RETURN(ar::RouteTable table, ar::RouteTableFromJson(StructToJson(document)));
  return std::vector<StoreEntry>{
      {std::string(ar::kRoutesKey), ar::RouteTableToJson(table).dump(), 0, 0}};
}

// The thin binding: one typed handler per §2.20 action, all forwarding to AiRouterLogic.
class AiRouterService final : public Service {
 public:
  explicit AiRouterService(const ServiceDeps& deps) : deps_(deps), logic_(deps) {}

  std::string_view name() const override { return ar::kServiceName; }

  void Register(HandlerRegistry& r) override {
    r.Add<pb::PutRouteRequest, pb::PutRouteResponse>(
        "put_route", [this](const CallContext& ctx, pb::PutRouteRequest rq,
                            Done<pb::PutRouteResponse> done) {
          logic_.PutRoute(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::GetRouteRequest, pb::GetRouteResponse>(
        "get_route", [this](const CallContext& ctx, pb::GetRouteRequest rq,
                            Done<pb::GetRouteResponse> done) {
          logic_.GetRoute(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::RouteRequest, pb::RouteResponse>(
        "route", [this](const CallContext& ctx, pb::RouteRequest rq,
                        Done<pb::RouteResponse> done) {
          logic_.Route(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::ExplainRequest, pb::ExplainResponse>(
        "explain", [this](const CallContext& ctx, pb::ExplainRequest rq,
                          Done<pb::ExplainResponse> done) {
          logic_.Explain(ctx, std::move(rq), std::move(done));
        });
    RegisterFixtureAction(r, deps_.fixtures_enabled, *deps_.store,
                          {std::string(ar::kStorePrefix)}, MapFixture);
  }

 private:
  ServiceDeps deps_;
  ar::AiRouterLogic logic_;
};

}  // namespace

std::unique_ptr<Service> MakeAiRouterService(const ServiceDeps& deps) {
  return std::make_unique<AiRouterService>(deps);
}

}  // namespace sidecar::services
