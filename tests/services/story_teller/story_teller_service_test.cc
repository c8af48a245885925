// story-teller (SERVICES.md §2.22, §4 N7/N31, §6 ST1-ST12) through its registry: the golden
// examples, every rule, the §0.4 / ST6 / ST9 check orders, events and the ai-router narration
// call. ai-router is being ported elsewhere, so a fake Service named "ai-router" answers `route`
// here (the LocalDependencyClient hosts any Service under its name()).

#include "services/story_teller/story_teller_service.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "ai_router/v1/ai_router.pb.h"
#include "gtest/gtest.h"
#include "services/common/determinism.h"
#include "story_teller/v1/story_teller.pb.h"
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
const std::string kOther = "pl_00000000000000ff";
const std::string kSession = "ss_aa155055bb963471";  // §2.22 Example 1

// ai-router's `route`, answering "[narrated] <user content>" and keeping what it was asked.
struct FakeRouterLog {
  std::vector<::ai_router::v1::RouteRequest> requests;
};
class FakeAiRouter final : public Service {
 public:
  explicit FakeAiRouter(std::shared_ptr<FakeRouterLog> log) : log_(std::move(log)) {}
  std::string_view name() const override { return "ai-router"; }
  void Register(HandlerRegistry& r) override {
    r.AddSync<::ai_router::v1::RouteRequest, ::ai_router::v1::RouteResponse>(
        "route",
        [log = log_](const CallContext&, const ::ai_router::v1::RouteRequest& rq)
            -> absl::StatusOr<::ai_router::v1::RouteResponse> {
          log->requests.push_back(rq);
          ::ai_router::v1::RouteResponse out;
          out.set_text("[narrated] " + rq.messages(rq.messages_size() - 1).content());
          out.set_model_id("echo-small");
          return out;
        });
  }

 private:
  std::shared_ptr<FakeRouterLog> log_;
};

Json GivenStory() {
  return Json::parse(R"({"story_id":"the-unpaid-debt","start_node":"gate","nodes":[
    {"node_id":"gate","text":"A hooded creditor blocks the road to Vell.","choices":[
      {"choice_id":"pay","label":"Settle the debt","next_node":"paid","require_var":"coin","require_min":50},
      {"choice_id":"bluff","label":"Claim the debt is void","next_node":"bluff_roll"}]},
    {"node_id":"bluff_roll","fate":[{"next_node":"bluff_ok","weight":40},{"next_node":"bluff_fail","weight":60}]},
    {"node_id":"bluff_ok","text":"The creditor hesitates, then steps aside.","end":true},
    {"node_id":"bluff_fail","text":"The creditor writes your name in a black ledger.","effects":{"infamy":1},"end":true},
    {"node_id":"paid","text":"Coins change hands; the road is open.","effects":{"coin":-50},"end":true}]})");
}

class SUITE(StoryTellerTest) : public ::testing::Test {
 protected:
  SUITE(StoryTellerTest)
  ()
      : log_(std::make_shared<FakeRouterLog>()),
        h_("story-teller", MakeStoryTellerService, true, TestStore(),
           {[log = log_](const ServiceDeps&) -> ServicePtr {
             return std::make_unique<FakeAiRouter>(log);
           }}) {
    Json story = GivenStory();
    story["version"] = 1;
    EXPECT_TRUE(h_.Fixture(Json{{"stories", {story}}}).ok());
  }

