// Issue 12 test 1: nats-server killed (kill -9) under load on the request/reply path.
//
//   sidecar-load-like HTTP clients ─► nats-sidecar (HTTP listener ─► nats cluster, passthrough)
//                                      ─► nats-server ─► EchoResponder (raw nats.c, echoes the body)
//
// Load L = min(5000 rq/s, 50 % of the capacity measured by this test on this machine). The server is
// killed (SIGKILL) and restarted on the same port several times (3 short, 10 full), each outage held
// for about a second. Asserted, from one record per request:
//   - the sidecar never crashes;
//   - every failure lies inside an outage (kill .. server ready again + 2 s), and is a 503 answered
//     in under 50 ms (not a hang, not a timeout);
//   - /ready flips to false within 1 s of the kill and back to true within 1 s of the server being
//     ready again (measured to the sidecar's "readiness changed" log line);
//   - no reply reaches the wrong caller (each body carries its request's unique id).

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/chaos/chaos_util.h"
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

std::string GatewayConfig(const std::string& nats_url) {
  return absl::StrCat(R"(
admin:
  address: "127.0.0.1:0"
nats:
  servers: ")", nats_url, R"("
  name: "chaos-gateway"
  reconnect_wait_ms: 100
  reconnect_jitter_ms: 50
  ping_interval_ms: 1000
listeners:
  - name: gateway
    http:
      address: "127.0.0.1:0"
      request_timeout_ms: 2000
clusters:
)", kEchoClusterYaml, R"(routes:
)", kEchoRouteYaml);
}

struct Outage {
  absl::Time killed;
  absl::Time server_ready;  // Restart() returned: the new server logged "Server is ready"
  absl::Duration to_not_ready;
  absl::Duration to_ready;
};

