// ai-router (SERVICES.md §2.20, AR1–AR12) through its registry, with ai-integration AND
// model-management hosted in process (ai-integration's own get_model calls go through the same
// LocalDependencyClient): both examples (golden files), every numbered rule, the fallback walk and
// its outcomes, the 250 ms rule, dependency timeouts, idempotency forwarding and events.

#include <chrono>
#include <string>
#include <vector>

#include "adapters/transcoding/json_codec.h"
#include "ai_router/v1/ai_router.pb.h"
#include "gtest/gtest.h"
#include "services/ai_integration/ai_integration_service.h"
#include "services/ai_router/ai_router_rules.h"
#include "services/ai_router/ai_router_service.h"
#include "services/common/determinism.h"
#include "services/model_management/model_management_service.h"
#include "tests/services/ai_integration/ai_given.h"
#include "tests/services/common/port_suite.h"

namespace sidecar::services {
namespace {

using testing::EchoSmall;
using testing::Error;
using testing::GoldenPaths;
using testing::Headers;
using testing::InvalidArg;
using testing::Json;
using testing::Messages;
using testing::kPlayerP;
using testing::kSpecTimeMs;
using testing::PortHarness;
using testing::Reply;
using testing::TestStore;

const std::string kPlayer(kPlayerP);
const std::string kBudgetKey = "player:pl_a8694c9d17e9b948";

ServicePtr MakeAiIntegration(const ServiceDeps& d) { return MakeAiIntegrationService(d); }

// The Given route of §2.20 as a put_route body.
Json NpcDialogue() {
  return Json{{"task", "npc_dialogue"},
              {"candidates",
               Json::array({{{"model", "oracle-large"}, {"max_tokens", 256},
                             {"allowed_modes", {"high", "ultra"}}, {"rollout_bp", 2500}},
                            {{"model", "npc-dialogue-default"}, {"max_tokens", 64}}})},
              {"budget_key_template", "player:{player_id}"}};
}

Json Candidate(const std::string& model, int max_tokens = 64) {
  return Json{{"model", model}, {"max_tokens", max_tokens}};
}

// §2.20 Example 1's request.
Json RouteRq(const std::string& task = "npc_dialogue") {
  return Json{{"task", task},   {"player_id", kPlayer}, {"perf_mode", "balanced"},
              {"seed", 7},      {"messages", Messages()}};
}

Headers As(const std::string& principal) {
  return Headers{principal, std::string(testing::kSpecTime)};
}

class SUITE(AiRouterTest) : public ::testing::Test {
 protected:
  SUITE(AiRouterTest)()
      : h_("ai-router", MakeAiRouterService, true, TestStore(),
           {MakeAiIntegration, MakeModelManagementService}) {}

  void SetUp() override {
    LoadModels(Json::array({EchoSmall()}));
    Reply r = h_.CallDependency(
        "ai-integration", "_fixture",
        Json{{"budgets", {{kBudgetKey, {{"daily_token_limit", 20000}}}}}}.dump());
    ASSERT_TRUE(r.ok()) << r;
    ASSERT_TRUE(PutRoute(NpcDialogue()).ok());
  }

  void LoadModels(Json models) {
    Reply r = h_.CallDependency(
        "model-management", "_fixture",
        Json{{"models", models}, {"aliases", {{"npc-dialogue-default", "echo-small"}}}}.dump());
    ASSERT_TRUE(r.ok()) << r;
  }

  Reply PutRoute(const Json& body, const Headers& headers = {}) {
    return h_.Call("put_route", body.dump(), headers);
  }
  Reply PutCandidates(const std::string& task, Json candidates) {
    return PutRoute(Json{{"task", task},
                         {"candidates", std::move(candidates)},
                         {"budget_key_template", "player:{player_id}"}});
  }
  Reply Route(const Json& body, const Headers& headers = As("service:story-teller")) {
    return h_.Call("route", body.dump(), headers);
  }
  Reply Explain(const Json& body, const Headers& headers = {}) {
    return h_.Call("explain", body.dump(), headers);
  }
  static Json With(Json body, const std::string& field, Json value) {
    body[field] = std::move(value);
    return body;
  }

