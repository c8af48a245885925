// ai-integration (SERVICES.md §2.17, AI1–AI13) through its registry, with model-management hosted
// in process as its dependency: both examples (golden files), every numbered rule, the rule 8
// check order, budgets (atomic reserve/settle), idempotency, events, dependency failures and
// timeouts, and the openai_compatible provider against a local fake /chat/completions server
// through the real EvOutboundHttpClient.

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "adapters/native/outbound_http_client.h"
#include "adapters/transcoding/json_codec.h"
#include "gtest/gtest.h"
#include "services/ai_integration/ai_integration_rules.h"
#include "services/ai_integration/ai_integration_service.h"
#include "services/ai_integration/openai_compatible_provider.h"
#include "services/model_management/model_management_service.h"
#include "tests/services/ai_integration/ai_given.h"
#include "tests/services/common/port_suite.h"
#include "tests/test_common/fake_upstream/fake_http_upstream.h"

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
using test_common::FakeHttpUpstream;
using test_common::FakeResponse;

namespace ai = ai_integration;

const std::string kBudgetKey = "player:pl_a8694c9d17e9b948";

// §2.17 Example 1's request.
Json Example1() {
  return Json{{"model", "npc-dialogue-default"}, {"messages", Messages()}, {"max_tokens", 64},
              {"temperature_milli", 700},        {"seed", 7},           {"budget_key", kBudgetKey}};
}

Headers AsRouter() { return Headers{"service:ai-router", std::string(testing::kSpecTime)}; }

// Forwards to a client made later on the harness loop (the factory runs before it exists).
class ForwardingHttp final : public OutboundHttpClient {
 public:
  void Send(OutboundHttpRequest request, OutboundHttpDone done) override {
    target->Send(std::move(request), std::move(done));
  }
  OutboundHttpClient* target = nullptr;
};

class SUITE(AiIntegrationTest) : public ::testing::Test {
 protected:
  SUITE(AiIntegrationTest)()
      : h_(
            "ai-integration",
            [this](const ServiceDeps& deps) {
              ServiceDeps with_http = deps;
              with_http.http = &http_;
              AiIntegrationOptions options;
              options.provider_timeout = std::chrono::milliseconds(400);
              options.read_env = [](const std::string& name) -> std::optional<std::string> {
                if (name == "TEST_AI_KEY") return std::string("sk-test-123");
                return std::nullopt;
              };
              return MakeAiIntegrationService(with_http, std::move(options));
            },
            true, TestStore(), {MakeModelManagementService}) {}

  void SetUp() override {
    LoadModels(Json::array({EchoSmall()}), Json{{"npc-dialogue-default", "echo-small"}});
    h_.LoadFixture(Json{{"budgets", {{kBudgetKey, {{"daily_token_limit", 20000}}}}}});
  }
  void TearDown() override {
    h_.loop().Await<bool>([this](auto done) {
      client_.reset();
      std::move(done)(true);
    });
  }

  void LoadModels(Json models, Json aliases = Json::object()) {
    Reply r = h_.CallDependency("model-management", "_fixture",
                                Json{{"models", models}, {"aliases", aliases}}.dump());
    ASSERT_TRUE(r.ok()) << r;
  }

  // Starts the fake provider and the real outbound client on the harness loop; returns the base_url.
  std::string StartFakeProvider() {
    auto upstream = FakeHttpUpstream::Create();
    EXPECT_TRUE(upstream.ok());
    upstream_ = std::move(*upstream);
    h_.loop().Await<bool>([this](auto done) {
      client_ = std::make_unique<adapters::native::EvOutboundHttpClient>(h_.loop().dispatcher());
      http_.target = client_.get();
      std::move(done)(true);
    });
    return "http://" + upstream_->address() + "/v1";
  }
  // An openai_compatible model served by the fake provider.
  void LoadRemoteModel(const std::string& base_url, const std::string& api_key_env = "TEST_AI_KEY") {
    Json remote{{"model_id", "remote"},         {"provider", "openai_compatible"},
                {"provider_model", "gpt-test"}, {"base_url", base_url},
                {"api_key_env", api_key_env},   {"context_window", 8192},
                {"max_output_tokens", 512},     {"price_in_per_1k", 100},
                {"price_out_per_1k", 300},      {"status", "active"},
                {"revision", 1}};
    LoadModels(Json::array({EchoSmall(), remote}), Json{{"npc-dialogue-default", "echo-small"}});
  }

  Reply Complete(Json body, const Headers& headers = AsRouter()) {
    return h_.Call("complete", body.dump(), headers);
  }
  Reply Usage(const std::string& day = "", const std::string& key = kBudgetKey) {
    return h_.Call("get_usage", Json{{"budget_key", key}, {"day", day}}.dump());
  }
  static Json With(Json body, const std::string& field, Json value) {
    body[field] = std::move(value);
    return body;
  }

  // A call with an explicit deadline (the harness's headers have no X-Deadline-Ms).
  Reply CallWithDeadline(const std::string& action, const std::string& json,
                         std::chrono::milliseconds deadline) {
    Method* method = h_.registry().Find(action);
    CallContext ctx =
        CallContext::Make(kSpecTimeMs, ParsePrincipal("service:ai-router"), "req-deadline",
                          http::Clock::now() + deadline);
    auto out = h_.loop().Await<absl::StatusOr<MessagePtr>>([&](auto done) {
      MessagePtr request = method->NewRequest();
      absl::Status s = adapters::transcoding::JsonTextToMessage(json, *request);
      if (!s.ok()) {
        std::move(done)(s);
        return;
      }
      method->Invoke(ctx, std::move(request), std::move(done));
    });
    return PortHarness::ToReply(std::move(*out));
  }

