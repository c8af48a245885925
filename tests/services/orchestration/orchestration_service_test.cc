// orchestration (SERVICES.md §2.19, §4 N27/N28, §6 O1-O12) through its registry, with payment,
// quest-system and world-state hosted in process: the golden examples, every rule and O-line,
// retries and backoff, a failure injected at each step (compensations ran, balances and quest state
// read back from the dependencies), a dependency that never answers, retry_compensation, events,
// and the sweeper resuming sagas a crashed host left running or compensating.

#include "services/orchestration/orchestration_service.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "adapters/transcoding/json_codec.h"
#include "gtest/gtest.h"
#include "services/common/determinism.h"
#include "services/common/errors.h"
#include "services/common/jcs.h"
#include "services/common/timers.h"
#include "services/orchestration/orchestration_store.h"
#include "services/payment/payment_service.h"
#include "services/quest_system/quest_system_service.h"
#include "services/world_state/world_state_service.h"
#include "tests/services/common/port_harness.h"
#include "tests/services/common/port_suite.h"  // SUITE, TestStore: built on memory and on KV

namespace sidecar::services {
namespace {

using std::chrono::milliseconds;
using testing::AsPlayer;
using testing::Error;
using testing::Headers;
using testing::InvalidArg;
using testing::Json;
using testing::kPlayerP;
using testing::kSpecTimeMs;
using testing::PortHarness;
using testing::Reply;
using testing::TestStore;

const std::string P(kPlayerP);
const std::string kOtherPlayer = "pl_00000000000000aa";
const Headers kBbi{"service:body-broker-integration", "2025-11-20T12:00:00.000Z"};
const Headers kAsOrchestration{"service:orchestration", "2025-11-20T12:00:00.000Z"};

const std::vector<PortHarness::Factory> kDependencies = {MakePaymentService, MakeQuestSystemService,
                                                         MakeWorldStateService};

// §2.15 Example 2's quest (active, 5/5), with the rewards given.
Json QuestFixture(Json currency = Json::parse(R"([{"currency":"GLD","amount_minor":1500}])"),
                  Json standing = Json::parse(R"([{"faction_id":"broker_guild","delta":150}])"),
                  std::string status = "active") {
  Json quest = {{"quest_id", "q.moss_for_the_broker"},
                {"title", "Moss for the Broker"},
                {"min_level", 3},
                {"prerequisites", Json::array()},
                {"objectives", Json::parse(R"([{"objective_id":"collect_moss","kind":"collect",
                                               "target":"item.grave_moss","required":5}])")},
                {"rewards", {{"currency", currency}, {"standing", standing}}},
                {"repeatable", false}};
  Json pq = {{"player_id", P},
             {"quest_id", "q.moss_for_the_broker"},
             {"status", status},
             {"progress", {{"collect_moss", 5}}},
             {"completions", status == "completed" ? 1 : 0}};
  return {{"quests", Json::array({quest})}, {"player_quests", Json::array({pq})}};
}

Json WalletFixture(int64_t balance = 3800) {
  return {{"wallets",
           Json::array({{{"account_id", P}, {"currency", "GLD"}, {"balance_minor", balance}}})}};
}

Json WorldFixture() {
  return Json::parse(R"({"regions": [{"region_id": "vell-marches", "name": "Vell Marches",
                                     "controlling_faction": "broker_guild", "danger": 4, "flags": {}}]})");
}

Json TurnIn(const std::string& saga_id = "turnin-7f3a", const std::string& player = P) {
  return {{"saga_id", saga_id},
          {"template", "quest_turn_in"},
          {"template_params", {{"player_id", player}, {"quest_id", "q.moss_for_the_broker"}}}};
}

Json CreditStep(int64_t amount, const std::string& reason = "bounty") {
  return {{"kind", "payment.credit"},
          {"params",
           {{"account_id", P}, {"currency", "GLD"}, {"amount_minor", amount}, {"reason", reason}}}};
}
Json TransferStep(int64_t amount) {
  return {{"kind", "payment.transfer"},
          {"params",
           {{"from_account", P},
            {"to_account", "escrow:c-118"},
            {"currency", "GLD"},
            {"amount_minor", amount},
            {"memo", "collateral"}}}};
}
Json DeltaStep(Json params) {
  return {{"kind", "world.apply_delta"}, {"params", std::move(params)}};
}
Json Explicit(const std::string& saga_id, Json steps) {
  return {{"saga_id", saga_id}, {"steps", std::move(steps)}};
}

// The §2.19 Example 2 request.
Json Bounty() {
  return Explicit("bounty-c118", Json::array({CreditStep(500), TransferStep(99999)}));
}

class SUITE(OrchestrationTest) : public ::testing::Test {
 protected:
  SUITE(OrchestrationTest)
  ()
      : h_("orchestration", MakeOrchestrationService, /*fixtures_enabled=*/true, TestStore(),
           kDependencies) {
    Given(QuestFixture(), WalletFixture(), WorldFixture());
  }

  void Given(const Json& quests, const Json& wallets, const Json& world) {
    ASSERT_TRUE(h_.CallDependency("quest-system", "_fixture", quests.dump()).ok());
    ASSERT_TRUE(h_.CallDependency("payment", "_fixture", wallets.dump()).ok());
    ASSERT_TRUE(h_.CallDependency("world-state", "_fixture", world.dump()).ok());
  }

  Reply Start(const Json& body, const Headers& headers = {}) {
    return h_.Call("start_saga", body.dump(), headers);
  }
  Reply Get(const std::string& saga_id, const Headers& headers = {}) {
    return h_.Call("get_saga", Json{{"saga_id", saga_id}}.dump(), headers);
  }
  Reply Retry(const std::string& saga_id, const Headers& headers = {}) {
    return h_.Call("retry_compensation", Json{{"saga_id", saga_id}}.dump(), headers);
  }

  // Polls get_saga until the saga has a final status (a saga may outlive its request).
  Json WaitFinal(const std::string& saga_id) {
    for (int i = 0; i < 400; ++i) {
      Reply r = Get(saga_id);
      if (r.ok()) {
        std::string status = r.body["status"];
        if (status == "completed" || status == "compensated" || status == "compensation_failed") {
          // The runner may still be publishing/forgetting: wait until it is idle.
          WaitIdle();
          return r.body;
        }
      }
      absl::SleepFor(absl::Milliseconds(25));
    }
    ADD_FAILURE() << "saga " << saga_id << " did not finish";
    return Json();
  }
  OrchestrationService& port() { return static_cast<OrchestrationService&>(h_.service()); }
  void WaitIdle(OrchestrationService* service = nullptr) {
    OrchestrationService* s = service != nullptr ? service : &port();
    for (int i = 0; i < 400; ++i) {
      auto n = h_.loop().Await<size_t>([s](auto done) { std::move(done)(s->ActiveSagas()); });
      if (n.has_value() && *n == 0) return;
      absl::SleepFor(absl::Milliseconds(10));
    }
    ADD_FAILURE() << "sagas still running";
  }

