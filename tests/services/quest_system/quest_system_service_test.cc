// quest-system (SERVICES.md §2.15, §4 N20/N21, §5 Q1-Q13) through its registry: the golden
// examples, every numbered rule, the §0.4 check order, idempotent progress, pagination, events.

#include "services/quest_system/quest_system_service.h"

#include <string>

#include "gtest/gtest.h"
#include "services/common/pagination.h"
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

const std::string kMoss = "q.moss_for_the_broker";

Json Precondition(const std::string& reason, Json extra = Json::object()) {
  extra["reason"] = reason;
  return Error("FAILED_PRECONDITION", extra);
}

// A definition with one objective `obj` (collect x `required`).
Json Quest(const std::string& id, Json prerequisites = Json::array(), int required = 5) {
  return {{"quest_id", id},
          {"title", "Quest " + id},
          {"min_level", 1},
          {"prerequisites", prerequisites},
          {"objectives",
           {{{"objective_id", "obj"},
             {"kind", "collect"},
             {"target", "item.x"},
             {"required", required}}}},
          {"rewards", {{"currency", Json::array()}, {"standing", Json::array()}}},
          {"repeatable", false}};
}

Json MossQuest() {
  return Json::parse(R"({"quest_id": "q.moss_for_the_broker", "title": "Moss for the Broker",
    "min_level": 3, "prerequisites": ["q.first_contract"],
    "objectives": [{"objective_id": "collect_moss", "kind": "collect", "target": "item.grave_moss",
                    "required": 5}],
    "rewards": {"currency": [{"currency": "GLD", "amount_minor": 1500}],
                "standing": [{"faction_id": "broker_guild", "delta": 150}]},
    "repeatable": false})");
}

class SUITE(QuestSystemTest) : public ::testing::Test {
 protected:
  SUITE(QuestSystemTest)
  () : h_("quest-system", MakeQuestSystemService, /*fixtures_enabled=*/true, TestStore()) {
    EXPECT_TRUE(h_.Fixture({{"quests", {Quest("q.first_contract"), MossQuest()}}}).ok());
  }

  Reply Put(const Json& quest, const Headers& headers = {}) {
    return h_.Call("put_quest", quest.dump(), headers);
  }
  Reply Accept(const std::string& quest, int level = 5, const Headers& headers = {}) {
    return h_.Call("accept",
                   Json{{"player_id", P}, {"quest_id", quest}, {"player_level", level}}.dump(),
                   headers);
  }
  Reply Progress(const std::string& quest, const std::string& objective, int amount,
                 const std::string& key, const Headers& headers = {}) {
    return h_.Call("record_progress",
                   Json{{"player_id", P},
                        {"quest_id", quest},
                        {"objective_id", objective},
                        {"amount", amount},
                        {"idempotency_key", key}}
                       .dump(),
                   headers);
  }
  Reply Complete(const std::string& quest, const Headers& headers = {}) {
    return h_.Call("complete", Json{{"player_id", P}, {"quest_id", quest}}.dump(), headers);
  }
  Reply Revert(const std::string& quest) {
    return h_.Call("revert_completion", Json{{"player_id", P}, {"quest_id", quest}}.dump());
  }
  Reply List(Json extra = Json::object()) {
    extra["player_id"] = P;
    return h_.Call("list_player_quests", extra.dump());
  }
  // Accepts, fills and completes `quest` (objective `obj` x5).
  void Finish(const std::string& quest) {
    ASSERT_TRUE(Accept(quest).ok());
    ASSERT_TRUE(Progress(quest, "obj", 5, "fill-" + quest).ok());
    ASSERT_TRUE(Complete(quest).ok());
  }

  PortHarness h_;
};

TEST(SUITE(QuestSystemGoldenTest), EveryGoldenFileReplays) {
  auto paths = testing::GoldenPaths("quest-system");
  ASSERT_EQ(paths.size(), 2u);
  for (const auto& path : paths) testing::RunGolden(MakeQuestSystemService, path, TestStore());
}