  // Calls made to model-management so far.
  int ModelLookups() {
    auto n = h_.loop().Await<int>([this](auto done) {
      int count = 0;
      for (const auto& c : h_.dependencies().calls()) count += c.service == "model-management";
      std::move(done)(count);
    });
    return *n;
  }

  ForwardingHttp http_;
  PortHarness h_;
  std::unique_ptr<FakeHttpUpstream> upstream_;
  std::unique_ptr<adapters::native::EvOutboundHttpClient> client_;
};

// ---- registry and golden files ----

TEST_F(SUITE(AiIntegrationTest), RegistersEveryActionOfTheProto) {
  EXPECT_TRUE(VerifyRegistry("ai-integration", h_.registry()).ok());
}

TEST(SUITE(AiIntegrationGoldenTest), EveryGoldenFileReplays) {
  const auto files = GoldenPaths("ai-integration");
  ASSERT_EQ(files.size(), 2u);
  for (const auto& file : files) {
    testing::RunGolden(
        [](const ServiceDeps& d) { return MakeAiIntegrationService(d); }, file, TestStore(),
        {MakeModelManagementService});
  }
}

// ---- Example 1 in detail: events, usage, the dependency call ----

TEST_F(SUITE(AiIntegrationTest), Example1RecordsUsageAndOneEvent) {
  Reply r = Complete(Example1());
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["budget_remaining_tokens"], 19966);
  auto events = h_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["subject"], "evt.ai-integration.v1.usage_recorded");
  EXPECT_EQ(events[0]["budget_key"], kBudgetKey);
  EXPECT_EQ(events[0]["model_id"], "echo-small");  // AI9: the resolved id
  EXPECT_EQ(events[0]["input_tokens"], 23);
  EXPECT_EQ(events[0]["output_tokens"], 11);
  EXPECT_EQ(events[0]["cost_micro"], 6);
  EXPECT_EQ(events[0]["occurred_at"], "2025-11-20T12:00:00.000Z");
  Reply u = Usage();
  ASSERT_TRUE(u.ok()) << u;
  EXPECT_EQ(u.body, (Json{{"day", "2025-11-20"}, {"tokens_in", 23}, {"tokens_out", 11},
                          {"cost_micro", 6}, {"requests", 1}, {"daily_token_limit", 20000},
                          {"remaining_tokens", 19966}}));
  // The get_model call: as service:ai-integration, with the caller's now.
  auto calls = h_.loop().Await<std::vector<testing::LocalDependencyClient::RecordedCall>>(
      [this](auto done) { std::move(done)(h_.dependencies().calls()); });
  ASSERT_EQ(calls->size(), 1u);
  EXPECT_EQ((*calls)[0].service, "model-management");
  EXPECT_EQ((*calls)[0].action, "get_model");
  EXPECT_EQ((*calls)[0].principal, "service:ai-integration");
  EXPECT_EQ((*calls)[0].now_ms, kSpecTimeMs);
}

// ---- complete_stream (issue 14) ----

TEST(AiIntegrationStreamTest, SplitWordsKeepsEachWordsTrailingWhitespaceAndConcatenatesBack) {
  using Pieces = std::vector<std::string>;
  EXPECT_EQ(ai_integration::SplitWords("[echo-small] Who sleeps beneath the yew?"),
            (Pieces{"[echo-small] ", "Who ", "sleeps ", "beneath ", "the ", "yew?"}));
  EXPECT_EQ(ai_integration::SplitWords(""), Pieces{});
  EXPECT_EQ(ai_integration::SplitWords("   "), Pieces{"   "});
  EXPECT_EQ(ai_integration::SplitWords("  a \t b\r\n"), (Pieces{"  a \t ", "b\r\n"}));
  EXPECT_EQ(ai_integration::SplitWords("one"), Pieces{"one"});
  for (const std::string text : {"x  y", "\nlead", "tail \n", "ünï cödé wörds", "a,b. c!"}) {
    std::string joined;
    for (const std::string& piece : ai_integration::SplitWords(text)) joined += piece;
    EXPECT_EQ(joined, text);
  }
}

TEST_F(SUITE(AiIntegrationTest), CompleteStreamStreamsCompletesTextWordByWordWithTheAccountingLast) {
  PortHarness::StreamedCall call = h_.CallStream("complete_stream", Example1().dump(), AsRouter());
  ASSERT_TRUE(call.summary.ok()) << call.summary;
  EXPECT_EQ(call.pieces, (std::vector<std::string>{"[echo-small] ", "Who ", "sleeps ", "beneath ",
                                                   "the ", "yew?"}));
  // The summary is Example 1's answer without the text; the whole answer is Example 1's answer.
  const Json expected = {{"text", "[echo-small] Who sleeps beneath the yew?"},
                         {"finish_reason", "stop"}, {"model_id", "echo-small"},
                         {"provider", "template"}, {"input_tokens", 23}, {"output_tokens", 11},
                         {"cost_micro", 6}, {"budget_remaining_tokens", 19966}};
  EXPECT_EQ(call.whole.body, expected);
  Json summary = expected;
  summary["text"] = "";
  EXPECT_EQ(call.summary.body, summary);
  // Charged and reported exactly like complete: one request, one usage event.
  EXPECT_EQ(Usage().body["requests"], 1);
  EXPECT_EQ(h_.Events().size(), 1u);
}

