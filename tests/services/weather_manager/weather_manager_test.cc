// weather-manager (SERVICES.md §2.13, R48–R53): the seeded chain against the spec's vectors, then
// every action through the registry: both examples (golden files), every numbered rule, the §0.4
// check order and events.

#include <string>

#include "gtest/gtest.h"
#include "services/weather_manager/weather_logic.h"
#include "services/weather_manager/weather_manager_service.h"
#include "services/weather_manager/weather_rules.h"
#include "tests/services/common/port_harness.h"

namespace sidecar::services {
namespace {

using testing::AsPlayer;
using testing::Error;
using testing::GoldenPaths;
using testing::Headers;
using testing::InvalidArg;
using testing::Json;
using testing::PortHarness;
using testing::Reply;
using weather_manager::ChainCache;
using weather_manager::DrawsAt;
using weather_manager::Region;
using weather_manager::StateIndex;

// The §2.13 "Given".
Region VellMarches() {
  Region r;
  r.region_id = "vell-marches";
  r.climate = weather_manager::ClimateIndex("marsh");
  r.world_seed = "bb-world-1";
  r.anchor_tick = 2880;
  r.anchor_state = StateIndex("fog");
  r.revision = 1;
  return r;
}

Json GivenFixture() {
  return Json::parse(R"({"regions":[{"region_id":"vell-marches","climate":"marsh",
    "world_seed":"bb-world-1","anchor_tick":2880,"anchor_state":"fog"}]})");
}

// ---- rules 2–3: the chain ----

TEST(WeatherChainTest, Rule2DrawsMatchTheSpecVectors) {
  const Region region = VellMarches();
  EXPECT_EQ(DrawsAt(region, 2881).r1, 9812u);
  EXPECT_EQ(DrawsAt(region, 2882).r1, 1267u);
  const auto d = DrawsAt(region, 2883);
  EXPECT_EQ(d.r1, 6838u);
  EXPECT_EQ(d.r2, 3u);
  EXPECT_EQ(d.r3, 65u);
}

TEST(WeatherChainTest, Rule3TransitionsFollowCumulativeBasisPoints) {
  const int marsh = weather_manager::ClimateIndex("marsh");
  const int fog = StateIndex("fog");
  EXPECT_EQ(weather_manager::NextState(marsh, fog, 9812), fog);  // fog row: 1200 2300 1500 0 5000
  EXPECT_EQ(weather_manager::NextState(marsh, fog, 1267), StateIndex("overcast"));
  EXPECT_EQ(weather_manager::NextState(marsh, fog, 1199), StateIndex("clear"));
  EXPECT_EQ(weather_manager::NextState(marsh, fog, 1200), StateIndex("overcast"));
  EXPECT_EQ(weather_manager::NextState(marsh, StateIndex("overcast"), 6838), StateIndex("rain"));
  // Every row of every climate sums to 10000.
  for (int c = 0; c < 3; ++c) {
    for (int from = 0; from < weather_manager::kStateCount; ++from) {
      int sum = 0;
      for (int to = 0; to < weather_manager::kStateCount; ++to) {
        sum += weather_manager::TransitionBp(c, from, to);
      }
      EXPECT_EQ(sum, 10000) << c << " " << from;
    }
  }
}

TEST(WeatherChainTest, Rule3StatesFromTheAnchor) {
  ChainCache chain;
  const Region region = VellMarches();
  EXPECT_EQ(chain.StateAt(region, 2880), StateIndex("fog"));
  EXPECT_EQ(chain.StateAt(region, 2881), StateIndex("fog"));
  EXPECT_EQ(chain.StateAt(region, 2882), StateIndex("overcast"));
  EXPECT_EQ(chain.StateAt(region, 2883), StateIndex("rain"));
}

