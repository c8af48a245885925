#pragma once
// environmental-narrative (SERVICES.md §2.18, §4 N26, §6 EN1–EN10), the pure part: field checks,
// rule matching and the seeded weighted picks, the stored form of a rule and the `_fixture`
// mapping. No store, no loop, no calls: environmental_narrative_service.cc does those.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "environmental_narrative/v1/environmental_narrative.pb.h"
#include "google/protobuf/struct.pb.h"
#include "services/common/call_context.h"
#include "services/common/state_store.h"

namespace sidecar::services::environmental_narrative {

namespace pb = ::environmental_narrative::v1;

inline constexpr std::string_view kServiceName = "environmental-narrative";
inline constexpr std::string_view kStorePrefix = "environmental-narrative/";
inline constexpr size_t kMaxRules = 500;        // rule 1, EN3
inline constexpr size_t kMaxRuleRegions = 100;  // EN1
inline constexpr int32_t kMaxLines = 3;         // rule 2
inline constexpr std::string_view kDefaultLocale = "en";

// weather-manager states (§2.13 table order) and time-manager's times of day (§2.12 r3).
inline constexpr std::string_view kWeatherStates[] = {"clear", "overcast", "rain",
                                                      "storm", "fog",      "ashfall"};
inline constexpr std::string_view kTimesOfDay[] = {"dawn", "day", "dusk", "night"};

// One key per rule, so describe lists them all with one prefix read (key order = rule_id order).
std::string RuleKey(std::string_view rule_id);
inline std::string RulesPrefix() { return std::string(kStorePrefix) + "rules/"; }
std::string EncodeRule(const pb::Rule& rule);
absl::StatusOr<pb::Rule> DecodeRule(std::string_view bytes);

// ---- field checks, table order (§0.4) ----

absl::Status CheckRuleId(std::string_view rule_id);
// put_rule: rule_id, regions (EN1), weather, time_of_day, message_key (EN2), weight (EN2).
absl::Status CheckPutRule(const pb::PutRuleRequest& rq);
absl::Status CheckListRules(const pb::ListRulesRequest& rq);
// describe (EN5, N26): region_id, tick, time_of_day, locale, max_lines, weather_override, args.
absl::Status CheckDescribe(const pb::DescribeRequest& rq);

// ---- describe (rules 3–4, EN7, EN9) ----

// max_lines 0 -> 1 (rule 2).
int32_t ResolvedMaxLines(int32_t max_lines);
// locale "" -> en (rule 2, EN7).
std::string ResolvedLocale(std::string_view locale);

// Rules matching region, weather and time of day (an empty list matches anything), in rule_id
// order; `rules` must already be in rule_id order.
std::vector<pb::Rule> EligibleRules(const std::vector<pb::Rule>& rules, std::string_view region_id,
                                    std::string_view weather, std::string_view time_of_day);
// Rule 3 / EN9: one rng("envnarr:" + region_id + ":" + tick) stream; up to max_lines times pick
// weighted(remaining) in rule_id order and remove it. Returns the picks in pick order.
std::vector<pb::Rule> PickRules(std::vector<pb::Rule> eligible, std::string_view region_id,
                                int64_t tick, int32_t max_lines);
// EN7: request args plus region_id, weather, time_of_day; request args win.
std::map<std::string, std::string> TranslateArgs(const pb::DescribeRequest& rq,
                                                 std::string_view weather);

// ---- `_fixture` ({"rules": [Rule...]}, README.md) ----

absl::StatusOr<std::vector<StoreEntry>> MapFixture(const google::protobuf::Struct& document,
                                                   const CallContext& ctx);

}  // namespace sidecar::services::environmental_narrative
