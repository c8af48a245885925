// Issue 7 items 4-5 end to end: the real nats-sidecar binary, a real nats-server -js, and two fake
// HTTP upstreams as the two sides of one split route ("legacy" and "newside").
//
//  - `nats-sidecar cutover` writes the KV; three sidecars apply it within 1 s (measured from
//    before the CLI starts to each sidecar's "cutover applied" log line; the only timed assertion,
//    the bound the issue sets); `nats-sidecar status` reads it back with who/when/history.
//  - an injected error rate on the new side rolls the route back fleet-wide, not below the
//    minimum request count; the counter sidecar_rollbacks_total counts it.
//  - the stepped ramp reaches 100 % with short holds while the guards hold (two sidecars, each
//    step written once), and stops (halted, rolled back) when the error-rate guard breaks.
// Waits are bounded and driven by log lines and process exits.

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_common/fake_upstream/fake_http_upstream.h"
#include "tests/test_common/http_client.h"
#include "tests/test_common/nats_server.h"
#include "tests/test_common/paths.h"
#include "tests/test_common/process.h"
#include "tests/test_common/sidecar_process.h"
#include "tests/test_common/test_util.h"

namespace sidecar::test_common {
namespace {

using Json = nlohmann::json;

constexpr char kRoute[] = "settings-api";

// One split route ("legacy" 100 / "newside" 0) with a cutover entry for the new side; `route_extra`
// is YAML appended to the route (a shadow), `rules` the entry's guard rules and ramp.
std::string BaseConfig(const std::string& nats_url, const std::string& name, const std::string& legacy,
                       const std::string& newside, const std::string& route_extra, const std::string& rules) {
  return absl::StrCat(R"(
admin:
  address: "127.0.0.1:0"
nats:
  servers: ")", nats_url, R"("
  name: ")", name, R"("
  reconnect_wait_ms: 100
clusters:
  - name: legacy
    legacy_http:
      address: ")", legacy, R"("
  - name: newside
    circuit_breakers:
      consecutive_failures: 0
    legacy_http:
      address: ")", newside, R"("
listeners:
  - name: gw
    http:
      address: "127.0.0.1:0"
routes:
  - name: )", kRoute, R"(
    prefix: /api/settings/
    service: settings
    split:
      - cluster: legacy
        weight: 100
      - cluster: newside
        weight: 0
)", route_extra, R"(
cutover:
  evaluate_interval_ms: 50
  routes:
    - route: )", kRoute, R"(
      side: newside
)", rules);
}

// An error-rate guard and a stepped ramp with `hold_ms` per step.
std::string Config(const std::string& nats_url, const std::string& name, const std::string& legacy,
                   const std::string& newside, int64_t hold_ms) {
  return BaseConfig(nats_url, name, legacy, newside, "", absl::StrCat(R"(      error_rate:
        max_percent: 20
        min_requests: 20
        window_ms: 60000
      ramp:
        steps: [1, 5, 25, 50, 100]
        hold_ms: )", hold_ms, "\n"));
}

// Every request mirrored to the new side, and a mismatch-rate guard on it: what the shadow
// comparisons report drives the rollback.
std::string MismatchConfig(const std::string& nats_url, const std::string& name, const std::string& legacy,
                           const std::string& newside) {
  return BaseConfig(nats_url, name, legacy, newside, R"(    shadow:
      cluster: newside
      percent: 100
      timeout_ms: 2000
)",
                    R"(      mismatch_rate:
        max_percent: 10
        min_requests: 20
        window_ms: 60000
)");
}

class CutoverE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    NatsServerOptions o;
    o.jetstream = true;
    nats_ = ValueOrDie(NatsServer::Start(o));
    legacy_ = ValueOrDie(FakeHttpUpstream::Create());
    newside_ = ValueOrDie(FakeHttpUpstream::Create());
    legacy_->SetDefaultResponse(FakeResponse::Reply(200, "legacy"));
    newside_->SetDefaultResponse(FakeResponse::Reply(200, "newside"));
  }
  void TearDown() override {
    for (const std::string& p : cli_configs_) unlink(p.c_str());
  }

  std::string ConfigText(const std::string& name, int64_t hold_ms = 300) {
    return Config(nats_->url(), name, legacy_->address(), newside_->address(), hold_ms);
  }

