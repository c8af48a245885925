#pragma once
// Shared fixture for the upstream tests: a Dispatcher driven by the test thread, a FakeHttpUpstream
// on its own thread, and helpers that run the loop until a callback says stop (bounded by a guard
// timer, never by sleeping).

#include <chrono>
#include <csignal>
#include <memory>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "sidecar/config/config.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/stats/metrics.h"
#include "sidecar/upstream/legacy_http_cluster.h"
#include "tests/test_common/fake_upstream/fake_http_upstream.h"

namespace sidecar::upstream {

using std::chrono::milliseconds;
using test_common::FakeHttpUpstream;
using test_common::FakeResponse;

class UpstreamTest : public ::testing::Test {
 protected:
  static constexpr char kCluster[] = "legacy";

  void SetUp() override {
    // evhttp writes with writev(): a peer reset must not kill the test with SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    auto dispatcher = event::Dispatcher::Create("test");
    ASSERT_TRUE(dispatcher.ok());
    dispatcher_ = *std::move(dispatcher);
    auto upstream = FakeHttpUpstream::Create();
    ASSERT_TRUE(upstream.ok()) << upstream.status();
    upstream_ = *std::move(upstream);
  }

  config::LegacyHttpClusterConfig HttpConfig(uint16_t port) const {
    config::LegacyHttpClusterConfig http;
    http.address = {"127.0.0.1", port};
    http.connect_timeout_ms = 1000;
    http.request_timeout_ms = 5000;
    http.max_connections = 4;
    http.max_pending_requests = 16;
    return http;
  }
  config::LegacyHttpClusterConfig HttpConfig() const { return HttpConfig(upstream_->port()); }

  std::unique_ptr<LegacyHttpCluster> MakeCluster(const config::LegacyHttpClusterConfig& http) {
    config::ClusterConfig cfg;
    cfg.name = kCluster;
    cfg.legacy_http = http;
    auto cluster = LegacyHttpCluster::Create(cfg, *dispatcher_, metrics_);
    EXPECT_TRUE(cluster.ok()) << cluster.status();
    return cluster.ok() ? *std::move(cluster) : nullptr;
  }

  static http::Request MakeRequest(std::string method, std::string path, std::string body = "") {
    http::Request request;
    request.method = std::move(method);
    request.path = std::move(path);
    request.body = std::move(body);
    return request;
  }

  // Asks the running loop to return; only the first call of a Run() counts.
  void Stop() {
    if (stopping_) return;
    stopping_ = true;
    dispatcher_->Exit();
  }

  // Runs the loop until Stop(); false if `limit` passed first.
  bool Run(milliseconds limit) {
    stopping_ = false;
    bool timed_out = false;
    event::TimerPtr guard = dispatcher_->CreateTimer([&] {
      timed_out = true;
      Stop();
    });
    guard->Enable(limit);
    dispatcher_->Run();
    return !timed_out;
  }

  absl::StatusOr<http::Response> SendAndWait(Cluster& cluster, const http::Request& request,
                                             milliseconds limit = milliseconds(5000)) {
    std::optional<absl::StatusOr<http::Response>> result;
    cluster.Send(request, [&](absl::StatusOr<http::Response> r) {
      result = std::move(r);
      Stop();
    });
    if (!Run(limit) || !result.has_value()) {
      return absl::DeadlineExceededError("test: the callback did not run in time");
    }
    return *std::move(result);
  }

  double RqTotal(const std::string& outcome) {
    return metrics_.upstream_rq_total.Add({{"cluster", kCluster}, {"outcome", outcome}}).Value();
  }
  double Gauge(prometheus::Family<prometheus::Gauge>& family) {
    return family.Add({{"cluster", kCluster}}).Value();
  }

  stats::Metrics metrics_;
  event::DispatcherPtr dispatcher_;
  std::unique_ptr<FakeHttpUpstream> upstream_;
  bool stopping_ = false;
};

}  // namespace sidecar::upstream
