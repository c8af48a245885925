#include "services/time_manager/time_manager_logic.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <utility>

#include "services/common/call_context.h"
#include "services/common/errors.h"
#include "services/common/jcs.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::time_manager {
namespace {

using nlohmann::json;

StringSpec ClockIdSpec() {
  StringSpec spec;
  spec.required = true;
  spec.min_len = 1;
  spec.max_len = 32;
  spec.char_class = "a-z0-9_-";
  return spec;
}

StringSpec TimerIdSpec() {
  StringSpec spec;
  spec.required = true;
  spec.min_len = 1;
  spec.max_len = 64;
  spec.char_class = "A-Za-z0-9_.-";
  return spec;
}

absl::Status CheckInterval(std::string_view field, int64_t interval) {
  // §2.12 r4: 0 (one-shot) or 1000–31536000000.
  if (interval == 0) return absl::OkStatus();
  return CheckInt(field, interval, kMinIntervalGameMs, kMaxIntervalGameMs);
}

absl::Status CheckPayload(std::string_view field, const google::protobuf::Struct& payload) {
  absl::StatusOr<size_t> size = JcsSize(payload);
  if (!size.ok()) return InvalidArgument(field, reason::kType);
  if (*size > kMaxPayloadBytes) return InvalidArgument(field, reason::kTooLong);
  return absl::OkStatus();
}

// ---- JSON reading without exceptions (stored forms and fixture documents) ----

// An integer member: absent/null -> `fallback`; a JSON integer, or a float with an integral value
// (Struct numbers are doubles), within ±(2^53−1); else INVALID_ARGUMENT {field, type}.
absl::StatusOr<int64_t> IntMember(const json& obj, const char* key, int64_t fallback,
                                  const std::string& field) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (it->is_number_integer()) {
    int64_t v = it->get<int64_t>();
    if (v > kMaxJsonInt || v < -kMaxJsonInt) return InvalidArgument(field, reason::kOutOfRange);
    return v;
  }
  if (it->is_number_float()) {
    double d = it->get<double>();
    if (!std::isfinite(d) || std::floor(d) != d) return InvalidArgument(field, reason::kType);
    if (std::fabs(d) > static_cast<double>(kMaxJsonInt)) {
      return InvalidArgument(field, reason::kOutOfRange);
    }
    return static_cast<int64_t>(d);
  }
  return InvalidArgument(field, reason::kType);
}

absl::StatusOr<bool> BoolMember(const json& obj, const char* key, bool fallback,
                                const std::string& field) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return InvalidArgument(field, reason::kType);
  return it->get<bool>();
}

absl::StatusOr<std::string> StringMember(const json& obj, const char* key,
                                         const std::string& field) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) return InvalidArgument(field, reason::kType);
  return it->get<std::string>();
}

std::string Sub(const std::string& prefix, const char* name) { return prefix + "." + name; }

json ClockToJson(const Clock& c) {
  return json{{"clock_id", c.clock_id},
              {"anchor_real_ms", c.anchor_real_ms},
              {"anchor_game_ms", c.anchor_game_ms},
              {"scale_milli", c.scale_milli},
              {"paused", c.paused},
              {"revision", c.revision}};
}

absl::StatusOr<Clock> ClockFromJson(const json& j, const std::string& field) {
  if (!j.is_object()) return InvalidArgument(field, reason::kType);
  Clock c;
  ASSIGN_OR_RETURN(c.clock_id, StringMember(j, "clock_id", Sub(field, "clock_id")));
  ASSIGN_OR_RETURN(c.anchor_real_ms,
                   IntMember(j, "anchor_real_ms", 0, Sub(field, "anchor_real_ms")));
  ASSIGN_OR_RETURN(c.anchor_game_ms,
                   IntMember(j, "anchor_game_ms", 0, Sub(field, "anchor_game_ms")));
  ASSIGN_OR_RETURN(int64_t scale, IntMember(j, "scale_milli", 1000, Sub(field, "scale_milli")));
  c.scale_milli = static_cast<int32_t>(std::clamp<int64_t>(scale, kMinScaleMilli, kMaxScaleMilli));
  if (scale != c.scale_milli)
    return InvalidArgument(Sub(field, "scale_milli"), reason::kOutOfRange);
  ASSIGN_OR_RETURN(c.paused, BoolMember(j, "paused", false, Sub(field, "paused")));
  ASSIGN_OR_RETURN(c.revision, IntMember(j, "revision", 1, Sub(field, "revision")));
  return c;
}