TEST_F(SUITE(AiIntegrationTest), CompleteStreamSharesCompletesChecksAndIdempotencyRecord) {
  // Rule 1: services and admins only; field checks as complete's.
  EXPECT_EQ(h_.CallStream("complete_stream", Example1().dump(), testing::AsPlayer()).summary.code(),
            "PERMISSION_DENIED");
  EXPECT_EQ(h_.CallStream("complete_stream", With(Example1(), "model", "").dump(), AsRouter()).summary.body,
            InvalidArg("model", "required"));
  // Rule 7: the same key and request through either action is one completion, charged once.
  const Json keyed = With(Example1(), "idempotency_key", "stream-1");
  Reply first = Complete(keyed);
  ASSERT_TRUE(first.ok()) << first;
  PortHarness::StreamedCall replay = h_.CallStream("complete_stream", keyed.dump(), AsRouter());
  ASSERT_TRUE(replay.summary.ok()) << replay.summary;
  EXPECT_EQ(replay.whole.body, first.body);
  std::string joined;
  for (const std::string& piece : replay.pieces) joined += piece;
  EXPECT_EQ(joined, first.body["text"]);
  EXPECT_EQ(Usage().body["requests"], 1);
}

// ---- rule 3 / AI2: tokenizer simple-v1 and count_tokens ----

TEST(AiIntegrationTokenizerTest, CountsRunsAndSingleCodePoints) {
  EXPECT_EQ(ai::CountTokens("You are Odrin, a grave-keeper."), 9);
  EXPECT_EQ(ai::CountTokens("Who sleeps beneath the yew?"), 6);
  EXPECT_EQ(ai::CountTokens("[echo-small] Who sleeps beneath the yew?"), 11);
  EXPECT_EQ(ai::CountTokens(""), 0);
  EXPECT_EQ(ai::CountTokens(" \t\r\n"), 0);
  EXPECT_EQ(ai::CountTokens("abc123def"), 1);
  EXPECT_EQ(ai::CountTokens("héllo"), 3);       // h, é, llo
  EXPECT_EQ(ai::CountTokens("日本 語"), 3);        // every other code point is one token
  EXPECT_EQ(ai::CountTokens("a\u00a0b"), 3);      // NBSP is not skipped
  EXPECT_EQ(ai::CountTokens("🙂🙂"), 2);
}

TEST(AiIntegrationTokenizerTest, TemplateCutEndsRightAfterTheNthToken) {
  ai::TemplateOutput out = ai::CutToMaxTokens("[echo-small] Who sleeps", 3);
  EXPECT_EQ(out.text, "[echo-");
  EXPECT_EQ(out.finish_reason, "length");
  EXPECT_EQ(out.output_tokens, 3);
  out = ai::CutToMaxTokens("one two  three", 2);
  EXPECT_EQ(out.text, "one two");  // no trailing space
  out = ai::CutToMaxTokens("one two", 2);
  EXPECT_EQ(out.text, "one two");
  EXPECT_EQ(out.finish_reason, "stop");
  EXPECT_EQ(out.output_tokens, 2);
}

TEST_F(SUITE(AiIntegrationTest), CountTokensGivesPerMessageAndTotalToAnyPrincipal) {
  Reply r = h_.Call("count_tokens",
                    Json{{"messages", Json::array({{{"role", "system"},
                                                    {"content", "You are Odrin, a grave-keeper."}},
                                                   {{"role", "user"}, {"content", "Who sleeps beneath the yew?"}},
                                                   {{"role", "assistant"}, {"content", ""}}})}}
                        .dump(),
                    testing::AsPlayer());
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body, (Json{{"per_message", {13, 10, 4}}, {"input_tokens", 27}}));
  EXPECT_EQ(h_.Call("count_tokens", R"({"messages":[]})").body, InvalidArg("messages", "required"));
  EXPECT_EQ(h_.Call("count_tokens", R"({"messages":[{"role":"bot","content":"x"}]})").body,
            InvalidArg("messages[0].role", "unknown_value"));
}

// ---- rule 2 / AI1 / AI3 / AI4: field checks in table order ----

