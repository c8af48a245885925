// The conformance runner: every tests/golden/<service>/*.json replayed against the native ports
// hosted by the real binary (config/examples/native-host.yaml), over the gateway's HTTP routes and
// over NATS (svc.<service>.v1.<action>, JSON payloads). Comparison per SERVICES.md §0.7: status,
// error code and details, and the body, with the volatile fields dropped.

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "adapters/transcoding/transcoder.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_common/http_client.h"
#include "tests/test_common/nats_client.h"
#include "tests/test_common/nats_server.h"
#include "tests/test_common/net.h"
#include "tests/test_common/paths.h"
#include "tests/test_common/sidecar_process.h"
#include "tests/test_common/test_util.h"

namespace sidecar::test_common {
namespace {

using Json = nlohmann::json;

constexpr char kDefaultRequestTime[] = "2025-11-20T12:00:00.000Z";
constexpr char kDefaultPrincipal[] = "admin:test";

std::vector<std::string> GoldenFiles() {
  std::vector<std::string> files;
  const std::filesystem::path root = std::filesystem::path(SourceDir()) / "tests" / "golden";
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// §0.7: event_id, error.message and auth tokens are volatile; ts fields are compared because every
// step pins X-Request-Time.
void DropVolatile(Json& j) {
  if (j.is_object()) {
    j.erase("event_id");
    j.erase("token");
    if (j.contains("error") && j["error"].is_object()) j["error"].erase("message");
    for (auto& [key, value] : j.items()) DropVolatile(value);
  } else if (j.is_array()) {
    for (auto& value : j) DropVolatile(value);
  }
}

struct Observed {
  int status = 0;
  Json body;
};

class GoldenConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    nats_ = NatsServer::Start().value().release();
    SidecarOptions o;
    o.name = "native-host";
    std::ifstream in(SourceDir() + "/config/examples/native-host.yaml");
    std::stringstream text;
    text << in.rdbuf();
    o.config_yaml = text.str();
    o.env = {{"SERVICES", "all"}, {"NATS_URL", nats_->url()}, {"ADMIN", "127.0.0.1:0"},
             {"LISTEN", "127.0.0.1:0"}, {"FIXTURES", "true"}};
    host_ = SidecarProcess::Start(std::move(o)).value().release();
    gateway_ = LoopbackAddress(host_->HttpListenerPort("gateway", In(absl::Seconds(10))).value());
    client_ = NatsTestClient::Connect(nats_->url()).value().release();
  }
  static void TearDownTestSuite() {
    delete client_;
    delete host_;
    delete nats_;
  }

  static HttpHeaders Headers(const Json& step) {
    HttpHeaders headers = {{"Content-Type", "application/json"}};
    Json h = step.value("headers", Json::object());
    if (!h.contains("X-Request-Time")) headers.push_back({"X-Request-Time", kDefaultRequestTime});
    if (!h.contains("X-Principal")) headers.push_back({"X-Principal", kDefaultPrincipal});
    for (auto& [k, v] : h.items()) headers.push_back({k, v.get<std::string>()});
    return headers;
  }

  static std::string BodyText(const Json& step) {
    return step.contains("body") && !step["body"].is_null() ? step["body"].dump() : "";
  }

  Observed OverHttp(const std::string& method, const std::string& path, const HttpHeaders& headers,
                    const std::string& body) {
    auto r = HttpRequest(gateway_, method, path, headers, body, In(absl::Seconds(10)));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return {};
    return {r->status, Json::parse(r->body, nullptr, false)};
  }

  Observed OverNats(const std::string& service, const std::string& method, const std::string& path,
                    const HttpHeaders& headers, const std::string& body) {
    // The NATS form of the same call: the action and its JSON payload, from the schema's routes.
    std::string action = "_fixture";
    std::string payload = body;
    if (path != absl::StrCat("/api/", service, "/_fixture")) {
      auto transcoder = adapters::transcoding::Transcoder::Create(service);
      EXPECT_TRUE(transcoder.ok()) << transcoder.status();
      auto decoded = (*transcoder)->routes().Decode(method, path, body);
      EXPECT_TRUE(decoded.ok()) << decoded.status();
      if (!decoded.ok()) return {};
      action = decoded->action;
      payload = decoded->payload;
    }
    NatsRequestSpec request{absl::StrCat("svc.", service, ".v1.", action), {}, payload};
    for (const auto& [k, v] : headers) request.headers.push_back({k, v});
    auto reply = client_->Request(request, absl::Seconds(10));
    EXPECT_TRUE(reply.ok()) << reply.status();
    if (!reply.ok()) return {};
    const std::string code = reply->Header("Nats-Service-Error-Code");
    return {code.empty() ? 200 : std::stoi(code), Json::parse(reply->data, nullptr, false)};
  }

  void Replay(bool over_nats) {
    std::ifstream in(GetParam());
    Json golden = Json::parse(in, nullptr, false);
    ASSERT_TRUE(golden.is_object()) << GetParam();
    const std::string service = golden["service"];
    // Every file starts from its Given; no Given means empty state.
    const Json fixture = golden["fixture"].is_null() ? Json::object() : golden["fixture"];
    const HttpHeaders fixture_headers = {{"Content-Type", "application/json"},
                                         {"X-Request-Time", kDefaultRequestTime},
                                         {"X-Principal", kDefaultPrincipal}};
    const std::string fixture_path = absl::StrCat("/api/", service, "/_fixture");
    Observed loaded = over_nats ? OverNats(service, "POST", fixture_path, fixture_headers, fixture.dump())
                                : OverHttp("POST", fixture_path, fixture_headers, fixture.dump());
    ASSERT_EQ(loaded.status, 200) << "fixture: " << loaded.body.dump();

    int n = 0;
    for (const Json& step : golden["steps"]) {
      ++n;
      const std::string method = step["method"], path = step["path"];
      Observed got = over_nats ? OverNats(service, method, path, Headers(step), BodyText(step))
                               : OverHttp(method, path, Headers(step), BodyText(step));
      Json expected = step["expect"]["body"];
      DropVolatile(expected);
      DropVolatile(got.body);
      EXPECT_EQ(got.status, step["expect"]["status"].get<int>()) << "step " << n << " " << method << " " << path;
      EXPECT_EQ(got.body, expected) << "step " << n << " " << method << " " << path;
    }
  }

  static NatsServer* nats_;
  static SidecarProcess* host_;
  static std::string gateway_;
  static NatsTestClient* client_;
};

NatsServer* GoldenConformanceTest::nats_ = nullptr;
SidecarProcess* GoldenConformanceTest::host_ = nullptr;
std::string GoldenConformanceTest::gateway_;
NatsTestClient* GoldenConformanceTest::client_ = nullptr;

TEST_P(GoldenConformanceTest, OverTheGatewaysHttpRoutes) { Replay(/*over_nats=*/false); }
TEST_P(GoldenConformanceTest, OverNats) { Replay(/*over_nats=*/true); }

INSTANTIATE_TEST_SUITE_P(Golden, GoldenConformanceTest, ::testing::ValuesIn(GoldenFiles()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::filesystem::path p(info.param);
                           std::string name = p.parent_path().filename().string() + "_" + p.stem().string();
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace sidecar::test_common