json TimerToJson(const Timer& t) {
  return json{{"clock_id", t.clock_id},
              {"timer_id", t.timer_id},
              {"fire_at_game_ms", t.fire_at_game_ms},
              {"interval_game_ms", t.interval_game_ms},
              {"payload", StructToJson(t.payload)},
              {"fire_count", t.fire_count}};
}

absl::StatusOr<Timer> TimerFromJson(const json& j, const std::string& field) {
  if (!j.is_object()) return InvalidArgument(field, reason::kType);
  Timer t;
  ASSIGN_OR_RETURN(t.clock_id, StringMember(j, "clock_id", Sub(field, "clock_id")));
  ASSIGN_OR_RETURN(t.timer_id, StringMember(j, "timer_id", Sub(field, "timer_id")));
  ASSIGN_OR_RETURN(t.fire_at_game_ms,
                   IntMember(j, "fire_at_game_ms", 0, Sub(field, "fire_at_game_ms")));
  ASSIGN_OR_RETURN(t.interval_game_ms,
                   IntMember(j, "interval_game_ms", 0, Sub(field, "interval_game_ms")));
  ASSIGN_OR_RETURN(int64_t count, IntMember(j, "fire_count", 0, Sub(field, "fire_count")));
  if (count < 0 || count > std::numeric_limits<int32_t>::max()) {
    return InvalidArgument(Sub(field, "fire_count"), reason::kOutOfRange);
  }
  t.fire_count = static_cast<int32_t>(count);
  auto payload = j.find("payload");
  if (payload != j.end() && !payload->is_null()) {
    if (!payload->is_object()) return InvalidArgument(Sub(field, "payload"), reason::kType);
    ASSIGN_OR_RETURN(t.payload, JsonToStruct(*payload));
  }
  return t;
}

absl::StatusOr<google::protobuf::Value> JsonToValue(const json& j) {
  google::protobuf::Value v;
  if (j.is_null()) {
    v.set_null_value(google::protobuf::NULL_VALUE);
  } else if (j.is_boolean()) {
    v.set_bool_value(j.get<bool>());
  } else if (j.is_number()) {
    v.set_number_value(j.get<double>());
  } else if (j.is_string()) {
    v.set_string_value(j.get<std::string>());
  } else if (j.is_array()) {
    auto* list = v.mutable_list_value();
    for (const json& item : j) {
      ASSIGN_OR_RETURN(*list->add_values(), JsonToValue(item));
    }
  } else if (j.is_object()) {
    ASSIGN_OR_RETURN(*v.mutable_struct_value(), JsonToStruct(j));
  } else {
    return absl::InvalidArgumentError("binary JSON value in a payload");
  }
  return v;
}

}  // namespace

// ---- keys and stored forms ----

std::string ClocksKey() { return std::string(kStorePrefix) + "clocks"; }
std::string TimersPrefix(std::string_view clock_id) {
  return std::string(kStorePrefix) + "timers/" + std::string(clock_id) + "/";
}
std::string TimerKey(std::string_view clock_id, std::string_view timer_id) {
  return TimersPrefix(clock_id) + std::string(timer_id);
}
std::string LeaseKey(std::string_view clock_id) {
  return std::string(kStorePrefix) + "leases/" + std::string(clock_id);
}

absl::StatusOr<google::protobuf::Struct> JsonToStruct(const json& object) {
  if (!object.is_object()) return absl::InvalidArgumentError("not a JSON object");
  google::protobuf::Struct s;
  for (auto it = object.begin(); it != object.end(); ++it) {
    ASSIGN_OR_RETURN((*s.mutable_fields())[it.key()], JsonToValue(it.value()));
  }
  return s;
}

