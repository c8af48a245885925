// time-manager (SERVICES.md §2.12): every example, every numbered rule and resolution (T1–T9,
// N32), the §0.4 check order, the events, and the golden files — all through the registry.

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/time_manager/time_manager_logic.h"
#include "services/time_manager/time_manager_service.h"
#include "tests/services/common/port_harness.h"
#include "time_manager/v1/time_manager.pb.h"

namespace sidecar::services::testing::time_manager_tests {
namespace {

using nlohmann::json;
namespace tml = ::sidecar::services::time_manager;

constexpr char kPlayer[] = "player:pl_a8694c9d17e9b948";

json Given() {
  return json::parse(R"({
    "clocks": [{"clock_id": "world", "anchor_real_ms": 1763640000000,
                "anchor_game_ms": 10389600000, "scale_milli": 60000, "paused": false,
                "revision": 1}],
    "timers": [
      {"clock_id": "world", "timer_id": "caravan-7", "fire_at_game_ms": 10425600000,
       "interval_game_ms": 0, "payload": {"route": "vell-to-harrow"}, "fire_count": 0},
      {"clock_id": "world", "timer_id": "bell-dusk", "fire_at_game_ms": 10432800000,
       "interval_game_ms": 86400000, "payload": {"bell": "dusk"}, "fire_count": 0}]})");
}

std::unique_ptr<google::protobuf::Message> DecodeEvent(const std::string& subject) {
  if (subject == "evt.time-manager.v1.timer_fired") {
    return std::make_unique<::time_manager::v1::TimerFiredEvent>();
  }
  if (subject == "evt.time-manager.v1.clock_changed") {
    return std::make_unique<::time_manager::v1::ClockChangedEvent>();
  }
  return nullptr;
}

class TimeManagerTest : public ::testing::Test {
 protected:
  TimeManagerTest() : port_(MakeTimeManagerService) {}

  Reply Call(const std::string& action, const json& body, const Headers& h = {}) {
    return port_.Call(action, body.dump(), h);
  }
  static Headers At(const std::string& time, const std::string& principal = kDefaultPrincipal) {
    return Headers{principal, time};
  }
  void ExpectOk(const Reply& r, const json& body) {
    EXPECT_EQ(r.status, 200) << r;
    EXPECT_EQ(r.body, body) << r;
  }
  void ExpectError(const Reply& r, int status, const json& body) {
    EXPECT_EQ(r.status, status) << r;
    EXPECT_EQ(r.body, body) << r;
  }
  json Schedule(const json& body, const Headers& h = {}) {
    Reply r = Call("schedule_timer", body, h);
    EXPECT_EQ(r.status, 200) << r;
    return r.body;
  }

  PortHarness port_;
};

// ---- registry ----

TEST_F(TimeManagerTest, RegistersEveryActionOfTheProto) {
  EXPECT_TRUE(VerifyRegistry("time-manager", port_.registry()).ok())
      << VerifyRegistry("time-manager", port_.registry());
  EXPECT_NE(port_.registry().Find("_fixture"), nullptr);
  EXPECT_EQ(port_.service().name(), "time-manager");
}

TEST(TimeManagerFixture, DisabledFixtureIsPermissionDenied) {
  PortHarness port(MakeTimeManagerService, /*fixtures_enabled=*/false);
  Reply r = port.Call("_fixture", Given().dump());
  EXPECT_EQ(r.status, 403) << r;
  EXPECT_EQ(r.body, Error("PERMISSION_DENIED"));
}

TEST_F(TimeManagerTest, FixtureRejectsTimersOfUnknownClocks) {
  Reply r = Call("_fixture", json::parse(R"({"timers":[{"clock_id":"nope","timer_id":"t",
                                            "fire_at_game_ms":5}]})"));
  ExpectError(r, 400, InvalidArg("timers[0].clock_id", "unknown_value"));
}

TEST_F(TimeManagerTest, FixtureAcceptsAnchorAsTimestamp) {
  port_.LoadFixture(json::parse(R"({"clocks":[{"clock_id":"world",
      "anchor_real_ms":"2025-11-20T12:00:00.000Z","anchor_game_ms":10389600000,
      "scale_milli":60000}]})"));
  Reply r = Call("get_time", {{"clock_id", "world"}}, At("2025-11-20T12:10:30.000Z"));
  EXPECT_EQ(r.body["game_ms"], 10427400000);
  EXPECT_EQ(r.body["revision"], 1);
}

// ---- examples ----

TEST_F(TimeManagerTest, Example1Projection) {
  port_.LoadFixture(Given());
  Reply r = port_.CallHttp("GET", "/api/time-manager/clocks/world", "", At("2025-11-20T12:10:30.000Z"));
  ExpectOk(r, json::parse(R"({"clock_id":"world","game_ms":10427400000,"day":120,"hour":16,
      "minute":30,"time_of_day":"day","game_hour_tick":2896,"scale_milli":60000,"paused":false,
      "revision":1})"));
}