  Reply PutStory(const Json& story, const Headers& headers = {}) {
    return h_.Call("put_story", story.dump(), headers);
  }
  Reply Start(Json body = Json::object(), const Headers& headers = AsPlayer()) {
    Json b = {{"player_id", P}, {"story_id", "the-unpaid-debt"}, {"vars", {{"coin", 20}}}};
    if (body.is_object()) b.update(body);
    return h_.Call("start_session", b.dump(), headers);
  }
  Reply Choose(const std::string& choice, int64_t step, const Headers& headers = AsPlayer(),
               const std::string& session = kSession, const std::string& perf_mode = "") {
    return h_.Call("choose",
                   Json{{"session_id", session},
                        {"choice_id", choice},
                        {"expected_step", step},
                        {"perf_mode", perf_mode}}
                       .dump(),
                   headers);
  }
  Reply Get(const std::string& session = kSession, const Headers& headers = AsPlayer()) {
    return h_.Call("get_session", Json{{"session_id", session}}.dump(), headers);
  }
  // A story whose start node is a chain of `fates` single-edge fate nodes ending at an end node.
  static Json FateChain(int fates) {
    Json nodes = Json::array();
    for (int i = 0; i < fates; ++i) {
      nodes.push_back({{"node_id", "f" + std::to_string(i)},
                       {"fate", {{{"next_node", "f" + std::to_string(i + 1)}, {"weight", 1}}}}});
    }
    nodes.push_back({{"node_id", "f" + std::to_string(fates)}, {"text", "end"}, {"end", true}});
    return {{"story_id", "chain"}, {"start_node", "f0"}, {"nodes", nodes}};
  }
  std::vector<std::string> EventNames() {
    std::vector<std::string> names;
    for (const Json& e : h_.Events()) names.push_back(e["subject"]);
    return names;
  }
  std::vector<::ai_router::v1::RouteRequest> RouterRequests() {
    return *h_.loop().Await<std::vector<::ai_router::v1::RouteRequest>>(
        [&](auto done) { std::move(done)(log_->requests); });
  }

  std::shared_ptr<FakeRouterLog> log_;
  PortHarness h_;
};

TEST(SUITE(StoryTellerGoldenTest), EveryGoldenFileReplays) {
  auto paths = testing::GoldenPaths("story-teller");
  ASSERT_EQ(paths.size(), 2u);
  for (const auto& path : paths) testing::RunGolden(MakeStoryTellerService, path, TestStore());
}

TEST_F(SUITE(StoryTellerTest), RegistryMatchesTheProto) {
  EXPECT_TRUE(VerifyRegistry("story-teller", h_.registry()).ok());
}

// ---- put_story (rule 1, ST1-ST4) ----

TEST_F(SUITE(StoryTellerTest), EveryPutBumpsTheVersionEvenWhenIdentical) {
  Json story = GivenStory();
  EXPECT_EQ(PutStory(story).body, Json({{"story_id", "the-unpaid-debt"}, {"version", 2}}));
  EXPECT_EQ(PutStory(story).body, Json({{"story_id", "the-unpaid-debt"}, {"version", 3}}));
  story["story_id"] = "fresh";
  EXPECT_EQ(PutStory(story).body, Json({{"story_id", "fresh"}, {"version", 1}}));
  EXPECT_TRUE(h_.Events().empty());  // ST4: no event
  EXPECT_EQ(PutStory(story, AsPlayer()).body, Error("PERMISSION_DENIED"));
  Json bad = story;
  bad["nodes"] = Json::array();
  EXPECT_EQ(PutStory(bad, AsPlayer()).body, InvalidArg("nodes", "required"));  // fields first
}

