#pragma once
// time-manager (SERVICES.md §2.12), the pure part: game-time projection, re-anchoring, tick
// planning, request field checks and the stored forms of clocks and timers. No store, no loop, no
// clock: every function takes *now* (the request's X-Request-Time) as an argument, so the binding
// (time_manager_service.cc) is the only place that waits on anything.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "nlohmann/json.hpp"
#include "services/common/state_store.h"
#include "time_manager/v1/time_manager.pb.h"

namespace sidecar::services::time_manager {

// The generated messages live in ::time_manager::v1, which this namespace would shadow.
namespace v1 = ::time_manager::v1;

inline constexpr std::string_view kServiceName = "time-manager";

// §2.12 r1 / T1: per deployment.
inline constexpr size_t kMaxClocks = 16;
// §2.12 r4.
inline constexpr size_t kMaxTimersPerClock = 10000;
inline constexpr int64_t kMinScaleMilli = 1;
inline constexpr int64_t kMaxScaleMilli = 1000000;
inline constexpr int64_t kMinIntervalGameMs = 1000;
inline constexpr int64_t kMaxIntervalGameMs = 31536000000;
inline constexpr size_t kMaxPayloadBytes = 4096;  // JCS bytes (T7)
// §2.12 r5: max_fires 0 -> 100, at most 1000.
inline constexpr int32_t kDefaultMaxFires = 100;
inline constexpr int32_t kMaxMaxFires = 1000;
// §0.2: i64 values travel as JSON numbers within ±(2^53−1).
inline constexpr int64_t kMaxJsonInt = 9007199254740991;

inline constexpr int64_t kMsPerDay = 86400000;
inline constexpr int64_t kMsPerHour = 3600000;
inline constexpr int64_t kMsPerMinute = 60000;

// ---- state (§2.12 "State (strong)") ----

struct Clock {
  std::string clock_id;
  int64_t anchor_real_ms = 0;
  int64_t anchor_game_ms = 0;
  int32_t scale_milli = 1000;
  bool paused = false;
  int64_t revision = 0;
};
// All clocks of the deployment, by clock_id. Kept as one store entry (≤16 small records), so the
// 16-clock cap and clock_id uniqueness are one compare-and-set.
using ClockMap = std::map<std::string, Clock>;

struct Timer {
  std::string clock_id;
  std::string timer_id;
  int64_t fire_at_game_ms = 0;
  int64_t interval_game_ms = 0;  // 0: one-shot
  google::protobuf::Struct payload;
  int32_t fire_count = 0;
};

// Store keys. Every key of the port lives under kStorePrefix (the fixture clears exactly that).
inline constexpr std::string_view kStorePrefix = "time-manager/";
std::string ClocksKey();
std::string TimersPrefix(std::string_view clock_id);
std::string TimerKey(std::string_view clock_id, std::string_view timer_id);
// The per-clock tick lease ("Ticks are serialized per clock by a lease in the shared store").
std::string LeaseKey(std::string_view clock_id);

// Stored forms (JSON, so an operator can read the bucket).
std::string EncodeClocks(const ClockMap& clocks);
absl::StatusOr<ClockMap> DecodeClocks(std::string_view bytes);
std::string EncodeTimer(const Timer& timer);
absl::StatusOr<Timer> DecodeTimer(std::string_view bytes);

// JSON object -> Struct (the inverse of jcs.h StructToJson; services/common has only that
// direction). INVALID_ARGUMENT for a non-object.
absl::StatusOr<google::protobuf::Struct> JsonToStruct(const nlohmann::json& object);

// ---- time (§2.12 r2-r3) ----

// ⌊a ÷ b⌋ toward −∞ (§0.2 "÷"), b > 0.
int64_t FloorDiv(int64_t a, int64_t b);
// a − b·⌊a ÷ b⌋, in [0, b).
int64_t FloorMod(int64_t a, int64_t b);

// game_ms(now) = anchor_game + ⌊max(0, now − anchor_real)·scale ÷ 1000⌋; paused: anchor_game.
int64_t GameMsAt(const Clock& clock, int64_t now_ms);

struct Calendar {
  int64_t day = 0;
  int32_t hour = 0;
  int32_t minute = 0;
  int64_t game_hour_tick = 0;
  std::string time_of_day;  // dawn, day, dusk, night
};
Calendar Project(int64_t game_ms);

// set_scale (r2, T5, T8, N32): re-anchor at (now, game_ms(now)) — now even when it is earlier than
// the old anchor — then scale (0 keeps it) and paused (absent keeps it); revision +1.
Clock Reanchor(const Clock& clock, int64_t now_ms, int32_t scale_milli, std::optional<bool> paused);

// GameTime{...} of `clock` at now, into any of the three responses that carry it flat.
template <typename GameTimeMessage>
void FillGameTime(const Clock& clock, int64_t now_ms, GameTimeMessage& out) {
  const int64_t game_ms = GameMsAt(clock, now_ms);
  Calendar c = Project(game_ms);
  out.set_clock_id(clock.clock_id);
  out.set_game_ms(game_ms);
  out.set_day(c.day);
  out.set_hour(c.hour);
  out.set_minute(c.minute);
  out.set_time_of_day(c.time_of_day);
  out.set_game_hour_tick(c.game_hour_tick);
  out.set_scale_milli(clock.scale_milli);
  out.set_paused(clock.paused);
  out.set_revision(clock.revision);
}

// ---- field checks (§0.4 step 2, table order) ----

absl::Status CheckClockId(const std::string& clock_id);
absl::Status ValidateCreateClock(const v1::CreateClockRequest& rq);
absl::Status ValidateGetTime(const v1::GetTimeRequest& rq);
absl::Status ValidateSetScale(const v1::SetScaleRequest& rq);
absl::Status ValidateScheduleTimer(const v1::ScheduleTimerRequest& rq);
absl::Status ValidateCancelTimer(const v1::CancelTimerRequest& rq);
absl::Status ValidateTick(const v1::TickRequest& rq);

// ---- tick (§2.12 r5, T6, T9) ----

struct StoredTimer {
  Timer timer;
  uint64_t revision = 0;  // store revision (for the compare-and-set that commits the fire)
};

struct PlannedFire {
  size_t index = 0;     // into the timers given to PlanTick
  v1::Fired fired;      // as reported
  bool remove = false;  // one-shot: delete the entry
  Timer updated;        // repeating: the rescheduled timer (fire_count+1, next fire_at)
};

struct TickPlan {
  std::vector<PlannedFire> fires;  // in (fire_at, timer_id) order
  bool more = false;               // due timers remain after these fires (T9)
};

// Due timers (fire_at ≤ g) in (fire_at_game_ms, timer_id) order, at most `max_fires` (already
// resolved: 1..1000), each once. A repeating timer moves to fire_at + k·interval for the smallest
// k ≥ 1 past g (missed = k − 1); a one-shot is removed and reports fire_count 1, missed 0,
// next 0.
TickPlan PlanTick(const std::vector<StoredTimer>& timers, int64_t g, int32_t max_fires);

// ---- fixture (_fixture, see README.md) ----

absl::StatusOr<std::vector<StoreEntry>> FixtureEntries(const google::protobuf::Struct& document);

}  // namespace sidecar::services::time_manager
