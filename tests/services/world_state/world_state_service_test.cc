// world-state (SERVICES.md §2.14, §4 N18/N19/N35, §6 W1-W20) through its registry: the golden
// examples, every numbered rule, the §0.4 check order, idempotent deltas, reverts and events.

#include "services/world_state/world_state_service.h"

#include <string>

#include "gtest/gtest.h"
#include "services/world_state/world_state_rules.h"
#include "tests/services/common/port_harness.h"
#include "tests/services/common/port_suite.h"  // SUITE, TestStore: built on memory and on KV

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
using testing::TestStore;

const std::string P(kPlayerP);

const Headers kOrchestration{"service:orchestration", "2025-11-20T12:00:00.000Z"};

Json GivenFixture() {
  return Json::parse(R"({
    "regions": [{"region_id": "vell-marches", "name": "Vell Marches",
                 "controlling_faction": "broker_guild", "danger": 4, "flags": {}}],
    "standings": [{"player_id": "pl_a8694c9d17e9b948", "faction_id": "ashen_court",
                   "standing": -200}]
  })");
}

class SUITE(WorldStateTest) : public ::testing::Test {
 protected:
  SUITE(WorldStateTest)
  () : h_("world-state", MakeWorldStateService, /*fixtures_enabled=*/true, TestStore()) {
    EXPECT_TRUE(h_.Fixture(GivenFixture()).ok());
  }

  Reply Apply(const Json& body, const Headers& headers = kOrchestration) {
    return h_.Call("apply_delta", body.dump(), headers);
  }
  Reply Revert(const std::string& id, const Headers& headers = kOrchestration) {
    return h_.Call("revert_delta", Json{{"delta_id", id}}.dump(), headers);
  }
  Reply Region(const std::string& id = "vell-marches") {
    return h_.Call("get_region", Json{{"region_id", id}}.dump());
  }
  Reply Standing(const std::string& faction = "", const Headers& headers = {}) {
    return h_.Call("get_standing", Json{{"player_id", P}, {"faction_id", faction}}.dump(), headers);
  }
  Reply PutRegion(Json body) { return h_.Call("put_region", body.dump()); }

  static Json StandingChange(int delta, const std::string& faction = "ashen_court") {
    return {{"player_id", P}, {"faction_id", faction}, {"delta", delta}};
  }

  PortHarness h_;
};

TEST(SUITE(WorldStateGoldenTest), EveryGoldenFileReplays) {
  auto paths = testing::GoldenPaths("world-state");
  ASSERT_EQ(paths.size(), 2u);
  for (const auto& path : paths) testing::RunGolden(MakeWorldStateService, path, TestStore());
}

TEST_F(SUITE(WorldStateTest), RegistryMatchesTheProto) {
  EXPECT_TRUE(VerifyRegistry("world-state", h_.registry()).ok());
}

// ---- put_region / get_region (rule 1, W1-W3, W19) ----

TEST_F(SUITE(WorldStateTest), PutRegionReplacesTheWholeRegion) {
  Reply r = PutRegion({{"region_id", "vell-marches"},
                       {"name", "Vell"},
                       {"danger", 7},
                       {"flags", {{"curfew", "on"}}}});
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body, Json({{"region_id", "vell-marches"}}));
  EXPECT_EQ(Region().body, Json({{"region_id", "vell-marches"},
                                 {"name", "Vell"},
                                 {"controlling_faction", ""},
                                 {"danger", 7},
                                 {"flags", {{"curfew", "on"}}}}));
  EXPECT_EQ(Standing("ashen_court").body["standings"][0]["standing"], -200);  // untouched
  EXPECT_TRUE(h_.Events().empty());
}