  std::unique_ptr<SidecarProcess> StartSidecar(const std::string& name, int64_t hold_ms = 300) {
    SidecarOptions o;
    o.name = name;
    o.config_yaml = ConfigText(name, hold_ms);
    auto sidecar = ValueOrDie(SidecarProcess::Start(std::move(o)));
    // The KV watch is up once it says so: only then is "applied within 1 s" a fair measure.
    EXPECT_TRUE(sidecar->process().WaitForOutput("cutover kv watching", In(absl::Seconds(10))).ok())
        << sidecar->output();
    return sidecar;
  }

  // Runs `nats-sidecar <args...> -c <config>`; returns exit code and output.
  std::pair<int, std::string> Cli(std::vector<std::string> args, int64_t hold_ms = 300) {
    if (cli_config_.empty()) {
      cli_config_ = ValueOrDie(WriteTempFile("cutover-cli", ConfigText("cli", hold_ms)));
      cli_configs_.push_back(cli_config_);
    }
    ProcessOptions po;
    po.name = "cli";
    po.argv = {BinaryPath("nats-sidecar")};
    for (auto& a : args) po.argv.push_back(a);
    po.argv.push_back("-c");
    po.argv.push_back(cli_config_);
    po.env = {{"USER", "e2e-operator"}};
    auto p = ValueOrDie(Process::Spawn(po));
    ExitStatus st = ValueOrDie(p->Wait(In(absl::Seconds(20))));
    // The reaped child's last bytes may still be in the pipe: wait for end of output (a needle
    // that never appears returns kUnavailable at EOF), so output() is complete.
    (void)p->WaitForOutput("\x01end-of-output\x01", In(absl::Seconds(5)));
    return {st.signaled ? -1 : st.code, p->output()};
  }

  Json Status() {
    auto [code, out] = Cli({"status", kRoute});
    EXPECT_EQ(code, 0) << out;
    Json doc = Json::parse(out, nullptr, false);
    EXPECT_TRUE(doc.is_object()) << out;
    return doc.is_object() ? doc["routes"][0] : Json();
  }

  double RouteWeight(SidecarProcess& s, const std::string& cluster) {
    auto r = ValueOrDie(HttpGet(s.admin_address(), "/routes", In(absl::Seconds(5))));
    for (const Json& route : Json::parse(r.body)) {
      if (route["name"] != kRoute) continue;
      for (const Json& w : route["split"]) {
        if (w["cluster"] == cluster) return w["weight"].get<double>();
      }
    }
    return -1;
  }

  double Metric(SidecarProcess& s, const std::string& series) {
    auto r = ValueOrDie(HttpGet(s.admin_address(), "/metrics", In(absl::Seconds(5))));
    size_t at = r.body.find("\n" + series + " ");
    if (at == std::string::npos) return 0;
    return std::stod(r.body.substr(at + series.size() + 2));
  }

  // `n` requests through the gateway; returns how many the new side answered.
  int Send(SidecarProcess& s, int n) {
    const int port = ValueOrDie(s.HttpListenerPort("gw", In(absl::Seconds(5))));
    const std::string address = absl::StrCat("127.0.0.1:", port);
    int newside = 0;
    for (int i = 0; i < n; ++i) {
      auto r = HttpGet(address, "/api/settings/players/p1", In(absl::Seconds(5)));
      EXPECT_TRUE(r.ok()) << r.status();
      if (r.ok() && (r->body == "newside" || r->status >= 500)) ++newside;
    }
    return newside;
  }

  std::unique_ptr<NatsServer> nats_;
  std::unique_ptr<FakeHttpUpstream> legacy_;
  std::unique_ptr<FakeHttpUpstream> newside_;
  std::string cli_config_;
  std::vector<std::string> cli_configs_;
};

