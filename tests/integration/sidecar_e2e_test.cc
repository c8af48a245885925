// End to end: a NATS client -> real nats-server -> the real nats-sidecar binary -> the legacy
// FastAPI stand-in (tests/legacy/app.py), and back. Every process is real and on loopback; every
// wait is bounded and event-driven (log lines, replies), never a sleep loop.

#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_common/http_client.h"
#include "tests/test_common/legacy_service.h"
#include "tests/test_common/nats_client.h"
#include "tests/test_common/nats_server.h"
#include "tests/test_common/paths.h"
#include "tests/test_common/process.h"
#include "tests/test_common/sidecar_process.h"
#include "tests/test_common/test_util.h"
#include "settings/v1/settings.pb.h"

namespace sidecar::test_common {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

struct SidecarSetup {
  std::string service = "settings";
  int64_t request_timeout_ms = 5000;
  int64_t drain_timeout_ms = 10000;
  bool health_check = true;
  bool settings_actions = false;
};

// A config like config/examples/legacy-forward.yaml, with test ports and fast health checks.
std::string ForwardConfig(const std::string& nats_url, const std::string& upstream, const SidecarSetup& s) {
  std::string yaml = absl::StrCat(R"(
server:
  drain_timeout_ms: )", s.drain_timeout_ms, R"(
admin:
  address: "127.0.0.1:0"
nats:
  servers: ")", nats_url, R"("
  name: "sidecar-test"
  reconnect_wait_ms: 100
  ping_interval_ms: 500
  password: "${env:NATS_TEST_PASSWORD}"
  user: "svc"
clusters:
  - name: legacy
    legacy_http:
      address: ")", upstream, R"("
      connect_timeout_ms: 1000
      request_timeout_ms: )", s.request_timeout_ms, "\n");
  if (s.health_check) {
    yaml += R"(      health_check:
        path: "/health"
        interval_ms: 200
        timeout_ms: 500
        healthy_threshold: 1
        unhealthy_threshold: 1
)";
  }
  yaml += absl::StrCat(R"(
listeners:
  - name: nats-in
    nats:
      service: ")", s.service, R"("
routes:
  - service: ")", s.service, R"("
    action: ""
    cluster: legacy
)");
  if (s.settings_actions) {
    yaml += R"(
services:
  - name: settings
    actions:
      put_schema: "PUT /api/settings/schema/{key}"
      get_schema: "GET /api/settings/schema"
      get_effective: "GET /api/settings/players/{player_id}"
      set_values: "POST /api/settings/players/{player_id}/values"
      reset: "POST /api/settings/players/{player_id}/reset"
)";
  }
  return yaml;
}

class SidecarE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    nats_ = ValueOrDie(NatsServer::Start());
    LegacyServiceOptions lo;
    legacy_ = ValueOrDie(LegacyService::Start(lo));
    client_ = ValueOrDie(NatsTestClient::Connect(nats_->url()));
  }

  std::unique_ptr<SidecarProcess> StartSidecar(const SidecarSetup& setup, const std::string& upstream = "") {
    SidecarOptions o;
    o.config_yaml = ForwardConfig(nats_->url(), upstream.empty() ? legacy_->address() : upstream, setup);
    // Secrets come from the environment (an inline one is a config error, docs/SECURITY.md).
    o.env = {{"NATS_TEST_PASSWORD", "hunter2"}};
    return ValueOrDie(SidecarProcess::Start(std::move(o)));
  }

  static NatsRequestSpec Passthrough(const std::string& method, const std::string& path, std::string body = "",
                                     const std::string& subject = "svc.settings.v1.http") {
    NatsRequestSpec r;
    r.subject = subject;
    r.headers = {{"X-Http-Method", method}, {"X-Http-Path", path}};
    r.data = std::move(body);
    return r;
  }

  NatsReplyMessage Call(const NatsRequestSpec& r, absl::Duration timeout = absl::Seconds(10)) {
    return ValueOrDie(client_->Request(r, timeout));
  }

  int LegacyCounter() {
    auto r = ValueOrDie(HttpGet(legacy_->address(), "/counter", In(absl::Seconds(5))));
    return Json::parse(r.body)["count"].get<int>();
  }

  std::unique_ptr<NatsServer> nats_;
  std::unique_ptr<LegacyService> legacy_;
  std::unique_ptr<NatsTestClient> client_;
};

