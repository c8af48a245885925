#include "services/weather_manager/weather_rules.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "services/common/determinism.h"
#include "services/common/errors.h"
#include "services/common/json_fields.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::weather_manager {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxRegionIdLength = 48;
constexpr size_t kMaxWorldSeedLength = 64;

// Transition rows in basis points: [climate][from][to], climates and states in table order.
constexpr int kTransitions[3][kStateCount][kStateCount] = {
    // temperate
    {{6000, 2500, 800, 100, 600, 0},
     {2500, 4000, 2200, 500, 800, 0},
     {1000, 3000, 4200, 1200, 600, 0},
     {500, 2500, 4000, 2500, 500, 0},
     {2500, 3000, 1000, 0, 3500, 0},
     {3000, 3000, 1000, 0, 1000, 2000}},
    // marsh
    {{4000, 3000, 1000, 200, 1800, 0},
     {1500, 3500, 2500, 500, 2000, 0},
     {800, 2500, 4500, 1000, 1200, 0},
     {300, 2000, 4200, 2500, 1000, 0},
     {1200, 2300, 1500, 0, 5000, 0},
     {2000, 3000, 1500, 0, 1500, 2000}},
    // ashlands
    {{4500, 2500, 200, 300, 500, 2000},
     {2000, 3500, 500, 800, 700, 2500},
     {1500, 3500, 2500, 1000, 500, 1000},
     {1000, 3000, 1500, 2000, 500, 2000},
     {2000, 3000, 500, 0, 2500, 2000},
     {1500, 2500, 300, 700, 500, 4500}},
};

// Rule 3: base temperature per state, offset per climate.
constexpr int kBaseTemperature[kStateCount] = {18, 14, 11, 9, 8, 26};
constexpr int kClimateOffset[3] = {0, 3, 12};

int IndexOf(std::string_view name, const std::string_view* names, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    if (names[i] == name) return static_cast<int>(i);
  }
  return -1;
}

std::vector<std::string_view> Names(const std::string_view* names, size_t count) {
  return std::vector<std::string_view>(names, names + count);
}

absl::Status CheckState(std::string_view field, std::string_view state) {
  return CheckString(field, state, {.required = true, .allowed = Names(kStates.data(), kStateCount)});
}

absl::StatusOr<int> EnumAt(const Json& j, const char* name, const std::string& path,
                           const std::string_view* names, size_t count) {
  ASSIGN_OR_RETURN(std::string value, StringAt(j, name, path));
  const int index = IndexOf(value, names, count);
  if (index < 0) return InvalidArgument(MemberPath(path, name), reason::kUnknownValue);
  return index;
}

int TemperatureC(const Region& region, int state, uint64_t r2) {
  return kBaseTemperature[state] + kClimateOffset[region.climate] + static_cast<int>(r2) - 3;
}

std::string ChainKey(const Region& region) {
  // Everything the un-overridden chain depends on; ':' cannot occur in region_id.
  return region.region_id + ":" + std::to_string(region.climate) + ":" +
         std::to_string(region.anchor_tick) + ":" + std::to_string(region.anchor_state) + ":" +
         region.world_seed;
}

}  // namespace

int StateIndex(std::string_view name) { return IndexOf(name, kStates.data(), kStateCount); }
int ClimateIndex(std::string_view name) { return IndexOf(name, kClimates.data(), kClimates.size()); }

// ---- stored form ----

nlohmann::json RegionToJson(const Region& region) {
  Json j = {{"region_id", region.region_id},
            {"climate", kClimates[region.climate]},
            {"world_seed", region.world_seed},
            {"anchor_tick", region.anchor_tick},
            {"anchor_state", kStates[region.anchor_state]},
            {"revision", region.revision}};
  if (region.override_.has_value()) {
    const Override& o = *region.override_;
    j["override"] = {{"state", kStates[o.state]},
                     {"from_tick", o.from_tick},
                     {"until_tick", o.until_tick},
                     {"reason", o.reason}};
  }
  return j;
}

