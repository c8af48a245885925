// Issue 12 test 3: network partition between the sidecar and NATS, in a namespace pair the test
// makes (ip netns + veth) and deletes:
//
//   namespace sidecar-chaos-<pid>:  load threads (setns) ─► nats-sidecar 127.0.0.1 (gateway)
//                                       │ veth (tc netem here)
//   root namespace:                 nats-server on the veth address ◄─ EchoResponder
//
// (a) All packets dropped (netem loss 100% both ways, or a 0-length pfifo where the kernel has no
//     sch_netem) until the sidecar notices (<= 15 s, by its
//     ping interval); no request runs over its 2 s deadline by more than 100 ms; after healing,
//     the sidecar is ready again and requests succeed within 2 s.
// (b) 200 ms delay with 5 % loss (netem on the sidecar's side): at least 99.5 % succeed. Skipped,
//     saying why, where the kernel has no sch_netem (as in this project's CI container).
// If the machine forbids namespaces, the test says so and skips.

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
#include "tests/test_common/http_load_driver.h"
#include "tests/test_common/nats_server.h"
#include "tests/test_common/netns.h"
#include "tests/test_common/sidecar_process.h"
#include "tests/test_common/test_util.h"

namespace sidecar::chaos {
namespace {

using test_common::HttpLoadDriver;
using test_common::HttpLoadSpec;
using test_common::HttpOutcome;
using test_common::In;
using test_common::ValueOrDie;

constexpr int kHttpPort = 18080;  // inside the private namespace: nothing else can hold it

std::string PartitionConfig(const std::string& nats_url) {
  // nats ping defaults (2 s, 2 out): a dead link is noticed within 6 s, inside the 15 s promised.
  return absl::StrCat(R"(
admin:
  address: "127.0.0.1:0"
nats:
  servers: ")", nats_url, R"("
  name: "chaos-partition"
  reconnect_wait_ms: 100
  reconnect_jitter_ms: 50
  connect_timeout_ms: 1000
listeners:
  - name: gateway
    http:
      address: "127.0.0.1:)", kHttpPort, R"("
      request_timeout_ms: 2000
clusters:
)", kEchoClusterYaml, R"(routes:
)", kEchoRouteYaml);
}

class ChaosPartition : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ns = test_common::NetnsPair::Create();
    if (!ns.ok()) GTEST_SKIP() << "network namespaces not permitted here, partition test skipped: " << ns.status();
    ns_ = *std::move(ns);
    test_common::NatsServerOptions no;
    no.address = ns_->host_address();
    nats_ = ValueOrDie(test_common::NatsServer::Start(no));
    echo_ = ValueOrDie(EchoResponder::Start(nats_->url(), "svc.echo.v1.http", "echo-workers"));
    test_common::SidecarOptions so;
    so.name = "partitioned";
    so.command_prefix = ns_->ExecPrefix();
    so.config_yaml = PartitionConfig(nats_->url());
    sidecar_ = ValueOrDie(test_common::SidecarProcess::Start(std::move(so)));
  }

  HttpLoadSpec Spec(double rate) {
    HttpLoadSpec spec;
    spec.port = kHttpPort;
    spec.path = "/api/echo/call";
    spec.rate = rate;
    spec.connections = 16;
    spec.timeout = absl::Seconds(5);
    spec.thread_setup = [ns = ns_.get()] { return ns->EnterFromThisThread().ok(); };
    return spec;
  }

  void TearDown() override {
    sidecar_.reset();
    echo_.reset();
    nats_.reset();
    ns_.reset();
  }

  std::unique_ptr<test_common::NetnsPair> ns_;
  std::unique_ptr<test_common::NatsServer> nats_;
  std::unique_ptr<EchoResponder> echo_;
  std::unique_ptr<test_common::SidecarProcess> sidecar_;
};