TEST_F(SidecarE2ETest, PassthroughForwardsMethodPathQueryBodyAndTraceHeaders) {
  auto sidecar = StartSidecar({});
  NatsRequestSpec r = Passthrough("POST", "/echo/a%20b?x=1&y=2", R"({"hello":"world"})");
  r.headers.push_back({"X-Principal", "player:pl_1"});
  r.headers.push_back({"X-Request-Id", "req-42"});
  r.headers.push_back({"X-Request-Time", "2026-01-01T00:00:00Z"});
  r.headers.push_back({"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"});
  r.headers.push_back({"Content-Type", "application/json"});
  NatsReplyMessage reply = Call(r);

  EXPECT_EQ(reply.Header("X-Http-Status"), "200");
  EXPECT_EQ(reply.Header("Nats-Service-Error"), "");
  Json echo = Json::parse(reply.data);
  EXPECT_EQ(echo["method"], "POST");
  EXPECT_EQ(echo["path"], "/echo/a%20b");
  EXPECT_EQ(echo["query"], "x=1&y=2");
  EXPECT_EQ(echo["body"], R"({"hello":"world"})");
  EXPECT_EQ(echo["headers"]["x-principal"], "player:pl_1");
  EXPECT_EQ(echo["headers"]["x-request-id"], "req-42");
  EXPECT_EQ(echo["headers"]["x-request-time"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(echo["headers"]["traceparent"], "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  EXPECT_EQ(echo["headers"]["content-type"], "application/json");
  // The sidecar tells the legacy service how long the caller still waits.
  ASSERT_TRUE(echo["headers"].contains("x-deadline-ms"));
}

TEST_F(SidecarE2ETest, ActionRoutesReproduceTheSpecSettingsExamples) {
  ASSERT_TRUE(HttpPostJson(legacy_->address(), "/admin/fixtures/settings", R"({"preset":"spec_example"})",
                           In(absl::Seconds(5)))
                  .ok());
  SidecarSetup setup;
  setup.settings_actions = true;
  auto sidecar = StartSidecar(setup);
  // JSON payloads say so: without a Content-Type an action payload is protobuf (issue 4).
  const NatsHeaders principal = {{"X-Principal", "player:pl_a8694c9d17e9b948"},
                                 {"X-Request-Time", "2026-03-01T12:00:00Z"},
                                 {"Content-Type", "application/json"}};

  // SERVICES.md §2.2 example 1: layered read (GET: non-path fields go to the query).
  NatsRequestSpec read{"svc.settings.v1.get_effective", principal,
                       R"({"player_id":"pl_a8694c9d17e9b948","platform":"mobile"})"};
  NatsReplyMessage r1 = Call(read);
  ASSERT_EQ(r1.Header("X-Http-Status"), "200") << r1.data;
  EXPECT_EQ(Json::parse(r1.data), Json::parse(R"({"player_id":"pl_a8694c9d17e9b948","platform":"mobile",
      "values":{"audio.master_volume":55,"gameplay.subtitles":false,"graphics.quality":"low"},
      "sources":{"audio.master_volume":"player","gameplay.subtitles":"default","graphics.quality":"platform"},
      "revision":3})"));

  // Example 2: set (POST: non-path fields go to a JSON body); a value equal to the default is dropped.
  NatsRequestSpec set{"svc.settings.v1.set_values", principal,
                      R"({"player_id":"pl_a8694c9d17e9b948","platform":"pc","expected_revision":3,
                          "values":{"audio.master_volume":80,"gameplay.subtitles":true}})"};
  NatsReplyMessage r2 = Call(set);
  EXPECT_EQ(r2.Header("X-Http-Status"), "200") << r2.data;
  EXPECT_EQ(Json::parse(r2.data), Json::parse(R"({"revision":4,"stored":{"gameplay.subtitles":true}})"));

  // A stale revision is the legacy service's FAILED_PRECONDITION, carried as ADR-32 headers.
  NatsReplyMessage r3 = Call(set);
  EXPECT_EQ(r3.Header("Nats-Service-Error"), "FAILED_PRECONDITION");
  EXPECT_EQ(r3.Header("Nats-Service-Error-Code"), "422");  // SERVICES.md §0.4
  EXPECT_EQ(Json::parse(r3.data)["error"]["code"], "FAILED_PRECONDITION");

  // The same read in protobuf, the default encoding: the reply comes back as protobuf too.
  settings::v1::GetEffectiveRequest pb_request;
  pb_request.set_player_id("pl_a8694c9d17e9b948");
  pb_request.set_platform("mobile");
  NatsRequestSpec pb_read{"svc.settings.v1.get_effective",
                          {{"X-Principal", "player:pl_a8694c9d17e9b948"}, {"X-Request-Time", "2026-03-01T12:00:00Z"}},
                          pb_request.SerializeAsString()};
  NatsReplyMessage r5 = Call(pb_read);
  EXPECT_EQ(r5.Header("Content-Type"), "application/protobuf");
  settings::v1::GetEffectiveResponse pb_response;
  ASSERT_TRUE(pb_response.ParseFromString(r5.data));
  EXPECT_EQ(pb_response.platform(), "mobile");
  EXPECT_EQ(pb_response.revision(), 4);
  EXPECT_EQ(pb_response.sources().at("graphics.quality"), "platform");
  // A protobuf payload that does not parse is INVALID_ARGUMENT, answered as a common.v1.Error.
  NatsReplyMessage r6 = Call({"svc.settings.v1.get_effective", {{"X-Principal", "player:p"}}, "\xff\xff"});
  EXPECT_EQ(r6.Header("Nats-Service-Error"), "INVALID_ARGUMENT");

  // An action the table does not know, without passthrough headers -> NOT_FOUND, never forwarded.
  NatsReplyMessage r4 = Call({"svc.settings.v1.no_such_action", principal, "{}"});
  EXPECT_EQ(r4.Header("Nats-Service-Error"), "NOT_FOUND");
  EXPECT_EQ(r4.Header("Nats-Service-Error-Code"), "404");
}

TEST_F(SidecarE2ETest, LegacyErrorStatusesBecomeServiceErrors) {
  auto sidecar = StartSidecar({});
  NatsReplyMessage json_404 = Call(Passthrough("GET", "/status/404"));
  EXPECT_EQ(json_404.Header("X-Http-Status"), "404");
  EXPECT_EQ(json_404.Header("Nats-Service-Error"), "NOT_FOUND");
  EXPECT_EQ(json_404.Header("Nats-Service-Error-Code"), "404");
  EXPECT_EQ(Json::parse(json_404.data)["error"]["code"], "NOT_FOUND");

  // A plain-text 500 is wrapped into the §0.4 error body.
  NatsReplyMessage plain_500 = Call(Passthrough("GET", "/status/500?plain=1"));
  EXPECT_EQ(plain_500.Header("Nats-Service-Error"), "INTERNAL");
  EXPECT_EQ(plain_500.Header("Nats-Service-Error-Code"), "500");
  Json body = Json::parse(plain_500.data);
  EXPECT_EQ(body["error"]["code"], "INTERNAL");
  EXPECT_EQ(body["error"]["message"], "boom");
}

TEST_F(SidecarE2ETest, UpstreamDownIsAFast503NotAHang) {
  SidecarSetup setup;
  setup.health_check = false;  // otherwise the sidecar is never ready while the upstream is down
  const std::string dead = legacy_->address();
  ASSERT_TRUE(legacy_->Stop().ok());
  auto sidecar = StartSidecar(setup, dead);
  Call(Passthrough("GET", "/echo"));  // warm: the first request also pays for nats.c's inbox setup
  const absl::Time start = absl::Now();
  NatsReplyMessage reply = Call(Passthrough("GET", "/echo"));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(reply.Header("Nats-Service-Error"), "UNAVAILABLE");
  EXPECT_EQ(reply.Header("Nats-Service-Error-Code"), "503");
  EXPECT_LT(took, absl::Milliseconds(50));
}

TEST_F(SidecarE2ETest, SlowUpstreamIs504AtTheConfiguredTimeout) {
  SidecarSetup setup;
  setup.request_timeout_ms = 300;
  auto sidecar = StartSidecar(setup);
  const absl::Time start = absl::Now();
  NatsReplyMessage reply = Call(Passthrough("GET", "/slow/3000"));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(reply.Header("Nats-Service-Error"), "DEADLINE_EXCEEDED");
  EXPECT_EQ(reply.Header("Nats-Service-Error-Code"), "504");
  EXPECT_GE(took, absl::Milliseconds(290));
  EXPECT_LT(took, absl::Milliseconds(1500));

  // The caller's own smaller budget wins over the route's.
  SidecarSetup roomy;
  roomy.request_timeout_ms = 5000;
  auto sidecar2 = StartSidecar(roomy);
  NatsRequestSpec r = Passthrough("GET", "/slow/3000");
  r.headers.push_back({"X-Deadline-Ms", "200"});
  const absl::Time start2 = absl::Now();
  NatsReplyMessage reply2 = Call(r);
  EXPECT_EQ(reply2.Header("Nats-Service-Error-Code"), "504");
  EXPECT_LT(absl::Now() - start2, absl::Milliseconds(1500));
}

TEST_F(SidecarE2ETest, TwoSidecarsInOneQueueGroupShareTheLoadAndAnswerEachRequestOnce) {
  auto legacy_b = ValueOrDie(LegacyService::Start({}));
  auto a = StartSidecar({});
  auto b = StartSidecar({}, legacy_b->address());
  std::vector<NatsRequestSpec> requests(400, Passthrough("GET", "/echo"));
  auto replies = ValueOrDie(client_->RequestMany(requests, absl::Seconds(30)));
  for (size_t i = 0; i < replies.size(); ++i) {
    ASSERT_TRUE(replies[i].has_value()) << "request " << i << " unanswered";
    EXPECT_EQ(replies[i]->Header("X-Http-Status"), "200");
  }
  const int served_a = LegacyCounter();
  auto r = ValueOrDie(HttpGet(legacy_b->address(), "/counter", In(absl::Seconds(5))));
  const int served_b = Json::parse(r.body)["count"].get<int>();
  EXPECT_EQ(served_a + served_b, 400);  // each request reached exactly one legacy process
  EXPECT_GT(served_a, 40);
  EXPECT_GT(served_b, 40);
}

TEST_F(SidecarE2ETest, SigtermWithRequestsInFlightAnswersAllAndExitsZero) {
  auto sidecar = StartSidecar({});
  std::vector<NatsRequestSpec> requests(200, Passthrough("GET", "/slow/300"));
  // Publish 200 slow requests, then SIGTERM once the sidecar holds them.
  absl::Notification published;
  std::thread sender([&] {
    auto replies = client_->RequestMany(requests, absl::Seconds(20), &published);
    ASSERT_TRUE(replies.ok()) << replies.status();
    int answered = 0;
    for (const auto& reply : *replies) {
      if (reply.has_value() && reply->Header("X-Http-Status") == "200") {
        ++answered;
      } else if (reply.has_value()) {
        ADD_FAILURE() << "reply: " << reply->Header("X-Http-Status") << " " << reply->data;
      }
    }
    EXPECT_EQ(answered, 200);
  });
  // Once nats-server has all 200 (the client's flush returned) and the legacy stand-in has started
  // one, the burst is with the sidecar: in its pool queue or in flight to the stand-in (each takes
  // 300 ms, so none is done yet).
  ASSERT_TRUE(published.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(legacy_->WaitForOutput("slow request started", In(absl::Seconds(10))).ok());
  auto exit = ValueOrDie(sidecar->Terminate(In(absl::Seconds(15))));
  sender.join();
  EXPECT_TRUE(exit.success()) << exit.ToString() << "\n" << sidecar->output();
  EXPECT_THAT(sidecar->output(), HasSubstr("\"msg\":\"drained; exiting\""));
}

// With NATS gone there is nothing to drain from it: SIGTERM ends the sidecar at once, not after
// drain_timeout_ms (ECS would otherwise wait out the stop timeout on every task of a broken fleet).
TEST_F(SidecarE2ETest, SigtermWhileNatsIsDownExitsWithoutWaitingForTheDrainTimeout) {
  auto sidecar = StartSidecar({});
  client_.reset();
  const size_t mark = sidecar->process().output_size();
  ASSERT_TRUE(nats_->Kill().ok());
  ASSERT_TRUE(sidecar->WaitForReadiness(false, In(absl::Seconds(5)), mark).ok());

  const absl::Time start = absl::Now();
  auto exit = ValueOrDie(sidecar->Terminate(In(absl::Seconds(15))));
  EXPECT_TRUE(exit.success()) << exit.ToString() << "\n" << sidecar->output();
  // drain_timeout_ms is 10 s here; a correctness bound, far from it, not a benchmark.
  EXPECT_LT(absl::Now() - start, absl::Seconds(3)) << sidecar->output();
}

TEST_F(SidecarE2ETest, NatsRestartIsSurvivedAndReadinessFollowsIt) {
  auto sidecar = StartSidecar({});
  EXPECT_EQ(ValueOrDie(HttpGet(sidecar->admin_address(), "/ready", In(absl::Seconds(5)))).status, 200);
  client_.reset();
  size_t mark = sidecar->process().output_size();
  ASSERT_TRUE(nats_->Kill().ok());
  ASSERT_TRUE(sidecar->WaitForReadiness(false, In(absl::Seconds(5)), mark).ok());
  auto ready = ValueOrDie(HttpGet(sidecar->admin_address(), "/ready", In(absl::Seconds(5))));
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(Json::parse(ready.body)["nats"], "disconnected");

  mark = sidecar->process().output_size();
  ASSERT_TRUE(nats_->Restart().ok());
  ASSERT_TRUE(sidecar->WaitForReadiness(true, In(absl::Seconds(10)), mark).ok());
  EXPECT_EQ(ValueOrDie(HttpGet(sidecar->admin_address(), "/ready", In(absl::Seconds(5)))).status, 200);
  client_ = ValueOrDie(NatsTestClient::Connect(nats_->url()));
  EXPECT_EQ(Call(Passthrough("GET", "/echo")).Header("X-Http-Status"), "200");
  auto metrics = ValueOrDie(HttpGet(sidecar->admin_address(), "/metrics", In(absl::Seconds(5))));
  EXPECT_THAT(metrics.body, HasSubstr("sidecar_nats_reconnects_total"));
}

TEST_F(SidecarE2ETest, FailingLegacyHealthCheckFlipsReadiness) {
  auto sidecar = StartSidecar({});
  size_t mark = sidecar->process().output_size();
  ASSERT_TRUE(HttpPostJson(legacy_->address(), "/admin/health/fail", "{}", In(absl::Seconds(5))).ok());
  ASSERT_TRUE(sidecar->WaitForReadiness(false, In(absl::Seconds(5)), mark).ok());
  auto ready = ValueOrDie(HttpGet(sidecar->admin_address(), "/ready", In(absl::Seconds(5))));
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(Json::parse(ready.body)["clusters"]["legacy"], "healthy");
  // /health is liveness: it stays 200, so ECS does not restart a task whose upstream is briefly down.
  EXPECT_EQ(ValueOrDie(HttpGet(sidecar->admin_address(), "/health", In(absl::Seconds(5)))).status, 200);

  mark = sidecar->process().output_size();
  ASSERT_TRUE(HttpPostJson(legacy_->address(), "/admin/health/ok", "{}", In(absl::Seconds(5))).ok());
  ASSERT_TRUE(sidecar->WaitForReadiness(true, In(absl::Seconds(5)), mark).ok());
}

TEST_F(SidecarE2ETest, AdminExposesMetricsAndARedactedConfig) {
  auto sidecar = StartSidecar({});
  Call(Passthrough("GET", "/echo"));
  ASSERT_TRUE(client_->Publish(Passthrough("POST", "/echo", "fire")).ok());
  ASSERT_TRUE(client_->Flush().ok());
  // A request/reply after the publish: the sidecar handles messages in order, so by the time this
  // one is answered the fire-and-forget one has been counted.
  Call(Passthrough("GET", "/echo"));

  auto metrics = ValueOrDie(HttpGet(sidecar->admin_address(), "/metrics", In(absl::Seconds(5))));
  EXPECT_EQ(metrics.status, 200);
  for (const char* name :
       {"sidecar_requests_total", "sidecar_request_duration_seconds_bucket", "sidecar_nats_connected",
        "sidecar_upstream_cx_active", "sidecar_upstream_rq_total", "sidecar_build_info",
        "sidecar_fire_and_forget_total"}) {
    EXPECT_THAT(metrics.body, HasSubstr(name));
  }
  EXPECT_THAT(metrics.body, HasSubstr("sidecar_fire_and_forget_total{listener=\"nats-in\",service=\"settings\"} 1"));

  auto dump = ValueOrDie(HttpGet(sidecar->admin_address(), "/config_dump", In(absl::Seconds(5))));
  EXPECT_EQ(dump.status, 200);
  EXPECT_THAT(dump.body, Not(HasSubstr("hunter2")));
  EXPECT_THAT(dump.body, HasSubstr("\"user\""));
}

TEST_F(SidecarE2ETest, HealthcheckSubcommandExitCodes) {
  auto sidecar = StartSidecar({});
  auto run = [&](std::vector<std::string> args) {
    ProcessOptions p;
    p.argv = {BinaryPath("nats-sidecar"), "healthcheck"};
    p.argv.insert(p.argv.end(), args.begin(), args.end());
    p.name = "healthcheck";
    auto process = ValueOrDie(Process::Spawn(std::move(p)));
    const absl::Time start = absl::Now();
    ExitStatus exit = ValueOrDie(process->Wait(In(absl::Seconds(5))));
    EXPECT_LT(absl::Now() - start, absl::Seconds(2));  // ECS's healthCheck timeout
    return exit;
  };
  EXPECT_EQ(run({"--admin", sidecar->admin_address()}).code, 0);
  EXPECT_EQ(run({"--admin", sidecar->admin_address(), "--ready"}).code, 0);
  auto port = ValueOrDie(PickUnusedPort());
  EXPECT_EQ(run({"--admin", LoopbackAddress(port)}).code, 1);

  ASSERT_TRUE(HttpPostJson(legacy_->address(), "/admin/health/fail", "{}", In(absl::Seconds(5))).ok());
  ASSERT_TRUE(sidecar->WaitForReadiness(false, In(absl::Seconds(5))).ok());
  EXPECT_EQ(run({"--admin", sidecar->admin_address()}).code, 0);  // still live
  EXPECT_EQ(run({"--admin", sidecar->admin_address(), "--ready"}).code, 1);
}

TEST(SidecarCliTest, ValidateReportsEveryErrorWithItsPath) {
  std::string bad = R"(
admin:
  address: "127.0.0.1:99999"
nats:
  servers: "nats://127.0.0.1:4222"
listeners:
  - name: in
    nats: {}
routes:
  - service: settings
    cluster: nowhere
bogus: 1
)";
  std::string path = ValueOrDie(WriteTempFile("sidecar-bad-", bad));
  ProcessOptions p;
  p.argv = {BinaryPath("nats-sidecar"), "validate", "--config", path};
  p.name = "validate";
  auto process = ValueOrDie(Process::Spawn(std::move(p)));
  ExitStatus exit = ValueOrDie(process->Wait(In(absl::Seconds(10))));
  unlink(path.c_str());
  EXPECT_EQ(exit.code, 1);
  const std::string out = process->output();
  EXPECT_THAT(out, HasSubstr("admin.address"));
  EXPECT_THAT(out, HasSubstr("listeners[0].nats.service"));
  EXPECT_THAT(out, HasSubstr("routes[0].cluster"));
  EXPECT_THAT(out, HasSubstr("bogus"));
}

TEST(SidecarCliTest, ValidateAcceptsTheShippedExample) {
  ProcessOptions p;
  p.argv = {BinaryPath("nats-sidecar"), "validate", "--config",
            SourceDir() + "/config/examples/legacy-forward.yaml"};
  p.env = {{"SERVICE", "settings"}};
  p.name = "validate";
  auto process = ValueOrDie(Process::Spawn(std::move(p)));
  ExitStatus exit = ValueOrDie(process->Wait(In(absl::Seconds(10))));
  EXPECT_EQ(exit.code, 0) << process->output();
  EXPECT_THAT(process->output(), HasSubstr("OK"));
}

TEST(SidecarCliTest, VersionPrintsTheBuild) {
  ProcessOptions p;
  p.argv = {BinaryPath("nats-sidecar"), "--version"};
  p.name = "version";
  auto process = ValueOrDie(Process::Spawn(std::move(p)));
  // Wait returns at the exit, possibly before the output reader has drained the pipe: wait for
  // the line itself.
  EXPECT_TRUE(process->WaitForOutput("nats-sidecar 0.1.0", In(absl::Seconds(10))).ok()) << process->output();
  // The allocator the binary runs on, as tcmalloc names itself (sidecar/server/main.cc).
  EXPECT_TRUE(process->WaitForOutput("tcmalloc, gperftools 2.", In(absl::Seconds(10))).ok()) << process->output();
  ExitStatus exit = ValueOrDie(process->Wait(In(absl::Seconds(10))));
  EXPECT_EQ(exit.code, 0);

  // The commit is the checkout's as of this build (written at build time, not at configure time:
  // cmake/write_git_sha.cmake), so an incremental build after a commit names the new one.
  ProcessOptions g;
  g.argv = {"git", "-C", SourceDir(), "rev-parse", "--short", "HEAD"};
  g.name = "git";
  auto git = Process::Spawn(std::move(g));
  if (!git.ok()) GTEST_SKIP() << "no git to ask: " << git.status();
  ExitStatus git_exit = ValueOrDie((*git)->Wait(In(absl::Seconds(10))));
  if (git_exit.code != 0) GTEST_SKIP() << "no git checkout at " << SourceDir();
  const std::string sha(absl::StripAsciiWhitespace((*git)->output()));
  EXPECT_NE(process->output().find("(" + sha + ", "), std::string::npos)
      << process->output() << " does not name HEAD " << sha;
}

}  // namespace
}  // namespace sidecar::test_common
