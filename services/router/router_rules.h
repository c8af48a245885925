#pragma once
// router (SERVICES.md §2.6): the pure rules — versions and ranges (rule 2), field checks (rule 1,
// N11/N12, RT1–RT3), resolve and flag evaluation (rules 3–4), table edits and their revision
// (rule 5, RT4–RT6). No store, no loop: router_logic.h applies these to the shared table.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "router/v1/router.pb.h"
#include "services/common/version.h"

namespace sidecar::services::router {

// The proto package (router.v1) is shadowed by this namespace.
namespace pb = ::router::v1;

// The whole routing table (state class "config"): routes by (order, route_id), flags by
// flag_key, table_revision. It is list_routes' response, kept in list order.
using Table = pb::ListRoutesResponse;

inline constexpr int kMaxRoutes = 200;  // rule 1, RT6
inline constexpr int kMaxFlags = 200;   // rule 1, RT6
inline constexpr int32_t kMaxOrder = 100000;
inline constexpr int32_t kMaxRolloutBp = 10000;

// ---- rule 2: versions and ranges ----

// Version and ParseVersion (MAJOR.MINOR.PATCH) are services/common/version.h's.
using ::sidecar::services::ParseVersion;
using ::sidecar::services::Version;

// `*`, or 1–4 comparators (>=|<=|>|<|=)X.Y.Z separated by single spaces (N12).
bool IsValidRange(std::string_view range);
// True iff `version` satisfies every comparator of a valid `range` (`*` matches all).
bool RangeMatches(std::string_view range, const Version& version);

// ---- rule 1: field checks, in table order; the first failure wins ----

absl::Status CheckPutRoute(const pb::PutRouteRequest& rq);
absl::Status CheckRouteId(std::string_view route_id);
absl::Status CheckPutFlag(const pb::PutFlagRequest& rq);
absl::Status CheckResolve(const pb::ResolveRequest& rq);

// ---- rules 3–4: resolve ----

// The winning route and the flags, or NOT_FOUND {reason: no_route} (RT7). `rq` is valid.
absl::StatusOr<pb::ResolveResponse> Resolve(const Table& table, const pb::ResolveRequest& rq);
// Rule 4 for one flag (client_version valid).
bool FlagOn(const pb::Flag& flag, const Version& client, std::string_view platform,
            std::string_view player_id);

// ---- rule 5: edits (each keeps list order; the caller bumps table_revision) ----

// Inserts or replaces the route; RESOURCE_EXHAUSTED limit_exceeded (limit 200) for a 201st.
absl::Status UpsertRoute(Table& table, const pb::PutRouteRequest& rq);
// True iff a route was removed.
bool RemoveRoute(Table& table, std::string_view route_id);
// Inserts or replaces the flag; RESOURCE_EXHAUSTED limit_exceeded (limit 200) for a 201st.
absl::Status UpsertFlag(Table& table, const pb::PutFlagRequest& rq);

// Restores list order: routes by (order, route_id), flags by flag_key.
void SortTable(Table& table);

}  // namespace sidecar::services::router
