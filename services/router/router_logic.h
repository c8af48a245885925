#pragma once
// router (SERVICES.md §2.6): the five actions over the shared table, in the §0.4 check order
// (fields -> PERMISSION_DENIED -> NOT_FOUND -> RESOURCE_EXHAUSTED). Handlers never block: they
// read or edit the table (router_store.h) and answer from the store's callback.

#include <string>
#include <string_view>

#include "google/protobuf/message.h"
#include "services/common/call_context.h"
#include "services/common/event_publisher.h"
#include "services/common/service.h"
#include "services/common/state_store.h"
#include "services/router/router_rules.h"

namespace sidecar::services::router {

inline constexpr std::string_view kServiceName = "router";

class RouterLogic {
 public:
  // Both must outlive the logic and every call in flight.
  RouterLogic(StateStore& store, EventPublisher& events) : store_(store), events_(events) {}

  void PutRoute(const CallContext& ctx, pb::PutRouteRequest rq, Done<pb::PutRouteResponse> done);
  void DeleteRoute(const CallContext& ctx, pb::DeleteRouteRequest rq,
                   Done<pb::DeleteRouteResponse> done);
  void ListRoutes(const CallContext& ctx, pb::ListRoutesRequest rq,
                  Done<pb::ListRoutesResponse> done);
  void PutFlag(const CallContext& ctx, pb::PutFlagRequest rq, Done<pb::PutFlagResponse> done);
  void Resolve(const CallContext& ctx, pb::ResolveRequest rq, Done<pb::ResolveResponse> done);

 private:
  // The write actions' path: `checks` (the field checks) and the write authorization, the table
  // `edit`, then table_changed{change, id} when the edit changed the table; `respond(table_revision,
  // changed)` makes the response. Defined in router_logic.cc, its only user.
  template <typename Resp, typename Edit, typename Respond>
  void WriteTable(const CallContext& ctx, absl::Status checks, Edit edit, std::string_view change,
                  std::string id, Respond respond, Done<Resp> done);
  // table_changed{table_revision, change, id} after a committed change. A publish failure does
  // not fail the request (the change stands, §0.1 "after commit"); it is logged.
  void PublishTableChanged(const CallContext& ctx, int64_t table_revision, std::string_view change,
                           const std::string& id, uint64_t store_revision);

  StateStore& store_;
  EventPublisher& events_;
};

}  // namespace sidecar::services::router
