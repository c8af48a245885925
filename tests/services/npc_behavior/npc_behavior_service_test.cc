// npc-behavior (SERVICES.md §2.16, §4 N22, §6 NB1-NB10) through its registry: the golden
// examples, the spec's utilities and jitter vectors exactly, every numbered rule, the §0.4
// check order, idempotent interactions and events.

#include "services/npc_behavior/npc_behavior_service.h"

#include <string>

#include "gtest/gtest.h"
#include "services/common/determinism.h"
#include "services/npc_behavior/npc_behavior_rules.h"
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

Json Odrin() {
  return Json::parse(R"({"npc_id": "odrin", "archetype": "gravekeeper",
    "traits": {"greed": 30, "fear": 40, "piety": 70, "aggression": 10},
    "needs": {"satiety": 60, "energy": 35, "company": 50}, "allowed_actions": [], "home_region": ""})");
}

class SUITE(NpcBehaviorTest) : public ::testing::Test {
 protected:
  SUITE(NpcBehaviorTest)
  () : h_("npc-behavior", MakeNpcBehaviorService, /*fixtures_enabled=*/true, TestStore()) {
    EXPECT_TRUE(
        h_.Fixture({{"npcs", {Odrin()}},
                    {"dispositions", {{{"npc_id", "odrin"}, {"player_id", P}, {"value", 24}}}}})
            .ok());
  }

  Reply PutNpc(const Json& npc, const Headers& headers = {}) {
    return h_.Call("put_npc", npc.dump(), headers);
  }
  Reply Decide(Json body, const Headers& headers = {}) {
    if (!body.contains("npc_id")) body["npc_id"] = "odrin";
    return h_.Call("decide", body.dump(), headers);
  }
  Reply Interact(const std::string& id, const std::string& kind, int magnitude,
                 const Headers& headers = AsPlayer(), const std::string& npc = "odrin") {
    return h_.Call("record_interaction",
                   Json{{"npc_id", npc},
                        {"interaction_id", id},
                        {"player_id", P},
                        {"kind", kind},
                        {"magnitude", magnitude}}
                       .dump(),
                   headers);
  }
  int Disposition() {
    return h_.Call("get_npc", Json{{"npc_id", "odrin"}, {"player_id", P}}.dump())
        .body["disposition"];
  }

  PortHarness h_;
};

TEST(SUITE(NpcBehaviorGoldenTest), EveryGoldenFileReplays) {
  auto paths = testing::GoldenPaths("npc-behavior");
  ASSERT_EQ(paths.size(), 2u);
  for (const auto& path : paths) testing::RunGolden(MakeNpcBehaviorService, path, TestStore());
}

TEST_F(SUITE(NpcBehaviorTest), RegistryMatchesTheProto) {
  EXPECT_TRUE(VerifyRegistry("npc-behavior", h_.registry()).ok());
}

// ---- rule 2: base utilities, the spec's vector ----

TEST(SUITE(NpcBehaviorRulesTest), BaseUtilitiesOfTheSpecExample) {
  npc_behavior::pb::Npc odrin;
  odrin.set_npc_id("odrin");
  (*odrin.mutable_traits())["greed"] = 30;
  (*odrin.mutable_traits())["fear"] = 40;
  (*odrin.mutable_traits())["piety"] = 70;
  (*odrin.mutable_traits())["aggression"] = 10;
  (*odrin.mutable_needs())["satiety"] = 60;
  (*odrin.mutable_needs())["energy"] = 35;
  (*odrin.mutable_needs())["company"] = 50;
  npc_behavior::pb::DecideRequest rq;
  rq.set_npc_id("odrin");
  rq.set_tick(2883);
  rq.set_time_of_day("dusk");
  rq.set_weather("rain");
  rq.set_player_id(P);
  std::map<std::string, int32_t> expected = {{"confront", 0}, {"eat", 40},  {"flee", 0},
                                             {"pray", 60},    {"rest", 65}, {"socialize", 70},
                                             {"work", 0}};
  EXPECT_EQ(npc_behavior::BaseUtilities(odrin, rq, 24), expected);
  // Every conditional term: near and hostile (confront +30), night (rest +30), day (work),
  // threat (flee, confront), clear weather (no pray bonus), disposition < 20 (no socialize bonus).
  rq.set_time_of_day("night");
  rq.set_weather("clear");
  rq.set_threat(5);
  expected = {{"confront", (5 + 25 - 20) + 30},
              {"eat", 40},
              {"flee", 40},
              {"pray", 35},
              {"rest", 95},
              {"socialize", 50},
              {"work", 0}};
  EXPECT_EQ(npc_behavior::BaseUtilities(odrin, rq, -30), expected);
  rq.set_time_of_day("dawn");
  rq.set_player_id("");
  EXPECT_EQ(npc_behavior::BaseUtilities(odrin, rq, -30)["work"], 55);
  EXPECT_EQ(npc_behavior::BaseUtilities(odrin, rq, -30)["confront"], 10);  // not near
}