  int64_t Wallet(const std::string& account = P, const std::string& currency = "GLD") {
    Reply r = h_.CallDependency("payment", "get_wallet",
                                Json{{"account_id", account}, {"currency", currency}}.dump());
    EXPECT_TRUE(r.ok()) << r;
    return r.body["balance_minor"].get<int64_t>();
  }
  Json Quest() {
    Reply r =
        h_.CallDependency("quest-system", "list_player_quests", Json{{"player_id", P}}.dump());
    EXPECT_TRUE(r.ok()) << r;
    return r.body["quests"][0];
  }
  int Standing(const std::string& faction = "broker_guild") {
    Reply r = h_.CallDependency("world-state", "get_standing",
                                Json{{"player_id", P}, {"faction_id", faction}}.dump());
    EXPECT_TRUE(r.ok()) << r;
    return r.body["standings"][0]["standing"].get<int>();
  }
  Json Region() {
    return h_
        .CallDependency("world-state", "get_region", Json{{"region_id", "vell-marches"}}.dump())
        .body;
  }

  // The orchestration events so far: {"event": <name>, ...fields} (event_id, occurred_at dropped).
  std::vector<Json> SagaEvents() {
    std::vector<Json> out;
    const std::string prefix = "evt.orchestration.v1.";
    for (const Event& e : h_.RawEvents()) {
      if (e.subject.rfind(prefix, 0) != 0) continue;
      std::string name = e.subject.substr(prefix.size());
      std::unique_ptr<google::protobuf::Message> m;
      if (name == "saga_completed") m = std::make_unique<::orchestration::v1::SagaCompletedEvent>();
      if (name == "saga_compensated")
        m = std::make_unique<::orchestration::v1::SagaCompensatedEvent>();
      if (name == "saga_compensation_failed")
        m = std::make_unique<::orchestration::v1::SagaCompensationFailedEvent>();
      if (m == nullptr || !m->ParseFromString(e.data)) {
        ADD_FAILURE() << "undecodable " << e.subject;
        continue;
      }
      Json j = Json::parse(*adapters::transcoding::MessageToJsonText(*m));
      EXPECT_EQ(j["event_id"], e.event_id);
      j.erase("event_id");
      j.erase("occurred_at");
      j["event"] = name;
      out.push_back(j);
    }
    return out;
  }
  // Calls the port made to `service`.`action`, in order.
  std::vector<testing::LocalDependencyClient::RecordedCall> Calls(const std::string& service = "",
                                                                  const std::string& action = "") {
    auto all = h_.loop().Await<std::vector<testing::LocalDependencyClient::RecordedCall>>(
        [this](auto done) { std::move(done)(h_.dependencies().calls()); });
    std::vector<testing::LocalDependencyClient::RecordedCall> out;
    for (const auto& c : *all) {
      if (c.principal != "service:orchestration") continue;  // not the tests' own reads
      if ((service.empty() || c.service == service) && (action.empty() || c.action == action)) {
        out.push_back(c);
      }
    }
    return out;
  }
  std::vector<std::string> CallNames() {
    std::vector<std::string> out;
    for (const auto& c : Calls()) out.push_back(c.service + "." + c.action);
    return out;
  }
  void InjectNext(const std::string& service, const std::string& action, absl::Status status,
                  int count = 1) {
    h_.loop().Await<bool>([&](auto done) {
      h_.dependencies().FailNext(service, action, status, count);
      std::move(done)(true);
    });
  }
  void Intercept(testing::LocalDependencyClient::Interceptor interceptor) {
    h_.loop().Await<bool>([&](auto done) {
      h_.dependencies().SetInterceptor(std::move(interceptor));
      std::move(done)(true);
    });
  }

  PortHarness h_;
};

// ---- golden examples ----

TEST(SUITE(OrchestrationGoldenTest), EveryGoldenFileReplays) {
  auto paths = testing::GoldenPaths("orchestration");
  ASSERT_EQ(paths.size(), 2u);
  for (const auto& path : paths)
    testing::RunGolden(MakeOrchestrationService, path, TestStore(), kDependencies);
}

TEST_F(SUITE(OrchestrationTest), RegistryMatchesTheProto) {
  EXPECT_TRUE(VerifyRegistry("orchestration", h_.registry()).ok());
}

// ---- Example 1 in depth: rule 2, O6, the calls made (O8, §0.3), the event (O11) ----

TEST_F(SUITE(OrchestrationTest), QuestTurnInGrantsRewardsThroughTheDependencies) {
  Reply r = Start(TurnIn(), AsPlayer());
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["status"], "completed");
  EXPECT_EQ(Wallet(), 5300);
  EXPECT_EQ(Standing(), 150);
  EXPECT_EQ(Quest()["status"], "completed");
  EXPECT_EQ(CallNames(), (std::vector<std::string>{"quest-system.complete", "payment.credit",
                                                   "world-state.apply_delta"}));
  for (const auto& c : Calls()) {
    EXPECT_EQ(c.now_ms, kSpecTimeMs);         // X-Request-Time forwarded
    EXPECT_LE(c.budget, milliseconds(2000));  // O8: min(2000, remaining - 50)
    EXPECT_GT(c.budget, milliseconds(1500));
  }
  EXPECT_NE(Calls("payment")[0].request_debug.find("idempotency_key: \"turnin-7f3a:1\""),
            std::string::npos);
  EXPECT_NE(Calls("world-state")[0].request_debug.find("delta_id: \"turnin-7f3a:2\""),
            std::string::npos);
  WaitIdle();
  EXPECT_EQ(SagaEvents(),
            (std::vector<Json>{{{"event", "saga_completed"}, {"saga_id", "turnin-7f3a"}}}));
  // get_saga: any principal (O12), the stored saga as returned.
  Reply got = Get("turnin-7f3a", AsPlayer(kOtherPlayer));
  ASSERT_TRUE(got.ok()) << got;
  EXPECT_EQ(got.body, r.body);
}