TEST_F(SUITE(WorldStateTest), PutRegionFieldChecks) {
  Json base = {{"region_id", "r1"}, {"name", "R"}, {"danger", 0}};
  auto with = [&](const char* k, Json v) {
    Json b = base;
    b[k] = v;
    return PutRegion(b).body;
  };
  EXPECT_EQ(with("region_id", "Bad_Id"), InvalidArg("region_id", "pattern"));
  EXPECT_EQ(with("region_id", std::string(49, 'a')), InvalidArg("region_id", "too_long"));
  EXPECT_EQ(with("name", ""), InvalidArg("name", "required"));
  EXPECT_EQ(with("name", std::string(121, 'n')), InvalidArg("name", "too_long"));
  EXPECT_EQ(with("controlling_faction", "9guild"), InvalidArg("controlling_faction", "pattern"));
  EXPECT_EQ(with("danger", 11), InvalidArg("danger", "out_of_range"));
  EXPECT_EQ(with("danger", -1), InvalidArg("danger", "out_of_range"));
  EXPECT_EQ(with("flags", {{"Bad", "x"}}), InvalidArg("flags.Bad", "pattern"));
  EXPECT_EQ(with("flags", {{"ok", std::string(65, 'v')}}), InvalidArg("flags.ok", "too_long"));
  EXPECT_TRUE(PutRegion([&] {
                Json b = base;
                b["flags"] = {{"ok", ""}};
                return b;
              }())
                  .ok());
  Json many = Json::object();
  for (int i = 0; i < 33; ++i) many["f" + std::to_string(i)] = "x";
  EXPECT_EQ(with("flags", many), InvalidArg("flags", "too_long"));
}

TEST_F(SUITE(WorldStateTest), PutRegionIsAServiceWrite) {
  Reply r = h_.Call("put_region", R"({"region_id":"r1","name":"R"})", AsPlayer());
  EXPECT_EQ(r.body, Error("PERMISSION_DENIED"));
}

TEST_F(SUITE(WorldStateTest), GetRegionUnknownIsNotFound) {
  EXPECT_EQ(Region("nowhere").body, Error("NOT_FOUND", {{"field", "region_id"}}));
}

// ---- apply_delta field checks (rule 1, W4, W5) ----

TEST_F(SUITE(WorldStateTest), ApplyDeltaCountsChangesOfBothLists) {
  EXPECT_EQ(Apply({{"delta_id", "d"}}).body, InvalidArg("standing_changes", "required"));
  Json fifty_one = Json::array();
  for (int i = 0; i < 51; ++i) fifty_one.push_back(StandingChange(1));
  EXPECT_EQ(Apply({{"delta_id", "d"}, {"standing_changes", fifty_one}}).body,
            InvalidArg("standing_changes", "too_long"));
  Json thirty = Json::array();
  for (int i = 0; i < 30; ++i) thirty.push_back(StandingChange(1));
  Json regions = Json::array();
  for (int i = 0; i < 21; ++i) regions.push_back({{"region_id", "vell-marches"}});
  EXPECT_EQ(
      Apply({{"delta_id", "d"}, {"standing_changes", thirty}, {"region_changes", regions}}).body,
      InvalidArg("region_changes", "too_long"));
}

TEST_F(SUITE(WorldStateTest), ApplyDeltaFieldChecks) {
  EXPECT_EQ(Apply({{"delta_id", ""}, {"standing_changes", {StandingChange(1)}}}).body,
            InvalidArg("delta_id", "required"));
  EXPECT_EQ(Apply({{"delta_id", "a b"}, {"standing_changes", {StandingChange(1)}}}).body,
            InvalidArg("delta_id", "pattern"));
  EXPECT_EQ(
      Apply({{"delta_id", std::string(97, 'd')}, {"standing_changes", {StandingChange(1)}}}).body,
      InvalidArg("delta_id", "too_long"));
  EXPECT_EQ(
      Apply({{"delta_id", "d"},
             {"standing_changes", {{{"player_id", "pl_123"}, {"faction_id", "x"}, {"delta", 1}}}}})
          .body,
      InvalidArg("standing_changes[0].player_id", "pattern"));
  EXPECT_EQ(Apply({{"delta_id", "d"}, {"standing_changes", {StandingChange(1, "")}}}).body,
            InvalidArg("standing_changes[0].faction_id", "required"));
  EXPECT_EQ(
      Apply({{"delta_id", "d"},
             {"region_changes", {{{"region_id", "vell-marches"}, {"controlling_faction", "Bad"}}}}})
          .body,
      InvalidArg("region_changes[0].controlling_faction", "pattern"));
  EXPECT_EQ(
      Apply({{"delta_id", "d"},
             {"region_changes", {{{"region_id", "vell-marches"}, {"set_flags", {{"a-b", "x"}}}}}}})
          .body,
      InvalidArg("region_changes[0].set_flags.a-b", "pattern"));
  EXPECT_EQ(
      Apply({{"delta_id", "d"},
             {"region_changes", {{{"region_id", "vell-marches"}, {"clear_flags", {"ok", ""}}}}}})
          .body,
      InvalidArg("region_changes[0].clear_flags[1]", "too_short"));
  EXPECT_EQ(Apply({{"delta_id", "d"},
                   {"region_changes", {{{"region_id", "vell-marches"}, {"clear_flags", {"A"}}}}}})
                .body,
            InvalidArg("region_changes[0].clear_flags[0]", "pattern"));
}