// ---- rule 3: the jitter vector of the spec ----

TEST(SUITE(NpcBehaviorRulesTest), JitterMatchesTheSpecVector) {
  Rng rng("npc:odrin:2883");
  std::vector<uint64_t> jitter;
  for (int i = 0; i < 7; ++i) jitter.push_back(rng.Uniform(5));
  EXPECT_EQ(jitter, (std::vector<uint64_t>{4, 3, 1, 3, 2, 2, 2}));
}

TEST_F(SUITE(NpcBehaviorTest), DecideMatchesTheSpecExample) {
  Reply r = Decide({{"tick", 2883},
                    {"time_of_day", "dusk"},
                    {"weather", "rain"},
                    {"threat", 0},
                    {"player_id", P}});
  EXPECT_EQ(r.body, Json::parse(R"({"npc_id":"odrin","action":"socialize","scores":{"confront":4,
      "eat":43,"flee":1,"pray":63,"rest":67,"socialize":72,"work":2},"disposition":24})"));
}

TEST_F(SUITE(NpcBehaviorTest), AllowedActionsRestrictCandidatesAndTheirDraws) {
  Json npc = Odrin();
  npc["allowed_actions"] = {"work", "pray"};
  ASSERT_TRUE(PutNpc(npc).ok());
  Reply r =
      Decide({{"tick", 2883}, {"time_of_day", "dusk"}, {"weather", "rain"}, {"player_id", P}});
  // Only pray and work draw, in alphabetical order: the first two draws (4, 3).
  EXPECT_EQ(r.body["scores"], Json({{"pray", 64}, {"work", 3}}));
  EXPECT_EQ(r.body["action"], "pray");
}

TEST_F(SUITE(NpcBehaviorTest), TiesGoToTheAlphabeticallyFirstAction) {
  // Every utility 0 but eat and socialize (both 100 - 100 + ...): make all bases equal.
  Json npc = Odrin();
  npc["traits"] = {{"greed", 0}, {"fear", 0}, {"piety", 0}, {"aggression", 0}};
  npc["needs"] = {{"satiety", 100}, {"energy", 100}, {"company", 100}};
  npc["allowed_actions"] = {"rest", "eat"};
  ASSERT_TRUE(PutNpc(npc).ok());
  // Search a tick whose two draws are equal, then expect the alphabetically first action.
  for (int tick = 0; tick < 200; ++tick) {
    Rng rng("npc:odrin:" + std::to_string(tick));
    const uint64_t eat = rng.Uniform(5), rest = rng.Uniform(5);
    if (eat != rest) continue;
    Reply r = Decide({{"tick", tick}, {"time_of_day", "dusk"}, {"weather", "clear"}});
    EXPECT_EQ(r.body["action"], "eat");
    EXPECT_EQ(r.body["scores"]["eat"], r.body["scores"]["rest"]);
    return;
  }
  FAIL() << "no tie in 200 ticks";
}

TEST_F(SUITE(NpcBehaviorTest), DecideWithoutPlayerUsesDispositionZero) {
  Reply r = Decide({{"tick", 2883}, {"time_of_day", "dusk"}, {"weather", "rain"}});
  EXPECT_EQ(r.body["disposition"], 0);
  EXPECT_EQ(r.body["scores"]["socialize"], 52);  // not near: no +20
}

// ---- rule 1: field checks ----

TEST_F(SUITE(NpcBehaviorTest), PutNpcFieldChecks) {
  auto with = [&](const std::string& path, Json value) {
    Json n = Odrin();
    n[Json::json_pointer(path)] = value;
    return PutNpc(n).body;
  };
  auto without = [&](const std::string& map, const std::string& key) {
    Json n = Odrin();
    n[map].erase(key);
    return PutNpc(n).body;
  };
  EXPECT_EQ(with("/npc_id", "Odrin"), InvalidArg("npc_id", "pattern"));
  EXPECT_EQ(with("/npc_id", std::string(49, 'o')), InvalidArg("npc_id", "too_long"));
  EXPECT_EQ(with("/archetype", ""), InvalidArg("archetype", "required"));
  EXPECT_EQ(with("/archetype", std::string(65, 'a')), InvalidArg("archetype", "too_long"));
  EXPECT_EQ(with("/traits", Json::object()), InvalidArg("traits", "required"));
  EXPECT_EQ(without("traits", "fear"), InvalidArg("traits.fear", "required"));
  EXPECT_EQ(with("/traits/courage", 5), InvalidArg("traits.courage", "unknown_value"));
  // NB2: key order decides between a missing and an unknown key.
  EXPECT_EQ(
      [&] {
        Json n = Odrin();
        n["traits"].erase("greed");
        n["traits"]["bravado"] = 1;
        return PutNpc(n).body;
      }(),
      InvalidArg("traits.bravado", "unknown_value"));
  EXPECT_EQ(with("/traits/piety", 101), InvalidArg("traits.piety", "out_of_range"));
  EXPECT_EQ(with("/traits/piety", -1), InvalidArg("traits.piety", "out_of_range"));
  EXPECT_EQ(without("needs", "energy"), InvalidArg("needs.energy", "required"));
  EXPECT_EQ(with("/allowed_actions", {"work", "dance"}),
            InvalidArg("allowed_actions[1]", "unknown_value"));
  EXPECT_EQ(with("/allowed_actions", {"work", "pray", "work"}),
            InvalidArg("allowed_actions[2]", "malformed"));
  EXPECT_EQ(with("/home_region", "Vell"), InvalidArg("home_region", "pattern"));
  EXPECT_TRUE(PutNpc([] {
                Json n = Odrin();
                n["home_region"] = "vell-marches";
                return n;
              }())
                  .ok());
  EXPECT_EQ(PutNpc(Odrin(), AsPlayer()).body, Error("PERMISSION_DENIED"));
}