TEST_F(SUITE(OrchestrationTest), TemplateGeneratesOneCreditPerCurrencyThenOneDelta) {
  Given(
      QuestFixture(
          Json::parse(
              R"([{"currency":"SHD","amount_minor":7},{"currency":"GLD","amount_minor":200}])"),
          Json::parse(
              R"([{"faction_id":"ashen_court","delta":-20},{"faction_id":"broker_guild","delta":5}])")),
      WalletFixture(), WorldFixture());
  Reply r = Start(TurnIn(), kBbi);
  ASSERT_TRUE(r.ok()) << r;
  ASSERT_EQ(r.body["steps"].size(), 4u);
  EXPECT_EQ(r.body["steps"][1]["params"],
            Json::parse(R"({"account_id":"pl_a8694c9d17e9b948","currency":"SHD","amount_minor":7,
                            "reason":"quest:q.moss_for_the_broker"})"));
  EXPECT_EQ(r.body["steps"][2]["params"]["currency"], "GLD");
  EXPECT_EQ(r.body["steps"][3]["params"], Json::parse(R"({"standing_changes":[
              {"player_id":"pl_a8694c9d17e9b948","faction_id":"ashen_court","delta":-20},
              {"player_id":"pl_a8694c9d17e9b948","faction_id":"broker_guild","delta":5}]})"));
  EXPECT_EQ(Wallet(P, "SHD"), 7);
  EXPECT_EQ(Wallet(), 4000);
  EXPECT_EQ(Standing("ashen_court"), -20);
}

TEST_F(SUITE(OrchestrationTest), TemplateWithoutRewardsIsOneStep) {
  Given(QuestFixture(Json::array(), Json::array()), WalletFixture(), WorldFixture());
  Reply r = Start(TurnIn(), kBbi);
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["status"], "completed");
  ASSERT_EQ(r.body["steps"].size(), 1u);
}

TEST_F(SUITE(OrchestrationTest), TemplateOnlyCreditsWhenNoStanding) {
  Given(QuestFixture(Json::parse(R"([{"currency":"GLD","amount_minor":10}])"), Json::array()),
        WalletFixture(), WorldFixture());
  Reply r = Start(TurnIn(), kBbi);
  ASSERT_TRUE(r.ok()) << r;
  ASSERT_EQ(r.body["steps"].size(), 2u);
  EXPECT_EQ(r.body["steps"][1]["kind"], "payment.credit");
}

// O5, N28, O11: a failed step 0 gives a one-step saga, compensated, with its event.
TEST_F(SUITE(OrchestrationTest), FirstStepFailureEndsCompensatedWithOneStep) {
  Given(QuestFixture(Json::parse(R"([{"currency":"GLD","amount_minor":1500}])"),
                     Json::parse(R"([{"faction_id":"broker_guild","delta":150}])"), "completed"),
        WalletFixture(), WorldFixture());
  Reply r = Start(TurnIn(), AsPlayer());
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body, Json::parse(R"({"saga_id":"turnin-7f3a","status":"compensated","failed_step":0,
      "steps":[{"index":0,"kind":"quest.complete",
                "params":{"player_id":"pl_a8694c9d17e9b948","quest_id":"q.moss_for_the_broker"},
                "status":"failed","result":{},"error_code":"FAILED_PRECONDITION",
                "error_reason":"not_active"}]})"));
  WaitIdle();
  EXPECT_EQ(SagaEvents(),
            (std::vector<Json>{
                {{"event", "saga_compensated"}, {"saga_id", "turnin-7f3a"}, {"failed_step", 0}}}));
  EXPECT_EQ(CallNames(), std::vector<std::string>{"quest-system.complete"});
}

// ---- a failure injected at each step (rule 3): compensations ran, state restored ----

TEST_F(SUITE(OrchestrationTest), FailureAtCreditRevertsTheQuestCompletion) {
  InjectNext("payment", "credit", FailedPrecondition("balance_limit", {{"account_id", P}}));
  Reply r = Start(TurnIn(), AsPlayer());
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["status"], "compensated");
  EXPECT_EQ(r.body["failed_step"], 1);
  EXPECT_EQ(r.body["steps"][0]["status"], "compensated");
  EXPECT_EQ(r.body["steps"][0]["result"], Json({{"completions", 1}}));  // O7: unchanged
  EXPECT_EQ(r.body["steps"][1]["status"], "failed");
  EXPECT_EQ(r.body["steps"][1]["error_code"], "FAILED_PRECONDITION");
  EXPECT_EQ(r.body["steps"][1]["error_reason"], "balance_limit");
  EXPECT_EQ(r.body["steps"][2]["status"], "pending");  // O5: never run
  EXPECT_EQ(r.body["steps"][2]["result"], Json::object());
  EXPECT_EQ(Quest()["status"], "active");
  EXPECT_EQ(Quest()["completions"], 0);
  EXPECT_EQ(Wallet(), 3800);
  EXPECT_EQ(CallNames(), (std::vector<std::string>{"quest-system.complete", "payment.credit",
                                                   "quest-system.revert_completion"}));
}

TEST_F(SUITE(OrchestrationTest), FailureAtApplyDeltaCompensatesInReverseOrder) {
  InjectNext("world-state", "apply_delta", FailedPrecondition("standing_out_of_range"));
  Reply r = Start(TurnIn(), AsPlayer());
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["status"], "compensated");
  EXPECT_EQ(r.body["failed_step"], 2);
  EXPECT_EQ(r.body["steps"][1]["status"], "compensated");
  // O7: the refund's tx_id = "tx_" + hex16("refund:service:orchestration:turnin-7f3a:1:c").
  EXPECT_EQ(r.body["steps"][1]["result"]["compensation_tx_id"],
            DerivedId("tx", "refund:service:orchestration:turnin-7f3a:1:c"));
  EXPECT_EQ(r.body["steps"][1]["result"]["tx_id"], "tx_a50457f651e9616d");
  EXPECT_EQ(r.body["steps"][0]["status"], "compensated");
  EXPECT_EQ(Wallet(), 3800);
  EXPECT_EQ(Quest()["status"], "active");
  EXPECT_EQ(Standing(), 0);
  EXPECT_EQ(CallNames(), (std::vector<std::string>{"quest-system.complete", "payment.credit",
                                                   "world-state.apply_delta", "payment.refund",
                                                   "quest-system.revert_completion"}));
  EXPECT_NE(
      Calls("payment", "refund")[0].request_debug.find("idempotency_key: \"turnin-7f3a:1:c\""),
      std::string::npos);
}