TEST_F(SUITE(StoryTellerTest), PutStoryFieldChecks) {
  auto with = [&](const std::function<void(Json&)>& edit) {
    Json s = GivenStory();
    edit(s);
    return PutStory(s).body;
  };
  EXPECT_EQ(with([](Json& s) { s["story_id"] = "Bad_Id"; }), InvalidArg("story_id", "pattern"));
  EXPECT_EQ(with([](Json& s) { s["start_node"] = ""; }), InvalidArg("start_node", "required"));
  EXPECT_EQ(with([](Json& s) {
              Json many = Json::array();
              for (int i = 0; i < 201; ++i)
                many.push_back({{"node_id", "n" + std::to_string(i)}, {"end", true}});
              s["nodes"] = many;
            }),
            InvalidArg("nodes", "too_long"));
  EXPECT_EQ(with([](Json& s) { s["nodes"][2]["node_id"] = "gate"; }),
            InvalidArg("nodes[2].node_id", "malformed"));  // ST2: the later duplicate
  EXPECT_EQ(with([](Json& s) { s["nodes"][2]["text"] = std::string(2001, 't'); }),
            InvalidArg("nodes[2].text", "too_long"));
  EXPECT_EQ(with([](Json& s) { s["nodes"][0]["choices"][1]["choice_id"] = "pay"; }),
            InvalidArg("nodes[0].choices[1].choice_id", "malformed"));
  EXPECT_EQ(with([](Json& s) { s["nodes"][0]["choices"][1]["label"] = ""; }),
            InvalidArg("nodes[0].choices[1].label", "required"));
  EXPECT_EQ(with([](Json& s) { s["nodes"][0]["choices"][1]["label"] = std::string(201, 'l'); }),
            InvalidArg("nodes[0].choices[1].label", "too_long"));
  EXPECT_EQ(with([](Json& s) { s["nodes"][0]["choices"][0]["require_var"] = "Coin"; }),
            InvalidArg("nodes[0].choices[0].require_var", "pattern"));
  EXPECT_EQ(with([](Json& s) { s["nodes"][1]["fate"][0]["weight"] = 1001; }),
            InvalidArg("nodes[1].fate[0].weight", "out_of_range"));
  EXPECT_EQ(with([](Json& s) { s["nodes"][1]["fate"][0]["weight"] = 0; }),
            InvalidArg("nodes[1].fate[0].weight", "out_of_range"));
  EXPECT_EQ(with([](Json& s) {
              s["nodes"][3]["effects"] = {{"Infamy", 1}};
            }),
            InvalidArg("nodes[3].effects.Infamy", "pattern"));
  EXPECT_EQ(with([](Json& s) {
              Json many = Json::object();
              for (int i = 0; i < 33; ++i) many[std::string(1, 'a') + std::string(i + 1, 'b')] = 1;
              s["nodes"][3]["effects"] = many;
            }),
            InvalidArg("nodes[3].effects", "too_long"));
  EXPECT_EQ(with([](Json& s) {
              Json seven = Json::array();
              for (int i = 0; i < 7; ++i) seven.push_back({{"next_node", "paid"}, {"weight", 1}});
              s["nodes"][1]["fate"] = seven;
            }),
            InvalidArg("nodes[1].fate", "too_long"));
  // ST1: none -> choices required; several -> the later of fate, end malformed.
  EXPECT_EQ(with([](Json& s) { s["nodes"][2]["end"] = false; }),
            InvalidArg("nodes[2].choices", "required"));
  EXPECT_EQ(with([](Json& s) { s["nodes"][1]["end"] = true; }),
            InvalidArg("nodes[1].end", "malformed"));
  EXPECT_EQ(with([](Json& s) {
              s["nodes"][0]["fate"] = {{{"next_node", "paid"}, {"weight", 1}}};
            }),
            InvalidArg("nodes[0].fate", "malformed"));
  EXPECT_EQ(with([](Json& s) {
              s["nodes"][0]["fate"] = {{{"next_node", "paid"}, {"weight", 1}}};
              s["nodes"][0]["end"] = true;
            }),
            InvalidArg("nodes[0].end", "malformed"));
  // ST3: references after every per-field check; start_node first, then node/choice/fate order.
  EXPECT_EQ(with([](Json& s) {
              s["start_node"] = "nowhere";
              s["nodes"][0]["choices"][0]["next_node"] = "nowhere";
            }),
            InvalidArg("start_node", "unknown_value"));
  EXPECT_EQ(with([](Json& s) {
              s["nodes"][0]["choices"][1]["next_node"] = "nowhere";
              s["nodes"][4]["text"] = std::string(2001, 'x');
            }),
            InvalidArg("nodes[4].text", "too_long"));
  EXPECT_EQ(with([](Json& s) {
              s["nodes"][0]["choices"][1]["next_node"] = "nowhere";
              s["nodes"][1]["fate"][0]["next_node"] = "nowhere";
            }),
            InvalidArg("nodes[0].choices[1].next_node", "unknown_value"));
  EXPECT_EQ(with([](Json& s) { s["nodes"][1]["fate"][1]["next_node"] = "nowhere"; }),
            InvalidArg("nodes[1].fate[1].next_node", "unknown_value"));
}

