// body-broker-integration (SERVICES.md §2.21, §4 N30, §6 BB1-BB13) through its registry, with the
// real world-state and payment ports hosted in process and orchestration (ported elsewhere) faked
// under its name: the golden examples, every rule, the BB3/BB7 check orders, dependency errors
// passing through, the exact settlement sagas, events.

#include "services/body_broker_integration/body_broker_service.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "body_broker_integration/v1/body_broker_integration.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "orchestration/v1/orchestration.pb.h"
#include "services/payment/payment_service.h"
#include "services/world_state/world_state_service.h"
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
const Headers kService{"service:game", std::string(testing::kSpecTime)};

// orchestration's start_saga: keeps the requests and answers a saga in `status` (or `error`).
struct FakeOrchestration {
  std::vector<Json> sagas;  // the StartSagaRequests as JSON
  std::string status = "completed";
  absl::Status error;
};
class FakeOrchestrationService final : public Service {
 public:
  explicit FakeOrchestrationService(std::shared_ptr<FakeOrchestration> state)
      : state_(std::move(state)) {}
  std::string_view name() const override { return "orchestration"; }
  void Register(HandlerRegistry& r) override {
    r.AddSync<::orchestration::v1::StartSagaRequest, ::orchestration::v1::StartSagaResponse>(
        "start_saga",
        [state = state_](const CallContext&, const ::orchestration::v1::StartSagaRequest& rq)
            -> absl::StatusOr<::orchestration::v1::StartSagaResponse> {
          std::string text;
          google::protobuf::util::JsonPrintOptions options;
          options.preserve_proto_field_names = true;
          (void)google::protobuf::util::MessageToJsonString(rq, &text, options);
          state->sagas.push_back(Json::parse(text));
          if (!state->error.ok()) return state->error;
          ::orchestration::v1::StartSagaResponse out;
          out.set_saga_id(rq.saga_id());
          out.set_status(state->status);
          out.set_failed_step(state->status == "completed" ? -1 : 0);
          return out;
        });
  }

 private:
  std::shared_ptr<FakeOrchestration> state_;
};

Json Contract(const std::string& id, Json overrides = Json::object()) {
  Json c = {{"contract_id", id},           {"patron_faction", "ashen_court"},
            {"region_id", "vell-marches"}, {"grade", "fine"},
            {"min_condition", 50},         {"reward_minor", 5000},
            {"collateral_minor", 1000},    {"min_tier", "friendly"}};
  c.update(overrides);
  return c;
}

class SUITE(BodyBrokerTest) : public ::testing::Test {
 protected:
  SUITE(BodyBrokerTest)
  ()
      : orch_(std::make_shared<FakeOrchestration>()),
        h_("body-broker-integration", MakeBodyBrokerIntegrationService, true, TestStore(),
           {MakeWorldStateService, MakePaymentService,
            [o = orch_](const ServiceDeps&) -> ServicePtr {
              return std::make_unique<FakeOrchestrationService>(o);
            }}) {
    EXPECT_TRUE(
        h_.CallDependency(
              "world-state", "_fixture",
              Json{{"standings",
                    {{{"player_id", P}, {"faction_id", "ashen_court"}, {"standing", 600}},
                     {{"player_id", kOther}, {"faction_id", "ashen_court"}, {"standing", 120}}}}}
                  .dump())
            .ok());
    EXPECT_TRUE(
        h_.CallDependency(
              "payment", "_fixture",
              Json{{"wallets", {{{"account_id", P}, {"currency", "GLD"}, {"balance_minor", 5000}}}}}
                  .dump())
            .ok());
  }

