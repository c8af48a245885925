// payment (SERVICES.md §2.3) through its HandlerRegistry: the examples, every rule, bad input,
// idempotency, events, fixtures and the ledger invariants.
#include "services/payment/payment_service.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/common/determinism.h"
#include "services/common/idempotency.h"
#include "services/common/pagination.h"
#include "services/payment/ledger_model.h"
#include "tests/services/common/port_harness.h"

namespace sidecar::services::testing::payment_port {
namespace {

constexpr std::string_view kP = "pl_a8694c9d17e9b948";
constexpr std::string_view kQ = "pl_00000000000000aa";

class PaymentTest : public ::testing::Test {
 protected:
  PaymentTest() : h_("payment", MakePaymentService) {}

  void Given(Json wallets) {
    Reply r = h_.Fixture(Json{{"wallets", std::move(wallets)}});
    ASSERT_TRUE(r.ok()) << r.body.dump();
  }
  void GivenP5000() { Given(Json::array({{{"account_id", kP}, {"currency", "GLD"}, {"balance_minor", 5000}}})); }

  int64_t Balance(std::string_view account, std::string_view currency = "GLD") {
    Reply r = h_.Call("get_wallet", Json{{"account_id", account}, {"currency", currency}}.dump());
    EXPECT_TRUE(r.ok()) << r.body.dump();
    return r.body["balance_minor"].get<int64_t>();
  }
  // Rule 3: the currency's balances sum to 0 over every account that appeared.
  void ExpectBalanced(const std::vector<std::string>& accounts, std::string_view currency = "GLD") {
    int64_t sum = 0;
    for (const std::string& a : accounts) sum += Balance(a, currency);
    EXPECT_EQ(sum, 0);
  }
  Reply Purchase(std::string_view key, int64_t amount, Headers headers = AsPlayer(kP),
                 std::string_view account = kP) {
    return h_.Call("purchase", Json{{"idempotency_key", key},
                                    {"account_id", account},
                                    {"currency", "GLD"},
                                    {"amount_minor", amount},
                                    {"sku", "tonic.grave_moss"}}
                                   .dump(),
                   headers);
  }
  Reply Credit(std::string_view key, std::string_view account, int64_t amount,
               std::string_view currency = "GLD", Headers headers = {}) {
    return h_.Call("credit", Json{{"idempotency_key", key},
                                  {"account_id", account},
                                  {"currency", currency},
                                  {"amount_minor", amount},
                                  {"reason", "quest reward"}}
                                 .dump(),
                   headers);
  }
  Reply Transfer(std::string_view key, std::string_view from, std::string_view to, int64_t amount,
                 std::string_view currency = "GLD", Headers headers = {}) {
    return h_.Call("transfer", Json{{"idempotency_key", key},
                                    {"from_account", from},
                                    {"to_account", to},
                                    {"currency", currency},
                                    {"amount_minor", amount},
                                    {"memo", "gift"}}
                                   .dump(),
                   headers);
  }
  Reply Refund(std::string_view key, std::string_view tx_id, int64_t amount, Headers headers = {}) {
    return h_.Call("refund",
                   Json{{"idempotency_key", key}, {"tx_id", tx_id}, {"amount_minor", amount}}.dump(),
                   headers);
  }
  static Json Invalid(std::string_view field, std::string_view reason) {
    return Json{{"error", {{"code", "INVALID_ARGUMENT"}, {"details", {{"field", field}, {"reason", reason}}}}}};
  }
  static Json Failed(Json details) {
    return Json{{"error", {{"code", "FAILED_PRECONDITION"}, {"details", std::move(details)}}}};
  }

  PortHarness h_;
};

TEST_F(PaymentTest, RegistersEveryActionOfTheSection) {
  EXPECT_TRUE(VerifyRegistry("payment", h_.registry()).ok()) << VerifyRegistry("payment", h_.registry());
  EXPECT_NE(h_.registry().Find("_fixture"), nullptr);
}

// ---- SERVICES.md §2.3 examples ----

TEST_F(PaymentTest, Example1Purchase) {
  GivenP5000();
  Reply r = Purchase("ord-7731", 1200);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, Json::parse(R"({"tx_id":"tx_1ce5089ef0263ea7","balance_minor":3800,"replayed":false})"));
}

TEST_F(PaymentTest, Example2InsufficientFundsAfterExample1) {
  GivenP5000();
  ASSERT_TRUE(Purchase("ord-7731", 1200).ok());
  Reply r = h_.Call("purchase", R"({"idempotency_key":"ord-7732","account_id":"pl_a8694c9d17e9b948","currency":"GLD","amount_minor":9000,"sku":"charm.black_ledger"})",
                    AsPlayer(kP));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body, Json::parse(R"({"error":{"code":"FAILED_PRECONDITION","details":{"reason":"insufficient_funds","balance_minor":"3800","required_minor":"9000"}}})"));
  EXPECT_EQ(Balance(kP), 3800);  // rule 4: nothing written
}