TEST_F(SUITE(QuestSystemTest), RegistryMatchesTheProto) {
  EXPECT_TRUE(VerifyRegistry("quest-system", h_.registry()).ok());
}

// ---- rule 1: put_quest ----

TEST_F(SUITE(QuestSystemTest), PutQuestFieldChecks) {
  auto with = [&](const std::string& path, Json value) {
    Json q = Quest("q.new");
    q[Json::json_pointer(path)] = value;
    return Put(q).body;
  };
  EXPECT_EQ(with("/quest_id", "q."), InvalidArg("quest_id", "too_short"));
  EXPECT_EQ(with("/quest_id", "quest.x"), InvalidArg("quest_id", "pattern"));
  EXPECT_EQ(with("/quest_id", "q." + std::string(49, 'a')), InvalidArg("quest_id", "too_long"));
  EXPECT_EQ(with("/title", ""), InvalidArg("title", "required"));
  EXPECT_EQ(with("/title", std::string(121, 't')), InvalidArg("title", "too_long"));
  EXPECT_EQ(with("/min_level", 0), InvalidArg("min_level", "out_of_range"));
  EXPECT_EQ(with("/min_level", 101), InvalidArg("min_level", "out_of_range"));
  Json eleven = Json::array();
  for (int i = 0; i < 11; ++i) eleven.push_back("q.p" + std::to_string(i));
  EXPECT_EQ(with("/prerequisites", eleven), InvalidArg("prerequisites", "too_long"));
  EXPECT_EQ(with("/prerequisites", {"q.first_contract", "q.first_contract"}),
            InvalidArg("prerequisites[1]", "malformed"));
  EXPECT_EQ(with("/prerequisites", {"nope"}), InvalidArg("prerequisites[0]", "pattern"));
  EXPECT_EQ(with("/objectives", Json::array()), InvalidArg("objectives", "required"));
  Json dup = Quest("q.new")["objectives"];
  dup.push_back(dup[0]);
  EXPECT_EQ(with("/objectives", dup), InvalidArg("objectives[1].objective_id", "malformed"));
  EXPECT_EQ(with("/objectives/0/objective_id", "Bad"),
            InvalidArg("objectives[0].objective_id", "pattern"));
  EXPECT_EQ(with("/objectives/0/kind", "steal"), InvalidArg("objectives[0].kind", "unknown_value"));
  EXPECT_EQ(with("/objectives/0/target", ""), InvalidArg("objectives[0].target", "required"));
  EXPECT_EQ(with("/objectives/0/target", std::string(65, 't')),
            InvalidArg("objectives[0].target", "too_long"));
  EXPECT_EQ(with("/objectives/0/required", 0),
            InvalidArg("objectives[0].required", "out_of_range"));
  EXPECT_EQ(with("/objectives/0/required", 10001),
            InvalidArg("objectives[0].required", "out_of_range"));
  EXPECT_EQ(with("/rewards/currency", {{{"currency", "EUR"}, {"amount_minor", 1}}}),
            InvalidArg("rewards.currency[0].currency", "unknown_value"));
  EXPECT_EQ(with("/rewards/currency", {{{"currency", "GLD"}, {"amount_minor", 1000000001}}}),
            InvalidArg("rewards.currency[0].amount_minor", "out_of_range"));
  Json five = Json::array();
  for (int i = 0; i < 5; ++i) five.push_back({{"currency", "GLD"}, {"amount_minor", 1}});
  EXPECT_EQ(with("/rewards/currency", five), InvalidArg("rewards.currency", "too_long"));
  EXPECT_EQ(with("/rewards/standing", {{{"faction_id", "guild"}, {"delta", 0}}}),
            InvalidArg("rewards.standing[0].delta", "out_of_range"));
  EXPECT_EQ(with("/rewards/standing", {{{"faction_id", "guild"}, {"delta", -1001}}}),
            InvalidArg("rewards.standing[0].delta", "out_of_range"));
  EXPECT_EQ(with("/rewards/standing", {{{"faction_id", "Guild"}, {"delta", 5}}}),
            InvalidArg("rewards.standing[0].faction_id", "pattern"));
  EXPECT_TRUE(Put([] {
                Json q = Quest("q.new");
                q["rewards"]["standing"] = {{{"faction_id", "0_guild"}, {"delta", -1000}}};
                return q;
              }())
                  .ok());
}

