// Replays tests/golden/auth/*.json against the port in process (a stand-in for the lead's runner in
// every target): fixture through `_fixture`, each step's path mapped to its action, headers
// defaulted as the README says, bodies compared after dropping the §0.7 volatile fields of auth.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "tests/services/auth/auth_harness.h"

namespace sidecar::services::auth_test {
namespace {

using nlohmann::json;

// ctest sets SIDECAR_SOURCE_DIR; a binary run by hand falls back to the configured source dir.
std::filesystem::path GoldenDir() {
  const char* root = std::getenv("SIDECAR_SOURCE_DIR");
  return std::filesystem::path(root != nullptr ? root : AUTH_TEST_SOURCE_DIR) / "tests" / "golden" /
         "auth";
}

// POST /api/auth/<action>, or /api/auth/players/{player_id}/password (change_password).
bool RouteOf(const std::string& path, std::string& action, json& body) {
  const std::string prefix = "/api/auth/";
  if (path.rfind(prefix, 0) != 0) return false;
  std::string rest = path.substr(prefix.size());
  const std::string players = "players/";
  if (rest.rfind(players, 0) == 0 && rest.size() > players.size() + 9 &&
      rest.compare(rest.size() - 9, 9, "/password") == 0) {
    action = "change_password";
    body["player_id"] = rest.substr(players.size(), rest.size() - players.size() - 9);
    return true;
  }
  action = rest;
  return true;
}

// §0.7: error.message, event ids and auth `token` are volatile (ts are pinned by X-Request-Time).
json DropVolatile(json body) {
  if (body.is_object()) {
    body.erase("token");
    if (body.contains("error") && body["error"].is_object()) body["error"].erase("message");
  }
  return body;
}

void Replay(const std::filesystem::path& file) {
  SCOPED_TRACE(file.string());
  std::ifstream in(file);
  ASSERT_TRUE(in) << "cannot read " << file;
  std::stringstream text;
  text << in.rdbuf();
  json golden = json::parse(text.str(), nullptr, false);
  ASSERT_FALSE(golden.is_discarded());
  EXPECT_EQ(golden["service"], "auth");
  AuthHarness h;
  if (!golden["fixture"].is_null()) {
    Reply f = h.Fixture(golden["fixture"].dump());
    ASSERT_EQ(f.status, 200) << f.body.dump();
  }
  int index = 0;
  for (const json& step : golden["steps"]) {
    SCOPED_TRACE("step " + std::to_string(index++));
    EXPECT_EQ(step["method"], "POST");  // every auth route is a POST
    std::string action;
    json body = step["body"].is_null() ? json::object() : step["body"];
    ASSERT_TRUE(RouteOf(step["path"], action, body)) << step["path"];
    Headers headers;
    const json& given = step.contains("headers") ? step["headers"] : json::object();
    if (given.contains("X-Request-Time")) headers.time = given["X-Request-Time"].get<std::string>();
    if (given.contains("X-Principal")) headers.principal = given["X-Principal"].get<std::string>();
    Reply r = h.Call(action, body.dump(), headers);
    EXPECT_EQ(r.status, step["expect"]["status"]);
    EXPECT_EQ(DropVolatile(r.body), DropVolatile(step["expect"]["body"])) << r.body.dump();
  }
}

TEST(AuthGoldenTest, EveryExampleReplaysExactly) {
  std::vector<std::filesystem::path> files;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(GoldenDir(), error)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  ASSERT_FALSE(error) << GoldenDir() << ": " << error.message();
  std::sort(files.begin(), files.end());
  ASSERT_EQ(files.size(), 2u) << "one golden file per SERVICES.md §2.1 example";
  EXPECT_EQ(files[0].filename(), "01-register.json");
  EXPECT_EQ(files[1].filename(), "02-lockout.json");
  for (const auto& f : files) Replay(f);
}

}  // namespace
}  // namespace sidecar::services::auth_test