TEST_F(SUITE(AiIntegrationTest), FieldChecksFollowTableOrderAndReasons) {
  EXPECT_EQ(Complete(With(Example1(), "model", "")).body, InvalidArg("model", "required"));
  EXPECT_EQ(Complete(With(Example1(), "model", "Echo")).body, InvalidArg("model", "pattern"));
  EXPECT_EQ(Complete(With(Example1(), "model", std::string(65, 'a'))).body,
            InvalidArg("model", "too_long"));
  EXPECT_EQ(Complete(With(Example1(), "messages", Json::array())).body,
            InvalidArg("messages", "required"));
  Json many = Json::array();
  for (int i = 0; i < 65; ++i) many.push_back({{"role", "user"}, {"content", "x"}});
  EXPECT_EQ(Complete(With(Example1(), "messages", many)).body, InvalidArg("messages", "too_long"));
  EXPECT_EQ(Complete(With(Example1(), "messages", Json::array({{{"content", "x"}}}))).body,
            InvalidArg("messages[0].role", "required"));
  EXPECT_EQ(Complete(With(Example1(), "messages",
                          Json::array({{{"role", "user"}, {"content", std::string(32001, 'a')}}})))
                .body,
            InvalidArg("messages[0].content", "too_long"));
  EXPECT_EQ(Complete(With(Example1(), "max_tokens", -1)).body, InvalidArg("max_tokens", "out_of_range"));
  EXPECT_EQ(Complete(With(Example1(), "temperature_milli", 2001)).body,
            InvalidArg("temperature_milli", "out_of_range"));
  EXPECT_EQ(Complete(With(Example1(), "temperature_milli", -1)).body,
            InvalidArg("temperature_milli", "out_of_range"));
  EXPECT_EQ(Complete(With(Example1(), "budget_key", "")).body, InvalidArg("budget_key", "required"));
  EXPECT_EQ(Complete(With(Example1(), "budget_key", "Player:x")).body,
            InvalidArg("budget_key", "pattern"));
  EXPECT_EQ(Complete(With(Example1(), "budget_key", "player:" + std::string(65, 'a'))).body,
            InvalidArg("budget_key", "pattern"));
  EXPECT_EQ(Complete(With(Example1(), "idempotency_key", "a b")).body,
            InvalidArg("idempotency_key", "pattern"));
  EXPECT_EQ(Complete(With(Example1(), "idempotency_key", std::string(65, 'k'))).body,
            InvalidArg("idempotency_key", "too_long"));
  // First failure wins: model before messages.
  Json both = With(With(Example1(), "model", ""), "messages", Json::array());
  EXPECT_EQ(Complete(both).body, InvalidArg("model", "required"));
  // Content "" is allowed (4 tokens), seed any i64.
  Json ok = With(Example1(), "messages", Json::array({{{"role", "user"}, {"content", ""}}}));
  ok["seed"] = -9007199254740991LL;
  Reply r = Complete(ok);
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["input_tokens"], 4);
  EXPECT_EQ(r.body["text"], "[echo-small] ");
}

// ---- rule 1 / rule 8: authorization ----

TEST_F(SUITE(AiIntegrationTest), CompleteIsForServicesAndAdminsOnly) {
  EXPECT_EQ(Complete(Example1(), testing::AsPlayer()).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(Complete(Example1(), Headers{"", std::string(testing::kSpecTime)}).body,
            Error("UNAUTHENTICATED"));
  // Fields come before authorization (rule 8).
  EXPECT_EQ(Complete(With(Example1(), "max_tokens", -1), testing::AsPlayer()).body,
            InvalidArg("max_tokens", "out_of_range"));
  EXPECT_TRUE(Complete(Example1(), Headers{"admin:ops", std::string(testing::kSpecTime)}).ok());
  EXPECT_EQ(ModelLookups(), 1);  // rejected requests never reached model-management
}

// ---- rule 1 / AI3 / AI13: model resolution ----

TEST_F(SUITE(AiIntegrationTest), UnknownModelIsNotFoundPassedThrough) {
  EXPECT_EQ(Complete(With(Example1(), "model", "nope")).body,
            Error("NOT_FOUND", {{"field", "name"}}));
}

TEST_F(SUITE(AiIntegrationTest), RetiredModelIsModelRetiredAndDeprecatedIsUsable) {
  Json retired = EchoSmall("old");
  retired["status"] = "retired";
  Json deprecated = EchoSmall("dep");
  deprecated["status"] = "deprecated";
  LoadModels(Json::array({EchoSmall(), retired, deprecated}));
  EXPECT_EQ(Complete(With(Example1(), "model", "old")).body,
            Error("FAILED_PRECONDITION", {{"reason", "model_retired"}}));
  Reply r = Complete(With(Example1(), "model", "dep"));
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["text"], "[dep] Who sleeps beneath the yew?");
  EXPECT_EQ(r.body["model_id"], "dep");
}

// ---- AI4 / rule 3 / rule 8: max_tokens and context ----

TEST_F(SUITE(AiIntegrationTest), MaxTokensAboveTheModelMaximumIsOutOfRangeAfterResolution) {
  EXPECT_EQ(Complete(With(Example1(), "max_tokens", 513)).body,
            InvalidArg("max_tokens", "out_of_range"));
  // Rule 8: the model check (NOT_FOUND) comes first.
  Json both = With(With(Example1(), "max_tokens", 513), "model", "nope");
  EXPECT_EQ(Complete(both).body, Error("NOT_FOUND", {{"field", "name"}}));
  EXPECT_TRUE(Complete(With(Example1(), "max_tokens", 512)).ok());
}

TEST_F(SUITE(AiIntegrationTest), ZeroMaxTokensMeansMin256AndTheModelMaximum) {
  Json tiny = EchoSmall("tiny");
  tiny["max_output_tokens"] = 3;
  LoadModels(Json::array({EchoSmall(), tiny}));
  Reply r = Complete(With(With(Example1(), "model", "tiny"), "max_tokens", 0));
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["text"], "[tiny]");  // cut after the 3rd token: "[", "tiny", "]"
  EXPECT_EQ(r.body["finish_reason"], "length");
  EXPECT_EQ(r.body["output_tokens"], 3);
  // max_tokens 0 on a big model reserves 256: 23 + 256 against the context.
  Json narrow = EchoSmall("narrow");
  narrow["context_window"] = 278;
  LoadModels(Json::array({EchoSmall(), narrow}));
  EXPECT_EQ(Complete(With(With(Example1(), "model", "narrow"), "max_tokens", 0)).body,
            Error("FAILED_PRECONDITION", {{"reason", "context_overflow"}}));
  narrow["context_window"] = 279;
  LoadModels(Json::array({EchoSmall(), narrow}));
  EXPECT_TRUE(Complete(With(With(Example1(), "model", "narrow"), "max_tokens", 0)).ok());
}

