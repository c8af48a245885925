#pragma once
// ai-router (SERVICES.md §2.20): the four actions over the shared StateStore.
//
// route, in §0.4 / AR11 order: fields (incl. messages, AR5) -> player-scoped authorization ->
// NOT_FOUND task -> rule 2 eligibility -> the eligible candidates in route order through
// ai-integration `complete` (rule 3): `ok` stops; budget/availability/deadline/unusable outcomes
// emit route_fallback and continue; any other error is returned at once (AR7). A candidate is not
// started with < 250 ms of the request's deadline left (AR8). The router stores no responses:
// replay safety comes from ai-integration through `<idempotency_key>:<index>` (AR6).

#include <atomic>
#include <memory>
#include <string>

#include "services/ai_router/ai_router_rules.h"
#include "services/common/call_context.h"
#include "services/common/event_publisher.h"
#include "services/common/service.h"
#include "services/common/service_deps.h"
#include "services/common/state_store.h"

namespace sidecar::services::ai_router {

inline constexpr std::string_view kStorePrefix = "ai-router/";
inline constexpr std::string_view kRoutesKey = "ai-router/routes";  // RouteTable JSON (config)

class AiRouterLogic {
 public:
  // Everything in `deps` must outlive the logic and every call in flight.
  explicit AiRouterLogic(const ServiceDeps& deps);

  void PutRoute(const CallContext& ctx, pb::PutRouteRequest rq, Done<pb::PutRouteResponse> done);
  void GetRoute(const CallContext& ctx, pb::GetRouteRequest rq, Done<pb::GetRouteResponse> done);
  void Route(const CallContext& ctx, pb::RouteRequest rq, Done<pb::RouteResponse> done);
  void Explain(const CallContext& ctx, pb::ExplainRequest rq, Done<pb::ExplainResponse> done);

 private:
  struct Job;  // one route request walking its candidates

  // The stored route of `task`, or NOT_FOUND {field: task}.
  void ReadRoute(const CallContext& ctx, const std::string& task, Done<pb::GetRouteResponse> done);
  void Next(std::shared_ptr<Job> job);
  void PublishFallback(const Job& job, size_t index, const std::string& model,
                       std::string_view outcome);

  StateStore& store_;
  EventPublisher& events_;
  DependencyClient* dependencies_;
  std::atomic<uint64_t> request_counter_{0};
};

}  // namespace sidecar::services::ai_router
