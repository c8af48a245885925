// The shadow differ on its own: normalisation across wire forms, ignore patterns, §0.7 volatile
// fields, tolerances, and the helpers that keep reports bounded and free of secrets.

#include "sidecar/shadow/diff.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sidecar/shadow/status_page.h"

namespace sidecar::shadow {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

http::Response Json(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.headers.Set("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

std::vector<std::string> Paths(const http::Response& a, const http::Response& b, const DiffOptions& options = {},
                               bool pinned = false) {
  return Diff(Normalize(a), Normalize(b), options, pinned).paths;
}

TEST(DiffTest, IdenticalBodiesMatchWhateverTheKeyOrder) {
  EXPECT_THAT(Paths(Json(200, R"({"a":1,"b":{"c":[1,2]}})"), Json(200, R"({"b":{"c":[1,2]},"a":1})")), IsEmpty());
}

TEST(DiffTest, ReportsTheExactPathOfAChangedNestedField) {
  EXPECT_THAT(Paths(Json(200, R"({"items":[{"sku":"a","qty":1},{"sku":"b","qty":2}]})"),
                    Json(200, R"({"items":[{"sku":"a","qty":1},{"sku":"b","qty":3}]})")),
              ElementsAre("/items/1/qty"));
}

TEST(DiffTest, ReportsStatusAndArrayLengthDifferences) {
  EXPECT_THAT(Paths(Json(200, R"({"l":[1,2]})"), Json(404, R"({"l":[1,2,3]})")), ElementsAre("$status", "/l/2"));
}

TEST(DiffTest, NatsServiceErrorCodeIsTheStatusOfANatsReply) {
  http::Response nats = Json(200, R"({"error":{"code":"NOT_FOUND","message":"x","details":{}}})");
  nats.headers.Set("Nats-Service-Error-Code", "404");
  EXPECT_EQ(Normalize(nats).status, 404);
  EXPECT_THAT(Paths(Json(404, R"({"error":{"code":"NOT_FOUND","message":"y","details":{}}})"), nats,
                    BuildDiffOptions("settings", {}, {}, true)),
              IsEmpty());
}

TEST(DiffTest, Int64AsStringEqualsTheNumber) {
  EXPECT_THAT(Paths(Json(200, R"({"balance":"9007199254740993","n":"-4"})"),
                    Json(200, R"({"balance":9007199254740993,"n":-4})")),
              IsEmpty());
  // Not canonical integers: they stay strings.
  EXPECT_THAT(Paths(Json(200, R"({"code":"007"})"), Json(200, R"({"code":7})")), ElementsAre("/code"));
}

TEST(DiffTest, AbsentNullAndZeroValuesAreTheSame) {
  EXPECT_THAT(Paths(Json(200, R"({"a":"","b":0,"c":[],"d":null,"e":false})"), Json(200, R"({})")), IsEmpty());
  EXPECT_THAT(Paths(Json(200, R"({"a":""})"), Json(200, R"({"a":"x"})")), ElementsAre("/a"));
}

TEST(DiffTest, TimestampTextEqualsUnixMillis) {
  EXPECT_THAT(Paths(Json(200, R"({"expires_at":"2025-11-20T12:00:00.000Z"})"),
                    Json(200, R"({"expires_at":"1763640000000"})"), {}, /*pinned=*/true),
              IsEmpty());
  EXPECT_THAT(Paths(Json(200, R"({"expires_at":"2025-11-20T12:00:00.001Z"})"),
                    Json(200, R"({"expires_at":1763640000000})"), {}, /*pinned=*/true),
              ElementsAre("/expires_at"));
}

TEST(DiffTest, IgnorePatternsWithWildcardsAndDescendants) {
  DiffOptions options = BuildDiffOptions("shop", {"/items/*/qty", "/meta", "**/trace"}, {}, false);
  EXPECT_THAT(Paths(Json(200, R"({"items":[{"qty":1,"p":1}],"meta":{"a":{"b":1}},"x":{"y":{"trace":"1"}}})"),
                    Json(200, R"({"items":[{"qty":5,"p":1}],"meta":{"a":{"b":2}},"x":{"y":{"trace":"2"}}})"),
                    options),
              IsEmpty());
  EXPECT_THAT(Paths(Json(200, R"({"items":[{"qty":1,"p":1}]})"), Json(200, R"({"items":[{"qty":1,"p":2}]})"), options),
              ElementsAre("/items/0/p"));
}

TEST(DiffTest, VolatileFieldsOfSection07AreIgnoredByDefault) {
  DiffOptions options = BuildDiffOptions("settings", {}, {}, true);
  const auto a = Json(200, R"({"event_id":"e1","created_at":"2025-11-20T12:00:00.000Z","v":1})");
  const auto b = Json(200, R"({"event_id":"e2","created_at":"2025-11-21T08:00:00.000Z","v":1})");
  EXPECT_THAT(Paths(a, b, options, /*pinned=*/false), IsEmpty());
  // With X-Request-Time pinned, ts fields are compared again.
  EXPECT_THAT(Paths(a, b, options, /*pinned=*/true), ElementsAre("/created_at"));
  // error.message is free text; the code and details are not.
  EXPECT_THAT(Paths(Json(400, R"({"error":{"code":"INVALID_ARGUMENT","message":"a","details":{"field":"x"}}})"),
                    Json(400, R"({"error":{"code":"INVALID_ARGUMENT","message":"b","details":{"field":"y"}}})"),
                    options),
              ElementsAre("/error/details/field"));
  // Without the defaults everything is compared.
  EXPECT_THAT(Paths(a, b, BuildDiffOptions("settings", {}, {}, false)), ElementsAre("/created_at", "/event_id"));
}

TEST(DiffTest, ServiceSpecificVolatilesAndTolerances) {
  EXPECT_THAT(Paths(Json(200, R"({"token":"bbs_a","player_id":"p"})"), Json(200, R"({"token":"bbs_b","player_id":"p"})"),
                    BuildDiffOptions("auth", {}, {}, true)),
              IsEmpty());
  EXPECT_THAT(Paths(Json(200, R"({"hits":[{"score":1.0000001}]})"), Json(200, R"({"hits":[{"score":1.0000002}]})"),
                    BuildDiffOptions("knowledge-base", {}, {}, true)),
              IsEmpty());
  EXPECT_THAT(Paths(Json(200, R"({"probabilities_bp":{"rain":2500}})"), Json(200, R"({"probabilities_bp":{"rain":2501}})"),
                    BuildDiffOptions("weather-manager", {}, {}, true)),
              IsEmpty());
  EXPECT_THAT(Paths(Json(200, R"({"probabilities_bp":{"rain":2500}})"), Json(200, R"({"probabilities_bp":{"rain":2502}})"),
                    BuildDiffOptions("weather-manager", {}, {}, true)),
              ElementsAre("/probabilities_bp/rain"));
  const DiffOptions ai = BuildDiffOptions("ai-integration", {}, {}, true);
  EXPECT_THAT(Paths(Json(200, R"({"provider":"openai_compatible","text":"a","output_tokens":3})"),
                    Json(200, R"({"provider":"openai_compatible","text":"b","output_tokens":4})"), ai),
              IsEmpty());
  EXPECT_THAT(Paths(Json(200, R"({"provider":"template","text":"a"})"), Json(200, R"({"provider":"template","text":"b"})"),
                    ai),
              ElementsAre("/text"));
}

TEST(DiffTest, UserToleranceAppliesToMatchingNumbers) {
  DiffOptions options = BuildDiffOptions("shop", {}, {{"/price", 0.5}}, false);
  EXPECT_THAT(Paths(Json(200, R"({"price":10.2,"n":1})"), Json(200, R"({"price":10.6,"n":1})"), options), IsEmpty());
  EXPECT_THAT(Paths(Json(200, R"({"price":10.0})"), Json(200, R"({"price":10.6})"), options), ElementsAre("/price"));
}

TEST(DiffTest, NonJsonBodiesCompareAsText) {
  http::Response a, b;
  a.body = "plain";
  b.body = "plain";
  EXPECT_THAT(Paths(a, b), IsEmpty());
  b.body = "other";
  EXPECT_THAT(Paths(a, b), ElementsAre("$body"));
  EXPECT_THAT(Paths(a, Json(200, "{}")), ElementsAre("$body"));
}

TEST(DiffTest, ReportsAreBoundedPerComparison) {
  std::string x = "[", y = "[";
  for (int i = 0; i < 100; ++i) {
    x += (i ? "," : "") + std::to_string(i);
    y += (i ? "," : "") + std::to_string(i + 1);
  }
  DiffResult r = Diff(Normalize(Json(200, x + "]")), Normalize(Json(200, y + "]")), DiffOptions{}, false);
  EXPECT_EQ(r.paths.size(), 32u);
  EXPECT_EQ(r.truncated, 68u);
  EXPECT_FALSE(r.matched());
}

TEST(DiffTest, FoldIndicesForMetricLabels) {
  EXPECT_EQ(FoldIndices("/items/12/qty"), "/items/*/qty");
  EXPECT_EQ(FoldIndices("/a/b"), "/a/b");
  EXPECT_EQ(FoldIndices("$status"), "$status");
}

TEST(DiffTest, PathPatternGlobs) {
  EXPECT_TRUE(PathPattern::Parse("**/*_at").Covers({"a", "b", "created_at"}));
  EXPECT_TRUE(PathPattern::Parse("**/*_at").Covers({"created_at"}));
  EXPECT_FALSE(PathPattern::Parse("**/*_at").Covers({"attempts"}));
  EXPECT_TRUE(PathPattern::Parse("/a").Covers({"a", "b"}));
  EXPECT_FALSE(PathPattern::Parse("/a/b").Covers({"a"}));
  EXPECT_TRUE(PathPattern::Parse("/k~1v").Covers({"k/v"}));
}

TEST(DiffTest, RedactsSecretsAndCutsBodies) {
  const std::string out = RedactBody(R"({"user":"u","password":"hunter2","nested":{"api_key":"k"}})", 4096);
  EXPECT_THAT(out, Not(HasSubstr("hunter2")));
  EXPECT_THAT(out, Not(HasSubstr("\"k\"")));
  EXPECT_THAT(out, HasSubstr("<redacted>"));
  EXPECT_EQ(RedactBody(std::string(100, 'x'), 10), std::string(10, 'x') + "...(truncated)");
  EXPECT_TRUE(IsCredentialHeader("authorization"));
  EXPECT_TRUE(IsCredentialHeader("X-API-KEY"));
  EXPECT_FALSE(IsCredentialHeader("X-Principal"));
}

TEST(StatusPageTest, RendersRoutesRatesAndEscapedMismatches) {
  nlohmann::json routes = nlohmann::json::parse(
      R"([{"name":"api","prefix":"/api/","split":[{"cluster":"legacy","kind":"legacy","weight":100}],
           "shadow":{"cluster":"native","percent":25}}])");
  nlohmann::json stats = nlohmann::json::parse(
      R"({"api":{"matched":3,"mismatched":1,"error":0,"dropped":0,"match_rate":0.75,
                 "mismatch_paths":{"/qty":1},"noise_paths":["/nonce"]}})");
  nlohmann::json mismatches = nlohmann::json::parse(
      R"([{"time":"t","route":"api","request":{"method":"GET","path":"/api/x"},"paths":["/qty"],
           "primary":{"cluster":"legacy","status":200,"body":"<script>"},"shadow":{"cluster":"native","status":200,"body":"{}"}}])");
  const std::string html = RenderStatusPage(routes, stats, mismatches);
  EXPECT_THAT(html, HasSubstr("75.00 %"));
  EXPECT_THAT(html, HasSubstr("<code>native</code> 25 %"));
  EXPECT_THAT(html, HasSubstr("/nonce"));
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;"));
  EXPECT_THAT(html, Not(HasSubstr("<script>")));
  EXPECT_THAT(html, Not(HasSubstr("CPU pressure")));
}