TEST_F(SUITE(QuestSystemTest), PutQuestIsAServiceWriteAndBumpsTheVersion) {
  EXPECT_EQ(Put(Quest("q.new"), AsPlayer()).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(Put(Quest("q.new")).body, Json({{"quest_id", "q.new"}, {"version", 1}}));
  EXPECT_EQ(Put(Quest("q.new")).body, Json({{"quest_id", "q.new"}, {"version", 2}}));
}

TEST_F(SUITE(QuestSystemTest), PrerequisiteChecksSelfCycleThenNotFoundThenCycles) {
  // Q1: a self-reference is a cycle before anything else, whether or not the quest exists.
  EXPECT_EQ(Put(Quest("q.new", {"q.missing", "q.new"})).body, Precondition("prerequisite_cycle"));
  EXPECT_EQ(Put(Quest("q.new", {"q.first_contract", "q.missing"})).body,
            Error("NOT_FOUND", {{"field", "prerequisites[1]"}}));
  ASSERT_TRUE(Put(Quest("q.b", {kMoss})).ok());
  // first_contract -> b -> moss -> first_contract closes a cycle.
  EXPECT_EQ(Put(Quest("q.first_contract", {"q.b"})).body, Precondition("prerequisite_cycle"));
}

// ---- rule 2: accept ----

TEST_F(SUITE(QuestSystemTest), AcceptChecksInOrder) {
  EXPECT_EQ(Accept("q.unknown").body, Error("NOT_FOUND", {{"field", "quest_id"}}));
  EXPECT_EQ(Accept(kMoss, 2).body, Precondition("level_too_low"));
  EXPECT_EQ(Accept(kMoss, 5, AsPlayer()).body,
            Precondition("prerequisites_unmet", {{"missing", "q.first_contract"}}));
  Finish("q.first_contract");
  Reply r = Accept(kMoss, 5, AsPlayer());
  EXPECT_EQ(r.body, Json::parse(R"({"quest_id":"q.moss_for_the_broker","status":"active",
                                    "progress":{"collect_moss":0}})"));
  EXPECT_EQ(Accept(kMoss).body, Error("ALREADY_EXISTS", {{"field", "quest_id"}}));
  ASSERT_TRUE(Progress(kMoss, "collect_moss", 5, "k").ok());
  ASSERT_TRUE(Complete(kMoss).ok());
  EXPECT_EQ(Accept(kMoss).body, Precondition("already_completed"));
}

TEST_F(SUITE(QuestSystemTest), MissingPrerequisitesAreSortedAndCommaJoined) {
  ASSERT_TRUE(Put(Quest("q.zeta")).ok());
  ASSERT_TRUE(Put(Quest("q.alpha")).ok());
  ASSERT_TRUE(Put(Quest("q.gated", {"q.zeta", "q.first_contract", "q.alpha"})).ok());
  Finish("q.first_contract");
  EXPECT_EQ(Accept("q.gated").body,
            Precondition("prerequisites_unmet", {{"missing", "q.alpha,q.zeta"}}));
}

TEST_F(SUITE(QuestSystemTest), AcceptFieldsAndScope) {
  EXPECT_EQ(Accept(kMoss, 1001).body, InvalidArg("player_level", "out_of_range"));
  EXPECT_EQ(Accept(kMoss, -1).body, InvalidArg("player_level", "out_of_range"));
  EXPECT_EQ(h_.Call("accept", R"({"player_id":"pl_XYZ","quest_id":"q.x"})").body,
            InvalidArg("player_id", "pattern"));
  EXPECT_EQ(Accept(kMoss, 5, AsPlayer("pl_0000000000000000")).body, Error("PERMISSION_DENIED"));
  // Fields come before authorization.
  EXPECT_EQ(Accept("bad", 5, AsPlayer("pl_0000000000000000")).body,
            InvalidArg("quest_id", "pattern"));
}

TEST_F(SUITE(QuestSystemTest), AtMost25ActiveQuests) {
  for (int i = 0; i < 26; ++i) ASSERT_TRUE(Put(Quest("q.n" + std::to_string(i))).ok());
  for (int i = 0; i < 25; ++i) ASSERT_TRUE(Accept("q.n" + std::to_string(i)).ok()) << i;
  EXPECT_EQ(Accept("q.n25").body,
            Error("RESOURCE_EXHAUSTED", {{"reason", "limit_exceeded"}, {"limit", "25"}}));
  // Completing one frees a slot.
  ASSERT_TRUE(Progress("q.n0", "obj", 5, "k0").ok());
  ASSERT_TRUE(Complete("q.n0").ok());
  EXPECT_TRUE(Accept("q.n25").ok());
}

TEST_F(SUITE(QuestSystemTest), RepeatableQuestRestartsAtZeroAndKeepsCompletions) {
  Json q = Quest("q.daily");
  q["repeatable"] = true;
  ASSERT_TRUE(Put(q).ok());
  Finish("q.daily");
  Reply again =
      h_.Call("accept", Json{{"player_id", P}, {"quest_id", "q.daily"}, {"player_level", 1}}.dump(),
              Headers{"admin:test", "2025-11-21T08:00:00.000Z"});
  EXPECT_EQ(again.body["progress"], Json({{"obj", 0}}));
  Json listed = List().body["quests"];
  Json daily;
  for (const Json& x : listed)
    if (x["quest_id"] == "q.daily") daily = x;
  EXPECT_EQ(daily, Json::parse(R"({"player_id":"pl_a8694c9d17e9b948","quest_id":"q.daily",
      "status":"active","progress":{"obj":0},"completions":1,
      "accepted_at":"2025-11-21T08:00:00.000Z","completed_at":""})"));
}

// ---- rule 3: record_progress ----

TEST_F(SUITE(QuestSystemTest), RecordProgressChecksInOrder) {
  EXPECT_EQ(Progress(kMoss, "collect_moss", 0, "k").body, InvalidArg("amount", "out_of_range"));
  EXPECT_EQ(Progress(kMoss, "collect_moss", 1001, "k").body, InvalidArg("amount", "out_of_range"));
  EXPECT_EQ(Progress(kMoss, "collect_moss", 1, "").body, InvalidArg("idempotency_key", "required"));
  EXPECT_EQ(Progress(kMoss, "collect_moss", 1, "a b").body,
            InvalidArg("idempotency_key", "pattern"));
  EXPECT_EQ(Progress("q.unknown", "collect_moss", 1, "k").body,
            Error("NOT_FOUND", {{"field", "quest_id"}}));
  EXPECT_EQ(Progress(kMoss, "other", 1, "k").body, Error("NOT_FOUND", {{"field", "objective_id"}}));
  // Never accepted -> not_active (N21); the failure leaves the key free.
  EXPECT_EQ(Progress(kMoss, "collect_moss", 1, "k").body, Precondition("not_active"));
  Finish("q.first_contract");
  ASSERT_TRUE(Accept(kMoss).ok());
  EXPECT_EQ(Progress(kMoss, "collect_moss", 2, "k").body,
            Json::parse(R"({"progress":{"collect_moss":2},"all_done":false,"replayed":false})"));
}

TEST_F(SUITE(QuestSystemTest), RecordProgressIsIdempotentAndClamped) {
  Finish("q.first_contract");
  ASSERT_TRUE(Accept(kMoss).ok());
  ASSERT_TRUE(Progress(kMoss, "collect_moss", 3, "k1").ok());
  EXPECT_EQ(Progress(kMoss, "collect_moss", 3, "k1").body,
            Json::parse(R"({"progress":{"collect_moss":3},"all_done":false,"replayed":true})"));
  EXPECT_EQ(Progress(kMoss, "collect_moss", 4, "k1").body,
            Error("ALREADY_EXISTS", {{"field", "idempotency_key"}}));
  EXPECT_EQ(Progress(kMoss, "collect_moss", 900, "k2").body,
            Json::parse(R"({"progress":{"collect_moss":5},"all_done":true,"replayed":false})"));
  // Q13: at required already -> success, unchanged.
  EXPECT_EQ(Progress(kMoss, "collect_moss", 1, "k3").body["progress"], Json({{"collect_moss", 5}}));
}

// ---- rule 4: complete ----

TEST_F(SUITE(QuestSystemTest), CompleteNeedsAnActiveQuestWithEveryObjectiveDone) {
  Json q = Quest("q.multi");
  q["objectives"] = Json::parse(R"([
      {"objective_id":"z_last","kind":"kill","target":"npc.x","required":1},
      {"objective_id":"a_first","kind":"visit","target":"loc.y","required":2},
      {"objective_id":"m_mid","kind":"talk","target":"npc.z","required":1}])");
  ASSERT_TRUE(Put(q).ok());
  EXPECT_EQ(Complete("q.multi").body, Precondition("not_active"));  // never accepted (Q7)
  ASSERT_TRUE(Accept("q.multi").ok());
  ASSERT_TRUE(Progress("q.multi", "m_mid", 1, "p").ok());
  // Q8: definition order.
  EXPECT_EQ(Complete("q.multi").body,
            Precondition("objectives_incomplete", {{"incomplete", "z_last,a_first"}}));
  EXPECT_EQ(Complete("q.multi", AsPlayer()).body, Error("PERMISSION_DENIED"));
  ASSERT_TRUE(Progress("q.multi", "z_last", 1, "p2").ok());
  ASSERT_TRUE(Progress("q.multi", "a_first", 2, "p3").ok());
  Reply done = Complete("q.multi");
  EXPECT_EQ(done.body, Json::parse(R"({"quest_id":"q.multi","status":"completed","completions":1,
                                       "rewards":{"currency":[],"standing":[]}})"));
  EXPECT_EQ(Complete("q.multi").body, Precondition("not_active"));  // already completed
}

