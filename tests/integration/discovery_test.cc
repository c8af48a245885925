// ADR-32 discovery end to end: nats-server, the real nats-sidecar binary in front of the legacy
// FastAPI stand-in, a few requests (one of them an error), then a third-party client -- the npm
// `nats` package's service client (tests/integration/discovery/discover.js) -- pings, infos and
// stats the running sidecar. The npm package is installed with `npm ci` into
// <build dir>/discovery-node on first run (the npm registry once, then npm's cache).

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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

namespace sidecar::test_common {
namespace {

using ::testing::UnorderedElementsAre;
using Json = nlohmann::json;

// Like config/examples/legacy-forward.yaml (plus the settings action table when `actions`).
std::string Config(const std::string& nats_url, const std::string& upstream, bool actions,
                   const std::string& service) {
  std::string yaml = absl::StrCat(R"(
admin:
  address: "127.0.0.1:0"
nats:
  servers: ")", nats_url, R"("
  name: "sidecar-discovery-test"
  reconnect_wait_ms: 100
clusters:
  - name: legacy
    legacy_http:
      address: ")", upstream, R"("
listeners:
  - name: nats-in
    nats:
      service: ")", service, R"("
routes:
  - service: ")", service, R"("
    action: ""
    cluster: legacy
)");
  if (actions) {
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

// Runs a command to completion and returns its combined output; fails the test on a non-zero exit.
std::string RunToCompletion(ProcessOptions options, absl::Duration timeout) {
  const std::string name = options.name;
  auto process = ValueOrDie(Process::Spawn(std::move(options)));
  auto exit = process->Wait(In(timeout));
  EXPECT_TRUE(exit.ok()) << name << ": " << exit.status() << "\n" << process->output();
  if (exit.ok()) {
    EXPECT_TRUE(exit->success()) << name << ": " << exit->ToString() << "\n" << process->output();
  }
  return process->output();
}

class DiscoveryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // npm ci into the build tree once (package.json + package-lock.json pin the `nats` package).
    const std::string src = SourceDir() + "/tests/integration/discovery";
    const std::string prefix = BinaryDir() + "/discovery-node";
    ProcessOptions o;
    o.name = "npm-ci";
    o.argv = {"sh", "-c",
              absl::StrCat("set -e; mkdir -p '", prefix, "'; exec 9>'", prefix,
                           ".lock'; flock 9; "  // ctest -j: one npm ci at a time
                           "test -f '", prefix, "/node_modules/nats/package.json' && exit 0; cp '", src,
                           "/package.json' '", src, "/package-lock.json' '", prefix, "/'; cd '", prefix,
                           "'; npm ci --no-audit --no-fund --prefer-offline")};
    RunToCompletion(std::move(o), absl::Minutes(5));
  }

  void SetUp() override {
    nats_ = ValueOrDie(NatsServer::Start());
    legacy_ = ValueOrDie(LegacyService::Start(LegacyServiceOptions{}));
    client_ = ValueOrDie(NatsTestClient::Connect(nats_->url()));
  }

  std::unique_ptr<SidecarProcess> StartSidecar(bool actions, const std::string& service = "settings") {
    SidecarOptions o;
    o.config_yaml = Config(nats_->url(), legacy_->address(), actions, service);
    return ValueOrDie(SidecarProcess::Start(std::move(o)));
  }

  // discover.js's JSON: {"ping_all": [...], "ping": [...], "info": [...], "stats": [...], "stats_by_id": [...]}.
  Json Discover(const std::string& service = "settings") {
    ProcessOptions o;
    o.name = "discover.js";
    o.argv = {"node", SourceDir() + "/tests/integration/discovery/discover.js", nats_->url(), service};
    o.env = {{"NODE_PATH", BinaryDir() + "/discovery-node/node_modules"}};
    const std::string out = RunToCompletion(std::move(o), absl::Seconds(60));
    const size_t start = out.find("{\"ping_all\"");
    if (start == std::string::npos) {
      ADD_FAILURE() << "no JSON from discover.js:\n" << out;
      return Json::object();
    }
    return Json::parse(out.substr(start, out.find('\n', start) - start));
  }

  // "Ready" means nats-server has processed the sidecar's SUBs (the server confirms them with a
  // flush round trip before it reports ready), so a request right away is served.
  NatsReplyMessage Call(const NatsRequestSpec& r) { return ValueOrDie(client_->Request(r, absl::Seconds(10))); }

  static const Json* FindEndpoint(const Json& service, const std::string& name) {
    for (const auto& e : service["endpoints"]) {
      if (e["name"] == name) return &e;
    }
    return nullptr;
  }

  std::unique_ptr<NatsServer> nats_;
  std::unique_ptr<LegacyService> legacy_;
  std::unique_ptr<NatsTestClient> client_;
};

TEST_F(DiscoveryTest, NatsJsDiscoversActionEndpointsAndStats) {
  ASSERT_TRUE(HttpPostJson(legacy_->address(), "/admin/fixtures/settings", R"({"preset":"spec_example"})",
                           In(absl::Seconds(5)))
                  .ok());
  auto sidecar = StartSidecar(/*actions=*/true);
  const NatsHeaders headers = {{"X-Principal", "player:pl_a8694c9d17e9b948"},
                               {"X-Request-Time", "2026-03-01T12:00:00Z"},
                               {"Content-Type", "application/json"}};
  NatsReplyMessage read = Call({"svc.settings.v1.get_effective", headers,
                                R"({"player_id":"pl_a8694c9d17e9b948","platform":"mobile"})"});
  ASSERT_EQ(read.Header("X-Http-Status"), "200") << read.data << "\n" << sidecar->output();
  NatsRequestSpec set{"svc.settings.v1.set_values", headers,
                      R"({"player_id":"pl_a8694c9d17e9b948","platform":"pc","expected_revision":3,
                          "values":{"audio.master_volume":80}})"};
  NatsReplyMessage ok = Call(set);
  ASSERT_EQ(ok.Header("X-Http-Status"), "200") << ok.data;
  NatsReplyMessage stale = Call(set);  // the same expected_revision again: FAILED_PRECONDITION
  ASSERT_EQ(stale.Header("Nats-Service-Error"), "FAILED_PRECONDITION") << stale.data;