  Reply Post(const Json& contract, const Headers& headers = {}) {
    return h_.Call("post_contract", contract.dump(), headers);
  }
  Reply Accept(const std::string& id, const Headers& headers = AsPlayer()) {
    return h_.Call("accept_contract", Json{{"contract_id", id}}.dump(), headers);
  }
  Reply Settle(const std::string& id, const std::string& outcome, const std::string& grade = "fine",
               int condition = 80, const Headers& headers = {}) {
    return h_.Call("settle_contract",
                   Json{{"contract_id", id},
                        {"outcome", outcome},
                        {"delivered_grade", grade},
                        {"condition", condition}}
                       .dump(),
                   headers);
  }
  Reply GetContract(const std::string& id, const Headers& headers = {}) {
    return h_.Call("get_contract", Json{{"contract_id", id}}.dump(), headers);
  }
  int64_t Balance(const std::string& account) {
    Reply r = h_.CallDependency("payment", "get_wallet",
                                Json{{"account_id", account}, {"currency", "GLD"}}.dump());
    return r.body["balance_minor"].get<int64_t>();
  }
  std::vector<testing::LocalDependencyClient::RecordedCall> Calls() {
    return *h_.loop().Await<std::vector<testing::LocalDependencyClient::RecordedCall>>(
        [&](auto done) { std::move(done)(h_.dependencies().calls()); });
  }
  std::vector<Json> Sagas() {
    return *h_.loop().Await<std::vector<Json>>([&](auto done) { std::move(done)(orch_->sagas); });
  }
  void SetSaga(const std::string& status, absl::Status error = absl::OkStatus()) {
    h_.loop().Await<bool>([&](auto done) {
      orch_->status = status;
      orch_->error = error;
      std::move(done)(true);
    });
  }
  // Posts c-1 and has P accept it (collateral 1000 into escrow:c-1).
  void PostAndAccept(Json overrides = Json::object()) {
    ASSERT_TRUE(Post(Contract("c-1", overrides)).ok());
    Reply r = Accept("c-1");
    ASSERT_TRUE(r.ok()) << r;
  }

  // This port's events as JSON ({"subject", fields without event_id}); the hosted payment port
  // publishes its own events on the same publisher, which are left out.
  std::vector<Json> Events() {
    namespace pb = ::body_broker_integration::v1;
    const std::string prefix = "evt.body-broker-integration.v1.";
    std::vector<Json> out;
    for (const Event& e : h_.RawEvents()) {
      if (e.subject.rfind(prefix, 0) != 0) continue;
      const std::string name = e.subject.substr(prefix.size());
      std::unique_ptr<google::protobuf::Message> m;
      if (name == "contract_posted") m = std::make_unique<pb::ContractPostedEvent>();
      if (name == "contract_accepted") m = std::make_unique<pb::ContractAcceptedEvent>();
      if (name == "contract_settled") m = std::make_unique<pb::ContractSettledEvent>();
      if (m == nullptr || !m->ParseFromString(e.data)) {
        ADD_FAILURE() << "undecodable event " << e.subject;
        continue;
      }
      Json j = Json::parse(*adapters::transcoding::MessageToJsonText(*m));
      j.erase("event_id");
      j["subject"] = e.subject;
      out.push_back(j);
    }
    return out;
  }

  std::shared_ptr<FakeOrchestration> orch_;
  PortHarness h_;
};

TEST(SUITE(BodyBrokerGoldenTest), EveryGoldenFileReplays) {
  auto paths = testing::GoldenPaths("body-broker-integration");
  ASSERT_EQ(paths.size(), 2u);
  for (const auto& path : paths) {
    testing::RunGolden(MakeBodyBrokerIntegrationService, path, TestStore(),
                       {MakeWorldStateService, MakePaymentService});
  }
}

TEST_F(SUITE(BodyBrokerTest), RegistryMatchesTheProto) {
  EXPECT_TRUE(VerifyRegistry("body-broker-integration", h_.registry()).ok());
}

// ---- appraise (rule 2, BB12) ----

TEST_F(SUITE(BodyBrokerTest), AppraiseFollowsTheFormula) {
  auto appraise = [&](const std::string& grade, int condition, const std::string& tier) {
    return h_.Call("appraise",
                   Json{{"grade", grade}, {"condition", condition}, {"tier", tier}}.dump(),
                   AsPlayer());
  };
  EXPECT_EQ(appraise("pristine", 100, "honored").body, Json({{"currency", "GLD"},
                                                             {"base_minor", 15000},
                                                             {"value_minor", 16500},
                                                             {"tier_bonus_bp", 1000}}));
  EXPECT_EQ(
      appraise("common", 0, "hostile").body,  // 2000·50÷150 = 666
      Json(
          {{"currency", "GLD"}, {"base_minor", 2000}, {"value_minor", 666}, {"tier_bonus_bp", 0}}));
  EXPECT_EQ(appraise("common", 1, "friendly").body["value_minor"], 714);  // 680·10500÷10000
  EXPECT_EQ(appraise("", 1, "friendly").body, InvalidArg("grade", "required"));
  EXPECT_EQ(appraise("rare", 1, "friendly").body, InvalidArg("grade", "unknown_value"));
  EXPECT_EQ(appraise("fine", 101, "friendly").body, InvalidArg("condition", "out_of_range"));
  EXPECT_EQ(appraise("fine", -1, "friendly").body, InvalidArg("condition", "out_of_range"));
  EXPECT_EQ(appraise("fine", 1, "").body, InvalidArg("tier", "required"));
  EXPECT_EQ(appraise("fine", 1, "revered").body, InvalidArg("tier", "unknown_value"));
}