TEST_F(SUITE(OrchestrationTest), FailureAfterADeltaRevertsIt) {
  Reply r = Start(Explicit("s-delta", Json::array({DeltaStep(Json::parse(R"({"standing_changes":[
                     {"player_id":"pl_a8694c9d17e9b948","faction_id":"broker_guild","delta":40}]})")),
                                                   TransferStep(99999)})),
                  kBbi);
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["status"], "compensated");
  EXPECT_EQ(r.body["steps"][0]["status"], "compensated");
  EXPECT_EQ(r.body["steps"][0]["result"], Json({{"delta_id", "s-delta:0"}}));
  EXPECT_EQ(r.body["steps"][1]["error_reason"], "insufficient_funds");
  EXPECT_EQ(Standing(), 0);
}

TEST_F(SUITE(OrchestrationTest), TransferCompensationRefundsIt) {
  Reply r = Start(Explicit("s-transfer", Json::array({TransferStep(800), CreditStep(-5)})), kBbi);
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["status"], "compensated");
  // O2: value rules are the callee's: payment rejected the amount, the step failed.
  EXPECT_EQ(r.body["steps"][1]["error_code"], "INVALID_ARGUMENT");
  EXPECT_EQ(r.body["steps"][1]["error_reason"], "out_of_range");
  EXPECT_EQ(r.body["steps"][0]["status"], "compensated");
  EXPECT_TRUE(r.body["steps"][0]["result"].contains("compensation_tx_id"));
  EXPECT_EQ(Wallet(), 3800);
  EXPECT_EQ(Wallet("escrow:c-118"), 0);
}

// ---- retries (rule 3, O8) ----

TEST_F(SUITE(OrchestrationTest), UnavailableIsRetriedWithTheSameKeyAfterBackoff) {
  InjectNext("payment", "credit", Unavailable("dependency_unavailable", {{"service", "payment"}}),
             2);
  const absl::Time start = absl::Now();
  Reply r = Start(TurnIn(), AsPlayer());
  ASSERT_TRUE(r.ok()) << r;
  // Waited 100 then 200 ms. libevent measures timers from the loop's cached time, taken a little
  // before the wait was armed, so a timer may end a few ms early on the wall clock.
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(290));
  EXPECT_EQ(r.body["status"], "completed");
  auto credits = Calls("payment", "credit");
  ASSERT_EQ(credits.size(), 3u);
  for (const auto& c : credits) EXPECT_EQ(c.request_debug, credits[0].request_debug);  // same key
  EXPECT_EQ(Wallet(), 5300);
}

TEST_F(SUITE(OrchestrationTest), ThreeUnavailableAttemptsFailTheStepWithTheLastError) {
  InjectNext("payment", "credit", DeadlineExceeded(), 1);
  InjectNext("payment", "credit", Unavailable("dependency_unavailable", {{"service", "payment"}}),
             2);
  Reply r = Start(TurnIn(), AsPlayer());
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(Calls("payment", "credit").size(), 3u);
  Json saga = r.body["status"] == "compensated" ? r.body : WaitFinal("turnin-7f3a");
  EXPECT_EQ(saga["status"], "compensated");
  EXPECT_EQ(saga["steps"][1]["error_code"], "UNAVAILABLE");  // O3, O8: the last attempt's
  EXPECT_EQ(saga["steps"][1]["error_reason"], "dependency_unavailable");
  EXPECT_EQ(saga["steps"][1]["status"], "failed");
  EXPECT_EQ(saga["steps"][0]["status"], "compensated");
  EXPECT_EQ(Quest()["status"], "active");
  EXPECT_EQ(Wallet(), 3800);
  // The uncertain credit was checked for a commit nobody saw: refund of its derived tx_id answered
  // NOT_FOUND (nothing to undo).
  EXPECT_EQ(Calls("payment", "refund").size(), 1u);
}

TEST_F(SUITE(OrchestrationTest), NonRetryableErrorFailsAtOnce) {
  InjectNext("payment", "credit", FailedPrecondition("balance_limit", {{"account_id", P}}));
  Reply r = Start(TurnIn(), AsPlayer());
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(Calls("payment", "credit").size(), 1u);
}

// An uncertain step that did commit (its answer was lost) is undone too: money never stays moved.
TEST_F(SUITE(OrchestrationTest), LostAnswerOfACommittedCreditIsRefunded) {
  Reply first = Start(Explicit("lost-1", Json::array({CreditStep(100)})), kBbi);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(Wallet(), 3900);
  // Now simulate the loss: a second saga whose credit commits through a direct call with its key
  // (as if the reply was lost) and whose own attempts all fail UNAVAILABLE.
  ASSERT_TRUE(h_.CallDependency("payment", "credit",
                                Json{{"idempotency_key", "lost-2:0"},
                                     {"account_id", P},
                                     {"currency", "GLD"},
                                     {"amount_minor", 100},
                                     {"reason", "x"}}
                                    .dump(),
                                kAsOrchestration)
                  .ok());
  EXPECT_EQ(Wallet(), 4000);
  InjectNext("payment", "credit", Unavailable(""), 3);
  Reply r = Start(Explicit("lost-2", Json::array({CreditStep(100, "x")})), kBbi);
  ASSERT_TRUE(r.ok()) << r;
  Json saga = WaitFinal("lost-2");
  EXPECT_EQ(saga["status"], "compensated");
  EXPECT_EQ(saga["failed_step"], 0);
  EXPECT_EQ(saga["steps"][0]["status"], "failed");
  EXPECT_EQ(saga["steps"][0]["error_code"], "UNAVAILABLE");
  EXPECT_TRUE(saga["steps"][0]["result"].contains("compensation_tx_id"));
  EXPECT_EQ(Wallet(), 3900);
}

// ---- a dependency that never answers: each attempt ends at its deadline ----

TEST_F(SUITE(OrchestrationTest), DependencyTimeoutIsMappedWithinTheDeadline) {
  Intercept([](const auto& call, const google::protobuf::Message&) {
    return call.action == "apply_delta" ? DeadlineExceeded() : absl::OkStatus();
  });
  const absl::Time start = absl::Now();
  Reply r = Start(TurnIn(), AsPlayer());  // X-Deadline-Ms default 5000
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_LT(took, absl::Milliseconds(5000));
  EXPECT_GE(took, absl::Milliseconds(4000));
  // Answered with the saga as stored when the budget ran out; it goes on without the caller.
  EXPECT_TRUE(r.body["status"] == "running" || r.body["status"] == "compensating") << r;
  Json saga = WaitFinal("turnin-7f3a");
  EXPECT_EQ(saga["status"], "compensated");
  EXPECT_EQ(saga["failed_step"], 2);
  EXPECT_EQ(saga["steps"][2]["error_code"], "DEADLINE_EXCEEDED");
  EXPECT_EQ(saga["steps"][2]["error_reason"], "");
  auto deltas = Calls("world-state", "apply_delta");
  ASSERT_EQ(deltas.size(), 3u);
  EXPECT_LE(deltas[0].budget, milliseconds(2000));
  EXPECT_LE(deltas[1].budget, milliseconds(2000));
  EXPECT_LT(deltas[2].budget, milliseconds(1000));  // min(2000, remaining - 50)
  EXPECT_EQ(Wallet(), 3800);
  EXPECT_EQ(Quest()["status"], "active");
  EXPECT_EQ(Standing(), 0);
}

