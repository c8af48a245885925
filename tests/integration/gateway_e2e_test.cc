// The HTTP gateway end to end, with the shipped config/examples/gateway-split.yaml:
//   HTTP client -> gateway sidecar -> (legacy HTTP | NATS -> backend sidecar (legacy-forward.yaml))
//               -> the legacy FastAPI stand-in.
// Real processes on loopback; bounded, event-driven waits.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_common/http_client.h"
#include "tests/test_common/legacy_service.h"
#include "tests/test_common/nats_server.h"
#include "tests/test_common/paths.h"
#include "tests/test_common/sidecar_process.h"
#include "tests/test_common/test_util.h"

namespace sidecar::test_common {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using Json = nlohmann::json;

// The value of one Prometheus sample (labels in the exposition's sorted order), or 0.
double Metric(const std::string& admin, const std::string& sample) {
  auto r = ValueOrDie(HttpGet(admin, "/metrics", In(absl::Seconds(5))));
  std::istringstream lines(r.body);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(sample + " ", 0) == 0) return std::stod(line.substr(sample.size() + 1));
  }
  return 0;
}

std::string RouteSample(const std::string& cluster, const std::string& reason) {
  return absl::StrCat("sidecar_route_requests_total{cluster=\"", cluster, "\",reason=\"", reason,
                      "\",route=\"gateway\"}");
}

// Writes raw bytes, reads until the server closes (bounded): for framing the HTTP client won't send.
std::string RawExchange(int port, const std::string& bytes) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  (void)!write(fd, bytes.data(), bytes.size());
  std::string out;
  const absl::Time deadline = In(absl::Seconds(5));
  char buf[4096];
  while (absl::Now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()))) <= 0) break;
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

class GatewayE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    nats_ = ValueOrDie(NatsServer::Start());
    legacy_ = ValueOrDie(LegacyService::Start({}));
  }

  // The NATS side: a sidecar running the shipped legacy-forward.yaml for the same legacy service.
  void StartBackend() {
    SidecarOptions o;
    o.name = "backend";
    o.config_yaml = ReadFile(SourceDir() + "/config/examples/legacy-forward.yaml");
    o.env = {{"SERVICE", "settings"}, {"NATS_URL", nats_->url()}, {"UPSTREAM", legacy_->address()},
             {"ADMIN", "127.0.0.1:0"}};
    backend_ = ValueOrDie(SidecarProcess::Start(std::move(o)));
  }

  struct Gateway {
    std::unique_ptr<SidecarProcess> process;
    std::string address;  // the HTTP listener
    std::string admin;
  };

  Gateway StartGateway(int nats_weight) {
    SidecarOptions o;
    o.name = "gateway";
    o.config_yaml = ReadFile(SourceDir() + "/config/examples/gateway-split.yaml");
    o.env = {{"SERVICE", "settings"},          {"NATS_URL", nats_->url()},
             {"LEGACY", legacy_->address()},   {"LISTEN", "127.0.0.1:0"},
             {"ADMIN", "127.0.0.1:0"},         {"NATS_WEIGHT", std::to_string(nats_weight)},
             {"OVERRIDE_PRINCIPAL", "admin:ops"}};
    Gateway g;
    g.process = ValueOrDie(SidecarProcess::Start(std::move(o)));
    g.address = LoopbackAddress(ValueOrDie(g.process->HttpListenerPort("gateway", In(absl::Seconds(10)))));
    g.admin = g.process->admin_address();
    return g;
  }

  int LegacyCounter() {
    auto r = ValueOrDie(HttpGet(legacy_->address(), "/counter", In(absl::Seconds(5))));
    return Json::parse(r.body)["count"].get<int>();
  }

  std::unique_ptr<NatsServer> nats_;
  std::unique_ptr<LegacyService> legacy_;
  std::unique_ptr<SidecarProcess> backend_;
};