// ---- post_contract (rule 1, BB1, BB2) ----

TEST_F(SUITE(BodyBrokerTest), PostContractStoresAnOpenContract) {
  Reply r = Post(Contract("c-1"), kService);
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body, Json({{"contract_id", "c-1"}, {"status", "open"}}));
  Json stored = Contract("c-1");
  stored.update(Json{{"status", "open"},
                     {"broker_id", ""},
                     {"settle_attempts", 0},
                     {"settle_saga_id", ""},
                     {"updated_at", "2025-11-20T12:00:00.000Z"}});
  EXPECT_EQ(GetContract("c-1", AsPlayer(kOther)).body, stored);
  std::vector<Json> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], Json({{"subject", "evt.body-broker-integration.v1.contract_posted"},
                             {"occurred_at", "2025-11-20T12:00:00.000Z"},
                             {"contract_id", "c-1"}}));
  // BB2: an existing id -> ALREADY_EXISTS, even identical; after authorization.
  EXPECT_EQ(Post(Contract("c-1")).body, Error("ALREADY_EXISTS", {{"field", "contract_id"}}));
  EXPECT_EQ(Post(Contract("c-1"), AsPlayer()).body, Error("PERMISSION_DENIED"));
  EXPECT_TRUE(Calls().empty());  // BB1: no calls
}

TEST_F(SUITE(BodyBrokerTest), PostContractFieldChecks) {
  auto with = [&](Json o) { return Post(Contract("c-2", o)).body; };
  EXPECT_EQ(Post(Contract("")).body, InvalidArg("contract_id", "required"));
  EXPECT_EQ(Post(Contract("C_2")).body, InvalidArg("contract_id", "pattern"));
  EXPECT_EQ(Post(Contract(std::string(49, 'c'))).body, InvalidArg("contract_id", "too_long"));
  EXPECT_EQ(with({{"patron_faction", ""}}), InvalidArg("patron_faction", "required"));
  EXPECT_EQ(with({{"patron_faction", "9court"}}), InvalidArg("patron_faction", "pattern"));
  EXPECT_EQ(with({{"patron_faction", "a" + std::string(32, 'b')}}),
            InvalidArg("patron_faction", "too_long"));
  EXPECT_EQ(with({{"region_id", ""}}), InvalidArg("region_id", "required"));
  EXPECT_EQ(with({{"region_id", "Vell"}}), InvalidArg("region_id", "pattern"));
  EXPECT_EQ(with({{"grade", "rare"}}), InvalidArg("grade", "unknown_value"));
  EXPECT_EQ(with({{"grade", ""}}), InvalidArg("grade", "required"));
  EXPECT_EQ(with({{"min_condition", 101}}), InvalidArg("min_condition", "out_of_range"));
  EXPECT_EQ(with({{"reward_minor", 0}}), InvalidArg("reward_minor", "out_of_range"));
  EXPECT_EQ(with({{"reward_minor", 10000001}}), InvalidArg("reward_minor", "out_of_range"));
  EXPECT_EQ(with({{"collateral_minor", 5001}}), InvalidArg("collateral_minor", "out_of_range"));
  EXPECT_EQ(with({{"collateral_minor", -1}}), InvalidArg("collateral_minor", "out_of_range"));
  EXPECT_EQ(with({{"min_tier", "hostile"}}), InvalidArg("min_tier", "unknown_value"));
  EXPECT_EQ(with({{"min_tier", ""}}), InvalidArg("min_tier", "required"));
  Json bad = Contract("c-2", {{"min_tier", "hostile"}});
  EXPECT_EQ(Post(bad, AsPlayer()).body, InvalidArg("min_tier", "unknown_value"));  // fields first
  EXPECT_TRUE(Post(Contract("c-2", {{"collateral_minor", 5000}, {"reward_minor", 5000}})).ok());
}