TEST_F(SUITE(AiIntegrationTest), ContextOverflowComesBeforeTheBudget) {
  Json narrow = EchoSmall("narrow");
  narrow["context_window"] = 86;  // 23 + 64 = 87
  LoadModels(Json::array({EchoSmall(), narrow}));
  h_.LoadFixture(Json{{"budgets", {{kBudgetKey, {{"daily_token_limit", 1}}}}}});
  EXPECT_EQ(Complete(With(Example1(), "model", "narrow")).body,
            Error("FAILED_PRECONDITION", {{"reason", "context_overflow"}}));
  EXPECT_TRUE(h_.Events().empty());
}

// ---- rule 5 / AI10: the template provider ----

TEST_F(SUITE(AiIntegrationTest), TemplatePlaceholdersAreSubstitutedInOnePass) {
  Json t = EchoSmall("tpl");
  t["template"] = "{system}|{last_user}|{model_id}|{n_messages}|{other}";
  LoadModels(Json::array({EchoSmall(), t}), Json{{"tpl-alias", "tpl"}});
  Json msgs = Json::array({{{"role", "user"}, {"content", "first {system}"}},
                           {{"role", "system"}, {"content", "S1"}},
                           {{"role", "assistant"}, {"content", "A"}},
                           {{"role", "system"}, {"content", "S2"}},
                           {{"role", "user"}, {"content", "last"}}});
  Reply r = Complete(With(With(Example1(), "model", "tpl-alias"), "messages", msgs));
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["text"], "S1|last|tpl|5|{other}");
  EXPECT_EQ(r.body["model_id"], "tpl");
  // No system message: "" ; the substituted text is not re-scanned.
  msgs = Json::array({{{"role", "user"}, {"content", "{model_id}"}}});
  r = Complete(With(With(Example1(), "model", "tpl"), "messages", msgs));
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["text"], "|{model_id}|tpl|1|{other}");
}

TEST_F(SUITE(AiIntegrationTest), TemplateOutputIsIdenticalWhateverTemperatureAndSeed) {
  Reply a = Complete(Example1());
  Reply b = Complete(With(With(Example1(), "temperature_milli", 2000), "seed", 99));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a.body["text"], b.body["text"]);
  EXPECT_EQ(b.body["budget_remaining_tokens"], 20000 - 68);
}

// ---- rule 4 / AI5–AI9: budgets ----

TEST_F(SUITE(AiIntegrationTest), TokenBudgetExhaustionEmitsOneEventAndChangesNothing) {
  h_.LoadFixture(Json{{"budgets", {{kBudgetKey, {{"daily_token_limit", 20000}}}}},
                      {"usage", {{kBudgetKey, {{"2025-11-20", {{"tokens_in", 19990}}}}}}}});
  Reply r = Complete(Example1());
  EXPECT_EQ(r.body, Error("RESOURCE_EXHAUSTED", {{"reason", "budget_exhausted"},
                                                 {"budget_key", kBudgetKey},
                                                 {"remaining_tokens", "10"},
                                                 {"required_tokens", "87"}}));
  auto events = h_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["subject"], "evt.ai-integration.v1.budget_exhausted");
  EXPECT_EQ(events[0]["budget_key"], kBudgetKey);
  EXPECT_EQ(events[0]["day"], "2025-11-20");
  EXPECT_EQ(Usage().body["requests"], 0);
  // Exactly at the limit passes: 19913 + 87 = 20000.
  h_.LoadFixture(Json{{"budgets", {{kBudgetKey, {{"daily_token_limit", 20000}}}}},
                      {"usage", {{kBudgetKey, {{"2025-11-20", {{"tokens_in", 19913}}}}}}}});
  Reply ok = Complete(Example1());
  ASSERT_TRUE(ok.ok()) << ok;
  EXPECT_EQ(ok.body["budget_remaining_tokens"], 20000 - 19913 - 34);
}

TEST_F(SUITE(AiIntegrationTest), RemainingTokensNeverGoNegative) {
  h_.LoadFixture(Json{{"budgets", {{kBudgetKey, {{"daily_token_limit", 100}}}}},
                      {"usage", {{kBudgetKey, {{"2025-11-20", {{"tokens_out", 150}}}}}}}});
  EXPECT_EQ(Complete(Example1()).details()["remaining_tokens"], "0");
  EXPECT_EQ(Usage().body["remaining_tokens"], 0);
}

TEST_F(SUITE(AiIntegrationTest), UnsetBudgetDefaultsTo100000TokensAndNoCostLimit) {
  const std::string other = "npc:odrin";
  Reply r = Complete(With(Example1(), "budget_key", other));
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["budget_remaining_tokens"], 100000 - 34);
  EXPECT_EQ(Usage("", other).body["daily_token_limit"], 100000);
  // set_budget with limit 0 = default.
  ASSERT_TRUE(h_.Call("set_budget", Json{{"budget_key", other}, {"daily_token_limit", 0}}.dump()).ok());
  EXPECT_EQ(Usage("", other).body["daily_token_limit"], 100000);
}

