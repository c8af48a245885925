// NatsCluster against a real nats-server (label: integration).

#include "adapters/nats_http/nats_cluster.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "adapters/common/errors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sidecar/nats/nats_test_util.h"

namespace sidecar::adapters::nats_http {
namespace {

using std::chrono::milliseconds;
using nats::Message;
using nats::testing::Echo;
using nats::testing::HoldOnly;
using nats::testing::TestReply;
using nats::testing::TestResponder;
using upstream::FailureKind;
using upstream::GetFailureKind;
using ::testing::Contains;
using ::testing::Key;
using ::testing::Not;
using ::testing::Pair;
using Clock = std::chrono::steady_clock;

constexpr char kCluster[] = "nats-test";

int64_t ElapsedMs(Clock::time_point since) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - since).count();
}

std::string HeaderOf(const Message& m, std::string_view name) {
  for (const auto& [k, v] : m.headers) {
    if (k == name) return v;
  }
  return "<absent>";
}

class NatsClusterTest : public nats::testing::NatsLoopTest {
 protected:
  NatsClusterOptions ActionOptions() const {
    NatsClusterOptions options;
    options.name = kCluster;
    options.mode = ClientMode::kAction;
    options.timeout = milliseconds(3000);
    options.inbox_prefix = "_INBOX.test";
    return options;
  }
  NatsClusterOptions PassthroughOptions() const {
    NatsClusterOptions options = ActionOptions();
    options.mode = ClientMode::kPassthrough;
    options.subject = "svc.settings.v1.http";
    return options;
  }

  void MakeCluster(NatsClusterOptions options) {
    auto cluster = NatsCluster::Create(std::move(options), *connection_, metrics_);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
  }

  void StartResponder(const std::string& subject, TestResponder::Handler handler) {
    responder_ = TestResponder::Start(server_->url(), subject, std::move(handler));
    ASSERT_NE(responder_, nullptr);
  }

  static http::Request ActionRequest(std::string service, std::string action, std::string body) {
    http::Request request;
    request.service = std::move(service);
    request.action = std::move(action);
    request.body = std::move(body);
    return request;
  }

  absl::StatusOr<http::Response> SendAndWait(const http::Request& request,
                                             milliseconds limit = milliseconds(5000)) {
    std::optional<absl::StatusOr<http::Response>> result;
    bool inline_call = true;
    cluster_->Send(request, [&](absl::StatusOr<http::Response> r) {
      EXPECT_FALSE(inline_call) << "callback ran inline from Send()";
      result = std::move(r);
      Stop();
    });
    inline_call = false;
    if (!Run(limit) || !result.has_value()) {
      return absl::InternalError("test: the callback did not run in time");
    }
    return *std::move(result);
  }

  double RqTotal(const std::string& outcome) {
    return metrics_.upstream_rq_total.Add({{"cluster", kCluster}, {"outcome", outcome}}).Value();
  }
  double InFlight() { return metrics_.upstream_rq_pending.Add({{"cluster", kCluster}}).Value(); }

  std::unique_ptr<TestResponder> responder_;
  std::unique_ptr<NatsCluster> cluster_;  // destroyed first
};

