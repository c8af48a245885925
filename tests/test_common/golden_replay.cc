#include "tests/test_common/golden_replay.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "adapters/transcoding/transcoder.h"
#include "gtest/gtest.h"
#include "tests/test_common/paths.h"
#include "tests/test_common/test_util.h"

namespace sidecar::test_common {
namespace {

using Json = nlohmann::json;

constexpr char kDefaultRequestTime[] = "2025-11-20T12:00:00.000Z";
constexpr char kDefaultPrincipal[] = "admin:test";

HttpHeaders StepHeaders(const Json& step) {
  HttpHeaders headers = {{"Content-Type", "application/json"}};
  Json h = step.value("headers", Json::object());
  if (!h.contains("X-Request-Time")) headers.push_back({"X-Request-Time", kDefaultRequestTime});
  if (!h.contains("X-Principal")) headers.push_back({"X-Principal", kDefaultPrincipal});
  for (auto& [k, v] : h.items()) headers.push_back({k, v.get<std::string>()});
  return headers;
}

std::string BodyText(const Json& step) {
  return step.contains("body") && !step["body"].is_null() ? step["body"].dump() : "";
}

const HttpHeaders& FixtureHeaders() {
  static const HttpHeaders headers = {{"Content-Type", "application/json"},
                                      {"X-Request-Time", kDefaultRequestTime},
                                      {"X-Principal", kDefaultPrincipal}};
  return headers;
}

}  // namespace

std::vector<std::string> GoldenFiles(const std::vector<std::string>& services) {
  std::vector<std::string> files;
  const std::filesystem::path root = std::filesystem::path(SourceDir()) / "tests" / "golden";
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".json") continue;
    const std::string service = entry.path().parent_path().filename().string();
    if (!services.empty() && std::find(services.begin(), services.end(), service) == services.end()) continue;
    files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string GoldenTestName(const std::string& path) {
  std::filesystem::path p(path);
  std::string name = p.parent_path().filename().string() + "_" + p.stem().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

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

GoldenObserved GoldenReplayer::OverHttp(const std::string& service, const std::string& method,
                                        const std::string& path, const HttpHeaders& headers,
                                        const std::string& body) {
  auto r = HttpRequest(gateway_for_(service), method, path, headers, body, In(absl::Seconds(10)));
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return {};
  return {r->status, Json::parse(r->body, nullptr, false)};
}

GoldenObserved GoldenReplayer::OverNats(const std::string& service, const std::string& method,
                                        const std::string& path, const HttpHeaders& headers,
                                        const std::string& body) {
  // The NATS form of the same call: the action and its JSON payload, from the schema's routes.
  std::string action = "_fixture";
  std::string payload = body;
  if (path != absl::StrCat("/api/", service, "/_fixture")) {
    auto transcoder = adapters::transcoding::Transcoder::Create(service);
    EXPECT_TRUE(transcoder.ok()) << transcoder.status();
    if (!transcoder.ok()) return {};
    auto decoded = (*transcoder)->routes().Decode(method, path, body);
    EXPECT_TRUE(decoded.ok()) << decoded.status();
    if (!decoded.ok()) return {};
    action = decoded->action;
    payload = decoded->Payload();
  }
  NatsRequestSpec request{absl::StrCat("svc.", service, ".v1.", action), {}, payload};
  for (const auto& [k, v] : headers) request.headers.push_back({k, v});
  auto reply = nats_->Request(request, absl::Seconds(10));
  EXPECT_TRUE(reply.ok()) << reply.status();
  if (!reply.ok()) return {};
  const std::string code = reply->Header("Nats-Service-Error-Code");
  return {code.empty() ? 200 : std::stoi(code), Json::parse(reply->data, nullptr, false)};
}

void GoldenReplayer::Replay(const std::string& file, bool over_nats) {
  std::ifstream in(file);
  Json golden = Json::parse(in, nullptr, false);
  ASSERT_TRUE(golden.is_object()) << file;
  const std::string service = golden["service"];
  // The Given of the services this one calls, in their own processes.
  if (golden.contains("dependency_fixtures") && golden["dependency_fixtures"].is_object()) {
    for (auto& [dependency, document] : golden["dependency_fixtures"].items()) {
      GoldenObserved loaded = OverNats(dependency, "POST", absl::StrCat("/api/", dependency, "/_fixture"),
                                       FixtureHeaders(), document.dump());
      ASSERT_EQ(loaded.status, 200) << dependency << " fixture: " << loaded.body.dump();
    }
  }
  // Every file starts from its Given; no Given means empty state.
  const Json fixture = golden["fixture"].is_null() ? Json::object() : golden["fixture"];
  const std::string fixture_path = absl::StrCat("/api/", service, "/_fixture");
  GoldenObserved loaded = over_nats ? OverNats(service, "POST", fixture_path, FixtureHeaders(), fixture.dump())
                                    : OverHttp(service, "POST", fixture_path, FixtureHeaders(), fixture.dump());
  ASSERT_EQ(loaded.status, 200) << "fixture: " << loaded.body.dump();

  int n = 0;
  for (const Json& step : golden["steps"]) {
    ++n;
    const std::string method = step["method"], path = step["path"];
    GoldenObserved got = over_nats ? OverNats(service, method, path, StepHeaders(step), BodyText(step))
                                   : OverHttp(service, method, path, StepHeaders(step), BodyText(step));
    Json expected = step["expect"]["body"];
    DropVolatile(expected);
    DropVolatile(got.body);
    EXPECT_EQ(got.status, step["expect"]["status"].get<int>()) << "step " << n << " " << method << " " << path;
    EXPECT_EQ(got.body, expected) << "step " << n << " " << method << " " << path;
  }
}

}  // namespace sidecar::test_common
