#include "services/npc_behavior/npc_behavior_rules.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "services/common/determinism.h"
#include "services/common/errors.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::npc_behavior {

const std::vector<std::string_view> kActions = {"confront", "eat",       "flee", "pray",
                                                "rest",     "socialize", "work"};

namespace {

const std::vector<std::string_view> kTraits = {"aggression", "fear", "greed", "piety"};
const std::vector<std::string_view> kNeeds = {"company", "energy", "satiety"};
const std::vector<std::string_view> kTimesOfDay = {"dawn", "day", "dusk", "night"};
const std::vector<std::string_view> kWeather = {"clear", "overcast", "rain",
                                                "storm", "fog",      "ashfall"};
const std::vector<std::string_view> kKinds = {"gift", "help", "trade", "insult", "threat"};

const Pattern& PlayerIdPattern() {
  static const Pattern* p = new Pattern("pl_[0-9a-f]{16}");
  return *p;
}

bool Contains(const std::vector<std::string_view>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// NB2: empty map -> `<field>` required; then the union of sent keys and required names in key
// order: missing -> required, unknown -> unknown_value, outside 0-100 -> out_of_range (`type` is
// the transcoder's).
absl::Status CheckScoreMap(std::string_view field,
                           const google::protobuf::Map<std::string, int32_t>& map,
                           const std::vector<std::string_view>& names) {
  if (map.empty()) return InvalidArgument(field, reason::kRequired);
  std::set<std::string> keys(names.begin(), names.end());
  for (const auto& [key, value] : map) keys.insert(key);
  for (const std::string& key : keys) {
    const std::string entry = KeyField(field, key);
    auto it = map.find(key);
    if (it == map.end()) return InvalidArgument(entry, reason::kRequired);
    if (!Contains(names, key)) return InvalidArgument(entry, reason::kUnknownValue);
    RETURN_IF_ERROR(CheckInt(entry, it->second, 0, 100));
  }
  return absl::OkStatus();
}

// NB3: <=7 entries, members of the seven, distinct (the later duplicate is `malformed`).
absl::Status CheckAllowedActions(const google::protobuf::RepeatedPtrField<std::string>& actions) {
  RETURN_IF_ERROR(CheckCount("allowed_actions", actions.size(), {.max = kActions.size()}));
  std::set<std::string> seen;
  for (int i = 0; i < actions.size(); ++i) {
    const std::string field = IndexField("allowed_actions", i);
    if (actions[i].empty()) return InvalidArgument(field, reason::kTooShort);
    if (!Contains(kActions, actions[i])) return InvalidArgument(field, reason::kUnknownValue);
    if (!seen.insert(actions[i]).second) return InvalidArgument(field, reason::kMalformed);
  }
  return absl::OkStatus();
}

int32_t Trait(const pb::Npc& npc, const std::string& name) {
  auto it = npc.traits().find(name);
  return it == npc.traits().end() ? 0 : it->second;
}
int32_t Need(const pb::Npc& npc, const std::string& name) {
  auto it = npc.needs().find(name);
  return it == npc.needs().end() ? 0 : it->second;
}

// ÷ of §0.2 (floor division); operands here are never negative, but keep the spec's operator.
int32_t FloorDiv(int32_t a, int32_t b) {
  int32_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

}  // namespace

absl::Status CheckNpcId(std::string_view npc_id) {
  return CheckString("npc_id", npc_id, {.required = true, .max_len = 48, .char_class = "a-z0-9_-"});
}

absl::Status CheckPlayerId(std::string_view player_id, bool required) {
  if (player_id.empty()) {
    return required ? InvalidArgument("player_id", reason::kRequired) : absl::OkStatus();
  }
  if (!PlayerIdPattern().Matches(player_id)) return InvalidArgument("player_id", reason::kPattern);
  return absl::OkStatus();
}

absl::Status CheckPutNpc(const pb::PutNpcRequest& rq) {
  RETURN_IF_ERROR(CheckNpcId(rq.npc_id()));
  RETURN_IF_ERROR(
      CheckString("archetype", rq.archetype(), {.required = true, .max_len = 64}));  // NB1
  RETURN_IF_ERROR(CheckScoreMap("traits", rq.traits(), kTraits));
  RETURN_IF_ERROR(CheckScoreMap("needs", rq.needs(), kNeeds));
  RETURN_IF_ERROR(CheckAllowedActions(rq.allowed_actions()));
  return CheckString("home_region", rq.home_region(), {.max_len = 48, .char_class = "a-z0-9-"});
}

absl::Status CheckDecide(const pb::DecideRequest& rq) {
  RETURN_IF_ERROR(CheckNpcId(rq.npc_id()));
  RETURN_IF_ERROR(CheckInt("tick", rq.tick(), 0, INT64_MAX));
  RETURN_IF_ERROR(
      CheckString("time_of_day", rq.time_of_day(), {.required = true, .allowed = kTimesOfDay}));
  RETURN_IF_ERROR(
      CheckString("weather", rq.weather(), {.required = true, .allowed = kWeather}));  // NB5
  RETURN_IF_ERROR(CheckInt("threat", rq.threat(), 0, 10));
  return CheckPlayerId(rq.player_id(), /*required=*/false);
}

absl::Status CheckRecordInteraction(const pb::RecordInteractionRequest& rq) {
  RETURN_IF_ERROR(CheckNpcId(rq.npc_id()));
  RETURN_IF_ERROR(CheckString("interaction_id", rq.interaction_id(),
                              {.required = true, .max_len = 64, .char_class = "A-Za-z0-9_.:-"}));
  RETURN_IF_ERROR(CheckPlayerId(rq.player_id(), /*required=*/true));
  RETURN_IF_ERROR(CheckString("kind", rq.kind(), {.required = true, .allowed = kKinds}));
  return CheckInt("magnitude", rq.magnitude(), 1, 10);
}

std::map<std::string, int32_t> BaseUtilities(const pb::Npc& npc, const pb::DecideRequest& rq,
                                             int32_t disposition) {
  const bool near = !rq.player_id().empty();
  const int32_t threat = rq.threat();
  const std::string& tod = rq.time_of_day();
  const bool bad_weather = rq.weather() == "rain" || rq.weather() == "storm" ||
                           rq.weather() == "fog" || rq.weather() == "ashfall";
  std::map<std::string, int32_t> u;
  u["confront"] = std::max(0, FloorDiv(Trait(npc, "aggression"), 2) + 5 * threat - 20) +
                  (near && disposition <= -30 ? 30 : 0);
  u["eat"] = 100 - Need(npc, "satiety");
  u["flee"] = std::max(0, 10 * threat + FloorDiv(Trait(npc, "fear"), 2) - 30);
  u["pray"] = FloorDiv(Trait(npc, "piety"), 2) + (bad_weather ? 25 : 0);
  u["rest"] = 100 - Need(npc, "energy") + (tod == "night" ? 30 : 0);
  u["socialize"] = 100 - Need(npc, "company") + (near && disposition >= 20 ? 20 : 0);
  u["work"] = (tod == "dawn" || tod == "day") ? 40 + FloorDiv(Trait(npc, "greed"), 2) : 0;
  return u;
}

Decision Decide(const pb::Npc& npc, const pb::DecideRequest& rq, int32_t disposition) {
  const std::map<std::string, int32_t> base = BaseUtilities(npc, rq, disposition);
  std::set<std::string> allowed(npc.allowed_actions().begin(), npc.allowed_actions().end());
  Rng rng(absl::StrCat("npc:", npc.npc_id(), ":", rq.tick()));
  Decision decision;
  int32_t best = -1;
  for (std::string_view action : kActions) {  // alphabetical: jitter order and tie order
    const std::string name(action);
    if (!allowed.empty() && allowed.count(name) == 0) continue;  // no score, no draw
    const int32_t total = base.at(name) + static_cast<int32_t>(rng.Uniform(5));
    decision.scores[name] = total;
    if (total > best) {  // strictly greater: ties keep the alphabetically first
      best = total;
      decision.action = name;
    }
  }
  return decision;
}

int32_t InteractionDelta(const pb::Npc& npc, std::string_view kind, int32_t m) {
  if (kind == "gift") return m * (2 + FloorDiv(Trait(npc, "greed"), 25));
  if (kind == "help") return m * (2 + FloorDiv(Trait(npc, "piety"), 50));
  if (kind == "trade") return m;
  if (kind == "insult") return -m * (2 + FloorDiv(Trait(npc, "aggression"), 25));
  return -m * (3 + FloorDiv(Trait(npc, "aggression"), 25));  // threat
}

int32_t ClampDisposition(int64_t value) {
  return static_cast<int32_t>(std::clamp<int64_t>(value, -kDispositionLimit, kDispositionLimit));
}

}  // namespace sidecar::services::npc_behavior
