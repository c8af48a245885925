#include "services/router/router_fixture.h"

#include <string>

#include "nlohmann/json.hpp"
#include "services/common/errors.h"
#include "services/common/jcs.h"
#include "services/common/json_fields.h"
#include "services/common/validation.h"
#include "services/router/router_rules.h"
#include "services/router/router_store.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::router {
namespace {

using Json = nlohmann::json;

absl::StatusOr<pb::Route> RouteFrom(const Json& j, const std::string& path) {
  if (!j.is_object()) return InvalidArgument(path, reason::kType);
  pb::Route route;
  ASSIGN_OR_RETURN(*route.mutable_route_id(), StringAt(j, "route_id", path));
  if (route.route_id().empty()) {
    return InvalidArgument(MemberPath(path, "route_id"), reason::kRequired);
  }
  ASSIGN_OR_RETURN(int64_t order, IntAt(j, "order", path));
  route.set_order(static_cast<int32_t>(order));
  ASSIGN_OR_RETURN(*route.mutable_platform(), StringAt(j, "platform", path));
  ASSIGN_OR_RETURN(*route.mutable_version_range(), StringAt(j, "version_range", path));
  ASSIGN_OR_RETURN(*route.mutable_api_version(), StringAt(j, "api_version", path));
  ASSIGN_OR_RETURN(*route.mutable_status(), StringAt(j, "status", path));
  return route;
}

absl::StatusOr<pb::Flag> FlagFrom(const Json& j, const std::string& path) {
  if (!j.is_object()) return InvalidArgument(path, reason::kType);
  pb::Flag flag;
  ASSIGN_OR_RETURN(*flag.mutable_flag_key(), StringAt(j, "flag_key", path));
  if (flag.flag_key().empty()) {
    return InvalidArgument(MemberPath(path, "flag_key"), reason::kRequired);
  }
  ASSIGN_OR_RETURN(bool enabled, BoolAt(j, "enabled", path));
  flag.set_enabled(enabled);
  ASSIGN_OR_RETURN(int64_t rollout, IntAt(j, "rollout_bp", path));
  flag.set_rollout_bp(static_cast<int32_t>(rollout));
  ASSIGN_OR_RETURN(Json platforms, ArrayAt(j, "platforms", path));
  for (size_t i = 0; i < platforms.size(); ++i) {
    if (!platforms[i].is_string()) return InvalidArgument(IndexField(MemberPath(path, "platforms"), i), reason::kType);
    flag.add_platforms(platforms[i].get<std::string>());
  }
  ASSIGN_OR_RETURN(*flag.mutable_min_client_version(), StringAt(j, "min_client_version", path));
  return flag;
}

// Replaces an entry with the same id (the last one wins), else appends.
template <typename List, typename Item, typename Id>
void Upsert(List& list, Item item, Id id_of) {
  for (auto& existing : list) {
    if (id_of(existing) == id_of(item)) {
      existing = std::move(item);
      return;
    }
  }
  *list.Add() = std::move(item);
}

}  // namespace

absl::StatusOr<std::vector<StoreEntry>> MapRouterFixture(const google::protobuf::Struct& document,
                                                         const CallContext&) {
  const Json doc = StructToJson(document);
  Table table;
  ASSIGN_OR_RETURN(Json routes, ArrayAt(doc, "routes", ""));
  for (size_t i = 0; i < routes.size(); ++i) {
    ASSIGN_OR_RETURN(pb::Route route, RouteFrom(routes[i], IndexField("routes", i)));
    Upsert(*table.mutable_routes(), std::move(route), [](const pb::Route& r) { return r.route_id(); });
  }
  ASSIGN_OR_RETURN(Json flags, ArrayAt(doc, "flags", ""));
  for (size_t i = 0; i < flags.size(); ++i) {
    ASSIGN_OR_RETURN(pb::Flag flag, FlagFrom(flags[i], IndexField("flags", i)));
    Upsert(*table.mutable_flags(), std::move(flag), [](const pb::Flag& f) { return f.flag_key(); });
  }
  ASSIGN_OR_RETURN(int64_t revision, IntAt(doc, "table_revision", ""));
  table.set_table_revision(revision);
  SortTable(table);
  return std::vector<StoreEntry>{{std::string(kTableKey), table.SerializeAsString(), 0, 0}};
}

}  // namespace sidecar::services::router