TEST_F(CutoverE2ETest, WeightChangeThroughTheKvReachesThreeSidecarsWithinOneSecond) {
  std::vector<std::unique_ptr<SidecarProcess>> fleet;
  for (int i = 0; i < 3; ++i) fleet.push_back(StartSidecar(absl::StrCat("task-", i)));
  std::vector<size_t> marks;
  for (auto& s : fleet) marks.push_back(s->process().output_size());

  const absl::Time t0 = absl::Now();
  auto [code, out] = Cli({"cutover", "settings", "--to", "newside=25", "--reason", "e2e step"});
  const absl::Duration cli_done = absl::Now() - t0;
  ASSERT_EQ(code, 0) << out;
  absl::Duration slowest;
  for (size_t i = 0; i < fleet.size(); ++i) {
    ASSERT_TRUE(fleet[i]->process().WaitForOutput("newside=25%", In(absl::Seconds(5)), marks[i]).ok())
        << fleet[i]->output();
    const absl::Duration seen = absl::Now() - t0;
    slowest = std::max(slowest, seen);
    std::cout << "[measure] task-" << i << " applied the KV change " << absl::ToDoubleMilliseconds(seen)
              << " ms after the CLI started (CLI itself took " << absl::ToDoubleMilliseconds(cli_done) << " ms)\n";
  }
  EXPECT_LT(slowest, absl::Seconds(1)) << "the issue's bound: all tasks agree within 1 s";
  for (auto& s : fleet) {
    EXPECT_EQ(RouteWeight(*s, "newside"), 25);
    EXPECT_EQ(RouteWeight(*s, "legacy"), 75);
  }

  Json status = Status();
  EXPECT_EQ(status["source"], "kv") << status;
  EXPECT_EQ(status["weights"]["newside"], 25);
  EXPECT_EQ(status["last_safe"]["newside"], 0) << "moving toward the new side keeps the old weights as safe";
  EXPECT_NE(status["by"].get<std::string>().find("e2e-operator@"), std::string::npos) << status;
  EXPECT_EQ(status["reason"], "e2e step");
  ASSERT_EQ(status["history"].size(), 1u) << status;
  EXPECT_GT(status["history"][0]["stored_at_ms"].get<int64_t>(), 0);

  // A second change is a second revision, and the history keeps both.
  marks.clear();
  for (auto& s : fleet) marks.push_back(s->process().output_size());
  ASSERT_EQ(Cli({"cutover", kRoute, "--to", "legacy=50,newside=50", "--by", "bob"}).first, 0);
  for (size_t i = 0; i < fleet.size(); ++i) {
    ASSERT_TRUE(fleet[i]->process().WaitForOutput("newside=50%", In(absl::Seconds(5)), marks[i]).ok());
  }
  status = Status();
  ASSERT_EQ(status["history"].size(), 2u) << status;
  EXPECT_EQ(status["history"][1]["by"], "bob");
  EXPECT_GT(status["revision"].get<uint64_t>(), status["history"][0]["revision"].get<uint64_t>());

  // Bad input is refused before anything is written.
  EXPECT_EQ(Cli({"cutover", kRoute, "--to", "nats=10"}).first, 2);
  EXPECT_EQ(Cli({"cutover", "no-such-route", "--to", "newside=10"}).first, 2);
  EXPECT_EQ(Status()["history"].size(), 2u);
}

TEST_F(CutoverE2ETest, InjectedErrorRateRollsBackButNotBelowTheMinimumRequestCount) {
  auto a = StartSidecar("task-a");
  auto b = StartSidecar("task-b");
  size_t mark_a = a->process().output_size();
  ASSERT_EQ(Cli({"cutover", kRoute, "--to", "newside=100"}).first, 0);
  ASSERT_TRUE(a->process().WaitForOutput("newside=100%", In(absl::Seconds(5)), mark_a).ok());
  ASSERT_TRUE(b->process().WaitForOutput("newside=100%", In(absl::Seconds(5))).ok());
  newside_->SetDefaultResponse(FakeResponse::Reply(500, "broken"));

  // 19 failures: 100 % > 20 %, but below min_requests 20. Many evaluations (every 50 ms) pass
  // without a rollback.
  mark_a = a->process().output_size();
  EXPECT_EQ(Send(*a, 19), 19);
  EXPECT_FALSE(a->process().WaitForOutput("cutover rollback", In(absl::Milliseconds(600)), mark_a).ok());
  EXPECT_EQ(RouteWeight(*a, "newside"), 100);

  // The 20th: rolled back to the last safe weights, fleet-wide (b saw no failing request).
  const size_t mark_b = b->process().output_size();
  EXPECT_EQ(Send(*a, 1), 1);
  ASSERT_TRUE(a->process().WaitForOutput("\"msg\":\"cutover rollback\"", In(absl::Seconds(5)), mark_a).ok())
      << a->output();
  ASSERT_TRUE(b->process().WaitForOutput("legacy=100%", In(absl::Seconds(5)), mark_b).ok()) << b->output();
  // The writer applies its own rollback when its watcher brings the new revision back, too.
  ASSERT_TRUE(a->process()
                  .WaitForMatch(std::regex(R"re("msg":"cutover applied".*legacy=100%)re"), In(absl::Seconds(5)), mark_a)
                  .ok())
      << a->output();
  EXPECT_EQ(RouteWeight(*a, "newside"), 0);
  EXPECT_EQ(RouteWeight(*b, "newside"), 0);
  EXPECT_EQ(Send(*a, 5), 0) << "every request is back on legacy";
  EXPECT_EQ(Metric(*a, R"(sidecar_rollbacks_total{action="*",rule="error_rate",service="settings"})"), 1);
  EXPECT_EQ(Metric(*b, R"(sidecar_rollbacks_total{action="*",rule="error_rate",service="settings"})"), 0);

  Json status = Status();
  EXPECT_EQ(status["weights"]["newside"], 0) << status;
  EXPECT_EQ(status["rollback"]["rule"], "error_rate");
  EXPECT_EQ(status["rollback"]["requests"], 20);
  EXPECT_EQ(status["rollback"]["from"]["newside"], 100);
  EXPECT_NE(status["by"].get<std::string>().find("guard@task-a/"), std::string::npos) << status;
  EXPECT_NE(status["reason"].get<std::string>().find("error_rate 100% > 20% over 20 requests"), std::string::npos);
}