// ---- rule 5: revert_completion ----

TEST_F(SUITE(QuestSystemTest), RevertCompletionReopensTheQuestAndKeepsProgress) {
  EXPECT_EQ(Revert("q.first_contract").body, Precondition("not_completed"));  // Q9
  EXPECT_EQ(Revert("q.unknown").body, Error("NOT_FOUND", {{"field", "quest_id"}}));
  Finish("q.first_contract");
  EXPECT_EQ(Revert("q.first_contract").body,
            Json::parse(R"({"quest_id":"q.first_contract","status":"active","completions":0})"));
  EXPECT_EQ(Revert("q.first_contract").body, Precondition("not_completed"));
  Json listed = List().body["quests"][0];
  EXPECT_EQ(listed["progress"], Json({{"obj", 5}}));
  EXPECT_EQ(listed["completed_at"], "");  // Q10
  EXPECT_EQ(h_.Call("revert_completion",
                    Json{{"player_id", P}, {"quest_id", "q.first_contract"}}.dump(), AsPlayer())
                .body,
            Error("PERMISSION_DENIED"));
}

// ---- rule 6: redefinition ----

TEST_F(SUITE(QuestSystemTest), RedefinitionDropsRemovedProgressStartsNewAtZeroAndClamps) {
  Json q = Quest("q.shift");
  q["objectives"] = Json::parse(R"([
      {"objective_id":"keep","kind":"kill","target":"npc.x","required":10},
      {"objective_id":"gone","kind":"visit","target":"loc.y","required":5}])");
  ASSERT_TRUE(Put(q).ok());
  ASSERT_TRUE(Accept("q.shift").ok());
  ASSERT_TRUE(Progress("q.shift", "keep", 8, "a").ok());
  ASSERT_TRUE(Progress("q.shift", "gone", 4, "b").ok());
  // v2: `keep` lowered to 6 (clamps 8 -> 6), `gone` removed, `fresh` added.
  q["objectives"] = Json::parse(R"([
      {"objective_id":"keep","kind":"kill","target":"npc.x","required":6},
      {"objective_id":"fresh","kind":"talk","target":"npc.z","required":3}])");
  ASSERT_TRUE(Put(q).ok());
  EXPECT_EQ(List().body["quests"][0]["progress"], Json({{"keep", 6}, {"fresh", 0}}));
  // v3: `keep` raised again (the clamp stays: Q11), `gone` back (starts at 0, not 4).
  q["objectives"] = Json::parse(R"([
      {"objective_id":"keep","kind":"kill","target":"npc.x","required":10},
      {"objective_id":"gone","kind":"visit","target":"loc.y","required":5}])");
  ASSERT_TRUE(Put(q).ok());
  EXPECT_EQ(List().body["quests"][0]["progress"], Json({{"keep", 6}, {"gone", 0}}));
  EXPECT_EQ(Progress("q.shift", "keep", 1, "c").body["progress"], Json({{"keep", 7}, {"gone", 0}}));
}