TEST_F(NatsClusterTest, ActionRoundTripSendsJsonPayloadAndContextHeaders) {
  std::map<std::string, std::string> seen;
  std::mutex mu;
  StartResponder("svc.scores.v1.submit_score", [&](const Message& m) -> std::optional<TestReply> {
    std::lock_guard<std::mutex> lock(mu);
    seen = {{"payload", m.data},
            {"principal", HeaderOf(m, "X-Principal")},
            {"deadline", HeaderOf(m, "X-Deadline-Ms")},
            {"method", HeaderOf(m, "X-Http-Method")},
            {"other", HeaderOf(m, "X-Other")}};
    return TestReply{{{"Content-Type", "application/json"}}, R"({"rank":3})"};
  });
  MakeCluster(ActionOptions());
  http::Request request = ActionRequest("scores", "submit_score", R"({"points":12})");
  request.headers.Add("X-Principal", "player:42");
  request.headers.Add("X-Other", "not in the action form");
  request.deadline = Clock::now() + milliseconds(1500);

  absl::StatusOr<http::Response> response = SendAndWait(request);

  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, R"({"rank":3})");
  EXPECT_EQ(response->headers.GetOr("Content-Type", ""), "application/json");
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen["payload"], R"({"points":12})");
  EXPECT_EQ(seen["principal"], "player:42");
  EXPECT_EQ(seen["method"], "<absent>");
  EXPECT_EQ(seen["other"], "<absent>");
  const int deadline_ms = std::stoi(seen["deadline"]);
  EXPECT_GT(deadline_ms, 1000);  // the request's deadline, not the cluster's 3 s
  EXPECT_LE(deadline_ms, 1500);
  EXPECT_EQ(RqTotal("2xx"), 1);
  EXPECT_EQ(InFlight(), 0);
}

TEST_F(NatsClusterTest, PassthroughRoundTripCarriesRequestLineAndStatus) {
  std::map<std::string, std::string> seen;
  std::mutex mu;
  StartResponder("svc.settings.v1.http", [&](const Message& m) -> std::optional<TestReply> {
    std::lock_guard<std::mutex> lock(mu);
    seen = {{"method", HeaderOf(m, "X-Http-Method")}, {"path", HeaderOf(m, "X-Http-Path")},
            {"accept", HeaderOf(m, "Accept")},         {"connection", HeaderOf(m, "Connection")},
            {"payload", m.data}};
    return TestReply{{{"X-Http-Status", "202"}, {"Location", "/api/settings/p1"}, {"Nats-Msg-Id", "1"}},
                     "accepted"};
  });
  MakeCluster(PassthroughOptions());
  http::Request request;
  request.service = "settings";
  request.method = "PUT";
  request.path = "/api/settings/p1?v=2";
  request.headers.Add("Accept", "application/json");
  request.headers.Add("Connection", "keep-alive");
  request.body = "volume=3";

  absl::StatusOr<http::Response> response = SendAndWait(request);

  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 202);
  EXPECT_EQ(response->body, "accepted");
  EXPECT_EQ(response->headers.GetOr("Location", ""), "/api/settings/p1");
  EXPECT_FALSE(response->headers.Has("X-Http-Status"));
  EXPECT_FALSE(response->headers.Has("Nats-Msg-Id"));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen["method"], "PUT");
  EXPECT_EQ(seen["path"], "/api/settings/p1?v=2");
  EXPECT_EQ(seen["accept"], "application/json");
  EXPECT_EQ(seen["connection"], "<absent>");
  EXPECT_EQ(seen["payload"], "volume=3");
}

TEST_F(NatsClusterTest, ServiceErrorReplyBecomesErrorResponse) {
  const std::string body = ErrorBody(codes::kNotFound, "quest q1 not found", {{"field", "quest_id"}});
  StartResponder("svc.quests.v1.get_quest", [&](const Message&) -> std::optional<TestReply> {
    return TestReply{{{"Nats-Service-Error", "NOT_FOUND"},
                      {"Nats-Service-Error-Code", "404"},
                      {"Content-Type", "application/json"}},
                     body};
  });
  MakeCluster(ActionOptions());

  absl::StatusOr<http::Response> response =
      SendAndWait(ActionRequest("quests", "get_quest", R"({"quest_id":"q1"})"));

  ASSERT_TRUE(response.ok()) << response.status();  // an error status is a response, not a failure
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(response->body, body);
  EXPECT_THAT(response->headers.entries(), Not(Contains(Key("Nats-Service-Error"))));
  EXPECT_EQ(RqTotal("4xx"), 1);
}

TEST_F(NatsClusterTest, NoRespondersFailsFastAndIsDistinguishable) {
  MakeCluster(ActionOptions());
  const Clock::time_point start = Clock::now();

  absl::StatusOr<http::Response> response = SendAndWait(ActionRequest("nobody", "home", "{}"));

  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_EQ(GetFailureKind(response.status()), FailureKind::kNoResponders);
  EXPECT_LT(ElapsedMs(start), 50);  // well under the 3 s timeout: the server's 503 answered
  EXPECT_EQ(RqTotal("no_responders"), 1);
  EXPECT_EQ(InFlight(), 0);
}