TEST_F(SUITE(NpcBehaviorTest), DecideFieldChecksAndScope) {
  Json ok = {{"tick", 1}, {"time_of_day", "day"}, {"weather", "fog"}};
  auto with = [&](const char* k, Json v) {
    Json b = ok;
    b[k] = v;
    return Decide(b).body;
  };
  EXPECT_EQ(with("tick", -1), InvalidArg("tick", "out_of_range"));
  EXPECT_EQ(with("time_of_day", ""), InvalidArg("time_of_day", "required"));
  EXPECT_EQ(with("time_of_day", "noon"), InvalidArg("time_of_day", "unknown_value"));
  EXPECT_EQ(with("weather", ""), InvalidArg("weather", "required"));
  EXPECT_EQ(with("weather", "snow"), InvalidArg("weather", "unknown_value"));
  EXPECT_EQ(with("threat", 11), InvalidArg("threat", "out_of_range"));
  EXPECT_EQ(with("player_id", "mara"), InvalidArg("player_id", "pattern"));
  EXPECT_EQ(Decide(
                [&] {
                  Json b = ok;
                  b["player_id"] = P;
                  return b;
                }(),
                AsPlayer("pl_0000000000000000"))
                .body,
            Error("PERMISSION_DENIED"));
  EXPECT_TRUE(Decide(ok, AsPlayer("pl_0000000000000000")).ok());  // names no player: any principal
  EXPECT_EQ(Decide([&] {
              Json b = ok;
              b["npc_id"] = "nobody";
              return b;
            }())
                .body,
            Error("NOT_FOUND", {{"field", "npc_id"}}));
}

TEST_F(SUITE(NpcBehaviorTest), GetNpcReturnsProfileAndDisposition) {
  Reply r = h_.Call("get_npc", Json{{"npc_id", "odrin"}, {"player_id", P}}.dump(), AsPlayer());
  Json expected = Odrin();
  EXPECT_EQ(r.body, Json({{"npc", expected}, {"disposition", 24}}));
  EXPECT_EQ(h_.Call("get_npc", R"({"npc_id":"odrin"})").body["disposition"], 0);
  EXPECT_EQ(h_.Call("get_npc", R"({"npc_id":"ghost"})").body,
            Error("NOT_FOUND", {{"field", "npc_id"}}));
  EXPECT_EQ(h_.Call("get_npc", Json{{"npc_id", "odrin"}, {"player_id", P}}.dump(),
                    AsPlayer("pl_0000000000000000"))
                .body,
            Error("PERMISSION_DENIED"));
}

TEST_F(SUITE(NpcBehaviorTest), PutNpcReplacesTheProfileAndKeepsDispositions) {
  Json n = Odrin();
  n["archetype"] = "mourner";
  n["allowed_actions"] = {"work", "eat"};
  ASSERT_TRUE(PutNpc(n).ok());
  Reply r = h_.Call("get_npc", Json{{"npc_id", "odrin"}, {"player_id", P}}.dump());
  EXPECT_EQ(r.body["npc"]["archetype"], "mourner");
  EXPECT_EQ(r.body["npc"]["allowed_actions"], Json({"work", "eat"}));  // given order (NB3)
  EXPECT_EQ(r.body["disposition"], 24);
  EXPECT_TRUE(h_.Events().empty());
}

// ---- rule 4: record_interaction ----