TEST_F(SUITE(WorldStateTest), ApplyAndRevertAreServiceWritesCheckedAfterFields) {
  Json body = {{"delta_id", "d"}, {"standing_changes", {StandingChange(1)}}};
  EXPECT_EQ(Apply(body, AsPlayer()).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(Apply({{"delta_id", ""}}, AsPlayer()).body, InvalidArg("delta_id", "required"));
  EXPECT_EQ(Revert("d", AsPlayer()).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(Apply(body, Headers{"", "2025-11-20T12:00:00.000Z"}).body, Error("UNAUTHENTICATED"));
}

// ---- rule 2: tiers ----

TEST(SUITE(WorldStateRulesTest), TiersFollowRule2) {
  EXPECT_EQ(world_state::Tier(-3000), "hostile");
  EXPECT_EQ(world_state::Tier(-2999), "unfriendly");
  EXPECT_EQ(world_state::Tier(-500), "unfriendly");
  EXPECT_EQ(world_state::Tier(-499), "neutral");
  EXPECT_EQ(world_state::Tier(499), "neutral");
  EXPECT_EQ(world_state::Tier(500), "friendly");
  EXPECT_EQ(world_state::Tier(2999), "friendly");
  EXPECT_EQ(world_state::Tier(3000), "honored");
}

// ---- rule 3: all-or-nothing, order, range errors, NOT_FOUND, flag cap ----

TEST_F(SUITE(WorldStateTest), RangeViolationLeavesNothingApplied) {
  Reply r = Apply({{"delta_id", "d1"},
                   {"standing_changes", {StandingChange(100, "broker_guild")}},
                   {"region_changes", {{{"region_id", "vell-marches"}, {"danger_delta", 7}}}}});
  EXPECT_EQ(r.body, Error("FAILED_PRECONDITION", {{"reason", "danger_out_of_range"},
                                                  {"region_id", "vell-marches"},
                                                  {"result", "11"}}));
  EXPECT_EQ(Standing("broker_guild").body["standings"][0]["standing"], 0);
  EXPECT_EQ(Region().body["danger"], 4);
  // The failed delta left no record: its id is free.
  EXPECT_TRUE(Apply({{"delta_id", "d1"}, {"standing_changes", {StandingChange(1)}}}).ok());
}

TEST_F(SUITE(WorldStateTest), RepeatedEntriesAccumulateAndTheFirstRunningOffenderIsReported) {
  // W7: -200 + 6000 + 6000 leaves the range at the second entry.
  Reply r = Apply(
      {{"delta_id", "d"},
       {"standing_changes", {StandingChange(6000), StandingChange(6000), StandingChange(-90000)}}});
  EXPECT_EQ(r.details()["result"], "11800");
  // Running values: 4 - 5 would be -1 even though the region's final value would be fine.
  r = Apply({{"delta_id", "d"},
             {"region_changes",
              {{{"region_id", "vell-marches"}, {"danger_delta", -5}},
               {{"region_id", "vell-marches"}, {"danger_delta", 5}}}}});
  EXPECT_EQ(r.details()["result"], "-1");
  r = Apply({{"delta_id", "d"}, {"standing_changes", {StandingChange(300), StandingChange(-50)}}});
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["standings"], Json::parse(R"([{"player_id":"pl_a8694c9d17e9b948",
      "faction_id":"ashen_court","standing":50,"tier":"neutral"}])"));
}