TEST(ChaosNatsKill, KillNineUnderLoadFailsFastOnlyDuringTheOutageAndNeverMisdelivers) {
  auto nats = ValueOrDie(test_common::NatsServer::Start());
  auto echo = ValueOrDie(EchoResponder::Start(nats->url(), "svc.echo.v1.http", "echo-workers"));
  test_common::SidecarOptions so;
  so.name = "gateway";
  so.config_yaml = GatewayConfig(nats->url());
  auto sidecar = ValueOrDie(test_common::SidecarProcess::Start(std::move(so)));
  const int port = ValueOrDie(sidecar->HttpListenerPort("gateway", In(absl::Seconds(5))));

  HttpLoadSpec spec;
  spec.port = port;
  spec.path = "/api/echo/call";
  spec.connections = 32;
  spec.timeout = absl::Seconds(5);

  // Capacity: the same path driven far beyond what it can serve (every connection always behind
  // schedule, so effectively a closed loop over 32 connections).
  spec.rate = 1e6;
  spec.tag = "cap";
  const absl::Duration cap_window = absl::Seconds(2);
  auto probe = HttpLoadDriver::Start(spec);
  absl::SleepFor(cap_window);  // the measuring window itself, not a synchronisation
  const auto probed = probe->Stop();
  const double capacity = static_cast<double>(test_common::Summarize(probed).ok) / absl::ToDoubleSeconds(cap_window);
  const double rate = std::min(5000.0, 0.5 * capacity);
  Figure("nats_kill", "capacity (rq/s, 32 connections)", absl::StrFormat("%.0f", capacity));
  Figure("nats_kill", "load L (rq/s)", absl::StrFormat("%.0f", rate));
  ASSERT_GT(rate, 50) << "the machine is too busy to measure anything";

  const int kills = Scaled(3, 10);
  spec.rate = rate;
  spec.tag = "rq";
  auto load = HttpLoadDriver::Start(spec);
  std::vector<Outage> outages;
  for (int i = 0; i < kills; ++i) {
    // Steady load between outages, then the kill.
    absl::SleepFor(absl::Seconds(3));  // steady load: longer than the 2 s after each outage, so windows never overlap
    Outage o;
    const size_t mark = sidecar->output().size();
    o.killed = absl::Now();
    ASSERT_TRUE(nats->Kill().ok());
    ASSERT_TRUE(sidecar->WaitForReadiness(false, In(absl::Seconds(10)), mark).ok()) << sidecar->output().substr(mark);
    o.to_not_ready = absl::Now() - o.killed;
    // Hold the outage about a second, so requests arrive while NATS is gone, not only in flight.
    absl::SleepFor(std::max(absl::ZeroDuration(), o.killed + absl::Seconds(1) - absl::Now()));
    const size_t mark2 = sidecar->output().size();
    ASSERT_TRUE(nats->Restart().ok()) << nats->output();
    o.server_ready = absl::Now();
    ASSERT_TRUE(sidecar->WaitForReadiness(true, In(absl::Seconds(10)), mark2).ok()) << sidecar->output().substr(mark2);
    o.to_ready = absl::Now() - o.server_ready;
    outages.push_back(o);
  }
  absl::SleepFor(absl::Seconds(3));  // load after the last outage: its +2 s window and beyond
  const std::vector<HttpOutcome> outcomes = load->Stop();
  const bool crashed = !sidecar->process().running();

  // Classify every failure against the outages.
  auto in_outage = [&](const HttpOutcome& r) {
    const absl::Time done = r.sent + r.latency;
    for (const Outage& o : outages) {
      if (done >= o.killed && r.sent <= o.server_ready + absl::Seconds(2)) return true;
    }
    return false;
  };
  size_t failures = 0, outside = 0, not_503 = 0, slow = 0, wrong = 0;
  std::vector<double> fail_ms;
  std::map<std::string, int> reasons;
  absl::Duration tail;  // the latest failure after a server was ready again
  for (const HttpOutcome& r : outcomes) {
    wrong += r.wrong_caller;
    if (r.ok()) continue;
    ++failures;
    ++reasons[r.reason.empty() ? "(none)" : r.reason];
    for (size_t i = 0; i < outages.size(); ++i) {
      // Up to 2 s after this server came back, and before the next kill (whose failures are its own).
      const absl::Time ready = outages[i].server_ready;
      const absl::Time until = i + 1 < outages.size() ? std::min(ready + absl::Seconds(2), outages[i + 1].killed)
                                                      : ready + absl::Seconds(2);
      if (r.sent >= ready && r.sent < until) tail = std::max(tail, r.sent - ready);
    }
    fail_ms.push_back(absl::ToDoubleMilliseconds(r.latency));
    if (!in_outage(r)) {
      if (++outside <= 5) {
        std::cout << "failure outside an outage: seq " << r.seq << " status " << r.status << " reason " << r.reason
                  << " sent " << absl::FormatTime(r.sent) << "\n";
      }
    }
    if (r.status != 503) {
      if (++not_503 <= 5) std::cout << "non-503 failure: status " << r.status << " reason '" << r.reason << "'\n";
    }
    slow += r.latency >= absl::Milliseconds(50);
  }
  absl::Duration worst_down, worst_up;
  for (const Outage& o : outages) {
    worst_down = std::max(worst_down, o.to_not_ready);
    worst_up = std::max(worst_up, o.to_ready);
  }
  const auto summary = test_common::Summarize(outcomes);
  Figure("nats_kill", "kills", absl::StrCat(kills));
  Figure("nats_kill", "requests", summary.ToString());
  Figure("nats_kill", "failures (all during outages)", absl::StrFormat("%d (outside: %d)", failures, outside));
  Figure("nats_kill", "failure latency p50/p99/max (ms)",
         absl::StrFormat("%.2f / %.2f / %.2f", test_common::Quantile(fail_ms, 0.5), test_common::Quantile(fail_ms, 0.99),
                         fail_ms.empty() ? 0.0 : *std::max_element(fail_ms.begin(), fail_ms.end())));
  std::string reason_list;
  for (const auto& [reason, n] : reasons) absl::StrAppend(&reason_list, reason, "=", n, " ");
  Figure("nats_kill", "503 reasons", reason_list);
  Figure("nats_kill", "last failure after the server was ready (worst)", absl::FormatDuration(tail));
  Figure("nats_kill", "/ready false after kill (worst)", absl::FormatDuration(worst_down));
  Figure("nats_kill", "/ready true after server ready (worst)", absl::FormatDuration(worst_up));
  Figure("nats_kill", "wrong-caller replies", absl::StrCat(wrong));
  Figure("nats_kill", "echo responder answered", absl::StrCat(echo->answered()));

  EXPECT_FALSE(crashed) << sidecar->output();
  EXPECT_EQ(outside, 0u);
  EXPECT_EQ(not_503, 0u);
  EXPECT_EQ(slow, 0u) << "failures that took 50 ms or more";
  EXPECT_EQ(wrong, 0u);
  EXPECT_LT(worst_down, absl::Seconds(1));
  EXPECT_LT(worst_up, absl::Seconds(1));
  EXPECT_GT(summary.ok, 0u);
}

}  // namespace
}  // namespace sidecar::chaos