// ---- compensation failures (O4) and retry_compensation (rule 6, O10) ----

TEST_F(SUITE(OrchestrationTest), FailedCompensationContinuesBelowAndRetryFinishesIt) {
  InjectNext("payment", "refund",
             FailedPrecondition("insufficient_funds",
                                {{"balance_minor", "0"}, {"required_minor", "200"}}));
  Reply r = Start(
      Explicit("s-comp", Json::array({CreditStep(100), CreditStep(200), TransferStep(99999)})),
      kBbi);
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["status"], "compensation_failed");
  EXPECT_EQ(r.body["failed_step"], 2);
  EXPECT_EQ(r.body["steps"][1]["status"], "compensation_failed");
  EXPECT_EQ(r.body["steps"][1]["error_code"], "");  // O4: error fields unchanged
  EXPECT_FALSE(r.body["steps"][1]["result"].contains("compensation_tx_id"));
  EXPECT_EQ(r.body["steps"][0]["status"], "compensated");  // still compensated below
  EXPECT_EQ(Wallet(), 4000);
  WaitIdle();
  EXPECT_EQ(SagaEvents(),
            (std::vector<Json>{{{"event", "saga_compensation_failed"}, {"saga_id", "s-comp"}}}));

  Reply retried = Retry("s-comp");
  ASSERT_TRUE(retried.ok()) << retried;
  EXPECT_EQ(retried.body["status"], "compensated");
  EXPECT_EQ(retried.body["steps"][1]["status"], "compensated");
  EXPECT_EQ(retried.body["steps"][1]["result"]["compensation_tx_id"],
            DerivedId("tx", "refund:service:orchestration:s-comp:1:c"));
  EXPECT_EQ(Wallet(), 3800);
  // Only the compensation_failed step was re-run (O10).
  EXPECT_EQ(Calls("payment", "refund").size(), 3u);
  WaitIdle();
  auto events = SagaEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1],
            Json({{"event", "saga_compensated"}, {"saga_id", "s-comp"}, {"failed_step", 2}}));

  // Only from compensation_failed.
  EXPECT_EQ(Retry("s-comp").body,
            Error("FAILED_PRECONDITION", {{"reason", "not_compensation_failed"}}));
}

TEST_F(SUITE(OrchestrationTest), RetryCompensationThatFailsAgainStaysCompensationFailed) {
  InjectNext("payment", "refund", FailedPrecondition("insufficient_funds"), 2);
  ASSERT_EQ(Start(Explicit("s-again", Json::array({CreditStep(100), TransferStep(99999)})), kBbi)
                .body["status"],
            "compensation_failed");
  Reply retried = Retry("s-again");
  ASSERT_TRUE(retried.ok()) << retried;
  EXPECT_EQ(retried.body["status"], "compensation_failed");
  WaitIdle();
  auto events = SagaEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1]["event"], "saga_compensation_failed");
  EXPECT_EQ(Retry("s-again").body["status"], "compensated");
}

TEST_F(SUITE(OrchestrationTest), RetryCompensationChecks) {
  EXPECT_EQ(Retry("nope").body, Error("NOT_FOUND", {{"field", "saga_id"}}));
  EXPECT_EQ(Retry("bad id").body, InvalidArg("saga_id", "pattern"));
  EXPECT_EQ(Retry("nope", AsPlayer()).body, Error("PERMISSION_DENIED"));
  ASSERT_TRUE(Start(Bounty(), kBbi).ok());
  EXPECT_EQ(Retry("bounty-c118").body,
            Error("FAILED_PRECONDITION", {{"reason", "not_compensation_failed"}}));
}

// Rule 3: world-state conflicts do not fail a compensation.
TEST_F(SUITE(OrchestrationTest), WorldStateConflictsDoNotFailCompensation) {
  // When the transfer is attempted, someone else changes the flag the delta set.
  Intercept([this](const auto& call, const google::protobuf::Message&) {
    if (call.action == "transfer") {
      Method* put = h_.dependencies().registry("world-state")->Find("put_region");
      ::world_state::v1::PutRegionRequest rq;
      rq.set_region_id("vell-marches");
      rq.set_name("Vell Marches");
      rq.set_controlling_faction("ashen_court");
      rq.set_danger(4);
      (*rq.mutable_flags())["curfew"] = "off";
      auto msg = put->NewRequest();
      msg->CopyFrom(rq);
      put->Invoke(CallContext::Make(kSpecTimeMs, Principal{Principal::Kind::kAdmin, "test"}),
                  std::move(msg), [](absl::StatusOr<MessagePtr>) {});
    }
    return absl::OkStatus();
  });
  Reply r = Start(Explicit("s-conflict", Json::array({DeltaStep(Json::parse(R"({"region_changes":[
                               {"region_id":"vell-marches","controlling_faction":"broker_guild",
                                "set_flags":{"curfew":"on"}}]})")),
                                                      TransferStep(99999)})),
                  kBbi);
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["status"], "compensated");
  EXPECT_EQ(r.body["steps"][0]["status"], "compensated");
  EXPECT_EQ(Region()["flags"]["curfew"], "off");  // the conflicting value was left alone
}

// ---- idempotency by saga_id (rule 5, O9) ----

TEST_F(SUITE(OrchestrationTest), SameRequestReturnsTheStoredSagaWithoutRerunning) {
  Reply first = Start(Bounty(), kBbi);
  ASSERT_TRUE(first.ok());
  WaitIdle();
  const size_t calls = Calls().size();
  Reply again = Start(Bounty(), kAsOrchestration);  // any principal that passes authorization
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(Calls().size(), calls);
  EXPECT_EQ(SagaEvents().size(), 1u);  // no second event
  Json other = Bounty();
  other["steps"][0]["params"]["amount_minor"] = 501;
  EXPECT_EQ(Start(other, kBbi).body, Error("ALREADY_EXISTS", {{"field", "saga_id"}}));
  EXPECT_EQ(Start(TurnIn("bounty-c118"), AsPlayer()).body,
            Error("ALREADY_EXISTS", {{"field", "saga_id"}}));
}

