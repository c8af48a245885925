// The legacy stand-ins (tests/legacy, FastAPI) against the same cases as the native ports: every
// tests/golden/<service>/*.json of the services the stand-ins implement (auth, settings, payment,
// quest-system) plus tests/legacy/cases/<service>/*.json (longer sequences recorded from the
// native ports), replayed over HTTP. Comparison per SERVICES.md §0.7, as in
// golden_conformance_test.cc: status, error code and details, and the body, volatile fields
// dropped. One stand-in process serves a whole file; each file starts from its Given
// (POST /api/<service>/_fixture, `{}` when there is none).

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_common/http_client.h"
#include "tests/test_common/legacy_service.h"
#include "tests/test_common/paths.h"
#include "tests/test_common/test_util.h"

namespace sidecar::test_common {
namespace {

using Json = nlohmann::json;

constexpr char kDefaultRequestTime[] = "2025-11-20T12:00:00.000Z";
constexpr char kDefaultPrincipal[] = "admin:test";
// The services tests/legacy implements (issue 7 item 6); other golden folders are native-only.
const char* const kServices[] = {"auth", "settings", "payment", "quest-system"};

std::vector<std::string> CaseFiles() {
  std::vector<std::string> files;
  const std::filesystem::path source = SourceDir();
  for (const char* service : kServices) {
    for (const auto& root : {source / "tests" / "golden" / service, source / "tests" / "legacy" / "cases" / service}) {
      if (!std::filesystem::is_directory(root)) continue;
      for (const auto& entry : std::filesystem::directory_iterator(root)) {
        if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path().string());
      }
    }
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

class LegacyConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    auto legacy = LegacyService::Start();
    ASSERT_TRUE(legacy.ok()) << legacy.status();
    legacy_ = legacy->release();
  }
  static void TearDownTestSuite() {
    delete legacy_;
    legacy_ = nullptr;
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

  static LegacyService* legacy_;
};

LegacyService* LegacyConformanceTest::legacy_ = nullptr;

TEST_P(LegacyConformanceTest, MatchesOverHttp) {
  ASSERT_NE(legacy_, nullptr);
  std::ifstream in(GetParam());
  const Json golden = Json::parse(in, nullptr, false);
  ASSERT_TRUE(golden.is_object()) << GetParam();
  const std::string service = golden["service"];
  const Json fixture = golden["fixture"].is_null() ? Json::object() : golden["fixture"];
  const auto started = std::chrono::steady_clock::now();

  auto loaded = HttpRequest(legacy_->address(), "POST", absl::StrCat("/api/", service, "/_fixture"),
                            {{"Content-Type", "application/json"},
                             {"X-Request-Time", kDefaultRequestTime},
                             {"X-Principal", kDefaultPrincipal}},
                            fixture.dump(), In(absl::Seconds(10)));
  ASSERT_TRUE(loaded.ok()) << loaded.status() << "\n" << legacy_->output();
  ASSERT_EQ(loaded->status, 200) << "fixture: " << loaded->body;

  int n = 0;
  for (const Json& step : golden["steps"]) {
    ++n;
    const std::string method = step["method"], path = step["path"];
    auto got = HttpRequest(legacy_->address(), method, path, Headers(step), BodyText(step), In(absl::Seconds(10)));
    ASSERT_TRUE(got.ok()) << "step " << n << ": " << got.status() << "\n" << legacy_->output();
    Json body = Json::parse(got->body, nullptr, false);
    Json expected = step["expect"]["body"];
    DropVolatile(expected);
    DropVolatile(body);
    EXPECT_EQ(got->status, step["expect"]["status"].get<int>()) << "step " << n << " " << method << " " << path;
    EXPECT_EQ(body, expected) << "step " << n << " " << method << " " << path;
  }
  // Speed is printed, never asserted.
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  std::printf("[ timing ] %s: fixture + %d steps in %lld ms\n", GetParam().c_str(), n, static_cast<long long>(ms));
}

INSTANTIATE_TEST_SUITE_P(Cases, LegacyConformanceTest, ::testing::ValuesIn(CaseFiles()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::filesystem::path p(info.param);
                           const std::string kind = p.parent_path().parent_path().filename() == "golden" ? "golden" : "case";
                           std::string name = kind + "_" + p.parent_path().filename().string() + "_" + p.stem().string();
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace sidecar::test_common
