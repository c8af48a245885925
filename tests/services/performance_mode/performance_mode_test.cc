// performance-mode (SERVICES.md §2.8) through its registry: both examples and the golden files,
// every numbered rule and the PM resolutions, the §0.4 check order, events and store failures.

#include <string>

#include "gtest/gtest.h"
#include "services/performance_mode/performance_mode_rules.h"
#include "services/performance_mode/performance_mode_service.h"
#include "services/performance_mode/performance_mode_store.h"
#include "tests/services/common/port_harness.h"
#include "tests/services/common/test_stores.h"

namespace sidecar::services {
namespace {

using testing::AsPlayer;
using testing::Error;
using testing::Headers;
using testing::InvalidArg;
using testing::Json;
using testing::kPlayerP;
using testing::PortHarness;
using testing::Reply;

const std::string P(kPlayerP);

Json Device(const std::string& platform, int gpu, int ram, int cores, int fps, bool battery = false) {
  return {{"player_id", P}, {"platform", platform}, {"gpu_tier", gpu}, {"ram_mb", ram},
          {"cpu_cores", cores}, {"target_fps", fps}, {"battery_saver", battery}};
}

Json Knobs(const std::string& mode, bool ai) {
  static const std::map<std::string, Json> rows = {
      {"low", {{"draw_distance_m", 300}, {"npc_density_pct", 40}, {"shadow_quality", "off"}, {"weather_particles", false}}},
      {"balanced", {{"draw_distance_m", 600}, {"npc_density_pct", 70}, {"shadow_quality", "low"}, {"weather_particles", true}}},
      {"high", {{"draw_distance_m", 1000}, {"npc_density_pct", 90}, {"shadow_quality", "medium"}, {"weather_particles", true}}},
      {"ultra", {{"draw_distance_m", 1500}, {"npc_density_pct", 100}, {"shadow_quality", "high"}, {"weather_particles", true}}}};
  Json k = rows.at(mode);
  k["ai_text_generation"] = ai;
  return k;
}

class PerformanceModeTest : public ::testing::Test {
 protected:
  PerformanceModeTest() : h_("performance-mode", MakePerformanceModeService) {}

  Reply Evaluate(const Json& body, const Headers& headers = {}) {
    return h_.Call("evaluate", body.dump(), headers);
  }
  Reply Report(int avg_fps, int samples = 600, const Headers& headers = {}) {
    Json body = {{"player_id", P}, {"avg_fps", avg_fps}, {"samples", samples}};
    return h_.Call("report_frame_stats", body.dump(), headers);
  }
  Reply SetServer(const std::string& mode, const Headers& headers = {}) {
    return h_.Call("set_server_mode", Json{{"mode", mode}}.dump(), headers);
  }
  Reply Get(const Headers& headers = {}) {
    return h_.Call("get_player_mode", Json{{"player_id", P}}.dump(), headers);
  }
  void Given(const std::string& cap, const std::string& current, int fps, int below = 0, int above = 0) {
    h_.LoadFixture({{"players", {{P, {{"device_cap", cap}, {"current", current}, {"target_fps", fps},
                                      {"below_streak", below}, {"above_streak", above}}}}}});
  }

