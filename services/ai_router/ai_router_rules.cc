#include "services/ai_router/ai_router_rules.h"

#include <algorithm>
#include <set>

#include "services/common/determinism.h"
#include "services/common/errors.h"
#include "services/common/json_fields.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::ai_router {
namespace {

using Json = nlohmann::json;

const std::vector<std::string_view> kModes = {"low", "balanced", "high", "ultra"};
const std::vector<std::string_view> kRoles = {"system", "user", "assistant"};

const Pattern& TaskPattern() {
  static const Pattern* p = new Pattern("[a-z][a-z0-9_]{0,47}");
  return *p;
}
const Pattern& ModelNamePattern() {
  static const Pattern* p = new Pattern("[a-z0-9][a-z0-9._-]{0,63}");
  return *p;
}
const Pattern& PlayerIdPattern() {
  static const Pattern* p = new Pattern("pl_[0-9a-f]{16}");
  return *p;
}
// ai-integration's budget_key syntax (§2.17 r2), split so the part after ':' can be length-checked.
const Pattern& BudgetKeyShape() {
  static const Pattern* p = new Pattern("[a-z]+:[A-Za-z0-9_.-]+");
  return *p;
}

// AR2: the only `{…}` allowed are {task} and {player_id}; any other brace is `pattern`.
bool PlaceholdersValid(std::string_view tmpl) {
  size_t i = 0;
  while (i < tmpl.size()) {
    if (tmpl[i] == '{') {
      if (tmpl.substr(i, 6) == "{task}") {
        i += 6;
        continue;
      }
      if (tmpl.substr(i, 11) == "{player_id}") {
        i += 11;
        continue;
      }
      return false;
    }
    if (tmpl[i] == '}') return false;
    ++i;
  }
  return true;
}

absl::Status CheckBudgetKeyTemplate(std::string_view tmpl, std::string_view task) {
  constexpr std::string_view kField = "budget_key_template";
  RETURN_IF_ERROR(CheckString(kField, tmpl, {.required = true}));
  if (!PlaceholdersValid(tmpl)) return InvalidArgument(kField, reason::kPattern);
  // AR2: rendered with the route's task and a reference player id, it must be a budget_key
  // ([a-z]+:[A-Za-z0-9_.-]{1,64}): more than 64 after the ':' is `too_long`, any other mismatch
  // `pattern`.
  const std::string rendered = RenderBudgetKey(tmpl, task, "pl_0000000000000000");
  const size_t colon = rendered.find(':');
  if (colon != std::string::npos && CodePoints(rendered.substr(colon + 1)) > 64) {
    return InvalidArgument(kField, reason::kTooLong);
  }
  if (!BudgetKeyShape().Matches(rendered)) return InvalidArgument(kField, reason::kPattern);
  return absl::OkStatus();
}

absl::Status CheckCandidate(const pb::Candidate& c, size_t i) {
  const std::string base = IndexField("candidates", i);
  RETURN_IF_ERROR(CheckString(base + ".model", c.model(),
                              {.required = true, .max_len = 64, .pattern = &ModelNamePattern()}));
  RETURN_IF_ERROR(CheckInt(base + ".max_tokens", c.max_tokens(), 1, 4096));
  std::set<std::string> seen;
  for (int j = 0; j < c.allowed_modes_size(); ++j) {
    const std::string field = IndexField(base + ".allowed_modes", j);
    const std::string& mode = c.allowed_modes(j);
    // §0.4: an empty list element is too_short.
    if (mode.empty()) return InvalidArgument(field, reason::kTooShort);
    RETURN_IF_ERROR(CheckString(field, mode, {.allowed = kModes}));
    if (!seen.insert(mode).second) return InvalidArgument(field, reason::kMalformed);  // AR1
  }
  if (c.has_rollout_bp()) {
    RETURN_IF_ERROR(CheckInt(base + ".rollout_bp", c.rollout_bp(), 0, 10000));
  }
  return absl::OkStatus();
}

absl::Status CheckPlayerAndMode(std::string_view player_id, std::string_view perf_mode) {
  RETURN_IF_ERROR(
      CheckString("player_id", player_id, {.required = true, .pattern = &PlayerIdPattern()}));
  return CheckString("perf_mode", perf_mode, {.allowed = kModes});
}

absl::Status CheckMessages(const google::protobuf::RepeatedPtrField<::ai_integration::v1::Message>&
                               messages) {
  // AR5: ai-integration's §2.17 r2 / AI1 rules, same field names.
  RETURN_IF_ERROR(CheckCount("messages", messages.size(), {.required = true, .max = 64}));
  for (int i = 0; i < messages.size(); ++i) {
    const std::string base = IndexField("messages", i);
    RETURN_IF_ERROR(
        CheckString(base + ".role", messages[i].role(), {.required = true, .allowed = kRoles}));
    RETURN_IF_ERROR(CheckString(base + ".content", messages[i].content(), {.max_len = 32000}));
  }
  return absl::OkStatus();
}

absl::StatusOr<pb::Candidate> CandidateFromJson(const Json& j, const std::string& path) {
  if (!j.is_object()) return InvalidArgument(path, reason::kType);
  pb::Candidate c;
  ASSIGN_OR_RETURN(*c.mutable_model(), StringAt(j, "model", path));
  ASSIGN_OR_RETURN(int64_t max_tokens, IntAt(j, "max_tokens", path));
  c.set_max_tokens(static_cast<int32_t>(max_tokens));
  ASSIGN_OR_RETURN(Json modes, ArrayAt(j, "allowed_modes", path));
  for (size_t k = 0; k < modes.size(); ++k) {
    if (!modes[k].is_string()) {
      return InvalidArgument(IndexField(MemberPath(path, "allowed_modes"), k), reason::kType);
    }
    c.add_allowed_modes(modes[k].get<std::string>());
  }
  ASSIGN_OR_RETURN(int64_t rollout, IntAt(j, "rollout_bp", path, kDefaultRolloutBp));
  c.set_rollout_bp(static_cast<int32_t>(rollout));
  return c;
}

}  // namespace

