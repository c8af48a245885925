#include "sidecar/upstream/legacy_http_cluster.h"

#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <vector>

#include "gtest/gtest.h"
#include "tests/sidecar/upstream/upstream_test_util.h"

namespace sidecar::upstream {
namespace {

using Clock = std::chrono::steady_clock;

int64_t ElapsedMs(Clock::time_point since) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - since).count();
}

// A TCP socket bound to 127.0.0.1:<port> and (optionally) listening with the given backlog.
// Bound but not listening, it reserves a port that refuses connections.
class LoopbackSocket {
 public:
  explicit LoopbackSocket(int listen_backlog = -1) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    if (listen_backlog >= 0) {
      EXPECT_EQ(listen(fd_, listen_backlog), 0);
    }
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~LoopbackSocket() { close(fd_); }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

class LegacyHttpClusterTest : public UpstreamTest {};

TEST_F(LegacyHttpClusterTest, RoundTripsMethodPathHeadersAndBody) {
  upstream_->SetResponse("/api/scores", FakeResponse::Reply(201, R"({"id":7})",
                                                            {{"Content-Type", "application/json"},
                                                             {"X-Reply", "yes"}}));
  auto cluster = MakeCluster(HttpConfig());
  http::Request request = MakeRequest("POST", "/api/scores?season=3", R"({"points":12})");
  request.headers.Add("Content-Type", "application/json");
  request.headers.Add("X-Principal", "player:42");
  request.headers.Add("X-Request-Time", "2024-05-01T10:00:00Z");
  request.headers.Add("X-Request-Id", "req-1");
  request.headers.Add("X-Deadline-Ms", "1500");
  // The listener turns X-Deadline-Ms into the request deadline; the cluster sends what is left.
  request.deadline = http::Clock::now() + std::chrono::milliseconds(1500);
  request.headers.Add("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");

  auto response = SendAndWait(*cluster, request);

  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, R"({"id":7})");
  EXPECT_EQ(response->headers.GetOr("X-Reply", ""), "yes");
  EXPECT_EQ(response->headers.GetOr("Content-Type", ""), "application/json");
  auto seen = upstream_->last_request();
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->method, "POST");
  EXPECT_EQ(seen->uri, "/api/scores?season=3");
  EXPECT_EQ(seen->body, R"({"points":12})");
  EXPECT_EQ(seen->Header("Content-Length"), "13");
  EXPECT_EQ(seen->Header("Content-Type"), "application/json");
  EXPECT_EQ(seen->Header("X-Principal"), "player:42");
  EXPECT_EQ(seen->Header("X-Request-Time"), "2024-05-01T10:00:00Z");
  EXPECT_EQ(seen->Header("X-Request-Id"), "req-1");
  int64_t deadline_ms = std::stoll(seen->Header("X-Deadline-Ms").value_or("0"));
  EXPECT_LE(deadline_ms, 1500);
  EXPECT_GT(deadline_ms, 1000);
  EXPECT_EQ(seen->Header("traceparent"), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
}

TEST_F(LegacyHttpClusterTest, ErrorStatusesAreResponsesNotFailures) {
  upstream_->SetResponse("/missing", FakeResponse::Reply(404, R"({"error":"not found"})"));
  upstream_->SetResponse("/broken", FakeResponse::Reply(500, "boom"));
  auto cluster = MakeCluster(HttpConfig());

  auto not_found = SendAndWait(*cluster, MakeRequest("GET", "/missing"));
  auto broken = SendAndWait(*cluster, MakeRequest("DELETE", "/broken"));

  ASSERT_TRUE(not_found.ok()) << not_found.status();
  EXPECT_EQ(not_found->status, 404);
  EXPECT_EQ(not_found->body, R"({"error":"not found"})");
  ASSERT_TRUE(broken.ok()) << broken.status();
  EXPECT_EQ(broken->status, 500);
  EXPECT_EQ(broken->body, "boom");
}