TEST_F(TimeManagerTest, Example2TickFiresDueTimersInOrder) {
  port_.LoadFixture(Given());
  Reply r = port_.CallHttp("POST", "/api/time-manager/clocks/world/tick", R"({"max_fires":100})",
                       At("2025-11-20T12:13:00.000Z", "admin:scheduler"));
  ExpectOk(r, json::parse(R"({"game_ms":10436400000,"fired":[
      {"timer_id":"caravan-7","fire_at_game_ms":10425600000,"fire_count":1,"missed":0,
       "next_fire_at_game_ms":0,"payload":{"route":"vell-to-harrow"}},
      {"timer_id":"bell-dusk","fire_at_game_ms":10432800000,"fire_count":1,"missed":0,
       "next_fire_at_game_ms":10519200000,"payload":{"bell":"dusk"}}],"more":false})"));
  // Events: one timer_fired per fire, in fire order, after commit.
  std::vector<json> events = port_.Events(DecodeEvent);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], json::parse(R"({"subject":"evt.time-manager.v1.timer_fired","event":{
      "occurred_at":"2025-11-20T12:13:00.000Z","clock_id":"world","timer_id":"caravan-7",
      "fire_at_game_ms":10425600000,"fire_count":1,"payload":{"route":"vell-to-harrow"}}})"));
  EXPECT_EQ(events[1]["event"]["timer_id"], "bell-dusk");
  EXPECT_EQ(events[1]["event"]["fire_count"], 1);
  EXPECT_EQ(events[1]["event"]["payload"], json::parse(R"({"bell":"dusk"})"));
}

TEST(TimeManagerGolden, EveryGoldenFileReplays) {
  auto files = GoldenPaths("time-manager");
  ASSERT_EQ(files.size(), 2u);
  for (const auto& file : files) RunGolden(MakeTimeManagerService, file);
}

// ---- r1: create_clock, ids, ranges, cap, authorization ----

TEST_F(TimeManagerTest, CreateClockAnchorsAtNowAndStart) {
  Reply r = Call("create_clock",
                 {{"clock_id", "world"}, {"start_game_ms", 10389600000LL}, {"scale_milli", 60000}});
  ExpectOk(r, json::parse(R"({"clock_id":"world","game_ms":10389600000,"day":120,"hour":6,
      "minute":0,"time_of_day":"dawn","game_hour_tick":2886,"scale_milli":60000,"paused":false,
      "revision":1})"));
  // Then a real minute is a game hour.
  r = Call("get_time", {{"clock_id", "world"}}, At("2025-11-20T12:01:00.000Z"));
  EXPECT_EQ(r.body["game_ms"], 10389600000LL + 3600000);
  EXPECT_EQ(r.body["hour"], 7);
  std::vector<json> events = port_.Events(DecodeEvent);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], json::parse(R"({"subject":"evt.time-manager.v1.clock_changed","event":{
      "occurred_at":"2025-11-20T12:00:00.000Z","clock_id":"world","scale_milli":60000,
      "paused":false,"revision":1}})"));
}

TEST_F(TimeManagerTest, CreateClockFieldChecks) {
  ExpectError(Call("create_clock", {{"scale_milli", 1000}}), 400,
              InvalidArg("clock_id", "required"));
  ExpectError(Call("create_clock", {{"clock_id", std::string(33, 'a')}, {"scale_milli", 1000}}),
              400, InvalidArg("clock_id", "too_long"));
  ExpectError(Call("create_clock", {{"clock_id", "World"}, {"scale_milli", 1000}}), 400,
              InvalidArg("clock_id", "pattern"));
  ExpectError(
      Call("create_clock", {{"clock_id", "w"}, {"start_game_ms", -1}, {"scale_milli", 1000}}), 400,
      InvalidArg("start_game_ms", "out_of_range"));
  ExpectError(Call("create_clock", {{"clock_id", "w"}}), 400,
              InvalidArg("scale_milli", "out_of_range"));
  ExpectError(Call("create_clock", {{"clock_id", "w"}, {"scale_milli", 1000001}}), 400,
              InvalidArg("scale_milli", "out_of_range"));
  ExpectError(Call("create_clock", {{"clock_id", "w"}, {"scale_milli", "fast"}}), 400,
              InvalidArg("scale_milli", "type"));
  ExpectOk(Call("create_clock", {{"clock_id", "a_b-9"}, {"scale_milli", 1}}),
           json::parse(R"({"clock_id":"a_b-9","game_ms":0,"day":0,"hour":0,"minute":0,
               "time_of_day":"night","game_hour_tick":0,"scale_milli":1,"paused":false,
               "revision":1})"));
  EXPECT_EQ(Call("create_clock", {{"clock_id", "max"}, {"scale_milli", 1000000}}).status, 200);
}

