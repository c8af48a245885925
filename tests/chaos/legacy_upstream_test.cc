// Issue 12 test 4: the legacy upstream misbehaves under load.
//
//   HTTP clients ─► nats-sidecar (HTTP listener ─► legacy cluster, retries + breaker) ─► upstream
//
// (a) The FastAPI stand-in is killed (SIGKILL) and restarted under load (2 short, 5 full): the
//     breaker opens after its consecutive failures and answers circuit_open at once, closes again
//     after the restart; every request gets an HTTP answer (no timeout, no dropped connection: nothing
//     is lost silently); upstream attempts stay <= 1.2x the client requests (retry budget).
// (b) A slow upstream (every reply after 2 s): requests end in 504 at the route timeout +-50 ms, and
//     once the connection pool and the pending queue are full a new request gets 503 at once.

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/chaos/chaos_util.h"
#include "tests/test_common/fake_upstream/fake_http_upstream.h"
#include "tests/test_common/http_client.h"
#include "tests/test_common/http_load_driver.h"
#include "tests/test_common/legacy_service.h"
#include "tests/test_common/nats_server.h"
#include "tests/test_common/sidecar_process.h"
#include "tests/test_common/test_util.h"

namespace sidecar::chaos {
namespace {

using test_common::HttpLoadDriver;
using test_common::HttpLoadSpec;
using test_common::HttpOutcome;
using test_common::In;
using test_common::ValueOrDie;

struct LegacySetup {
  std::string upstream;
  int64_t request_timeout_ms = 3000;
  int64_t max_connections = 64;
  int64_t max_pending = 1024;
  // 0 disables the breaker: the slow-upstream test measures the timeout and the pending limit,
  // which 5 timeouts in a row would otherwise hide behind circuit_open answers.
  int64_t consecutive_failures = 5;
  std::string retry;  // YAML lines of the route's retry block
};

std::string LegacyConfig(const std::string& nats_url, const LegacySetup& s) {
  std::string yaml = absl::StrCat(R"(
admin:
  address: "127.0.0.1:0"
nats:
  servers: ")", nats_url, R"("
listeners:
  - name: gateway
    http:
      address: "127.0.0.1:0"
      request_timeout_ms: 10000
clusters:
  - name: legacy
    circuit_breakers:
      consecutive_failures: )", s.consecutive_failures, R"(
      open_interval_ms: 1000
    retry_budget:
      budget_percent: 20
      min_retries_per_second: 5
    legacy_http:
      address: ")", s.upstream, R"("
      connect_timeout_ms: 500
      request_timeout_ms: )", s.request_timeout_ms, R"(
      max_connections: )", s.max_connections, R"(
      max_pending_requests: )", s.max_pending, R"(
routes:
  - name: legacy
    prefix: "/"
    service: legacy
    cluster: legacy
)");
  if (!s.retry.empty()) yaml += "    retry:\n" + s.retry;
  return yaml;
}

std::unique_ptr<test_common::SidecarProcess> StartSidecar(const std::string& nats_url, const LegacySetup& s) {
  test_common::SidecarOptions so;
  so.name = "legacy-sidecar";
  so.config_yaml = LegacyConfig(nats_url, s);
  return ValueOrDie(test_common::SidecarProcess::Start(std::move(so)));
}

TEST(ChaosLegacyUpstream, KillNineAndRestartUnderLoadBreakerOpensClosesNothingLostLoadBounded) {
  auto nats = ValueOrDie(test_common::NatsServer::Start());
  auto legacy = ValueOrDie(test_common::LegacyService::Start());
  LegacySetup setup;
  setup.upstream = legacy->address();
  setup.retry = "      max_attempts: 3\n      backoff_base_ms: 5\n      backoff_max_ms: 50\n"
                "      retry_on: [connect_failure, reset, unavailable]\n";
  auto sidecar = StartSidecar(nats->url(), setup);
  const int port = ValueOrDie(sidecar->HttpListenerPort("gateway", In(absl::Seconds(5))));
  const std::string admin = sidecar->admin_address();

  HttpLoadSpec spec;
  spec.port = port;
  spec.method = "GET";  // idempotent: the route may retry it, within the budget
  spec.path = "/echo";
  spec.rate = 150;  // the Python stand-in's comfortable rate on shared cores
  spec.connections = 16;
  spec.timeout = absl::Seconds(8);
  spec.check_echo = false;  // GET /echo has no body; status only
  auto load = HttpLoadDriver::Start(spec);

  const int kills = Scaled(2, 5);
  struct Cycle {
    absl::Time killed, restarted;
  };
  std::vector<Cycle> cycles;
  bool saw_open = false;
  for (int i = 0; i < kills; ++i) {
    absl::SleepFor(absl::Seconds(2));  // steady load
    Cycle c;
    c.killed = absl::Now();
    ASSERT_TRUE(legacy->Kill().ok());
    // The breaker opens after 5 consecutive failures: a bounded wait on its gauge.
    for (absl::Time deadline = In(absl::Seconds(5)); absl::Now() < deadline && !saw_open;) {
      saw_open = MetricSum(admin, R"(sidecar_breaker_open{cluster="legacy"})") == 1;
    }
    absl::SleepFor(std::max(absl::ZeroDuration(), c.killed + absl::Seconds(2) - absl::Now()));  // outage length
    ASSERT_TRUE(legacy->Restart().ok()) << legacy->output();
    c.restarted = absl::Now();
    cycles.push_back(c);
  }
  absl::SleepFor(absl::Seconds(4));  // breaker interval (1 s) + a probe + steady load after
  const std::vector<HttpOutcome> outcomes = load->Stop();
  const double attempts = MetricSum(admin, R"(sidecar_upstream_rq_total{cluster="legacy")");
  const double breaker_closed = MetricSum(admin, R"(sidecar_breaker_open{cluster="legacy"})");

  size_t silent = 0, circuit_open = 0, failures = 0, late_failures = 0;
  std::vector<double> open_ms;
  for (const HttpOutcome& r : outcomes) {
    if (r.status <= 0) ++silent;  // timeout or connection dropped: lost without an answer
    if (r.ok()) continue;
    ++failures;
    if (r.reason == "circuit_open") {
      ++circuit_open;
      open_ms.push_back(absl::ToDoubleMilliseconds(r.latency));
    }
    // A failure sent more than 3 s after the last restart (interval 1 s + probe) is a late one.
    if (r.sent > cycles.back().restarted + absl::Seconds(3)) ++late_failures;
  }
  const auto summary = test_common::Summarize(outcomes);
  Figure("legacy_kill", "kills", absl::StrCat(kills));
  Figure("legacy_kill", "requests", summary.ToString());
  Figure("legacy_kill", "failures / circuit_open answers", absl::StrFormat("%d / %d", failures, circuit_open));
  Figure("legacy_kill", "circuit_open latency p50/p99 (ms)",
         absl::StrFormat("%.2f / %.2f", test_common::Quantile(open_ms, 0.5), test_common::Quantile(open_ms, 0.99)));
  Figure("legacy_kill", "upstream attempts / client requests",
         absl::StrFormat("%.0f / %d = %.3fx", attempts, outcomes.size(), attempts / outcomes.size()));

  EXPECT_TRUE(sidecar->process().running()) << sidecar->output();
  EXPECT_TRUE(saw_open) << "the breaker never opened";
  EXPECT_GT(circuit_open, 0u);
  EXPECT_LT(test_common::Quantile(open_ms, 0.99), 50.0) << "an open breaker answers at once";
  EXPECT_EQ(breaker_closed, 0) << "the breaker closed again after the restart";
  EXPECT_EQ(late_failures, 0u);
  EXPECT_EQ(silent, 0u) << "every request gets an HTTP answer";
  EXPECT_LE(attempts, 1.2 * static_cast<double>(outcomes.size()));
}

TEST(ChaosLegacyUpstream, SlowUpstreamTimesOutAtTheDeadlineAndAFullPoolRefusesAtOnce) {
  auto nats = ValueOrDie(test_common::NatsServer::Start());
  auto upstream = ValueOrDie(test_common::FakeHttpUpstream::Create());
  upstream->SetDefaultResponse(test_common::FakeResponse::Delayed(std::chrono::milliseconds(2000), 200, "late"));
  LegacySetup setup;
  setup.upstream = upstream->address();
  setup.request_timeout_ms = 1000;
  setup.max_connections = 4;
  setup.max_pending = 4;
  setup.consecutive_failures = 0;
  auto sidecar = StartSidecar(nats->url(), setup);
  const int port = ValueOrDie(sidecar->HttpListenerPort("gateway", In(absl::Seconds(5))));
  const std::string address = test_common::LoopbackAddress(port);
  const std::string admin = sidecar->admin_address();

  const int rounds = Scaled(3, 10);
  std::vector<double> timeout_ms, refuse_ms;
  int wrong_status = 0;
  for (int round = 0; round < rounds; ++round) {
    // Fill the pool (4 at the upstream) and the pending queue (4 waiting in the sidecar).
    std::vector<std::thread> slow;
    std::vector<int> status(8, 0);
    std::vector<double> took(8, 0);
    for (int i = 0; i < 8; ++i) {
      slow.emplace_back([&, i] {
        const absl::Time start = absl::Now();
        auto r = test_common::HttpGet(address, "/slow", In(absl::Seconds(10)));
        took[i] = absl::ToDoubleMilliseconds(absl::Now() - start);
        status[i] = r.ok() ? r->status : -1;
      });
    }
    bool full = false;
    for (absl::Time deadline = In(absl::Seconds(2)); absl::Now() < deadline && !full;) {
      full = MetricSum(admin, R"(sidecar_upstream_rq_pending{cluster="legacy"})") >= 4;
    }
    if (!full) {
      for (auto& t : slow) t.join();
      auto m = test_common::HttpGet(admin, "/metrics", In(absl::Seconds(5)));
      FAIL() << "the pending queue never filled; statuses " << status[0] << "," << status[7] << "\n"
             << (m.ok() ? m->body : "") << sidecar->output();
    }
    // Pool and queue are full: the next requests are refused at once.
    for (int i = 0; i < 5; ++i) {
      const absl::Time start = absl::Now();
      auto r = test_common::HttpGet(address, "/slow", In(absl::Seconds(5)));
      refuse_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
      if (!r.ok() || r->status != 503) ++wrong_status;
    }
    for (auto& t : slow) t.join();
    for (int i = 0; i < 8; ++i) {
      // The first 4 time out at 1 s; the queued 4 either time out at their own 1 s deadline (which
      // ran while they waited) or get a connection first: all must be 504 near 1 s.
      if (status[i] != 504) ++wrong_status;
      timeout_ms.push_back(took[i]);
    }
  }
  const double t_min = *std::min_element(timeout_ms.begin(), timeout_ms.end());
  const double t_max = *std::max_element(timeout_ms.begin(), timeout_ms.end());
  Figure("legacy_slow", "504 after (ms) min/p50/max",
         absl::StrFormat("%.1f / %.1f / %.1f (n=%d)", t_min, test_common::Quantile(timeout_ms, 0.5), t_max,
                         timeout_ms.size()));
  Figure("legacy_slow", "503 when full (ms) p50/max",
         absl::StrFormat("%.2f / %.2f (n=%d)", test_common::Quantile(refuse_ms, 0.5),
                         *std::max_element(refuse_ms.begin(), refuse_ms.end()), refuse_ms.size()));
  EXPECT_EQ(wrong_status, 0);
  EXPECT_GE(t_min, 950.0);
  EXPECT_LE(t_max, 1050.0);
  EXPECT_LT(*std::max_element(refuse_ms.begin(), refuse_ms.end()), 50.0);
  EXPECT_TRUE(sidecar->process().running());
}

}  // namespace
}  // namespace sidecar::chaos