std::string EncodeClocks(const ClockMap& clocks) {
  json list = json::array();
  for (const auto& [id, clock] : clocks) list.push_back(ClockToJson(clock));
  return json{{"clocks", std::move(list)}}.dump();
}

absl::StatusOr<ClockMap> DecodeClocks(std::string_view bytes) {
  json doc = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("clocks") ||
      !doc["clocks"].is_array()) {
    return Internal("stored clocks do not parse");
  }
  ClockMap out;
  for (const json& item : doc["clocks"]) {
    absl::StatusOr<Clock> clock = ClockFromJson(item, "clocks");
    if (!clock.ok()) return Internal("stored clock does not parse");
    out[clock->clock_id] = std::move(*clock);
  }
  return out;
}

std::string EncodeTimer(const Timer& timer) { return TimerToJson(timer).dump(); }

absl::StatusOr<Timer> DecodeTimer(std::string_view bytes) {
  json doc = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Internal("stored timer does not parse");
  absl::StatusOr<Timer> timer = TimerFromJson(doc, "timer");
  if (!timer.ok()) return Internal("stored timer does not parse");
  return timer;
}

// ---- time ----

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t FloorMod(int64_t a, int64_t b) { return a - b * FloorDiv(a, b); }

int64_t GameMsAt(const Clock& clock, int64_t now_ms) {
  if (clock.paused) return clock.anchor_game_ms;
  // The product can pass 2^63 for far-future request times (years × 10^6): widen, then the ÷1000
  // brings it back into range. Operands are non-negative, so truncation is the floor.
  __int128 elapsed = std::max<__int128>(0, static_cast<__int128>(now_ms) - clock.anchor_real_ms);
  __int128 game = static_cast<__int128>(clock.anchor_game_ms) + elapsed * clock.scale_milli / 1000;
  if (game > std::numeric_limits<int64_t>::max()) return std::numeric_limits<int64_t>::max();
  return static_cast<int64_t>(game);
}

Calendar Project(int64_t game_ms) {
  Calendar c;
  c.day = FloorDiv(game_ms, kMsPerDay);
  c.hour = static_cast<int32_t>(FloorDiv(FloorMod(game_ms, kMsPerDay), kMsPerHour));
  c.minute = static_cast<int32_t>(FloorDiv(FloorMod(game_ms, kMsPerHour), kMsPerMinute));
  c.game_hour_tick = FloorDiv(game_ms, kMsPerHour);
  if (c.hour >= 5 && c.hour <= 7) {
    c.time_of_day = "dawn";
  } else if (c.hour >= 8 && c.hour <= 17) {
    c.time_of_day = "day";
  } else if (c.hour >= 18 && c.hour <= 20) {
    c.time_of_day = "dusk";
  } else {
    c.time_of_day = "night";
  }
  return c;
}

Clock Reanchor(const Clock& clock, int64_t now_ms, int32_t scale_milli,
               std::optional<bool> paused) {
  Clock out = clock;
  out.anchor_game_ms = GameMsAt(clock, now_ms);
  out.anchor_real_ms = now_ms;
  if (scale_milli != 0) out.scale_milli = scale_milli;
  if (paused.has_value()) out.paused = *paused;
  out.revision = clock.revision + 1;
  return out;
}

// ---- field checks ----

absl::Status CheckClockId(const std::string& clock_id) {
  return CheckString("clock_id", clock_id, ClockIdSpec());
}

absl::Status ValidateCreateClock(const v1::CreateClockRequest& rq) {
  RETURN_IF_ERROR(CheckClockId(rq.clock_id()));
  RETURN_IF_ERROR(CheckInt("start_game_ms", rq.start_game_ms(), 0, kMaxJsonInt));
  return CheckInt("scale_milli", rq.scale_milli(), kMinScaleMilli, kMaxScaleMilli);
}

absl::Status ValidateGetTime(const v1::GetTimeRequest& rq) { return CheckClockId(rq.clock_id()); }