TEST_F(SUITE(StoryTellerTest), SessionsKeepTheirPinnedVersion) {
  ASSERT_TRUE(Start().ok());
  Json v2 = GivenStory();
  v2["nodes"][2]["text"] = "Rewritten.";
  v2["nodes"][0]["text"] = "Rewritten gate.";
  ASSERT_EQ(PutStory(v2).body["version"], 2);
  EXPECT_EQ(Get().body["text"], "A hooded creditor blocks the road to Vell.");
  Reply chose = Choose("bluff", 0);
  EXPECT_EQ(chose.body["text"], "The creditor hesitates, then steps aside.");
  ASSERT_EQ(PutStory(v2).body["version"], 3);
  EXPECT_EQ(Get().body["text"], "The creditor hesitates, then steps aside.");  // v1 still read
  // A new session (finished one replaced) uses the latest version (ST6).
  EXPECT_EQ(Start().body["text"], "Rewritten gate.");
}

// ---- start_session (rule 2-3, ST5-ST8, ST12) ----

TEST_F(SUITE(StoryTellerTest), StartSessionFieldChecksThenScopeThenStory) {
  EXPECT_EQ(Start({{"player_id", ""}}).body, InvalidArg("player_id", "required"));
  EXPECT_EQ(Start({{"player_id", "pl_XYZ"}}).body, InvalidArg("player_id", "pattern"));
  EXPECT_EQ(Start({{"story_id", ""}}).body, InvalidArg("story_id", "required"));
  EXPECT_EQ(Start({{"story_id", "Bad"}}).body, InvalidArg("story_id", "pattern"));
  EXPECT_EQ(Start({{"seed", std::string(129, 's')}}).body, InvalidArg("seed", "too_long"));
  Json many = Json::object();
  for (int i = 0; i < 33; ++i) many["v" + std::string(i + 1, 'a')] = i;
  EXPECT_EQ(Start({{"vars", many}}).body, InvalidArg("vars", "too_long"));
  EXPECT_EQ(Start({{"vars", {{"Coin", 1}}}}).body, InvalidArg("vars.Coin", "pattern"));
  EXPECT_EQ(Start({{"vars", {{std::string(33, 'c'), 1}}}}).body,
            InvalidArg("vars." + std::string(33, 'c'), "too_long"));
  EXPECT_EQ(Start({{"perf_mode", "max"}}).body, InvalidArg("perf_mode", "unknown_value"));
  // ST6 order: fields -> PERMISSION_DENIED -> NOT_FOUND story_id.
  EXPECT_EQ(Start({{"story_id", "missing"}}, AsPlayer(kOther)).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(Start({{"story_id", "missing"}}).body, Error("NOT_FOUND", {{"field", "story_id"}}));
  EXPECT_TRUE(Start({}, Headers{"service:game", std::string(testing::kSpecTime)}).ok());
}

TEST_F(SUITE(StoryTellerTest), AnActiveSessionNeedsRestart) {
  ASSERT_TRUE(Start().ok());
  ASSERT_TRUE(
      h_.Call("choose", Json{{"session_id", kSession}, {"choice_id", "nope"}}.dump(), AsPlayer())
          .status == 404);
  Reply again = Start();
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.body, Error("ALREADY_EXISTS", {{"field", "session_id"}}));
  // restart: step 0, vars = request vars, path [start].
  Reply restarted = Start({{"restart", true}, {"vars", {{"coin", 70}}}});
  ASSERT_TRUE(restarted.ok()) << restarted;
  EXPECT_EQ(restarted.body["vars"], Json({{"coin", 70}}));
  EXPECT_EQ(restarted.body["choices"][0]["available"], true);
  EXPECT_EQ(EventNames(), (std::vector<std::string>{"evt.story-teller.v1.session_started",
                                                    "evt.story-teller.v1.session_started"}));
  // A finished session is replaced without restart (N31).
  Reply paid = Choose("pay", 0);
  ASSERT_TRUE(paid.ok()) << paid;
  EXPECT_EQ(paid.body["vars"], Json({{"coin", 20}}));  // 70 - 50 (rule 3 effects)
  EXPECT_EQ(paid.body["status"], "finished");
  Reply replaced = Start();
  ASSERT_TRUE(replaced.ok()) << replaced;
  EXPECT_EQ(replaced.body["step"], 0);
  EXPECT_EQ(replaced.body["status"], "active");
}

