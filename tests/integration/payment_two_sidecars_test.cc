// Issue 5's concurrency promise end to end: two nats-sidecar processes host the payment port from
// config/examples/native-host.yaml on ONE JetStream KV bucket (STORE=jetstream), both in the queue
// group svc-payment-workers. 1,000 purchases published at once against one wallet are spread over
// both; the wallet never overdraws, every purchase ends in success or insufficient_funds, and the
// ledger (list_entries) adds up to the balance.

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_common/http_client.h"
#include "tests/test_common/nats_client.h"
#include "tests/test_common/nats_server.h"
#include "tests/test_common/paths.h"
#include "tests/test_common/sidecar_process.h"
#include "tests/test_common/test_util.h"

namespace sidecar::test_common {
namespace {

using Json = nlohmann::json;

constexpr char kPlayer[] = "pl_a8694c9d17e9b948";
constexpr int64_t kStartBalance = 100000;
constexpr int64_t kPrice = 150;
constexpr int kPurchases = 1000;

double Metric(const std::string& admin, const std::string& sample) {
  auto r = ValueOrDie(HttpGet(admin, "/metrics", In(absl::Seconds(5))));
  std::istringstream lines(r.body);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(sample + " ", 0) == 0) return std::stod(line.substr(sample.size() + 1));
  }
  return 0;
}

NatsRequestSpec Action(const std::string& action, const Json& body,
                       const std::string& principal = std::string("player:") + kPlayer) {
  return NatsRequestSpec{absl::StrCat("svc.payment.v1.", action),
                         {{"Content-Type", "application/json"},
                          {"X-Principal", principal},
                          {"X-Request-Time", "2025-11-20T12:00:00.000Z"}},
                         body.dump()};
}

TEST(PaymentTwoSidecarsTest, ConcurrentPurchasesOnOneKvNeverOverdrawAndTheLedgerBalances) {
  NatsServerOptions server_options;
  server_options.jetstream = true;
  auto nats = ValueOrDie(NatsServer::Start(server_options));
  std::vector<std::unique_ptr<SidecarProcess>> sidecars;
  for (const char* name : {"payment-a", "payment-b"}) {
    SidecarOptions o;
    o.name = name;
    o.config_yaml = ReadFile(SourceDir() + "/config/examples/native-host.yaml");
    o.env = {{"SERVICES", "payment"},      {"STORE", "jetstream"},      {"FIXTURES", "true"},
             {"NATS_URL", nats->url()},    {"ADMIN", "127.0.0.1:0"},    {"LISTEN", "127.0.0.1:0"}};
    sidecars.push_back(ValueOrDie(SidecarProcess::Start(std::move(o))));
  }
  auto client = ValueOrDie(NatsTestClient::Connect(nats->url()));

  Json fixture = {{"wallets", {{{"account_id", kPlayer}, {"currency", "GLD"}, {"balance_minor", kStartBalance}}}}};
  auto loaded = ValueOrDie(client->Request(Action("_fixture", fixture, "admin:test"), absl::Seconds(10)));
  ASSERT_EQ(loaded.Header("Nats-Service-Error-Code"), "") << loaded.data;

  std::vector<NatsRequestSpec> purchases;
  for (int i = 0; i < kPurchases; ++i) {
    purchases.push_back(Action("purchase", {{"idempotency_key", absl::StrCat("race-", i)},
                                            {"account_id", kPlayer},
                                            {"currency", "GLD"},
                                            {"amount_minor", kPrice},
                                            {"sku", "tonic.grave_moss"}}));
  }
  const absl::Time start = absl::Now();
  auto replies = ValueOrDie(client->RequestMany(purchases, absl::Seconds(60)));
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);

  int succeeded = 0, insufficient = 0, other = 0;
  for (const auto& reply : replies) {
    if (!reply.has_value()) {
      ++other;
      continue;
    }
    Json body = Json::parse(reply->data, nullptr, false);
    if (!body.is_object()) {
      ++other;
      ADD_FAILURE() << "not JSON: " << reply->data << " no_responders=" << reply->no_responders;
      continue;
    }
    if (reply->Header("Nats-Service-Error-Code").empty()) {
      ++succeeded;
      EXPECT_GE(body.value("balance_minor", int64_t{-1}), 0);
    } else if (body["error"]["details"].value("reason", "") == "insufficient_funds") {
      ++insufficient;
    } else {
      ++other;
      ADD_FAILURE() << reply->data;
    }
  }
  std::cout << kPurchases << " purchases through 2 sidecars in " << seconds << " s: " << succeeded
            << " succeeded, " << insufficient << " insufficient_funds\n";
  EXPECT_EQ(other, 0);
  EXPECT_EQ(succeeded, kStartBalance / kPrice);  // exactly as many as the money allows
  EXPECT_EQ(succeeded + insufficient, kPurchases);

  // Both replicas took part (the queue group spreads the work).
  for (const auto& sidecar : sidecars) {
    EXPECT_GT(Metric(sidecar->admin_address(), R"(sidecar_route_requests_total{cluster="native",reason="split",route="payment/*"})"),
              0)
        << sidecar->output().substr(0, 2000);
  }

  auto wallet = ValueOrDie(client->Request(
      Action("get_wallet", {{"account_id", kPlayer}, {"currency", "GLD"}}), absl::Seconds(10)));
  const int64_t balance = Json::parse(wallet.data)["balance_minor"].get<int64_t>();
  EXPECT_EQ(balance, kStartBalance - succeeded * kPrice);
  EXPECT_GE(balance, 0);

  // The ledger: every entry's balance_after follows from the previous one, and the newest is the
  // wallet's balance.
  std::vector<Json> entries;
  std::string token;
  do {
    Json rq = {{"account_id", kPlayer}, {"currency", "GLD"}, {"page_size", 100}};
    if (!token.empty()) rq["page_token"] = token;
    auto page = ValueOrDie(client->Request(Action("list_entries", rq), absl::Seconds(10)));
    Json body = Json::parse(page.data, nullptr, false);
    ASSERT_TRUE(body.contains("entries")) << page.data;
    for (const Json& e : body["entries"]) entries.push_back(e);
    token = body.value("next_page_token", "");
  } while (!token.empty());
  int purchases_in_ledger = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].value("kind", "") == "purchase") ++purchases_in_ledger;
    if (i + 1 < entries.size()) {
      const auto amount = [](const Json& e) {
        return e["amount_minor"].is_string() ? std::stoll(e["amount_minor"].get<std::string>())
                                             : e["amount_minor"].get<int64_t>();
      };
      const auto after = [](const Json& e) {
        return e["balance_after_minor"].is_string() ? std::stoll(e["balance_after_minor"].get<std::string>())
                                                    : e["balance_after_minor"].get<int64_t>();
      };
      // Entries are newest first: this entry's balance is the older one's plus its (signed) amount.
      EXPECT_EQ(after(entries[i]), after(entries[i + 1]) + amount(entries[i])) << entries[i].dump();
    }
  }
  EXPECT_EQ(purchases_in_ledger, succeeded);
}

}  // namespace
}  // namespace sidecar::test_common
