// Issue 7 (items 1-3) end to end: the real nats-sidecar as an HTTP gateway with shadow traffic, a
// real nats-server, and test-local HTTP upstreams (FakeHttpUpstream) as primary and shadow stand-ins.
//
//   - a shadow that is down (connection refused), slow (2 s) or resetting connections leaves the
//     primary at 100 % success, with p99 close to a no-shadow route measured in the same run;
//   - a planted difference is reported with its exact path, and not when the path is ignored;
//   - a volatile-only difference (§0.7) is not a mismatch;
//   - cross-protocol through config/examples/gateway-shadow.yaml: legacy HTTP vs NATS passthrough
//     (a second sidecar in front of the shadow stand-in), int64 strings normalised;
//   - the /status page renders in headless Chromium (screenshot under the build dir).
//
// Waits: on replies, on the shadow upstream having received its requests (a condition variable),
// and on the admin counters reaching a value within a deadline. Nothing sleeps.

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
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
#include "tests/test_common/net.h"
#include "tests/test_common/paths.h"
#include "tests/test_common/process.h"
#include "tests/test_common/sidecar_process.h"
#include "tests/test_common/test_util.h"

namespace sidecar::test_common {
namespace {

using Json = nlohmann::json;

const FakeHeaders kJson = {{"Content-Type", "application/json"}};

std::string Header(const std::string& nats_url) {
  return absl::StrCat(R"(
admin:
  address: "127.0.0.1:0"
nats:
  servers: ")", nats_url, R"("
listeners:
  - name: gateway
    http:
      address: "127.0.0.1:0"
)");
}

std::string LegacyCluster(const std::string& name, const std::string& address) {
  return absl::StrCat("  - name: ", name, "\n    legacy_http:\n      address: \"", address,
                      "\"\n      connect_timeout_ms: 500\n      request_timeout_ms: 5000\n");
}

std::string ShadowRoute(const std::string& name, const std::string& service, const std::string& shadow,
                        const std::string& extra = "") {
  return absl::StrCat("  - name: ", name, "\n    prefix: \"/", name, "/\"\n    service: ", service,
                      "\n    cluster: primary\n", shadow.empty() ? "" : absl::StrCat("    shadow:\n      cluster: ", shadow,
                                                                                   "\n      percent: 100\n", extra));
}

double Metric(SidecarProcess& sidecar, const std::string& series) {
  auto r = HttpGet(sidecar.admin_address(), "/metrics", In(absl::Seconds(5)));
  if (!r.ok()) return -1;
  size_t at = r->body.find("\n" + series + " ");
  if (at == std::string::npos) return 0;
  return std::stod(r->body.substr(at + series.size() + 2));
}

std::string ShadowSeries(const std::string& service, const std::string& result) {
  return absl::StrCat(R"(sidecar_shadow_requests_total{action="*",result=")", result, R"(",service=")", service,
                      R"("})");
}

// Waits until `series` reaches `want` (the comparison runs after the caller's reply, so it lands a
// moment later than the reply), bounded by `deadline`.
bool WaitForMetric(SidecarProcess& sidecar, const std::string& series, double want, absl::Time deadline) {
  return PollUntil([&] { return Metric(sidecar, series) >= want; }, deadline);
}

struct Latencies {
  std::vector<double> ms;
  int ok = 0;
  double Percentile(double p) {
    std::sort(ms.begin(), ms.end());
    return ms.empty() ? 0 : ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))];
  }
};