TEST_F(SUITE(StoryTellerTest), StartSessionEventsAndAnEndStartNode) {
  Json one = {
      {"story_id", "one-shot"},
      {"start_node", "only"},
      {"nodes",
       {{{"node_id", "only"}, {"text", "Done."}, {"end", true}, {"effects", {{"luck", 2}}}}}}};
  ASSERT_TRUE(PutStory(one).ok());
  Reply r = Start({{"story_id", "one-shot"}, {"vars", Json::object()}});
  ASSERT_TRUE(r.ok()) << r;
  const std::string id = DerivedId("ss", P + ":one-shot");
  EXPECT_EQ(r.body, Json({{"session_id", id},
                          {"story_id", "one-shot"},
                          {"status", "finished"},
                          {"step", 0},
                          {"node_id", "only"},
                          {"text", "Done."},
                          {"choices", Json::array()},
                          {"vars", {{"luck", 2}}},
                          {"path", {"only"}},
                          {"narration", ""},
                          {"narration_error", ""}}));
  std::vector<Json> events = h_.Events();
  ASSERT_EQ(events.size(), 2u);  // ST12: started, then finished
  EXPECT_EQ(events[0], Json({{"subject", "evt.story-teller.v1.session_started"},
                             {"occurred_at", "2025-11-20T12:00:00.000Z"},
                             {"session_id", id},
                             {"story_id", "one-shot"},
                             {"player_id", P}}));
  EXPECT_EQ(events[1], Json({{"subject", "evt.story-teller.v1.session_finished"},
                             {"occurred_at", "2025-11-20T12:00:00.000Z"},
                             {"session_id", id},
                             {"node_id", "only"}}));
}

TEST_F(SUITE(StoryTellerTest), SixteenEntriesPassTheSeventeenthFailsAndNothingIsSaved) {
  Json ok = FateChain(15);  // 15 fate nodes + the end node = 16 entries (ST8)
  ASSERT_TRUE(PutStory(ok).ok());
  Reply r = Start({{"story_id", "chain"}});
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["path"].size(), 16u);
  EXPECT_EQ(r.body["node_id"], "f15");
  ASSERT_TRUE(PutStory(FateChain(16)).ok());
  h_.ClearEvents();
  Reply too_long = Start({{"story_id", "chain"}});
  EXPECT_EQ(too_long.body, Error("FAILED_PRECONDITION", {{"reason", "fate_chain_too_long"}}));
  // ST7: the previous (finished) session is untouched, no event.
  EXPECT_EQ(Get(DerivedId("ss", P + ":chain")).body["path"].size(), 16u);
  EXPECT_TRUE(h_.Events().empty());
}

TEST_F(SUITE(StoryTellerTest), AFateLoopFailsInChooseAndLeavesTheSession) {
  Json loop = {
      {"story_id", "loop"},
      {"start_node", "door"},
      {"nodes",
       {{{"node_id", "door"},
         {"choices", {{{"choice_id", "spin"}, {"label", "Spin"}, {"next_node", "wheel"}}}}},
        {{"node_id", "wheel"}, {"fate", {{{"next_node", "wheel"}, {"weight", 5}}}}}}}};
  ASSERT_TRUE(PutStory(loop).ok());
  const std::string id = DerivedId("ss", P + ":loop");
  ASSERT_TRUE(Start({{"story_id", "loop"}}).ok());
  EXPECT_EQ(Choose("spin", 0, AsPlayer(), id).body,
            Error("FAILED_PRECONDITION", {{"reason", "fate_chain_too_long"}}));
  Reply still = Get(id);
  EXPECT_EQ(still.body["step"], 0);
  EXPECT_EQ(still.body["node_id"], "door");
}

