// Issue 12 test 5: overload, 2x capacity offered.
//
//   HTTP clients ─► nats-sidecar (HTTP listener ─► legacy cluster: 16 connections, 16 pending)
//                  ─► FakeHttpUpstream answering every request after 10 ms
//
// Capacity is what the upstream can serve through the sidecar (about 16 / 10 ms), measured here in
// a closed loop. Then 2x that is offered over 64 connections (5 s short, 30 s full): the sidecar must
// refuse the excess with 503 in under 5 ms (median; p99 under 50 ms: a refusal must not queue), keep
// its memory bounded (RSS sampled throughout), and once the offered load drops to half the capacity,
// every request must succeed again within 5 s.

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/chaos/chaos_util.h"
#include "tests/test_common/fake_upstream/fake_http_upstream.h"
#include "tests/test_common/http_load_driver.h"
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

std::string OverloadConfig(const std::string& nats_url, const std::string& upstream) {
  return absl::StrCat(R"(
admin:
  address: "127.0.0.1:0"
nats:
  servers: ")", nats_url, R"("
listeners:
  - name: gateway
    http:
      address: "127.0.0.1:0"
      request_timeout_ms: 5000
clusters:
  - name: legacy
    legacy_http:
      address: ")", upstream, R"("
      request_timeout_ms: 5000
      max_connections: 16
      max_pending_requests: 16
routes:
  - name: legacy
    prefix: "/"
    service: legacy
    cluster: legacy
)");
}

TEST(ChaosOverload, TwiceCapacityIsShedWithFast503sBoundedMemoryAndRecoversWithinFiveSeconds) {
  auto nats = ValueOrDie(test_common::NatsServer::Start());
  auto upstream = ValueOrDie(test_common::FakeHttpUpstream::Create());
  upstream->SetDefaultResponse(test_common::FakeResponse::Delayed(std::chrono::milliseconds(10), 200, "ok"));
  test_common::SidecarOptions so;
  so.name = "overload-sidecar";
  so.config_yaml = OverloadConfig(nats->url(), upstream->address());
  auto sidecar = ValueOrDie(test_common::SidecarProcess::Start(std::move(so)));
  const int port = ValueOrDie(sidecar->HttpListenerPort("gateway", In(absl::Seconds(5))));
  const pid_t pid = sidecar->process().pid();

  HttpLoadSpec spec;
  spec.port = port;
  spec.method = "GET";
  spec.path = "/work";
  spec.check_echo = false;
  spec.timeout = absl::Seconds(6);

  // Capacity: a closed loop on as many connections as the pool has (no refusals).
  spec.connections = 16;
  spec.rate = 1e6;
  const absl::Duration window = absl::Seconds(2);
  auto probe = HttpLoadDriver::Start(spec);
  absl::SleepFor(window);  // the measuring window
  const double capacity = static_cast<double>(test_common::Summarize(probe->Stop()).ok) / absl::ToDoubleSeconds(window);
  const int64_t rss_before = RssKib(pid);
  Figure("overload", "capacity (rq/s)", absl::StrFormat("%.0f", capacity));
  ASSERT_GT(capacity, 100);

  // 2x capacity, then half of it.
  spec.connections = 64;
  spec.rate = 2 * capacity;
  auto load = HttpLoadDriver::Start(spec);
  const absl::Duration overload = absl::Seconds(Scaled(5, 30));
  int64_t rss_peak = rss_before;
  for (absl::Time end = absl::Now() + overload; absl::Now() < end;) {
    absl::SleepFor(absl::Milliseconds(200));  // the RSS sampling period
    rss_peak = std::max(rss_peak, RssKib(pid));
  }
  const absl::Time dropped = absl::Now();
  load->SetRate(capacity / 2);
  absl::SleepFor(absl::Seconds(7));  // the recovery window (5 s) and 2 s of steady load after it
  const std::vector<HttpOutcome> outcomes = load->Stop();
  const int64_t rss_after = RssKib(pid);

  std::vector<double> refused_ms;
  size_t over_ok = 0, over_total = 0, other_failures = 0;
  absl::Time last_failure_after_drop = dropped;
  for (const HttpOutcome& r : outcomes) {
    if (r.sent < dropped) {
      ++over_total;
      over_ok += r.ok();
    }
    if (r.status == 503) {
      refused_ms.push_back(absl::ToDoubleMilliseconds(r.latency));
    } else if (!r.ok()) {
      ++other_failures;
    }
    if (!r.ok() && r.sent >= dropped) last_failure_after_drop = std::max(last_failure_after_drop, r.sent);
  }
  const absl::Duration recovery = last_failure_after_drop - dropped;
  const auto summary = test_common::Summarize(outcomes);
  Figure("overload", "offered (rq/s)", absl::StrFormat("%.0f for %s", 2 * capacity, absl::FormatDuration(overload)));
  Figure("overload", "requests", summary.ToString());
  Figure("overload", "served during overload (rq/s)",
         absl::StrFormat("%.0f of %d offered requests ok", over_ok / absl::ToDoubleSeconds(overload), over_total));
  Figure("overload", "503 latency p50/p99/max (ms)",
         absl::StrFormat("%.2f / %.2f / %.2f (n=%d)", test_common::Quantile(refused_ms, 0.5),
                         test_common::Quantile(refused_ms, 0.99),
                         refused_ms.empty() ? 0.0 : *std::max_element(refused_ms.begin(), refused_ms.end()),
                         refused_ms.size()));
  Figure("overload", "RSS before / peak / after (KiB)", absl::StrFormat("%d / %d / %d", rss_before, rss_peak, rss_after));
  Figure("overload", "recovery after the drop", absl::FormatDuration(recovery));

  EXPECT_TRUE(sidecar->process().running()) << sidecar->output();
  EXPECT_GT(refused_ms.size(), 0u) << "2x capacity must be shed";
  // "503 in under 5 ms" is checked on the median, as resilience_e2e_test checks its 5 ms bound: the
  // latency is measured by 64 client threads sharing 2 cores with the sidecar and the upstream, so
  // its tail is the machine's scheduling (p99 2.4 ms on a quiet run, 13-14 ms with builds beside).
  // The tail must still be a refusal, not a wait: p99 under 50 ms.
  EXPECT_LT(test_common::Quantile(refused_ms, 0.5), 5.0);
  EXPECT_LT(test_common::Quantile(refused_ms, 0.99), 50.0);
  EXPECT_EQ(other_failures, 0u) << "only 503 refusals: no timeouts, no dropped connections";
  EXPECT_LT(rss_peak, rss_before + 64 * 1024) << "memory stays bounded under overload";
  EXPECT_LT(recovery, absl::Seconds(5));
}

}  // namespace
}  // namespace sidecar::chaos