TEST_F(TimeManagerTest, WritesNeedServiceOrAdminAfterFieldChecks) {
  port_.LoadFixture(Given());
  const Headers player = At(kDefaultTime, kPlayer);
  ExpectError(Call("create_clock", {{"clock_id", "w"}, {"scale_milli", 1000}}, player), 403,
              Error("PERMISSION_DENIED"));
  // §0.4: INVALID_ARGUMENT (step 2) before PERMISSION_DENIED (step 3).
  ExpectError(Call("create_clock", {{"clock_id", "W"}, {"scale_milli", 1000}}, player), 400,
              InvalidArg("clock_id", "pattern"));
  ExpectError(Call("set_scale", {{"clock_id", "world"}}, player), 403, Error("PERMISSION_DENIED"));
  ExpectError(Call("schedule_timer",
                   {{"clock_id", "world"}, {"timer_id", "t"}, {"delay_game_ms", 5}}, player),
              403, Error("PERMISSION_DENIED"));
  ExpectError(Call("cancel_timer", {{"clock_id", "world"}, {"timer_id", "t"}}, player), 403,
              Error("PERMISSION_DENIED"));
  ExpectError(Call("tick", {{"clock_id", "world"}}, player), 403, Error("PERMISSION_DENIED"));
  // PERMISSION_DENIED (step 3) before NOT_FOUND (step 4).
  ExpectError(Call("tick", {{"clock_id", "nope"}}, player), 403, Error("PERMISSION_DENIED"));
  // get_time is a read: any principal.
  EXPECT_EQ(Call("get_time", {{"clock_id", "world"}}, player).status, 200);
  EXPECT_EQ(
      Call("get_time", {{"clock_id", "world"}}, At(kDefaultTime, "service:weather-manager")).status,
      200);
  // No principal: UNAUTHENTICATED {} (step 1), even before field checks.
  ExpectError(Call("get_time", {{"clock_id", "W"}}, At(kDefaultTime, "")), 401,
              Error("UNAUTHENTICATED"));
  // A malformed X-Request-Time is the envelope error.
  ExpectError(Call("get_time", {{"clock_id", "world"}}, At("yesterday")), 400,
              InvalidArg("X-Request-Time", "malformed"));
}

TEST_F(TimeManagerTest, DuplicateClockIsAlreadyExists) {
  ASSERT_EQ(Call("create_clock", {{"clock_id", "world"}, {"scale_milli", 1000}}).status, 200);
  ExpectError(Call("create_clock", {{"clock_id", "world"}, {"scale_milli", 2000}}), 409,
              Error("ALREADY_EXISTS", {{"field", "clock_id"}}));
}

TEST_F(TimeManagerTest, SixteenClocksPerDeployment) {
  for (int i = 0; i < 16; ++i) {
    ASSERT_EQ(
        Call("create_clock", {{"clock_id", "c" + std::to_string(i)}, {"scale_milli", 1000}}).status,
        200);
  }
  ExpectError(Call("create_clock", {{"clock_id", "c16"}, {"scale_milli", 1000}}), 429,
              Error("RESOURCE_EXHAUSTED", {{"reason", "limit_exceeded"}, {"limit", "16"}}));
  // ALREADY_EXISTS comes before the cap (rule order of step 6).
  ExpectError(Call("create_clock", {{"clock_id", "c3"}, {"scale_milli", 1000}}), 409,
              Error("ALREADY_EXISTS", {{"field", "clock_id"}}));
}

TEST_F(TimeManagerTest, UnknownClockIsNotFound) {
  ExpectError(Call("get_time", {{"clock_id", "nope"}}), 404,
              Error("NOT_FOUND", {{"field", "clock_id"}}));
  ExpectError(Call("set_scale", {{"clock_id", "nope"}}), 404,
              Error("NOT_FOUND", {{"field", "clock_id"}}));
  ExpectError(
      Call("schedule_timer", {{"clock_id", "nope"}, {"timer_id", "t"}, {"delay_game_ms", 1}}), 404,
      Error("NOT_FOUND", {{"field", "clock_id"}}));
  ExpectError(Call("cancel_timer", {{"clock_id", "nope"}, {"timer_id", "t"}}), 404,
              Error("NOT_FOUND", {{"field", "clock_id"}}));
  ExpectError(Call("tick", {{"clock_id", "nope"}}), 404,
              Error("NOT_FOUND", {{"field", "clock_id"}}));
}

// ---- r2: projection, set_scale, pause, re-anchoring ----

TEST_F(TimeManagerTest, TimeBeforeTheAnchorDoesNotRunBackwards) {
  port_.LoadFixture(Given());
  Reply r = Call("get_time", {{"clock_id", "world"}}, At("2025-11-20T11:00:00.000Z"));
  EXPECT_EQ(r.body["game_ms"], 10389600000LL);  // max(0, now − anchor_real)
}

TEST_F(TimeManagerTest, SetScaleReanchorsThenAppliesScale) {
  port_.LoadFixture(Given());
  // 12:10 -> game 10389600000 + 10 h; then scale 1000 (real time).
  Reply r = Call("set_scale", {{"clock_id", "world"}, {"scale_milli", 1000}},
                 At("2025-11-20T12:10:00.000Z"));
  ExpectOk(r, json::parse(R"({"clock_id":"world","game_ms":10425600000,"day":120,"hour":16,
      "minute":0,"time_of_day":"day","game_hour_tick":2896,"scale_milli":1000,"paused":false,
      "revision":2})"));
  r = Call("get_time", {{"clock_id", "world"}}, At("2025-11-20T12:11:00.000Z"));
  EXPECT_EQ(r.body["game_ms"], 10425600000LL + 60000);  // one real minute = one game minute
  EXPECT_EQ(r.body["minute"], 1);
  std::vector<json> events = port_.Events(DecodeEvent);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["event"], json::parse(R"({"occurred_at":"2025-11-20T12:10:00.000Z",
      "clock_id":"world","scale_milli":1000,"paused":false,"revision":2})"));
}