absl::Status ValidateSetScale(const v1::SetScaleRequest& rq) {
  RETURN_IF_ERROR(CheckClockId(rq.clock_id()));
  // N32: 0 keeps the scale; anything else must be a valid scale.
  if (rq.scale_milli() != 0) {
    RETURN_IF_ERROR(CheckInt("scale_milli", rq.scale_milli(), kMinScaleMilli, kMaxScaleMilli));
  }
  return absl::OkStatus();
}

absl::Status ValidateScheduleTimer(const v1::ScheduleTimerRequest& rq) {
  RETURN_IF_ERROR(CheckClockId(rq.clock_id()));
  RETURN_IF_ERROR(CheckString("timer_id", rq.timer_id(), TimerIdSpec()));
  // "exactly one of fire_at_game_ms/delay_game_ms" (§0.4, N4): neither -> the first `required`,
  // both -> the later `malformed`. T2: each, when given, ≥0.
  if (!rq.has_fire_at_game_ms() && !rq.has_delay_game_ms()) {
    return InvalidArgument("fire_at_game_ms", reason::kRequired);
  }
  if (rq.has_fire_at_game_ms()) {
    RETURN_IF_ERROR(CheckInt("fire_at_game_ms", rq.fire_at_game_ms(), 0, kMaxJsonInt));
  }
  if (rq.has_delay_game_ms()) {
    if (rq.has_fire_at_game_ms()) return InvalidArgument("delay_game_ms", reason::kMalformed);
    RETURN_IF_ERROR(CheckInt("delay_game_ms", rq.delay_game_ms(), 0, kMaxJsonInt));
  }
  RETURN_IF_ERROR(CheckInterval("interval_game_ms", rq.interval_game_ms()));
  return CheckPayload("payload", rq.payload());
}

absl::Status ValidateCancelTimer(const v1::CancelTimerRequest& rq) {
  RETURN_IF_ERROR(CheckClockId(rq.clock_id()));
  return CheckString("timer_id", rq.timer_id(), TimerIdSpec());
}

absl::Status ValidateTick(const v1::TickRequest& rq) {
  RETURN_IF_ERROR(CheckClockId(rq.clock_id()));
  // T4: < 0 -> out_of_range; 0 means the default.
  return CheckInt("max_fires", rq.max_fires(), 0, kMaxMaxFires);
}

// ---- tick ----

TickPlan PlanTick(const std::vector<StoredTimer>& timers, int64_t g, int32_t max_fires) {
  std::vector<size_t> due;
  for (size_t i = 0; i < timers.size(); ++i) {
    if (timers[i].timer.fire_at_game_ms <= g) due.push_back(i);
  }
  // (fire_at, timer_id); ids are ASCII, so byte order is code-point order.
  std::sort(due.begin(), due.end(), [&](size_t a, size_t b) {
    const Timer& ta = timers[a].timer;
    const Timer& tb = timers[b].timer;
    if (ta.fire_at_game_ms != tb.fire_at_game_ms) return ta.fire_at_game_ms < tb.fire_at_game_ms;
    return ta.timer_id < tb.timer_id;
  });
  TickPlan plan;
  const size_t n = std::min(due.size(), static_cast<size_t>(std::max(0, max_fires)));
  // T9: a repeating timer is always rescheduled past g, so what stays due is exactly the cut-off.
  plan.more = due.size() > n;
  for (size_t j = 0; j < n; ++j) {
    const Timer& t = timers[due[j]].timer;
    PlannedFire fire;
    fire.index = due[j];
    fire.fired.set_timer_id(t.timer_id);
    fire.fired.set_fire_at_game_ms(t.fire_at_game_ms);
    *fire.fired.mutable_payload() = t.payload;
    if (t.interval_game_ms <= 0) {
      // T6: one-shots report fire_count 1, missed 0, next 0, and are removed.
      fire.remove = true;
      fire.fired.set_fire_count(1);
      fire.fired.set_missed(0);
      fire.fired.set_next_fire_at_game_ms(0);
    } else {
      const int64_t k = FloorDiv(g - t.fire_at_game_ms, t.interval_game_ms) + 1;
      fire.updated = t;
      fire.updated.fire_count =
          t.fire_count == std::numeric_limits<int32_t>::max() ? t.fire_count : t.fire_count + 1;
      fire.updated.fire_at_game_ms = t.fire_at_game_ms + k * t.interval_game_ms;
      fire.fired.set_fire_count(fire.updated.fire_count);
      fire.fired.set_missed(k - 1);
      fire.fired.set_next_fire_at_game_ms(fire.updated.fire_at_game_ms);
    }
    plan.fires.push_back(std::move(fire));
  }
  return plan;
}