class ShadowE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    nats_ = ValueOrDie(NatsServer::Start());
    primary_ = ValueOrDie(FakeHttpUpstream::Create());
    primary_->SetDefaultResponse(FakeResponse::Reply(200, R"({"id":"i1","price":100,"items":[{"sku":"a","qty":1}]})", kJson));
  }

  std::unique_ptr<SidecarProcess> Start(const std::string& yaml, std::vector<std::pair<std::string, std::string>> env = {},
                                        const std::string& name = "gateway") {
    SidecarOptions o;
    o.name = name;
    o.config_yaml = yaml;
    o.env = std::move(env);
    auto sidecar = ValueOrDie(SidecarProcess::Start(std::move(o)));
    return sidecar;
  }

  std::string Gateway(SidecarProcess& sidecar) {
    return LoopbackAddress(ValueOrDie(sidecar.HttpListenerPort("gateway", In(absl::Seconds(10)))));
  }

  Json Mismatches(SidecarProcess& sidecar) {
    auto r = ValueOrDie(HttpGet(sidecar.admin_address(), "/shadow/mismatches", In(absl::Seconds(5))));
    EXPECT_EQ(r.status, 200);
    return Json::parse(r.body);
  }

  std::unique_ptr<NatsServer> nats_;
  std::unique_ptr<FakeHttpUpstream> primary_;
};

TEST_F(ShadowE2ETest, ADownSlowOrResettingShadowLeavesThePrimaryAtFullSuccessAndItsLatency) {
  auto slow = ValueOrDie(FakeHttpUpstream::Create());
  slow->SetDefaultResponse(FakeResponse::Delayed(std::chrono::milliseconds(2000), 200, "{}"));
  auto reset = ValueOrDie(FakeHttpUpstream::Create());
  reset->SetDefaultResponse(FakeResponse::Close());
  // A healthy shadow answering like the primary: the issue's "100 % shadow on" measurement.
  auto twin = ValueOrDie(FakeHttpUpstream::Create());
  twin->SetDefaultResponse(FakeResponse::Reply(200, R"({"id":"i1","price":100,"items":[{"sku":"a","qty":1}]})", kJson));
  const int down_port = ValueOrDie(PickUnusedPort());  // nothing listens: connection refused

  const std::string extra = "      timeout_ms: 1000\n      max_concurrent: 64\n";
  std::string yaml = Header(nats_->url()) + "clusters:\n" + LegacyCluster("primary", primary_->address()) +
                     LegacyCluster("down", LoopbackAddress(down_port)) + LegacyCluster("slow", slow->address()) +
                     LegacyCluster("reset", reset->address()) + LegacyCluster("twin", twin->address()) + "routes:\n" +
                     ShadowRoute("plain", "plain", "") + ShadowRoute("twin", "twin", "twin", extra) +
                     ShadowRoute("down", "down", "down", extra) + ShadowRoute("slow", "slow", "slow", extra) +
                     ShadowRoute("reset", "reset", "reset", extra);
  auto sidecar = Start(yaml);
  const std::string gateway = Gateway(*sidecar);

  // Interleaved rounds, so every mode sees the same machine load (2 shared cores), after a warm-up.
  const std::vector<std::string> modes = {"plain", "twin", "down", "slow", "reset"};
  std::map<std::string, Latencies> results;
  constexpr int kWarmup = 50, kRounds = 600;
  for (int round = 0; round < kWarmup + kRounds; ++round) {
    for (const std::string& mode : modes) {
      const auto start = std::chrono::steady_clock::now();
      auto r = HttpGet(gateway, absl::StrCat("/", mode, "/items/1"), In(absl::Seconds(5)));
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      if (round < kWarmup) continue;
      Latencies& l = results[mode];
      l.ms.push_back(ms);
      if (r.ok() && r->status == 200 && r->body.find("\"price\":100") != std::string::npos) ++l.ok;
    }
  }
  const double base_p99 = results["plain"].Percentile(0.99);
  for (const std::string& mode : modes) {
    Latencies& l = results[mode];
    std::cout << "primary via /" << mode << "/ (shadow " << (mode == "plain" ? "off" : mode)
              << "): success " << l.ok << "/" << l.ms.size() << ", p50 " << l.Percentile(0.5) << " ms, p99 "
              << l.Percentile(0.99) << " ms (" << l.Percentile(0.99) / base_p99 << "x the no-shadow p99)\n";
    EXPECT_EQ(l.ok, kRounds) << mode;  // 100 % success: asserted
    // p99 within 10 % of the no-shadow run, with a floor: at sub-millisecond latencies on two
    // shared cores a few hundred microseconds of scheduler noise is more than 10 %.
    EXPECT_LE(l.Percentile(0.99), std::max(base_p99 * 1.10, base_p99 + 3.0)) << mode;
  }
  // Mirrors are compared on the shadow's SCHED_IDLE thread, which a loaded machine may not have run
  // yet by the time the last primary answered: wait for the counts rather than read them at once.
  EXPECT_TRUE(WaitForMetric(*sidecar, ShadowSeries("twin", "matched"), 1, In(absl::Seconds(20))));
  // The shadow failures were seen and counted, never passed on.
  EXPECT_TRUE(WaitForMetric(*sidecar, ShadowSeries("down", "error"), 1, In(absl::Seconds(20))));
  EXPECT_TRUE(WaitForMetric(*sidecar, ShadowSeries("reset", "error"), 1, In(absl::Seconds(20))));
  EXPECT_GT(Metric(*sidecar, ShadowSeries("slow", "dropped")) + Metric(*sidecar, ShadowSeries("slow", "error")), 0);
  std::cout << "slow shadow: dropped " << Metric(*sidecar, ShadowSeries("slow", "dropped")) << ", timed out "
            << Metric(*sidecar, ShadowSeries("slow", "error")) << "\n";
}

