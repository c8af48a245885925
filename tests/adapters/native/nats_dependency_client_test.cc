// NatsDependencyClient: what a port's call to another service becomes on the request model, and how
// every kind of answer comes back to the port. The cluster is a fake that records what it was sent
// and answers as told (on a later loop turn, like every real cluster); the end-to-end path over a
// real nats-server is in tests/integration.

#include "adapters/native/nats_dependency_client.h"

#include <memory>
#include <optional>
#include <string>

#include "adapters/common/errors.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "payment/v1/payment.pb.h"
#include "services/common/errors.h"
#include "sidecar/upstream/cluster.h"
#include "tests/services/common/loop_thread.h"

namespace sidecar::adapters::native {
namespace {

using Json = nlohmann::json;
namespace pb = ::payment::v1;

class FakeCluster final : public upstream::Cluster {
 public:
  explicit FakeCluster(event::Dispatcher& dispatcher) : dispatcher_(dispatcher) {}
  const std::string& name() const override { return name_; }
  std::string_view kind() const override { return "nats"; }
  bool Healthy() const override { return true; }

  upstream::Cancellable* Send(const http::Request& request, upstream::ResponseCallback done) override {
    sent = request;
    auto pending = std::make_unique<Pending>();
    pending->done = std::move(done);
    Pending* raw = pending.get();
    pending_.push_back(std::move(pending));
    if (answer.has_value()) {
      dispatcher_.Post([raw, answer = *answer] {
        if (!raw->cancelled) std::move(raw->done)(answer);
      });
    }  // else: never answers (a test cancels or destroys the client)
    return raw;
  }

  std::optional<absl::StatusOr<http::Response>> answer;
  std::optional<http::Request> sent;
  bool any_cancelled() const {
    for (const auto& p : pending_) {
      if (p->cancelled) return true;
    }
    return false;
  }

