#pragma once
// weather-manager (SERVICES.md §2.13, R48–R53): the pure rules — the region record, field
// checks, the seeded per-region Markov chain (rules 2–3), overrides (rule 5) and forecasts
// (rule 6). No store, no loop: every result is a function of (region, request).

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "weather_manager/v1/weather_manager.pb.h"

namespace sidecar::services::weather_manager {

namespace pb = ::weather_manager::v1;

inline constexpr std::string_view kServiceName = "weather-manager";

inline constexpr int kStateCount = 6;
// Table order (columns of the transition table; also the argmax tie order, R49).
inline constexpr std::array<std::string_view, kStateCount> kStates = {
    "clear", "overcast", "rain", "storm", "fog", "ashfall"};
inline constexpr std::array<std::string_view, 3> kClimates = {"temperate", "marsh", "ashlands"};

inline constexpr int64_t kMaxSpanTicks = 1'000'000;  // rule 4
inline constexpr int64_t kMaxOverrideTicks = 168;    // rule 5
inline constexpr int32_t kMaxForecastHours = 72;     // rule 6

struct Override {
  int state = 0;  // index into kStates
  int64_t from_tick = 0;
  int64_t until_tick = 0;  // exclusive
  std::string reason;

  bool Covers(int64_t tick) const { return tick >= from_tick && tick < until_tick; }
};

// The stored record: Region plus its (at most one) Override.
struct Region {
  std::string region_id;
  int climate = 0;  // index into kClimates
  std::string world_seed;
  int64_t anchor_tick = 0;
  int anchor_state = 0;  // index into kStates
  int64_t revision = 0;
  std::optional<Override> override_;
};

// Stored form (also one entry of the `_fixture` document, README.md).
nlohmann::json RegionToJson(const Region& region);
// INVALID_ARGUMENT (field path under `path`) for a record of the wrong shape or an unknown
// climate/state; revision defaults to 1.
absl::StatusOr<Region> RegionFromJson(const nlohmann::json& json, const std::string& path);

// Index of `name` in kStates / kClimates, or -1.
int StateIndex(std::string_view name);
int ClimateIndex(std::string_view name);

// ---- field checks (rule 1, 4, 5, 6) ----

absl::Status CheckRegionId(std::string_view region_id);
// put_region fields in table order; returns the region to store (revision and override unset).
absl::StatusOr<Region> BuildRegion(const pb::PutRegionRequest& request);
// Rule 4 on `field` (get_weather `tick`, forecast `from_tick`), against the stored region when
// there is one (§0.4: own-state checks are skipped when the data is absent). A negative tick is
// always out of range (anchor_tick >= 0).
absl::Status CheckTick(std::string_view field, int64_t tick, const Region* region);
absl::Status CheckForecastHours(int32_t hours);
// set_override fields in table order (rule 5, R52/R53).
absl::StatusOr<Override> BuildOverride(const pb::SetOverrideRequest& request);

// ---- the chain (rules 2–3) ----

struct Draws {
  uint64_t r1 = 0;  // uniform(10000): the transition
  uint64_t r2 = 0;  // next() mod 7: temperature jitter
  uint64_t r3 = 0;  // next() mod 101: intensity
};
// rng(world_seed + ":" + region_id + ":" + tick), drawn in rule 2's order.
Draws DrawsAt(const Region& region, int64_t tick);
// The first column of row `from` (under `climate`) whose cumulative bp exceeds r1.
int NextState(int climate, int from, uint64_t r1);
// Transition bp of row `from`, column `to` (rule table).
int TransitionBp(int climate, int from, int to);

// Un-overridden state(tick) for anchor_tick <= tick, by walking the chain from the nearest
// checkpoint. Checkpoints (every kCheckpointEvery ticks, derived state, §2.13 State) are kept per
// region configuration in a small per-replica cache, so repeated reads do not replay up to a
// million draws. Thread-safe.
class ChainCache {
 public:
  static constexpr int64_t kCheckpointEvery = 1024;
  static constexpr size_t kMaxConfigs = 4096;  // the whole cache is dropped beyond (derived)

  int StateAt(const Region& region, int64_t tick);

 private:
  std::mutex mu_;
  // Region configuration (seed, id, climate, anchor) -> state at anchor + k * kCheckpointEvery.
  std::unordered_map<std::string, std::vector<uint8_t>> checkpoints_;
};

// get_weather (rules 3 and 5).
pb::GetWeatherResponse WeatherAt(const Region& region, int64_t tick, ChainCache& chain);
// forecast (rule 6, R48–R50).
pb::ForecastResponse Forecast(const Region& region, int64_t from_tick, int32_t hours,
                              ChainCache& chain);

}  // namespace sidecar::services::weather_manager