TEST_F(ChaosPartition, DroppedLinkIsNoticedWithin15sDeadlinesHoldAndRecoveryIsUnder2s) {
  auto load = HttpLoadDriver::Start(Spec(200));
  const int partitions = Scaled(1, 3);
  absl::Duration worst_notice, worst_recovery;
  struct Window {
    absl::Time healed;
  };
  std::vector<Window> windows;
  for (int i = 0; i < partitions; ++i) {
    absl::SleepFor(absl::Seconds(2));  // steady load before the partition
    const size_t mark = sidecar_->output().size();
    const absl::Time cut = absl::Now();
    ASSERT_TRUE(ns_->DropAll(true, true).ok());
    ASSERT_TRUE(sidecar_->WaitForReadiness(false, In(absl::Seconds(20)), mark).ok()) << sidecar_->output().substr(mark);
    const absl::Duration notice = absl::Now() - cut;
    worst_notice = std::max(worst_notice, notice);
    const size_t mark2 = sidecar_->output().size();
    ASSERT_TRUE(ns_->Heal().ok());
    const absl::Time healed = absl::Now();
    ASSERT_TRUE(sidecar_->WaitForReadiness(true, In(absl::Seconds(20)), mark2).ok()) << sidecar_->output().substr(mark2);
    worst_recovery = std::max(worst_recovery, absl::Now() - healed);
    windows.push_back({healed});
  }
  absl::SleepFor(absl::Seconds(3));  // load after the last heal
  const std::vector<HttpOutcome> outcomes = load->Stop();

  // Over-deadline: the listener's deadline is 2 s; nothing may take longer than 2.1 s.
  size_t over_deadline = 0, late_failures = 0;
  double worst_ms = 0;
  for (const HttpOutcome& r : outcomes) {
    worst_ms = std::max(worst_ms, absl::ToDoubleMilliseconds(r.latency));
    over_deadline += r.latency > absl::Milliseconds(2100);
    if (r.ok()) continue;
    bool explained = false;
    for (const Window& w : windows) {
      // A failure sent more than 2 s after a heal is a recovery failure.
      if (r.sent <= w.healed + absl::Seconds(2)) explained = true;
    }
    late_failures += !explained;
  }
  Figure("partition", "partitions", absl::StrCat(partitions));
  Figure("partition", "noticed after (worst)", absl::FormatDuration(worst_notice));
  Figure("partition", "ready again after heal (worst)", absl::FormatDuration(worst_recovery));
  Figure("partition", "slowest request (ms) / over deadline+100ms", absl::StrFormat("%.1f / %d", worst_ms, over_deadline));
  Figure("partition", "requests", test_common::Summarize(outcomes).ToString());

  EXPECT_TRUE(sidecar_->process().running()) << sidecar_->output();
  EXPECT_LT(worst_notice, absl::Seconds(15));
  EXPECT_EQ(over_deadline, 0u);
  EXPECT_LT(worst_recovery, absl::Seconds(2));
  EXPECT_EQ(late_failures, 0u) << "failures later than 2 s after healing";
}

TEST_F(ChaosPartition, TwoHundredMsDelayWithFivePercentLossStillServes995Percent) {
  if (!ns_->NetemAvailable()) {
    GTEST_SKIP() << "tc netem is not available (this kernel has no sch_netem module: 'Specified qdisc kind is "
                    "unknown'), so the 200 ms delay + 5 % loss case is skipped";
  }
  ASSERT_TRUE(ns_->Netem({"delay", "200ms", "loss", "5%"}, true, false).ok());
  auto load = HttpLoadDriver::Start(Spec(100));
  absl::SleepFor(absl::Seconds(Scaled(10, 60)));  // the measured period under the degraded link
  const std::vector<HttpOutcome> outcomes = load->Stop();
  ASSERT_TRUE(ns_->Heal().ok());
  const auto s = test_common::Summarize(outcomes);
  const double share = outcomes.empty() ? 0 : static_cast<double>(s.ok) / static_cast<double>(outcomes.size());
  Figure("partition_netem", "requests", s.ToString());
  Figure("partition_netem", "success share", absl::StrFormat("%.4f", share));
  EXPECT_TRUE(sidecar_->process().running());
  EXPECT_GT(outcomes.size(), 100u);
  EXPECT_GE(share, 0.995);
  EXPECT_EQ(s.wrong_caller, 0u);
}

}  // namespace
}  // namespace sidecar::chaos