  // A route call with an explicit deadline (the harness's headers carry no X-Deadline-Ms).
  Reply RouteWithDeadline(const Json& body, std::chrono::milliseconds deadline) {
    Method* method = h_.registry().Find("route");
    CallContext ctx = CallContext::Make(kSpecTimeMs, ParsePrincipal("service:story-teller"),
                                        "req-deadline", http::Clock::now() + deadline);
    auto out = h_.loop().Await<absl::StatusOr<MessagePtr>>([&](auto done) {
      MessagePtr request = method->NewRequest();
      absl::Status s = adapters::transcoding::JsonTextToMessage(body.dump(), *request);
      if (!s.ok()) {
        std::move(done)(s);
        return;
      }
      method->Invoke(ctx, std::move(request), std::move(done));
    });
    return PortHarness::ToReply(std::move(*out));
  }

  // route_fallback events (the hosted ai-integration publishes to the same stream).
  std::vector<Json> Fallbacks() {
    std::vector<Json> out;
    for (const Event& e : h_.RawEvents()) {
      if (e.subject.rfind("evt.ai-router.", 0) != 0) continue;
      EXPECT_EQ(e.subject, "evt.ai-router.v1.route_fallback");
      ::ai_router::v1::RouteFallbackEvent ev;
      EXPECT_TRUE(ev.ParseFromString(e.data));
      EXPECT_EQ(ev.event_id(), e.event_id);
      EXPECT_EQ(ev.occurred_at(), kSpecTimeMs);
      out.push_back(Json{{"task", ev.task()}, {"model", ev.model()}, {"outcome", ev.outcome()}});
    }
    return out;
  }
  std::vector<testing::LocalDependencyClient::RecordedCall> Calls(const std::string& service) {
    auto all = h_.loop().Await<std::vector<testing::LocalDependencyClient::RecordedCall>>(
        [this](auto done) { std::move(done)(h_.dependencies().calls()); });
    std::vector<testing::LocalDependencyClient::RecordedCall> out;
    for (auto& c : *all) {
      if (c.service == service) out.push_back(c);
    }
    return out;
  }

