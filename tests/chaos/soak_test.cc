// Issue 12 test 6: soak. One sidecar carries steady load on two paths at once
//
//   HTTP /api/echo/...  ─► nats cluster ─► nats-server ─► EchoResponder          (request/reply)
//   HTTP /legacy/...    ─► legacy cluster (16 connections, 16 pending) ─► FakeHttpUpstream
//
// while a fault is injected every period (15 s short, 60 s full), rotating through the faults of
// tests 1, 4 and 5: nats-server kill -9 + restart, upstream crashing (every connection closed) for
// 3 s, upstream slow (2 s replies) for 3 s, and a 3 s burst at several times the steady rate. The run
// lasts 75 s short (30 min full, SIDECAR_CHAOS_SOAK_MINUTES to change it). Asserted: the sidecar
// never crashes, no reply reaches the wrong caller, and its RSS after the run is < 5 % above the
// RSS after warm-up (the first full rotation). Under a sanitizer build (SIDECAR_BINARY_DIR pointing
// at an ASan/UBSan tree) the sidecar's output must hold no sanitizer report.

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
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

using test_common::FakeResponse;
using test_common::HttpLoadDriver;
using test_common::HttpLoadSpec;
using test_common::HttpOutcome;
using test_common::In;
using test_common::ValueOrDie;

std::string SoakConfig(const std::string& nats_url, const std::string& upstream) {
  return absl::StrCat(R"(
admin:
  address: "127.0.0.1:0"
nats:
  servers: ")", nats_url, R"("
  name: "chaos-soak"
  reconnect_wait_ms: 100
  ping_interval_ms: 1000
listeners:
  - name: gateway
    http:
      address: "127.0.0.1:0"
      request_timeout_ms: 2000
clusters:
)", kEchoClusterYaml, R"(  - name: legacy
    circuit_breakers:
      open_interval_ms: 500
    legacy_http:
      address: ")", upstream, R"("
      request_timeout_ms: 1000
      max_connections: 16
      max_pending_requests: 16
routes:
)", kEchoRouteYaml, R"(  - name: legacy
    prefix: "/legacy/"
    service: legacy
    cluster: legacy
)");
}

absl::Duration SoakLength() {
  if (const char* m = std::getenv("SIDECAR_CHAOS_SOAK_MINUTES"); m != nullptr) {
    double minutes = 0;
    if (absl::SimpleAtod(m, &minutes) && minutes > 0) return absl::Minutes(minutes);
  }
  return FullRun() ? absl::Minutes(30) : absl::Seconds(75);
}