TEST_F(TimeManagerTest, PauseFreezesAndResumeContinuesFromThePausePoint) {
  port_.LoadFixture(Given());
  Reply r =
      Call("set_scale", {{"clock_id", "world"}, {"paused", true}}, At("2025-11-20T12:01:00.000Z"));
  EXPECT_EQ(r.body["paused"], true);
  EXPECT_EQ(r.body["scale_milli"], 60000);  // scale_milli 0 keeps the scale (N32)
  EXPECT_EQ(r.body["game_ms"], 10393200000LL);
  r = Call("get_time", {{"clock_id", "world"}}, At("2025-11-20T15:00:00.000Z"));
  EXPECT_EQ(r.body["game_ms"], 10393200000LL);  // paused: anchor_game_ms
  // T5: absent `paused` keeps the paused state, even when the scale changes.
  r = Call("set_scale", {{"clock_id", "world"}, {"scale_milli", 2000}},
           At("2025-11-20T15:00:00.000Z"));
  EXPECT_EQ(r.body["paused"], true);
  EXPECT_EQ(r.body["scale_milli"], 2000);
  EXPECT_EQ(r.body["revision"], 3);
  r = Call("set_scale", {{"clock_id", "world"}, {"paused", false}}, At("2025-11-20T16:00:00.000Z"));
  EXPECT_EQ(r.body["game_ms"], 10393200000LL);
  EXPECT_EQ(r.body["revision"], 4);
  r = Call("get_time", {{"clock_id", "world"}}, At("2025-11-20T16:00:01.000Z"));
  EXPECT_EQ(r.body["game_ms"], 10393200000LL + 2000);
}

TEST_F(TimeManagerTest, ReanchoringUsesNowEvenWhenEarlier) {
  port_.LoadFixture(Given());
  // T8: now (11:00) is before the anchor (12:00): game_ms(now) = anchor_game, anchor_real = 11:00.
  Reply r = Call("set_scale", {{"clock_id", "world"}, {"scale_milli", 1000}},
                 At("2025-11-20T11:00:00.000Z"));
  EXPECT_EQ(r.body["game_ms"], 10389600000LL);
  r = Call("get_time", {{"clock_id", "world"}}, At("2025-11-20T11:30:00.000Z"));
  EXPECT_EQ(r.body["game_ms"], 10389600000LL + 1800000);
}

TEST_F(TimeManagerTest, SetScaleFieldChecks) {
  port_.LoadFixture(Given());
  ExpectError(Call("set_scale", {{"clock_id", "world"}, {"scale_milli", -1}}), 400,
              InvalidArg("scale_milli", "out_of_range"));
  ExpectError(Call("set_scale", {{"clock_id", "world"}, {"scale_milli", 1000001}}), 400,
              InvalidArg("scale_milli", "out_of_range"));
  ExpectError(Call("set_scale", {{"clock_id", "world"}, {"paused", "yes"}}), 400,
              InvalidArg("paused", "type"));
  // Nothing given: re-anchor only, revision +1.
  Reply r = Call("set_scale", {{"clock_id", "world"}});
  EXPECT_EQ(r.body["revision"], 2);
  EXPECT_EQ(r.body["scale_milli"], 60000);
}

// ---- r3: calendar ----

TEST(TimeManagerCalendar, HoursMapToTimeOfDay) {
  const std::vector<std::pair<int, std::string>> cases = {
      {0, "night"}, {4, "night"}, {5, "dawn"},  {7, "dawn"},   {8, "day"},
      {17, "day"},  {18, "dusk"}, {20, "dusk"}, {21, "night"}, {23, "night"}};
  for (const auto& [hour, tod] : cases) {
    tml::Calendar c =
        tml::Project(3 * tml::kMsPerDay + hour * tml::kMsPerHour + 59 * 60000 + 59999);
    EXPECT_EQ(c.hour, hour);
    EXPECT_EQ(c.time_of_day, tod) << hour;
    EXPECT_EQ(c.day, 3);
    EXPECT_EQ(c.minute, 59);
    EXPECT_EQ(c.game_hour_tick, 3 * 24 + hour);
  }
  tml::Calendar zero = tml::Project(0);
  EXPECT_EQ(zero.day, 0);
  EXPECT_EQ(zero.time_of_day, "night");
}

TEST(TimeManagerCalendar, GameMsUsesFloorDivisionAndWidensTheProduct) {
  tml::Clock c;
  c.anchor_real_ms = 0;
  c.anchor_game_ms = 7;
  c.scale_milli = 1;
  EXPECT_EQ(tml::GameMsAt(c, 999), 7);  // 999·1 ÷ 1000 = 0
  EXPECT_EQ(tml::GameMsAt(c, 1000), 8);
  c.scale_milli = 1000000;
  // Year ~9999 in ms times 10^6 passes 2^63; the result still fits.
  EXPECT_EQ(tml::GameMsAt(c, 253402300799000), 7 + 253402300799000LL * 1000);
  EXPECT_EQ(tml::FloorDiv(-1, 1000), -1);
  EXPECT_EQ(tml::FloorMod(-1, 1000), 999);
}

// ---- r4: schedule_timer / cancel_timer ----