  PortHarness h_;
};

// ---- registry and golden files ----

TEST_F(SUITE(AiRouterTest), RegistersEveryActionOfTheProto) {
  EXPECT_TRUE(VerifyRegistry("ai-router", h_.registry()).ok());
}

TEST(SUITE(AiRouterGoldenTest), EveryGoldenFileReplays) {
  const auto files = GoldenPaths("ai-router");
  ASSERT_EQ(files.size(), 2u);
  for (const auto& file : files) {
    testing::RunGolden(MakeAiRouterService, file, TestStore(),
                       {MakeAiIntegration, MakeModelManagementService});
  }
}

TEST(AiRouterRulesTest, SpecBucketOfExample) {
  EXPECT_EQ(Bucket("npc_dialogue:oracle-large:pl_a8694c9d17e9b948"), 3640u);
}

// ---- put_route / get_route (rule 1, AR1–AR4) ----

TEST_F(SUITE(AiRouterTest), PutRouteCountsRevisionsAndGetRouteFillsRollout) {
  Reply again = PutRoute(NpcDialogue());  // identical: still +1 (AR4)
  EXPECT_EQ(again.body, (Json{{"task", "npc_dialogue"}, {"revision", 2}}));
  Reply got = h_.Call("get_route", R"({"task":"npc_dialogue"})", testing::AsPlayer());
  ASSERT_TRUE(got.ok()) << got;
  EXPECT_EQ(got.body,
            (Json{{"task", "npc_dialogue"},
                  {"candidates",
                   Json::array({{{"model", "oracle-large"}, {"max_tokens", 256},
                                 {"allowed_modes", {"high", "ultra"}}, {"rollout_bp", 2500}},
                                {{"model", "npc-dialogue-default"}, {"max_tokens", 64},
                                 {"allowed_modes", Json::array()}, {"rollout_bp", 10000}}})},
                  {"budget_key_template", "player:{player_id}"},
                  {"revision", 2}}));
  EXPECT_EQ(PutRoute(With(NpcDialogue(), "task", "other")).body["revision"], 1);
  EXPECT_EQ(h_.Call("get_route", R"({"task":"nope"})").body, Error("NOT_FOUND", {{"field", "task"}}));
  EXPECT_EQ(h_.Call("get_route", R"({"task":"Bad"})").body, InvalidArg("task", "pattern"));
  EXPECT_TRUE(Fallbacks().empty());
  EXPECT_TRUE(h_.Events().empty());  // no event on put (AR4)
}

TEST_F(SUITE(AiRouterTest), PutRouteFieldChecks) {
  EXPECT_EQ(PutRoute(With(NpcDialogue(), "task", "")).body, InvalidArg("task", "required"));
  EXPECT_EQ(PutRoute(With(NpcDialogue(), "task", "9lives")).body, InvalidArg("task", "pattern"));
  EXPECT_EQ(PutRoute(With(NpcDialogue(), "task", "a" + std::string(48, 'b'))).body,
            InvalidArg("task", "too_long"));
  EXPECT_EQ(PutRoute(With(NpcDialogue(), "candidates", Json::array())).body,
            InvalidArg("candidates", "required"));
  Json six = Json::array();
  for (int i = 0; i < 6; ++i) six.push_back(Candidate("echo-small"));
  EXPECT_EQ(PutRoute(With(NpcDialogue(), "candidates", six)).body,
            InvalidArg("candidates", "too_long"));
  auto one = [&](Json c) { return PutRoute(With(NpcDialogue(), "candidates", Json::array({c}))).body; };
  EXPECT_EQ(one(Json{{"max_tokens", 5}}), InvalidArg("candidates[0].model", "required"));
  EXPECT_EQ(one(Candidate("Big")), InvalidArg("candidates[0].model", "pattern"));
  EXPECT_EQ(one(Candidate(std::string(65, 'm'))), InvalidArg("candidates[0].model", "too_long"));
  EXPECT_EQ(one(Candidate("m", 0)), InvalidArg("candidates[0].max_tokens", "out_of_range"));
  EXPECT_EQ(one(Candidate("m", 4097)), InvalidArg("candidates[0].max_tokens", "out_of_range"));
  EXPECT_EQ(one(With(Candidate("m"), "allowed_modes", {"turbo"})),
            InvalidArg("candidates[0].allowed_modes[0]", "unknown_value"));
  EXPECT_EQ(one(With(Candidate("m"), "allowed_modes", {"low", "high", "low"})),
            InvalidArg("candidates[0].allowed_modes[2]", "malformed"));
  EXPECT_EQ(one(With(Candidate("m"), "allowed_modes", {""})),
            InvalidArg("candidates[0].allowed_modes[0]", "too_short"));
  EXPECT_EQ(one(With(Candidate("m"), "rollout_bp", 10001)),
            InvalidArg("candidates[0].rollout_bp", "out_of_range"));
  EXPECT_EQ(one(With(Candidate("m"), "rollout_bp", -1)),
            InvalidArg("candidates[0].rollout_bp", "out_of_range"));
  // The same model may appear twice; rollout_bp 0 is allowed.
  EXPECT_TRUE(PutRoute(With(NpcDialogue(), "candidates",
                            Json::array({Candidate("m"), With(Candidate("m"), "rollout_bp", 0)})))
                  .ok());
  // Later candidates are checked after earlier ones.
  EXPECT_EQ(PutRoute(With(NpcDialogue(), "candidates",
                          Json::array({Candidate("m"), Candidate("m", 0)})))
                .body,
            InvalidArg("candidates[1].max_tokens", "out_of_range"));
}

TEST_F(SUITE(AiRouterTest), BudgetKeyTemplateMustRenderToABudgetKey) {
  auto put = [&](const std::string& t) {
    return PutRoute(With(NpcDialogue(), "budget_key_template", t)).body;
  };
  EXPECT_EQ(put(""), InvalidArg("budget_key_template", "required"));
  EXPECT_EQ(put("player:{player}"), InvalidArg("budget_key_template", "pattern"));
  EXPECT_EQ(put("player:{player_id"), InvalidArg("budget_key_template", "pattern"));
  EXPECT_EQ(put("player:}"), InvalidArg("budget_key_template", "pattern"));
  EXPECT_EQ(put("{player_id}"), InvalidArg("budget_key_template", "pattern"));  // no "<kind>:"
  EXPECT_EQ(put("Player:{player_id}"), InvalidArg("budget_key_template", "pattern"));
  EXPECT_EQ(put("task:{task}/{player_id}"), InvalidArg("budget_key_template", "pattern"));
  // npc_dialogue (12) + pl_… (19) x3 = 69 > 64 after the ':'.
  EXPECT_EQ(put("t:{task}{player_id}{player_id}{player_id}"),
            InvalidArg("budget_key_template", "too_long"));
  EXPECT_TRUE(PutRoute(With(NpcDialogue(), "budget_key_template", "task:{task}.{player_id}")).ok());
  EXPECT_TRUE(PutRoute(With(NpcDialogue(), "budget_key_template", "shared:pool")).ok());
}

TEST_F(SUITE(AiRouterTest), PutRouteIsForServicesAndAdmins) {
  EXPECT_EQ(PutRoute(NpcDialogue(), testing::AsPlayer()).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(PutRoute(With(NpcDialogue(), "task", ""), testing::AsPlayer()).body,
            InvalidArg("task", "required"));
  EXPECT_TRUE(PutRoute(NpcDialogue(), As("service:story-teller")).ok());
}

TEST_F(SUITE(AiRouterTest), AtMost200RoutesButReplacingAtTheCapSucceeds) {
  Json routes = Json::array();
  for (int i = 0; i < 200; ++i) {
    routes.push_back(Json{{"task", "t" + std::to_string(i)},
                          {"candidates", Json::array({Candidate("echo-small")})},
                          {"budget_key_template", "player:{player_id}"}});
  }
  h_.LoadFixture(Json{{"routes", routes}});
  EXPECT_EQ(PutRoute(With(NpcDialogue(), "task", "one_more")).body,
            Error("RESOURCE_EXHAUSTED", {{"reason", "limit_exceeded"}, {"limit", "200"}}));
  Reply replaced = PutRoute(With(NpcDialogue(), "task", "t7"));
  EXPECT_EQ(replaced.body, (Json{{"task", "t7"}, {"revision", 2}}));
}

// ---- explain (rule 2, rule 4) ----

TEST_F(SUITE(AiRouterTest), ExplainAppliesModeThenRollout) {
  // Example 2: ultra passes the mode check, bucket 3640 >= 2500.
  Reply r = Explain(Json{{"task", "npc_dialogue"}, {"player_id", kPlayer}, {"perf_mode", "ultra"}});
  EXPECT_EQ(r.body, (Json{{"task", "npc_dialogue"}, {"eligible", {"npc-dialogue-default"}},
                          {"skipped", {{{"model", "oracle-large"}, {"outcome", "skipped_rollout"}}}}}));
  // "" matches only empty lists.
  r = Explain(Json{{"task", "npc_dialogue"}, {"player_id", kPlayer}, {"perf_mode", ""}});
  EXPECT_EQ(r.body["skipped"][0]["outcome"], "skipped_mode");
  // Rollout 3641 admits bucket 3640.
  Json wide = NpcDialogue();
  wide["candidates"][0]["rollout_bp"] = 3641;
  ASSERT_TRUE(PutRoute(wide).ok());
  r = Explain(Json{{"task", "npc_dialogue"}, {"player_id", kPlayer}, {"perf_mode", "high"}});
  EXPECT_EQ(r.body["eligible"], Json({"oracle-large", "npc-dialogue-default"}));
  EXPECT_EQ(r.body["skipped"], Json::array());
  wide["candidates"][0]["rollout_bp"] = 3640;
  ASSERT_TRUE(PutRoute(wide).ok());
  r = Explain(Json{{"task", "npc_dialogue"}, {"player_id", kPlayer}, {"perf_mode", "high"}});
  EXPECT_EQ(r.body["skipped"][0]["outcome"], "skipped_rollout");
}

TEST_F(SUITE(AiRouterTest), ExplainChecksFieldsThenPlayerScopeThenTask) {
  Json rq{{"task", "npc_dialogue"}, {"player_id", kPlayer}, {"perf_mode", "ultra"}};
  EXPECT_EQ(Explain(With(rq, "player_id", "")).body, InvalidArg("player_id", "required"));
  EXPECT_EQ(Explain(With(rq, "player_id", "pl_XYZ")).body, InvalidArg("player_id", "pattern"));
  EXPECT_EQ(Explain(With(rq, "perf_mode", "turbo")).body, InvalidArg("perf_mode", "unknown_value"));
  EXPECT_EQ(Explain(With(rq, "task", "nope"), testing::AsPlayer("pl_0000000000000001")).body,
            Error("PERMISSION_DENIED"));
  EXPECT_EQ(Explain(With(rq, "task", "nope"), testing::AsPlayer()).body,
            Error("NOT_FOUND", {{"field", "task"}}));
  EXPECT_TRUE(Explain(rq, testing::AsPlayer()).ok());
}

// ---- route: rule 3 forwarding ----

TEST_F(SUITE(AiRouterTest), RouteForwardsTheCandidateToAiIntegration) {
  Reply r = Route(RouteRq());
  ASSERT_TRUE(r.ok()) << r;
  auto calls = Calls("ai-integration");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].action, "complete");
  EXPECT_EQ(calls[0].principal, "service:ai-router");
  EXPECT_EQ(calls[0].now_ms, kSpecTimeMs);
  const std::string& sent = calls[0].request_debug;
  EXPECT_NE(sent.find("model: \"npc-dialogue-default\""), std::string::npos) << sent;
  EXPECT_NE(sent.find("max_tokens: 64"), std::string::npos) << sent;
  EXPECT_NE(sent.find("temperature_milli: 700"), std::string::npos) << sent;  // absent -> 700
  EXPECT_NE(sent.find("seed: 7"), std::string::npos) << sent;
  EXPECT_NE(sent.find("budget_key: \"player:pl_a8694c9d17e9b948\""), std::string::npos) << sent;
  EXPECT_EQ(sent.find("idempotency_key"), std::string::npos) << sent;
  // ai-integration in turn called model-management as itself.
  auto lookups = Calls("model-management");
  ASSERT_EQ(lookups.size(), 1u);
  EXPECT_EQ(lookups[0].principal, "service:ai-integration");
  EXPECT_TRUE(Fallbacks().empty());
  // A present temperature (even 0) is forwarded as given.
  h_.dependencies().ClearCalls();
  ASSERT_TRUE(Route(With(RouteRq(), "temperature_milli", 0)).ok());
  EXPECT_EQ(Calls("ai-integration")[0].request_debug.find("temperature_milli"), std::string::npos);
}

TEST_F(SUITE(AiRouterTest), IdempotencyKeyIsSuffixedWithTheCandidatePosition) {
  Json rq = With(RouteRq(), "idempotency_key", "turn-42");
  Reply first = Route(rq);
  ASSERT_TRUE(first.ok()) << first;
  auto calls = Calls("ai-integration");
  ASSERT_EQ(calls.size(), 1u);
  // Index 1: the candidate's position in the route (the skipped one is index 0).
  EXPECT_NE(calls[0].request_debug.find("idempotency_key: \"turn-42:1\""), std::string::npos);
  // A retry replays inside ai-integration: no second charge.
  Reply again = Route(rq);
  EXPECT_EQ(again.body, first.body);
  Reply usage = h_.CallDependency("ai-integration", "get_usage",
                                  Json{{"budget_key", kBudgetKey}}.dump());
  EXPECT_EQ(usage.body["requests"], 1);
  // AR6: at most 62 chars.
  EXPECT_EQ(Route(With(RouteRq(), "idempotency_key", std::string(63, 'k'))).body,
            InvalidArg("idempotency_key", "too_long"));
  EXPECT_EQ(Route(With(RouteRq(), "idempotency_key", "a/b")).body,
            InvalidArg("idempotency_key", "pattern"));
  EXPECT_TRUE(Route(With(RouteRq(), "idempotency_key", std::string(62, 'k'))).ok());
}

// ---- route: field checks and authorization (AR5, AR11) ----

TEST_F(SUITE(AiRouterTest), RouteValidatesMessagesAndFieldsBeforeTheTask) {
  Json unknown_task = With(RouteRq(), "task", "nope");
  EXPECT_EQ(Route(With(unknown_task, "messages", Json::array())).body,
            InvalidArg("messages", "required"));
  EXPECT_EQ(Route(With(unknown_task, "messages", Json::array({{{"role", "bot"}, {"content", ""}}}))).body,
            InvalidArg("messages[0].role", "unknown_value"));
  EXPECT_EQ(Route(With(unknown_task, "messages",
                       Json::array({{{"role", "user"}, {"content", std::string(32001, 'x')}}})))
                .body,
            InvalidArg("messages[0].content", "too_long"));
  EXPECT_EQ(Route(With(unknown_task, "player_id", "")).body, InvalidArg("player_id", "required"));
  EXPECT_EQ(Route(With(unknown_task, "perf_mode", "max")).body,
            InvalidArg("perf_mode", "unknown_value"));
  EXPECT_EQ(Route(With(unknown_task, "temperature_milli", 2001)).body,
            InvalidArg("temperature_milli", "out_of_range"));
  EXPECT_EQ(Route(unknown_task).body, Error("NOT_FOUND", {{"field", "task"}}));
  EXPECT_TRUE(Calls("ai-integration").empty());
}

TEST_F(SUITE(AiRouterTest), RouteIsPlayerScoped) {
  EXPECT_EQ(Route(RouteRq(), testing::AsPlayer("pl_0000000000000001")).body,
            Error("PERMISSION_DENIED"));
  EXPECT_EQ(Route(With(RouteRq(), "task", "nope"), testing::AsPlayer("pl_0000000000000001")).body,
            Error("PERMISSION_DENIED"));  // before NOT_FOUND
  EXPECT_EQ(Route(RouteRq(), Headers{"", std::string(testing::kSpecTime)}).body,
            Error("UNAUTHENTICATED"));
  EXPECT_TRUE(Route(RouteRq(), testing::AsPlayer()).ok());
  EXPECT_TRUE(Route(RouteRq(), As("admin:ops")).ok());
}

// ---- route: fallback and outcomes (rule 3–4, AR7–AR10, AR12) ----

TEST_F(SUITE(AiRouterTest), RealBudgetExhaustionFallsBackToTheNextCandidate) {
  Json big = EchoSmall("big");
  big["max_output_tokens"] = 4096;
  LoadModels(Json::array({EchoSmall(), big}));
  ASSERT_TRUE(h_.CallDependency("ai-integration", "set_budget",
                                Json{{"budget_key", kBudgetKey}, {"daily_token_limit", 1000}}.dump())
                  .ok());
  ASSERT_TRUE(PutCandidates("fallback", Json::array({Candidate("big", 4096),
                                                     Candidate("npc-dialogue-default", 64),
                                                     Candidate("never-tried")}))
                  .ok());
  Reply r = Route(RouteRq("fallback"));
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body, (Json{{"text", "[echo-small] Who sleeps beneath the yew?"},
                          {"model_id", "echo-small"}, {"provider", "template"},
                          {"finish_reason", "stop"}, {"input_tokens", 23},
                          {"output_tokens", 11},
                          {"attempts", {{{"model", "big"}, {"outcome", "budget_exhausted"}},
                                        {{"model", "npc-dialogue-default"}, {"outcome", "ok"}}}}}));
  EXPECT_EQ(Fallbacks(),
            std::vector<Json>({{{"task", "fallback"}, {"model", "big"}, {"outcome", "budget_exhausted"}}}));
  EXPECT_EQ(Calls("ai-integration").size(), 2u);  // later candidates are never called
}

