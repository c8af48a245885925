#include "services/world_state/world_state_rules.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "services/common/errors.h"
#include "services/common/strings_internal.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::world_state {
namespace {

const Pattern& FactionPattern() {
  static const Pattern* p = new Pattern("[a-z][a-z0-9_]{0,31}");
  return *p;
}
const Pattern& PlayerPattern() {
  static const Pattern* p = new Pattern("pl_[0-9a-f]{16}");
  return *p;
}

constexpr std::string_view kFlagKeyClass = "a-z0-9_";
constexpr size_t kMaxFlagKeyLength = 32;
constexpr size_t kMaxFlagValueLength = 64;

bool IsFlagKey(std::string_view key) {
  return !key.empty() && key.size() <= kMaxFlagKeyLength && AllCharsIn(key, kFlagKeyClass);
}

// A flag map of put_region or set_flags (W3): <=32 entries (request-map cap, too_long); then in key
// order any bad key -> `<field>.<key>` pattern, a value over 64 chars -> too_long.
absl::Status CheckFlagMap(const std::string& field,
                          const google::protobuf::Map<std::string, std::string>& flags) {
  RETURN_IF_ERROR(CheckCount(field, flags.size(), {.max = kMaxFlags}));
  std::map<std::string, std::string> sorted(flags.begin(), flags.end());
  for (const auto& [key, value] : sorted) {
    const std::string entry = KeyField(field, key);
    if (!IsFlagKey(key)) return InvalidArgument(entry, reason::kPattern);
    RETURN_IF_ERROR(CheckString(entry, value, {.max_len = kMaxFlagValueLength}));
  }
  return absl::OkStatus();
}

// clear_flags (W3): <=32 entries, each a flag key; duplicates allowed. List entries take the
// pattern's length bounds first (§0.4: an empty element is too_short).
absl::Status CheckClearFlags(const std::string& field,
                             const google::protobuf::RepeatedPtrField<std::string>& keys) {
  RETURN_IF_ERROR(CheckCount(field, keys.size(), {.max = kMaxFlags}));
  for (int i = 0; i < keys.size(); ++i) {
    const std::string& key = keys[i];
    const std::string entry = IndexField(field, i);
    if (key.empty()) return InvalidArgument(entry, reason::kTooShort);
    RETURN_IF_ERROR(
        CheckString(entry, key, {.max_len = kMaxFlagKeyLength, .char_class = kFlagKeyClass}));
  }
  return absl::OkStatus();
}

// `delta` takes any i32 (W6), so only the two ids are checked.
absl::Status CheckStandingChange(const std::string& field, const pb::StandingChange& change) {
  RETURN_IF_ERROR(CheckPlayerId(KeyField(field, "player_id"), change.player_id()));
  return CheckFactionId(KeyField(field, "faction_id"), change.faction_id(), /*required=*/true);
}

absl::Status CheckRegionChange(const std::string& field, const pb::RegionChange& change) {
  RETURN_IF_ERROR(CheckRegionId(KeyField(field, "region_id"), change.region_id()));
  // danger_delta: any i32 (W6). controlling_faction: "" = unchanged (W2).
  RETURN_IF_ERROR(CheckFactionId(KeyField(field, "controlling_faction"),
                                 change.controlling_faction(), /*required=*/false));
  RETURN_IF_ERROR(CheckFlagMap(KeyField(field, "set_flags"), change.set_flags()));
  return CheckClearFlags(KeyField(field, "clear_flags"), change.clear_flags());
}

std::optional<std::string> FlagValue(const RegionState& region, const std::string& key) {
  auto it = region.flags.find(key);
  if (it == region.flags.end()) return std::nullopt;
  return it->second;
}

void SetFlag(RegionState& region, const std::string& key, const std::optional<std::string>& v) {
  if (v.has_value()) {
    region.flags[key] = *v;
  } else {
    region.flags.erase(key);
  }
}

// Remembers a flag's pre-image at the delta's first touch of it (W14).
void TouchFlag(RegionTouch& touch, const RegionState& region, const std::string& key) {
  if (touch.flags.count(key) == 0) touch.flags[key].pre = FlagValue(region, key);
}

absl::Status StandingOutOfRange(const pb::StandingChange& change, int64_t result) {
  return FailedPrecondition("standing_out_of_range",
                            {{"player_id", change.player_id()},
                             {"faction_id", change.faction_id()},
                             {"result", absl::StrCat(result)}},
                            "standing out of range");
}

absl::Status DangerOutOfRange(const std::string& region_id, int64_t result) {
  return FailedPrecondition("danger_out_of_range",
                            {{"region_id", region_id}, {"result", absl::StrCat(result)}},
                            "danger out of range");
}

// One region change in the rule-3 order: danger, controller, set_flags, then clear_flags.
absl::Status ApplyRegionChange(RegionState& region, RegionTouch& touch,
                               const pb::RegionChange& change) {
  const int64_t danger = region.danger + change.danger_delta();
  if (danger < kDangerMin || danger > kDangerMax) return DangerOutOfRange(touch.region_id, danger);
  region.danger = danger;
  touch.danger_net += change.danger_delta();
  if (!change.controlling_faction().empty()) {
    region.controller = change.controlling_faction();
    touch.controller_set = true;
  }
  std::map<std::string, std::string> sets(change.set_flags().begin(), change.set_flags().end());
  for (const auto& [key, value] : sets) {
    TouchFlag(touch, region, key);
    region.flags[key] = value;
  }
  for (const std::string& key : change.clear_flags()) {
    TouchFlag(touch, region, key);
    region.flags.erase(key);  // clearing an absent key is a no-op (W13)
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckRegionId(std::string_view field, std::string_view region_id) {
  // weather-manager syntax [a-z0-9-]{1,48}.
  return CheckString(field, region_id, {.required = true, .max_len = 48, .char_class = "a-z0-9-"});
}

absl::Status CheckFactionId(std::string_view field, std::string_view faction_id, bool required) {
  return CheckString(field, faction_id,
                     {.required = required, .max_len = 32, .pattern = &FactionPattern()});
}

absl::Status CheckPlayerId(std::string_view field, std::string_view player_id) {
  // W4: any syntax failure is `pattern` (no length bounds of its own, as R32).
  if (player_id.empty()) return InvalidArgument(field, reason::kRequired);
  if (!PlayerPattern().Matches(player_id)) return InvalidArgument(field, reason::kPattern);
  return absl::OkStatus();
}

absl::Status CheckDeltaId(std::string_view delta_id) {
  return CheckString("delta_id", delta_id,
                     {.required = true, .max_len = 96, .char_class = "A-Za-z0-9_.:-"});
}

absl::Status CheckPutRegion(const pb::PutRegionRequest& rq) {
  RETURN_IF_ERROR(CheckRegionId("region_id", rq.region_id()));
  RETURN_IF_ERROR(CheckString("name", rq.name(), {.required = true, .max_len = 120}));      // W1
  RETURN_IF_ERROR(CheckFactionId("controlling_faction", rq.controlling_faction(), false));  // W2
  RETURN_IF_ERROR(CheckInt("danger", rq.danger(), kDangerMin, kDangerMax));                 // W3
  return CheckFlagMap("flags", rq.flags());
}

absl::Status CheckApplyDelta(const pb::ApplyDeltaRequest& rq) {
  RETURN_IF_ERROR(CheckDeltaId(rq.delta_id()));
  const size_t standing = rq.standing_changes_size();
  const size_t total = standing + rq.region_changes_size();
  // W5: 1-50 changes in total; both empty -> standing_changes required.
  if (total == 0) return InvalidArgument("standing_changes", reason::kRequired);
  if (standing > kMaxChanges) return InvalidArgument("standing_changes", reason::kTooLong);
  for (int i = 0; i < rq.standing_changes_size(); ++i) {
    RETURN_IF_ERROR(CheckStandingChange(IndexField("standing_changes", i), rq.standing_changes(i)));
  }
  if (total > kMaxChanges) return InvalidArgument("region_changes", reason::kTooLong);
  for (int i = 0; i < rq.region_changes_size(); ++i) {
    RETURN_IF_ERROR(CheckRegionChange(IndexField("region_changes", i), rq.region_changes(i)));
  }
  return absl::OkStatus();
}

absl::Status CheckGetStanding(const pb::GetStandingRequest& rq) {
  RETURN_IF_ERROR(CheckPlayerId("player_id", rq.player_id()));
  return CheckFactionId("faction_id", rq.faction_id(), /*required=*/false);  // "" = all (W18)
}

std::string_view Tier(int64_t standing) {
  if (standing <= -3000) return "hostile";
  if (standing <= -500) return "unfriendly";
  if (standing < 500) return "neutral";
  if (standing < 3000) return "friendly";
  return "honored";
}

absl::Status FindUnknownRegion(const World& world, const pb::ApplyDeltaRequest& rq) {
  for (int i = 0; i < rq.region_changes_size(); ++i) {
    if (world.regions.count(rq.region_changes(i).region_id()) == 0) {
      return NotFound(KeyField(IndexField("region_changes", i), "region_id"), "unknown region");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<AppliedDelta> ApplyDelta(World& world, const pb::ApplyDeltaRequest& rq) {
  AppliedDelta out;
  DeltaRecord& record = out.record;
  // W7: standing changes by index, then region changes by index, each against the running value.
  std::map<std::pair<std::string, std::string>, size_t> standing_index;
  for (const pb::StandingChange& change : rq.standing_changes()) {
    auto key = std::make_pair(change.player_id(), change.faction_id());
    auto [it, first] = standing_index.try_emplace(key, record.standings.size());
    if (first) record.standings.push_back({change.player_id(), change.faction_id(), 0});
    int64_t& standing = world.standings[change.player_id()][change.faction_id()];
    const int64_t result = standing + change.delta();
    if (result < -kStandingLimit || result > kStandingLimit)
      return StandingOutOfRange(change, result);
    standing = result;
    record.standings[it->second].net += change.delta();
  }
  std::map<std::string, size_t> region_index;
  for (const pb::RegionChange& change : rq.region_changes()) {
    RegionState& region = world.regions.at(change.region_id());  // FindUnknownRegion ran first
    auto [it, first] = region_index.try_emplace(change.region_id(), record.regions.size());
    if (first) {
      RegionTouch touch;
      touch.region_id = change.region_id();
      touch.controller_pre = region.controller;
      record.regions.push_back(std::move(touch));
    }
    RETURN_IF_ERROR(ApplyRegionChange(region, record.regions[it->second], change));
  }
  // W10: the flag cap is tested on each region's state after the whole delta.
  for (RegionTouch& touch : record.regions) {
    const RegionState& region = world.regions.at(touch.region_id);
    if (region.flags.size() > kMaxFlags) return LimitExceeded(kMaxFlags, "too many flags");
    touch.controller_written = region.controller;
    for (auto& [key, image] : touch.flags) image.written = FlagValue(region, key);
  }
  // Rule 6 / W20: touched entities once, first-touch order, values after the whole delta.
  out.response.set_delta_id(rq.delta_id());
  out.response.set_applied(true);
  for (const StandingTouch& touch : record.standings) {
    const int64_t value = world.standings[touch.player_id][touch.faction_id];
    pb::AppliedStanding* s = out.response.add_standings();
    s->set_player_id(touch.player_id);
    s->set_faction_id(touch.faction_id);
    s->set_standing(static_cast<int32_t>(value));
    s->set_tier(std::string(Tier(value)));
  }
  for (const RegionTouch& touch : record.regions) {
    *out.response.add_regions() = RegionMessage(touch.region_id, world.regions.at(touch.region_id));
  }
  return out;
}

std::vector<ControlChange> ControlChangesOf(const World& world, const DeltaRecord& record) {
  std::vector<ControlChange> changes;
  for (const RegionTouch& touch : record.regions) {
    auto it = world.regions.find(touch.region_id);
    if (it == world.regions.end()) continue;
    if (it->second.controller != touch.controller_pre) {
      changes.push_back({touch.region_id, touch.controller_pre, it->second.controller});
    }
  }
  return changes;
}

std::vector<std::string> RevertDelta(World& world, const DeltaRecord& record,
                                     std::vector<ControlChange>& restored) {
  std::vector<std::string> conflicts;
  for (const StandingTouch& touch : record.standings) {
    world.standings[touch.player_id][touch.faction_id] -= touch.net;  // exact, no range (W16)
  }
  for (const RegionTouch& touch : record.regions) {
    auto it = world.regions.find(touch.region_id);
    if (it == world.regions.end()) continue;  // regions are never deleted; defensive
    RegionState& region = it->second;
    region.danger -= touch.danger_net;
    if (touch.controller_set) {
      if (region.controller == touch.controller_written) {
        if (region.controller != touch.controller_pre) {
          restored.push_back({touch.region_id, region.controller, touch.controller_pre});
        }
        region.controller = touch.controller_pre;
      } else {
        conflicts.push_back(touch.region_id + ".controlling_faction");
      }
    }
    for (const auto& [key, image] : touch.flags) {  // ascending keys (W15)
      if (FlagValue(region, key) == image.written) {
        SetFlag(region, key, image.pre);
      } else {
        conflicts.push_back(touch.region_id + ".flags." + key);
      }
    }
  }
  return conflicts;
}

pb::Region RegionMessage(std::string_view region_id, const RegionState& region) {
  pb::Region out;
  out.set_region_id(std::string(region_id));
  out.set_name(region.name);
  out.set_controlling_faction(region.controller);
  out.set_danger(static_cast<int32_t>(region.danger));
  for (const auto& [key, value] : region.flags) (*out.mutable_flags())[key] = value;
  return out;
}

}  // namespace sidecar::services::world_state