// ---- rule 2: derived tx ids, idempotency ----

TEST_F(PaymentTest, TxIdIsHex16OfActionPrincipalAndKey) {
  GivenP5000();
  Reply r = Purchase("k1", 10);
  EXPECT_EQ(r.body["tx_id"], DerivedId("tx", absl::StrCat("purchase:player:", std::string(kP), ":k1")));
  Reply c = Credit("k1", kP, 10);
  EXPECT_EQ(c.body["tx_id"], DerivedId("tx", "credit:admin:test:k1"));
}

TEST_F(PaymentTest, SameKeyAndRequestReplaysStoredResponseWithoutApplyingTwice) {
  GivenP5000();
  Reply first = Purchase("ord-1", 1000);
  ASSERT_TRUE(first.ok());
  h_.ClearEvents();
  Reply again = Purchase("ord-1", 1000);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.body["tx_id"], first.body["tx_id"]);
  EXPECT_EQ(again.body["balance_minor"], 4000);
  EXPECT_EQ(again.body["replayed"], true);
  EXPECT_EQ(Balance(kP), 4000);
  EXPECT_TRUE(h_.Events().empty());  // a replay emits nothing
}

TEST_F(PaymentTest, SameKeyWithOtherRequestIsAlreadyExists) {
  GivenP5000();
  ASSERT_TRUE(Purchase("ord-1", 1000).ok());
  Reply r = Purchase("ord-1", 999);
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.body, Json::parse(R"({"error":{"code":"ALREADY_EXISTS","details":{"field":"idempotency_key"}}})"));
}

TEST_F(PaymentTest, KeysAreScopedByActionAndPrincipal) {
  GivenP5000();
  ASSERT_TRUE(Purchase("same", 100).ok());
  Reply other_principal = Purchase("same", 100, Headers{});  // admin:test
  ASSERT_TRUE(other_principal.ok());
  EXPECT_EQ(other_principal.body["replayed"], false);
  Reply other_action = Credit("same", kP, 100);
  ASSERT_TRUE(other_action.ok());
  EXPECT_EQ(other_action.body["replayed"], false);
  EXPECT_EQ(Balance(kP), 5000 - 200 + 100);
}

TEST_F(PaymentTest, FailedRequestLeavesNoRecordSoItsKeyCanBeRetried) {
  GivenP5000();
  EXPECT_EQ(Purchase("ord-x", 6000).code(), "FAILED_PRECONDITION");
  ASSERT_TRUE(Credit("top-up", kP, 2000).ok());
  Reply retry = Purchase("ord-x", 6000);
  ASSERT_TRUE(retry.ok()) << retry.body.dump();
  EXPECT_EQ(retry.body["balance_minor"], 1000);
  EXPECT_EQ(retry.body["replayed"], false);
}

TEST_F(PaymentTest, InFlightDuplicateIsUnavailableInProgress) {
  GivenP5000();
  // Another replica holds the key (its request is still running).
  Idempotency other(h_.store(), Idempotency::Options{.service = "payment", .retention_ms = std::nullopt});
  CallContext ctx = PortHarness::Context(AsPlayer(kP));
  auto begun = h_.loop().Await<bool>([&](auto done) {
    other.Begin(ctx, "purchase", "ord-busy", "fp",
                [done = std::move(done)](absl::StatusOr<Idempotency::BeginResult> r) mutable {
                  std::move(done)(r.ok());
                });
  });
  ASSERT_TRUE(begun && *begun);
  Reply r = Purchase("ord-busy", 100);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, Json::parse(R"({"error":{"code":"UNAVAILABLE","details":{"reason":"in_progress"}}})"));
  EXPECT_EQ(Balance(kP), 5000);
}