TEST_F(LegacyHttpClusterTest, DropsHopByHopHeadersRecomputesLengthAndSetsHost) {
  auto cluster = MakeCluster(HttpConfig());
  http::Request request = MakeRequest("PATCH", "/x", "abc");
  request.headers.Add("Connection", "keep-alive, X-Hop");
  request.headers.Add("Keep-Alive", "timeout=5");
  request.headers.Add("Proxy-Connection", "keep-alive");
  request.headers.Add("Transfer-Encoding", "chunked");
  request.headers.Add("TE", "trailers");
  request.headers.Add("Trailer", "X-Sum");
  request.headers.Add("Upgrade", "websocket");
  request.headers.Add("Content-Length", "999");
  request.headers.Add("Host", "evil.example");
  request.headers.Add("X-Hop", "named by Connection");
  request.headers.Add("X-Keep", "1");

  auto response = SendAndWait(*cluster, request);

  ASSERT_TRUE(response.ok()) << response.status();
  auto seen = upstream_->last_request();
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->Header("Host"), upstream_->address());
  EXPECT_EQ(seen->Header("Content-Length"), "3");
  EXPECT_EQ(seen->body, "abc");
  EXPECT_EQ(seen->Header("X-Keep"), "1");
  for (const char* name : {"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding",
                           "TE", "Trailer", "Upgrade", "X-Hop"}) {
    EXPECT_FALSE(seen->Header(name).has_value()) << name;
  }
  int hosts = 0;
  for (const auto& [k, v] : seen->headers) hosts += (strcasecmp(k.c_str(), "Host") == 0);
  EXPECT_EQ(hosts, 1);
}

TEST_F(LegacyHttpClusterTest, ReusesOneKeepAliveConnectionForSequentialRequests) {
  auto cluster = MakeCluster(HttpConfig());
  constexpr int kRequests = 100;
  int ok = 0, done = 0;
  std::function<void()> send_next = [&] {
    cluster->Send(MakeRequest("GET", "/seq"), [&](absl::StatusOr<http::Response> r) {
      ok += r.ok() && r->status == 200;
      if (++done == kRequests) {
        Stop();
      } else {
        send_next();  // from inside the completion: the connection is reused right away
      }
    });
  };
  send_next();

  ASSERT_TRUE(Run(milliseconds(10000)));
  EXPECT_EQ(ok, kRequests);
  EXPECT_EQ(upstream_->request_count("/seq"), kRequests);
  EXPECT_EQ(upstream_->connections_accepted(), 1);
  EXPECT_EQ(metrics_.upstream_cx_total.Add({{"cluster", kCluster}}).Value(), 1);
  EXPECT_EQ(cluster->idle_connections(), 1u);
}

TEST_F(LegacyHttpClusterTest, LimitsConcurrencyToMaxConnectionsAndQueuesTheRest) {
  upstream_->SetResponse("/slow", FakeResponse::Delayed(milliseconds(100), 200, "late"));
  auto http = HttpConfig();
  http.max_connections = 2;
  http.max_pending_requests = 10;
  auto cluster = MakeCluster(http);
  constexpr int kRequests = 6;
  int ok = 0, done = 0;
  for (int i = 0; i < kRequests; ++i) {
    cluster->Send(MakeRequest("GET", "/slow"), [&](absl::StatusOr<http::Response> r) {
      ok += r.ok() && r->status == 200 && r->body == "late";
      if (++done == kRequests) Stop();
    });
  }
  EXPECT_EQ(cluster->busy_connections(), 2u);
  EXPECT_EQ(cluster->pending_requests(), 4u);
  EXPECT_EQ(Gauge(metrics_.upstream_rq_pending), 4);
  EXPECT_EQ(Gauge(metrics_.upstream_cx_busy), 2);

  ASSERT_TRUE(Run(milliseconds(5000)));
  EXPECT_EQ(ok, kRequests);
  EXPECT_EQ(upstream_->max_in_flight(), 2);
  EXPECT_EQ(upstream_->connections_accepted(), 2);
  EXPECT_EQ(Gauge(metrics_.upstream_rq_pending), 0);
  EXPECT_EQ(Gauge(metrics_.upstream_cx_busy), 0);
  EXPECT_EQ(Gauge(metrics_.upstream_cx_active), 2);
}