TEST_F(SUITE(AiRouterTest), OutcomesMapEveryContinuingCode) {
  Json retired = EchoSmall("old");
  retired["status"] = "retired";
  LoadModels(Json::array({EchoSmall(), retired}));
  ASSERT_TRUE(PutCandidates("outcomes", Json::array({Candidate("ghost"), Candidate("old"),
                                                     Candidate("echo-small"),
                                                     Candidate("echo-small"),
                                                     Candidate("npc-dialogue-default")}))
                  .ok());
  // Third: UNAVAILABLE; fourth: RESOURCE_EXHAUSTED (injected); fifth succeeds.
  h_.dependencies().SetInterceptor(
      [n = 0](const testing::LocalDependencyClient::RecordedCall& c,
              const google::protobuf::Message&) mutable -> absl::Status {
        if (c.service != "ai-integration") return absl::OkStatus();
        ++n;
        if (n == 3) return Unavailable("", {}, "down");
        if (n == 4) return ResourceExhausted({{"reason", "provider_rate_limited"}});
        return absl::OkStatus();
      });
  Reply r = Route(RouteRq("outcomes"));
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["attempts"],
            Json({{{"model", "ghost"}, {"outcome", "model_unusable"}},      // NOT_FOUND
                  {{"model", "old"}, {"outcome", "model_unusable"}},        // model_retired
                  {{"model", "echo-small"}, {"outcome", "unavailable"}},
                  {{"model", "echo-small"}, {"outcome", "budget_exhausted"}},
                  {{"model", "npc-dialogue-default"}, {"outcome", "ok"}}}));
  auto fallbacks = Fallbacks();
  ASSERT_EQ(fallbacks.size(), 4u);
  EXPECT_EQ(fallbacks[0]["outcome"], "model_unusable");
  EXPECT_EQ(fallbacks[2]["outcome"], "unavailable");
  EXPECT_EQ(fallbacks[3]["outcome"], "budget_exhausted");
  // Distinct event ids per attempt.
  std::set<std::string> ids;
  for (const Event& e : h_.RawEvents()) ids.insert(e.event_id);
  EXPECT_EQ(ids.size(), h_.RawEvents().size());
}