// ---- accept_contract (rule 3, BB3-BB5) ----

TEST_F(SUITE(BodyBrokerTest), AcceptTransfersCollateralAndStoresTheBroker) {
  ASSERT_TRUE(Post(Contract("c-1")).ok());
  h_.ClearEvents();
  Reply r = Accept("c-1");
  ASSERT_TRUE(r.ok()) << r;
  Json want = Contract("c-1");
  want.update(Json{{"status", "accepted"},
                   {"broker_id", P},
                   {"settle_attempts", 0},
                   {"settle_saga_id", ""},
                   {"updated_at", "2025-11-20T12:00:00.000Z"}});
  EXPECT_EQ(r.body, want);
  EXPECT_EQ(GetContract("c-1").body, want);
  EXPECT_EQ(Balance(P), 4000);
  EXPECT_EQ(Balance("escrow:c-1"), 1000);
  auto calls = Calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].service + "." + calls[0].action, "world-state.get_standing");
  EXPECT_EQ(calls[0].request_debug, "player_id: \"" + P + "\" faction_id: \"ashen_court\"");
  EXPECT_EQ(calls[1].service + "." + calls[1].action, "payment.transfer");
  EXPECT_EQ(calls[1].request_debug,  // BB4
            "idempotency_key: \"bbi:c-1:collateral\" from_account: \"" + P +
                "\" to_account: \"escrow:c-1\" currency: \"GLD\" amount_minor: 1000 memo: "
                "\"contract:c-1\"");
  for (const auto& c : calls) EXPECT_EQ(c.principal, "service:body-broker-integration");
  std::vector<Json> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], Json({{"subject", "evt.body-broker-integration.v1.contract_accepted"},
                             {"occurred_at", "2025-11-20T12:00:00.000Z"},
                             {"contract_id", "c-1"},
                             {"broker_id", P}}));
  // Accepting again: not_open, before any call.
  h_.dependencies().ClearCalls();
  EXPECT_EQ(Accept("c-1").body, Error("FAILED_PRECONDITION", {{"reason", "not_open"}}));
}

TEST_F(SUITE(BodyBrokerTest), AcceptCheckOrder) {
  ASSERT_TRUE(Post(Contract("c-1")).ok());
  EXPECT_EQ(Accept("C!").body, InvalidArg("contract_id", "pattern"));
  EXPECT_EQ(Accept("c-1", kService).body, Error("PERMISSION_DENIED"));  // players only
  EXPECT_EQ(Accept("c-1", Headers{"admin:ops", std::string(testing::kSpecTime)}).body,
            Error("PERMISSION_DENIED"));
  EXPECT_EQ(Accept("nope", kService).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(Accept("nope").body, Error("NOT_FOUND", {{"field", "contract_id"}}));
  EXPECT_EQ(Accept("c-1", AsPlayer(kOther)).body,  // standing 120 = neutral
            Error("FAILED_PRECONDITION", {{"reason", "tier_too_low"},
                                          {"required_tier", "friendly"},
                                          {"current_tier", "neutral"}}));
  // A faction with no stored standing reads 0 (neutral).
  ASSERT_TRUE(
      Post(Contract("c-3", {{"patron_faction", "grave_guild"}, {"min_tier", "neutral"}})).ok());
  EXPECT_TRUE(Accept("c-3").ok());
  EXPECT_EQ(GetContract("c-1").body["status"], "open");
}

TEST_F(SUITE(BodyBrokerTest), AFourthAcceptedContractIsRefused) {
  Json contracts = Json::array();
  for (const char* id : {"a-1", "a-2", "a-3"}) {
    Json c = Contract(id);
    c["status"] = "accepted";
    c["broker_id"] = P;
    contracts.push_back(c);
  }
  Json done = Contract("a-4");
  done["status"] = "fulfilled";
  done["broker_id"] = P;
  contracts.push_back(done);  // only `accepted` ones count
  contracts.push_back(Contract("c-1"));
  ASSERT_TRUE(h_.Fixture(Json{{"contracts", contracts}}).ok());
  Reply r = Accept("c-1");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.body, Error("RESOURCE_EXHAUSTED", {{"reason", "limit_exceeded"}, {"limit", "3"}}));
  EXPECT_EQ(Balance(P), 5000);  // no transfer
  ASSERT_TRUE(Settle("a-1", "failed").ok());
  EXPECT_TRUE(Accept("c-1").ok());
}