// ---- the table ----

Json RouteTableToJson(const RouteTable& table) {
  Json routes = Json::array();
  for (const auto& [task, r] : table.routes) {
    Json candidates = Json::array();
    for (const pb::Candidate& c : r.candidates()) {
      Json modes = Json::array();
      for (const std::string& m : c.allowed_modes()) modes.push_back(m);
      candidates.push_back(Json{{"model", c.model()},
                                {"max_tokens", c.max_tokens()},
                                {"allowed_modes", modes},
                                {"rollout_bp", c.has_rollout_bp() ? c.rollout_bp()
                                                                  : kDefaultRolloutBp}});
    }
    routes.push_back(Json{{"task", task},
                          {"candidates", candidates},
                          {"budget_key_template", r.budget_key_template()},
                          {"revision", r.revision()}});
  }
  return Json{{"routes", routes}};
}

absl::StatusOr<RouteTable> RouteTableFromJson(const Json& json) {
  if (!json.is_object()) return InvalidArgument("body", reason::kType);
  ASSIGN_OR_RETURN(Json routes, ArrayAt(json, "routes", ""));
  RouteTable table;
  for (size_t i = 0; i < routes.size(); ++i) {
    const std::string path = IndexField("routes", i);
    const Json& j = routes[i];
    if (!j.is_object()) return InvalidArgument(path, reason::kType);
    Route r;
    ASSIGN_OR_RETURN(*r.mutable_task(), StringAt(j, "task", path));
    if (!TaskPattern().Matches(r.task())) {
      return InvalidArgument(MemberPath(path, "task"), reason::kPattern);
    }
    ASSIGN_OR_RETURN(Json candidates, ArrayAt(j, "candidates", path));
    for (size_t k = 0; k < candidates.size(); ++k) {
      ASSIGN_OR_RETURN(*r.add_candidates(),
                       CandidateFromJson(candidates[k],
                                         IndexField(MemberPath(path, "candidates"), k)));
    }
    ASSIGN_OR_RETURN(*r.mutable_budget_key_template(), StringAt(j, "budget_key_template", path));
    ASSIGN_OR_RETURN(int64_t revision, IntAt(j, "revision", path, 1));
    r.set_revision(revision);
    table.routes[r.task()] = std::move(r);  // a repeated task keeps the last entry
  }
  return table;
}