TEST_F(SUITE(OrchestrationTest), TemplateReplayForThePlayer) {
  Reply first = Start(TurnIn(), AsPlayer());
  ASSERT_TRUE(first.ok());
  Reply again = Start(TurnIn(), AsPlayer());
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(Wallet(), 5300);
  // The check order puts PERMISSION_DENIED before the lookup (O9).
  EXPECT_EQ(Start(TurnIn(), AsPlayer(kOtherPlayer)).body, Error("PERMISSION_DENIED"));
}

// ---- rule 1, O1, O2: field checks in table order ----

TEST_F(SUITE(OrchestrationTest), SagaIdChecks) {
  Json body = Bounty();
  body["saga_id"] = "";
  EXPECT_EQ(Start(body, kBbi).body, InvalidArg("saga_id", "required"));
  body["saga_id"] = std::string(65, 'a');
  EXPECT_EQ(Start(body, kBbi).body, InvalidArg("saga_id", "too_long"));
  body["saga_id"] = "a/b";
  EXPECT_EQ(Start(body, kBbi).body, InvalidArg("saga_id", "pattern"));
  body["saga_id"] = "A-z_0.9:x";
  EXPECT_TRUE(Start(body, kBbi).ok());
}

TEST_F(SUITE(OrchestrationTest), ExactlyOneOfTemplateAndSteps) {
  EXPECT_EQ(Start(Json{{"saga_id", "x"}}, kBbi).body, InvalidArg("template", "required"));
  Json both = TurnIn();
  both["steps"] = Json::array({CreditStep(5)});
  EXPECT_EQ(Start(both, kBbi).body, InvalidArg("steps", "malformed"));
}

TEST_F(SUITE(OrchestrationTest), TemplateChecks) {
  Json body = TurnIn();
  body["template"] = "bounty";
  EXPECT_EQ(Start(body, kBbi).body, InvalidArg("template", "unknown_value"));
  body = TurnIn();
  body["template_params"].erase("player_id");
  EXPECT_EQ(Start(body, kBbi).body, InvalidArg("template_params.player_id", "required"));
  body = TurnIn();
  body["template_params"]["player_id"] = "pl_ABC";
  EXPECT_EQ(Start(body, kBbi).body, InvalidArg("template_params.player_id", "pattern"));
  body = TurnIn();
  body["template_params"].erase("quest_id");
  EXPECT_EQ(Start(body, kBbi).body, InvalidArg("template_params.quest_id", "required"));
  body = TurnIn();
  body["template_params"]["quest_id"] = "moss";
  EXPECT_EQ(Start(body, kBbi).body, InvalidArg("template_params.quest_id", "pattern"));
  body = TurnIn();
  body["template_params"]["extra"] = "1";
  EXPECT_EQ(Start(body, kBbi).body, InvalidArg("template_params.extra", "unknown_value"));
  // With steps, template_params is type-checked only and ignored (O1).
  Json steps = Bounty();
  steps["template_params"] = {{"anything", "goes"}};
  EXPECT_TRUE(Start(steps, kBbi).ok());
  steps["template_params"] = {{"anything", 5}};
  EXPECT_EQ(Start(steps, kBbi).body["error"]["details"]["reason"], "type");
}

TEST_F(SUITE(OrchestrationTest), StepChecks) {
  Json nine = Json::array();
  for (int i = 0; i < 9; ++i) nine.push_back(CreditStep(1));
  EXPECT_EQ(Start(Explicit("s", nine), kBbi).body, InvalidArg("steps", "too_long"));
  Json body = Explicit("s", Json::array({CreditStep(1), Json{{"params", Json::object()}}}));
  EXPECT_EQ(Start(body, kBbi).body, InvalidArg("steps[1].kind", "required"));
  body["steps"][1]["kind"] = "payment.purchase";
  EXPECT_EQ(Start(body, kBbi).body, InvalidArg("steps[1].kind", "unknown_value"));
  // O2: required = every call-column name except reason, memo, standing_changes, region_changes.
  body = Explicit("s", Json::array({CreditStep(1)}));
  body["steps"][0]["params"].erase("currency");
  EXPECT_EQ(Start(body, kBbi).body, InvalidArg("steps[0].params.currency", "required"));
  body = Explicit("s", Json::array({CreditStep(1)}));
  body["steps"][0]["params"].erase("amount_minor");
  EXPECT_EQ(Start(body, kBbi).body, InvalidArg("steps[0].params.amount_minor", "required"));
  body = Explicit("s", Json::array({CreditStep(1)}));
  body["steps"][0]["params"]["amount_minor"] = "100";
  EXPECT_EQ(Start(body, kBbi).body, InvalidArg("steps[0].params.amount_minor", "type"));
  body["steps"][0]["params"]["amount_minor"] = 1.5;
  EXPECT_EQ(Start(body, kBbi).body, InvalidArg("steps[0].params.amount_minor", "type"));
  body = Explicit("s", Json::array({CreditStep(1)}));
  body["steps"][0]["params"]["account_id"] = 7;
  EXPECT_EQ(Start(body, kBbi).body, InvalidArg("steps[0].params.account_id", "type"));
  body = Explicit("s", Json::array({CreditStep(1)}));
  body["steps"][0]["params"]["memo"] = "x";
  EXPECT_EQ(Start(body, kBbi).body, InvalidArg("steps[0].params.memo", "unknown_value"));
  body = Explicit("s", Json::array({DeltaStep({{"standing_changes", "many"}})}));
  EXPECT_EQ(Start(body, kBbi).body, InvalidArg("steps[0].params.standing_changes", "type"));
  body = Explicit("s",
                  Json::array({Json{{"kind", "quest.complete"}, {"params", {{"player_id", P}}}}}));
  EXPECT_EQ(Start(body, kBbi).body, InvalidArg("steps[0].params.quest_id", "required"));
}

// N27: params echoed as given, no zero-filling; optional names may be absent.
TEST_F(SUITE(OrchestrationTest), ParamsAreEchoedAsGiven) {
  Json credit = CreditStep(25);
  credit["params"].erase("reason");
  Reply r = Start(Explicit("s-echo", Json::array({credit, DeltaStep(Json::object())})), kBbi);
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["steps"][0]["params"], credit["params"]);
  EXPECT_EQ(r.body["steps"][1]["params"], Json::object());
  // world-state rejected an empty delta (its own value rule), failing the step.
  EXPECT_EQ(r.body["steps"][1]["error_code"], "INVALID_ARGUMENT");
  EXPECT_EQ(r.body["steps"][1]["error_reason"], "required");
  EXPECT_EQ(r.body["status"], "compensated");
}