TEST_F(SUITE(BodyBrokerTest), DependencyErrorsPassThroughAndTheContractStaysOpen) {
  ASSERT_TRUE(Post(Contract("c-1", {{"collateral_minor", 5000}, {"reward_minor", 9000}})).ok());
  ASSERT_TRUE(
      h_.CallDependency(
            "payment", "_fixture",
            Json{{"wallets", {{{"account_id", P}, {"currency", "GLD"}, {"balance_minor", 100}}}}}
                .dump())
          .ok());
  EXPECT_EQ(Accept("c-1").body, Error("FAILED_PRECONDITION", {{"reason", "insufficient_funds"},
                                                              {"balance_minor", "100"},
                                                              {"required_minor", "5000"}}));
  EXPECT_EQ(GetContract("c-1").body["status"], "open");
  h_.dependencies().FailNext("world-state", "get_standing", Unavailable("", {}, "down"));
  EXPECT_EQ(Accept("c-1").body, Error("UNAVAILABLE"));
  EXPECT_TRUE(Events().size() == 1u);  // only contract_posted
}

TEST_F(SUITE(BodyBrokerTest), NoCollateralNoTransfer) {
  ASSERT_TRUE(Post(Contract("c-1", {{"collateral_minor", 0}})).ok());
  ASSERT_TRUE(Accept("c-1").ok());
  for (const auto& c : Calls()) EXPECT_NE(c.service, "payment");
  EXPECT_EQ(Balance(P), 5000);
}

// ---- settle_contract (rules 4-5, BB6-BB11) ----

TEST_F(SUITE(BodyBrokerTest), FulfilledSettlementRunsTheExactSaga) {
  PostAndAccept();
  h_.ClearEvents();
  Reply r = Settle("c-1", "fulfilled", "pristine", 80);
  ASSERT_TRUE(r.ok()) << r;
  // payout = 5000·min(15000, 10000 + 50·(80 − 50))÷10000 = 5750.
  EXPECT_EQ(r.body["payout_minor"], 5750);
  EXPECT_EQ(r.body["saga_id"], "bbi:c-1:settle:1");
  EXPECT_EQ(r.body["contract"]["status"], "fulfilled");
  EXPECT_EQ(r.body["contract"]["settle_attempts"], 1);
  EXPECT_EQ(r.body["contract"]["settle_saga_id"], "bbi:c-1:settle:1");
  EXPECT_EQ(GetContract("c-1").body, r.body["contract"]);
  auto sagas = Sagas();
  ASSERT_EQ(sagas.size(), 1u);
  EXPECT_EQ(sagas[0], Json::parse(R"({"saga_id":"bbi:c-1:settle:1","steps":[
    {"kind":"payment.transfer","params":{"from_account":"escrow:c-1","to_account":"pl_a8694c9d17e9b948",
      "currency":"GLD","amount_minor":1000,"memo":"contract:c-1"}},
    {"kind":"payment.credit","params":{"account_id":"pl_a8694c9d17e9b948","currency":"GLD",
      "amount_minor":5750,"reason":"contract:c-1"}},
    {"kind":"world.apply_delta","params":{"standing_changes":[
      {"player_id":"pl_a8694c9d17e9b948","faction_id":"ashen_court","delta":250}]}}]})"));
  std::vector<Json> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], Json({{"subject", "evt.body-broker-integration.v1.contract_settled"},
                             {"occurred_at", "2025-11-20T12:00:00.000Z"},
                             {"contract_id", "c-1"},
                             {"outcome", "fulfilled"},
                             {"payout_minor", 5750}}));
  EXPECT_EQ(Settle("c-1", "fulfilled").body,
            Error("FAILED_PRECONDITION", {{"reason", "not_accepted"}}));
}

TEST_F(SUITE(BodyBrokerTest), PayoutIsCappedAtOneAndAHalfTimesTheReward) {
  PostAndAccept({{"min_condition", 0}});
  EXPECT_EQ(Settle("c-1", "fulfilled", "fine", 100).body["payout_minor"], 7500);
}