TEST_F(NatsClusterTest, SilentResponderTimesOutAtTheDeadline) {
  StartResponder("svc.slow.v1.wait", HoldOnly("{}"));
  NatsClusterOptions options = ActionOptions();
  options.timeout = milliseconds(250);
  MakeCluster(options);

  Clock::time_point start = Clock::now();
  absl::StatusOr<http::Response> by_cluster = SendAndWait(ActionRequest("slow", "wait", "{}"));
  int64_t elapsed = ElapsedMs(start);
  EXPECT_EQ(by_cluster.status().code(), absl::StatusCode::kDeadlineExceeded) << by_cluster.status();
  EXPECT_EQ(GetFailureKind(by_cluster.status()), FailureKind::kTimeout);
  EXPECT_GE(elapsed, 245);
  EXPECT_LT(elapsed, 250 + 150);

  // The request's own, earlier deadline wins over the cluster timeout.
  http::Request request = ActionRequest("slow", "wait", "{}");
  start = Clock::now();
  request.deadline = start + milliseconds(120);
  absl::StatusOr<http::Response> by_request = SendAndWait(request);
  elapsed = ElapsedMs(start);
  EXPECT_EQ(GetFailureKind(by_request.status()), FailureKind::kTimeout) << by_request.status();
  EXPECT_GE(elapsed, 115);
  EXPECT_LT(elapsed, 120 + 150);
  EXPECT_EQ(RqTotal("timeout"), 2);
}

TEST_F(NatsClusterTest, PassedDeadlineFailsWithoutSending) {
  StartResponder("svc.echo.v1.call", Echo());
  MakeCluster(ActionOptions());
  http::Request request = ActionRequest("echo", "call", "{}");
  request.deadline = Clock::now() - milliseconds(1);
  absl::StatusOr<http::Response> response = SendAndWait(request);
  EXPECT_EQ(GetFailureKind(response.status()), FailureKind::kTimeout) << response.status();
  EXPECT_EQ(responder_->received(), 0);
}

TEST_F(NatsClusterTest, InvalidRequestFailsAsynchronouslyWithDetails) {
  MakeCluster(ActionOptions());
  absl::StatusOr<http::Response> response = SendAndWait(ActionRequest("echo", "call", "[1]"));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetErrorDetails(response.status()),
            (ErrorDetails{{"field", "body"}, {"reason", "malformed"}}));
  EXPECT_EQ(RqTotal("invalid_request"), 1);
}

TEST_F(NatsClusterTest, MalformedStatusHeaderIsAProtocolError) {
  StartResponder("svc.echo.v1.call", [](const Message&) -> std::optional<TestReply> {
    return TestReply{{{"X-Http-Status", "two hundred"}}, "?"};
  });
  MakeCluster(ActionOptions());
  absl::StatusOr<http::Response> response = SendAndWait(ActionRequest("echo", "call", "{}"));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(GetFailureKind(response.status()), FailureKind::kProtocolError) << response.status();
}

TEST_F(NatsClusterTest, FiveHundredConcurrentRequestsGetTheirOwnReplies) {
  StartResponder("svc.echo.v1.call", Echo());
  MakeCluster(ActionOptions());
  constexpr int kRequests = 500;
  std::map<int, int> calls;
  std::map<int, std::string> bodies;
  int done = 0;
  for (int i = 0; i < kRequests; ++i) {
    http::Request request = ActionRequest("echo", "call", absl::StrCat(R"({"n":)", i, "}"));
    request.headers.Add("X-Request-Id", absl::StrCat("req-", i));
    cluster_->Send(request, [&, i](absl::StatusOr<http::Response> r) {
      ++calls[i];
      bodies[i] = r.ok() ? absl::StrCat(r->body, "|", r->headers.GetOr("X-Request-Id", ""))
                         : r.status().ToString();
      if (++done == kRequests) Stop();
    });
  }
  EXPECT_EQ(InFlight(), kRequests);
  ASSERT_TRUE(Run(milliseconds(15000))) << done << " of " << kRequests;

  ASSERT_EQ(calls.size(), static_cast<size_t>(kRequests));
  for (int i = 0; i < kRequests; ++i) {
    EXPECT_EQ(calls[i], 1) << i;
    EXPECT_EQ(bodies[i], absl::StrCat(R"({"n":)", i, "}|req-", i));
  }
  EXPECT_EQ(RqTotal("2xx"), kRequests);
  EXPECT_EQ(InFlight(), 0);
  EXPECT_EQ(cluster_->in_flight(), 0u);
}