TEST_F(LegacyHttpClusterTest, OverflowFailsFastAndNeverInline) {
  upstream_->SetResponse("/slow", FakeResponse::Delayed(milliseconds(200)));
  auto http = HttpConfig();
  http.max_connections = 1;
  http.max_pending_requests = 1;
  auto cluster = MakeCluster(http);
  std::vector<std::string> order;
  int done = 0;
  auto record = [&](std::string name) {
    return [&, name](absl::StatusOr<http::Response> r) {
      order.push_back(name + ":" +
                      (r.ok() ? std::to_string(r->status)
                              : std::string(FailureKindName(GetFailureKind(r.status())))));
      if (++done == 3) Stop();
    };
  };
  cluster->Send(MakeRequest("GET", "/slow"), record("active"));
  cluster->Send(MakeRequest("GET", "/slow"), record("pending"));
  const auto start = Clock::now();
  cluster->Send(MakeRequest("GET", "/slow"), record("overflow"));
  EXPECT_TRUE(order.empty()) << "a callback ran inline from Send()";

  ASSERT_TRUE(Run(milliseconds(5000)));
  EXPECT_EQ(order, (std::vector<std::string>{"overflow:overflow", "active:200", "pending:200"}));
  EXPECT_LT(ElapsedMs(start), 1000);
  EXPECT_EQ(RqTotal("overflow"), 1);
  EXPECT_EQ(RqTotal("2xx"), 2);
}

TEST_F(LegacyHttpClusterTest, ConnectionRefusedFailsFastWithConnectFailure) {
  LoopbackSocket closed_port;  // bound, not listening: connections are refused
  auto cluster = MakeCluster(HttpConfig(closed_port.port()));
  std::optional<absl::StatusOr<http::Response>> result;
  const auto start = Clock::now();
  cluster->Send(MakeRequest("GET", "/x"), [&](absl::StatusOr<http::Response> r) {
    result = std::move(r);
    Stop();
  });
  EXPECT_FALSE(result.has_value()) << "a callback ran inline from Send()";

  ASSERT_TRUE(Run(milliseconds(2000)));
  const int64_t elapsed = ElapsedMs(start);
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->ok());
  EXPECT_EQ(GetFailureKind(result->status()), FailureKind::kConnectFailure) << result->status();
  EXPECT_EQ(result->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(elapsed, 50);
  EXPECT_EQ(RqTotal("connect_failure"), 1);
  EXPECT_EQ(Gauge(metrics_.upstream_cx_active), 0);

  // The pool recovers: a second attempt fails the same way instead of hanging.
  auto again = SendAndWait(*cluster, MakeRequest("GET", "/x"));
  EXPECT_EQ(GetFailureKind(again.status()), FailureKind::kConnectFailure);
}

TEST_F(LegacyHttpClusterTest, ConnectTimeoutIsAConnectFailure) {
  // A listener whose accept queue is full drops further SYNs, so the connect hangs.
  LoopbackSocket listener(/*listen_backlog=*/0);
  std::vector<int> fillers;
  for (int i = 0; i < 3; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(listener.port());
    connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    fillers.push_back(fd);
  }
  auto http = HttpConfig(listener.port());
  http.connect_timeout_ms = 100;
  auto cluster = MakeCluster(http);
  const auto start = Clock::now();

  auto result = SendAndWait(*cluster, MakeRequest("GET", "/x"));

  const int64_t elapsed = ElapsedMs(start);
  for (int fd : fillers) close(fd);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(GetFailureKind(result.status()), FailureKind::kConnectFailure) << result.status();
  EXPECT_GE(elapsed, 95);
  EXPECT_LT(elapsed, 1000);
}