TEST(WeatherChainTest, CheckpointsNeverChangeTheResult) {
  const Region region = VellMarches();
  ChainCache warm;
  const int far = warm.StateAt(region, 2880 + 5000);  // leaves checkpoints behind
  for (int64_t t : {2880 + 1023, 2880 + 1024, 2880 + 1025, 2880 + 3000, 2880 + 5000}) {
    ChainCache cold;
    EXPECT_EQ(warm.StateAt(region, t), cold.StateAt(region, t)) << t;
  }
  ChainCache cold;
  EXPECT_EQ(cold.StateAt(region, 2880 + 5000), far);
  // A different configuration (another seed) has its own chain.
  Region other = region;
  other.world_seed = "bb-world-2";
  ChainCache fresh;
  EXPECT_EQ(warm.StateAt(other, 2880 + 4000), fresh.StateAt(other, 2880 + 4000));
}

// ---- the port ----

class WeatherManagerTest : public ::testing::Test {
 protected:
  WeatherManagerTest() : h_("weather-manager", MakeWeatherManagerService) {}

  void LoadGiven() { h_.LoadFixture(GivenFixture()); }

  Reply PutRegion(Json body, const Headers& headers = {}) {
    return h_.Call("put_region", body.dump(), headers);
  }
  Reply Weather(int64_t tick, const Headers& headers = {}, const std::string& id = "vell-marches") {
    return h_.Call("get_weather", Json{{"region_id", id}, {"tick", tick}}.dump(), headers);
  }
  Reply Forecast(int64_t from_tick, int hours, const std::string& id = "vell-marches") {
    return h_.Call("forecast",
                   Json{{"region_id", id}, {"from_tick", from_tick}, {"hours", hours}}.dump());
  }
  Reply SetOverride(Json body, const Headers& headers = {}) {
    if (!body.contains("region_id")) body["region_id"] = "vell-marches";
    return h_.Call("set_override", body.dump(), headers);
  }
  Reply ClearOverride(const Headers& headers = {}, const std::string& id = "vell-marches") {
    return h_.Call("clear_override", Json{{"region_id", id}}.dump(), headers);
  }
  static Json Marsh() {
    return Json::parse(R"({"region_id":"vell-marches","climate":"marsh","world_seed":"bb-world-1",
      "anchor_tick":2880,"anchor_state":"fog"})");
  }
  static Json With(Json body, const std::string& field, Json value) {
    body[field] = std::move(value);
    return body;
  }

  PortHarness h_;
};

TEST_F(WeatherManagerTest, RegistersEveryActionOfTheProto) {
  EXPECT_TRUE(VerifyRegistry("weather-manager", h_.registry()).ok());
}

TEST(WeatherManagerGoldenTest, EveryGoldenFileReplays) {
  const auto files = GoldenPaths("weather-manager");
  ASSERT_EQ(files.size(), 2u);
  for (const auto& file : files) testing::RunGolden(MakeWeatherManagerService, file);
}

TEST_F(WeatherManagerTest, Example1CurrentWeather) {
  LoadGiven();
  EXPECT_EQ(Weather(2883, AsPlayer()).body,
            Json::parse(R"({"region_id":"vell-marches","tick":2883,"state":"rain",
              "temperature_c":14,"intensity_pct":65,"overridden":false})"));
}

TEST_F(WeatherManagerTest, Example2ForecastWithinTolerance) {
  LoadGiven();
  Reply r = Forecast(2883, 2);
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["from_state"], "rain");
  const Json& p = r.body["entries"][1]["probabilities_bp"];
  const Json want = Json::parse(
      R"({"clear":1229,"overcast":2716,"rain":3330,"storm":841,"fog":1884,"ashfall":0})");
  for (auto it = want.begin(); it != want.end(); ++it) {
    EXPECT_NEAR(p[it.key()].get<int>(), it.value().get<int>(), 1) << it.key();  // §0.7 ±1
  }
  EXPECT_EQ(r.body["entries"][1]["tick"], 2885);
  EXPECT_EQ(r.body["entries"][1]["most_likely"], "rain");
}

// ---- rule 1: put_region ----