TEST_F(NatsClusterTest, CancelledRequestNeverCallsBack) {
  StartResponder("svc.echo.v1.call", HoldOnly(R"({"hold":true})"));
  MakeCluster(ActionOptions());
  bool called = false;
  http::Request held = ActionRequest("echo", "call", R"({"hold":true})");
  held.deadline = Clock::now() + milliseconds(150);
  upstream::Cancellable* handle =
      cluster_->Send(held, [&](absl::StatusOr<http::Response>) { called = true; });
  // Also one whose local failure is already posted.
  upstream::Cancellable* invalid = cluster_->Send(ActionRequest("echo", "call", "[]"),
                                                  [&](absl::StatusOr<http::Response>) { called = true; });
  handle->Cancel();
  invalid->Cancel();
  EXPECT_EQ(cluster_->in_flight(), 0u);
  EXPECT_EQ(InFlight(), 0);

  ASSERT_TRUE(SendAndWait(ActionRequest("echo", "call", "{}")).ok());  // barrier: held arrived
  ASSERT_EQ(responder_->Held().size(), 1u);
  responder_->Answer(responder_->Held()[0], TestReply{{}, "{}"});
  EXPECT_FALSE(Run(milliseconds(250)));  // past the deadline; nothing stops the loop
  EXPECT_FALSE(called);
  EXPECT_EQ(RqTotal("cancelled"), 2);
}

TEST_F(NatsClusterTest, ServerLossFailsFastThenRecoversAfterRestart) {
  StartResponder("svc.echo.v1.call", HoldOnly(R"({"hold":true})"));
  MakeCluster(ActionOptions());
  ASSERT_TRUE(cluster_->Healthy());
  ASSERT_TRUE(SendAndWait(ActionRequest("echo", "call", "{}")).ok());

  std::optional<absl::Status> pending;
  bool stop_on_pending = false;
  http::Request held = ActionRequest("echo", "call", R"({"hold":true})");
  held.deadline = Clock::now() + milliseconds(500);
  cluster_->Send(held, [&](absl::StatusOr<http::Response> r) {
    pending = r.status();
    if (stop_on_pending) Stop();
  });
  ASSERT_TRUE(server_->Kill().ok());
  ASSERT_TRUE(WaitConnection(false, milliseconds(5000)));
  EXPECT_FALSE(cluster_->Healthy());

  const Clock::time_point start = Clock::now();
  absl::StatusOr<http::Response> fast = SendAndWait(ActionRequest("echo", "call", "{}"));
  EXPECT_EQ(fast.status().code(), absl::StatusCode::kUnavailable) << fast.status();
  EXPECT_EQ(GetFailureKind(fast.status()), FailureKind::kConnectFailure);
  EXPECT_LT(ElapsedMs(start), 50);
  // The held request failed at the disconnect (not at its deadline), then the fast one.
  EXPECT_EQ(RqTotal("unavailable"), 2);

  if (!pending.has_value()) {
    stop_on_pending = true;
    ASSERT_TRUE(Run(milliseconds(2000)));
  }
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->code(), absl::StatusCode::kUnavailable) << *pending;

  ASSERT_TRUE(server_->Restart().ok());
  ASSERT_TRUE(responder_->WaitReconnected(absl::Seconds(10)));
  ASSERT_TRUE(WaitConnection(true, milliseconds(10000)));
  EXPECT_TRUE(cluster_->Healthy());
  absl::StatusOr<http::Response> again = SendAndWait(ActionRequest("echo", "call", R"({"ok":1})"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->body, R"({"ok":1})");
}