TEST_F(GatewayE2ETest, EveryHttpMethodTheSpecUsesRoundTripsThroughNats) {
  ASSERT_TRUE(HttpPostJson(legacy_->address(), "/admin/fixtures/settings", R"({"preset":"spec_example"})",
                           In(absl::Seconds(5)))
                  .ok());
  StartBackend();
  Gateway gw = StartGateway(/*nats_weight=*/100);
  const HttpHeaders player = {{"X-Principal", "player:pl_a8694c9d17e9b948"},
                              {"X-Request-Time", "2026-03-01T12:00:00Z"}};

  // GET: SERVICES.md §2.2 example 1.
  auto get = ValueOrDie(HttpRequest(gw.address, "GET", "/api/settings/players/pl_a8694c9d17e9b948?platform=mobile",
                                    player, "", In(absl::Seconds(10))));
  EXPECT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(Json::parse(get.body)["sources"]["graphics.quality"], "platform");

  // POST: example 2, then the same again for the legacy 422 carried back as HTTP.
  HttpHeaders json = player;
  json.push_back({"Content-Type", "application/json"});
  const std::string set = R"({"platform":"pc","expected_revision":3,"values":{"audio.master_volume":80,"gameplay.subtitles":true}})";
  auto post = ValueOrDie(HttpRequest(gw.address, "POST", "/api/settings/players/pl_a8694c9d17e9b948/values", json,
                                     set, In(absl::Seconds(10))));
  EXPECT_EQ(post.status, 200) << post.body;
  EXPECT_EQ(Json::parse(post.body), Json::parse(R"({"revision":4,"stored":{"gameplay.subtitles":true}})"));
  auto stale = ValueOrDie(HttpRequest(gw.address, "POST", "/api/settings/players/pl_a8694c9d17e9b948/values", json,
                                      set, In(absl::Seconds(10))));
  EXPECT_EQ(stale.status, 422);
  EXPECT_EQ(Json::parse(stale.body)["error"]["code"], "FAILED_PRECONDITION");

  // PUT and DELETE (settings has no DELETE route; the stand-in's echo under the prefix shows it).
  auto put = ValueOrDie(HttpRequest(gw.address, "PUT", "/api/settings/_echo/schema/ui.theme", json,
                                    R"({"type":"bool","default":false})", In(absl::Seconds(10))));
  EXPECT_EQ(put.status, 200);
  EXPECT_EQ(Json::parse(put.body)["method"], "PUT");
  EXPECT_EQ(Json::parse(put.body)["body"], R"({"type":"bool","default":false})");
  auto del = ValueOrDie(HttpRequest(gw.address, "DELETE", "/api/settings/_echo/routes/r1?x=1", player, "",
                                    In(absl::Seconds(10))));
  EXPECT_EQ(del.status, 200);
  Json echo = Json::parse(del.body);
  EXPECT_EQ(echo["method"], "DELETE");
  EXPECT_EQ(echo["path"], "/api/settings/_echo/routes/r1");
  EXPECT_EQ(echo["query"], "x=1");
  EXPECT_EQ(echo["headers"]["x-principal"], "player:pl_a8694c9d17e9b948");
  // The gateway replaced client forwarding headers with the real connection's.
  EXPECT_EQ(echo["headers"]["x-forwarded-for"], "127.0.0.1");

  // Every request carried X-Principal, so the split was sticky; at 100 % all of them are on NATS.
  EXPECT_EQ(Metric(gw.admin, RouteSample("nats", "sticky")), 5);
  EXPECT_EQ(Metric(gw.admin, RouteSample("legacy", "sticky")), 0);
}