TEST_F(PaymentTest, CommittedTransactionWhoseResponseWasNeverStoredIsNotAppliedAgain) {
  GivenP5000();
  ASSERT_TRUE(Purchase("ord-crash", 700).ok());
  h_.ClearEvents();
  // Simulate a replica that died after its commit but before storing the idempotent response.
  Idempotency idem(h_.store(), Idempotency::Options{.service = "payment", .retention_ms = std::nullopt});
  std::string key = idem.StoreKey(PortHarness::Context(AsPlayer(kP)), "purchase", "ord-crash");
  auto deleted = h_.loop().Await<absl::Status>([&](auto done) { h_.store().Delete(key, 0, std::move(done)); });
  ASSERT_TRUE(deleted && deleted->ok());
  Reply r = Purchase("ord-crash", 700);
  ASSERT_TRUE(r.ok()) << r.body.dump();
  EXPECT_EQ(r.body["balance_minor"], 4300);
  EXPECT_EQ(r.body["replayed"], true);
  EXPECT_EQ(Balance(kP), 4300);
  EXPECT_TRUE(h_.Events().empty());
}

// ---- rules 3, 4, 7: the ledger ----

TEST_F(PaymentTest, EveryTransactionWritesTwoEntriesAndTheLedgerBalances) {
  GivenP5000();
  ASSERT_TRUE(Credit("c1", kQ, 300).ok());
  ASSERT_TRUE(Purchase("p1", 1200).ok());
  ASSERT_TRUE(Transfer("t1", kP, kQ, 800).ok());
  ASSERT_TRUE(Transfer("t2", kQ, "escrow:contract-9", 50).ok());
  ExpectBalanced({std::string(kP), std::string(kQ), "sys:mint", "sys:sink", "escrow:contract-9"});
  EXPECT_EQ(Balance(kP), 3000);
  EXPECT_EQ(Balance(kQ), 1050);
  EXPECT_EQ(Balance("sys:sink"), 1200);
  EXPECT_EQ(Balance("sys:mint"), -5300);  // the fixture's issuance plus the credit
  EXPECT_EQ(Balance("escrow:contract-9"), 50);
}

TEST_F(PaymentTest, BalanceNeverGoesNegativeButMintDoes) {
  Given(Json::array({{{"account_id", kP}, {"currency", "GLD"}, {"balance_minor", 100}}}));
  EXPECT_EQ(Purchase("p", 101).body, Failed({{"reason", "insufficient_funds"}, {"balance_minor", "100"}, {"required_minor", "101"}}));
  ASSERT_TRUE(Purchase("q", 100).ok());
  EXPECT_EQ(Balance(kP), 0);
  EXPECT_EQ(Transfer("t", kP, kQ, 1).code(), "FAILED_PRECONDITION");
  EXPECT_EQ(Transfer("e", "escrow:x", kQ, 1).body,
            Failed({{"reason", "insufficient_funds"}, {"balance_minor", "0"}, {"required_minor", "1"}}));
  // sys:* balances are unbounded (rule 4).
  ASSERT_TRUE(Transfer("s", "sys:sink", kQ, 5000).ok());
  EXPECT_EQ(Balance("sys:sink"), 100 - 5000);
}