TEST_F(CutoverE2ETest, SteppedRampReachesFullWhileGuardsHoldAndStopsWhenOneBreaks) {
  auto a = StartSidecar("task-a");
  auto b = StartSidecar("task-b");
  const absl::Time t0 = absl::Now();
  ASSERT_EQ(Cli({"cutover", kRoute, "--ramp"}).first, 0);  // config: 1,5,25,50,100 % hold 300 ms
  ASSERT_TRUE(a->process().WaitForOutput("newside=100%", In(absl::Seconds(15))).ok()) << a->output();
  ASSERT_TRUE(b->process().WaitForOutput("newside=100%", In(absl::Seconds(15))).ok()) << b->output();
  std::cout << "[measure] 5-step ramp with 300 ms holds reached 100 % in "
            << absl::ToDoubleMilliseconds(absl::Now() - t0) << " ms\n";
  Json status = Status();
  EXPECT_EQ(status["ramp"]["state"], "done") << status;
  EXPECT_EQ(status["weights"]["newside"], 100);
  EXPECT_EQ(status["last_safe"]["newside"], 50);
  // One revision per step: the CLI's start and four advances, each won by exactly one task.
  ASSERT_EQ(status["history"].size(), 5u) << status;
  const std::vector<double> expected = {1, 5, 25, 50, 100};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(status["history"][i]["weights"]["newside"], expected[i]);
  auto count = [](const std::string& out, const std::string& needle) {
    size_t n = 0;
    for (size_t at = out.find(needle); at != std::string::npos; at = out.find(needle, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count(a->output(), "\"cutover ramp advanced\"") + count(b->output(), "\"cutover ramp advanced\""), 4u);

  // Back to 0, break the new side, ramp again with a hold long enough to see traffic: the guard
  // breaks at the first step, the ramp halts and rolls back instead of advancing.
  ASSERT_EQ(Cli({"cutover", kRoute, "--to", "newside=0"}).first, 0);
  ASSERT_TRUE(a->process().WaitForOutput("newside=0%", In(absl::Seconds(5))).ok());
  newside_->SetDefaultResponse(FakeResponse::Reply(503, "broken"));
  size_t mark = a->process().output_size();
  ASSERT_EQ(Cli({"cutover", kRoute, "--ramp", "--steps", "50,100", "--hold-ms", "3000"}).first, 0);
  ASSERT_TRUE(a->process().WaitForOutput("newside=50%", In(absl::Seconds(5)), mark).ok());
  int on_new = 0;
  for (int i = 0; i < 20 && on_new < 25; ++i) on_new += Send(*a, 10);
  ASSERT_GE(on_new, 20);
  ASSERT_TRUE(a->process().WaitForOutput("legacy=100%", In(absl::Seconds(5)), mark).ok()) << a->output();
  status = Status();
  EXPECT_EQ(status["ramp"]["state"], "halted") << status;
  EXPECT_EQ(status["weights"]["newside"], 0);
  EXPECT_EQ(status["rollback"]["rule"], "error_rate");
  // The ramp never got past its first step; after the hold it still does not advance.
  mark = a->process().output_size();
  EXPECT_FALSE(a->process().WaitForOutput("newside=100%", In(absl::Milliseconds(3500)), mark).ok());
  for (const Json& change : Status()["history"]) EXPECT_NE(change["reason"], "ramp step 2/2: newside 100%");
}

}  // namespace
}  // namespace sidecar::test_common

