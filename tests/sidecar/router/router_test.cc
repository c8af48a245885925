// Routing decisions: prefix and service matching, weighted splits, stickiness, the override header,
// runtime weight changes, the no-responders fallback, retries and the circuit breaker, with fake
// clusters on a real Dispatcher.

#include "sidecar/router/router.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sidecar/event/dispatcher.h"

namespace sidecar::router {
namespace {

using ::testing::HasSubstr;

// Answers with its own name in the body, or fails with `failure` when set.
class FakeCluster final : public upstream::Cluster {
 public:
  FakeCluster(std::string name, std::string kind, event::Dispatcher& d)
      : name_(std::move(name)), kind_(std::move(kind)), dispatcher_(d) {}
  const std::string& name() const override { return name_; }
  std::string_view kind() const override { return kind_; }
  bool Healthy() const override { return true; }
  upstream::Cancellable* Send(const http::Request& request, upstream::ResponseCallback done) override {
    ++sent;
    last_headers = request.headers;
    last_deadline = request.deadline;
    const bool fail = !failure.ok() && sent <= fail_times;
    dispatcher_.Post([this, fail, done = std::move(done)]() mutable {
      if (fail) {
        std::move(done)(failure);
        return;
      }
      http::Response r;
      r.body = name_;
      std::move(done)(std::move(r));
    });
    return nullptr;
  }
  int sent = 0;
  absl::Status failure;
  int fail_times = 1 << 30;  // the first fail_times requests fail with `failure` (when set)
  http::HeaderMap last_headers;
  http::Clock::time_point last_deadline;

 private:
  std::string name_, kind_;
  event::Dispatcher& dispatcher_;
};

config::RouteConfig SplitRoute(int64_t nats_bp) {
  config::RouteConfig rc;
  rc.name = "gateway";
  rc.prefix = "/api/settings/";
  rc.service = "settings";
  rc.split = {{"nats", nats_bp}, {"legacy", 10000 - nats_bp}};
  return rc;
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dispatcher_ = *event::Dispatcher::Create("test");
    auto legacy = std::make_unique<FakeCluster>("legacy", "legacy", *dispatcher_);
    auto nats = std::make_unique<FakeCluster>("nats", "nats", *dispatcher_);
    legacy_ = legacy.get();
    nats_ = nats.get();
    clusters_ = std::make_unique<upstream::ClusterManager>(*dispatcher_, metrics_);
    config::ClusterConfig legacy_config;
    legacy_config.circuit_breakers.open_interval_ms = 100;
    ASSERT_TRUE(clusters_->Add(std::move(legacy), &legacy_config).ok());
    ASSERT_TRUE(clusters_->Add(std::move(nats)).ok());
  }

  void Use(std::vector<config::RouteConfig> routes) {
    auto table = RouteTable::Create(routes, *clusters_);
    ASSERT_TRUE(table.ok()) << table.status();
    holder_ = std::make_shared<RouteTableHolder>(*table);
  }

  // Runs one request through the router filter; returns the body (the cluster name) or the error.
  absl::StatusOr<http::Response> Route(http::Request request) {
    absl::StatusOr<http::Response> result = absl::UnknownError("no answer");
    http::FilterChain filters;
    filters.push_back(RouterFilterFactory(holder_, metrics_)());
    auto manager = std::make_unique<http::FilterManager>(
        *dispatcher_, http::StreamInfo{}, std::move(request), std::move(filters),
        [&](absl::StatusOr<http::Response> r) {
          result = std::move(r);
          dispatcher_->Exit();
        });
    dispatcher_->Post([&] { manager->Start(); });
    dispatcher_->Run();
    return result;
  }

  static http::Request Http(const std::string& path, const std::string& principal = "") {
    http::Request r;
    r.method = "GET";
    r.path = path;
    if (!principal.empty()) r.headers.Add("X-Principal", principal);
    return r;
  }

  double Counter(const std::string& cluster, const std::string& reason) {
    return metrics_.route_requests_total.Add({{"route", "gateway"}, {"cluster", cluster}, {"reason", reason}})
        .Value();
  }