class ShadowDiffE2ETest : public ShadowE2ETest {
 protected:
  void SetUp() override {
    ShadowE2ETest::SetUp();
    planted_ = ValueOrDie(FakeHttpUpstream::Create());
    // The planted difference: one field changed in the shadow stand-in.
    planted_->SetDefaultResponse(FakeResponse::Reply(200, R"({"id":"i1","price":100,"items":[{"sku":"a","qty":2}]})", kJson));
    // Volatile-only differences (§0.7): event_id and a ts field, with no X-Request-Time pinned.
    primary_->SetResponse("/vol/items/1", FakeResponse::Reply(
        200, R"({"id":"i1","event_id":"e-1","updated_at":"2025-11-20T12:00:00.000Z","qty":1})", kJson));
    planted_->SetResponse("/vol/items/1", FakeResponse::Reply(
        200, R"({"id":"i1","event_id":"e-2","updated_at":"2025-11-20T12:00:07.123Z","qty":1})", kJson));
    std::string yaml = Header(nats_->url()) + "clusters:\n" + LegacyCluster("primary", primary_->address()) +
                       LegacyCluster("planted", planted_->address()) + "routes:\n" +
                       ShadowRoute("api", "shop", "planted") +
                       ShadowRoute("ign", "shopign", "planted", "      ignore_paths: [\"/items/*/qty\"]\n") +
                       ShadowRoute("vol", "settings", "planted");
    sidecar_ = Start(yaml);
    gateway_ = Gateway(*sidecar_);
  }

  std::unique_ptr<FakeHttpUpstream> planted_;
  std::unique_ptr<SidecarProcess> sidecar_;
  std::string gateway_;
};