absl::StatusOr<Region> RegionFromJson(const nlohmann::json& j, const std::string& path) {
  if (!j.is_object()) return InvalidArgument(path.empty() ? "body" : path, reason::kType);
  Region region;
  ASSIGN_OR_RETURN(region.region_id, StringAt(j, "region_id", path));
  if (absl::Status s = CheckRegionId(region.region_id); !s.ok()) {
    return InvalidArgument(MemberPath(path, "region_id"), DetailsOf(s)["reason"]);
  }
  ASSIGN_OR_RETURN(region.climate, EnumAt(j, "climate", path, kClimates.data(), kClimates.size()));
  ASSIGN_OR_RETURN(region.world_seed, StringAt(j, "world_seed", path));
  ASSIGN_OR_RETURN(region.anchor_tick, IntAt(j, "anchor_tick", path, 0));
  ASSIGN_OR_RETURN(region.anchor_state, EnumAt(j, "anchor_state", path, kStates.data(), kStateCount));
  ASSIGN_OR_RETURN(region.revision, IntAt(j, "revision", path, 1));
  if (auto o = j.find("override"); o != j.end() && !o->is_null()) {
    const std::string opath = MemberPath(path, "override");
    if (!o->is_object()) return InvalidArgument(opath, reason::kType);
    Override ov;
    ASSIGN_OR_RETURN(ov.state, EnumAt(*o, "state", opath, kStates.data(), kStateCount));
    ASSIGN_OR_RETURN(ov.from_tick, IntAt(*o, "from_tick", opath, 0));
    ASSIGN_OR_RETURN(ov.until_tick, IntAt(*o, "until_tick", opath, 0));
    ASSIGN_OR_RETURN(ov.reason, StringAt(*o, "reason", opath));
    region.override_ = std::move(ov);
  }
  return region;
}

// ---- field checks ----

absl::Status CheckRegionId(std::string_view region_id) {
  return CheckString("region_id", region_id,
                     {.required = true, .min_len = 1, .max_len = kMaxRegionIdLength,
                      .char_class = "a-z0-9-"});
}

absl::StatusOr<Region> BuildRegion(const pb::PutRegionRequest& rq) {
  RETURN_IF_ERROR(CheckRegionId(rq.region_id()));
  RETURN_IF_ERROR(CheckString("climate", rq.climate(),
                              {.required = true, .allowed = Names(kClimates.data(), kClimates.size())}));
  RETURN_IF_ERROR(CheckString("world_seed", rq.world_seed(),
                              {.required = true, .min_len = 1, .max_len = kMaxWorldSeedLength}));
  RETURN_IF_ERROR(CheckInt("anchor_tick", rq.anchor_tick(), 0, INT64_MAX));
  RETURN_IF_ERROR(CheckState("anchor_state", rq.anchor_state()));
  Region region;
  region.region_id = rq.region_id();
  region.climate = ClimateIndex(rq.climate());
  region.world_seed = rq.world_seed();
  region.anchor_tick = rq.anchor_tick();
  region.anchor_state = StateIndex(rq.anchor_state());
  return region;
}

absl::Status CheckTick(std::string_view field, int64_t tick, const Region* region) {
  if (tick < 0) return InvalidArgument(field, reason::kOutOfRange);
  if (region == nullptr) return absl::OkStatus();
  if (tick < region->anchor_tick || tick - region->anchor_tick > kMaxSpanTicks) {
    return InvalidArgument(field, reason::kOutOfRange);
  }
  return absl::OkStatus();
}

absl::Status CheckForecastHours(int32_t hours) {
  return CheckInt("hours", hours, 1, kMaxForecastHours);
}

absl::StatusOr<Override> BuildOverride(const pb::SetOverrideRequest& rq) {
  RETURN_IF_ERROR(CheckState("state", rq.state()));
  RETURN_IF_ERROR(CheckInt("from_tick", rq.from_tick(), 0, INT64_MAX));
  // R53: the span is reported on until_tick (the later field).
  const int64_t span = rq.until_tick() - rq.from_tick();
  if (span < 1 || span > kMaxOverrideTicks) return InvalidArgument("until_tick", reason::kOutOfRange);
  Override o;
  o.state = StateIndex(rq.state());
  o.from_tick = rq.from_tick();
  o.until_tick = rq.until_tick();
  o.reason = rq.reason();
  return o;
}

// ---- the chain ----

Draws DrawsAt(const Region& region, int64_t tick) {
  Rng rng(region.world_seed + ":" + region.region_id + ":" + std::to_string(tick));
  Draws d;
  d.r1 = rng.Uniform(10000);
  d.r2 = rng.Next() % 7;
  d.r3 = rng.Next() % 101;
  return d;
}

int TransitionBp(int climate, int from, int to) { return kTransitions[climate][from][to]; }

