#include "services/router/router_rules.h"

#include <algorithm>
#include <vector>

#include "services/common/determinism.h"
#include "services/common/errors.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::router {
namespace {

constexpr int kMaxComparators = 4;

const std::vector<std::string_view> kRoutePlatforms = {"pc", "console", "mobile", "*"};
// N11: a client (resolve, flag platforms) is on a real platform; `*` is only for routes.
const std::vector<std::string_view> kClientPlatforms = {"pc", "console", "mobile"};
const std::vector<std::string_view> kStatuses = {"supported", "deprecated", "blocked"};

const Pattern& ApiVersionPattern() {
  static const Pattern* p = new Pattern("v[1-9][0-9]{0,2}");
  return *p;
}
const Pattern& FlagKeyPattern() {
  static const Pattern* p = new Pattern("[a-z][a-z0-9_]{0,47}");
  return *p;
}
const Pattern& PlayerIdPattern() {
  static const Pattern* p = new Pattern("pl_[0-9a-f]{16}");
  return *p;
}

// Splits on every `sep` (empty parts kept: "a  b" has an empty middle part).
std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == sep) {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

enum class Op { kGe, kLe, kGt, kLt, kEq };

struct Comparator {
  Op op;
  Version version;
};

std::optional<Comparator> ParseComparator(std::string_view text) {
  // Two-character operators first, so ">=1.0.0" is not read as ">" + "=1.0.0".
  static const std::pair<std::string_view, Op> kOps[] = {
      {">=", Op::kGe}, {"<=", Op::kLe}, {">", Op::kGt}, {"<", Op::kLt}, {"=", Op::kEq}};
  for (const auto& [symbol, op] : kOps) {
    if (text.substr(0, symbol.size()) != symbol) continue;
    std::optional<Version> v = ParseVersion(text.substr(symbol.size()));
    if (!v) return std::nullopt;
    return Comparator{op, *v};
  }
  return std::nullopt;
}

// The comparators of a range, or nullopt when it is not valid syntax; `*` gives an empty list.
std::optional<std::vector<Comparator>> ParseRange(std::string_view range) {
  std::vector<Comparator> comparators;
  if (range == "*") return comparators;
  // Single spaces only (N12): an empty part means a leading, trailing or double space.
  for (std::string_view part : Split(range, ' ')) {
    std::optional<Comparator> c = ParseComparator(part);
    if (!c || comparators.size() == kMaxComparators) return std::nullopt;
    comparators.push_back(*c);
  }
  return comparators;
}

bool Holds(const Comparator& c, const Version& v) {
  switch (c.op) {
    case Op::kGe: return !(v < c.version);
    case Op::kLe: return !(c.version < v);
    case Op::kGt: return c.version < v;
    case Op::kLt: return v < c.version;
    case Op::kEq: return v == c.version;
  }
  return false;
}

// Flag platforms: each a client platform (""-> too_short, §0.4 empty list element), distinct
// (RT2: the later duplicate is `malformed`).
absl::Status CheckFlagPlatforms(const google::protobuf::RepeatedPtrField<std::string>& platforms) {
  for (int i = 0; i < platforms.size(); ++i) {
    const std::string field = IndexField("platforms", i);
    if (platforms[i].empty()) return InvalidArgument(field, reason::kTooShort);
    RETURN_IF_ERROR(CheckString(field, platforms[i], {.allowed = kClientPlatforms}));
    if (std::find(platforms.begin(), platforms.begin() + i, platforms[i]) !=
        platforms.begin() + i) {
      return InvalidArgument(field, reason::kMalformed);
    }
  }
  return absl::OkStatus();
}

bool RouteBefore(const pb::Route& a, const pb::Route& b) {
  if (a.order() != b.order()) return a.order() < b.order();
  return a.route_id() < b.route_id();
}

}  // namespace

bool IsValidRange(std::string_view range) { return ParseRange(range).has_value(); }

bool RangeMatches(std::string_view range, const Version& version) {
  std::optional<std::vector<Comparator>> comparators = ParseRange(range);
  if (!comparators) return false;  // a stored range is valid; a fixture's bad one matches nothing
  return std::all_of(comparators->begin(), comparators->end(),
                     [&](const Comparator& c) { return Holds(c, version); });
}

// ---- field checks ----

absl::Status CheckRouteId(std::string_view route_id) {
  return CheckString("route_id", route_id,
                     {.required = true, .min_len = 1, .max_len = 48, .char_class = "a-z0-9_-"});
}

absl::Status CheckPutRoute(const pb::PutRouteRequest& rq) {
  RETURN_IF_ERROR(CheckRouteId(rq.route_id()));
  RETURN_IF_ERROR(CheckInt("order", rq.order(), 0, kMaxOrder));
  RETURN_IF_ERROR(CheckString("platform", rq.platform(), {.required = true, .allowed = kRoutePlatforms}));
  // Ranges are a syntax of alternative forms: no length bounds (§0.4), any failure is `pattern`.
  RETURN_IF_ERROR(CheckString("version_range", rq.version_range(), {.required = true}));
  if (!IsValidRange(rq.version_range())) return InvalidArgument("version_range", reason::kPattern);
  RETURN_IF_ERROR(CheckString("api_version", rq.api_version(),
                              {.required = true, .min_len = 2, .max_len = 4,
                               .pattern = &ApiVersionPattern()}));
  return CheckString("status", rq.status(), {.required = true, .allowed = kStatuses});
}