 private:
  struct Pending final : upstream::Cancellable {
    void Cancel() override { cancelled = true; }
    upstream::ResponseCallback done;
    bool cancelled = false;
  };
  std::string name_ = "deps";
  event::Dispatcher& dispatcher_;
  std::vector<std::unique_ptr<Pending>> pending_;
};

http::Response Reply(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

class NatsDependencyClientTest : public ::testing::Test {
 protected:
  NatsDependencyClientTest() : cluster_(loop_.dispatcher()) {}

  // Calls payment.transfer as the port "orchestration" would, from a request with `remaining` left.
  absl::StatusOr<pb::TransferResponse> Transfer(std::chrono::milliseconds remaining,
                                                services::DependencyCallOptions options = {},
                                                upstream::Cluster* cluster = nullptr) {
    auto result = loop_.Await<absl::StatusOr<pb::TransferResponse>>([&](auto done) {
      client_ = std::make_unique<NatsDependencyClient>("orchestration", cluster != nullptr ? cluster : &cluster_,
                                                       loop_.dispatcher());
      auto ctx = services::CallContext::Make(1763640000000, services::ParsePrincipal("player:pl_a8694c9d17e9b948"),
                                             "req-7", http::Clock::now() + remaining);
      pb::TransferRequest request;
      request.set_from_account("pl_a8694c9d17e9b948");
      request.set_to_account("escrow:c-118");
      request.set_currency("GLD");
      request.set_amount_minor(1000);
      request.set_idempotency_key("bbi:c-118:collateral");
      services::CallDependency<pb::TransferResponse>(*client_, ctx, "payment", "transfer", request,
                                                     std::move(done), options);
    });
    return result.has_value() ? *std::move(result) : absl::InternalError("no answer");
  }

  services::testing::LoopThread loop_;
  FakeCluster cluster_;
  std::unique_ptr<NatsDependencyClient> client_;
};

TEST_F(NatsDependencyClientTest, SendsTheActionWithDownstreamHeadersAndJsonBody) {
  cluster_.answer = Reply(200, R"({"tx_id":"tx_1","replayed":false})");
  auto r = Transfer(std::chrono::milliseconds(3000));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tx_id(), "tx_1");
  ASSERT_TRUE(cluster_.sent.has_value());
  const http::Request& sent = *cluster_.sent;
  EXPECT_EQ(sent.service, "payment");
  EXPECT_EQ(sent.action, "transfer");
  EXPECT_EQ(sent.headers.Get("X-Principal"), "service:orchestration");
  EXPECT_EQ(sent.headers.Get("X-Request-Time"), "2025-11-20T12:00:00.000Z");
  EXPECT_EQ(sent.headers.Get("X-Request-Id"), "req-7");
  Json body = Json::parse(sent.body);
  EXPECT_EQ(body["to_account"], "escrow:c-118");
  EXPECT_EQ(body["amount_minor"], 1000);
  EXPECT_EQ(body["idempotency_key"], "bbi:c-118:collateral");
  // The deadline is the caller's remaining time minus the §0.3 50 ms.
  auto budget = std::chrono::duration_cast<std::chrono::milliseconds>(sent.deadline - http::Clock::now());
  EXPECT_LE(budget.count(), 2950);
  EXPECT_GT(budget.count(), 2500);
}

TEST_F(NatsDependencyClientTest, AnOptionTimeoutShortensTheDeadline) {
  cluster_.answer = Reply(200, R"({"tx_id":"tx_1"})");
  ASSERT_TRUE(Transfer(std::chrono::milliseconds(5000), {std::chrono::milliseconds(2000)}).ok());
  auto budget = std::chrono::duration_cast<std::chrono::milliseconds>(cluster_.sent->deadline - http::Clock::now());
  EXPECT_LE(budget.count(), 2000);
  EXPECT_GT(budget.count(), 1500);
}

TEST_F(NatsDependencyClientTest, TheDependencysErrorArrivesWithItsCodeAndDetails) {
  cluster_.answer = Reply(422, R"({"error":{"code":"FAILED_PRECONDITION","message":"not enough",)"
                               R"("details":{"reason":"insufficient_funds"}}})");
  auto r = Transfer(std::chrono::milliseconds(3000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.status().message(), "not enough");
  EXPECT_EQ(GetErrorDetails(r.status()), (ErrorDetails{{"reason", "insufficient_funds"}}));
}

TEST_F(NatsDependencyClientTest, AnErrorStatusWithoutASpecBodyGetsTheStatusCode) {
  cluster_.answer = Reply(503, "upstream went away");
  auto r = Transfer(std::chrono::milliseconds(3000));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(NatsDependencyClientTest, TransportFailuresBecomeUnavailableOrDeadlineExceeded) {
  cluster_.answer = absl::StatusOr<http::Response>(
      upstream::UpstreamFailure(upstream::FailureKind::kNoResponders, "no responders"));
  auto r = Transfer(std::chrono::milliseconds(3000));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(GetErrorDetails(r.status()),
            (ErrorDetails{{"reason", "dependency_unavailable"}, {"service", "payment"}}));

  cluster_.answer = absl::StatusOr<http::Response>(upstream::UpstreamFailure(upstream::FailureKind::kTimeout, "late"));
  r = Transfer(std::chrono::milliseconds(3000));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(NatsDependencyClientTest, NoTimeLeftFailsWithoutSending) {
  cluster_.answer = Reply(200, R"({"tx_id":"tx_1"})");
  auto r = Transfer(std::chrono::milliseconds(30));  // less than the 50 ms margin
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(cluster_.sent.has_value());
}

TEST_F(NatsDependencyClientTest, WithoutADependenciesClusterEveryCallIsUnavailable) {
  auto result = loop_.Await<absl::StatusOr<pb::TransferResponse>>([&](auto done) {
    client_ = std::make_unique<NatsDependencyClient>("orchestration", nullptr, loop_.dispatcher());
    auto ctx = services::CallContext::Make(1763640000000, std::nullopt);
    services::CallDependency<pb::TransferResponse>(*client_, ctx, "payment", "transfer", pb::TransferRequest(),
                                                   std::move(done));
  });
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(NatsDependencyClientTest, AReplyThatDoesNotMatchTheSchemaIsInternal) {
  cluster_.answer = Reply(200, R"({"tx_id":42})");
  EXPECT_EQ(Transfer(std::chrono::milliseconds(3000)).status().code(), absl::StatusCode::kInternal);
}

TEST_F(NatsDependencyClientTest, DestroyingTheClientCancelsCallsInFlight) {
  loop_.Await<int>([&](auto done) {
    client_ = std::make_unique<NatsDependencyClient>("orchestration", &cluster_, loop_.dispatcher());
    auto ctx = services::CallContext::Make(1763640000000, std::nullopt);
    services::CallDependency<pb::TransferResponse>(
        *client_, ctx, "payment", "transfer", pb::TransferRequest(),
        [](absl::StatusOr<pb::TransferResponse>) { ADD_FAILURE() << "a cancelled call answered"; });
    EXPECT_EQ(client_->in_flight(), 1u);
    client_.reset();
    EXPECT_TRUE(cluster_.any_cancelled());
    std::move(done)(0);
  });
}

}  // namespace
}  // namespace sidecar::adapters::native