int NextState(int climate, int from, uint64_t r1) {
  uint64_t cumulative = 0;
  for (int to = 0; to < kStateCount; ++to) {
    cumulative += static_cast<uint64_t>(kTransitions[climate][from][to]);
    if (cumulative > r1) return to;
  }
  return kStateCount - 1;  // unreachable: every row sums to 10000 > r1
}

int ChainCache::StateAt(const Region& region, int64_t tick) {
  const std::string key = ChainKey(region);
  const int64_t offset = tick - region.anchor_tick;
  int64_t checkpoint = 0;
  int state = region.anchor_state;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (checkpoints_.size() > kMaxConfigs) checkpoints_.clear();
    std::vector<uint8_t>& known = checkpoints_[key];
    if (known.empty()) known.push_back(static_cast<uint8_t>(region.anchor_state));
    checkpoint = std::min<int64_t>(offset / kCheckpointEvery, static_cast<int64_t>(known.size()) - 1);
    state = known[checkpoint];
  }
  // Walk without the lock; remember every checkpoint passed on the way.
  std::vector<uint8_t> passed;
  for (int64_t k = checkpoint * kCheckpointEvery + 1; k <= offset; ++k) {
    state = NextState(region.climate, state, DrawsAt(region, region.anchor_tick + k).r1);
    if (k % kCheckpointEvery == 0) passed.push_back(static_cast<uint8_t>(state));
  }
  if (!passed.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<uint8_t>& known = checkpoints_[key];
    // Another thread may have extended it meanwhile; the values are the same either way.
    const size_t first_new = static_cast<size_t>(checkpoint) + 1;
    for (size_t i = 0; i < passed.size(); ++i) {
      if (first_new + i == known.size()) known.push_back(passed[i]);
    }
  }
  return state;
}

// ---- actions' results ----

pb::GetWeatherResponse WeatherAt(const Region& region, int64_t tick, ChainCache& chain) {
  const Draws draws = DrawsAt(region, tick);
  int state = chain.StateAt(region, tick);
  const bool overridden = region.override_.has_value() && region.override_->Covers(tick);
  if (overridden) state = region.override_->state;  // rule 5: same r2, chain unaffected
  pb::GetWeatherResponse r;
  r.set_region_id(region.region_id);
  r.set_tick(tick);
  r.set_state(std::string(kStates[state]));
  r.set_temperature_c(TemperatureC(region, state, draws.r2));
  r.set_intensity_pct(static_cast<int32_t>(draws.r3));
  r.set_overridden(overridden);
  return r;
}

pb::ForecastResponse Forecast(const Region& region, int64_t from_tick, int32_t hours,
                              ChainCache& chain) {
  pb::ForecastResponse r;
  r.set_region_id(region.region_id);
  r.set_from_tick(from_tick);
  const int from_state = chain.StateAt(region, from_tick);  // R48: un-overridden
  r.set_from_state(std::string(kStates[from_state]));
  std::array<double, kStateCount> p{};
  p[from_state] = 1.0;
  for (int32_t k = 1; k <= hours; ++k) {
    std::array<double, kStateCount> next{};
    for (int j = 0; j < kStateCount; ++j) {
      double sum = 0.0;
      for (int i = 0; i < kStateCount; ++i) {  // i ascending, f64 (rule 6)
        sum += p[i] * (kTransitions[region.climate][i][j] / 10000.0);
      }
      next[j] = sum;
    }
    p = next;
    const int64_t tick = from_tick + k;
    std::array<int32_t, kStateCount> bp{};
    if (region.override_.has_value() && region.override_->Covers(tick)) {
      bp[region.override_->state] = 10000;  // propagation ignores the override
    } else {
      for (int j = 0; j < kStateCount; ++j) {
        bp[j] = static_cast<int32_t>(std::floor(p[j] * 10000 + 0.5));
      }
    }
    // R49: argmax of the emitted values, ties in table order.
    int most_likely = 0;
    for (int j = 1; j < kStateCount; ++j) {
      if (bp[j] > bp[most_likely]) most_likely = j;
    }
    pb::ForecastEntry* entry = r.add_entries();
    entry->set_tick(tick);
    entry->set_most_likely(std::string(kStates[most_likely]));
    for (int j = 0; j < kStateCount; ++j) {
      (*entry->mutable_probabilities_bp())[std::string(kStates[j])] = bp[j];
    }
  }
  return r;
}

}  // namespace sidecar::services::weather_manager