TEST_F(SUITE(WorldStateTest), UnknownRegionIsNotFoundAtTheLowestIndexBeforeTheDeltaIdLookup) {
  ASSERT_TRUE(Apply({{"delta_id", "d"}, {"standing_changes", {StandingChange(1)}}}).ok());
  Reply r = Apply(
      {{"delta_id", "d"},
       {"region_changes",
        {{{"region_id", "vell-marches"}}, {{"region_id", "nowhere"}}, {{"region_id", "gone"}}}}});
  EXPECT_EQ(r.body, Error("NOT_FOUND", {{"field", "region_changes[1].region_id"}}));
}

TEST_F(SUITE(WorldStateTest), ChangesInsideOneRegionChangeRunDangerControllerSetThenClear) {
  Reply r = Apply({{"delta_id", "d"},
                   {"region_changes",
                    {{{"region_id", "vell-marches"},
                      {"danger_delta", -4},
                      {"controlling_faction", "ashen_court"},
                      {"set_flags", {{"curfew", "on"}, {"siege", "yes"}}},
                      {"clear_flags", {"siege", "never_set"}}}}}});
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["regions"][0], Json::parse(R"({"region_id":"vell-marches","name":"Vell Marches",
      "controlling_faction":"ashen_court","danger":0,"flags":{"curfew":"on"}})"));
  EXPECT_EQ(r.body["standings"], Json::array());
}

TEST_F(SUITE(WorldStateTest), NoOpChangesStillCountAsTouches) {
  Reply r = Apply({{"delta_id", "d"},
                   {"standing_changes", {StandingChange(0, "iron_veil")}},
                   {"region_changes", {{{"region_id", "vell-marches"}}}}});
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["standings"][0]["standing"], 0);
  EXPECT_EQ(r.body["regions"].size(), 1u);
  // Rule 6: a touched standing stays stored, even at 0.
  EXPECT_EQ(Standing().body, Json::parse(R"({"standings":[
      {"faction_id":"ashen_court","standing":-200,"tier":"neutral"},
      {"faction_id":"iron_veil","standing":0,"tier":"neutral"}]})"));
}

TEST_F(SUITE(WorldStateTest), MoreThan32FlagsAfterTheWholeDeltaIsResourceExhausted) {
  Json first = Json::object(), second = Json::object();
  for (int i = 0; i < 20; ++i) first["a" + std::to_string(i)] = "x";
  for (int i = 0; i < 20; ++i) second["b" + std::to_string(i)] = "x";
  Json clear = Json::array();
  for (int i = 0; i < 8; ++i) clear.push_back("a" + std::to_string(i));
  // 40 flags after the second change, 32 after the third: fine (W10 checks the end state).
  Reply ok = Apply({{"delta_id", "ok"},
                    {"region_changes",
                     {{{"region_id", "vell-marches"}, {"set_flags", first}},
                      {{"region_id", "vell-marches"}, {"set_flags", second}},
                      {{"region_id", "vell-marches"}, {"clear_flags", clear}}}}});
  ASSERT_TRUE(ok.ok()) << ok;
  EXPECT_EQ(ok.body["regions"][0]["flags"].size(), 32u);
  Reply r =
      Apply({{"delta_id", "over"},
             {"region_changes", {{{"region_id", "vell-marches"}, {"set_flags", {{"z", "1"}}}}}}});
  EXPECT_EQ(r.body, Error("RESOURCE_EXHAUSTED", {{"reason", "limit_exceeded"}, {"limit", "32"}}));
  // A range violation wins over the cap (W9).
  r = Apply({{"delta_id", "over"},
             {"standing_changes", {StandingChange(20000)}},
             {"region_changes", {{{"region_id", "vell-marches"}, {"set_flags", {{"z", "1"}}}}}}});
  EXPECT_EQ(r.details()["reason"], "standing_out_of_range");
}

// ---- rule 4: idempotent by delta_id ----

TEST_F(SUITE(WorldStateTest), SameDeltaReplaysTheOriginalResponseWithAppliedFalse) {
  Json body = {{"delta_id", "d"}, {"standing_changes", {StandingChange(800)}}};
  Reply first = Apply(body);
  ASSERT_TRUE(first.ok());
  h_.ClearEvents();
  Reply again = Apply(body, Headers{"admin:other", "2025-11-21T12:00:00.000Z"});
  Json expected = first.body;
  expected["applied"] = false;
  EXPECT_EQ(again.body, expected);
  EXPECT_EQ(Standing("ashen_court").body["standings"][0]["standing"], 600);  // applied once
  EXPECT_TRUE(h_.Events().empty());
  // Also after a revert, still the original response (W12).
  ASSERT_TRUE(Revert("d").ok());
  EXPECT_EQ(Apply(body).body, expected);
}