TEST_F(SUITE(QuestSystemTest), ListOrdersByQuestIdFiltersAndPaginates) {
  for (const char* id : {"q.c", "q.a", "q.b"}) {
    ASSERT_TRUE(Put(Quest(id)).ok());
    ASSERT_TRUE(Accept(id).ok());
  }
  Finish("q.first_contract");
  Reply page1 = List({{"page_size", 2}});
  ASSERT_TRUE(page1.ok()) << page1;
  ASSERT_EQ(page1.body["quests"].size(), 2u);
  EXPECT_EQ(page1.body["quests"][0]["quest_id"], "q.a");
  EXPECT_EQ(page1.body["quests"][1]["quest_id"], "q.b");
  EXPECT_EQ(page1.body["next_page_token"], EncodePageToken("q.b"));
  Reply page2 = List({{"page_size", 2}, {"page_token", page1.body["next_page_token"]}});
  ASSERT_EQ(page2.body["quests"].size(), 2u);
  EXPECT_EQ(page2.body["quests"][1]["quest_id"], "q.first_contract");
  EXPECT_EQ(page2.body["next_page_token"], "");  // a page ending at the last item (R9)
  Reply completed = List({{"status", "completed"}});
  ASSERT_EQ(completed.body["quests"].size(), 1u);
  EXPECT_EQ(completed.body["quests"][0]["completed_at"], "2025-11-20T12:00:00.000Z");
  EXPECT_EQ(List({{"status", "failed"}}).body, InvalidArg("status", "unknown_value"));
  EXPECT_EQ(List({{"page_size", 101}}).body, InvalidArg("page_size", "out_of_range"));
  EXPECT_EQ(List({{"page_token", "!!"}}).body, InvalidArg("page_token", "malformed"));
  EXPECT_EQ(
      h_.Call("list_player_quests", Json{{"player_id", P}}.dump(), AsPlayer("pl_0000000000000000"))
          .body,
      Error("PERMISSION_DENIED"));
}

// ---- events ----

TEST_F(SUITE(QuestSystemTest), EventsFollowAcceptCompleteAndRevert) {
  Finish("q.first_contract");
  ASSERT_TRUE(Revert("q.first_contract").ok());
  std::vector<Json> events = h_.Events();
  for (Json& e : events) e.erase("occurred_at");
  EXPECT_EQ(Json(events), Json::parse(R"([
    {"subject":"evt.quest-system.v1.quest_accepted","player_id":"pl_a8694c9d17e9b948","quest_id":"q.first_contract"},
    {"subject":"evt.quest-system.v1.quest_completed","player_id":"pl_a8694c9d17e9b948","quest_id":"q.first_contract","completions":1},
    {"subject":"evt.quest-system.v1.quest_completion_reverted","player_id":"pl_a8694c9d17e9b948","quest_id":"q.first_contract"}])"));
}

}  // namespace
}  // namespace sidecar::services
