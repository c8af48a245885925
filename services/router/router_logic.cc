#include "services/router/router_logic.h"

#include <utility>

#include "services/router/router_store.h"
#include "sidecar/common/logging.h"

namespace sidecar::services::router {
namespace {

// Field checks, then the write authorization (§0.4 steps 2–3): "" when both pass.
absl::Status CheckWrite(const CallContext& ctx, absl::Status fields) {
  if (!fields.ok()) return fields;
  return ctx.AuthorizeWrite();
}

}  // namespace

template <typename Resp, typename Edit, typename Respond>
void RouterLogic::WriteTable(const CallContext& ctx, absl::Status checks, Edit edit,
                             std::string_view change, std::string id, Respond respond,
                             Done<Resp> done) {
  if (absl::Status s = CheckWrite(ctx, std::move(checks)); !s.ok()) {
    std::move(done)(s);
    return;
  }
  EditTable(store_, ctx.now_ms(), TableEdit(std::move(edit)),
            [this, ctx, change, id = std::move(id), respond = std::move(respond),
             done = std::move(done)](absl::StatusOr<EditResult> edited) mutable {
              if (!edited.ok()) {
                std::move(done)(edited.status());
                return;
              }
              const int64_t revision = edited->table.table_revision();
              if (edited->changed) {
                PublishTableChanged(ctx, revision, change, id, edited->store_revision);
              }
              std::move(done)(respond(revision, edited->changed));
            });
}

void RouterLogic::PutRoute(const CallContext& ctx, pb::PutRouteRequest rq,
                           Done<pb::PutRouteResponse> done) {
  absl::Status checks = CheckPutRoute(rq);
  const std::string route_id = rq.route_id();
  auto edit = [rq = std::move(rq)](Table& table) -> absl::StatusOr<bool> {
    if (absl::Status s = UpsertRoute(table, rq); !s.ok()) return s;
    table.set_table_revision(table.table_revision() + 1);  // RT5: even when nothing changed
    return true;
  };
  auto respond = [route_id](int64_t revision, bool) {
    pb::PutRouteResponse response;
    response.set_route_id(route_id);
    response.set_table_revision(revision);
    return response;
  };
  WriteTable(ctx, std::move(checks), std::move(edit), "route_put", route_id, std::move(respond),
             std::move(done));
}

void RouterLogic::DeleteRoute(const CallContext& ctx, pb::DeleteRouteRequest rq,
                              Done<pb::DeleteRouteResponse> done) {
  auto edit = [route_id = rq.route_id()](Table& table) -> absl::StatusOr<bool> {
    if (!RemoveRoute(table, route_id)) return false;  // absent: deleted=false, no revision
    table.set_table_revision(table.table_revision() + 1);
    return true;
  };
  auto respond = [](int64_t revision, bool deleted) {
    pb::DeleteRouteResponse response;
    response.set_deleted(deleted);
    response.set_table_revision(revision);
    return response;
  };
  WriteTable(ctx, CheckRouteId(rq.route_id()), std::move(edit), "route_deleted", rq.route_id(),
             std::move(respond), std::move(done));
}

void RouterLogic::ListRoutes(const CallContext& ctx, pb::ListRoutesRequest,
                             Done<pb::ListRoutesResponse> done) {
  if (absl::Status s = ctx.AuthorizeRead(); !s.ok()) {
    std::move(done)(s);
    return;
  }
  // The stored table is already in list order (rule 5).
  LoadTable(store_, ctx.now_ms(), std::move(done));
}

void RouterLogic::PutFlag(const CallContext& ctx, pb::PutFlagRequest rq,
                          Done<pb::PutFlagResponse> done) {
  absl::Status checks = CheckPutFlag(rq);
  const std::string flag_key = rq.flag_key();
  auto edit = [rq = std::move(rq)](Table& table) -> absl::StatusOr<bool> {
    if (absl::Status s = UpsertFlag(table, rq); !s.ok()) return s;
    table.set_table_revision(table.table_revision() + 1);  // RT5
    return true;
  };
  auto respond = [flag_key](int64_t revision, bool) {
    pb::PutFlagResponse response;
    response.set_flag_key(flag_key);
    response.set_table_revision(revision);
    return response;
  };
  WriteTable(ctx, std::move(checks), std::move(edit), "flag_put", flag_key, std::move(respond),
             std::move(done));
}

void RouterLogic::Resolve(const CallContext& ctx, pb::ResolveRequest rq,
                          Done<pb::ResolveResponse> done) {
  // Public (§0.3): never player-scoped, so no authorization step.
  if (absl::Status s = CheckResolve(rq); !s.ok()) {
    std::move(done)(s);
    return;
  }
  LoadTable(store_, ctx.now_ms(),
            [rq = std::move(rq), done = std::move(done)](absl::StatusOr<Table> table) mutable {
              if (!table.ok()) {
                std::move(done)(table.status());
                return;
              }
              std::move(done)(router::Resolve(*table, rq));
            });
}

void RouterLogic::PublishTableChanged(const CallContext& ctx, int64_t table_revision,
                                      std::string_view change, const std::string& id,
                                      uint64_t store_revision) {
  pb::TableChangedEvent event;
  event.set_table_revision(table_revision);
  event.set_change(std::string(change));
  event.set_id(id);
  // The store revision names this very write (a fixture may reset table_revision), so a retried
  // publish of it keeps its Nats-Msg-Id and nothing else shares it.
  const std::string material =
      std::to_string(table_revision) + ":" + std::to_string(store_revision);
  absl::StatusOr<Event> built =
      MakeEvent(kServiceName, "table_changed",
                MakeEventId(kServiceName, "table_changed", material), ctx.now_ms(), event);
  if (!built.ok()) {
    log::Error("router: cannot build event", {{"event", "table_changed"}});
    return;
  }
  events_.Publish(std::move(*built), [](absl::Status s) {
    if (!s.ok()) log::Warn("router: event publish failed", {{"event", "table_changed"}});
  });
}

}  // namespace sidecar::services::router