TEST_F(SUITE(StoryTellerTest), FateDrawsUseTheSessionSeed) {
  // rng(seed + ":" + node_id + ":" + visits): with seed "s1" the draw is uniform(100) of that.
  Rng rng("s1:bluff_roll:1");
  const std::string expected = rng.Uniform(100) < 40 ? "bluff_ok" : "bluff_fail";
  ASSERT_TRUE(Start({{"seed", "s1"}}).ok());
  Reply r = Choose("bluff", 0);
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["node_id"], expected);
  EXPECT_EQ(r.body["path"], Json({"bluff_roll", expected}));
}

// ---- choose (rule 4-5, ST9) ----

TEST_F(SUITE(StoryTellerTest), ChooseCheckOrder) {
  EXPECT_EQ(Choose("", 0).body, InvalidArg("choice_id", "required"));
  EXPECT_EQ(Choose("Bad", 0).body, InvalidArg("choice_id", "pattern"));
  EXPECT_EQ(Choose("bluff", 0, AsPlayer(), kSession, "turbo").body,
            InvalidArg("perf_mode", "unknown_value"));
  EXPECT_EQ(h_.Call("choose", R"({"choice_id":"bluff"})", AsPlayer()).body,
            InvalidArg("session_id", "required"));
  EXPECT_EQ(Choose("bluff", 0).body, Error("NOT_FOUND", {{"field", "session_id"}}));
  ASSERT_TRUE(Start().ok());
  EXPECT_EQ(Choose("bluff", 0, AsPlayer(kOther)).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(Choose("bluff", 3).body, Error("FAILED_PRECONDITION", {{"reason", "stale_step"}}));
  EXPECT_EQ(Choose("dance", 3).body, Error("FAILED_PRECONDITION", {{"reason", "stale_step"}}));
  EXPECT_EQ(Choose("dance", 0).body, Error("NOT_FOUND", {{"field", "choice_id"}}));
  EXPECT_EQ(Choose("pay", 0).body,
            Error("FAILED_PRECONDITION", {{"reason", "requirement_not_met"}}));
  h_.ClearEvents();
  Reply r = Choose("bluff", 0, Headers{"admin:ops", std::string(testing::kSpecTime)});
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["step"], 1);
  std::vector<Json> events = h_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["subject"], "evt.story-teller.v1.session_finished");
  EXPECT_EQ(events[0]["node_id"], "bluff_ok");
  // Finished before stale_step (ST9).
  EXPECT_EQ(Choose("bluff", 0).body, Error("FAILED_PRECONDITION", {{"reason", "finished"}}));
}

TEST_F(SUITE(StoryTellerTest), AChoiceWithARequirementOpensAtTheMinimum) {
  ASSERT_TRUE(Start({{"vars", {{"coin", 50}}}}).ok());
  Reply r = Choose("pay", 0);
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["node_id"], "paid");
  EXPECT_EQ(r.body["vars"], Json({{"coin", 0}}));
  EXPECT_EQ(r.body["path"], Json({"paid"}));
}

// ---- get_session (ST9, ST10) ----

TEST_F(SUITE(StoryTellerTest), GetSessionShowsTheLatestPathAndNeverNarrates) {
  EXPECT_EQ(Get().body, Error("NOT_FOUND", {{"field", "session_id"}}));
  ASSERT_TRUE(Start().ok());
  ASSERT_TRUE(Choose("bluff", 0).ok());
  Reply r = Get();
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["path"], Json({"bluff_roll", "bluff_ok"}));
  EXPECT_EQ(r.body["choices"], Json::array());
  EXPECT_EQ(Get(kSession, AsPlayer(kOther)).body, Error("PERMISSION_DENIED"));
  EXPECT_TRUE(Get(kSession, Headers{"service:game", std::string(testing::kSpecTime)}).ok());
  EXPECT_EQ(h_.Call("get_session", "{}").body, InvalidArg("session_id", "required"));
}

// ---- narration (rule 6, N7, ST11) ----