// ---- field checks ----

absl::Status CheckTask(std::string_view task) {
  return CheckString("task", task, {.required = true, .max_len = 48, .pattern = &TaskPattern()});
}

absl::Status CheckPutRouteFields(const pb::PutRouteRequest& rq) {
  RETURN_IF_ERROR(CheckTask(rq.task()));
  RETURN_IF_ERROR(CheckCount("candidates", rq.candidates_size(), {.required = true, .max = 5}));
  for (int i = 0; i < rq.candidates_size(); ++i) {
    RETURN_IF_ERROR(CheckCandidate(rq.candidates(i), i));
  }
  return CheckBudgetKeyTemplate(rq.budget_key_template(), rq.task());
}

absl::Status CheckRouteFields(const pb::RouteRequest& rq) {
  RETURN_IF_ERROR(CheckTask(rq.task()));
  RETURN_IF_ERROR(CheckMessages(rq.messages()));
  RETURN_IF_ERROR(CheckPlayerAndMode(rq.player_id(), rq.perf_mode()));
  if (rq.has_temperature_milli()) {
    RETURN_IF_ERROR(CheckInt("temperature_milli", rq.temperature_milli(), 0, 2000));
  }
  // seed: any i64. AR6: the forwarded "<key>:<index>" must stay within 64.
  return CheckString("idempotency_key", rq.idempotency_key(),
                     {.max_len = 62, .char_class = "A-Za-z0-9_.:-"});
}

absl::Status CheckExplainFields(const pb::ExplainRequest& rq) {
  RETURN_IF_ERROR(CheckTask(rq.task()));
  return CheckPlayerAndMode(rq.player_id(), rq.perf_mode());
}

// ---- templates and eligibility ----

std::string RenderBudgetKey(std::string_view tmpl, std::string_view task,
                            std::string_view player_id) {
  std::string out;
  size_t i = 0;
  while (i < tmpl.size()) {
    if (tmpl.substr(i, 6) == "{task}") {
      out.append(task);
      i += 6;
    } else if (tmpl.substr(i, 11) == "{player_id}") {
      out.append(player_id);
      i += 11;
    } else {
      out.push_back(tmpl[i++]);
    }
  }
  return out;
}

Eligibility Evaluate(const pb::Candidate& candidate, std::string_view task,
                     std::string_view player_id, std::string_view perf_mode) {
  // Mode: an empty list admits any mode (and ""); "" matches only empty lists.
  if (candidate.allowed_modes_size() > 0) {
    const auto& modes = candidate.allowed_modes();
    if (perf_mode.empty() || std::find(modes.begin(), modes.end(), perf_mode) == modes.end()) {
      return {false, kSkippedMode};
    }
  }
  const int32_t rollout = candidate.has_rollout_bp() ? candidate.rollout_bp() : kDefaultRolloutBp;
  std::string seed;
  seed.append(task).append(":").append(candidate.model()).append(":").append(player_id);
  if (static_cast<int64_t>(Bucket(seed)) >= rollout) return {false, kSkippedRollout};
  return {true, kOk};
}

std::optional<std::string_view> OutcomeOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kResourceExhausted:
      return kBudgetExhausted;
    case absl::StatusCode::kUnavailable:
      return kUnavailable;
    case absl::StatusCode::kDeadlineExceeded:
      return kDeadlineExceeded;
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
      return kModelUnusable;
    default:
      return std::nullopt;
  }
}

std::string JoinAttempts(const std::vector<pb::Attempt>& attempts) {
  std::string out;
  for (const pb::Attempt& a : attempts) {
    if (!out.empty()) out.push_back(',');
    out.append(a.model()).append(":").append(a.outcome());
  }
  return out;
}

}  // namespace sidecar::services::ai_router