TEST_F(LegacyHttpClusterTest, SlowUpstreamTimesOutAtTheRequestTimeoutAndDropsTheConnection) {
  upstream_->SetResponse("/slow", FakeResponse::Delayed(milliseconds(3000)));
  auto http = HttpConfig();
  http.request_timeout_ms = 100;
  auto cluster = MakeCluster(http);
  const auto start = Clock::now();

  auto result = SendAndWait(*cluster, MakeRequest("GET", "/slow"));

  const int64_t elapsed = ElapsedMs(start);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(GetFailureKind(result.status()), FailureKind::kTimeout) << result.status();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(elapsed, 95);
  EXPECT_LT(elapsed, 600);
  EXPECT_EQ(RqTotal("timeout"), 1);

  // The timed-out connection is not reused: the next request opens a new one.
  auto next = SendAndWait(*cluster, MakeRequest("GET", "/fast"));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(upstream_->connections_accepted(), 2);
  EXPECT_EQ(Gauge(metrics_.upstream_cx_active), 1);
}

TEST_F(LegacyHttpClusterTest, AnEarlierRequestDeadlineWins) {
  upstream_->SetResponse("/slow", FakeResponse::Delayed(milliseconds(3000)));
  auto http = HttpConfig();
  http.request_timeout_ms = 2000;
  auto cluster = MakeCluster(http);
  http::Request request = MakeRequest("GET", "/slow");
  const auto start = Clock::now();
  request.deadline = start + milliseconds(80);

  auto result = SendAndWait(*cluster, request);

  const int64_t elapsed = ElapsedMs(start);
  EXPECT_EQ(GetFailureKind(result.status()), FailureKind::kTimeout) << result.status();
  EXPECT_GE(elapsed, 75);
  EXPECT_LT(elapsed, 500);
}

// Request timers are recycled, and a recycled one still holds the libevent registration of its
// last request: the next request must time out at its own deadline, earlier or later than that.
TEST_F(LegacyHttpClusterTest, ARecycledTimerTimesItsNextRequestByThatRequestsDeadline) {
  upstream_->SetResponse("/slow", FakeResponse::Delayed(milliseconds(300)));
  upstream_->SetResponse("/hang", FakeResponse::Delayed(milliseconds(3000)));
  auto http = HttpConfig();
  http.request_timeout_ms = 1000;
  auto cluster = MakeCluster(http);

  // 1: answered at once; its timer (due in 100 ms) goes back to the cluster still registered.
  http::Request quick = MakeRequest("GET", "/fast");
  quick.deadline = Clock::now() + milliseconds(100);
  ASSERT_TRUE(SendAndWait(*cluster, quick).ok());

  // 2: a later deadline on the same timer. The stale wake-up at 100 ms must not fail it.
  auto start = Clock::now();
  auto slow = SendAndWait(*cluster, MakeRequest("GET", "/slow"));
  ASSERT_TRUE(slow.ok()) << slow.status();
  EXPECT_GE(ElapsedMs(start), 290);

  // 3: an earlier deadline than the one the timer is registered for (1 s) fires on time.
  http::Request hang = MakeRequest("GET", "/hang");
  start = Clock::now();
  hang.deadline = start + milliseconds(80);
  auto result = SendAndWait(*cluster, hang);
  const int64_t elapsed = ElapsedMs(start);
  EXPECT_EQ(GetFailureKind(result.status()), FailureKind::kTimeout) << result.status();
  EXPECT_GE(elapsed, 75);
  EXPECT_LT(elapsed, 500);
  EXPECT_EQ(RqTotal("timeout"), 1);
}

TEST_F(LegacyHttpClusterTest, APassedDeadlineFailsWithoutTouchingTheUpstream) {
  auto cluster = MakeCluster(HttpConfig());
  http::Request request = MakeRequest("GET", "/x");
  request.deadline = Clock::now() - milliseconds(1);

  auto result = SendAndWait(*cluster, request);

  EXPECT_EQ(GetFailureKind(result.status()), FailureKind::kTimeout);
  EXPECT_EQ(upstream_->request_count(), 0);
}