absl::Status CheckPutFlag(const pb::PutFlagRequest& rq) {
  RETURN_IF_ERROR(CheckString("flag_key", rq.flag_key(),
                              {.required = true, .min_len = 1, .max_len = 48,
                               .pattern = &FlagKeyPattern()}));
  RETURN_IF_ERROR(CheckInt("rollout_bp", rq.rollout_bp(), 0, kMaxRolloutBp));
  RETURN_IF_ERROR(CheckFlagPlatforms(rq.platforms()));
  return CheckVersionField("min_client_version", rq.min_client_version(), /*required=*/false);
}

absl::Status CheckResolve(const pb::ResolveRequest& rq) {
  RETURN_IF_ERROR(CheckVersionField("client_version", rq.client_version(), /*required=*/true));
  RETURN_IF_ERROR(CheckString("platform", rq.platform(), {.required = true, .allowed = kClientPlatforms}));
  // RT1: any mismatch of pl_[0-9a-f]{16} is `pattern` (no length reasons).
  return CheckString("player_id", rq.player_id(), {.required = true, .pattern = &PlayerIdPattern()});
}

// ---- resolve ----

bool FlagOn(const pb::Flag& flag, const Version& client, std::string_view platform,
            std::string_view player_id) {
  if (!flag.enabled()) return false;
  if (!flag.platforms().empty() &&
      std::find(flag.platforms().begin(), flag.platforms().end(), platform) ==
          flag.platforms().end()) {
    return false;
  }
  if (!flag.min_client_version().empty()) {
    std::optional<Version> min = ParseVersion(flag.min_client_version());
    if (!min || client < *min) return false;
  }
  // §0.6 bucket: the same player sees the same answer on every replica and every call (RT4:
  // rollout 0 is false everywhere, since a bucket is never < 0).
  const std::string seed = flag.flag_key() + ":" + std::string(player_id);
  return static_cast<int64_t>(Bucket(seed)) < flag.rollout_bp();
}

absl::StatusOr<pb::ResolveResponse> Resolve(const Table& table, const pb::ResolveRequest& rq) {
  const Version client = *ParseVersion(rq.client_version());
  // The table is kept in (order, route_id) order, so the first match wins (rule 3).
  const pb::Route* winner = nullptr;
  for (const pb::Route& route : table.routes()) {
    if (route.platform() != "*" && route.platform() != rq.platform()) continue;
    if (!RangeMatches(route.version_range(), client)) continue;
    winner = &route;
    break;
  }
  if (winner == nullptr) return NotFoundReason("no_route", "no route matches this client");

  pb::ResolveResponse response;
  response.set_route_id(winner->route_id());
  response.set_api_version(winner->api_version());
  response.set_status(winner->status());
  response.set_update_required(winner->status() == "blocked");
  response.set_table_revision(table.table_revision());
  // Rule 4: every defined flag appears, except for a blocked client ({}).
  if (!response.update_required()) {
    for (const pb::Flag& flag : table.flags()) {
      (*response.mutable_flags())[flag.flag_key()] =
          FlagOn(flag, client, rq.platform(), rq.player_id());
    }
  }
  return response;
}

// ---- edits ----

absl::Status UpsertRoute(Table& table, const pb::PutRouteRequest& rq) {
  pb::Route route;
  route.set_route_id(rq.route_id());
  route.set_order(rq.order());
  route.set_platform(rq.platform());
  route.set_version_range(rq.version_range());
  route.set_api_version(rq.api_version());
  route.set_status(rq.status());
  for (pb::Route& existing : *table.mutable_routes()) {
    if (existing.route_id() == rq.route_id()) {
      existing = std::move(route);
      SortTable(table);
      return absl::OkStatus();
    }
  }
  // §0.4 caps count existing entities: replacing at the cap succeeds, a 201st fails (RT6).
  if (table.routes_size() >= kMaxRoutes) return LimitExceeded(kMaxRoutes, "at most 200 routes");
  *table.add_routes() = std::move(route);
  SortTable(table);
  return absl::OkStatus();
}

bool RemoveRoute(Table& table, std::string_view route_id) {
  auto* routes = table.mutable_routes();
  for (int i = 0; i < routes->size(); ++i) {
    if (routes->Get(i).route_id() == route_id) {
      routes->erase(routes->begin() + i);
      return true;
    }
  }
  return false;
}

absl::Status UpsertFlag(Table& table, const pb::PutFlagRequest& rq) {
  pb::Flag flag;
  flag.set_flag_key(rq.flag_key());
  flag.set_enabled(rq.enabled());
  flag.set_rollout_bp(rq.rollout_bp());
  *flag.mutable_platforms() = rq.platforms();  // kept in the given order
  flag.set_min_client_version(rq.min_client_version());
  for (pb::Flag& existing : *table.mutable_flags()) {
    if (existing.flag_key() == rq.flag_key()) {
      existing = std::move(flag);
      return absl::OkStatus();
    }
  }
  if (table.flags_size() >= kMaxFlags) return LimitExceeded(kMaxFlags, "at most 200 flags");
  *table.add_flags() = std::move(flag);
  SortTable(table);
  return absl::OkStatus();
}

void SortTable(Table& table) {
  std::sort(table.mutable_routes()->begin(), table.mutable_routes()->end(), RouteBefore);
  std::sort(table.mutable_flags()->begin(), table.mutable_flags()->end(),
            [](const pb::Flag& a, const pb::Flag& b) { return a.flag_key() < b.flag_key(); });
}

}  // namespace sidecar::services::router