TEST_F(SUITE(AiRouterTest), InvalidArgumentAndOtherCodesAreReturnedAtOnce) {
  // A candidate max_tokens above the model's maximum: ai-integration answers INVALID_ARGUMENT.
  ASSERT_TRUE(PutCandidates("strict", Json::array({Candidate("echo-small", 600),
                                                   Candidate("npc-dialogue-default")}))
                  .ok());
  EXPECT_EQ(Route(RouteRq("strict")).body, InvalidArg("max_tokens", "out_of_range"));
  EXPECT_EQ(Calls("ai-integration").size(), 1u);
  EXPECT_TRUE(Fallbacks().empty());
  ASSERT_TRUE(PutCandidates("strict", Json::array({Candidate("echo-small"),
                                                   Candidate("npc-dialogue-default")}))
                  .ok());
  const absl::Status codes[] = {AlreadyExists("idempotency_key"), PermissionDenied(),
                                Unauthenticated(), Internal("bug")};
  for (const absl::Status& code : codes) {
    h_.dependencies().ClearCalls();
    h_.dependencies().FailNext("ai-integration", "complete", code);
    Reply r = Route(RouteRq("strict"));
    EXPECT_EQ(r.body, PortHarness::ToReply(code).body) << code;
    EXPECT_EQ(Calls("ai-integration").size(), 1u);
  }
  EXPECT_TRUE(Fallbacks().empty());
}