TEST_F(PaymentTest, BalanceLimitAppliesAfterInsufficientFunds) {
  Given(Json::array({{{"account_id", kQ}, {"currency", "GLD"}, {"balance_minor", 1'000'000'000'000'000}},
                     {{"account_id", kP}, {"currency", "GLD"}, {"balance_minor", 10}}}));
  EXPECT_EQ(Credit("c", kQ, 1).body, Failed({{"reason", "balance_limit"}, {"account_id", kQ}}));
  EXPECT_EQ(Transfer("t1", kP, kQ, 11).body["error"]["details"]["reason"], "insufficient_funds");
  EXPECT_EQ(Transfer("t2", kP, kQ, 10).body, Failed({{"reason", "balance_limit"}, {"account_id", kQ}}));
  EXPECT_EQ(Balance(kQ), 1'000'000'000'000'000);
}

TEST_F(PaymentTest, UnknownWalletReadsAsZeroAndNotExisting) {
  Reply r = h_.Call("get_wallet", Json{{"account_id", kQ}, {"currency", "SHD"}}.dump());
  EXPECT_EQ(r.body, Json::parse(R"({"account_id":"pl_00000000000000aa","currency":"SHD","balance_minor":0,"exists":false})"));
  GivenP5000();
  r = h_.Call("get_wallet", Json{{"account_id", kP}, {"currency", "GLD"}}.dump(), AsPlayer(kP));
  EXPECT_EQ(r.body["exists"], true);
  EXPECT_EQ(r.body["balance_minor"], 5000);
}

TEST_F(PaymentTest, ListEntriesNewestFirstWithPerAccountSeqAndPages) {
  GivenP5000();
  std::vector<std::string> tx;
  for (int i = 0; i < 5; ++i) {
    Reply r = Purchase(absl::StrCat("p", i), 100 * (i + 1));
    ASSERT_TRUE(r.ok());
    tx.push_back(r.body["tx_id"]);
  }
  ASSERT_TRUE(Credit("c", kQ, 1).ok());  // other accounts do not advance P's seq
  Reply page1 = h_.Call("list_entries", Json{{"account_id", kP}, {"currency", "GLD"}, {"page_size", 2}}.dump(), AsPlayer(kP));
  ASSERT_TRUE(page1.ok()) << page1.body.dump();
  EXPECT_EQ(page1.body["entries"], Json::parse(absl::StrCat(
      R"([{"entry_seq":5,"tx_id":")", tx[4], R"(","kind":"purchase","amount_minor":-500,"balance_after_minor":3500,"created_at":"2025-11-20T12:00:00.000Z"},)",
      R"({"entry_seq":4,"tx_id":")", tx[3], R"(","kind":"purchase","amount_minor":-400,"balance_after_minor":4000,"created_at":"2025-11-20T12:00:00.000Z"}])")));
  EXPECT_EQ(page1.body["next_page_token"], EncodePageToken(4));  // decimal entry_seq
  Reply page2 = h_.Call("list_entries", Json{{"account_id", kP}, {"currency", "GLD"}, {"page_size", 3}, {"page_token", EncodePageToken(4)}}.dump());
  ASSERT_EQ(page2.body["entries"].size(), 3u);
  EXPECT_EQ(page2.body["entries"][0]["entry_seq"], 3);
  EXPECT_EQ(page2.body["entries"][2]["entry_seq"], 1);
  EXPECT_EQ(page2.body["entries"][2]["tx_id"], tx[0]);
  EXPECT_EQ(page2.body["next_page_token"], "");  // an exactly full last page (R9)
  Reply sink = h_.Call("list_entries", Json{{"account_id", "sys:sink"}, {"currency", "GLD"}}.dump());
  EXPECT_EQ(sink.body["entries"].size(), 5u);
  EXPECT_EQ(sink.body["entries"][0]["amount_minor"], 500);
  EXPECT_EQ(sink.body["entries"][0]["balance_after_minor"], 1500);
  Reply bad = h_.Call("list_entries", Json{{"account_id", kP}, {"currency", "GLD"}, {"page_token", "x!"}}.dump());
  EXPECT_EQ(bad.body, Invalid("page_token", "malformed"));
  Reply size = h_.Call("list_entries", Json{{"account_id", kP}, {"currency", "GLD"}, {"page_size", 101}}.dump());
  EXPECT_EQ(size.body, Invalid("page_size", "out_of_range"));
}

TEST_F(PaymentTest, CommittedTransactionsAreMaterialisedBeforeLeavingTheBook) {
  GivenP5000();
  std::string first = Purchase("a", 1).body["tx_id"];
  ASSERT_TRUE(Purchase("b", 2).ok());
  auto tx = h_.loop().Await<absl::StatusOr<std::optional<StoreEntry>>>(
      [&](auto done) { h_.store().Get(payment::TxKey(first), 0, std::move(done)); });
  ASSERT_TRUE(tx && tx->ok() && (*tx)->has_value());
  auto entries = h_.loop().Await<absl::StatusOr<std::vector<StoreEntry>>>(
      [&](auto done) { h_.store().List(payment::EntryPrefix("GLD", kP), 0, std::move(done)); });
  ASSERT_TRUE(entries && entries->ok());
  EXPECT_EQ((*entries)->size(), 1u);  // seq 1; seq 2 is still the book's last transaction
}

// ---- rule 5: who moves what ----

TEST_F(PaymentTest, CreditIsServiceOrAdminIntoPlayerOrEscrow) {
  EXPECT_EQ(Credit("c", kP, 5, "GLD", AsPlayer(kP)).code(), "PERMISSION_DENIED");
  EXPECT_EQ(Credit("c", "sys:sink", 5).body, Invalid("account_id", "pattern"));
  Reply escrow = Credit("c", "escrow:bbi-7", 5, "SHD", Headers{"service:orchestration", std::string(kSpecTime)});
  ASSERT_TRUE(escrow.ok());
  EXPECT_EQ(escrow.body["balance_minor"], 5);
  EXPECT_EQ(Balance("sys:mint", "SHD"), -5);
}

TEST_F(PaymentTest, PurchaseIsPlayerScopedToPlayerAccounts) {
  GivenP5000();
  EXPECT_EQ(Purchase("p", 1, AsPlayer(kQ)).code(), "PERMISSION_DENIED");
  EXPECT_EQ(Purchase("p", 1, AsPlayer(kP), "escrow:x").body, Invalid("account_id", "pattern"));
  EXPECT_TRUE(Purchase("p", 1, Headers{"service:shop", std::string(kSpecTime)}).ok());
}

TEST_F(PaymentTest, TransferRules) {
  GivenP5000();
  EXPECT_EQ(Transfer("t", kP, kP, 1).body, Invalid("to_account", "malformed"));
  EXPECT_EQ(Transfer("t", kQ, kP, 1, "GLD", AsPlayer(kP)).code(), "PERMISSION_DENIED");
  EXPECT_EQ(Transfer("t", kP, "sys:mint", 1, "GLD", AsPlayer(kP)).code(), "PERMISSION_DENIED");
  Reply own = Transfer("t", kP, kQ, 1500, "GLD", AsPlayer(kP));
  EXPECT_EQ(own.body, Json::parse(absl::StrCat(R"({"tx_id":")", DerivedId("tx", absl::StrCat("transfer:player:", std::string(kP), ":t")),
                                               R"(","from_balance_minor":3500,"to_balance_minor":1500,"replayed":false})")));
  // Players may pay into sys:sink and escrow; service/admin move anything (incl. out of sys:mint).
  EXPECT_TRUE(Transfer("u", kP, "sys:sink", 1, "GLD", AsPlayer(kP)).ok());
  EXPECT_TRUE(Transfer("v", "sys:mint", "escrow:e", 1).ok());
  // SHD between players: non_transferable, before funds (P has no SHD at all).
  EXPECT_EQ(Transfer("w", kP, kQ, 1, "SHD").body, Failed({{"reason", "non_transferable"}}));
  EXPECT_TRUE(Transfer("x", "sys:mint", kQ, 3, "SHD").ok());
  EXPECT_TRUE(Transfer("y", kQ, "escrow:e", 3, "SHD").ok());
}

// ---- rule 6: refunds ----

TEST_F(PaymentTest, RefundsReturnFundsUpToTheOriginal) {
  GivenP5000();
  std::string purchase = Purchase("buy", 1000).body["tx_id"];
  h_.ClearEvents();
  Reply part = Refund("r1", purchase, 300);
  ASSERT_TRUE(part.ok()) << part.body.dump();
  EXPECT_EQ(part.body, Json::parse(absl::StrCat(R"({"refund_tx_id":")", DerivedId("tx", "refund:admin:test:r1"),
                                                 R"(","refunded_total_minor":300,"balance_minor":4300,"replayed":false})")));
  EXPECT_EQ(Refund("r2", purchase, 701).body, Failed({{"reason", "exceeds_original"}}));
  Reply rest = Refund("r3", purchase, 0);  // 0 = all remaining
  EXPECT_EQ(rest.body["refunded_total_minor"], 1000);
  EXPECT_EQ(rest.body["balance_minor"], 5000);
  EXPECT_EQ(Refund("r4", purchase, 0).body, Failed({{"reason", "already_refunded"}}));
  EXPECT_EQ(Refund("r5", purchase, 5).body, Failed({{"reason", "already_refunded"}}));
  EXPECT_EQ(Refund("r6", part.body["refund_tx_id"].get<std::string>(), 0).body, Failed({{"reason", "not_refundable"}}));
  EXPECT_EQ(Balance("sys:sink"), 0);
  ExpectBalanced({std::string(kP), "sys:mint", "sys:sink"});
  std::vector<Json> events = h_.Events();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0], Json::parse(absl::StrCat(R"({"occurred_at":"2025-11-20T12:00:00.000Z","tx_id":")", part.body["refund_tx_id"].get<std::string>(),
                                                R"(","kind":"refund","currency":"GLD","amount_minor":300,"from_account":"sys:sink","to_account":"pl_a8694c9d17e9b948","subject":"evt.payment.v1.transaction_committed"})")));
  EXPECT_EQ(events[1], Json::parse(absl::StrCat(R"({"occurred_at":"2025-11-20T12:00:00.000Z","refund_tx_id":")", part.body["refund_tx_id"].get<std::string>(),
                                                R"(","original_tx_id":")", purchase, R"(","amount_minor":300,"subject":"evt.payment.v1.refund_issued"})")));
}

TEST_F(PaymentTest, RefundOfASpentCreditIsInsufficientFundsAndTransfersReportFromAccount) {
  std::string credit = Credit("c", kP, 1000).body["tx_id"];
  ASSERT_TRUE(Purchase("spend", 900).ok());
  EXPECT_EQ(Refund("r", credit, 0).body,
            Failed({{"reason", "insufficient_funds"}, {"balance_minor", "100"}, {"required_minor", "1000"}}));
  Reply partial = Refund("r2", credit, 100);
  EXPECT_EQ(partial.body["balance_minor"], 0);  // credit: the credited account
  ASSERT_TRUE(Credit("c2", kP, 500).ok());
  std::string transfer = Transfer("t", kP, kQ, 200).body["tx_id"];
  Reply back = Refund("r3", transfer, 0);
  EXPECT_EQ(back.body["balance_minor"], 500);  // transfers: from_account
  EXPECT_EQ(Balance(kQ), 0);
}

TEST_F(PaymentTest, RefundNeedsServiceOrAdminAndAKnownTransaction) {
  GivenP5000();
  std::string purchase = Purchase("buy", 10).body["tx_id"];
  EXPECT_EQ(Refund("r", purchase, 0, AsPlayer(kP)).code(), "PERMISSION_DENIED");
  EXPECT_EQ(Refund("r", "tx_0000000000000000", 0).body,
            Json::parse(R"({"error":{"code":"NOT_FOUND","details":{"field":"tx_id"}}})"));
  EXPECT_EQ(Refund("r", "nope", 0).code(), "NOT_FOUND");
  EXPECT_EQ(Refund("r", "", 0).body, Invalid("tx_id", "required"));
  EXPECT_EQ(Refund("r", purchase, -1).body, Invalid("amount_minor", "out_of_range"));
}

// ---- rule 1 and §0.4: bad input ----

TEST_F(PaymentTest, FieldChecksInTableOrder) {
  auto purchase = [&](Json body) { return h_.Call("purchase", body.dump(), AsPlayer(kP)).body; };
  Json ok = {{"idempotency_key", "k"}, {"account_id", kP}, {"currency", "GLD"}, {"amount_minor", 1}, {"sku", "a"}};
  auto with = [&](std::string_view f, Json v) { Json j = ok; j[std::string(f)] = std::move(v); return j; };
  EXPECT_EQ(purchase(with("idempotency_key", "")), Invalid("idempotency_key", "required"));
  EXPECT_EQ(purchase(with("idempotency_key", std::string(65, 'k'))), Invalid("idempotency_key", "too_long"));
  EXPECT_EQ(purchase(with("idempotency_key", "a b")), Invalid("idempotency_key", "pattern"));
  EXPECT_EQ(purchase(with("account_id", "")), Invalid("account_id", "required"));
  EXPECT_EQ(purchase(with("account_id", "pl_A8694C9D17E9B948")), Invalid("account_id", "pattern"));
  EXPECT_EQ(purchase(with("account_id", "sys:sink")), Invalid("account_id", "pattern"));
  EXPECT_EQ(purchase(with("currency", "")), Invalid("currency", "required"));
  EXPECT_EQ(purchase(with("currency", "gld")), Invalid("currency", "unknown_value"));
  EXPECT_EQ(purchase(with("amount_minor", 0)), Invalid("amount_minor", "out_of_range"));
  EXPECT_EQ(purchase(with("amount_minor", 1'000'000'000'001)), Invalid("amount_minor", "out_of_range"));
  EXPECT_EQ(purchase(with("amount_minor", 1.5)), Invalid("amount_minor", "type"));
  EXPECT_EQ(purchase(with("sku", "")), Invalid("sku", "required"));
  EXPECT_EQ(purchase(with("sku", std::string(65, 'a'))), Invalid("sku", "too_long"));
  EXPECT_EQ(purchase(with("sku", "Tonic")), Invalid("sku", "pattern"));
  // First failure wins, in table order.
  Json two = with("currency", "XXX");
  two["amount_minor"] = 0;
  EXPECT_EQ(purchase(two), Invalid("currency", "unknown_value"));
  // INVALID_ARGUMENT comes before PERMISSION_DENIED.
  EXPECT_EQ(h_.Call("purchase", with("sku", "").dump(), AsPlayer(kQ)).body, Invalid("sku", "required"));
  EXPECT_EQ(Credit("k", kP, 1, "GLD").code(), "OK");
  EXPECT_EQ(h_.Call("credit", Json{{"idempotency_key", "k2"}, {"account_id", kP}, {"currency", "GLD"}, {"amount_minor", 1}, {"reason", std::string(121, 'r')}}.dump()).body,
            Invalid("reason", "too_long"));
  EXPECT_EQ(h_.Call("transfer", Json{{"idempotency_key", "k"}, {"from_account", kP}, {"to_account", "escrow:"}, {"currency", "GLD"}, {"amount_minor", 1}}.dump()).body,
            Invalid("to_account", "pattern"));
  EXPECT_EQ(h_.Call("transfer", Json{{"idempotency_key", "k"}, {"from_account", kP}, {"to_account", kQ}, {"currency", "GLD"}, {"amount_minor", 1}, {"memo", std::string(121, 'm')}}.dump()).body,
            Invalid("memo", "too_long"));
  EXPECT_EQ(h_.Call("get_wallet", Json{{"account_id", "bank"}, {"currency", "GLD"}}.dump()).body, Invalid("account_id", "pattern"));
  EXPECT_EQ(h_.Call("get_wallet", Json{{"account_id", kP}, {"currency", "GLD"}}.dump(), AsPlayer(kQ)).code(), "PERMISSION_DENIED");
  EXPECT_EQ(h_.Call("get_wallet", Json{{"account_id", "sys:mint"}, {"currency", "GLD"}}.dump(), AsPlayer(kQ)).code(), "OK");
  EXPECT_EQ(h_.Call("get_wallet", Json{{"account_id", kP}, {"currency", "GLD"}}.dump(), Headers{"", std::string(kSpecTime)}).code(), "UNAUTHENTICATED");
}

// ---- events ----

TEST_F(PaymentTest, CommittedTransactionsEmitTransactionCommitted) {
  GivenP5000();
  h_.ClearEvents();
  Reply r = Purchase("ord-7731", 1200);
  std::vector<Json> events = h_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], Json::parse(R"({"occurred_at":"2025-11-20T12:00:00.000Z","tx_id":"tx_1ce5089ef0263ea7","kind":"purchase","currency":"GLD","amount_minor":1200,"from_account":"pl_a8694c9d17e9b948","to_account":"sys:sink","subject":"evt.payment.v1.transaction_committed"})"));
  EXPECT_EQ(h_.RawEvents()[0].event_id, MakeEventId("payment", "transaction_committed", "tx_1ce5089ef0263ea7"));
  EXPECT_EQ(Purchase("ord-9", 99999).code(), "FAILED_PRECONDITION");
  EXPECT_EQ(h_.Events().size(), 1u);  // failures emit nothing
}