TEST_F(TimeManagerTest, ScheduleByDelayResolvesAgainstGameNow) {
  port_.LoadFixture(Given());
  // 12:01 -> g = 10389600000 + 3600000.
  json r = Schedule({{"clock_id", "world"}, {"timer_id", "ferry.9"}, {"delay_game_ms", 1000}},
                    At("2025-11-20T12:01:00.000Z"));
  EXPECT_EQ(r, json::parse(R"({"timer_id":"ferry.9","fire_at_game_ms":10393201000})"));
  r = Schedule({{"clock_id", "world"},
                {"timer_id", "Abs_1"},
                {"fire_at_game_ms", 20000000000LL},
                {"interval_game_ms", 1000},
                {"payload", {{"n", 1}}}});
  EXPECT_EQ(r, json::parse(R"({"timer_id":"Abs_1","fire_at_game_ms":20000000000})"));
  EXPECT_TRUE(port_.Events(DecodeEvent).empty());  // scheduling emits nothing
}

TEST_F(TimeManagerTest, ScheduleFieldChecksInTableOrder) {
  port_.LoadFixture(Given());
  auto call = [&](json body) { return Call("schedule_timer", body); };
  ExpectError(call({{"clock_id", "world"}, {"delay_game_ms", 5}}), 400,
              InvalidArg("timer_id", "required"));
  ExpectError(
      call({{"clock_id", "world"}, {"timer_id", std::string(65, 'a')}, {"delay_game_ms", 5}}), 400,
      InvalidArg("timer_id", "too_long"));
  ExpectError(call({{"clock_id", "world"}, {"timer_id", "a/b"}, {"delay_game_ms", 5}}), 400,
              InvalidArg("timer_id", "pattern"));
  // Exactly one of fire_at/delay: neither -> the first required; both -> the later malformed.
  ExpectError(call({{"clock_id", "world"}, {"timer_id", "t"}}), 400,
              InvalidArg("fire_at_game_ms", "required"));
  ExpectError(call({{"clock_id", "world"},
                    {"timer_id", "t"},
                    {"fire_at_game_ms", 20000000000LL},
                    {"delay_game_ms", 5}}),
              400, InvalidArg("delay_game_ms", "malformed"));
  // T2: both ≥0.
  ExpectError(call({{"clock_id", "world"}, {"timer_id", "t"}, {"fire_at_game_ms", -1}}), 400,
              InvalidArg("fire_at_game_ms", "out_of_range"));
  ExpectError(call({{"clock_id", "world"}, {"timer_id", "t"}, {"delay_game_ms", -1}}), 400,
              InvalidArg("delay_game_ms", "out_of_range"));
  // Interval: 0 or 1000–31536000000.
  ExpectError(call({{"clock_id", "world"},
                    {"timer_id", "t"},
                    {"delay_game_ms", 5},
                    {"interval_game_ms", 999}}),
              400, InvalidArg("interval_game_ms", "out_of_range"));
  ExpectError(call({{"clock_id", "world"},
                    {"timer_id", "t"},
                    {"delay_game_ms", 5},
                    {"interval_game_ms", 31536000001LL}}),
              400, InvalidArg("interval_game_ms", "out_of_range"));
  ExpectError(call({{"clock_id", "world"},
                    {"timer_id", "t"},
                    {"delay_game_ms", 5},
                    {"interval_game_ms", -1000}}),
              400, InvalidArg("interval_game_ms", "out_of_range"));
  EXPECT_EQ(call({{"clock_id", "world"},
                  {"timer_id", "i1"},
                  {"delay_game_ms", 5},
                  {"interval_game_ms", 31536000000LL}})
                .status,
            200);
  EXPECT_EQ(call({{"clock_id", "world"},
                  {"timer_id", "i2"},
                  {"delay_game_ms", 5},
                  {"interval_game_ms", 1000}})
                .status,
            200);
  // T7: payload ≤ 4096 JCS bytes: {"p":"<4088 chars>"} is exactly 4096.
  EXPECT_EQ(call({{"clock_id", "world"},
                  {"timer_id", "p1"},
                  {"delay_game_ms", 5},
                  {"payload", {{"p", std::string(4088, 'x')}}}})
                .status,
            200);
  ExpectError(call({{"clock_id", "world"},
                    {"timer_id", "p2"},
                    {"delay_game_ms", 5},
                    {"payload", {{"p", std::string(4089, 'x')}}}}),
              400, InvalidArg("payload", "too_long"));
  ExpectError(
      call({{"clock_id", "world"}, {"timer_id", "p3"}, {"delay_game_ms", 5}, {"payload", "x"}}),
      400, InvalidArg("payload", "type"));
}

TEST_F(TimeManagerTest, FireTimeMustBeAfterGameNow) {
  port_.LoadFixture(Given());
  const int64_t g = 10389600000;  // at the default 12:00
  ExpectError(
      Call("schedule_timer", {{"clock_id", "world"}, {"timer_id", "t"}, {"fire_at_game_ms", g}}),
      422, Error("FAILED_PRECONDITION", {{"reason", "in_past"}}));
  ExpectError(
      Call("schedule_timer", {{"clock_id", "world"}, {"timer_id", "t"}, {"fire_at_game_ms", 0}}),
      422, Error("FAILED_PRECONDITION", {{"reason", "in_past"}}));
  ExpectError(
      Call("schedule_timer", {{"clock_id", "world"}, {"timer_id", "t"}, {"delay_game_ms", 0}}), 422,
      Error("FAILED_PRECONDITION", {{"reason", "in_past"}}));
  EXPECT_EQ(
      Call("schedule_timer", {{"clock_id", "world"}, {"timer_id", "t"}, {"fire_at_game_ms", g + 1}})
          .status,
      200);
  // ALREADY_EXISTS precedes in_past (rule order of step 6).
  ExpectError(Call("schedule_timer",
                   {{"clock_id", "world"}, {"timer_id", "caravan-7"}, {"fire_at_game_ms", 1}}),
              409, Error("ALREADY_EXISTS", {{"field", "timer_id"}}));
}