class SUITE(StoryTellerNarrationTest) : public SUITE(StoryTellerTest) {
 protected:
  SUITE(StoryTellerNarrationTest)() {
    Json story = GivenStory();
    story["story_id"] = "narrated";
    story["nodes"][0]["narrate"] = true;
    story["nodes"][2]["narrate"] = true;
    EXPECT_TRUE(PutStory(story).ok());
  }
  const std::string id_ = DerivedId("ss", P + ":narrated");
};

TEST_F(SUITE(StoryTellerNarrationTest), ANarratingNodeCallsAiRouter) {
  Reply r = Start({{"story_id", "narrated"}, {"perf_mode", "high"}, {"seed", "grim"}});
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["narration"], "[narrated] A hooded creditor blocks the road to Vell.");
  EXPECT_EQ(r.body["narration_error"], "");
  auto requests = RouterRequests();
  ASSERT_EQ(requests.size(), 1u);
  const auto& rq = requests[0];
  EXPECT_EQ(rq.task(), "story_narration");
  ASSERT_EQ(rq.messages_size(), 2);
  EXPECT_EQ(rq.messages(0).role(), "system");
  EXPECT_EQ(rq.messages(0).content(), "Narrate in a grim, restrained voice.");
  EXPECT_EQ(rq.messages(1).role(), "user");
  EXPECT_EQ(rq.messages(1).content(), "A hooded creditor blocks the road to Vell.");
  EXPECT_EQ(rq.player_id(), P);
  EXPECT_EQ(rq.perf_mode(), "high");
  EXPECT_EQ(rq.seed(), Int64(H64("grim:gate:1")));
  EXPECT_FALSE(rq.has_temperature_milli());
  EXPECT_EQ(rq.idempotency_key(), "");
  // The call is made as service:story-teller with the request's time.
  auto calls = *h_.loop().Await<std::vector<testing::LocalDependencyClient::RecordedCall>>(
      [&](auto done) { std::move(done)(h_.dependencies().calls()); });
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].principal, "service:story-teller");
  EXPECT_EQ(calls[0].now_ms, testing::kSpecTimeMs);
  // get_session never narrates; narration is not stored.
  EXPECT_EQ(Get(id_).body["narration"], "");
  // Only the node the session rests on: bluff_roll (fate) is not narrated, bluff_ok is.
  Reply chose = Choose("bluff", 0, AsPlayer(), id_);
  ASSERT_TRUE(chose.ok()) << chose;
  const std::string rest = chose.body["node_id"];
  EXPECT_EQ(RouterRequests().size(), rest == "bluff_ok" ? 2u : 1u);
}

TEST_F(SUITE(StoryTellerNarrationTest), ARouterErrorLeavesNarrationEmptyWithTheCode) {
  h_.dependencies().FailNext("ai-router", "route", Unavailable("all_candidates_failed", {}));
  Reply r = Start({{"story_id", "narrated"}});
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["narration"], "");
  EXPECT_EQ(r.body["narration_error"], "UNAVAILABLE");
  EXPECT_EQ(Get(id_).body["status"], "active");  // the session was saved all the same
  h_.dependencies().FailNext("ai-router", "route", NotFound("task"));
  Reply again = Start({{"story_id", "narrated"}, {"restart", true}});
  EXPECT_EQ(again.body["narration_error"], "NOT_FOUND");
}

TEST_F(SUITE(StoryTellerNarrationTest), ARouterThatNeverAnswersEndsWithinTheDeadline) {
  h_.dependencies().SetInterceptor(
      [](const testing::LocalDependencyClient::RecordedCall&, const google::protobuf::Message&) {
        return DeadlineExceeded();
      });
  auto start = std::chrono::steady_clock::now();
  Reply r = Start({{"story_id", "narrated"}});
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["narration_error"], "DEADLINE_EXCEEDED");
  EXPECT_LT(took, std::chrono::milliseconds(5000));
}

TEST_F(SUITE(StoryTellerTest), FixtureChecksStories) {
  Json story = GivenStory();
  story["nodes"][1]["fate"][0]["weight"] = 0;
  EXPECT_EQ(h_.Fixture(Json{{"stories", {story}}}).body,
            InvalidArg("stories[0].nodes[1].fate[0].weight", "out_of_range"));
}

}  // namespace
}  // namespace sidecar::services