TEST_F(WeatherManagerTest, Rule1FieldChecks) {
  EXPECT_EQ(PutRegion(With(Marsh(), "region_id", "")).body, InvalidArg("region_id", "required"));
  EXPECT_EQ(PutRegion(With(Marsh(), "region_id", "Vell")).body, InvalidArg("region_id", "pattern"));
  EXPECT_EQ(PutRegion(With(Marsh(), "region_id", std::string(49, 'v'))).body,
            InvalidArg("region_id", "too_long"));
  EXPECT_EQ(PutRegion(With(Marsh(), "climate", "desert")).body,
            InvalidArg("climate", "unknown_value"));
  EXPECT_EQ(PutRegion(With(Marsh(), "climate", "")).body, InvalidArg("climate", "required"));
  EXPECT_EQ(PutRegion(With(Marsh(), "world_seed", "")).body, InvalidArg("world_seed", "required"));
  EXPECT_EQ(PutRegion(With(Marsh(), "world_seed", std::string(65, 's'))).body,
            InvalidArg("world_seed", "too_long"));
  EXPECT_EQ(PutRegion(With(Marsh(), "anchor_tick", -1)).body,
            InvalidArg("anchor_tick", "out_of_range"));
  EXPECT_EQ(PutRegion(With(Marsh(), "anchor_state", "snow")).body,
            InvalidArg("anchor_state", "unknown_value"));
  EXPECT_EQ(PutRegion(Marsh(), AsPlayer()).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(PutRegion(With(Marsh(), "anchor_state", "snow"), AsPlayer()).body,
            InvalidArg("anchor_state", "unknown_value"));
}

TEST_F(WeatherManagerTest, Rule1PutReplacesBumpsRevisionAndClearsTheOverride) {
  EXPECT_EQ(PutRegion(Marsh()).body, Json::parse(R"({"region_id":"vell-marches","revision":1})"));
  ASSERT_TRUE(SetOverride({{"state", "storm"}, {"from_tick", 2880}, {"until_tick", 2890}}).ok());
  EXPECT_TRUE(Weather(2883).body["overridden"]);
  EXPECT_EQ(PutRegion(With(Marsh(), "climate", "ashlands")).body["revision"], 2);
  EXPECT_FALSE(Weather(2883).body["overridden"]);
  EXPECT_EQ(ClearOverride().body, Json::parse(R"({"cleared":false})"));
}

// ---- rule 3: temperature and intensity ----

TEST_F(WeatherManagerTest, Rule3TemperatureAndIntensity) {
  LoadGiven();
  // At the anchor the state is the anchor state; r2/r3 are still drawn for that tick.
  const auto d = DrawsAt(VellMarches(), 2880);
  Reply r = Weather(2880);
  EXPECT_EQ(r.body["state"], "fog");
  EXPECT_EQ(r.body["temperature_c"], 8 + 3 + static_cast<int>(d.r2) - 3);
  EXPECT_EQ(r.body["intensity_pct"], static_cast<int>(d.r3));
}

// ---- rule 4: tick range ----

TEST_F(WeatherManagerTest, Rule4TickRange) {
  LoadGiven();
  EXPECT_EQ(Weather(2879).body, InvalidArg("tick", "out_of_range"));
  EXPECT_EQ(Weather(2880 + 1000001).body, InvalidArg("tick", "out_of_range"));
  EXPECT_TRUE(Weather(2880 + 1000000).ok());
  EXPECT_EQ(Forecast(2879, 1).body, InvalidArg("from_tick", "out_of_range"));
  // R50: only from_tick is range-checked; entries may pass the span.
  Reply edge = Forecast(2880 + 1000000, 72);
  ASSERT_TRUE(edge.ok()) << edge;
  EXPECT_EQ(edge.body["entries"][71]["tick"], 2880 + 1000072);
}

TEST_F(WeatherManagerTest, Rule4UnknownRegionIsNotFoundAfterFieldChecks) {
  EXPECT_EQ(Weather(10, {}, "nowhere").body, Error("NOT_FOUND", {{"field", "region_id"}}));
  EXPECT_EQ(Weather(-1, {}, "nowhere").body, InvalidArg("tick", "out_of_range"));
  EXPECT_EQ(Weather(10, {}, "No").body, InvalidArg("region_id", "pattern"));
  EXPECT_EQ(Forecast(10, 1, "nowhere").body, Error("NOT_FOUND", {{"field", "region_id"}}));
  EXPECT_EQ(Forecast(10, 0, "nowhere").body, InvalidArg("hours", "out_of_range"));
}

// ---- rule 5: overrides ----

TEST_F(WeatherManagerTest, Rule5OverrideReplacesTheStateNotTheChain) {
  LoadGiven();
  Reply set = SetOverride(
      {{"state", "ashfall"}, {"from_tick", 2883}, {"until_tick", 2885}, {"reason", "volcano"}});
  EXPECT_EQ(set.body, Json::parse(R"({"region_id":"vell-marches","state":"ashfall",
    "from_tick":2883,"until_tick":2885})"));
  // Inside: the override state, its temperature with the same r2 (26 + 3 + 3 - 3), r3 as before.
  EXPECT_EQ(Weather(2883).body, Json::parse(R"({"region_id":"vell-marches","tick":2883,
    "state":"ashfall","temperature_c":29,"intensity_pct":65,"overridden":true})"));
  // until_tick is exclusive, and the chain continues as if there were no override.
  ChainCache chain;
  const Region region = VellMarches();
  Reply after = Weather(2885);
  EXPECT_FALSE(after.body["overridden"]);
  EXPECT_EQ(after.body["state"], weather_manager::kStates[chain.StateAt(region, 2885)]);
}

TEST_F(WeatherManagerTest, Rule5OverrideFieldChecks) {
  LoadGiven();
  EXPECT_EQ(SetOverride({{"state", "snow"}, {"from_tick", 1}, {"until_tick", 2}}).body,
            InvalidArg("state", "unknown_value"));
  EXPECT_EQ(SetOverride({{"from_tick", 1}, {"until_tick", 2}}).body,
            InvalidArg("state", "required"));
  EXPECT_EQ(SetOverride({{"state", "fog"}, {"from_tick", -1}, {"until_tick", 2}}).body,
            InvalidArg("from_tick", "out_of_range"));
  EXPECT_EQ(SetOverride({{"state", "fog"}, {"from_tick", 10}, {"until_tick", 10}}).body,
            InvalidArg("until_tick", "out_of_range"));
  EXPECT_EQ(SetOverride({{"state", "fog"}, {"from_tick", 10}, {"until_tick", 179}}).body,
            InvalidArg("until_tick", "out_of_range"));
  EXPECT_TRUE(SetOverride({{"state", "fog"}, {"from_tick", 10}, {"until_tick", 178}}).ok());
  // R52: an override may precede the anchor.
  EXPECT_TRUE(SetOverride({{"state", "fog"}, {"from_tick", 0}, {"until_tick", 1}}).ok());
  EXPECT_EQ(SetOverride({{"state", "fog"}, {"from_tick", 0}, {"until_tick", 1}}, AsPlayer()).body,
            Error("PERMISSION_DENIED"));
  EXPECT_EQ(SetOverride({{"region_id", "nowhere"}, {"state", "fog"}, {"from_tick", 0},
                         {"until_tick", 1}})
                .body,
            Error("NOT_FOUND", {{"field", "region_id"}}));
}

TEST_F(WeatherManagerTest, Rule5ClearOverride) {
  LoadGiven();
  EXPECT_EQ(ClearOverride(AsPlayer()).body, Error("PERMISSION_DENIED"));  // R51
  EXPECT_EQ(ClearOverride({}, "nowhere").body, Error("NOT_FOUND", {{"field", "region_id"}}));
  EXPECT_EQ(ClearOverride().body, Json::parse(R"({"cleared":false})"));
  ASSERT_TRUE(SetOverride({{"state", "storm"}, {"from_tick", 2881}, {"until_tick", 2890}}).ok());
  EXPECT_EQ(ClearOverride({"service:environmental-narrative"}).body,
            Json::parse(R"({"cleared":true})"));
  EXPECT_EQ(Weather(2883).body["state"], "rain");
}

// ---- rule 6: forecasts ----

TEST_F(WeatherManagerTest, Rule6HoursRange) {
  LoadGiven();
  EXPECT_EQ(Forecast(2883, 0).body, InvalidArg("hours", "out_of_range"));
  EXPECT_EQ(Forecast(2883, 73).body, InvalidArg("hours", "out_of_range"));
  EXPECT_EQ(Forecast(2883, 72).body["entries"].size(), 72u);
}

TEST_F(WeatherManagerTest, Rule6OverriddenTicksReportTheOverrideOnly) {
  LoadGiven();
  const Json plain = Forecast(2883, 3).body;
  ASSERT_TRUE(SetOverride({{"state", "storm"}, {"from_tick", 2883}, {"until_tick", 2885}}).ok());
  const Json r = Forecast(2883, 3).body;
  EXPECT_EQ(r["from_state"], "rain");  // R48: un-overridden, also inside the override
  EXPECT_EQ(r["entries"][0]["most_likely"], "storm");
  EXPECT_EQ(r["entries"][0]["probabilities_bp"],
            Json::parse(R"({"clear":0,"overcast":0,"rain":0,"storm":10000,"fog":0,"ashfall":0})"));
  // Propagation ignores the override: the first tick after it equals the plain forecast.
  EXPECT_EQ(r["entries"][2], plain["entries"][2]);
}

TEST_F(WeatherManagerTest, Rule6LongForecastsStayWithinTolerance) {
  // Reference values computed independently (Python, same f64 order) for 72 hours.
  ASSERT_TRUE(PutRegion(Json::parse(R"({"region_id":"t","climate":"temperate","world_seed":"s",
    "anchor_tick":0,"anchor_state":"clear"})")).ok());
  ASSERT_TRUE(PutRegion(Json::parse(R"({"region_id":"a","climate":"ashlands","world_seed":"s",
    "anchor_tick":0,"anchor_state":"ashfall"})")).ok());
  const Json want_t = Json::parse(
      R"({"clear":3155,"overcast":3125,"rain":2195,"storm":602,"fog":925,"ashfall":0})");
  const Json want_a = Json::parse(
      R"({"clear":2352,"overcast":2917,"rain":554,"storm":693,"fog":698,"ashfall":2787})");
  const Json t = Forecast(0, 72, "t").body["entries"][71];
  const Json a = Forecast(0, 72, "a").body["entries"][71];
  for (auto it = want_t.begin(); it != want_t.end(); ++it) {
    EXPECT_NEAR(t["probabilities_bp"][it.key()].get<int>(), it.value().get<int>(), 1);
    EXPECT_NEAR(a["probabilities_bp"][it.key()].get<int>(), want_a[it.key()].get<int>(), 1);
  }
  EXPECT_EQ(t["most_likely"], "clear");  // argmax of the emitted values (R49)
  EXPECT_EQ(a["most_likely"], "overcast");
}

// ---- events ----

TEST_F(WeatherManagerTest, EventsForConfigAndOverrides) {
  ASSERT_TRUE(PutRegion(Marsh()).ok());
  ASSERT_TRUE(SetOverride({{"state", "fog"}, {"from_tick", 1}, {"until_tick", 5}}).ok());
  ASSERT_TRUE(ClearOverride().ok());
  ASSERT_TRUE(ClearOverride().ok());  // nothing to clear: no event
  ASSERT_TRUE(PutRegion(Marsh()).ok());
  std::vector<Json> e = h_.Events();
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0]["subject"], "evt.weather-manager.v1.region_configured");
  EXPECT_EQ(e[0]["revision"], 1);
  EXPECT_EQ(e[1]["subject"], "evt.weather-manager.v1.override_set");
  EXPECT_EQ(e[1]["state"], "fog");
  EXPECT_EQ(e[1]["from_tick"], 1);
  EXPECT_EQ(e[1]["until_tick"], 5);
  EXPECT_EQ(e[2]["subject"], "evt.weather-manager.v1.override_cleared");
  EXPECT_EQ(e[2]["region_id"], "vell-marches");
  EXPECT_EQ(e[3]["revision"], 2);
}

}  // namespace
}  // namespace sidecar::services