  std::unique_ptr<event::Dispatcher> dispatcher_;
  stats::Metrics metrics_;
  std::unique_ptr<upstream::ClusterManager> clusters_;
  FakeCluster* legacy_ = nullptr;
  FakeCluster* nats_ = nullptr;
  std::shared_ptr<RouteTableHolder> holder_;
};

TEST(StickyBucketTest, IsFnv1a64ModBucketsAndStableAcrossReleases) {
  EXPECT_EQ(Fnv1a64(""), 14695981039346656037ull);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cull);  // the published FNV-1a test vector
  // Pinned: changing the hash would move every sticky player to another side.
  EXPECT_EQ(StickyBucket("player:pl_a8694c9d17e9b948"), Fnv1a64("player:pl_a8694c9d17e9b948") % 10000);
  EXPECT_EQ(StickyBucket("a"), 0xaf63dc4c8601ec8cull % 10000);
}

TEST(StickyBucketTest, TenPercentOfBucketsOver50000KeysIsTenPercentOfKeys) {
  int low = 0;
  for (int i = 0; i < 50000; ++i) {
    if (StickyBucket("player:" + std::to_string(i)) < 1000) ++low;
  }
  EXPECT_NEAR(low / 50000.0, 0.10, 0.005);
}

TEST_F(RouterTest, RandomTenPercentSplitMeasuresTenPercentOver50000Requests) {
  Use({SplitRoute(1000)});
  for (int i = 0; i < 50000; ++i) ASSERT_TRUE(Route(Http("/api/settings/x")).ok());
  EXPECT_NEAR(nats_->sent / 50000.0, 0.10, 0.005);
  EXPECT_EQ(nats_->sent + legacy_->sent, 50000);
  EXPECT_EQ(Counter("nats", "split"), nats_->sent);
}

TEST_F(RouterTest, StickyKeyAlwaysLandsOnTheSameSide) {
  auto rc = SplitRoute(5000);
  rc.sticky = config::StickyConfig{"X-Principal", ""};
  Use({rc});
  auto first = Route(Http("/api/settings/x", "player:p1"));
  ASSERT_TRUE(first.ok());
  for (int i = 0; i < 1000; ++i) {
    auto again = Route(Http("/api/settings/x", "player:p1"));
    ASSERT_TRUE(again.ok());
    ASSERT_EQ(again->body, first->body);
  }
  const std::string expected = StickyBucket("player:p1") < 5000 ? "nats" : "legacy";
  EXPECT_EQ(first->body, expected);
  EXPECT_EQ(Counter(expected, "sticky"), 1001);
}

TEST_F(RouterTest, StickyOnAJsonFieldReadsTheBodyOrTheQuery) {
  auto rc = SplitRoute(5000);
  rc.sticky = config::StickyConfig{"", "player_id"};
  Use({rc});
  // Find two ids on different sides so the assertion can tell them apart.
  std::string a, b;
  for (int i = 0; a.empty() || b.empty(); ++i) {
    std::string id = "p" + std::to_string(i);
    (StickyBucket(id) < 5000 ? a : b) = id;
  }
  http::Request post = Http("/api/settings/x");
  post.method = "POST";
  post.body = R"({"player_id":")" + a + R"("})";
  EXPECT_EQ(Route(post)->body, "nats");
  EXPECT_EQ(Route(Http("/api/settings/x?player_id=" + b))->body, "legacy");
}