TEST_F(SUITE(WorldStateTest), SameDeltaIdWithOtherContentIsAlreadyExists) {
  ASSERT_TRUE(Apply({{"delta_id", "d"}, {"standing_changes", {StandingChange(800)}}}).ok());
  EXPECT_EQ(Apply({{"delta_id", "d"}, {"standing_changes", {StandingChange(801)}}}).body,
            Error("ALREADY_EXISTS", {{"field", "delta_id"}}));
  // The lookup comes before the range check (W9).
  EXPECT_EQ(Apply({{"delta_id", "d"}, {"standing_changes", {StandingChange(90000)}}}).body,
            Error("ALREADY_EXISTS", {{"field", "delta_id"}}));
}

TEST_F(SUITE(WorldStateTest), DeltasAreKeptThirtyDays) {
  ASSERT_TRUE(Apply({{"delta_id", "d"}, {"standing_changes", {StandingChange(10)}}}).ok());
  EXPECT_TRUE(Revert("d", Headers{"admin:test", "2025-12-20T11:59:59.999Z"}).ok());
  ASSERT_TRUE(Apply({{"delta_id", "e"}, {"standing_changes", {StandingChange(10)}}}).ok());
  EXPECT_EQ(Revert("e", Headers{"admin:test", "2025-12-20T12:00:00.000Z"}).body,
            Error("NOT_FOUND", {{"field", "delta_id"}}));
}

// ---- rule 5: revert ----

TEST_F(SUITE(WorldStateTest), RevertInvertsNumbersAndRestoresUnchangedFlagsAndController) {
  ASSERT_TRUE(Apply({{"delta_id", "d"},
                     {"standing_changes", {StandingChange(800)}},
                     {"region_changes",
                      {{{"region_id", "vell-marches"},
                        {"danger_delta", 2},
                        {"controlling_faction", "ashen_court"},
                        {"set_flags", {{"curfew", "on"}}}}}}})
                  .ok());
  Reply r = Revert("d");
  EXPECT_EQ(r.body, Json::parse(R"({"reverted":true,"conflicts":[]})"));
  EXPECT_EQ(Region().body, Json::parse(R"({"region_id":"vell-marches","name":"Vell Marches",
      "controlling_faction":"broker_guild","danger":4,"flags":{}})"));
  EXPECT_EQ(Standing("ashen_court").body["standings"][0]["standing"], -200);
  // A second revert changes nothing.
  EXPECT_EQ(Revert("d").body, Json::parse(R"({"reverted":false,"conflicts":[]})"));
  EXPECT_EQ(Revert("unknown").body, Error("NOT_FOUND", {{"field", "delta_id"}}));
}

TEST_F(SUITE(WorldStateTest), RevertListsConflictsAndLeavesThoseValues) {
  ASSERT_TRUE(PutRegion({{"region_id", "ash-gate"}, {"name", "Ash Gate"}, {"danger", 1}}).ok());
  ASSERT_TRUE(Apply({{"delta_id", "d"},
                     {"region_changes",
                      {{{"region_id", "vell-marches"},
                        {"controlling_faction", "ashen_court"},
                        {"set_flags", {{"curfew", "on"}, {"alarm", "1"}}}},
                       {{"region_id", "ash-gate"}, {"set_flags", {{"toll", "5"}}}}}}})
                  .ok());
  // Later deltas change the controller and one flag of each region; danger moves too.
  ASSERT_TRUE(
      Apply({{"delta_id", "later"},
             {"region_changes",
              {{{"region_id", "ash-gate"}, {"danger_delta", 9}, {"set_flags", {{"toll", "9"}}}},
               {{"region_id", "vell-marches"},
                {"controlling_faction", "iron_veil"},
                {"clear_flags", {"curfew"}}}}}})
          .ok());
  Reply r = Revert("d");
  EXPECT_EQ(r.body, Json::parse(R"({"reverted":true,"conflicts":[
      "vell-marches.controlling_faction","vell-marches.flags.curfew","ash-gate.flags.toll"]})"));
  EXPECT_EQ(Region().body["controlling_faction"], "iron_veil");
  EXPECT_EQ(Region().body["flags"], Json::object());  // alarm restored to absent
  EXPECT_EQ(Region("ash-gate").body["flags"], Json({{"toll", "9"}}));
  // Numbers are inverted with no range check: 1 + 9 stays 10 (its own delta touched none).
  EXPECT_EQ(Region("ash-gate").body["danger"], 10);
}