TEST_F(SUITE(AiIntegrationTest), CostBudgetIsCheckedAfterTheTokenBudgetWithTheWorstCase) {
  // Worst case ⌈(23·100 + 64·300)/1000⌉ = 22.
  ASSERT_TRUE(h_.Call("set_budget", Json{{"budget_key", kBudgetKey},
                                         {"daily_token_limit", 20000},
                                         {"daily_cost_limit_micro", 21}}
                                        .dump())
                  .ok());
  EXPECT_EQ(Complete(Example1()).body,
            Error("RESOURCE_EXHAUSTED", {{"reason", "cost_budget_exhausted"},
                                         {"budget_key", kBudgetKey},
                                         {"remaining_cost_micro", "21"},
                                         {"required_cost_micro", "22"}}));
  auto events = h_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["subject"], "evt.ai-integration.v1.budget_exhausted");
  // Equal passes (AI6); the actual cost is 6.
  ASSERT_TRUE(h_.Call("set_budget", Json{{"budget_key", kBudgetKey},
                                         {"daily_token_limit", 20000},
                                         {"daily_cost_limit_micro", 22}}
                                        .dump())
                  .ok());
  Reply ok = Complete(Example1());
  ASSERT_TRUE(ok.ok()) << ok;
  EXPECT_EQ(ok.body["cost_micro"], 6);
  // Now 16 remain: the next worst case (22) fails with remaining 16.
  EXPECT_EQ(Complete(Example1()).details()["remaining_cost_micro"], "16");
  // The token check wins when both fail.
  ASSERT_TRUE(h_.Call("set_budget", Json{{"budget_key", kBudgetKey},
                                         {"daily_token_limit", 50},
                                         {"daily_cost_limit_micro", 1}}
                                        .dump())
                  .ok());
  EXPECT_EQ(Complete(Example1()).details()["reason"], "budget_exhausted");
}

TEST_F(SUITE(AiIntegrationTest), UsageIsPerUtcDay) {
  ASSERT_TRUE(Complete(Example1()).ok());
  Headers tomorrow = AsRouter();
  tomorrow.time = "2025-11-21T00:00:00.000Z";
  ASSERT_TRUE(Complete(Example1(), tomorrow).ok());
  ASSERT_TRUE(Complete(Example1(), tomorrow).ok());
  EXPECT_EQ(Usage("2025-11-20").body["requests"], 1);
  EXPECT_EQ(Usage("2025-11-21").body["requests"], 2);
  EXPECT_EQ(Usage("2025-11-22").body, (Json{{"day", "2025-11-22"}, {"tokens_in", 0},
                                            {"tokens_out", 0}, {"cost_micro", 0},
                                            {"requests", 0}, {"daily_token_limit", 20000},
                                            {"remaining_tokens", 20000}}));
}

// ---- set_budget / get_usage (AI11, AI12) ----

TEST_F(SUITE(AiIntegrationTest), SetBudgetChecksRangesAndAuthorization) {
  EXPECT_EQ(h_.Call("set_budget", Json{{"budget_key", kBudgetKey}, {"daily_token_limit", -1}}.dump()).body,
            InvalidArg("daily_token_limit", "out_of_range"));
  EXPECT_EQ(h_.Call("set_budget", Json{{"budget_key", kBudgetKey}, {"daily_cost_limit_micro", -1}}.dump()).body,
            InvalidArg("daily_cost_limit_micro", "out_of_range"));
  EXPECT_EQ(h_.Call("set_budget", Json{{"budget_key", "bad"}}.dump()).body,
            InvalidArg("budget_key", "pattern"));
  EXPECT_EQ(h_.Call("set_budget", Json{{"budget_key", kBudgetKey}}.dump(), testing::AsPlayer()).body,
            Error("PERMISSION_DENIED"));
  Reply ok = h_.Call("set_budget",
                     Json{{"budget_key", kBudgetKey}, {"daily_token_limit", 500}}.dump());
  EXPECT_EQ(ok.body, (Json{{"budget_key", kBudgetKey}}));
  EXPECT_EQ(Usage().body["daily_token_limit"], 500);
  EXPECT_TRUE(h_.Events().empty());  // no event
}

TEST_F(SUITE(AiIntegrationTest), GetUsageChecksTheDayAndIsReadableByAnyPrincipal) {
  EXPECT_EQ(Usage("2025-1-01").body, InvalidArg("day", "pattern"));
  EXPECT_EQ(Usage("20251120").body, InvalidArg("day", "pattern"));
  EXPECT_EQ(Usage("2025-02-30").body, InvalidArg("day", "malformed"));
  EXPECT_EQ(Usage("2025-13-01").body, InvalidArg("day", "malformed"));
  EXPECT_TRUE(Usage("2024-02-29").ok());
  EXPECT_EQ(Usage("", "").body, InvalidArg("budget_key", "required"));
  Reply r = h_.Call("get_usage", Json{{"budget_key", "npc:other"}}.dump(), testing::AsPlayer());
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["day"], "2025-11-20");
}

// ---- rule 7 / rule 8 / AI8 / AI9: idempotency ----

TEST_F(SUITE(AiIntegrationTest), IdempotentReplayAnswersBeforeTheDependencyAndChargesOnce) {
  Json rq = With(Example1(), "idempotency_key", "turn-1");
  Reply first = Complete(rq);
  ASSERT_TRUE(first.ok()) << first;
  Reply again = Complete(rq);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(ModelLookups(), 1);  // the replay made no get_model call
  EXPECT_EQ(Usage().body["requests"], 1);
  EXPECT_EQ(h_.Events().size(), 1u);  // replays emit nothing
  // Same key, different request.
  EXPECT_EQ(Complete(With(rq, "seed", 8)).body,
            Error("ALREADY_EXISTS", {{"field", "idempotency_key"}}));
  // A failed request leaves no record: the key can be retried.
  Json failing = With(With(Example1(), "idempotency_key", "turn-2"), "model", "nope");
  EXPECT_EQ(Complete(failing).code(), "NOT_FOUND");
  LoadModels(Json::array({EchoSmall(), EchoSmall("nope")}), Json{{"npc-dialogue-default", "echo-small"}});
  Reply retried = Complete(failing);
  EXPECT_TRUE(retried.ok()) << retried;
  // Keys are scoped by principal.
  EXPECT_TRUE(Complete(rq, Headers{"service:story-teller", std::string(testing::kSpecTime)}).ok());
  EXPECT_EQ(Usage().body["requests"], 3);
}