TEST_F(RouterTest, OverrideHeaderForcesASideForAllowedPrincipalsOnly) {
  auto rc = SplitRoute(0);
  rc.override_header = config::RouteOverrideConfig{"x-sidecar-route", {"admin:ops"}};
  Use({rc});
  http::Request allowed = Http("/api/settings/x", "admin:ops");
  allowed.headers.Add("x-sidecar-route", "nats");
  EXPECT_EQ(Route(allowed)->body, "nats");
  EXPECT_FALSE(nats_->last_headers.Has("x-sidecar-route"));  // ours, never forwarded
  EXPECT_EQ(Counter("nats", "override"), 1);

  http::Request forbidden = Http("/api/settings/x", "player:p1");
  forbidden.headers.Add("x-sidecar-route", "nats");
  auto denied = Route(forbidden);
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);

  http::Request unknown = Http("/api/settings/x", "admin:ops");
  unknown.headers.Add("x-sidecar-route", "native");
  EXPECT_EQ(Route(unknown).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(RouterTest, NatsRequestsMatchServiceAndActionHttpRequestsTheLongestPrefix) {
  config::RouteConfig any_action;
  any_action.name = "settings/*";
  any_action.service = "settings";
  any_action.split = {{"legacy", 10000}};
  config::RouteConfig one_action = any_action;
  one_action.name = "settings/get";
  one_action.action = "get_effective";
  one_action.split = {{"nats", 10000}};
  config::RouteConfig short_prefix = SplitRoute(0);
  short_prefix.name = "api";
  short_prefix.prefix = "/api/";
  config::RouteConfig long_prefix = SplitRoute(10000);
  Use({any_action, one_action, short_prefix, long_prefix});

  http::Request nats_request;
  nats_request.service = "settings";
  nats_request.action = "get_effective";
  EXPECT_EQ(Route(nats_request)->body, "nats");
  nats_request.action = "set_values";
  EXPECT_EQ(Route(nats_request)->body, "legacy");
  EXPECT_EQ(Route(Http("/api/settings/players/p1?x=1"))->body, "nats");
  EXPECT_EQ(Route(Http("/api/other"))->body, "legacy");
  EXPECT_EQ(Route(Http("/nothing")).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RouterTest, NoRespondersFallsBackOnceToTheFallbackCluster) {
  auto rc = SplitRoute(10000);
  rc.fallback = "legacy";
  Use({rc});
  nats_->failure = upstream::UpstreamFailure(upstream::FailureKind::kNoResponders, "no responders");
  auto result = Route(Http("/api/settings/x"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->body, "legacy");
  EXPECT_EQ(metrics_.route_fallback_total.Add({{"route", "gateway"}, {"from", "nats"}, {"to", "legacy"}}).Value(),
            1);
  // Other failures are errors, not fallbacks.
  nats_->failure = upstream::UpstreamFailure(upstream::FailureKind::kTimeout, "slow");
  EXPECT_EQ(Route(Http("/api/settings/x")).status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(RouterTest, WeightsChangeAtRunTimeAndBadChangesAreRejected) {
  Use({SplitRoute(0)});
  EXPECT_EQ(Route(Http("/api/settings/x"))->body, "legacy");
  auto updated = holder_->Get()->WithWeights("gateway", {{"nats", 10000}, {"legacy", 0}});
  ASSERT_TRUE(updated.ok()) << updated.status();
  holder_->Set(*updated);
  EXPECT_EQ(Route(Http("/api/settings/x"))->body, "nats");

  EXPECT_EQ(holder_->Get()->WithWeights("nope", {{"nats", 10000}}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(holder_->Get()->WithWeights("gateway", {{"nats", 5000}}).status().message(), HasSubstr("100%"));
  EXPECT_THAT(holder_->Get()->WithWeights("gateway", {{"native", 10000}}).status().message(),
              HasSubstr("not part of"));
}

TEST_F(RouterTest, RouteTimeoutShortensTheDeadline) {
  auto rc = SplitRoute(0);
  rc.timeout_ms = 50;
  Use({rc});
  const auto before = http::Clock::now();
  EXPECT_TRUE(Route(Http("/api/settings/x")).ok());  // no deadline of its own: the route's applies
  EXPECT_LE(legacy_->last_deadline, http::Clock::now() + std::chrono::milliseconds(50));
  EXPECT_GE(legacy_->last_deadline, before + std::chrono::milliseconds(50));
}

config::RouteConfig RetryingRoute(int max_attempts) {
  config::RouteConfig rc = SplitRoute(0);
  rc.retry.emplace();
  rc.retry->max_attempts = max_attempts;
  rc.retry->backoff_base_ms = 1;
  rc.retry->backoff_max_ms = 2;
  return rc;
}

TEST_F(RouterTest, RetriesRetryableFailuresUpToMaxAttempts) {
  Use({RetryingRoute(3)});
  legacy_->failure = upstream::UpstreamFailure(upstream::FailureKind::kConnectFailure, "refused");
  legacy_->fail_times = 2;
  auto r = Route(Http("/api/settings/x"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "legacy");
  EXPECT_EQ(legacy_->sent, 3);
  EXPECT_EQ(metrics_.retries_total.Add({{"route", "gateway"}, {"cluster", "legacy"}, {"reason", "connect_failure"}})
                .Value(),
            2);

  legacy_->sent = 0;
  legacy_->fail_times = 1 << 30;
  EXPECT_EQ(Route(Http("/api/settings/x")).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(legacy_->sent, 3);  // max_attempts includes the first
}

TEST_F(RouterTest, PostWithoutAnIdempotencyKeyIsNeverRetried) {
  Use({RetryingRoute(3)});
  legacy_->failure = upstream::UpstreamFailure(upstream::FailureKind::kReset, "reset");
  legacy_->fail_times = 1;
  http::Request post = Http("/api/settings/x");
  post.method = "POST";
  post.body = R"({"value": 1})";
  EXPECT_EQ(Route(post).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(legacy_->sent, 1);
  EXPECT_EQ(metrics_.retries_skipped_total
                .Add({{"route", "gateway"}, {"cluster", "legacy"}, {"reason", "non_idempotent"}})
                .Value(),
            1);

  legacy_->sent = 0;
  post.body = R"({"value": 1, "idempotency_key": "k-1"})";
  EXPECT_TRUE(Route(post).ok());
  EXPECT_EQ(legacy_->sent, 2);

  legacy_->sent = 0;
  post.body = "{}";
  post.headers.Add("Idempotency-Key", "k-2");
  EXPECT_TRUE(Route(post).ok());
  EXPECT_EQ(legacy_->sent, 2);
}

TEST_F(RouterTest, FinalOutcomesAreNotRetried) {
  Use({RetryingRoute(3)});
  legacy_->failure = absl::InvalidArgumentError("bad");  // a remote 4xx-like error
  EXPECT_EQ(Route(Http("/api/settings/x")).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(legacy_->sent, 1);
  EXPECT_EQ(RetryReason(absl::StatusOr<http::Response>(http::Response{})), "");
  http::Response unavailable;
  unavailable.status = 503;
  EXPECT_EQ(RetryReason(unavailable), "unavailable");
  EXPECT_EQ(RetryReason(upstream::UpstreamFailure(upstream::FailureKind::kCircuitOpen, "open")), "");
}

TEST_F(RouterTest, ConsecutiveFailuresOpenTheBreakerWhichFailsFastThenHalfOpens) {
  Use({SplitRoute(0)});  // legacy: open interval 100 ms
  legacy_->failure = upstream::UpstreamFailure(upstream::FailureKind::kConnectFailure, "refused");
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(Route(Http("/api/settings/x")).ok());
  EXPECT_EQ(legacy_->sent, 5);
  auto refused = Route(Http("/api/settings/x"));
  EXPECT_EQ(upstream::GetFailureKind(refused.status()), upstream::FailureKind::kCircuitOpen);
  EXPECT_EQ(legacy_->sent, 5);  // never reached the upstream
  EXPECT_EQ(metrics_.breaker_open.Add({{"cluster", "legacy"}}).Value(), 1);

  legacy_->failure = absl::OkStatus();
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(Route(Http("/api/settings/x")).ok());  // within the interval
  EXPECT_EQ(legacy_->sent, 5);
  // After the interval one half-open probe goes through; it succeeds and closes the breaker.
  bool closed = false;
  for (const auto until = http::Clock::now() + std::chrono::seconds(2); !closed && http::Clock::now() < until;) {
    closed = Route(Http("/api/settings/x")).ok();
  }
  EXPECT_TRUE(closed);
  EXPECT_EQ(legacy_->sent, 6);
  EXPECT_EQ(clusters_->Get("legacy")->breaker_state(), resilience::BreakerState::kClosed);
  EXPECT_EQ(metrics_.breaker_open.Add({{"cluster", "legacy"}}).Value(), 0);
}

}  // namespace
}  // namespace sidecar::router
