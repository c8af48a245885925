#include "services/environmental_narrative/environmental_narrative_rules.h"

#include <algorithm>
#include <set>
#include <utility>

#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "services/common/determinism.h"
#include "services/common/errors.h"
#include "services/common/jcs.h"
#include "services/common/pagination.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::environmental_narrative {
namespace {

using Json = nlohmann::json;

// weather-manager region_id (§2.13 r1), language-system locale and key (§2.11 r1, r4).
const Pattern& LocalePattern() {
  static const Pattern* p = new Pattern("[a-z]{2,3}(-[A-Z]{2})?");
  return *p;
}
const Pattern& MessageKeyPattern() {
  static const Pattern* p = new Pattern("[a-z][a-z0-9_]*(\\.[a-z0-9_]+){0,5}");
  return *p;
}
const Pattern& ArgNamePattern() {
  static const Pattern* p = new Pattern("[a-z_][a-z0-9_]*");
  return *p;
}

std::vector<std::string_view> Enum(const std::string_view* begin, const std::string_view* end) {
  return std::vector<std::string_view>(begin, end);
}
const std::vector<std::string_view>& WeatherStates() {
  static const auto* v =
      new std::vector<std::string_view>(Enum(std::begin(kWeatherStates), std::end(kWeatherStates)));
  return *v;
}
const std::vector<std::string_view>& TimesOfDay() {
  static const auto* v =
      new std::vector<std::string_view>(Enum(std::begin(kTimesOfDay), std::end(kTimesOfDay)));
  return *v;
}

StringSpec RegionIdSpec(bool required) {
  return StringSpec{.required = required, .min_len = 1, .max_len = 48, .char_class = "a-z0-9-"};
}

// A list field (EN1): entries by index, "" -> too_short (§0.4), the entry's own check, then a
// repeat of an earlier entry -> the later one `malformed`.
absl::Status CheckDistinctList(std::string_view field,
                               const google::protobuf::RepeatedPtrField<std::string>& list,
                               const StringSpec& entry_spec) {
  std::set<std::string> seen;
  for (int i = 0; i < list.size(); ++i) {
    const std::string path = IndexField(field, i);
    if (list[i].empty()) return InvalidArgument(path, reason::kTooShort);
    RETURN_IF_ERROR(CheckString(path, list[i], entry_spec));
    if (!seen.insert(list[i]).second) return InvalidArgument(path, reason::kMalformed);
  }
  return absl::OkStatus();
}

bool Matches(const google::protobuf::RepeatedPtrField<std::string>& list, std::string_view value) {
  return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

std::string RuleKey(std::string_view rule_id) { return RulesPrefix() + std::string(rule_id); }

std::string EncodeRule(const pb::Rule& rule) { return rule.SerializeAsString(); }

absl::StatusOr<pb::Rule> DecodeRule(std::string_view bytes) {
  pb::Rule rule;
  if (!rule.ParseFromString(std::string(bytes))) return Internal("stored rule does not parse");
  return rule;
}

absl::Status CheckRuleId(std::string_view rule_id) {
  return CheckString("rule_id", rule_id,
                     {.required = true, .min_len = 1, .max_len = 48, .char_class = "a-z0-9_-"});
}

absl::Status CheckPutRule(const pb::PutRuleRequest& rq) {
  RETURN_IF_ERROR(CheckRuleId(rq.rule_id()));
  RETURN_IF_ERROR(CheckCount("regions", rq.regions_size(), {.max = kMaxRuleRegions}));
  RETURN_IF_ERROR(CheckDistinctList("regions", rq.regions(), RegionIdSpec(true)));
  RETURN_IF_ERROR(
      CheckDistinctList("weather", rq.weather(), {.required = true, .allowed = WeatherStates()}));
  RETURN_IF_ERROR(CheckDistinctList("time_of_day", rq.time_of_day(),
                                    {.required = true, .allowed = TimesOfDay()}));
  RETURN_IF_ERROR(CheckString("message_key", rq.message_key(),
                              {.required = true, .max_len = 128, .pattern = &MessageKeyPattern()}));
  return CheckInt("weight", rq.weight(), 1, 100);
}

absl::Status CheckListRules(const pb::ListRulesRequest& rq) {
  RETURN_IF_ERROR(ResolvePageSize(rq.page_size()).status());
  return DecodeStringPageToken(rq.page_token()).status();
}

absl::Status CheckDescribe(const pb::DescribeRequest& rq) {
  RETURN_IF_ERROR(CheckString("region_id", rq.region_id(), RegionIdSpec(true)));
  RETURN_IF_ERROR(CheckInt("tick", rq.tick(), 0, std::numeric_limits<int64_t>::max()));
  RETURN_IF_ERROR(
      CheckString("time_of_day", rq.time_of_day(), {.required = true, .allowed = TimesOfDay()}));
  RETURN_IF_ERROR(CheckString("locale", rq.locale(),
                              {.min_len = 2, .max_len = 6, .pattern = &LocalePattern()}));
  RETURN_IF_ERROR(CheckInt("max_lines", rq.max_lines(), 0, kMaxLines));
  RETURN_IF_ERROR(
      CheckString("weather_override", rq.weather_override(), {.allowed = WeatherStates()}));
  // EN5: keys in key order; the key's own syntax, then its value's length.
  std::map<std::string, std::string> args(rq.args().begin(), rq.args().end());
  for (const auto& [key, value] : args) {
    const std::string path = KeyField("args", key);
    if (key.empty()) return InvalidArgument(path, reason::kTooShort);
    RETURN_IF_ERROR(CheckString(path, key, {.max_len = 32, .pattern = &ArgNamePattern()}));
    RETURN_IF_ERROR(CheckString(path, value, {.max_len = 2000}));
  }
  return absl::OkStatus();
}

int32_t ResolvedMaxLines(int32_t max_lines) { return max_lines == 0 ? 1 : max_lines; }

std::string ResolvedLocale(std::string_view locale) {
  return locale.empty() ? std::string(kDefaultLocale) : std::string(locale);
}

std::vector<pb::Rule> EligibleRules(const std::vector<pb::Rule>& rules, std::string_view region_id,
                                    std::string_view weather, std::string_view time_of_day) {
  std::vector<pb::Rule> out;
  for (const pb::Rule& rule : rules) {
    if (Matches(rule.regions(), region_id) && Matches(rule.weather(), weather) &&
        Matches(rule.time_of_day(), time_of_day)) {
      out.push_back(rule);
    }
  }
  return out;
}

std::vector<pb::Rule> PickRules(std::vector<pb::Rule> eligible, std::string_view region_id,
                                int64_t tick, int32_t max_lines) {
  Rng rng("envnarr:" + std::string(region_id) + ":" + std::to_string(tick));
  std::vector<pb::Rule> picks;
  while (static_cast<int32_t>(picks.size()) < max_lines && !eligible.empty()) {
    std::vector<uint64_t> weights;
    for (const pb::Rule& r : eligible) weights.push_back(static_cast<uint64_t>(r.weight()));
    absl::StatusOr<size_t> index = rng.Weighted(weights);
    if (!index.ok()) break;  // weights are 1–100 by rule 1; unreachable
    picks.push_back(std::move(eligible[*index]));
    eligible.erase(eligible.begin() + static_cast<std::ptrdiff_t>(*index));
  }
  return picks;
}

std::map<std::string, std::string> TranslateArgs(const pb::DescribeRequest& rq,
                                                 std::string_view weather) {
  std::map<std::string, std::string> args(rq.args().begin(), rq.args().end());
  // emplace keeps an existing entry: request args win (rule 4, EN7).
  args.emplace("region_id", rq.region_id());
  args.emplace("weather", std::string(weather));
  args.emplace("time_of_day", rq.time_of_day());
  return args;
}

absl::StatusOr<std::vector<StoreEntry>> MapFixture(const google::protobuf::Struct& document,
                                                   const CallContext&) {
  Json doc = StructToJson(document);
  std::vector<StoreEntry> entries;
  if (!doc.contains("rules") || doc["rules"].is_null()) return entries;
  const Json& rules = doc["rules"];
  if (!rules.is_array()) return InvalidArgument("rules", reason::kType);
  if (rules.size() > kMaxRules) return InvalidArgument("rules", reason::kTooLong);
  std::set<std::string> ids;
  for (size_t i = 0; i < rules.size(); ++i) {
    const std::string path = IndexField("rules", i);
    if (!rules[i].is_object()) return InvalidArgument(path, reason::kType);
    ASSIGN_OR_RETURN(std::string text, Jcs(rules[i]));  // integral doubles print as integers
    pb::PutRuleRequest rq;
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    if (!google::protobuf::util::JsonStringToMessage(text, &rq, options).ok()) {
      return InvalidArgument(path, reason::kType);
    }
    if (absl::Status s = CheckPutRule(rq); !s.ok()) {
      return InvalidArgument(path + "." + DetailsOf(s)["field"], DetailsOf(s)["reason"]);
    }
    if (!ids.insert(rq.rule_id()).second) {
      return InvalidArgument(path + ".rule_id", reason::kMalformed);
    }
    pb::Rule rule;
    rule.set_rule_id(rq.rule_id());
    *rule.mutable_regions() = rq.regions();
    *rule.mutable_weather() = rq.weather();
    *rule.mutable_time_of_day() = rq.time_of_day();
    rule.set_message_key(rq.message_key());
    rule.set_weight(rq.weight());
    entries.push_back(StoreEntry{RuleKey(rule.rule_id()), EncodeRule(rule), 0, 0});
  }
  return entries;
}

}  // namespace sidecar::services::environmental_narrative