TEST_F(SUITE(BodyBrokerTest), FailedSettlementSinksTheCollateral) {
  PostAndAccept();
  Reply r = Settle("c-1", "failed", "", 0);  // grade and condition ignored (rule 4)
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["payout_minor"], 0);
  EXPECT_EQ(r.body["contract"]["status"], "failed");
  EXPECT_EQ(Sagas()[0], Json::parse(R"({"saga_id":"bbi:c-1:settle:1","steps":[
    {"kind":"payment.transfer","params":{"from_account":"escrow:c-1","to_account":"sys:sink",
      "currency":"GLD","amount_minor":1000,"memo":"contract:c-1"}},
    {"kind":"world.apply_delta","params":{"standing_changes":[
      {"player_id":"pl_a8694c9d17e9b948","faction_id":"ashen_court","delta":-400}]}}]})"));
  EXPECT_EQ(Events().back()["payout_minor"], 0);
}

TEST_F(SUITE(BodyBrokerTest), NoCollateralNoTransferStep) {
  PostAndAccept({{"collateral_minor", 0}});
  ASSERT_TRUE(Settle("c-1", "fulfilled").ok());
  Json saga = Sagas()[0];
  ASSERT_EQ(saga["steps"].size(), 2u);
  EXPECT_EQ(saga["steps"][0]["kind"], "payment.credit");
}

TEST_F(SUITE(BodyBrokerTest), DeliveryRejectedLeavesTheContractUnchanged) {
  PostAndAccept();
  Json before = GetContract("c-1").body;
  EXPECT_EQ(Settle("c-1", "fulfilled", "common", 90).body,
            Error("FAILED_PRECONDITION", {{"reason", "delivery_rejected"}}));
  EXPECT_EQ(Settle("c-1", "fulfilled", "", 90).body,  // BB6: "" ranks below common
            Error("FAILED_PRECONDITION", {{"reason", "delivery_rejected"}}));
  EXPECT_EQ(Settle("c-1", "fulfilled", "fine", 49).body,
            Error("FAILED_PRECONDITION", {{"reason", "delivery_rejected"}}));
  EXPECT_EQ(GetContract("c-1").body, before);
  EXPECT_TRUE(Sagas().empty());
}

TEST_F(SUITE(BodyBrokerTest), SettleCheckOrder) {
  ASSERT_TRUE(Post(Contract("c-1")).ok());
  EXPECT_EQ(Settle("c-1", "").body, InvalidArg("outcome", "required"));
  EXPECT_EQ(Settle("c-1", "won").body, InvalidArg("outcome", "unknown_value"));
  EXPECT_EQ(Settle("c-1", "failed", "rare").body, InvalidArg("delivered_grade", "unknown_value"));
  EXPECT_EQ(Settle("c-1", "failed", "fine", 101).body, InvalidArg("condition", "out_of_range"));
  EXPECT_EQ(Settle("c-1", "failed", "fine", 80, AsPlayer()).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(Settle("nope", "failed").body, Error("NOT_FOUND", {{"field", "contract_id"}}));
  EXPECT_EQ(Settle("c-1", "fulfilled", "common", 0).body,  // not_accepted before delivery_rejected
            Error("FAILED_PRECONDITION", {{"reason", "not_accepted"}}));
}

TEST_F(SUITE(BodyBrokerTest), AnIncompleteSagaIsUnavailableAndARetryIsTheNextAttempt) {
  PostAndAccept();
  SetSaga("compensated");
  Reply r = Settle("c-1", "fulfilled");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, Error("UNAVAILABLE",
                          {{"reason", "settlement_compensated"}, {"saga_id", "bbi:c-1:settle:1"}}));
  Json stored = GetContract("c-1").body;
  EXPECT_EQ(stored["status"], "accepted");
  EXPECT_EQ(stored["settle_attempts"], 1);
  EXPECT_EQ(stored["settle_saga_id"], "bbi:c-1:settle:1");
  // BB9: an orchestration error passes through; the counter persists.
  SetSaga("completed", Unavailable("dependency_unavailable", {{"service", "orchestration"}}));
  EXPECT_EQ(
      Settle("c-1", "fulfilled").body,
      Error("UNAVAILABLE", {{"reason", "dependency_unavailable"}, {"service", "orchestration"}}));
  EXPECT_EQ(GetContract("c-1").body["settle_attempts"], 2);
  SetSaga("completed");
  Reply ok = Settle("c-1", "fulfilled");
  ASSERT_TRUE(ok.ok()) << ok;
  EXPECT_EQ(ok.body["saga_id"], "bbi:c-1:settle:3");
  std::vector<std::string> ids;
  for (const Json& s : Sagas()) ids.push_back(s["saga_id"]);
  EXPECT_EQ(ids,
            (std::vector<std::string>{"bbi:c-1:settle:1", "bbi:c-1:settle:2", "bbi:c-1:settle:3"}));
  int settled = 0;
  for (const Json& e : Events())
    settled += e["subject"] == "evt.body-broker-integration.v1.contract_settled";
  EXPECT_EQ(settled, 1);  // BB11: only the completed saga
}