TEST_F(GatewayE2ETest, StickyKeyStaysOnOneSideInEveryGatewayProcess) {
  StartBackend();
  Gateway a = StartGateway(/*nats_weight=*/50);
  Gateway b = StartGateway(/*nats_weight=*/50);
  auto send = [&](const Gateway& gw, const std::string& principal) {
    auto r = ValueOrDie(HttpRequest(gw.address, "GET", "/api/settings/_echo/x", {{"X-Principal", principal}}, "",
                                    In(absl::Seconds(10))));
    ASSERT_EQ(r.status, 200);
  };
  for (int i = 0; i < 1000; ++i) send(a, "player:p1");
  const double a_nats = Metric(a.admin, RouteSample("nats", "sticky"));
  const double a_legacy = Metric(a.admin, RouteSample("legacy", "sticky"));
  EXPECT_TRUE((a_nats == 1000 && a_legacy == 0) || (a_nats == 0 && a_legacy == 1000))
      << "nats " << a_nats << " legacy " << a_legacy;
  for (int i = 0; i < 1000; ++i) send(b, "player:p1");
  EXPECT_EQ(Metric(b.admin, RouteSample("nats", "sticky")), a_nats);
  EXPECT_EQ(Metric(b.admin, RouteSample("legacy", "sticky")), a_legacy);

  // 200 more keys, each sent to both: the two processes split them identically.
  for (int i = 0; i < 200; ++i) {
    send(a, "player:k" + std::to_string(i));
    send(b, "player:k" + std::to_string(i));
  }
  EXPECT_EQ(Metric(a.admin, RouteSample("nats", "sticky")), Metric(b.admin, RouteSample("nats", "sticky")));
  const double spread = Metric(a.admin, RouteSample("nats", "sticky")) - a_nats;
  EXPECT_GT(spread, 60);  // about half of 200 keys
  EXPECT_LT(spread, 140);
}

TEST_F(GatewayE2ETest, NoRespondersFallsBackToLegacyAndIsCounted) {
  // No backend sidecar: nobody serves svc.settings.v1.http.
  Gateway gw = StartGateway(/*nats_weight=*/100);
  for (int i = 0; i < 20; ++i) {
    auto r = ValueOrDie(HttpRequest(gw.address, "GET", "/api/settings/_echo/x", {}, "", In(absl::Seconds(10))));
    EXPECT_EQ(r.status, 200);
  }
  EXPECT_EQ(Metric(gw.admin, "sidecar_route_fallback_total{from=\"nats\",route=\"gateway\",to=\"legacy\"}"), 20);
  EXPECT_EQ(LegacyCounter(), 20);
}

TEST_F(GatewayE2ETest, ChangingWeightsUnderLoadLosesNothing) {
  StartBackend();
  Gateway gw = StartGateway(/*nats_weight=*/0);
  constexpr int kThreads = 4, kPerThread = 300;
  std::atomic<int> done{0}, bad{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = HttpRequest(gw.address, "GET", "/api/settings/_echo/load",
                             {{"X-Principal", absl::StrCat("player:", t, "-", i)}}, "", In(absl::Seconds(10)));
        if (!r.ok() || r->status != 200) ++bad;
        ++done;
      }
    });
  }
  // Flip the split as the load progresses (driven by completed requests, not by time).
  const std::vector<std::string> steps = {R"({"nats":50,"legacy":50})", R"({"nats":100,"legacy":0})",
                                          R"({"nats":0,"legacy":100})", R"({"nats":30,"legacy":70})"};
  for (size_t s = 0; s < steps.size(); ++s) {
    const int target = static_cast<int>((s + 1) * kThreads * kPerThread / (steps.size() + 1));
    while (done.load() < target) std::this_thread::yield();
    auto r = ValueOrDie(HttpPostJson(gw.admin, "/routes/gateway/weights", steps[s], In(absl::Seconds(5))));
    EXPECT_EQ(r.status, 200) << r.body;
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(done.load(), kThreads * kPerThread);
  EXPECT_GT(Metric(gw.admin, RouteSample("nats", "sticky")), 0);
  EXPECT_GT(Metric(gw.admin, RouteSample("legacy", "sticky")), 0);

  auto routes = ValueOrDie(HttpGet(gw.admin, "/routes", In(absl::Seconds(5))));
  Json split = Json::parse(routes.body)[0]["split"];
  EXPECT_EQ(split[0]["cluster"], "nats");
  EXPECT_EQ(split[0]["weight"], 30);
  // A bad change is refused and changes nothing.
  auto bad_change = ValueOrDie(HttpPostJson(gw.admin, "/routes/gateway/weights", R"({"nats":60})", In(absl::Seconds(5))));
  EXPECT_EQ(bad_change.status, 400);
  EXPECT_EQ(Json::parse(ValueOrDie(HttpGet(gw.admin, "/routes", In(absl::Seconds(5)))).body)[0]["split"][0]["weight"],
            30);
}

