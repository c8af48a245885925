// Issue 9 items 5 and 6 with the real binary.
//   Secret hygiene: fake secrets are planted in requests (Authorization, Cookie, a JWT in the query,
//   an NKey seed in a header, a password in a JSON body), in the upstream's answers (Set-Cookie, a
//   token field) and in the config (the NATS password from the environment, the admin token from
//   a file). Traffic runs through the gateway with a shadow that always differs, at debug log
//   level; then the process output, /metrics and every admin response must contain none of them.
//   Admin exposure: POSTs need the bearer token when one is configured, and the process refuses to
//   start on a non-loopback admin address without one.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sidecar/nats/nkey.h"
#include "tests/integration/security_test_util.h"
#include "tests/test_common/fake_upstream/fake_http_upstream.h"
#include "tests/test_common/http_client.h"
#include "tests/test_common/paths.h"
#include "tests/test_common/sidecar_process.h"
#include "tests/test_common/test_util.h"

namespace sidecar::test_common::security {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kBearer[] = "tok-PLANTED-bearer-7f3a9c";
constexpr char kCookie[] = "PLANTED-cookie-91b2";
constexpr char kSetCookie[] = "PLANTED-setcookie-55aa";
constexpr char kBodyPassword[] = "PLANTED-body-pw-1618";
constexpr char kResponseToken[] = "PLANTED-resp-token-4669";
constexpr char kNatsPassword[] = "PLANTED-nats-pw-3141";
constexpr char kAdminToken[] = "PLANTED-admin-token-2718";
// A JWT-shaped value (header {"alg":"none"}): only its shape matters here.
constexpr char kJwt[] = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJQTEFOVEVEIn0.UExBTlRFRC1zaWc";

class SecuritySecretsTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = ValueOrDie(TempDir::Create("security-secrets")); }

  std::unique_ptr<TempDir> dir_;
};

TEST_F(SecuritySecretsTest, PlantedSecretsAppearInNoOutputMetricOrAdminResponse) {
  const std::string seed = ValueOrDie(nats::GenerateNKey(nats::NKeyType::kUser)).seed;
  auto nats = ValueOrDie(StartNatsWithConfig(*dir_, "nats.conf",
                                             absl::StrCat("authorization { user: gw, password: \"", kNatsPassword,
                                                          "\" }\n")));
  auto primary = ValueOrDie(FakeHttpUpstream::Create());
  auto shadow = ValueOrDie(FakeHttpUpstream::Create());
  const FakeHeaders headers = {{"Content-Type", "application/json"},
                               {"Set-Cookie", absl::StrCat("sid=", kSetCookie, "; HttpOnly")}};
  primary->SetDefaultResponse(FakeResponse::Reply(
      200, absl::StrCat(R"({"n":1,"token":")", kResponseToken, R"(","note":"Bearer )", kBearer, R"("})"), headers));
  shadow->SetDefaultResponse(FakeResponse::Reply(
      200, absl::StrCat(R"({"n":2,"token":")", kResponseToken, R"(","note":"Bearer )", kBearer, R"("})"), headers));
  const std::string token_file = ValueOrDie(dir_->Write("admin-token", std::string(kAdminToken) + "\n"));

  SidecarOptions options;
  options.name = "gateway";
  options.env = {{"NATS_PASSWORD", kNatsPassword}};
  options.config_yaml = absl::StrCat(R"(
server: {log_level: debug}
admin:
  address: "127.0.0.1:0"
  token_file: )", token_file, R"(
nats:
  servers: [")", nats->url(), R"("]
  user: gw
  password: "${env:NATS_PASSWORD}"
listeners:
  - name: gateway
    http: {address: "127.0.0.1:0"}
clusters:
  - name: primary
    legacy_http: {address: ")", primary->address(), R"("}
  - name: shadow
    legacy_http: {address: ")", shadow->address(), R"("}
routes:
  - name: things
    prefix: "/api/things/"
    service: things
    cluster: primary
    shadow: {cluster: shadow, percent: 100, methods: ["*"]}
)");
  auto sidecar = ValueOrDie(SidecarProcess::Start(options));
  const std::string gateway =
      absl::StrCat("127.0.0.1:", ValueOrDie(sidecar->HttpListenerPort("gateway", In(absl::Seconds(10)))));

  const HttpHeaders planted = {{"Authorization", absl::StrCat("Bearer ", kBearer)},
                               {"Cookie", absl::StrCat("session=", kCookie)},
                               {"X-Debug-Seed", seed},
                               {"Content-Type", "application/json"}};
  for (int i = 0; i < 5; ++i) {
    auto r = HttpRequest(gateway, "POST", absl::StrCat("/api/things/", i, "?access_token=", kJwt), planted,
                         absl::StrCat(R"({"user":"u","password":")", kBodyPassword, R"("})"), In(absl::Seconds(5)));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
  }
  // A request the gateway rejects, and one for an unknown route: error paths log too.
  ASSERT_TRUE(HttpRequest(gateway, "GET", absl::StrCat("/nowhere?token=", kBearer), planted, "", In(absl::Seconds(5))).ok());
  // A POST to the admin with a wrong token quotes nothing back.
  ASSERT_TRUE(HttpRequest(sidecar->admin_address(), "POST", "/routes/things/weights",
                          {{"Authorization", absl::StrCat("Bearer ", kBearer)}, {"Content-Type", "application/json"}},
                          R"({"primary":100})", In(absl::Seconds(5)))
                  .ok());

  // The diff runs a loop turn after the answer: wait (bounded) until the ring holds the mismatches.
  std::string mismatches;
  PollUntil(
      [&] {
        auto r = HttpGet(sidecar->admin_address(), "/shadow/mismatches", In(absl::Seconds(5)));
        mismatches = r.ok() ? r->body : r.status().ToString();
        return nlohmann::json::parse(mismatches, nullptr, false).size() >= 5;
      },
      In(absl::Seconds(20)));
  ASSERT_GE(nlohmann::json::parse(mismatches, nullptr, false).size(), 5u) << mismatches;
  // Redaction, not absence: the ring still shows there was a credential and a body.
  EXPECT_THAT(mismatches, HasSubstr("<redacted>"));
  EXPECT_THAT(mismatches, HasSubstr(R"(\"user\":\"u\")"));

  std::vector<std::pair<std::string, std::string>> outputs = {{"process output", ""}};
  for (const char* path : {"/", "/health", "/ready", "/metrics", "/config_dump", "/routes", "/shadow/mismatches",
                           "/status", "/cutover"}) {
    auto r = HttpGet(sidecar->admin_address(), path, In(absl::Seconds(5)));
    ASSERT_TRUE(r.ok()) << path << ": " << r.status();
    std::string all = r->body;
    for (const auto& [name, value] : r->headers) absl::StrAppend(&all, "\n", name, ": ", value);
    outputs.emplace_back(path, all);
  }
  const auto config_dump = nlohmann::json::parse(outputs[5].second.substr(0, outputs[5].second.find("\ncontent-")));
  EXPECT_EQ(config_dump["nats"]["password"], "<redacted>");
  EXPECT_EQ(config_dump["admin"]["token_file"], token_file);
  EXPECT_EQ(config_dump["server"]["log_level"], "debug");  // every debug log line was on

  ASSERT_TRUE(sidecar->Terminate(In(absl::Seconds(20))).ok());
  outputs[0].second = sidecar->output();

  int found = 0;
  for (const std::string& secret :
       {std::string(kBearer), std::string(kCookie), std::string(kSetCookie), std::string(kBodyPassword),
        std::string(kResponseToken), std::string(kNatsPassword), std::string(kAdminToken), std::string(kJwt), seed}) {
    for (const auto& [where, text] : outputs) {
      if (text.find(secret) != std::string::npos) {
        ++found;
        ADD_FAILURE() << "secret " << secret << " found in " << where << ":\n" << text.substr(0, 4000);
      }
    }
  }
  EXPECT_EQ(found, 0);
}