TEST_F(SUITE(BodyBrokerTest), AnOrchestrationThatNeverAnswersFailsWithinTheDeadline) {
  PostAndAccept();
  h_.dependencies().SetInterceptor(
      [](const testing::LocalDependencyClient::RecordedCall& c, const google::protobuf::Message&) {
        return c.service == "orchestration" ? DeadlineExceeded() : absl::OkStatus();
      });
  auto start = std::chrono::steady_clock::now();
  Reply r = Settle("c-1", "fulfilled");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(5000));
  EXPECT_EQ(r.body, Error("DEADLINE_EXCEEDED"));
  EXPECT_EQ(GetContract("c-1").body["settle_attempts"], 1);
  EXPECT_EQ(GetContract("c-1").body["status"], "accepted");
}

// ---- get_contract / list_contracts (rule 6, BB13) ----

TEST_F(SUITE(BodyBrokerTest), ListContractsFiltersAndPages) {
  for (const char* id : {"c-3", "c-1", "c-2"}) ASSERT_TRUE(Post(Contract(id)).ok());
  ASSERT_TRUE(Post(Contract("d-1", {{"region_id", "ash-fields"}})).ok());
  ASSERT_TRUE(Accept("c-2").ok());
  auto ids = [](const Reply& r) {
    std::vector<std::string> out;
    for (const Json& c : r.body["contracts"]) out.push_back(c["contract_id"]);
    return out;
  };
  Reply open = h_.Call("list_contracts", "{}", AsPlayer(kOther));
  EXPECT_EQ(ids(open), (std::vector<std::string>{"c-1", "c-3", "d-1"}));
  EXPECT_EQ(ids(h_.Call("list_contracts", R"({"status":"accepted"})")),
            (std::vector<std::string>{"c-2"}));
  EXPECT_EQ(ids(h_.Call("list_contracts", R"({"region_id":"vell-marches"})")),
            (std::vector<std::string>{"c-1", "c-3"}));
  Reply page = h_.Call("list_contracts", R"({"page_size":2})");
  EXPECT_EQ(ids(page), (std::vector<std::string>{"c-1", "c-3"}));
  EXPECT_EQ(page.body["next_page_token"], "Yy0z");  // base64url("c-3")
  Reply next = h_.Call("list_contracts", Json{{"page_size", 2}, {"page_token", "Yy0z"}}.dump());
  EXPECT_EQ(ids(next), (std::vector<std::string>{"d-1"}));
  EXPECT_EQ(next.body["next_page_token"], "");
  EXPECT_EQ(h_.Call("list_contracts", R"({"status":"lost"})").body,
            InvalidArg("status", "unknown_value"));
  EXPECT_EQ(h_.Call("list_contracts", R"({"page_size":101})").body,
            InvalidArg("page_size", "out_of_range"));
  EXPECT_EQ(GetContract("zz").body, Error("NOT_FOUND", {{"field", "contract_id"}}));
}

TEST_F(SUITE(BodyBrokerTest), FixtureChecksContracts) {
  Json c = Contract("c-1", {{"collateral_minor", 9999}});
  EXPECT_EQ(h_.Fixture(Json{{"contracts", {c}}}).body,
            InvalidArg("contracts[0].collateral_minor", "out_of_range"));
}

}  // namespace
}  // namespace sidecar::services