TEST_F(LegacyHttpClusterTest, PendingRequestsTimeOutWhileWaitingForAConnection) {
  upstream_->SetResponse("/hold", FakeResponse::NeverReply());
  auto http = HttpConfig();
  http.max_connections = 1;
  http.request_timeout_ms = 100;
  auto cluster = MakeCluster(http);
  std::vector<FailureKind> kinds;
  for (int i = 0; i < 2; ++i) {
    cluster->Send(MakeRequest("GET", "/hold"), [&](absl::StatusOr<http::Response> r) {
      kinds.push_back(GetFailureKind(r.status()));
      if (kinds.size() == 2) Stop();
    });
  }
  ASSERT_TRUE(Run(milliseconds(2000)));
  EXPECT_EQ(kinds, (std::vector<FailureKind>{FailureKind::kTimeout, FailureKind::kTimeout}));
  EXPECT_EQ(Gauge(metrics_.upstream_rq_pending), 0);
}

TEST_F(LegacyHttpClusterTest, ConnectionClosedMidResponseIsReset) {
  upstream_->SetResponse("/cut", FakeResponse::CloseMidResponse());
  upstream_->SetResponse("/drop", FakeResponse::Close());
  auto cluster = MakeCluster(HttpConfig());

  auto cut = SendAndWait(*cluster, MakeRequest("GET", "/cut"));
  auto drop = SendAndWait(*cluster, MakeRequest("GET", "/drop"));

  EXPECT_EQ(GetFailureKind(cut.status()), FailureKind::kReset) << cut.status();
  EXPECT_EQ(GetFailureKind(drop.status()), FailureKind::kReset) << drop.status();
  EXPECT_EQ(RqTotal("reset"), 2);
  EXPECT_EQ(Gauge(metrics_.upstream_cx_active), 0);
}

TEST_F(LegacyHttpClusterTest, OversizedResponsesAreProtocolErrors) {
  upstream_->SetResponse("/big-body", FakeResponse::Reply(200, std::string(4096, 'x')));
  upstream_->SetResponse("/big-headers",
                         FakeResponse::Reply(200, "", {{"X-Big", std::string(2048, 'h')}}));
  auto http = HttpConfig();
  http.max_response_body_bytes = 1024;
  http.max_response_headers_bytes = 1024;
  auto cluster = MakeCluster(http);

  auto body = SendAndWait(*cluster, MakeRequest("GET", "/big-body"));
  auto headers = SendAndWait(*cluster, MakeRequest("GET", "/big-headers"));
  auto fine = SendAndWait(*cluster, MakeRequest("GET", "/small"));

  EXPECT_EQ(GetFailureKind(body.status()), FailureKind::kProtocolError) << body.status();
  EXPECT_EQ(GetFailureKind(headers.status()), FailureKind::kProtocolError) << headers.status();
  ASSERT_TRUE(fine.ok()) << fine.status();
  EXPECT_EQ(RqTotal("protocol_error"), 2);
}

TEST_F(LegacyHttpClusterTest, CancelSuppressesTheCallbackAndDiscardsTheConnection) {
  upstream_->SetResponse("/hold", FakeResponse::Delayed(milliseconds(100)));
  auto http = HttpConfig();
  http.max_connections = 1;
  http.max_pending_requests = 1;
  auto cluster = MakeCluster(http);
  int cancelled_callbacks = 0;
  auto never = [&](absl::StatusOr<http::Response>) { ++cancelled_callbacks; };
  Cancellable* active = cluster->Send(MakeRequest("GET", "/hold"), never);
  Cancellable* pending = cluster->Send(MakeRequest("GET", "/hold"), never);
  Cancellable* overflow = cluster->Send(MakeRequest("GET", "/hold"), never);

  overflow->Cancel();
  pending->Cancel();
  active->Cancel();
  EXPECT_EQ(cluster->busy_connections(), 0u);
  EXPECT_EQ(cluster->pending_requests(), 0u);

  // A later request runs on a fresh connection, and the cancelled ones stay silent even after
  // their replies would have arrived.
  auto next = SendAndWait(*cluster, MakeRequest("GET", "/hold"));
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_FALSE(Run(milliseconds(150)));
  EXPECT_EQ(cancelled_callbacks, 0);
  EXPECT_EQ(RqTotal("cancelled"), 3);
  EXPECT_EQ(Gauge(metrics_.upstream_cx_active), 1);
  EXPECT_EQ(Gauge(metrics_.upstream_rq_pending), 0);
}