TEST_F(GatewayE2ETest, OverrideHeaderOnlyForAllowedPrincipals) {
  StartBackend();
  Gateway gw = StartGateway(/*nats_weight=*/0);
  auto ops = ValueOrDie(HttpRequest(gw.address, "GET", "/api/settings/_echo/x",
                                    {{"X-Principal", "admin:ops"}, {"x-sidecar-route", "nats"}}, "",
                                    In(absl::Seconds(10))));
  EXPECT_EQ(ops.status, 200);
  EXPECT_FALSE(Json::parse(ops.body)["headers"].contains("x-sidecar-route"));
  EXPECT_EQ(Metric(gw.admin, RouteSample("nats", "override")), 1);
  auto player = ValueOrDie(HttpRequest(gw.address, "GET", "/api/settings/_echo/x",
                                       {{"X-Principal", "player:p1"}, {"x-sidecar-route", "nats"}}, "",
                                       In(absl::Seconds(10))));
  EXPECT_EQ(player.status, 403);
  EXPECT_EQ(Json::parse(player.body)["error"]["code"], "PERMISSION_DENIED");
}

// The shipped config keeps the breaker's 60 s open interval. A NATS outage opens the nats cluster's
// breaker (fast 503s, then the legacy fallback while it is open); once NATS is back, the very next
// request probes it and closes it, instead of falling back for the rest of the minute.
TEST_F(GatewayE2ETest, NatsBackClosesTheNatsBreakerWithoutWaitingOutItsInterval) {
  StartBackend();
  Gateway gw = StartGateway(/*nats_weight=*/100);
  const std::string open_sample = "sidecar_breaker_open{cluster=\"nats\"}";
  auto send = [&] {
    return ValueOrDie(HttpRequest(gw.address, "GET", "/api/settings/_echo/x", {{"X-Principal", "player:p1"}}, "",
                                  In(absl::Seconds(10))));
  };
  EXPECT_EQ(send().status, 200);
  ASSERT_EQ(Metric(gw.admin, open_sample), 0);

  size_t mark = gw.process->process().output_size();
  ASSERT_TRUE(nats_->Kill().ok());
  ASSERT_TRUE(gw.process->WaitForReadiness(false, In(absl::Seconds(5)), mark).ok());
  for (int i = 0; i < 6; ++i) send();  // 503 "NATS is not connected" until the breaker opens
  ASSERT_EQ(Metric(gw.admin, open_sample), 1);

  mark = gw.process->process().output_size();
  const size_t backend_mark = backend_->process().output_size();
  ASSERT_TRUE(nats_->Restart().ok());
  ASSERT_TRUE(gw.process->WaitForReadiness(true, In(absl::Seconds(10)), mark).ok());
  ASSERT_TRUE(backend_->WaitForReadiness(true, In(absl::Seconds(10)), backend_mark).ok());
  auto probe = send();
  EXPECT_EQ(probe.status, 200) << probe.body;
  EXPECT_EQ(Metric(gw.admin, open_sample), 0);
}

TEST_F(GatewayE2ETest, MalformedFramingIsRejectedAndNeverForwarded) {
  Gateway gw = StartGateway(/*nats_weight=*/0);
  const int port = std::stoi(gw.address.substr(gw.address.rfind(':') + 1));
  const int before = LegacyCounter();
  struct Case {
    const char* name;
    std::string bytes;
    const char* status;
  };
  const std::vector<Case> cases = {
      {"CL+TE", "POST /api/settings/_echo/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"},
      {"duplicate CL", "POST /api/settings/_echo/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", "400"},
      {"obs-fold", "GET /api/settings/_echo/x HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n", "400"},
      {"huge header", "GET /api/settings/_echo/x HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n", "431"},
      {"body over the limit", "POST /api/settings/_echo/x HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n", "413"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(RawExchange(port, c.bytes), StartsWith(absl::StrCat("HTTP/1.1 ", c.status))) << c.name;
  }
  EXPECT_EQ(LegacyCounter(), before);  // nothing reached the upstream
}

}  // namespace
}  // namespace sidecar::test_common