TEST_F(SUITE(NpcBehaviorTest), InteractionDeltasFollowRule4) {
  EXPECT_EQ(Interact("i1", "gift", 3).body["delta"], 9);  // 3·(2 + 30÷25)
  EXPECT_EQ(Interact("i2", "help", 2).body["delta"], 6);  // 2·(2 + 70÷50)
  EXPECT_EQ(Interact("i3", "trade", 4).body["delta"], 4);
  EXPECT_EQ(Interact("i4", "insult", 5).body["delta"], -10);  // −5·(2 + 10÷25)
  Reply threat = Interact("i5", "threat", 2);                 // −2·(3 + 10÷25)
  EXPECT_EQ(threat.body, Json({{"npc_id", "odrin"},
                               {"player_id", P},
                               {"delta", -6},
                               {"disposition", 24 + 9 + 6 + 4 - 10 - 6},
                               {"replayed", false}}));
}

TEST_F(SUITE(NpcBehaviorTest), DispositionIsClampedAndDeltaIsTheAppliedChange) {
  Reply a = Interact("a", "gift", 10);  // +30 -> 54
  Reply b = Interact("b", "gift", 10);  // +30 -> 84
  Reply c = Interact("c", "gift", 10);  // +30 -> 100 (clamped): delta 16
  EXPECT_EQ(c.body["delta"], 16);
  EXPECT_EQ(c.body["disposition"], 100);
  h_.ClearEvents();
  Reply d = Interact("d", "gift", 1);  // at the clamp: delta 0, no event, still recorded
  EXPECT_EQ(d.body["delta"], 0);
  EXPECT_TRUE(h_.Events().empty());
  EXPECT_EQ(Interact("d", "gift", 1).body["replayed"], true);
  for (int i = 0; i < 10; ++i) Interact("t" + std::to_string(i), "threat", 10);
  EXPECT_EQ(Disposition(), -100);
}

TEST_F(SUITE(NpcBehaviorTest), InteractionIdIsTheIdempotencyKey) {
  Reply first = Interact("ix-1", "gift", 3);
  ASSERT_TRUE(first.ok());
  Json replay = first.body;
  replay["replayed"] = true;
  // Service-wide scope (NB7): another principal replays the same record.
  EXPECT_EQ(
      Interact("ix-1", "gift", 3, Headers{"service:orchestration", "2025-11-21T00:00:00.000Z"})
          .body,
      replay);
  EXPECT_EQ(Disposition(), 33);
  EXPECT_EQ(Interact("ix-1", "gift", 4).body,
            Error("ALREADY_EXISTS", {{"field", "interaction_id"}}));
  EXPECT_EQ(h_.Events().size(), 1u);
  // Kept 30 days.
  EXPECT_TRUE(Interact("ix-1", "gift", 4, Headers{"admin:test", "2025-12-20T12:00:00.000Z"}).ok());
}

TEST_F(SUITE(NpcBehaviorTest), RecordInteractionChecksInOrder) {
  auto call = [&](Json body, const Headers& h = AsPlayer()) {
    return h_.Call("record_interaction", body.dump(), h).body;
  };
  Json ok = {{"npc_id", "odrin"},
             {"interaction_id", "ix"},
             {"player_id", P},
             {"kind", "gift"},
             {"magnitude", 1}};
  auto with = [&](const char* k, Json v) {
    Json b = ok;
    b[k] = v;
    return call(b);
  };
  EXPECT_EQ(with("interaction_id", ""), InvalidArg("interaction_id", "required"));
  EXPECT_EQ(with("interaction_id", std::string(65, 'i')), InvalidArg("interaction_id", "too_long"));
  EXPECT_EQ(with("interaction_id", "ix 1"), InvalidArg("interaction_id", "pattern"));
  EXPECT_EQ(with("player_id", ""), InvalidArg("player_id", "required"));
  EXPECT_EQ(with("kind", "bribe"), InvalidArg("kind", "unknown_value"));
  EXPECT_EQ(with("magnitude", 0), InvalidArg("magnitude", "out_of_range"));
  EXPECT_EQ(with("magnitude", 11), InvalidArg("magnitude", "out_of_range"));
  EXPECT_EQ(call(ok, AsPlayer("pl_0000000000000000")), Error("PERMISSION_DENIED"));
  EXPECT_EQ(with("npc_id", "ghost"), Error("NOT_FOUND", {{"field", "npc_id"}}));
}

TEST_F(SUITE(NpcBehaviorTest), DispositionChangedEvent) {
  ASSERT_TRUE(Interact("ix-5512", "gift", 3).ok());
  std::vector<Json> events = h_.Events();
  ASSERT_EQ(events.size(), 1u);
  events[0].erase("occurred_at");
  EXPECT_EQ(events[0], Json::parse(R"({"subject":"evt.npc-behavior.v1.disposition_changed",
      "npc_id":"odrin","player_id":"pl_a8694c9d17e9b948","disposition":33,"delta":9})"));
}

}  // namespace
}  // namespace sidecar::services
