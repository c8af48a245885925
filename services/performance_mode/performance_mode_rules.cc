#include "services/performance_mode/performance_mode_rules.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "services/common/errors.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::performance_mode {
namespace {

const std::vector<std::string_view> kPlatforms = {"pc", "console", "mobile"};
const std::vector<std::string_view> kServerModes = {kServerNormal, kServerDegraded, kServerCritical};

constexpr int32_t kBelowStreakToStep = 3;
constexpr int32_t kAboveStreakToStep = 5;

const Pattern& PlayerIdPattern() {
  static const Pattern* p = new Pattern("pl_[0-9a-f]{16}");
  return *p;
}

// Score tiers (rule 2), highest first.
Mode TierOf(int32_t score) {
  if (score >= 140) return Mode::kUltra;
  if (score >= 100) return Mode::kHigh;
  if (score >= 60) return Mode::kBalanced;
  return Mode::kLow;
}

}  // namespace

std::string_view ModeName(Mode mode) {
  switch (mode) {
    case Mode::kLow: return "low";
    case Mode::kBalanced: return "balanced";
    case Mode::kHigh: return "high";
    case Mode::kUltra: return "ultra";
  }
  return "low";
}

std::optional<Mode> ParseMode(std::string_view name) {
  for (Mode m : {Mode::kLow, Mode::kBalanced, Mode::kHigh, Mode::kUltra}) {
    if (ModeName(m) == name) return m;
  }
  return std::nullopt;
}

Mode StepDown(Mode mode) { return mode == Mode::kLow ? mode : static_cast<Mode>(static_cast<int>(mode) - 1); }
Mode StepUp(Mode mode) { return mode == Mode::kUltra ? mode : static_cast<Mode>(static_cast<int>(mode) + 1); }

Mode ServerCap(std::string_view server_mode) {
  if (server_mode == kServerCritical) return Mode::kLow;
  if (server_mode == kServerDegraded) return Mode::kBalanced;
  return Mode::kUltra;
}

// ---- field checks ----

absl::Status CheckPlayerId(std::string_view player_id) {
  // PM1: required, any mismatch of pl_[0-9a-f]{16} is `pattern`.
  return CheckString("player_id", player_id, {.required = true, .pattern = &PlayerIdPattern()});
}

absl::Status CheckEvaluate(const pb::EvaluateRequest& rq) {
  RETURN_IF_ERROR(CheckPlayerId(rq.player_id()));
  RETURN_IF_ERROR(CheckString("platform", rq.platform(), {.required = true, .allowed = kPlatforms}));
  RETURN_IF_ERROR(CheckInt("gpu_tier", rq.gpu_tier(), 0, 5));
  RETURN_IF_ERROR(CheckInt("ram_mb", rq.ram_mb(), 512, 1048576));
  RETURN_IF_ERROR(CheckInt("cpu_cores", rq.cpu_cores(), 1, 256));
  // PM2: a number outside the set (0 included) is `out_of_range`.
  const int32_t fps = rq.target_fps();
  if (fps != 30 && fps != 60 && fps != 120) return InvalidArgument("target_fps", reason::kOutOfRange);
  return absl::OkStatus();
}

absl::Status CheckReportFrameStats(const pb::ReportFrameStatsRequest& rq) {
  RETURN_IF_ERROR(CheckPlayerId(rq.player_id()));
  RETURN_IF_ERROR(CheckInt("avg_fps", rq.avg_fps(), 1, 1000));
  return CheckInt("samples", rq.samples(), 300, std::numeric_limits<int32_t>::max());
}

absl::Status CheckSetServerMode(const pb::SetServerModeRequest& rq) {
  RETURN_IF_ERROR(CheckString("mode", rq.mode(), {.required = true, .allowed = kServerModes}));
  return CheckString("reason", rq.reason(), {.max_len = 200});  // PM5: optional, 0–200
}

// ---- rule 2 ----

int32_t Score(const pb::EvaluateRequest& rq) {
  // Inputs are range-checked and non-negative, so C++ '/' is the spec's floor division here.
  return 20 * rq.gpu_tier() + 2 * std::min(rq.ram_mb() / 1024, 32) + 3 * std::min(rq.cpu_cores(), 16);
}

Mode DeviceCap(const pb::EvaluateRequest& rq, int32_t score) {
  Mode cap = TierOf(score);
  if (rq.target_fps() == 120) cap = StepDown(cap);
  if (rq.platform() == "mobile") cap = MinMode(cap, Mode::kHigh);
  if (rq.battery_saver()) cap = MinMode(cap, Mode::kBalanced);
  return cap;
}

PlayerPerf Evaluated(const pb::EvaluateRequest& rq, int32_t score) {
  PlayerPerf perf;
  perf.device_cap = DeviceCap(rq, score);
  perf.current = perf.device_cap;
  perf.target_fps = rq.target_fps();
  return perf;
}

// ---- rule 3 ----

Reported Report(Mode current, std::string_view server_mode) {
  const Mode cap = ServerCap(server_mode);
  return Reported{MinMode(current, cap), static_cast<int>(cap) < static_cast<int>(current)};
}

pb::Knobs KnobsFor(Mode mode, std::string_view server_mode) {
  struct Row {
    int32_t draw_distance_m, npc_density_pct;
    std::string_view shadow_quality;
    bool weather_particles, ai_text_generation;
  };
  static constexpr Row kRows[] = {
      {300, 40, "off", false, false},      // low
      {600, 70, "low", true, true},        // balanced
      {1000, 90, "medium", true, true},    // high
      {1500, 100, "high", true, true},     // ultra
  };
  const Row& row = kRows[static_cast<int>(mode)];
  pb::Knobs knobs;
  knobs.set_draw_distance_m(row.draw_distance_m);
  knobs.set_npc_density_pct(row.npc_density_pct);
  knobs.set_shadow_quality(std::string(row.shadow_quality));
  knobs.set_weather_particles(row.weather_particles);
  knobs.set_ai_text_generation(row.ai_text_generation && server_mode == kServerNormal);
  return knobs;
}

// ---- rule 4 ----

FrameStep ApplyFrameStats(PlayerPerf& perf, int32_t avg_fps) {
  // Integer forms of "below 90 % of target" and "above 125 % of target".
  const int64_t fps = avg_fps;
  const int64_t target = perf.target_fps;
  if (10 * fps < 9 * target) {
    ++perf.below_streak;
    perf.above_streak = 0;
  } else if (4 * fps > 5 * target) {
    ++perf.above_streak;
    perf.below_streak = 0;
  } else {
    perf.below_streak = 0;
    perf.above_streak = 0;
  }
  if (perf.below_streak >= kBelowStreakToStep && perf.current != Mode::kLow) {
    perf.current = StepDown(perf.current);
    perf.below_streak = perf.above_streak = 0;
    return {true, "step_down"};
  }
  if (perf.above_streak >= kAboveStreakToStep &&
      static_cast<int>(perf.current) < static_cast<int>(perf.device_cap)) {
    perf.current = StepUp(perf.current);
    perf.below_streak = perf.above_streak = 0;
    return {true, "step_up"};
  }
  return {false, "none"};  // PM6: a blocked step keeps the incremented streak
}

}  // namespace sidecar::services::performance_mode