TEST_F(NatsClusterTest, DestroyWithPendingRequestsIsClean) {
  StartResponder("svc.echo.v1.call", HoldOnly(R"({"hold":true})"));
  MakeCluster(ActionOptions());
  int called = 0;
  for (int i = 0; i < 20; ++i) {
    http::Request request = ActionRequest("echo", "call", R"({"hold":true})");
    request.deadline = Clock::now() + milliseconds(100);
    cluster_->Send(request, [&](absl::StatusOr<http::Response>) { ++called; });
  }
  cluster_->Send(ActionRequest("echo", "call", "[]"), [&](absl::StatusOr<http::Response>) { ++called; });
  ASSERT_TRUE(SendAndWait(ActionRequest("echo", "call", "{}")).ok());  // barrier
  EXPECT_EQ(called, 1);  // the invalid one completed (posted before the barrier's reply)
  ASSERT_EQ(responder_->Held().size(), 20u);
  EXPECT_EQ(InFlight(), 20);

  cluster_.reset();
  EXPECT_EQ(InFlight(), 0);
  for (const std::string& reply : responder_->Held()) responder_->Answer(reply, TestReply{{}, "{}"});
  EXPECT_FALSE(Run(milliseconds(200)));  // past every deadline; nothing stops the loop
  EXPECT_EQ(called, 1);
}

TEST_F(NatsClusterTest, CreateRejectsBadOptions) {
  NatsClusterOptions no_name = ActionOptions();
  no_name.name.clear();
  NatsClusterOptions zero_timeout = ActionOptions();
  zero_timeout.timeout = milliseconds(0);
  NatsClusterOptions wildcard = PassthroughOptions();
  wildcard.subject = "svc.settings.v1.*";
  NatsClusterOptions bad_prefix = ActionOptions();
  bad_prefix.inbox_prefix = "_INBOX.>";
  for (const NatsClusterOptions& options : {no_name, zero_timeout, wildcard, bad_prefix}) {
    EXPECT_EQ(NatsCluster::Create(options, *connection_, metrics_).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST_F(NatsClusterTest, HealthCheckRequestFollowsTheResponderWithThresholds) {
  NatsClusterOptions options = ActionOptions();
  options.health_check.emplace();
  options.health_check->subject = "$SRV.PING.echo";
  options.health_check->interval_ms = 20;
  options.health_check->timeout_ms = 200;
  options.health_check->healthy_threshold = 2;
  options.health_check->unhealthy_threshold = 2;
  MakeCluster(options);
  std::vector<bool> transitions;
  cluster_->SetOnChange([&](bool healthy) {
    transitions.push_back(healthy);
    Stop();
  });
  EXPECT_FALSE(cluster_->Healthy());  // not checked yet

  StartResponder("$SRV.PING.echo", Echo());
  ASSERT_TRUE(Run(milliseconds(5000)));  // the first pass ever marks it healthy at once
  EXPECT_TRUE(cluster_->Healthy());
  EXPECT_THAT(cluster_->HealthDetail(), ::testing::HasSubstr("answered"));

  responder_.reset();  // nobody answers the check any more: two failures in a row
  ASSERT_TRUE(Run(milliseconds(5000)));
  EXPECT_FALSE(cluster_->Healthy());
  EXPECT_THAT(cluster_->HealthDetail(), ::testing::HasSubstr("no responders"));

  StartResponder("$SRV.PING.echo", Echo());
  ASSERT_TRUE(Run(milliseconds(5000)));
  EXPECT_TRUE(cluster_->Healthy());
  EXPECT_EQ(transitions, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(metrics_.upstream_healthy.Add({{"cluster", kCluster}}).Value(), 1);
}

}  // namespace
}  // namespace sidecar::adapters::nats_http