TEST_F(TimeManagerTest, TimerIdsAreUniqueAmongScheduledTimersOnly) {
  port_.LoadFixture(Given());
  ExpectError(Call("schedule_timer",
                   {{"clock_id", "world"}, {"timer_id", "bell-dusk"}, {"delay_game_ms", 5}}),
              409, Error("ALREADY_EXISTS", {{"field", "timer_id"}}));
  // T3: a fired one-shot's id can be reused ...
  ASSERT_EQ(
      Call("tick", json::object({{"clock_id", "world"}}), At("2025-11-20T12:13:00.000Z")).status,
      200);
  EXPECT_EQ(Call("schedule_timer",
                 {{"clock_id", "world"}, {"timer_id", "caravan-7"}, {"delay_game_ms", 5}},
                 At("2025-11-20T12:13:00.000Z"))
                .status,
            200);
  // ... and so can a cancelled one's.
  ExpectOk(Call("cancel_timer", {{"clock_id", "world"}, {"timer_id", "bell-dusk"}}),
           json{{"cancelled", true}});
  EXPECT_EQ(Call("schedule_timer",
                 {{"clock_id", "world"}, {"timer_id", "bell-dusk"}, {"delay_game_ms", 5}})
                .status,
            200);
  // Ids are per clock.
  ASSERT_EQ(Call("create_clock", {{"clock_id", "other"}, {"scale_milli", 1000}}).status, 200);
  EXPECT_EQ(Call("schedule_timer",
                 {{"clock_id", "other"}, {"timer_id", "bell-dusk"}, {"delay_game_ms", 5}})
                .status,
            200);
}

TEST_F(TimeManagerTest, CancelReportsWhetherATimerWasScheduled) {
  port_.LoadFixture(Given());
  ExpectOk(Call("cancel_timer", {{"clock_id", "world"}, {"timer_id", "caravan-7"}}),
           json{{"cancelled", true}});
  ExpectOk(Call("cancel_timer", {{"clock_id", "world"}, {"timer_id", "caravan-7"}}),
           json{{"cancelled", false}});
  ExpectOk(Call("cancel_timer", {{"clock_id", "world"}, {"timer_id", "never"}}),
           json{{"cancelled", false}});
  ExpectError(Call("cancel_timer", {{"clock_id", "world"}, {"timer_id", "a b"}}), 400,
              InvalidArg("timer_id", "pattern"));
  ExpectError(Call("cancel_timer", {{"clock_id", "world"}}), 400,
              InvalidArg("timer_id", "required"));
  // The cancelled timer no longer fires.
  Reply r = Call("tick", {{"clock_id", "world"}}, At("2025-11-20T12:13:00.000Z"));
  ASSERT_EQ(r.body["fired"].size(), 1u);
  EXPECT_EQ(r.body["fired"][0]["timer_id"], "bell-dusk");
  // Over HTTP: DELETE with both ids in the path.
  ExpectOk(port_.CallHttp("DELETE", "/api/time-manager/clocks/world/timers/bell-dusk", ""),
           json{{"cancelled", true}});
}

TEST_F(TimeManagerTest, TenThousandTimersPerClock) {
  json doc = Given();
  doc["timers"] = json::array();
  for (int i = 0; i < 10000; ++i) {
    doc["timers"].push_back({{"clock_id", "world"},
                             {"timer_id", "t" + std::to_string(i)},
                             {"fire_at_game_ms", 20000000000LL}});
  }
  port_.LoadFixture(doc);
  ExpectError(Call("schedule_timer",
                   {{"clock_id", "world"}, {"timer_id", "one-more"}, {"delay_game_ms", 5}}),
              429, Error("RESOURCE_EXHAUSTED", {{"reason", "limit_exceeded"}, {"limit", "10000"}}));
  // in_past precedes the cap.
  ExpectError(Call("schedule_timer",
                   {{"clock_id", "world"}, {"timer_id", "one-more"}, {"delay_game_ms", 0}}),
              422, Error("FAILED_PRECONDITION", {{"reason", "in_past"}}));
  // At the cap, another clock is unaffected; after a cancel there is room again.
  ExpectOk(Call("cancel_timer", {{"clock_id", "world"}, {"timer_id", "t0"}}),
           json{{"cancelled", true}});
  EXPECT_EQ(Call("schedule_timer",
                 {{"clock_id", "world"}, {"timer_id", "one-more"}, {"delay_game_ms", 5}})
                .status,
            200);
}

// ---- r5: tick ----