TEST(ChaosSoak, RotatingFaultsKeepRssFlatAndTheSidecarUp) {
  auto nats = ValueOrDie(test_common::NatsServer::Start());
  auto echo = ValueOrDie(EchoResponder::Start(nats->url(), "svc.echo.v1.http", "echo-workers"));
  auto upstream = ValueOrDie(test_common::FakeHttpUpstream::Create());
  const FakeResponse healthy = FakeResponse::Delayed(std::chrono::milliseconds(2), 200, "ok");
  upstream->SetDefaultResponse(healthy);
  test_common::SidecarOptions so;
  so.name = "soak-sidecar";
  so.config_yaml = SoakConfig(nats->url(), upstream->address());
  auto sidecar = ValueOrDie(test_common::SidecarProcess::Start(std::move(so)));
  const int port = ValueOrDie(sidecar->HttpListenerPort("gateway", In(absl::Seconds(5))));
  const pid_t pid = sidecar->process().pid();

  HttpLoadSpec echo_spec;
  echo_spec.port = port;
  echo_spec.path = "/api/echo/soak";
  echo_spec.rate = 300;
  echo_spec.connections = 16;
  echo_spec.tag = "echo";
  HttpLoadSpec legacy_spec = echo_spec;
  legacy_spec.method = "GET";
  legacy_spec.path = "/legacy/soak";
  legacy_spec.rate = 200;
  legacy_spec.check_echo = false;
  legacy_spec.tag = "legacy";
  auto echo_load = HttpLoadDriver::Start(echo_spec);
  auto legacy_load = HttpLoadDriver::Start(legacy_spec);

  const absl::Duration length = SoakLength();
  const absl::Duration period = FullRun() ? absl::Minutes(1) : absl::Seconds(15);
  const absl::Time start = absl::Now();
  const absl::Time end = start + length;
  int64_t rss_warm = -1, rss_peak = 0;
  int faults = 0;
  std::vector<std::string> log;
  for (absl::Time next = start + period / 3; next < end; next += period) {
    absl::SleepFor(std::max(absl::ZeroDuration(), next - absl::Now()));  // the fault period
    rss_peak = std::max(rss_peak, RssKib(pid));
    const int kind = faults % 4;
    ++faults;
    switch (kind) {
      case 0: {  // NATS crash
        ASSERT_TRUE(nats->Kill().ok());
        absl::SleepFor(absl::Seconds(1));  // outage length
        ASSERT_TRUE(nats->Restart().ok()) << nats->output();
        break;
      }
      case 1:  // upstream crashes on every request for 3 s
        upstream->SetDefaultResponse(FakeResponse::Close());
        absl::SleepFor(absl::Seconds(3));
        upstream->SetDefaultResponse(healthy);
        break;
      case 2:  // upstream slow (past the 1 s route timeout) for 3 s
        upstream->SetDefaultResponse(FakeResponse::Delayed(std::chrono::milliseconds(2000), 200, "late"));
        absl::SleepFor(absl::Seconds(3));
        upstream->SetDefaultResponse(healthy);
        break;
      case 3:  // overload burst
        legacy_load->SetRate(8 * legacy_spec.rate);
        absl::SleepFor(absl::Seconds(3));
        legacy_load->SetRate(legacy_spec.rate);
        break;
    }
    // Warm-up ends after the first full rotation (every fault seen once, every pool grown).
    if (faults == 4) rss_warm = RssKib(pid);
    log.push_back(absl::StrFormat("t=%.0fs fault %d rss=%d KiB", absl::ToDoubleSeconds(absl::Now() - start), kind,
                                  RssKib(pid)));
  }
  absl::SleepFor(std::max(absl::ZeroDuration(), end - absl::Now()));
  const int64_t rss_end = RssKib(pid);
  const auto echo_out = echo_load->Stop();
  const auto legacy_out = legacy_load->Stop();
  for (const std::string& line : log) std::cout << line << "\n";

  const auto echo_sum = test_common::Summarize(echo_out);
  const auto legacy_sum = test_common::Summarize(legacy_out);
  const double growth = rss_warm > 0 ? 100.0 * static_cast<double>(rss_end - rss_warm) / rss_warm : 0;
  const bool survived = sidecar->process().running();
  // A graceful exit last, so that in a sanitizer build LeakSanitizer runs (at exit) and reports
  // leaks too; it makes the exit code 23 when it finds one.
  const absl::StatusOr<test_common::ExitStatus> exit_status = sidecar->Terminate(In(absl::Seconds(60)));
  const bool clean_exit = exit_status.ok() && !exit_status->signaled && exit_status->code == 0;
  const std::string out = sidecar->output();
  // Reports go to the output, or to files when the sanitizer options name a log_path
  // (tests/chaos/sanitizer_soak.sh sets one).
  const std::string report_files = SanitizerLogFiles(pid);
  const bool sanitizer_report = absl::StrContains(out, "ERROR: AddressSanitizer") ||
                                absl::StrContains(out, "runtime error:") ||
                                absl::StrContains(out, "ERROR: LeakSanitizer") || !report_files.empty();
  Figure("soak", "sidecar pid", absl::StrCat(pid));  // names its sanitizer report files
  Figure("soak", "length / faults", absl::StrFormat("%s / %d", absl::FormatDuration(length), faults));
  Figure("soak", "echo path", echo_sum.ToString());
  Figure("soak", "legacy path", legacy_sum.ToString());
  Figure("soak", "RSS warm / peak / end (KiB), growth",
         absl::StrFormat("%d / %d / %d, %+.2f%%", rss_warm, std::max(rss_peak, rss_end), rss_end, growth));
  Figure("soak", "sanitizer reports", sanitizer_report ? "yes" : "none");
  Figure("soak", "sidecar exit after SIGTERM",
         !exit_status.ok() ? std::string(exit_status.status().message())
                           : absl::StrCat(exit_status->signaled ? "signal " : "code ",
                                          exit_status->signaled ? exit_status->signal : exit_status->code));

  EXPECT_TRUE(survived) << out.substr(out.size() > 4000 ? out.size() - 4000 : 0);
  EXPECT_TRUE(clean_exit) << out.substr(out.size() > 4000 ? out.size() - 4000 : 0);
  EXPECT_EQ(echo_sum.wrong_caller, 0u);
  ASSERT_GE(faults, 4) << "the run was too short for one rotation";
  EXPECT_LT(growth, 5.0);
  EXPECT_FALSE(sanitizer_report) << report_files << out.substr(out.size() > 20000 ? out.size() - 20000 : 0);
  EXPECT_GT(echo_sum.ok, echo_out.size() * 9 / 10);
  EXPECT_GT(legacy_sum.ok, legacy_out.size() / 2);
}

}  // namespace
}  // namespace sidecar::chaos
