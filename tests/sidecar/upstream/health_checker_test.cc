#include "sidecar/upstream/health_checker.h"

#include <vector>

#include "gtest/gtest.h"
#include "tests/sidecar/upstream/upstream_test_util.h"

namespace sidecar::upstream {
namespace {

class HealthCheckerTest : public UpstreamTest {
 protected:
  config::LegacyHttpClusterConfig WithHealthCheck(int64_t healthy_threshold,
                                                  int64_t unhealthy_threshold) {
    auto http = HttpConfig();
    config::HealthCheckConfig hc;
    hc.path = "/health";
    hc.interval_ms = 10;
    hc.timeout_ms = 100;
    hc.healthy_threshold = healthy_threshold;
    hc.unhealthy_threshold = unhealthy_threshold;
    http.health_check = hc;
    return http;
  }

  // Records every transition and stops the loop on each one.
  void Watch(LegacyHttpCluster& cluster) {
    cluster.SetOnChange([this](bool healthy) {
      transitions_.push_back(healthy);
      Stop();
    });
  }

  double Checks(const std::string& result) {
    return metrics_.health_checks_total.Add({{"cluster", kCluster}, {"result", result}}).Value();
  }

  std::vector<bool> transitions_;
};

TEST_F(HealthCheckerTest, StartsUnhealthyAndTheFirstPassMakesItHealthy) {
  upstream_->SetResponse("/health", FakeResponse::Reply(200, "ok"));
  auto cluster = MakeCluster(WithHealthCheck(/*healthy=*/3, /*unhealthy=*/2));
  Watch(*cluster);
  EXPECT_FALSE(cluster->Healthy());
  EXPECT_EQ(cluster->HealthDetail(), "not checked yet");
  EXPECT_EQ(Gauge(metrics_.upstream_healthy), 0);
  EXPECT_EQ(upstream_->request_count("/health"), 0);  // the first check is not run inline

  ASSERT_TRUE(Run(milliseconds(2000)));

  EXPECT_EQ(transitions_, std::vector<bool>{true});
  EXPECT_TRUE(cluster->Healthy());
  EXPECT_EQ(cluster->HealthDetail(), "ok");
  EXPECT_EQ(Gauge(metrics_.upstream_healthy), 1);
  EXPECT_EQ(Checks("success"), 1);
  auto seen = upstream_->last_request();
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->method, "GET");
  EXPECT_EQ(seen->uri, "/health");
  EXPECT_EQ(seen->Header("Host"), upstream_->address());
}

TEST_F(HealthCheckerTest, FlipsUnhealthyAndBackAtTheThresholds) {
  upstream_->SetResponse("/health", FakeResponse::Reply(200));
  auto cluster = MakeCluster(WithHealthCheck(/*healthy=*/3, /*unhealthy=*/2));
  Watch(*cluster);
  ASSERT_TRUE(Run(milliseconds(2000)));
  ASSERT_EQ(transitions_, std::vector<bool>{true});

  upstream_->SetResponse("/health", FakeResponse::Reply(500, "sick"));
  const double failures_before = Checks("failure");
  ASSERT_TRUE(Run(milliseconds(2000)));
  EXPECT_EQ(transitions_, (std::vector<bool>{true, false}));
  EXPECT_EQ(Checks("failure") - failures_before, 2);  // exactly unhealthy_threshold
  EXPECT_FALSE(cluster->Healthy());
  EXPECT_EQ(cluster->HealthDetail(), "status 500");
  EXPECT_EQ(Gauge(metrics_.upstream_healthy), 0);

  upstream_->SetResponse("/health", FakeResponse::Reply(204));
  const double successes_before = Checks("success");
  ASSERT_TRUE(Run(milliseconds(2000)));
  EXPECT_EQ(transitions_, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(Checks("success") - successes_before, 3);  // exactly healthy_threshold
  EXPECT_TRUE(cluster->Healthy());
  EXPECT_EQ(Gauge(metrics_.upstream_healthy), 1);
}

TEST_F(HealthCheckerTest, ATimeoutCountsAsAFailure) {
  upstream_->SetResponse("/health", FakeResponse::Reply(200));
  auto http = WithHealthCheck(/*healthy=*/1, /*unhealthy=*/1);
  http.health_check->timeout_ms = 30;
  auto cluster = MakeCluster(http);
  Watch(*cluster);
  ASSERT_TRUE(Run(milliseconds(2000)));

  upstream_->SetResponse("/health", FakeResponse::NeverReply());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(Run(milliseconds(2000)));

  EXPECT_EQ(transitions_, (std::vector<bool>{true, false}));
  EXPECT_EQ(cluster->HealthDetail(), "timeout");
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(25));
}

TEST_F(HealthCheckerTest, AnUpstreamThatGoesAwayIsAConnectFailure) {
  upstream_->SetResponse("/health", FakeResponse::Reply(200));
  auto http = WithHealthCheck(/*healthy=*/1, /*unhealthy=*/2);
  auto cluster = MakeCluster(http);
  Watch(*cluster);
  ASSERT_TRUE(Run(milliseconds(2000)));

  upstream_.reset();  // closes the listener and the kept-alive check connection
  ASSERT_TRUE(Run(milliseconds(2000)));

  EXPECT_EQ(transitions_, (std::vector<bool>{true, false}));
  EXPECT_EQ(cluster->HealthDetail(), "connect_failure");
}

TEST_F(HealthCheckerTest, ChecksUseTheirOwnConnectionNotThePool) {
  upstream_->SetResponse("/health", FakeResponse::Reply(200));
  auto http = WithHealthCheck(/*healthy=*/1, /*unhealthy=*/2);
  http.max_connections = 1;
  upstream_->SetResponse("/hold", FakeResponse::Delayed(milliseconds(300)));
  auto cluster = MakeCluster(http);
  Watch(*cluster);
  // The only pool connection is busy for the whole test; checks still run and pass.
  cluster->Send(MakeRequest("GET", "/hold"), [](absl::StatusOr<http::Response>) {});
  ASSERT_TRUE(Run(milliseconds(2000)));

  EXPECT_EQ(transitions_, std::vector<bool>{true});
  EXPECT_EQ(metrics_.upstream_cx_total.Add({{"cluster", kCluster}}).Value(), 1);
}

TEST_F(HealthCheckerTest, DestroyingTheClusterStopsTheChecks) {
  upstream_->SetResponse("/health", FakeResponse::Delayed(milliseconds(30)));
  auto cluster = MakeCluster(WithHealthCheck(1, 1));
  Watch(*cluster);
  EXPECT_FALSE(Run(milliseconds(15)));  // the first check is in flight
  ASSERT_TRUE(upstream_->WaitForRequests(1, milliseconds(2000)));
  cluster.reset();
  const int checks = upstream_->request_count("/health");

  EXPECT_FALSE(Run(milliseconds(100)));

  EXPECT_TRUE(transitions_.empty());
  EXPECT_EQ(upstream_->request_count("/health"), checks);
}

}  // namespace
}  // namespace sidecar::upstream