// ---- dependency failures (rule 1, §0.4 "dependency errors pass through") ----

TEST_F(SUITE(AiIntegrationTest), ModelManagementUnavailablePassesThrough) {
  h_.dependencies().FailNext("model-management", "get_model",
                             Unavailable("dependency_unavailable", {{"service", "model-management"}}));
  EXPECT_EQ(Complete(Example1()).body,
            Error("UNAVAILABLE", {{"reason", "dependency_unavailable"}, {"service", "model-management"}}));
  EXPECT_EQ(Usage().body["requests"], 0);
}

TEST_F(SUITE(AiIntegrationTest), ModelManagementTimeoutIsDeadlineExceededWithinTheDeadline) {
  h_.dependencies().SetInterceptor(
      [](const testing::LocalDependencyClient::RecordedCall&, const google::protobuf::Message&) {
        return DeadlineExceeded();
      });
  const auto start = std::chrono::steady_clock::now();
  Reply r = CallWithDeadline("complete", Example1().dump(), std::chrono::milliseconds(400));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.body, Error("DEADLINE_EXCEEDED"));
  EXPECT_LT(took, std::chrono::milliseconds(400));
  EXPECT_EQ(Usage().body["requests"], 0);
}

// ---- concurrency: reserve is atomic ----

TEST_F(SUITE(AiIntegrationTest), ConcurrentCompletionsCannotOverspendTheBudget) {
  const std::string base = StartFakeProvider();
  LoadRemoteModel(base);
  upstream_->SetResponse("/v1/chat/completions",
                         FakeResponse::Delayed(std::chrono::milliseconds(150), 200,
                                               R"({"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}]})"));
  // Room for one reservation of 87 only.
  h_.LoadFixture(Json{{"budgets", {{kBudgetKey, {{"daily_token_limit", 173}}}}}});
  Method* method = h_.registry().Find("complete");
  auto out = h_.loop().Await<std::vector<Reply>>([&](auto done) {
    auto shared = std::make_shared<std::pair<std::vector<Reply>, decltype(done)>>(
        std::vector<Reply>{}, std::move(done));
    for (int i = 0; i < 2; ++i) {
      MessagePtr request = method->NewRequest();
      ASSERT_TRUE(adapters::transcoding::JsonTextToMessage(With(Example1(), "model", "remote").dump(),
                                                           *request)
                      .ok());
      method->Invoke(PortHarness::Context(AsRouter()), std::move(request),
                     [shared](absl::StatusOr<MessagePtr> r) {
                       shared->first.push_back(PortHarness::ToReply(std::move(r)));
                       if (shared->first.size() == 2) std::move(shared->second)(shared->first);
                     });
    }
  });
  ASSERT_TRUE(out.has_value());
  int ok = 0, exhausted = 0;
  for (const Reply& r : *out) {
    ok += r.ok();
    if (r.code() == "RESOURCE_EXHAUSTED") {
      ++exhausted;
      EXPECT_EQ(r.details()["remaining_tokens"], "86");  // the other call's reservation counts
    }
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(exhausted, 1);
  EXPECT_EQ(upstream_->request_count(), 1);
}

// ---- rule 6: the openai_compatible provider over real HTTP ----

TEST_F(SUITE(AiIntegrationTest), OpenAiCompatibleSendsTheRuleSixRequestAndUsesReportedUsage) {
  const std::string base = StartFakeProvider();
  LoadRemoteModel(base);
  upstream_->SetResponse(
      "/v1/chat/completions",
      FakeResponse::Reply(200, R"({"id":"x","choices":[{"index":0,"message":{"role":"assistant",
        "content":"Old Maud, and her dog."},"finish_reason":"length"}],
        "usage":{"prompt_tokens":30,"completion_tokens":7,"total_tokens":37}})"));
  Reply r = Complete(With(Example1(), "model", "remote"));
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body, (Json{{"text", "Old Maud, and her dog."}, {"finish_reason", "length"},
                          {"model_id", "remote"}, {"provider", "openai_compatible"},
                          {"input_tokens", 30}, {"output_tokens", 7},
                          // ⌈(30·100 + 7·300)/1000⌉ = ⌈5.1⌉
                          {"cost_micro", 6}, {"budget_remaining_tokens", 20000 - 37}}));
  auto sent = upstream_->last_request();
  ASSERT_TRUE(sent.has_value());
  EXPECT_EQ(sent->method, "POST");
  EXPECT_EQ(sent->uri, "/v1/chat/completions");
  EXPECT_EQ(sent->Header("Authorization").value_or(""), "Bearer sk-test-123");
  EXPECT_EQ(sent->Header("Content-Type").value_or(""), "application/json");
  Json body = Json::parse(sent->body);
  EXPECT_EQ(body["model"], "gpt-test");
  EXPECT_EQ(body["messages"], Messages());
  EXPECT_EQ(body["max_tokens"], 64);
  EXPECT_DOUBLE_EQ(body["temperature"].get<double>(), 0.7);
  EXPECT_EQ(body["seed"], 7);
  EXPECT_EQ(Usage().body["tokens_in"], 30);
  EXPECT_EQ(h_.Events().size(), 1u);
}