TEST_F(SUITE(AiRouterTest), AllCandidatesFailedListsSkipsAndTries) {
  ASSERT_TRUE(PutCandidates("doomed",
                            Json::array({With(Candidate("echo-small"), "allowed_modes", {"ultra"}),
                                         Candidate("ghost"),
                                         With(Candidate("echo-small"), "rollout_bp", 0),
                                         Candidate("npc-dialogue-default")}))
                  .ok());
  h_.dependencies().FailNext("ai-integration", "complete", Unavailable("", {}, "down"), 2);
  Reply r = Route(RouteRq("doomed"));
  EXPECT_EQ(r.body,
            Error("UNAVAILABLE",
                  {{"reason", "all_candidates_failed"},
                   {"attempts",
                    "echo-small:skipped_mode,ghost:unavailable,echo-small:skipped_rollout,"
                    "npc-dialogue-default:unavailable"}}));
  EXPECT_EQ(Fallbacks(),
            std::vector<Json>({{{"task", "doomed"}, {"model", "ghost"}, {"outcome", "unavailable"}},
                               {{"task", "doomed"}, {"model", "npc-dialogue-default"},
                                {"outcome", "unavailable"}}}));
}

TEST_F(SUITE(AiRouterTest), NoEligibleCandidateIsFailedPrecondition) {
  Reply r = Route(With(RouteRq(), "perf_mode", "ultra"));  // mode ok, rollout skip; then...
  ASSERT_TRUE(r.ok());                                     // ...the second is eligible
  ASSERT_TRUE(PutCandidates("picky",
                            Json::array({With(Candidate("echo-small"), "allowed_modes", {"ultra"}),
                                         With(Candidate("echo-small"), "rollout_bp", 0)}))
                  .ok());
  h_.dependencies().ClearCalls();
  EXPECT_EQ(Route(RouteRq("picky")).body,
            Error("FAILED_PRECONDITION", {{"reason", "no_eligible_candidate"}}));
  EXPECT_TRUE(Calls("ai-integration").empty());
  EXPECT_TRUE(Fallbacks().empty());
}

