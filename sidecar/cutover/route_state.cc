#include "sidecar/cutover/route_state.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace sidecar::cutover {
namespace {

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

nlohmann::json WeightsJson(const Weights& w) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [cluster, bp] : w) out[cluster] = BpToPercent(bp);
  return out;
}

absl::StatusOr<Weights> WeightsFrom(const nlohmann::json& j, const char* field) {
  if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat(field, ": expected an object"));
  Weights w;
  int64_t total = 0;
  for (const auto& [cluster, value] : j.items()) {
    if (!value.is_number() || value.get<double>() < 0 || value.get<double>() > 100) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".", cluster, ": expected a percentage 0-100"));
    }
    w[cluster] = PercentToBp(value.get<double>());
    total += w[cluster];
  }
  if (total != 10000) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": weights add up to ", total / 100.0, "%, not 100%"));
  }
  return w;
}

bool KeepByte(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr std::string_view kKeyPrefix = "route.";

}  // namespace

int64_t PercentToBp(double percent) { return static_cast<int64_t>(std::llround(percent * 100)); }
double BpToPercent(int64_t bp) { return static_cast<double>(bp) / 100.0; }

std::string RouteKey(std::string_view route) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out(kKeyPrefix);
  for (unsigned char c : route) {
    if (KeepByte(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('=');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

absl::StatusOr<std::string> RouteFromKey(std::string_view key) {
  if (key.substr(0, kKeyPrefix.size()) != kKeyPrefix || key.size() == kKeyPrefix.size()) {
    return absl::InvalidArgumentError(absl::StrCat("not a route key: '", AV(key), "'"));
  }
  std::string out;
  for (size_t i = kKeyPrefix.size(); i < key.size(); ++i) {
    if (key[i] != '=') {
      out.push_back(key[i]);
      continue;
    }
    int hi = i + 2 < key.size() ? Hex(key[i + 1]) : -1;
    int lo = i + 2 < key.size() ? Hex(key[i + 2]) : -1;
    if (hi < 0 || lo < 0) return absl::InvalidArgumentError(absl::StrCat("bad escape in key '", AV(key), "'"));
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

nlohmann::json RouteState::ToJson() const {
  nlohmann::json j = {{"weights", WeightsJson(weights)},
                      {"last_safe", WeightsJson(last_safe.empty() ? weights : last_safe)},
                      {"by", by},
                      {"at_ms", at_ms},
                      {"reason", reason}};
  if (shadow_percent.has_value()) j["shadow_percent"] = *shadow_percent;
  if (ramp.has_value()) {
    nlohmann::json steps = nlohmann::json::array();
    for (int64_t bp : ramp->steps_bp) steps.push_back(BpToPercent(bp));
    j["ramp"] = {{"side", ramp->side},   {"steps", std::move(steps)}, {"index", ramp->index},
                 {"hold_ms", ramp->hold_ms}, {"state", ramp->state}};
  }
  if (rollback.has_value()) {
    j["rollback"] = {{"rule", rollback->rule},         {"observed", rollback->observed},
                     {"threshold", rollback->threshold}, {"requests", rollback->requests},
                     {"from", WeightsJson(rollback->from)}, {"by", rollback->by},
                     {"at_ms", rollback->at_ms}};
  }
  return j;
}

absl::StatusOr<RouteState> RouteState::FromJson(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return absl::InvalidArgumentError("route state: expected a JSON object");
  RouteState s;
  auto weights = WeightsFrom(j.value("weights", nlohmann::json()), "weights");
  if (!weights.ok()) return weights.status();
  s.weights = *std::move(weights);
  if (j.contains("last_safe")) {
    auto safe = WeightsFrom(j["last_safe"], "last_safe");
    if (!safe.ok()) return safe.status();
    s.last_safe = *std::move(safe);
  } else {
    s.last_safe = s.weights;
  }
  if (j.contains("shadow_percent")) {
    if (!j["shadow_percent"].is_number()) return absl::InvalidArgumentError("shadow_percent: expected a number");
    s.shadow_percent = j["shadow_percent"].get<double>();
  }
  if (j.contains("ramp")) {
    const nlohmann::json& r = j["ramp"];
    if (!r.is_object() || !r.value("side", nlohmann::json()).is_string() || !r.value("steps", nlohmann::json()).is_array()) {
      return absl::InvalidArgumentError("ramp: expected {side, steps, index, hold_ms, state}");
    }
    RampState& ramp = s.ramp.emplace();
    ramp.side = r["side"].get<std::string>();
    for (const auto& step : r["steps"]) {
      if (!step.is_number()) return absl::InvalidArgumentError("ramp.steps: expected numbers");
      ramp.steps_bp.push_back(PercentToBp(step.get<double>()));
    }
    if (ramp.steps_bp.empty()) return absl::InvalidArgumentError("ramp.steps: empty");
    ramp.index = r.value("index", size_t{0});
    if (ramp.index >= ramp.steps_bp.size()) return absl::InvalidArgumentError("ramp.index: out of range");
    ramp.hold_ms = r.value("hold_ms", int64_t{0});
    ramp.state = r.value("state", std::string("running"));
  }
  if (j.contains("rollback") && j["rollback"].is_object()) {
    const nlohmann::json& r = j["rollback"];
    RollbackRecord& rb = s.rollback.emplace();
    rb.rule = r.value("rule", "");
    rb.observed = r.value("observed", 0.0);
    rb.threshold = r.value("threshold", 0.0);
    rb.requests = r.value("requests", int64_t{0});
    if (r.contains("from")) {
      auto from = WeightsFrom(r["from"], "rollback.from");
      if (from.ok()) rb.from = *std::move(from);
    }
    rb.by = r.value("by", "");
    rb.at_ms = r.value("at_ms", int64_t{0});
  }
  s.by = j.value("by", "");
  s.at_ms = j.value("at_ms", int64_t{0});
  s.reason = j.value("reason", "");
  return s;
}

std::string ResolveSide(const std::vector<SplitSide>& split, std::string_view side) {
  for (const SplitSide& s : split) {
    if (s.cluster == side) return s.cluster;
  }
  for (const SplitSide& s : split) {
    if (!s.kind.empty() && s.kind == side) return s.cluster;
  }
  return "";
}

Weights WeightsWithSide(const std::vector<SplitSide>& split, const std::string& side, int64_t side_bp,
                        const Weights& base) {
  Weights out;
  int64_t others_total = 0;
  size_t others = 0;
  for (const SplitSide& s : split) {
    if (s.cluster == side) continue;
    others_total += SideBp(base, s.cluster);
    ++others;
  }
  const int64_t rest = 10000 - side_bp;
  int64_t given = 0;
  std::string first_other;
  for (const SplitSide& s : split) {
    if (s.cluster == side) {
      out[s.cluster] = side_bp;
      continue;
    }
    if (first_other.empty()) first_other = s.cluster;
    const int64_t share = others_total > 0 ? rest * SideBp(base, s.cluster) / others_total
                                           : rest / static_cast<int64_t>(others);
    out[s.cluster] = share;
    given += share;
  }
  if (!first_other.empty()) out[first_other] += rest - given;
  return out;
}

absl::StatusOr<Weights> ParseTo(std::string_view text, const std::vector<SplitSide>& split, const Weights& base) {
  std::vector<std::pair<std::string, int64_t>> entries;
  for (absl::string_view part : absl::StrSplit(AV(text), ',', absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    const size_t eq = part.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("expected SIDE=PERCENT, got '", part, "'"));
    }
    const std::string name(absl::StripAsciiWhitespace(part.substr(0, eq)));
    std::string value(absl::StripAsciiWhitespace(part.substr(eq + 1)));
    if (!value.empty() && value.back() == '%') value.pop_back();
    char* end = nullptr;
    const double percent = std::strtod(value.c_str(), &end);
    if (value.empty() || end != value.c_str() + value.size() || percent < 0 || percent > 100) {
      return absl::InvalidArgumentError(absl::StrCat("'", name, "': expected a percentage 0-100, got '", value, "'"));
    }
    const std::string cluster = ResolveSide(split, name);
    if (cluster.empty()) {
      std::string sides;
      for (const SplitSide& s : split) absl::StrAppend(&sides, sides.empty() ? "" : ", ", s.cluster, "(", s.kind, ")");
      return absl::InvalidArgumentError(absl::StrCat("'", name, "' is not a side of this route (", sides, ")"));
    }
    entries.emplace_back(cluster, PercentToBp(percent));
  }
  if (entries.empty()) return absl::InvalidArgumentError("expected SIDE=PERCENT");
  if (entries.size() == 1) return WeightsWithSide(split, entries[0].first, entries[0].second, base);
  Weights out;
  for (const SplitSide& s : split) out[s.cluster] = 0;
  int64_t total = 0;
  for (const auto& [cluster, bp] : entries) {
    out[cluster] = bp;
    total += bp;
  }
  if (total != 10000) {
    return absl::InvalidArgumentError(absl::StrCat("weights add up to ", total / 100.0, "%, not 100%"));
  }
  return out;
}

std::string WeightsToString(const Weights& w) {
  std::string out;
  for (const auto& [cluster, bp] : w) absl::StrAppend(&out, out.empty() ? "" : ",", cluster, "=", bp / 100.0, "%");
  return out;
}

}  // namespace sidecar::cutover