namespace sidecar::test_common {
namespace {

// Issue 7 item 5 through the real shadow: the new side answers with one field changed, the mirror
// of every legacy-served request is compared and reported mismatched, and the guard rolls the
// route back fleet-wide from the minimum comparison count on (not before).
TEST_F(CutoverE2ETest, ShadowMismatchRateRollsBackThroughTheRealShadowFromTheMinimumCountOn) {
  legacy_->SetDefaultResponse(FakeResponse::Reply(200, R"({"player_id":"p1","volume":7})"));
  newside_->SetDefaultResponse(FakeResponse::Reply(200, R"({"player_id":"p1","volume":8})"));
  SidecarOptions o;
  o.name = "task-a";
  o.config_yaml = MismatchConfig(nats_->url(), "task-a", legacy_->address(), newside_->address());
  auto a = ValueOrDie(SidecarProcess::Start(std::move(o)));
  ASSERT_TRUE(a->process().WaitForOutput("cutover kv watching", In(absl::Seconds(10))).ok()) << a->output();
  cli_config_ = ValueOrDie(WriteTempFile("cutover-cli",
                                         MismatchConfig(nats_->url(), "cli", legacy_->address(), newside_->address())));
  cli_configs_.push_back(cli_config_);
  size_t mark = a->process().output_size();
  ASSERT_EQ(Cli({"cutover", kRoute, "--to", "newside=0"}).first, 0);  // the safe weights, recorded
  ASSERT_TRUE(a->process().WaitForOutput("legacy=100%", In(absl::Seconds(5)), mark).ok()) << a->output();
  mark = a->process().output_size();
  ASSERT_EQ(Cli({"cutover", kRoute, "--to", "newside=50"}).first, 0);
  ASSERT_TRUE(a->process().WaitForOutput("newside=50%", In(absl::Seconds(5)), mark).ok()) << a->output();

  const int port = ValueOrDie(a->HttpListenerPort("gw", In(absl::Seconds(5))));
  const std::string gw = absl::StrCat("127.0.0.1:", port);
  // Mismatched comparisons so far (summed over the series' action label).
  auto compared = [&] {
    auto r = ValueOrDie(HttpGet(a->admin_address(), "/metrics", In(absl::Seconds(5))));
    double sum = 0;
    std::regex series(R"re(\nsidecar_shadow_requests_total\{[^}]*result="mismatched"[^}]*\} ([0-9.e+]+))re");
    for (auto it = std::sregex_iterator(r.body.begin(), r.body.end(), series); it != std::sregex_iterator(); ++it) {
      sum += std::stod((*it)[1].str());
    }
    return sum;
  };
  // Requests until 19 comparisons were reported. Only a request legacy served is mirrored (the new
  // side is the shadow), and its comparison lands after the response (the primary never waits), so
  // after each legacy-served response the test waits, bounded, for its comparison to be counted.
  int mirrored = 0;
  auto send_until = [&](int comparisons) {
    for (int i = 0; i < 400 && mirrored < comparisons; ++i) {
      auto r = HttpGet(gw, "/api/settings/players/p1", In(absl::Seconds(5)));
      ASSERT_TRUE(r.ok()) << r.status();
      if (r->body.find("\"volume\":7") == std::string::npos) continue;  // the new side served it
      ++mirrored;
      PollUntil([&] { return compared() >= mirrored; }, In(absl::Seconds(20)));
      ASSERT_EQ(compared(), mirrored) << "every mirrored request differs in /volume";
    }
  };
  mark = a->process().output_size();
  send_until(19);
  ASSERT_EQ(compared(), 19);
  EXPECT_FALSE(a->process().WaitForOutput("cutover rollback", In(absl::Milliseconds(500)), mark).ok())
      << "19 comparisons are below min_requests 20";
  EXPECT_EQ(RouteWeight(*a, "newside"), 50);

  // The comparison that reaches the minimum: rolled back to the safe weights.
  send_until(20);
  ASSERT_TRUE(a->process().WaitForOutput("\"msg\":\"cutover rollback\"", In(absl::Seconds(5)), mark).ok())
      << a->output();
  ASSERT_TRUE(a->process()
                  .WaitForMatch(std::regex(R"re("msg":"cutover applied".*legacy=100%)re"), In(absl::Seconds(5)), mark)
                  .ok())
      << a->output();
  EXPECT_EQ(RouteWeight(*a, "newside"), 0);
  auto mismatches = ValueOrDie(HttpGet(a->admin_address(), "/shadow/mismatches", In(absl::Seconds(5))));
  EXPECT_NE(mismatches.body.find("/volume"), std::string::npos) << mismatches.body;
  Json status = Status();
  EXPECT_EQ(status["rollback"]["rule"], "mismatch_rate") << status;
  EXPECT_GE(status["rollback"]["requests"].get<int>(), 20) << status;
  EXPECT_EQ(status["weights"]["newside"], 0) << status;
}

}  // namespace
}  // namespace sidecar::test_common