  PortHarness h_;
};

// ---- registry, fixtures, examples ----

TEST_F(PerformanceModeTest, RegistersEveryActionOfTheProto) {
  EXPECT_TRUE(VerifyRegistry("performance-mode", h_.registry()).ok());
  EXPECT_NE(h_.registry().Find("_fixture"), nullptr);
}

TEST(PerformanceModeFixtureTest, DisabledFixtureIsPermissionDenied) {
  PortHarness h("performance-mode", MakePerformanceModeService, /*fixtures_enabled=*/false);
  EXPECT_EQ(h.Fixture(Json::object()).body, Error("PERMISSION_DENIED"));
}

TEST_F(PerformanceModeTest, FixtureChecksItsDocument) {
  EXPECT_EQ(h_.Fixture(Json::parse(R"({"server_mode":"panic"})")).body,
            InvalidArg("server_mode", "unknown_value"));
  EXPECT_EQ(h_.Fixture(Json::parse(R"({"players":{"bob":{"current":"low","target_fps":60}}})")).body,
            InvalidArg("players.bob", "pattern"));
  EXPECT_EQ(h_.Fixture({{"players", {{P, {{"target_fps", 60}}}}}}).body,
            InvalidArg("players." + P + ".current", "required"));
}

TEST_F(PerformanceModeTest, GoldenFilesReplay) {
  const auto files = testing::GoldenPaths("performance-mode");
  ASSERT_EQ(files.size(), 2u);
  for (const auto& file : files) testing::RunGolden(MakePerformanceModeService, file);
}

TEST_F(PerformanceModeTest, Example1Evaluate) {
  Reply r = h_.CallHttp("POST", "/api/performance-mode/evaluate", Device("pc", 4, 16384, 8, 60).dump(),
                        AsPlayer());
  EXPECT_EQ(r.body, Json({{"player_id", P}, {"score", 136}, {"device_cap", "high"}, {"mode", "high"},
                          {"server_mode", "normal"}, {"knobs", Knobs("high", true)}}));
  EXPECT_TRUE(h_.Events().empty());  // PM8: evaluate emits nothing
}

TEST_F(PerformanceModeTest, Example2ThirdSlowReportStepsDown) {
  Given("high", "high", 60, 2);
  Reply r = h_.CallHttp("POST", "/api/performance-mode/players/" + P + "/frame-stats",
                        R"({"avg_fps":50,"samples":600})");
  EXPECT_EQ(r.body, Json::parse(R"({"mode":"balanced","previous_mode":"high","changed":true,
      "reason":"step_down","server_capped":false})"));
  EXPECT_EQ(h_.Events(), std::vector<Json>{Json::parse(R"({"subject":
      "evt.performance-mode.v1.player_mode_changed","occurred_at":"2025-11-20T12:00:00.000Z",
      "player_id":"pl_a8694c9d17e9b948","from":"high","to":"balanced","reason":"step_down"})")});
}

// ---- rule 1: field checks ----

TEST_F(PerformanceModeTest, Rule1EvaluateFieldChecksPM1PM2) {
  auto with = [&](const std::string& field, const Json& value) {
    Json body = Device("pc", 4, 16384, 8, 60);
    body[field] = value;
    return Evaluate(body).body;
  };
  EXPECT_EQ(with("player_id", ""), InvalidArg("player_id", "required"));
  EXPECT_EQ(with("player_id", "pl_1"), InvalidArg("player_id", "pattern"));
  EXPECT_EQ(with("platform", ""), InvalidArg("platform", "required"));
  EXPECT_EQ(with("platform", "*"), InvalidArg("platform", "unknown_value"));
  EXPECT_EQ(with("gpu_tier", 6), InvalidArg("gpu_tier", "out_of_range"));
  EXPECT_EQ(with("gpu_tier", -1), InvalidArg("gpu_tier", "out_of_range"));
  EXPECT_EQ(with("ram_mb", 0), InvalidArg("ram_mb", "out_of_range"));
  EXPECT_EQ(with("ram_mb", 511), InvalidArg("ram_mb", "out_of_range"));
  EXPECT_EQ(with("ram_mb", 1048577), InvalidArg("ram_mb", "out_of_range"));
  EXPECT_EQ(with("cpu_cores", 0), InvalidArg("cpu_cores", "out_of_range"));
  EXPECT_EQ(with("cpu_cores", 257), InvalidArg("cpu_cores", "out_of_range"));
  EXPECT_EQ(with("target_fps", 0), InvalidArg("target_fps", "out_of_range"));
  EXPECT_EQ(with("target_fps", 90), InvalidArg("target_fps", "out_of_range"));
  EXPECT_TRUE(with("target_fps", 30).contains("score"));
  EXPECT_TRUE(with("ram_mb", 1048576).contains("score"));
}

TEST_F(PerformanceModeTest, Rule1EvaluateIsAPlayerScopedWrite) {
  EXPECT_EQ(Evaluate(Device("pc", 4, 16384, 8, 60), AsPlayer("pl_0000000000000000")).body,
            Error("PERMISSION_DENIED"));
  // Fields first (§0.4).
  EXPECT_EQ(Evaluate(Device("pc", 9, 16384, 8, 60), AsPlayer("pl_0000000000000000")).body,
            InvalidArg("gpu_tier", "out_of_range"));
  EXPECT_TRUE(Evaluate(Device("pc", 4, 16384, 8, 60), Headers{"service:gateway", std::string(testing::kSpecTime)}).ok());
}

// ---- rule 2: score and device cap ----

TEST(PerformanceModeRulesTest, Rule2ScoreAndTiers) {
  using namespace performance_mode;
  auto eval = [](const std::string& platform, int gpu, int ram, int cores, int fps, bool battery) {
    pb::EvaluateRequest rq;
    rq.set_platform(platform);
    rq.set_gpu_tier(gpu);
    rq.set_ram_mb(ram);
    rq.set_cpu_cores(cores);
    rq.set_target_fps(fps);
    rq.set_battery_saver(battery);
    return rq;
  };
  // ram ÷ 1024 floors and caps at 32; cores cap at 16.
  EXPECT_EQ(Score(eval("pc", 5, 1048576, 256, 60, false)), 100 + 64 + 48);
  EXPECT_EQ(Score(eval("pc", 0, 2047, 1, 60, false)), 2 + 3);
  auto cap = [&](const pb::EvaluateRequest& rq) { return ModeName(DeviceCap(rq, Score(rq))); };
  EXPECT_EQ(cap(eval("pc", 5, 32768, 16, 60, false)), "ultra");     // 100+64+48 = 212
  EXPECT_EQ(cap(eval("pc", 2, 32768, 12, 60, false)), "ultra");     // 40+64+36 = 140
  EXPECT_EQ(cap(eval("pc", 2, 32768, 11, 60, false)), "high");      // 139
  EXPECT_EQ(cap(eval("pc", 1, 16384, 6, 60, false)), "balanced");   // 20+32+18 = 70
  EXPECT_EQ(cap(eval("pc", 0, 8192, 4, 60, false)), "low");         // 16+12 = 28
  EXPECT_EQ(cap(eval("pc", 0, 16384, 10, 60, false)), "balanced");  // 32+30 = 62
  // Then in order: 120 fps one step down, mobile at most high, battery at most balanced.
  EXPECT_EQ(cap(eval("pc", 5, 32768, 16, 120, false)), "high");
  EXPECT_EQ(cap(eval("pc", 0, 8192, 4, 120, false)), "low");        // floor low
  EXPECT_EQ(cap(eval("mobile", 5, 32768, 16, 60, false)), "high");
  EXPECT_EQ(cap(eval("mobile", 5, 32768, 16, 120, false)), "high"); // ultra -> high -> high
  EXPECT_EQ(cap(eval("console", 5, 32768, 16, 60, true)), "balanced");
  EXPECT_EQ(cap(eval("pc", 0, 8192, 4, 60, true)), "low");
}

TEST_F(PerformanceModeTest, Rule2EvaluateOverwritesStateAndResetsStreaksPM10) {
  Given("ultra", "low", 30, 2, 4);
  ASSERT_TRUE(Evaluate(Device("pc", 1, 16384, 6, 60)).ok());  // balanced
  Reply r = Get();
  EXPECT_EQ(r.body["mode"], "balanced");
  EXPECT_EQ(r.body["device_cap"], "balanced");
  // Streaks were reset: two slow reports do not step down (the third would).
  EXPECT_EQ(Report(10).body["changed"], false);
  EXPECT_EQ(Report(10).body["changed"], false);
  EXPECT_EQ(Report(10).body["reason"], "step_down");
}

// ---- rule 3: server cap ----

TEST_F(PerformanceModeTest, Rule3ServerCapLimitsReportedModeAndKnobsPM9) {
  ASSERT_TRUE(Evaluate(Device("pc", 5, 32768, 16, 60)).ok());  // ultra
  EXPECT_EQ(SetServer("degraded").body, Json::parse(R"({"mode":"degraded","previous":"normal"})"));  // PM4
  EXPECT_EQ(Get(AsPlayer()).body, Json({{"mode", "balanced"}, {"device_cap", "ultra"},
                                        {"server_capped", true}, {"knobs", Knobs("balanced", false)}}));
  ASSERT_TRUE(SetServer("critical").ok());
  EXPECT_EQ(Get().body["knobs"], Knobs("low", false));
  Reply e = Evaluate(Device("pc", 0, 8192, 4, 60));  // low device under critical: not capped
  EXPECT_EQ(e.body["mode"], "low");
  EXPECT_EQ(e.body["server_mode"], "critical");
  EXPECT_EQ(e.body["knobs"], Knobs("low", false));
  EXPECT_EQ(Get().body["server_capped"], false);
  ASSERT_TRUE(SetServer("degraded").ok());
  // Not capped (balanced ≤ balanced) but ai_text_generation is still off.
  ASSERT_TRUE(Evaluate(Device("pc", 1, 16384, 6, 60)).ok());
  EXPECT_EQ(Get().body, Json({{"mode", "balanced"}, {"device_cap", "balanced"},
                              {"server_capped", false}, {"knobs", Knobs("balanced", false)}}));
}

TEST_F(PerformanceModeTest, Rule3SetServerModeIsAdminOnlyPM5) {
  EXPECT_EQ(SetServer("degraded", Headers{"service:ops", std::string(testing::kSpecTime)}).body,
            Error("PERMISSION_DENIED"));
  EXPECT_EQ(SetServer("degraded", AsPlayer()).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(SetServer("panic", AsPlayer()).body, InvalidArg("mode", "unknown_value"));
  EXPECT_EQ(SetServer("").body, InvalidArg("mode", "required"));
  EXPECT_EQ(h_.Call("set_server_mode", Json{{"mode", "normal"}, {"reason", std::string(201, 'r')}}.dump()).body,
            InvalidArg("reason", "too_long"));
  // Setting the current mode succeeds with previous = same mode and no event (PM5).
  EXPECT_EQ(h_.CallHttp("PUT", "/api/performance-mode/server-mode", R"({"mode":"normal","reason":"drill"})").body,
            Json::parse(R"({"mode":"normal","previous":"normal"})"));
  EXPECT_TRUE(h_.Events().empty());
  ASSERT_TRUE(SetServer("critical").ok());
  EXPECT_EQ(SetServer("critical").body, Json::parse(R"({"mode":"critical","previous":"critical"})"));
  EXPECT_EQ(h_.Events(), std::vector<Json>{Json::parse(R"({"subject":
      "evt.performance-mode.v1.server_mode_changed","occurred_at":"2025-11-20T12:00:00.000Z",
      "mode":"critical","previous":"normal"})")});
}

// ---- rule 4: hysteresis ----

TEST_F(PerformanceModeTest, Rule4ReportChecksAndOrderPM3) {
  EXPECT_EQ(Report(0).body, InvalidArg("avg_fps", "out_of_range"));
  EXPECT_EQ(Report(1001).body, InvalidArg("avg_fps", "out_of_range"));
  EXPECT_EQ(Report(60, 299).body, InvalidArg("samples", "out_of_range"));
  // Fields -> PERMISSION_DENIED -> NOT_FOUND.
  EXPECT_EQ(Report(60, 600, AsPlayer("pl_0000000000000000")).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(Report(60, 600, AsPlayer()).body, Error("NOT_FOUND", {{"field", "player_id"}}));
  EXPECT_EQ(Get(AsPlayer()).body, Error("NOT_FOUND", {{"field", "player_id"}}));
  EXPECT_EQ(Get(AsPlayer("pl_0000000000000000")).body, Error("PERMISSION_DENIED"));
}

TEST_F(PerformanceModeTest, Rule4ThresholdsAreExactIntegerComparisons) {
  Given("ultra", "high", 60);
  // 10·54 = 540 = 9·60: not below; 4·75 = 300 = 5·60: not above.
  EXPECT_EQ(Report(54).body["reason"], "none");
  EXPECT_EQ(Report(75).body["reason"], "none");
  for (int i = 0; i < 2; ++i) EXPECT_EQ(Report(53).body["changed"], false);
  // An in-band report resets both streaks.
  EXPECT_EQ(Report(60).body["changed"], false);
  EXPECT_EQ(Report(53).body["changed"], false);
  EXPECT_EQ(Report(53).body["changed"], false);
  EXPECT_EQ(Report(53).body["reason"], "step_down");
  // Five fast reports step up (76 > 75), but not beyond device_cap.
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Report(76).body["changed"], false);
  Reply up = Report(76);
  EXPECT_EQ(up.body, Json::parse(R"({"mode":"high","previous_mode":"balanced","changed":true,
      "reason":"step_up","server_capped":false})"));
  // A slow report resets the fast streak.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Report(76).ok());
  ASSERT_TRUE(Report(10).ok());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Report(76).body["changed"], false);
  EXPECT_EQ(Report(76).body["mode"], "ultra");
}

TEST_F(PerformanceModeTest, Rule4BlockedStepsKeepTheStreakPM6) {
  Given("high", "low", 60, 2);
  EXPECT_EQ(Report(10).body["reason"], "none");  // already low: below_streak stays 3
  Given("high", "high", 60, 0, 4);
  EXPECT_EQ(Report(100).body["reason"], "none");  // already at device_cap: above_streak stays 5
  // The stored streaks kept their incremented values.
  auto entries = h_.List(performance_mode::PlayerKey(P));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(Json::parse(entries[0].value)["above_streak"], 5);
  // A step resets both streaks.
  Given("high", "high", 60, 2, 0);
  EXPECT_EQ(Report(10).body["reason"], "step_down");
  entries = h_.List(performance_mode::PlayerKey(P));
  EXPECT_EQ(Json::parse(entries[0].value)["below_streak"], 0);
}

TEST_F(PerformanceModeTest, Rule4CappedModesAndDecisionsOnUncappedModePM7N15PM8) {
  Given("ultra", "ultra", 60, 2);
  ASSERT_TRUE(SetServer("degraded").ok());
  h_.ClearEvents();
  // current ultra steps down to high: both are capped to balanced; changed is still true.
  EXPECT_EQ(Report(10).body, Json::parse(R"({"mode":"balanced","previous_mode":"balanced",
      "changed":true,"reason":"step_down","server_capped":true})"));
  EXPECT_EQ(h_.Events(), std::vector<Json>{Json::parse(R"({"subject":
      "evt.performance-mode.v1.player_mode_changed","occurred_at":"2025-11-20T12:00:00.000Z",
      "player_id":"pl_a8694c9d17e9b948","from":"balanced","to":"balanced","reason":"step_down"})")});
  EXPECT_EQ(Get().body["device_cap"], "ultra");
}

// ---- store failures ----

TEST(PerformanceModeStoreTest, LostRacesBeyondTheBoundAreUnavailable) {
  testing::FlakyStore* flaky = nullptr;
  PortHarness h("performance-mode", MakePerformanceModeService, true, [&flaky](event::Dispatcher& d) {
    auto store = std::make_unique<testing::FlakyStore>(d);
    flaky = store.get();
    return store;
  });
  flaky->conflict_every_cas = true;
  EXPECT_EQ(h.Call("set_server_mode", R"({"mode":"critical"})").body, Error("UNAVAILABLE"));
  EXPECT_EQ(flaky->cas_calls, performance_mode::kMaxAttempts);
  EXPECT_TRUE(h.Events().empty());
}

TEST(PerformanceModeStoreTest, StoreDownIsUnavailable) {
  testing::FlakyStore* flaky = nullptr;
  PortHarness h("performance-mode", MakePerformanceModeService, true, [&flaky](event::Dispatcher& d) {
    auto store = std::make_unique<testing::FlakyStore>(d);
    flaky = store.get();
    return store;
  });
  flaky->fail_reads = true;
  EXPECT_EQ(h.Call("get_player_mode", R"({"player_id":"pl_a8694c9d17e9b948"})").code(), "UNAVAILABLE");
}

}  // namespace
}  // namespace sidecar::services