// ---- fixture ----

absl::StatusOr<std::vector<StoreEntry>> FixtureEntries(const google::protobuf::Struct& document) {
  const json doc = StructToJson(document);
  ClockMap clocks;
  if (auto it = doc.find("clocks"); it != doc.end() && !it->is_null()) {
    if (!it->is_array()) return InvalidArgument("clocks", reason::kType);
    if (it->size() > kMaxClocks) return InvalidArgument("clocks", reason::kTooLong);
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string field = IndexField("clocks", i);
      const json& item = (*it)[i];
      json normalised = item;
      // The Given says "created at <ts>": anchor_real_ms may also be written as an RFC 3339 ts.
      if (item.is_object() && item.contains("anchor_real_ms") &&
          item["anchor_real_ms"].is_string()) {
        absl::StatusOr<int64_t> ms = ParseRequestTime(item["anchor_real_ms"].get<std::string>());
        if (!ms.ok()) return InvalidArgument(field + ".anchor_real_ms", reason::kMalformed);
        normalised["anchor_real_ms"] = *ms;
      }
      ASSIGN_OR_RETURN(Clock clock, ClockFromJson(normalised, field));
      RETURN_IF_ERROR(CheckString(field + ".clock_id", clock.clock_id, ClockIdSpec()));
      if (clock.anchor_game_ms < 0) {
        return InvalidArgument(field + ".anchor_game_ms", reason::kOutOfRange);
      }
      if (clock.revision < 1) return InvalidArgument(field + ".revision", reason::kOutOfRange);
      if (clocks.count(clock.clock_id) != 0) {
        return InvalidArgument(field + ".clock_id", reason::kMalformed);
      }
      clocks[clock.clock_id] = std::move(clock);
    }
  }
  std::vector<StoreEntry> entries;
  if (!clocks.empty()) entries.push_back(StoreEntry{ClocksKey(), EncodeClocks(clocks), 0, 0});
  std::set<std::pair<std::string, std::string>> seen;
  std::map<std::string, size_t> per_clock;
  if (auto it = doc.find("timers"); it != doc.end() && !it->is_null()) {
    if (!it->is_array()) return InvalidArgument("timers", reason::kType);
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string field = IndexField("timers", i);
      ASSIGN_OR_RETURN(Timer timer, TimerFromJson((*it)[i], field));
      RETURN_IF_ERROR(CheckString(field + ".clock_id", timer.clock_id, ClockIdSpec()));
      if (clocks.count(timer.clock_id) == 0) {
        return InvalidArgument(field + ".clock_id", reason::kUnknownValue);
      }
      RETURN_IF_ERROR(CheckString(field + ".timer_id", timer.timer_id, TimerIdSpec()));
      RETURN_IF_ERROR(CheckInt(field + ".fire_at_game_ms", timer.fire_at_game_ms, 0, kMaxJsonInt));
      RETURN_IF_ERROR(CheckInterval(field + ".interval_game_ms", timer.interval_game_ms));
      RETURN_IF_ERROR(CheckPayload(field + ".payload", timer.payload));
      if (!seen.emplace(timer.clock_id, timer.timer_id).second) {
        return InvalidArgument(field + ".timer_id", reason::kMalformed);
      }
      if (++per_clock[timer.clock_id] > kMaxTimersPerClock) {
        return InvalidArgument("timers", reason::kTooLong);
      }
      entries.push_back(
          StoreEntry{TimerKey(timer.clock_id, timer.timer_id), EncodeTimer(timer), 0, 0});
    }
  }
  return entries;
}

}  // namespace sidecar::services::time_manager