TEST_F(TimeManagerTest, TickFiresInFireAtThenTimerIdOrder) {
  port_.LoadFixture(json::parse(R"({"clocks":[{"clock_id":"c","anchor_real_ms":1763640000000,
      "anchor_game_ms":0,"scale_milli":1000}]})"));
  for (const char* id : {"b", "a", "C", "z"}) {
    Schedule({{"clock_id", "c"}, {"timer_id", id}, {"fire_at_game_ms", 5000}});
  }
  Schedule({{"clock_id", "c"}, {"timer_id", "early"}, {"fire_at_game_ms", 4000}});
  Schedule({{"clock_id", "c"}, {"timer_id", "late"}, {"fire_at_game_ms", 10001}});
  Reply r = Call("tick", {{"clock_id", "c"}}, At("2025-11-20T12:00:10.000Z"));  // g = 10000
  ASSERT_EQ(r.status, 200) << r;
  std::vector<std::string> order;
  for (const json& f : r.body["fired"]) order.push_back(f["timer_id"]);
  EXPECT_EQ(order, (std::vector<std::string>{"early", "C", "a", "b", "z"}));
  EXPECT_EQ(r.body["more"], false);
  EXPECT_EQ(r.body["game_ms"], 10000);
  // fire_at == g is due.
  r = Call("tick", {{"clock_id", "c"}}, At("2025-11-20T12:00:10.001Z"));
  ASSERT_EQ(r.body["fired"].size(), 1u);
  EXPECT_EQ(r.body["fired"][0]["timer_id"], "late");
}

TEST_F(TimeManagerTest, MaxFiresCapsAndMoreReportsTheRest) {
  port_.LoadFixture(json::parse(R"({"clocks":[{"clock_id":"c","anchor_real_ms":1763640000000,
      "anchor_game_ms":0,"scale_milli":1000}]})"));
  for (int i = 0; i < 5; ++i) {
    Schedule(
        {{"clock_id", "c"}, {"timer_id", "t" + std::to_string(i)}, {"fire_at_game_ms", 1000 + i}});
  }
  const Headers later = At("2025-11-20T12:01:00.000Z");
  Reply r = Call("tick", {{"clock_id", "c"}, {"max_fires", 2}}, later);
  ASSERT_EQ(r.body["fired"].size(), 2u);
  EXPECT_EQ(r.body["fired"][1]["timer_id"], "t1");
  EXPECT_EQ(r.body["more"], true);
  r = Call("tick", {{"clock_id", "c"}, {"max_fires", 3}}, later);
  ASSERT_EQ(r.body["fired"].size(), 3u);
  EXPECT_EQ(r.body["fired"][0]["timer_id"], "t2");
  EXPECT_EQ(r.body["more"], false);  // a page ending exactly at the last due timer
  r = Call("tick", {{"clock_id", "c"}}, later);
  EXPECT_EQ(r.body, json::parse(R"({"game_ms":60000,"fired":[],"more":false})"));
}

TEST_F(TimeManagerTest, MaxFiresZeroMeansOneHundred) {
  json doc = json::parse(R"({"clocks":[{"clock_id":"c","anchor_real_ms":1763640000000,
      "anchor_game_ms":0,"scale_milli":1000}],"timers":[]})");
  for (int i = 0; i < 101; ++i) {
    doc["timers"].push_back(
        {{"clock_id", "c"}, {"timer_id", "t" + std::to_string(1000 + i)}, {"fire_at_game_ms", 1}});
  }
  port_.LoadFixture(doc);
  Reply r = Call("tick", {{"clock_id", "c"}, {"max_fires", 0}}, At("2025-11-20T12:00:01.000Z"));
  EXPECT_EQ(r.body["fired"].size(), 100u);
  EXPECT_EQ(r.body["more"], true);
}

TEST_F(TimeManagerTest, MaxFiresRange) {
  port_.LoadFixture(Given());
  ExpectError(Call("tick", {{"clock_id", "world"}, {"max_fires", -1}}), 400,
              InvalidArg("max_fires", "out_of_range"));  // T4
  ExpectError(Call("tick", {{"clock_id", "world"}, {"max_fires", 1001}}), 400,
              InvalidArg("max_fires", "out_of_range"));
  EXPECT_EQ(Call("tick", {{"clock_id", "world"}, {"max_fires", 1000}}).status, 200);
}

TEST_F(TimeManagerTest, RepeatingTimerSkipsMissedIntervalsAndMoreIgnoresIt) {
  port_.LoadFixture(json::parse(R"({"clocks":[{"clock_id":"c","anchor_real_ms":1763640000000,
      "anchor_game_ms":0,"scale_milli":1000}],
      "timers":[{"clock_id":"c","timer_id":"r","fire_at_game_ms":1000,"interval_game_ms":1000,
                 "payload":{"k":[1,true,null]},"fire_count":4}]})"));
  // g = 5500: fire_at 1000, next = 1000 + k·1000 > 5500 -> k = 5, missed 4.
  Reply r = Call("tick", {{"clock_id", "c"}, {"max_fires", 1}}, At("2025-11-20T12:00:05.500Z"));
  ExpectOk(r, json::parse(R"({"game_ms":5500,"fired":[{"timer_id":"r","fire_at_game_ms":1000,
      "fire_count":5,"missed":4,"next_fire_at_game_ms":6000,"payload":{"k":[1,true,null]}}],
      "more":false})"));  // T9: rescheduled past g, so not "more"
  // Each timer fires once per call, and the next call sees the new fire_at.
  r = Call("tick", {{"clock_id", "c"}}, At("2025-11-20T12:00:05.500Z"));
  EXPECT_EQ(r.body["fired"].size(), 0u);
  r = Call("tick", {{"clock_id", "c"}}, At("2025-11-20T12:00:06.000Z"));
  ASSERT_EQ(r.body["fired"].size(), 1u);
  EXPECT_EQ(r.body["fired"][0]["missed"], 0);
  EXPECT_EQ(r.body["fired"][0]["fire_count"], 6);
  EXPECT_EQ(r.body["fired"][0]["next_fire_at_game_ms"], 7000);
}