TEST(StatusPageTest, SaysHowMuchOfARoutesShadowItsCpuPressureLineAdmits) {
  nlohmann::json routes = nlohmann::json::parse(R"([{"name":"api","shadow":{"cluster":"native","percent":100}}])");
  nlohmann::json held_back = nlohmann::json::parse(
      R"({"api":{"matched":3,"dropped":1,"paused":9,"match_rate":1.0,
                 "cpu_pressure_pause":{"above":0.5,"pressure":0.62,"admitted":0.25}}})");
  EXPECT_THAT(RenderStatusPage(routes, held_back, nlohmann::json::array()),
              HasSubstr("<div class=\"bad\">CPU pressure line 50.00 % (now 62.00 %): admits 25.00 % of mirrors, "
                        "skipped 9</div>"));
  nlohmann::json unknown = nlohmann::json::parse(
      R"({"api":{"matched":3,"cpu_pressure_pause":{"above":0.5,"pressure":null,"admitted":1.0}}})");
  EXPECT_THAT(RenderStatusPage(routes, unknown, nlohmann::json::array()),
              HasSubstr("<div class=\"muted\">CPU pressure line 50.00 % (now unknown): admits 100.00 % of mirrors, "
                        "skipped 0</div>"));
}

}  // namespace
}  // namespace sidecar::shadow