// O2: an apply_delta entry world-state could not even parse fails the step like world-state would.
TEST_F(SUITE(OrchestrationTest), UnparsableDeltaEntryFailsTheStep) {
  Reply r =
      Start(Explicit("s-bad", Json::array({DeltaStep(Json::parse(
                                  R"({"standing_changes":[{"player_id":"x","delta":"lots"}]})"))})),
            kBbi);
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["steps"][0]["error_code"], "INVALID_ARGUMENT");
  EXPECT_EQ(r.body["steps"][0]["error_reason"], "type");
  EXPECT_TRUE(Calls("world-state").empty());
}

// ---- authorization (rule 1, O12) ----

TEST_F(SUITE(OrchestrationTest), Authorization) {
  EXPECT_EQ(Start(Bounty(), AsPlayer()).body,
            Error("PERMISSION_DENIED"));  // explicit: service/admin
  EXPECT_EQ(Start(TurnIn(), AsPlayer(kOtherPlayer)).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(Start(TurnIn(), Headers{"", "2025-11-20T12:00:00.000Z"}).body,
            Error("UNAUTHENTICATED"));
  // Fields before PERMISSION_DENIED.
  Json body = Bounty();
  body["saga_id"] = "";
  EXPECT_EQ(Start(body, AsPlayer()).body, InvalidArg("saga_id", "required"));
  EXPECT_TRUE(Start(TurnIn(), Headers{}).ok());  // admin
}

TEST_F(SUITE(OrchestrationTest), GetSagaChecks) {
  EXPECT_EQ(Get("missing").body, Error("NOT_FOUND", {{"field", "saga_id"}}));
  EXPECT_EQ(Get("").body, InvalidArg("saga_id", "required"));
  EXPECT_EQ(Get("missing", AsPlayer()).body, Error("NOT_FOUND", {{"field", "saga_id"}}));
}

// ---- `_fixture` (README.md) ----

TEST_F(SUITE(OrchestrationTest), FixtureLoadsStoredSagas) {
  Json saga = Json::parse(R"({"saga_id":"fx-1","status":"compensation_failed","failed_step":1,
      "steps":[{"index":0,"kind":"payment.credit",
                "params":{"account_id":"pl_a8694c9d17e9b948","currency":"GLD","amount_minor":100},
                "status":"compensation_failed","result":{"tx_id":"tx_0000000000000000","balance_minor":3900},
                "error_code":"","error_reason":""},
               {"index":1,"kind":"payment.transfer","params":{},"status":"failed","result":{},
                "error_code":"FAILED_PRECONDITION","error_reason":"insufficient_funds"}]})");
  ASSERT_TRUE(h_.Fixture(Json{{"sagas", Json::array({saga})}}).ok());
  Reply got = Get("fx-1");
  ASSERT_TRUE(got.ok()) << got;
  EXPECT_EQ(got.body, saga);
  // Its compensation can be retried; the refund of an unknown tx fails again.
  Reply retried = Retry("fx-1");
  ASSERT_TRUE(retried.ok()) << retried;
  EXPECT_EQ(retried.body["status"], "compensation_failed");
  EXPECT_EQ(Calls("payment", "refund").size(), 1u);
  EXPECT_EQ(h_.Fixture(Json{{"sagas", Json::array({{{"saga_id", "a/b"}}})}}).body,
            InvalidArg("sagas[0].saga_id", "pattern"));
}

// ---- write-ahead persistence and the sweeper (rule 5) ----

TEST_F(SUITE(OrchestrationTest), SagaIsStoredBeforeEachStep) {
  auto seen = std::make_shared<std::vector<std::string>>();
  Intercept([this, seen](const auto& call, const google::protobuf::Message&) {
    h_.store().Get(orchestration::SagaKey("turnin-7f3a"), 0,
                   [seen, action = call.action](absl::StatusOr<std::optional<StoreEntry>> got) {
                     if (!got.ok() || !got->has_value()) return seen->push_back(action + ":absent");
                     auto saga = orchestration::DecodeSaga((*got)->value);
                     std::string states;
                     for (const auto& s : saga->steps) states += s.status + ",";
                     seen->push_back(action + ":" + saga->status + ":" + states);
                   });
    return absl::OkStatus();
  });
  ASSERT_TRUE(Start(TurnIn(), AsPlayer()).ok());
  WaitIdle();
  auto out =
      h_.loop().Await<std::vector<std::string>>([seen](auto done) { std::move(done)(*seen); });
  EXPECT_EQ(*out, (std::vector<std::string>{"complete:running:pending,",
                                            "credit:running:done,pending,pending,",
                                            "apply_delta:running:done,done,pending,"}));
}

class SUITE(OrchestrationSweeperTest) : public SUITE(OrchestrationTest) {
 protected:
  // A second port instance on the same store, publisher and dependencies: the restarted host.
  std::unique_ptr<Service> FreshInstance() {
    timers_ = std::make_unique<DispatcherTimers>(h_.loop().dispatcher());
    ServiceDeps deps;
    deps.store = &h_.store();
    deps.events = &h_.events();
    deps.dependencies = &h_.dependencies();
    deps.timers = timers_.get();
    deps.fixtures_enabled = true;
    return MakeOrchestrationService(deps);
  }
  int Resume(Service& service, int64_t wall_now_ms) {
    auto* port = static_cast<OrchestrationService*>(&service);
    auto n = h_.loop().Await<absl::StatusOr<int>>(
        [&](auto done) { port->ResumeStale(wall_now_ms, std::move(done)); });
    return n.has_value() && n->ok() ? **n : -1;
  }
  void Store(const orchestration::Saga& saga) {
    h_.Put(orchestration::SagaKey(saga.saga_id), orchestration::EncodeSaga(saga));
  }
  // Example 1 as a crashed host left it: step 0 done (quest completed for real), step 1 about to
  // run.
  orchestration::Saga InterruptedTurnIn(int64_t touched_wall_ms) {
    EXPECT_TRUE(
        h_.CallDependency("quest-system", "complete",
                          Json{{"player_id", P}, {"quest_id", "q.moss_for_the_broker"}}.dump(),
                          kAsOrchestration)
            .ok());
    orchestration::Saga saga;
    saga.saga_id = "turnin-7f3a";
    saga.fingerprint = "f";
    saga.template_name = "quest_turn_in";
    saga.player_id = P;
    saga.quest_id = "q.moss_for_the_broker";
    saga.steps.push_back({0,
                          "quest.complete",
                          {{"player_id", P}, {"quest_id", "q.moss_for_the_broker"}},
                          "done",
                          {{"completions", 1}},
                          "",
                          ""});
    saga.steps.push_back({1,
                          "payment.credit",
                          {{"account_id", P},
                           {"currency", "GLD"},
                           {"amount_minor", 1500},
                           {"reason", "quest:q.moss_for_the_broker"}},
                          "pending",
                          Json::object(),
                          "",
                          ""});
    saga.steps.push_back(
        {2,
         "world.apply_delta",
         {{"standing_changes",
           Json::array({{{"player_id", P}, {"faction_id", "broker_guild"}, {"delta", 150}}})}},
         "pending",
         Json::object(),
         "",
         ""});
    saga.updated_at = kSpecTimeMs;
    saga.touched_wall_ms = touched_wall_ms;
    return saga;
  }
  static int64_t WallNow() { return absl::ToUnixMillis(absl::Now()); }