TEST_F(SUITE(AiIntegrationTest), OpenAiCompatibleWithoutUsageCountsWithSimpleV1) {
  const std::string base = StartFakeProvider();
  LoadRemoteModel(base + "/", /*api_key_env=*/"");
  upstream_->SetResponse("/v1/chat/completions",
                         FakeResponse::Reply(200, R"({"choices":[{"message":{"content":"Nobody, friend."}}]})"));
  Reply r = Complete(With(Example1(), "model", "remote"));
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["input_tokens"], 23);
  EXPECT_EQ(r.body["output_tokens"], 4);  // Nobody , friend .
  EXPECT_EQ(r.body["finish_reason"], "stop");
  auto sent = upstream_->last_request();
  ASSERT_TRUE(sent.has_value());
  EXPECT_EQ(sent->uri, "/v1/chat/completions");  // trailing '/' of base_url dropped
  EXPECT_FALSE(sent->Header("Authorization").has_value());  // api_key_env ""
}

struct ProviderFailureCase {
  const char* name;
  FakeResponse response;
  Json expected;
};

TEST_F(SUITE(AiIntegrationTest), OpenAiCompatibleFailuresMapPerRuleSixAndChargeNothing) {
  const std::string base = StartFakeProvider();
  LoadRemoteModel(base);
  const ProviderFailureCase cases[] = {
      {"5xx", FakeResponse::Reply(502, "bad gateway"), Error("UNAVAILABLE")},
      {"500", FakeResponse::Reply(500, "{}"), Error("UNAVAILABLE")},
      {"429", FakeResponse::Reply(429, R"({"error":"slow down"})"),
       Error("RESOURCE_EXHAUSTED", {{"reason", "provider_rate_limited"}})},
      {"4xx", FakeResponse::Reply(400, R"({"error":"bad"})"),
       Error("FAILED_PRECONDITION", {{"reason", "provider_rejected"}})},
      {"401", FakeResponse::Reply(401, ""),
       Error("FAILED_PRECONDITION", {{"reason", "provider_rejected"}})},
      {"timeout", FakeResponse::NeverReply(), Error("DEADLINE_EXCEEDED")},
      {"closed", FakeResponse::Close(), Error("UNAVAILABLE")},
      {"garbage", FakeResponse::Reply(200, "not json"), Error("UNAVAILABLE")},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    upstream_->SetResponse("/v1/chat/completions", c.response);
    const auto start = std::chrono::steady_clock::now();
    Reply r = Complete(With(Example1(), "model", "remote"));
    EXPECT_EQ(r.body, c.expected);
    // The provider timeout (400 ms here, 20 s by default) bounds the call.
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2000));
  }
  // No charge, no usage event, and no reservation left behind: the whole budget is free.
  EXPECT_EQ(Usage().body["requests"], 0);
  EXPECT_TRUE(h_.Events().empty());
  h_.LoadFixture(Json{{"budgets", {{kBudgetKey, {{"daily_token_limit", 87}}}}}});
  upstream_->SetResponse("/v1/chat/completions", FakeResponse::Reply(502, ""));
  EXPECT_EQ(Complete(With(Example1(), "model", "remote")).code(), "UNAVAILABLE");
  EXPECT_TRUE(Complete(Example1()).ok());  // 87 still fits
}

TEST_F(SUITE(AiIntegrationTest), OpenAiCompatibleConnectFailureAndHttpsAreUnavailable) {
  const std::string base = StartFakeProvider();
  const std::string address = upstream_->address();
  upstream_.reset();  // refused
  LoadRemoteModel("http://" + address + "/v1");
  EXPECT_EQ(Complete(With(Example1(), "model", "remote")).body, Error("UNAVAILABLE"));
  LoadRemoteModel("https://api.example.test/v1");
  EXPECT_EQ(Complete(With(Example1(), "model", "remote")).body, Error("UNAVAILABLE"));
}

TEST(AiIntegrationProviderTest, WithoutAnHttpClientTheProviderIsUnavailable) {
  ai::OpenAiCompatibleProvider provider(nullptr, {});
  ai::ModelConfig model;
  model.set_provider("openai_compatible");
  ai::Messages messages;
  std::optional<absl::Status> got;
  provider.Complete(model, messages, 10, 700, 7, std::chrono::milliseconds(1000),
                    [&](absl::StatusOr<ai::ProviderResult> r) { got = r.status(); });
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(absl::IsUnavailable(*got));
}

// ---- fixtures ----

TEST_F(SUITE(AiIntegrationTest), FixtureRejectsBadKeysAndDays) {
  EXPECT_EQ(h_.Fixture(Json{{"budgets", {{"BAD", {{"daily_token_limit", 1}}}}}}).code(),
            "INVALID_ARGUMENT");
  EXPECT_EQ(h_.Fixture(Json{{"usage", {{kBudgetKey, {{"2025-02-30", Json::object()}}}}}}).code(),
            "INVALID_ARGUMENT");
}

TEST(SUITE(AiIntegrationFixtureTest), DisabledFixtureIsPermissionDenied) {
  PortHarness h("ai-integration", [](const ServiceDeps& d) { return MakeAiIntegrationService(d); },
                /*fixtures_enabled=*/false, TestStore(), {MakeModelManagementService});
  EXPECT_EQ(h.Fixture(Json::object()).body, Error("PERMISSION_DENIED"));
}

}  // namespace
}  // namespace sidecar::services