TEST_F(TimeManagerTest, OneShotsAreRemovedAfterFiring) {
  port_.LoadFixture(Given());
  Reply r = Call("tick", {{"clock_id", "world"}}, At("2025-11-20T12:11:00.000Z"));
  ASSERT_EQ(r.body["fired"].size(), 1u);
  EXPECT_EQ(r.body["fired"][0]["next_fire_at_game_ms"], 0);
  EXPECT_EQ(port_.List("time-manager/timers/world/").size(), 1u);  // bell-dusk only
  ExpectOk(Call("cancel_timer", {{"clock_id", "world"}, {"timer_id", "caravan-7"}}),
           json{{"cancelled", false}});
}

TEST_F(TimeManagerTest, OneShotReportsFireCountOneWhateverItsStoredCount) {
  port_.LoadFixture(json::parse(R"({"clocks":[{"clock_id":"c","anchor_real_ms":1763640000000,
      "anchor_game_ms":0,"scale_milli":1000}],
      "timers":[{"clock_id":"c","timer_id":"o","fire_at_game_ms":1,"fire_count":3}]})"));
  Reply r = Call("tick", {{"clock_id", "c"}}, At("2025-11-20T12:00:05.000Z"));
  EXPECT_EQ(r.body["fired"][0]["fire_count"], 1);  // T6
  EXPECT_EQ(r.body["fired"][0]["missed"], 0);
}

TEST_F(TimeManagerTest, PausedClockFiresNothingNew) {
  port_.LoadFixture(Given());
  ASSERT_EQ(Call("set_scale", {{"clock_id", "world"}, {"paused", true}}).status, 200);
  Reply r = Call("tick", {{"clock_id", "world"}}, At("2025-11-20T13:00:00.000Z"));
  EXPECT_EQ(r.body, json::parse(R"({"game_ms":10389600000,"fired":[],"more":false})"));
}

TEST_F(TimeManagerTest, ConcurrentTickOnTheSameClockIsInProgress) {
  port_.LoadFixture(Given());
  // Another replica holds the lease (until 12:00:30 on the request clock).
  port_.Put("time-manager/leases/world", "{}", 1763640030000);
  ExpectError(Call("tick", {{"clock_id", "world"}}, At("2025-11-20T12:00:10.000Z")), 503,
              Error("UNAVAILABLE", {{"reason", "in_progress"}}));
  // Once it expires, the next tick takes over; and a finished tick releases its own lease.
  EXPECT_EQ(
      Call("tick", {{"clock_id", "world"}}, At("2025-11-20T12:13:00.000Z")).body["fired"].size(),
      2u);
  EXPECT_EQ(Call("tick", {{"clock_id", "world"}}, At("2025-11-20T12:13:00.000Z")).status, 200);
  EXPECT_TRUE(port_.List("time-manager/leases/").empty());
}

TEST_F(TimeManagerTest, TickEventsCarryTheirFireCount) {
  port_.LoadFixture(Given());
  // Two days later: bell-dusk has missed one dusk.
  ASSERT_EQ(Call("tick", {{"clock_id", "world"}}, At("2025-11-20T12:48:00.000Z")).status, 200);
  std::vector<json> events = port_.Events(DecodeEvent);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["subject"], "evt.time-manager.v1.timer_fired");
  EXPECT_EQ(events[1]["event"], json::parse(R"({"occurred_at":"2025-11-20T12:48:00.000Z",
      "clock_id":"world","timer_id":"bell-dusk","fire_at_game_ms":10432800000,"fire_count":1,
      "payload":{"bell":"dusk"}})"));
}

// ---- PlanTick (pure) ----

TEST(TimeManagerPlan, PlanTickIsPureAndOrdersTies) {
  std::vector<tml::StoredTimer> timers;
  auto add = [&](std::string id, int64_t at, int64_t interval) {
    tml::StoredTimer t;
    t.timer.clock_id = "c";
    t.timer.timer_id = std::move(id);
    t.timer.fire_at_game_ms = at;
    t.timer.interval_game_ms = interval;
    timers.push_back(std::move(t));
  };
  add("b", 10, 0);
  add("a", 10, 1000);
  add("x", 11, 0);
  tml::TickPlan plan = tml::PlanTick(timers, 10, 100);
  ASSERT_EQ(plan.fires.size(), 2u);
  EXPECT_EQ(plan.fires[0].fired.timer_id(), "a");
  EXPECT_FALSE(plan.fires[0].remove);
  EXPECT_EQ(plan.fires[0].updated.fire_at_game_ms, 1010);
  EXPECT_EQ(plan.fires[1].fired.timer_id(), "b");
  EXPECT_TRUE(plan.fires[1].remove);
  EXPECT_FALSE(plan.more);
}

}  // namespace
}  // namespace sidecar::services::testing::time_manager_tests