  std::unique_ptr<DispatcherTimers> timers_;
};

TEST_F(SUITE(OrchestrationSweeperTest), RestartedHostCompletesAnInterruptedSaga) {
  const int64_t now = WallNow();
  orchestration::Saga saga = InterruptedTurnIn(now - 60000);
  // The crashed host had even sent the credit (committed, answer lost): the resumed step reuses the
  // key, so payment replays it instead of paying twice.
  ASSERT_TRUE(h_.CallDependency("payment", "credit",
                                Json{{"idempotency_key", "turnin-7f3a:1"},
                                     {"account_id", P},
                                     {"currency", "GLD"},
                                     {"amount_minor", 1500},
                                     {"reason", "quest:q.moss_for_the_broker"}}
                                    .dump(),
                                kAsOrchestration)
                  .ok());
  Store(saga);
  auto fresh = FreshInstance();
  EXPECT_EQ(Resume(*fresh, now), 1);
  Json done = WaitFinal("turnin-7f3a");
  WaitIdle(static_cast<OrchestrationService*>(fresh.get()));
  EXPECT_EQ(done["status"], "completed");
  EXPECT_EQ(done["steps"][1]["result"],
            Json({{"tx_id", "tx_a50457f651e9616d"}, {"balance_minor", 5300}}));
  EXPECT_EQ(Wallet(), 5300);  // not 6800
  EXPECT_EQ(Standing(), 150);
  EXPECT_EQ(Quest()["status"], "completed");
  EXPECT_EQ(SagaEvents(),
            (std::vector<Json>{{{"event", "saga_completed"}, {"saga_id", "turnin-7f3a"}}}));
  // Finished sagas are not resumed again.
  EXPECT_EQ(Resume(*fresh, now + 120000), 0);
}

TEST_F(SUITE(OrchestrationSweeperTest), RecentSagasAreLeftToTheirHost) {
  const int64_t now = WallNow();
  Store(InterruptedTurnIn(now - 10000));
  auto fresh = FreshInstance();
  EXPECT_EQ(Resume(*fresh, now), 0);  // idle 10 s, not > 30 s
  EXPECT_EQ(Get("turnin-7f3a").body["status"], "running");
  EXPECT_EQ(Resume(*fresh, now + 21000), 1);  // idle 31 s
  EXPECT_EQ(WaitFinal("turnin-7f3a")["status"], "completed");
  WaitIdle(static_cast<OrchestrationService*>(fresh.get()));
}

TEST_F(SUITE(OrchestrationSweeperTest), RestartedHostFinishesAnInterruptedCompensation) {
  const int64_t now = WallNow();
  // Step 0 credited for real; step 1 failed; the host died before refunding.
  Reply credit = h_.CallDependency("payment", "credit",
                                   Json{{"idempotency_key", "bounty-c118:0"},
                                        {"account_id", P},
                                        {"currency", "GLD"},
                                        {"amount_minor", 500},
                                        {"reason", "bounty"}}
                                       .dump(),
                                   kAsOrchestration);
  ASSERT_TRUE(credit.ok());
  EXPECT_EQ(Wallet(), 4300);
  orchestration::Saga saga;
  saga.saga_id = "bounty-c118";
  saga.fingerprint = "f";
  saga.status = "compensating";
  saga.failed_step = 1;
  saga.cursor = 1;
  saga.steps.push_back({0,
                        "payment.credit",
                        Bounty()["steps"][0]["params"],
                        "done",
                        {{"tx_id", credit.body["tx_id"]}, {"balance_minor", 4300}},
                        "",
                        ""});
  saga.steps.push_back({1, "payment.transfer", Bounty()["steps"][1]["params"], "failed",
                        Json::object(), "FAILED_PRECONDITION", "insufficient_funds"});
  saga.touched_wall_ms = now - 31000;
  Store(saga);
  auto fresh = FreshInstance();
  EXPECT_EQ(Resume(*fresh, now), 1);
  Json done = WaitFinal("bounty-c118");
  WaitIdle(static_cast<OrchestrationService*>(fresh.get()));
  EXPECT_EQ(done["status"], "compensated");
  EXPECT_EQ(done["steps"][0]["result"]["compensation_tx_id"], "tx_a3a63e9d392779b4");
  EXPECT_EQ(Wallet(), 3800);
  EXPECT_EQ(SagaEvents(),
            (std::vector<Json>{
                {{"event", "saga_compensated"}, {"saga_id", "bounty-c118"}, {"failed_step", 1}}}));
}

TEST_F(SUITE(OrchestrationSweeperTest), StartSagaReturnsAStoredRunningSagaAsIs) {
  orchestration::Saga saga = InterruptedTurnIn(WallNow());
  // The stored fingerprint is the request's: a retry of the same start_saga returns it as stored.
  ::orchestration::v1::StartSagaRequest rq;
  rq.set_saga_id("turnin-7f3a");
  rq.set_template_("quest_turn_in");
  (*rq.mutable_template_params())["player_id"] = P;
  (*rq.mutable_template_params())["quest_id"] = "q.moss_for_the_broker";
  saga.fingerprint = *RequestFingerprint(rq, {});
  Store(saga);
  Reply r = Start(TurnIn(), AsPlayer());
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["status"], "running");  // rule 5: 200 whatever its status, no re-run
  EXPECT_TRUE(Calls().empty());
}

}  // namespace
}  // namespace sidecar::services