  Json d = Discover();
  SCOPED_TRACE(d.dump(2));

  // Ping: every instance answers $SRV.PING and $SRV.PING.settings; exactly one sidecar runs.
  ASSERT_EQ(d["ping_all"].size(), 1u);
  ASSERT_EQ(d["ping"].size(), 1u);
  const Json& ping = d["ping"][0];
  EXPECT_EQ(ping["type"], "io.nats.micro.v1.ping_response");
  EXPECT_EQ(ping["name"], "settings");
  EXPECT_EQ(ping["version"], SIDECAR_VERSION);
  const std::string id = ping["id"];
  EXPECT_EQ(id.size(), 22u);

  // Info: the action endpoints with their subjects and the workers' queue group.
  ASSERT_EQ(d["info"].size(), 1u);
  const Json& info = d["info"][0];
  EXPECT_EQ(info["type"], "io.nats.micro.v1.info_response");
  EXPECT_EQ(info["id"], id);
  std::vector<std::string> names;
  for (const auto& e : info["endpoints"]) {
    names.push_back(e["name"]);
    EXPECT_EQ(e["subject"], "svc.settings.v1." + e["name"].get<std::string>());
    EXPECT_EQ(e["queue_group"], "svc-settings-workers");
  }
  EXPECT_THAT(names, UnorderedElementsAre("put_schema", "get_schema", "get_effective", "set_values", "reset"));

  // Stats: the requests and the error, per endpoint; the same by name and by name + id.
  ASSERT_EQ(d["stats"].size(), 1u);
  ASSERT_EQ(d["stats_by_id"].size(), 1u);
  EXPECT_EQ(d["stats_by_id"][0]["id"], id);
  const Json& stats = d["stats"][0];
  EXPECT_EQ(stats["type"], "io.nats.micro.v1.stats_response");
  EXPECT_FALSE(stats["started"].get<std::string>().empty());
  const Json* get = FindEndpoint(stats, "get_effective");
  const Json* setv = FindEndpoint(stats, "set_values");
  const Json* reset = FindEndpoint(stats, "reset");
  ASSERT_TRUE(get && setv && reset);
  EXPECT_EQ((*get)["num_requests"], 1);
  EXPECT_EQ((*get)["num_errors"], 0);
  EXPECT_GT((*get)["processing_time"].get<int64_t>(), 0);
  EXPECT_EQ((*setv)["num_requests"], 2);
  EXPECT_EQ((*setv)["num_errors"], 1);
  EXPECT_EQ((*setv)["last_error"], "failed_precondition");
  EXPECT_EQ((*setv)["average_processing_time"].get<int64_t>(),
            (*setv)["processing_time"].get<int64_t>() / 2);
  EXPECT_EQ((*reset)["num_requests"], 0);
}

// A service with neither a schema (services/proto) nor a YAML action table: one endpoint, the
// listener's wildcard subject, counting every request.
TEST_F(DiscoveryTest, WithoutActionsOneWildcardEndpoint) {
  auto sidecar = StartSidecar(/*actions=*/false, "echo");
  NatsRequestSpec r{"svc.echo.v1.http", {{"X-Http-Method", "GET"}, {"X-Http-Path", "/echo/x"}}, ""};
  for (int i = 0; i < 2; ++i) {
    NatsReplyMessage reply = Call(r);
    ASSERT_EQ(reply.Header("X-Http-Status"), "200") << reply.data << "\n" << sidecar->output();
  }

  Json d = Discover("echo");
  SCOPED_TRACE(d.dump(2));
  ASSERT_EQ(d["info"].size(), 1u);
  EXPECT_EQ(d["info"][0]["name"], "echo");
  ASSERT_EQ(d["info"][0]["endpoints"].size(), 1u);
  EXPECT_EQ(d["info"][0]["endpoints"][0]["name"], "all");
  EXPECT_EQ(d["info"][0]["endpoints"][0]["subject"], "svc.echo.v1.>");
  EXPECT_EQ(d["info"][0]["endpoints"][0]["queue_group"], "svc-echo-workers");
  ASSERT_EQ(d["stats"].size(), 1u);
  EXPECT_EQ(d["stats"][0]["endpoints"][0]["num_requests"], 2);
  EXPECT_EQ(d["stats"][0]["endpoints"][0]["num_errors"], 0);
}

}  // namespace
}  // namespace sidecar::test_common