TEST_F(SecuritySecretsTest, MutatingAdminEndpointsNeedTheBearerToken) {
  auto nats = ValueOrDie(NatsServer::Start());
  auto upstream = ValueOrDie(FakeHttpUpstream::Create());
  SidecarOptions options;
  options.env = {{"ADMIN_TOKEN", kAdminToken}};
  options.config_yaml = absl::StrCat(R"(
admin:
  address: "127.0.0.1:0"
  token: "${env:ADMIN_TOKEN}"
nats: {servers: [")", nats->url(), R"("]}
listeners:
  - name: gateway
    http: {address: "127.0.0.1:0"}
clusters:
  - name: legacy
    legacy_http: {address: ")", upstream->address(), R"("}
  - name: other
    legacy_http: {address: ")", upstream->address(), R"("}
routes:
  - name: things
    prefix: "/api/things/"
    split: [{cluster: legacy, weight: 100}, {cluster: other, weight: 0}]
)");
  auto sidecar = ValueOrDie(SidecarProcess::Start(options));
  auto post = [&](const HttpHeaders& auth) {
    HttpHeaders headers = auth;
    headers.emplace_back("Content-Type", "application/json");
    return ValueOrDie(HttpRequest(sidecar->admin_address(), "POST", "/routes/things/weights", headers,
                                  R"({"legacy":50,"other":50})", In(absl::Seconds(5))));
  };
  EXPECT_EQ(post({}).status, 401);
  EXPECT_EQ(post({{"Authorization", "Bearer wrong"}}).status, 401);
  HttpResponse refused = post({{"Authorization", absl::StrCat("Basic ", kAdminToken)}});
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(refused.Header("www-authenticate"), "Bearer realm=\"nats-sidecar admin\"");
  // Nothing changed.
  EXPECT_THAT(ValueOrDie(HttpGet(sidecar->admin_address(), "/routes", In(absl::Seconds(5)))).body,
              Not(HasSubstr("5000")));
  HttpResponse ok = post({{"Authorization", absl::StrCat("Bearer ", kAdminToken)}});
  EXPECT_EQ(ok.status, 200) << ok.body;
  // Reads stay open (load balancers and Prometheus scrape them).
  EXPECT_EQ(ValueOrDie(HttpGet(sidecar->admin_address(), "/metrics", In(absl::Seconds(5)))).status, 200);
}

TEST_F(SecuritySecretsTest, NonLoopbackAdminWithoutATokenDoesNotStart) {
  const std::string config = ValueOrDie(dir_->Write("exposed.yaml", R"(
admin: {address: "0.0.0.0:0"}
nats: {servers: ["nats://127.0.0.1:1"]}
)"));
  ProcessOptions options;
  options.name = "nats-sidecar";
  options.argv = {BinaryPath("nats-sidecar"), "run", "--config", config};
  auto process = ValueOrDie(Process::Spawn(options));
  ExitStatus exit = ValueOrDie(process->Wait(In(absl::Seconds(20))));
  EXPECT_FALSE(exit.success());
  EXPECT_THAT(process->output(), HasSubstr("admin.token: required when admin.address is not loopback"));
}

}  // namespace
}  // namespace sidecar::test_common::security
