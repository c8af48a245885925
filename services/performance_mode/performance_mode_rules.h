#pragma once
// performance-mode (SERVICES.md §2.8): the pure rules — field checks (rule 1, PM1, PM2, PM5),
// device score and cap (rule 2), the server cap and reported values (rule 3, PM7, PM9) and the
// frame-rate hysteresis (rule 4, PM6, N15). No store, no loop.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "performance_mode/v1/performance_mode.pb.h"

namespace sidecar::services::performance_mode {

// The proto package (performance_mode.v1) is shadowed by this namespace.
namespace pb = ::performance_mode::v1;

// low < balanced < high < ultra: the enum order is the mode order.
enum class Mode { kLow = 0, kBalanced = 1, kHigh = 2, kUltra = 3 };

std::string_view ModeName(Mode mode);
std::optional<Mode> ParseMode(std::string_view name);
inline Mode MinMode(Mode a, Mode b) { return static_cast<int>(a) < static_cast<int>(b) ? a : b; }
// One step down/up, floored at low / capped at ultra.
Mode StepDown(Mode mode);
Mode StepUp(Mode mode);

inline constexpr std::string_view kServerNormal = "normal";
inline constexpr std::string_view kServerDegraded = "degraded";
inline constexpr std::string_view kServerCritical = "critical";

// Rule 3: normal -> ultra, degraded -> balanced, critical -> low.
Mode ServerCap(std::string_view server_mode);

// PlayerPerf (§2.8 State) of one player; the player_id is the store key.
struct PlayerPerf {
  Mode device_cap = Mode::kLow;
  Mode current = Mode::kLow;
  int32_t target_fps = 0;
  int32_t below_streak = 0;
  int32_t above_streak = 0;
};

// ---- rule 1: field checks, in table order ----

absl::Status CheckPlayerId(std::string_view player_id);
absl::Status CheckEvaluate(const pb::EvaluateRequest& rq);
absl::Status CheckReportFrameStats(const pb::ReportFrameStatsRequest& rq);
absl::Status CheckSetServerMode(const pb::SetServerModeRequest& rq);

// ---- rule 2 ----

// 20·gpu_tier + 2·min(ram_mb ÷ 1024, 32) + 3·min(cpu_cores, 16).
int32_t Score(const pb::EvaluateRequest& rq);
// The score's tier, then in order: target 120 -> one step down; mobile -> at most high;
// battery_saver -> at most balanced.
Mode DeviceCap(const pb::EvaluateRequest& rq, int32_t score);
// PM10: device_cap and target stored, current = device_cap, both streaks 0.
PlayerPerf Evaluated(const pb::EvaluateRequest& rq, int32_t score);

// ---- rule 3 ----

// What a client is told: min(current, cap), capped iff cap < current.
struct Reported {
  Mode mode;
  bool server_capped;
};
Reported Report(Mode current, std::string_view server_mode);
// The knobs of `mode`; ai_text_generation is off under degraded/critical (PM9).
pb::Knobs KnobsFor(Mode mode, std::string_view server_mode);

// ---- rule 4 ----

struct FrameStep {
  bool changed = false;
  std::string_view reason;  // step_down, step_up, none
};
// Updates the streaks for one report and steps `perf.current` (uncapped, PM7) when a streak
// reaches its threshold and the step is possible; a blocked step keeps the streak (PM6).
FrameStep ApplyFrameStats(PlayerPerf& perf, int32_t avg_fps);

}  // namespace sidecar::services::performance_mode