// ---- the 250 ms rule (rule 3, AR8) and dependency timeouts ----

TEST_F(SUITE(AiRouterTest), NoCandidateStartsWithLessThan250MsLeft) {
  ASSERT_TRUE(PutCandidates("late", Json::array({Candidate("echo-small"),
                                                 Candidate("npc-dialogue-default")}))
                  .ok());
  Reply r = RouteWithDeadline(RouteRq("late"), std::chrono::milliseconds(240));
  EXPECT_EQ(r.body, Error("UNAVAILABLE", {{"reason", "all_candidates_failed"},
                                          {"attempts",
                                           "echo-small:deadline_exceeded,"
                                           "npc-dialogue-default:deadline_exceeded"}}));
  EXPECT_TRUE(Calls("ai-integration").empty());
  EXPECT_EQ(Fallbacks().size(), 2u);  // AR10: the 250 ms case emits too
  // With enough time the same route succeeds.
  EXPECT_TRUE(RouteWithDeadline(RouteRq("late"), std::chrono::milliseconds(2000)).ok());
}

TEST_F(SUITE(AiRouterTest), HungDependencyEndsInDeadlineOutcomesWithinTheDeadline) {
  ASSERT_TRUE(PutCandidates("hang", Json::array({Candidate("echo-small"),
                                                 Candidate("npc-dialogue-default")}))
                  .ok());
  h_.dependencies().SetInterceptor(
      [](const testing::LocalDependencyClient::RecordedCall& c,
         const google::protobuf::Message&) -> absl::Status {
        return c.service == "ai-integration" ? DeadlineExceeded() : absl::OkStatus();
      });
  const auto start = std::chrono::steady_clock::now();
  Reply r = RouteWithDeadline(RouteRq("hang"), std::chrono::milliseconds(700));
  const auto took = std::chrono::steady_clock::now() - start;
  // The first call gets the remaining time minus 50 ms and never answers; then < 250 ms is left.
  EXPECT_EQ(r.body, Error("UNAVAILABLE", {{"reason", "all_candidates_failed"},
                                          {"attempts",
                                           "echo-small:deadline_exceeded,"
                                           "npc-dialogue-default:deadline_exceeded"}}));
  EXPECT_LT(took, std::chrono::milliseconds(700));
  auto calls = Calls("ai-integration");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_LE(calls[0].budget, std::chrono::milliseconds(650));
  EXPECT_EQ(Fallbacks().size(), 2u);
}