TEST_F(ShadowDiffE2ETest, APlantedDifferenceIsReportedWithItsExactPathUnlessIgnored) {
  for (const char* route : {"api", "ign"}) {
    auto r = ValueOrDie(HttpGet(gateway_, absl::StrCat("/", route, "/items/1"), In(absl::Seconds(5))));
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find("\"qty\":1"), std::string::npos) << "the caller gets the primary's answer: " << r.body;
  }
  ASSERT_TRUE(planted_->WaitForRequests(2, std::chrono::seconds(5)));
  ASSERT_TRUE(WaitForMetric(*sidecar_, ShadowSeries("shop", "mismatched"), 1, In(absl::Seconds(20))));
  ASSERT_TRUE(WaitForMetric(*sidecar_, ShadowSeries("shopign", "matched"), 1, In(absl::Seconds(20))));
  EXPECT_EQ(Metric(*sidecar_, ShadowSeries("shopign", "mismatched")), 0);

  Json mismatches = Mismatches(*sidecar_);
  std::cout << "GET /shadow/mismatches: " << mismatches.dump() << "\n";
  ASSERT_EQ(mismatches.size(), 1u);
  EXPECT_EQ(mismatches[0]["route"], "api");
  EXPECT_EQ(mismatches[0]["paths"], Json::array({"/items/0/qty"}));
  EXPECT_EQ(mismatches[0]["request"]["path"], "/api/items/1");
  EXPECT_EQ(mismatches[0]["request"]["headers"]["x-sidecar-shadow"], "1");
  EXPECT_EQ(Metric(*sidecar_, R"(sidecar_shadow_mismatch_paths_total{action="*",path="/items/*/qty",service="shop"})"), 1);
  // The shadow stand-in saw the marking header.
  auto last = planted_->last_request();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->Header("x-sidecar-shadow").value_or(""), "1");
}

TEST_F(ShadowDiffE2ETest, AVolatileOnlyDifferenceIsNotAMismatch) {
  auto r = ValueOrDie(HttpGet(gateway_, "/vol/items/1", In(absl::Seconds(5))));
  EXPECT_EQ(r.status, 200);
  ASSERT_TRUE(WaitForMetric(*sidecar_, ShadowSeries("settings", "matched"), 1, In(absl::Seconds(20))));
  EXPECT_EQ(Metric(*sidecar_, ShadowSeries("settings", "mismatched")), 0);
  EXPECT_TRUE(Mismatches(*sidecar_).empty());
}

TEST_F(ShadowDiffE2ETest, TheStatusPageRendersInHeadlessChromium) {
  for (const char* route : {"api", "ign", "vol"}) {
    ASSERT_TRUE(HttpGet(gateway_, absl::StrCat("/", route, "/items/1"), In(absl::Seconds(5))).ok());
  }
  ASSERT_TRUE(WaitForMetric(*sidecar_, ShadowSeries("shop", "mismatched"), 1, In(absl::Seconds(20))));
  std::string chromium;
  for (const char* candidate : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (std::filesystem::exists(candidate)) chromium = candidate;
  }
  if (chromium.empty()) {
    GTEST_SKIP() << "chromium is not installed (Debian package `chromium`, see ecs/local/install-deps.sh): "
                    "the status page was not rendered";
  }
  const std::string url = absl::StrCat("http://", sidecar_->admin_address(), "/status");
  auto page = ValueOrDie(HttpGet(sidecar_->admin_address(), "/status", In(absl::Seconds(5))));
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.Header("content-type").find("text/html"), std::string::npos);

  const std::filesystem::path artifacts = std::filesystem::path(BinaryDir()) / "test-artifacts";
  std::filesystem::create_directories(artifacts);
  const std::string screenshot = (artifacts / "shadow_status.png").string();
  std::filesystem::remove(screenshot);
  const std::string profile = (artifacts / "chromium-profile").string();
  auto run = [&](std::vector<std::string> extra) {
    ProcessOptions o;
    o.name = "chromium";
    o.argv = {chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--no-first-run", "--user-data-dir=" + profile, "--window-size=1280,1000"};
    o.argv.insert(o.argv.end(), extra.begin(), extra.end());
    o.argv.push_back(url);
    o.env = {{"HOME", artifacts.string()}};
    auto process = ValueOrDie(Process::Spawn(std::move(o)));
    auto status = process->Wait(In(absl::Seconds(90)));
    EXPECT_TRUE(status.ok()) << status.status();
    if (status.ok()) {
      EXPECT_TRUE(status->success()) << status->ToString() << "\n" << process->output();
    }
    return process->output();
  };
  const auto start = std::chrono::steady_clock::now();
  const std::string dom = run({"--dump-dom"});
  EXPECT_NE(dom.find("id=\"routes\""), std::string::npos) << dom;
  EXPECT_NE(dom.find("/items/0/qty"), std::string::npos) << "the recent diff is on the page";
  EXPECT_NE(dom.find("0.00 %"), std::string::npos) << "api's match rate";
  EXPECT_NE(dom.find("100.00 %"), std::string::npos) << "ign's and vol's match rate";
  run({"--screenshot=" + screenshot});
  std::cout << "chromium rendered /status in "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s; screenshot "
            << screenshot << "\n";
  ASSERT_TRUE(std::filesystem::exists(screenshot));
  std::ifstream png(screenshot, std::ios::binary);
  std::string magic(8, '\0');
  png.read(magic.data(), 8);
  EXPECT_EQ(magic, std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_GT(std::filesystem::file_size(screenshot), 1000u);
}

// The shipped example: legacy HTTP primary vs NATS passthrough shadow (a second sidecar running
// legacy-forward.yaml in front of the new side's stand-in). The NATS side prints int64 as strings.
TEST_F(ShadowE2ETest, CrossProtocolDiffThroughTheExampleConfig) {
  auto next = ValueOrDie(FakeHttpUpstream::Create());
  primary_->SetResponse("/api/shop/items/1", FakeResponse::Reply(200, R"({"id":"i1","qty":2,"price":100})", kJson));
  next->SetResponse("/api/shop/items/1", FakeResponse::Reply(200, R"({"id":"i1","qty":"2","price":"101"})", kJson));
  primary_->SetResponse("/api/shop/items/2", FakeResponse::Reply(200, R"({"id":"i2","qty":5})", kJson));
  next->SetResponse("/api/shop/items/2", FakeResponse::Reply(200, R"({"id":"i2","qty":"5"})", kJson));
  primary_->SetResponse("/api/shop/items/404", FakeResponse::Reply(
      404, R"({"error":{"code":"NOT_FOUND","message":"no item i404","details":{"field":"id"}}})", kJson));
  next->SetResponse("/api/shop/items/404", FakeResponse::Reply(
      404, R"({"error":{"code":"NOT_FOUND","message":"item not found","details":{"field":"id"}}})", kJson));

  auto read = [](const std::string& name) {
    std::ifstream in(SourceDir() + "/config/examples/" + name);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  auto forward = Start(read("legacy-forward.yaml"),
                       {{"SERVICE", "shop"}, {"NATS_URL", nats_->url()}, {"UPSTREAM", next->address()},
                        {"ADMIN", "127.0.0.1:0"}},
                       "forward");
  auto gateway = Start(read("gateway-shadow.yaml"),
                       {{"SERVICE", "shop"}, {"NATS_URL", nats_->url()}, {"LISTEN", "127.0.0.1:0"},
                        {"ADMIN", "127.0.0.1:0"}, {"LEGACY", primary_->address()}, {"SHADOW_PERCENT", "100"}});
  const std::string address = Gateway(*gateway);
  for (const char* path : {"/api/shop/items/1", "/api/shop/items/2", "/api/shop/items/404"}) {
    auto r = ValueOrDie(HttpGet(address, path, In(absl::Seconds(5))));
    EXPECT_EQ(r.status, std::string(path).find("404") != std::string::npos ? 404 : 200) << path;
  }
  ASSERT_TRUE(WaitForMetric(*gateway, ShadowSeries("shop", "matched"), 2, In(absl::Seconds(20))));
  ASSERT_TRUE(WaitForMetric(*gateway, ShadowSeries("shop", "mismatched"), 1, In(absl::Seconds(20))));
  Json mismatches = Mismatches(*gateway);
  std::cout << "cross-protocol mismatches: " << mismatches.dump() << "\n";
  ASSERT_EQ(mismatches.size(), 1u);
  EXPECT_EQ(mismatches[0]["route"], "gateway");
  EXPECT_EQ(mismatches[0]["paths"], Json::array({"/price"}));
  EXPECT_EQ(mismatches[0]["shadow"]["cluster"], "shadow");
}

}  // namespace
}  // namespace sidecar::test_common