TEST_F(LegacyHttpClusterTest, DestroyingTheClusterWithRequestsInFlightRunsNoCallback) {
  upstream_->SetResponse("/hold", FakeResponse::Delayed(milliseconds(50)));
  auto http = HttpConfig();
  http.max_connections = 1;
  http.max_pending_requests = 1;
  auto cluster = MakeCluster(http);
  int callbacks = 0;
  for (int i = 0; i < 3; ++i) {  // active, pending, overflow
    cluster->Send(MakeRequest("GET", "/hold"),
                  [&](absl::StatusOr<http::Response>) { ++callbacks; });
  }
  cluster.reset();

  EXPECT_FALSE(Run(milliseconds(150)));  // nothing stops the loop: no callback ran
  EXPECT_EQ(callbacks, 0);
  EXPECT_EQ(Gauge(metrics_.upstream_cx_active), 0);
  EXPECT_EQ(Gauge(metrics_.upstream_cx_busy), 0);
  EXPECT_EQ(Gauge(metrics_.upstream_rq_pending), 0);
}

TEST_F(LegacyHttpClusterTest, ACallbackMayDestroyTheCluster) {
  upstream_->SetResponse("/hold", FakeResponse::Delayed(milliseconds(20)));
  auto http = HttpConfig();
  http.max_connections = 1;
  http.max_pending_requests = 1;
  auto cluster = MakeCluster(http);
  int callbacks = 0;
  // The first completion runs inside evhttp's callback, after the pending request was handed to
  // the same connection; destroying the cluster there must silence the second request.
  cluster->Send(MakeRequest("GET", "/hold"), [&](absl::StatusOr<http::Response> r) {
    ++callbacks;
    EXPECT_TRUE(r.ok());
    cluster.reset();
    Stop();
  });
  cluster->Send(MakeRequest("GET", "/hold"), [&](absl::StatusOr<http::Response>) { ++callbacks; });
  ASSERT_TRUE(Run(milliseconds(2000)));
  EXPECT_FALSE(Run(milliseconds(60)));
  EXPECT_EQ(callbacks, 1);

  // The same from the posted overflow path: the third request's callback must not run.
  http.max_pending_requests = 0;
  cluster = MakeCluster(http);
  cluster->Send(MakeRequest("GET", "/hold"), [&](absl::StatusOr<http::Response>) { ++callbacks; });
  cluster->Send(MakeRequest("GET", "/hold"), [&](absl::StatusOr<http::Response> r) {
    EXPECT_EQ(GetFailureKind(r.status()), FailureKind::kOverflow);
    ++callbacks;
    cluster.reset();
    Stop();
  });
  cluster->Send(MakeRequest("GET", "/hold"), [&](absl::StatusOr<http::Response>) { ++callbacks; });
  ASSERT_TRUE(Run(milliseconds(2000)));
  EXPECT_FALSE(Run(milliseconds(60)));
  EXPECT_EQ(callbacks, 2);
}