// ---- fixtures ----

TEST_F(PaymentTest, FixtureBalancesAgainstMintAndRejectsBadDocuments) {
  Given(Json::array({{{"account_id", kP}, {"currency", "GLD"}, {"balance_minor", 5000}},
                     {{"account_id", "escrow:a"}, {"currency", "SHD"}, {"balance_minor", 7}}}));
  EXPECT_EQ(Balance("sys:mint"), -5000);
  EXPECT_EQ(Balance("sys:mint", "SHD"), -7);
  EXPECT_EQ(h_.Fixture(Json{{"wallets", Json::array({{{"account_id", "x"}, {"currency", "GLD"}}})}}).code(), "INVALID_ARGUMENT");
  EXPECT_EQ(h_.Fixture(Json{{"wallets", Json::array({{{"account_id", kP}, {"currency", "GLD"}, {"balance_minor", -1}}})}}).code(), "INVALID_ARGUMENT");
  // A new fixture replaces everything, idempotency records included.
  Given(Json::array());
  EXPECT_EQ(Balance(kP), 0);
  PortHarness disabled("payment", MakePaymentService, /*fixtures_enabled=*/false);
  EXPECT_EQ(disabled.Fixture(Json::object()).code(), "PERMISSION_DENIED");
}

}  // namespace
}  // namespace sidecar::services::testing::payment_port