TEST_F(SUITE(WorldStateTest), RevertMayLeaveNumbersOutOfRange) {
  ASSERT_TRUE(Apply({{"delta_id", "up"}, {"standing_changes", {StandingChange(10000)}}}).ok());
  ASSERT_TRUE(Apply({{"delta_id", "down"}, {"standing_changes", {StandingChange(-9000)}}}).ok());
  ASSERT_TRUE(Apply({{"delta_id", "up2"}, {"standing_changes", {StandingChange(9000)}}}).ok());
  // 9800 + 9000: stored as is (W16), honored; the next delta then fails on the running value.
  EXPECT_TRUE(Revert("down").ok());
  EXPECT_EQ(Standing("ashen_court").body["standings"][0],
            Json::parse(R"({"faction_id":"ashen_court","standing":18800,"tier":"honored"})"));
  EXPECT_EQ(
      Apply({{"delta_id", "more"}, {"standing_changes", {StandingChange(1)}}}).details()["result"],
      "18801");
}

// ---- rule 6 / W18: get_standing ----

TEST_F(SUITE(WorldStateTest), GetStandingFilterAndScope) {
  EXPECT_EQ(Standing("", AsPlayer()).body, Json::parse(R"({"standings":[
      {"faction_id":"ashen_court","standing":-200,"tier":"neutral"}]})"));
  EXPECT_EQ(Standing("iron_veil").body, Json::parse(R"({"standings":[
      {"faction_id":"iron_veil","standing":0,"tier":"neutral"}]})"));
  EXPECT_EQ(Standing("", AsPlayer("pl_0000000000000000")).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(h_.Call("get_standing", R"({"player_id":"pl_0000000000000000"})").body,
            Json::parse(R"({"standings":[]})"));
  EXPECT_EQ(h_.Call("get_standing", R"({"player_id":"mara"})").body,
            InvalidArg("player_id", "pattern"));
  EXPECT_EQ(Standing("Bad").body, InvalidArg("faction_id", "pattern"));
}

// ---- events (W17) ----

TEST_F(SUITE(WorldStateTest), EventsFollowApplyAndRevert) {
  ASSERT_TRUE(Apply({{"delta_id", "d"},
                     {"region_changes",
                      {{{"region_id", "vell-marches"}, {"controlling_faction", "ashen_court"}}}}})
                  .ok());
  ASSERT_TRUE(Revert("d").ok());
  ASSERT_TRUE(Revert("d").ok());
  std::vector<Json> events = h_.Events();
  for (Json& e : events) e.erase("occurred_at");
  EXPECT_EQ(Json(events), Json::parse(R"([
    {"subject":"evt.world-state.v1.delta_applied","delta_id":"d"},
    {"subject":"evt.world-state.v1.region_control_changed","region_id":"vell-marches",
     "from":"broker_guild","to":"ashen_court"},
    {"subject":"evt.world-state.v1.delta_reverted","delta_id":"d","conflicts":[]},
    {"subject":"evt.world-state.v1.region_control_changed","region_id":"vell-marches",
     "from":"ashen_court","to":"broker_guild"}])"));
}

TEST_F(SUITE(WorldStateTest), ControllerSetToItsOwnValueEmitsNoControlChange) {
  ASSERT_TRUE(Apply({{"delta_id", "d"},
                     {"region_changes",
                      {{{"region_id", "vell-marches"}, {"controlling_faction", "broker_guild"}}}}})
                  .ok());
  EXPECT_EQ(h_.Events().size(), 1u);
}

}  // namespace
}  // namespace sidecar::services
