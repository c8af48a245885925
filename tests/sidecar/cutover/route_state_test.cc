// The KV document of a route's cut-over state, its key encoding and the weight arithmetic.

#include "sidecar/cutover/route_state.h"

#include "gtest/gtest.h"

namespace sidecar::cutover {
namespace {

std::vector<SplitSide> TwoWay() { return {{"legacy", "legacy", 10000}, {"settings-native", "native", 0}}; }

TEST(RouteKey, RoundTripsRouteNamesKvKeysCannotHold) {
  for (const std::string name : {"settings/*", "/api/settings/", "quest-system/get_quest", "a.b"}) {
    const std::string key = RouteKey(name);
    EXPECT_EQ(key.find_first_of("/*. "), key.find('.'));  // only the "route." separator
    auto back = RouteFromKey(key);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, name);
  }
  EXPECT_EQ(RouteKey("settings/*"), "route.settings=2F=2A");
  EXPECT_FALSE(RouteFromKey("other.key").ok());
  EXPECT_FALSE(RouteFromKey("route.bad=2").ok());
}

TEST(RouteState, JsonRoundTrip) {
  RouteState s;
  s.weights = {{"legacy", 7500}, {"settings-native", 2500}};
  s.last_safe = {{"legacy", 9500}, {"settings-native", 500}};
  s.shadow_percent = 10;
  s.ramp = RampState{"settings-native", {100, 500, 2500, 10000}, 2, 60000, "running"};
  s.rollback = RollbackRecord{"error_rate", 50, 10, 40, {{"legacy", 5000}, {"settings-native", 5000}}, "guard@x", 7};
  s.by = "alice@host";
  s.at_ms = 1700000000000;
  s.reason = "ramp";
  auto back = RouteState::FromJson(s.ToJson().dump());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->weights, s.weights);
  EXPECT_EQ(back->last_safe, s.last_safe);
  EXPECT_EQ(back->shadow_percent, 10);
  ASSERT_TRUE(back->ramp.has_value());
  EXPECT_EQ(back->ramp->steps_bp, s.ramp->steps_bp);
  EXPECT_EQ(back->ramp->index, 2u);
  EXPECT_TRUE(back->ramp->running());
  ASSERT_TRUE(back->rollback.has_value());
  EXPECT_EQ(back->rollback->rule, "error_rate");
  EXPECT_EQ(back->rollback->from, s.rollback->from);
  EXPECT_EQ(back->by, "alice@host");
  EXPECT_EQ(back->at_ms, 1700000000000);
}

TEST(RouteState, RejectsWeightsThatDoNotAddUp) {
  EXPECT_FALSE(RouteState::FromJson(R"({"weights":{"legacy":60,"native":30}})").ok());
  EXPECT_FALSE(RouteState::FromJson(R"({"weights":{"legacy":"all"}})").ok());
  EXPECT_FALSE(RouteState::FromJson("not json").ok());
  auto ok = RouteState::FromJson(R"({"weights":{"legacy":99.5,"native":0.5}})");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->last_safe, ok->weights);  // absent: the weights themselves
}

TEST(ParseTo, OneSideByKindTakesTheRestFromTheOthers) {
  auto w = ParseTo("native=25", TwoWay(), {{"legacy", 10000}, {"settings-native", 0}});
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(*w, (Weights{{"legacy", 7500}, {"settings-native", 2500}}));
  auto by_name = ParseTo("legacy=60%,settings-native=40", TwoWay(), {});
  ASSERT_TRUE(by_name.ok()) << by_name.status();
  EXPECT_EQ(*by_name, (Weights{{"legacy", 6000}, {"settings-native", 4000}}));
}

TEST(ParseTo, RejectsUnknownSidesBadNumbersAndWrongTotals) {
  EXPECT_FALSE(ParseTo("nats=25", TwoWay(), {}).ok());
  EXPECT_FALSE(ParseTo("native=125", TwoWay(), {}).ok());
  EXPECT_FALSE(ParseTo("native", TwoWay(), {}).ok());
  EXPECT_FALSE(ParseTo("legacy=50,native=40", TwoWay(), {}).ok());
}

TEST(WeightsWithSide, SpreadsTheRestInProportion) {
  std::vector<SplitSide> three = {{"a", "legacy", 0}, {"b", "nats", 0}, {"n", "native", 0}};
  Weights w = WeightsWithSide(three, "n", 5000, {{"a", 6000}, {"b", 2000}, {"n", 2000}});
  EXPECT_EQ(w, (Weights{{"a", 3750}, {"b", 1250}, {"n", 5000}}));
  Weights equal = WeightsWithSide(three, "n", 100, {});
  EXPECT_EQ(equal["a"] + equal["b"] + equal["n"], 10000);
}

}  // namespace
}  // namespace sidecar::cutover