TEST_F(LegacyHttpClusterTest, InvalidRequestsFailWithoutReachingTheUpstream) {
  auto cluster = MakeCluster(HttpConfig());

  auto bad_method = SendAndWait(*cluster, MakeRequest("BREW", "/pot"));
  auto bad_path = SendAndWait(*cluster, MakeRequest("GET", "/a b"));
  http::Request injected = MakeRequest("GET", "/x");
  injected.headers.Add("X-Evil", "a\r\nX-Injected: 1");
  auto bad_header = SendAndWait(*cluster, injected);

  EXPECT_EQ(bad_method.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad_path.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad_header.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(upstream_->request_count(), 0);
  EXPECT_EQ(RqTotal("invalid_request"), 3);
}

TEST_F(LegacyHttpClusterTest, MetricsCountOutcomesConnectionsAndLatency) {
  upstream_->SetResponse("/ok", FakeResponse::Reply(200, "ok"));
  upstream_->SetResponse("/moved", FakeResponse::Reply(302, ""));
  upstream_->SetResponse("/nope", FakeResponse::Reply(404, ""));
  upstream_->SetResponse("/down", FakeResponse::Reply(503, ""));
  auto cluster = MakeCluster(HttpConfig());

  for (const char* path : {"/ok", "/ok", "/ok", "/moved", "/nope", "/down"}) {
    ASSERT_TRUE(SendAndWait(*cluster, MakeRequest("GET", path)).ok()) << path;
  }

  EXPECT_EQ(RqTotal("2xx"), 3);
  EXPECT_EQ(RqTotal("3xx"), 1);
  EXPECT_EQ(RqTotal("4xx"), 1);
  EXPECT_EQ(RqTotal("5xx"), 1);
  EXPECT_EQ(RqTotal("timeout"), 0);
  EXPECT_EQ(metrics_.upstream_cx_total.Add({{"cluster", kCluster}}).Value(), 1);
  EXPECT_EQ(Gauge(metrics_.upstream_cx_active), 1);
  EXPECT_EQ(Gauge(metrics_.upstream_cx_busy), 0);
  EXPECT_EQ(Gauge(metrics_.upstream_rq_pending), 0);
  auto histogram = metrics_.upstream_rq_duration_seconds
                       .Add({{"cluster", kCluster}}, stats::Metrics::LatencyBuckets())
                       .Collect();
  EXPECT_EQ(histogram.histogram.sample_count, 6u);
  EXPECT_EQ(Gauge(metrics_.upstream_healthy), 1);  // no health check configured
  EXPECT_TRUE(cluster->Healthy());
  EXPECT_EQ(cluster->HealthDetail(), "healthy (no health check configured)");
}

TEST_F(LegacyHttpClusterTest, AnIdleConnectionClosedByTheUpstreamIsReplaced) {
  upstream_->SetResponse("/bye", FakeResponse::Reply(200, "bye", {{"Connection", "close"}}));
  auto cluster = MakeCluster(HttpConfig());

  auto first = SendAndWait(*cluster, MakeRequest("GET", "/bye"));
  auto second = SendAndWait(*cluster, MakeRequest("GET", "/hello"));

  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(upstream_->connections_accepted(), 2);
  EXPECT_EQ(metrics_.upstream_cx_total.Add({{"cluster", kCluster}}).Value(), 2);
  EXPECT_EQ(Gauge(metrics_.upstream_cx_active), 1);
}

TEST_F(LegacyHttpClusterTest, CreateRejectsBadConfig) {
  config::ClusterConfig not_http;
  not_http.name = "x";
  EXPECT_FALSE(LegacyHttpCluster::Create(not_http, *dispatcher_, metrics_).ok());

  config::ClusterConfig no_connections;
  no_connections.name = "y";
  no_connections.legacy_http = HttpConfig();
  no_connections.legacy_http->max_connections = 0;
  EXPECT_FALSE(LegacyHttpCluster::Create(no_connections, *dispatcher_, metrics_).ok());

  config::ClusterConfig unresolvable;
  unresolvable.name = "z";
  unresolvable.legacy_http = HttpConfig();
  unresolvable.legacy_http->address.host = "no-such-host.invalid";
  EXPECT_FALSE(LegacyHttpCluster::Create(unresolvable, *dispatcher_, metrics_).ok());
}

}  // namespace
}  // namespace sidecar::upstream