TEST_F(SUITE(AiRouterTest), ModelManagementTimeoutInsideAiIntegrationFallsBack) {
  // The hosted ai-integration's own get_model call hangs on its first attempt only.
  h_.dependencies().SetInterceptor(
      [n = 0](const testing::LocalDependencyClient::RecordedCall& c,
              const google::protobuf::Message&) mutable -> absl::Status {
        if (c.service == "model-management" && n++ == 0) return Unavailable("", {}, "down");
        return absl::OkStatus();
      });
  ASSERT_TRUE(PutCandidates("nested", Json::array({Candidate("echo-small"),
                                                   Candidate("npc-dialogue-default")}))
                  .ok());
  Reply r = Route(RouteRq("nested"));
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["attempts"], Json({{{"model", "echo-small"}, {"outcome", "unavailable"}},
                                      {{"model", "npc-dialogue-default"}, {"outcome", "ok"}}}));
}

// ---- fixtures ----

TEST(SUITE(AiRouterFixtureTest), DisabledFixtureIsPermissionDenied) {
  PortHarness h("ai-router", MakeAiRouterService, /*fixtures_enabled=*/false, TestStore(),
                {MakeAiIntegration, MakeModelManagementService});
  EXPECT_EQ(h.Fixture(Json::object()).body, Error("PERMISSION_DENIED"));
}

TEST_F(SUITE(AiRouterTest), FixtureDefaultsRolloutAndRevision) {
  h_.LoadFixture(Json{{"routes", {{{"task", "fx"},
                                   {"candidates", {{{"model", "echo-small"}, {"max_tokens", 8}}}},
                                   {"budget_key_template", "player:{player_id}"}}}}});
  Reply r = h_.Call("get_route", R"({"task":"fx"})");
  EXPECT_EQ(r.body["revision"], 1);
  EXPECT_EQ(r.body["candidates"][0]["rollout_bp"], 10000);
  EXPECT_EQ(h_.Call("get_route", R"({"task":"npc_dialogue"})").code(), "NOT_FOUND");  // replaced
}

}  // namespace
}  // namespace sidecar::services
