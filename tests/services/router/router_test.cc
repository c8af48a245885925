// router (SERVICES.md §2.6) through its registry: both examples and the golden files, every
// numbered rule and the RT resolutions, the §0.4 check order, caps, events and store failures.

#include <string>

#include "gtest/gtest.h"
#include "services/common/determinism.h"
#include "services/router/router_rules.h"
#include "services/router/router_service.h"
#include "services/router/router_store.h"
#include "tests/services/common/port_harness.h"
#include "tests/services/common/test_stores.h"

namespace sidecar::services {
namespace {

using testing::AsPlayer;
using testing::Error;
using testing::Headers;
using testing::InvalidArg;
using testing::Json;
using testing::kPlayerP;
using testing::PortHarness;
using testing::Reply;

const std::string P(kPlayerP);

// The §2.6 Given.
Json SpecTable() {
  return Json::parse(R"({
    "routes": [
      {"route_id": "r-mobile-v2", "order": 5, "platform": "mobile", "version_range": ">=1.5.0", "api_version": "v2", "status": "supported"},
      {"route_id": "r-legacy", "order": 10, "platform": "*", "version_range": "<1.4.0", "api_version": "v1", "status": "blocked"},
      {"route_id": "r-v1", "order": 20, "platform": "*", "version_range": ">=1.4.0 <1.6.0", "api_version": "v1", "status": "deprecated"},
      {"route_id": "r-v2", "order": 30, "platform": "*", "version_range": ">=1.6.0", "api_version": "v2", "status": "supported"}],
    "flags": [
      {"flag_key": "guild_halls", "enabled": true, "rollout_bp": 5000, "min_client_version": "1.6.0"},
      {"flag_key": "ashen_market", "enabled": true, "rollout_bp": 10000, "platforms": ["pc"]}],
    "table_revision": 14})");
}

Json RouteBody(const std::string& id, int order, const std::string& platform,
               const std::string& range, const std::string& api = "v1",
               const std::string& status = "supported") {
  return {{"route_id", id}, {"order", order}, {"platform", platform},
          {"version_range", range}, {"api_version", api}, {"status", status}};
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() : h_("router", MakeRouterService) {}

  Reply PutRoute(const Json& body, const Headers& headers = {}) {
    return h_.Call("put_route", body.dump(), headers);
  }
  Reply PutFlag(const Json& body, const Headers& headers = {}) {
    return h_.Call("put_flag", body.dump(), headers);
  }
  Reply Resolve(const std::string& version, const std::string& platform,
                const std::string& player = P, const Headers& headers = {}) {
    Json body = {{"client_version", version}, {"platform", platform}, {"player_id", player}};
    return h_.Call("resolve", body.dump(), headers);
  }
  Reply List() { return h_.Call("list_routes", "{}"); }

  PortHarness h_;
};

// ---- registry, fixtures, examples ----

TEST_F(RouterTest, RegistersEveryActionOfTheProto) {
  EXPECT_TRUE(VerifyRegistry("router", h_.registry()).ok());
  EXPECT_NE(h_.registry().Find("_fixture"), nullptr);
}

TEST(RouterFixtureTest, DisabledFixtureIsPermissionDenied) {
  PortHarness h("router", MakeRouterService, /*fixtures_enabled=*/false);
  EXPECT_EQ(h.Fixture(Json::object()).body, Error("PERMISSION_DENIED"));
}

TEST_F(RouterTest, FixtureIsListedInListOrder) {
  h_.LoadFixture(SpecTable());
  Reply r = List();
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["table_revision"], 14);
  EXPECT_EQ(r.body["routes"][0]["route_id"], "r-mobile-v2");
  EXPECT_EQ(r.body["routes"][3]["route_id"], "r-v2");
  EXPECT_EQ(r.body["flags"][0], Json::parse(R"({"flag_key":"ashen_market","enabled":true,
      "rollout_bp":10000,"platforms":["pc"],"min_client_version":""})"));
  EXPECT_EQ(r.body["flags"][1]["flag_key"], "guild_halls");
  EXPECT_EQ(h_.Fixture(Json::parse(R"({"routes":[{"order":"x"}]})")).body,
            InvalidArg("routes[0].route_id", "required"));
}

TEST_F(RouterTest, GoldenFilesReplay) {
  const auto files = testing::GoldenPaths("router");
  ASSERT_EQ(files.size(), 2u);
  for (const auto& file : files) testing::RunGolden(MakeRouterService, file);
}

TEST_F(RouterTest, Example1RolloutBucketIsTheSpecVector) {
  EXPECT_EQ(Bucket("guild_halls:" + P), 8002u);  // ≥ 5000: off for this player
  h_.LoadFixture(SpecTable());
  Reply r = h_.CallHttp("POST", "/api/router/resolve",
                        R"({"client_version":"1.6.2","platform":"pc","player_id":")" + P + "\"}");
  EXPECT_EQ(r.body, Json::parse(R"({"route_id":"r-v2","api_version":"v2","status":"supported",
      "update_required":false,"flags":{"ashen_market":true,"guild_halls":false},"table_revision":14})"));
}

TEST_F(RouterTest, Example2BlockedClientGetsNoFlags) {
  h_.LoadFixture(SpecTable());
  EXPECT_EQ(Resolve("1.3.9", "console").body, Json::parse(R"({"route_id":"r-legacy",
      "api_version":"v1","status":"blocked","update_required":true,"flags":{},"table_revision":14})"));
}

// ---- rule 1: field checks (table order, first failure wins) ----

TEST_F(RouterTest, Rule1PutRouteFieldChecks) {
  Json ok = RouteBody("r-1", 0, "*", "*");
  auto with = [&](const std::string& field, const Json& value) {
    Json body = ok;
    body[field] = value;
    return PutRoute(body).body;
  };
  EXPECT_EQ(with("route_id", "").dump(), InvalidArg("route_id", "required").dump());
  EXPECT_EQ(with("route_id", std::string(49, 'a')), InvalidArg("route_id", "too_long"));
  EXPECT_EQ(with("route_id", "R1"), InvalidArg("route_id", "pattern"));
  EXPECT_EQ(with("order", -1), InvalidArg("order", "out_of_range"));
  EXPECT_EQ(with("order", 100001), InvalidArg("order", "out_of_range"));
  EXPECT_EQ(with("platform", ""), InvalidArg("platform", "required"));
  EXPECT_EQ(with("platform", "web"), InvalidArg("platform", "unknown_value"));
  EXPECT_EQ(with("version_range", ""), InvalidArg("version_range", "required"));
  EXPECT_EQ(with("version_range", "1.0.0"), InvalidArg("version_range", "pattern"));
  EXPECT_EQ(with("api_version", "v"), InvalidArg("api_version", "too_short"));
  EXPECT_EQ(with("api_version", "v1000"), InvalidArg("api_version", "too_long"));
  EXPECT_EQ(with("api_version", "v0"), InvalidArg("api_version", "pattern"));
  EXPECT_EQ(with("status", "retired"), InvalidArg("status", "unknown_value"));
  EXPECT_EQ(with("status", ""), InvalidArg("status", "required"));
  // Table order: the first failing field is reported.
  Json two = ok;
  two["order"] = -5;
  two["status"] = "nope";
  EXPECT_EQ(PutRoute(two).body, InvalidArg("order", "out_of_range"));
  EXPECT_TRUE(with("order", 100000).contains("route_id"));
  EXPECT_TRUE(with("api_version", "v999").contains("route_id"));
}

TEST_F(RouterTest, Rule1PutFlagFieldChecksAndRT2) {
  Json ok = {{"flag_key", "f"}, {"enabled", true}, {"rollout_bp", 10}};
  auto with = [&](const std::string& field, const Json& value) {
    Json body = ok;
    body[field] = value;
    return PutFlag(body).body;
  };
  EXPECT_EQ(with("flag_key", ""), InvalidArg("flag_key", "required"));
  EXPECT_EQ(with("flag_key", "a" + std::string(48, 'b')), InvalidArg("flag_key", "too_long"));
  EXPECT_EQ(with("flag_key", "1abc"), InvalidArg("flag_key", "pattern"));
  EXPECT_EQ(with("rollout_bp", -1), InvalidArg("rollout_bp", "out_of_range"));
  EXPECT_EQ(with("rollout_bp", 10001), InvalidArg("rollout_bp", "out_of_range"));
  EXPECT_EQ(with("platforms", Json::array({"pc", "*"})), InvalidArg("platforms[1]", "unknown_value"));
  EXPECT_EQ(with("platforms", Json::array({""})), InvalidArg("platforms[0]", "too_short"));
  // RT2: the later duplicate is malformed.
  EXPECT_EQ(with("platforms", Json::array({"pc", "mobile", "pc"})),
            InvalidArg("platforms[2]", "malformed"));
  // RT3: versions have no length bounds; any syntax failure is `pattern`.
  EXPECT_EQ(with("min_client_version", "1.0"), InvalidArg("min_client_version", "pattern"));
  EXPECT_EQ(with("min_client_version", "1.0.0000000"), InvalidArg("min_client_version", "pattern"));
  EXPECT_TRUE(with("min_client_version", "").contains("flag_key"));
  EXPECT_TRUE(with("platforms", Json::array({"pc", "console", "mobile"})).contains("flag_key"));
}

TEST_F(RouterTest, Rule1ResolveFieldChecksRT1AndRT3) {
  EXPECT_EQ(Resolve("", "pc").body, InvalidArg("client_version", "required"));
  EXPECT_EQ(Resolve("1.6", "pc").body, InvalidArg("client_version", "pattern"));
  EXPECT_EQ(Resolve("1.6.2-beta", "pc").body, InvalidArg("client_version", "pattern"));
  EXPECT_EQ(Resolve("1.6.2", "").body, InvalidArg("platform", "required"));
  // N11: `*` is for routes only.
  EXPECT_EQ(Resolve("1.6.2", "*").body, InvalidArg("platform", "unknown_value"));
  // RT1: player_id is required and any mismatch is `pattern`.
  EXPECT_EQ(Resolve("1.6.2", "pc", "").body, InvalidArg("player_id", "required"));
  EXPECT_EQ(Resolve("1.6.2", "pc", "pl_1").body, InvalidArg("player_id", "pattern"));
  EXPECT_EQ(Resolve("1.6.2", "pc", "pl_A8694C9D17E9B948").body, InvalidArg("player_id", "pattern"));
  EXPECT_EQ(Resolve("1.6.2", "pc", P + "0").body, InvalidArg("player_id", "pattern"));
}

// ---- rule 2: versions and ranges ----

TEST(RouterRulesTest, Rule2VersionsAreNumericWithoutLeadingZeros) {
  using router::ParseVersion;
  EXPECT_TRUE(ParseVersion("0.0.0"));
  EXPECT_TRUE(ParseVersion("999999.999999.999999"));
  EXPECT_FALSE(ParseVersion("1000000.0.0"));
  EXPECT_FALSE(ParseVersion("01.0.0"));
  EXPECT_FALSE(ParseVersion("1.0"));
  EXPECT_FALSE(ParseVersion("1.0.0.0"));
  EXPECT_FALSE(ParseVersion("1.0.0-rc1"));
  EXPECT_FALSE(ParseVersion("1.0.0+b"));
  EXPECT_FALSE(ParseVersion("1..0"));
  EXPECT_FALSE(ParseVersion("a.b.c"));
  // Numeric comparison, not textual: 1.10.0 > 1.9.0.
  EXPECT_TRUE(*ParseVersion("1.9.0") < *ParseVersion("1.10.0"));
}

TEST(RouterRulesTest, Rule2RangesAreStarOrOneToFourComparators) {
  using router::IsValidRange;
  using router::ParseVersion;
  using router::RangeMatches;
  EXPECT_TRUE(IsValidRange("*"));
  EXPECT_TRUE(IsValidRange(">=1.0.0 <2.0.0 >1.0.1 =1.5.0"));
  EXPECT_FALSE(IsValidRange(">=1.0.0 <2.0.0 >1.0.1 <=1.5.0 >0.0.1"));  // 5 comparators
  EXPECT_FALSE(IsValidRange(">=1.0.0  <2.0.0"));                          // N12: double space
  EXPECT_FALSE(IsValidRange(" >=1.0.0"));
  EXPECT_FALSE(IsValidRange(">=1.0.0 "));
  EXPECT_FALSE(IsValidRange("=>1.0.0"));
  EXPECT_FALSE(IsValidRange(">= 1.0.0"));
  EXPECT_FALSE(IsValidRange("* >=1.0.0"));
  EXPECT_FALSE(IsValidRange(""));
  const auto v = *ParseVersion("1.5.0");
  EXPECT_TRUE(RangeMatches("*", v));
  EXPECT_TRUE(RangeMatches(">=1.5.0", v));
  EXPECT_FALSE(RangeMatches(">1.5.0", v));
  EXPECT_TRUE(RangeMatches("<=1.5.0", v));
  EXPECT_FALSE(RangeMatches("<1.5.0", v));
  EXPECT_TRUE(RangeMatches("=1.5.0", v));
  EXPECT_TRUE(RangeMatches(">=1.4.0 <1.6.0", v));   // all must hold
  EXPECT_FALSE(RangeMatches(">=1.4.0 <1.5.0", v));
}

// ---- rule 3: resolve picks the first route by (order, route_id) ----

TEST_F(RouterTest, Rule3FirstMatchByOrderThenRouteIdPlatformOrStar) {
  ASSERT_TRUE(PutRoute(RouteBody("b-star", 10, "*", "*", "v2")).ok());
  ASSERT_TRUE(PutRoute(RouteBody("a-star", 10, "*", "*", "v3")).ok());  // same order: id wins
  ASSERT_TRUE(PutRoute(RouteBody("mobile", 1, "mobile", ">=2.0.0", "v4")).ok());
  EXPECT_EQ(Resolve("1.0.0", "pc").body["route_id"], "a-star");
  EXPECT_EQ(Resolve("2.0.0", "mobile").body["route_id"], "mobile");
  EXPECT_EQ(Resolve("1.0.0", "mobile").body["route_id"], "a-star");  // range fails: next route
  Reply r = Resolve("2.0.0", "console");
  EXPECT_EQ(r.body["api_version"], "v3");
  EXPECT_EQ(r.body["update_required"], false);
}

TEST_F(RouterTest, Rule3NoMatchingRouteIsNotFoundNoRouteRT7) {
  EXPECT_EQ(Resolve("1.0.0", "pc").body, Error("NOT_FOUND", {{"reason", "no_route"}}));
  ASSERT_TRUE(PutRoute(RouteBody("m", 1, "mobile", "*")).ok());
  EXPECT_EQ(Resolve("1.0.0", "pc").status, 404);
}

TEST_F(RouterTest, Rule3BlockedMeansUpdateRequiredDeprecatedDoesNot) {
  h_.LoadFixture(SpecTable());
  Reply r = Resolve("1.5.0", "pc");
  EXPECT_EQ(r.body["route_id"], "r-v1");
  EXPECT_EQ(r.body["status"], "deprecated");
  EXPECT_EQ(r.body["update_required"], false);
  EXPECT_EQ(Resolve("1.3.9", "pc").body["update_required"], true);
  EXPECT_EQ(Resolve("1.5.0", "mobile").body["route_id"], "r-mobile-v2");
}

// ---- rule 4: flags ----

TEST_F(RouterTest, Rule4FlagConditionsAndRolloutBucket) {
  ASSERT_TRUE(PutRoute(RouteBody("all", 1, "*", "*")).ok());
  const std::string q = "pl_0000000000000001";
  const uint32_t bucket = Bucket("ramp:" + q);
  ASSERT_TRUE(PutFlag({{"flag_key", "off"}, {"enabled", false}, {"rollout_bp", 10000}}).ok());
  ASSERT_TRUE(PutFlag({{"flag_key", "zero"}, {"enabled", true}, {"rollout_bp", 0}}).ok());
  ASSERT_TRUE(PutFlag({{"flag_key", "ramp_below"}, {"enabled", true},
                       {"rollout_bp", Bucket("ramp_below:" + q) + 1}}).ok());
  ASSERT_TRUE(PutFlag({{"flag_key", "ramp"}, {"enabled", true}, {"rollout_bp", bucket}}).ok());
  ASSERT_TRUE(PutFlag({{"flag_key", "console_only"}, {"enabled", true}, {"rollout_bp", 10000},
                       {"platforms", {"console"}}}).ok());
  ASSERT_TRUE(PutFlag({{"flag_key", "new_client"}, {"enabled", true}, {"rollout_bp", 10000},
                       {"min_client_version", "2.0.0"}}).ok());
  Json flags = Resolve("1.9.9", "pc", q).body["flags"];
  EXPECT_EQ(flags, Json::parse(R"({"off":false,"zero":false,"ramp_below":true,"ramp":false,
      "console_only":false,"new_client":false})"));
  flags = Resolve("2.0.0", "console", q).body["flags"];
  EXPECT_EQ(flags["console_only"], true);
  EXPECT_EQ(flags["new_client"], true);  // client_version ≥ min_client_version
}

TEST_F(RouterTest, RT4RolloutZeroIsFalseForEveryPlayer) {
  ASSERT_TRUE(PutRoute(RouteBody("all", 1, "*", "*")).ok());
  ASSERT_TRUE(PutFlag({{"flag_key", "zero"}, {"enabled", true}, {"rollout_bp", 0}}).ok());
  for (const char* player : {"pl_0000000000000000", "pl_ffffffffffffffff", kPlayerP.data()}) {
    EXPECT_EQ(Resolve("1.0.0", "pc", player).body["flags"]["zero"], false) << player;
  }
}

// ---- rule 5: revisions, order, events ----

TEST_F(RouterTest, Rule5RevisionCountsPutsAndRemovingDeletesRT5) {
  EXPECT_EQ(PutRoute(RouteBody("a", 2, "*", "*")).body,
            Json::parse(R"({"route_id":"a","table_revision":1})"));
  // RT5: an identical put still bumps the revision.
  EXPECT_EQ(PutRoute(RouteBody("a", 2, "*", "*")).body["table_revision"], 2);
  EXPECT_EQ(PutFlag({{"flag_key", "f"}}).body, Json::parse(R"({"flag_key":"f","table_revision":3})"));
  EXPECT_EQ(h_.Call("delete_route", R"({"route_id":"zz"})").body,
            Json::parse(R"({"deleted":false,"table_revision":3})"));
  EXPECT_EQ(h_.CallHttp("DELETE", "/api/router/routes/a", "").body,
            Json::parse(R"({"deleted":true,"table_revision":4})"));
  EXPECT_EQ(List().body, Json::parse(R"({"routes":[],"flags":[{"flag_key":"f","enabled":false,
      "rollout_bp":0,"platforms":[],"min_client_version":""}],"table_revision":4})"));
}

TEST_F(RouterTest, Rule5ListOrderIsOrderThenRouteIdAndFlagKey) {
  ASSERT_TRUE(PutRoute(RouteBody("c", 5, "*", "*")).ok());
  ASSERT_TRUE(PutRoute(RouteBody("b", 7, "*", "*")).ok());
  ASSERT_TRUE(PutRoute(RouteBody("a", 7, "*", "*")).ok());
  ASSERT_TRUE(PutRoute(RouteBody("c", 9, "pc", ">1.0.0", "v7", "blocked")).ok());  // replace moves it
  ASSERT_TRUE(PutFlag({{"flag_key", "zeta"}}).ok());
  ASSERT_TRUE(PutFlag({{"flag_key", "alpha"}, {"platforms", {"mobile", "pc"}}}).ok());
  Reply r = List();
  std::vector<std::string> ids;
  for (const Json& route : r.body["routes"]) ids.push_back(route["route_id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(r.body["routes"][2], RouteBody("c", 9, "pc", ">1.0.0", "v7", "blocked"));
  EXPECT_EQ(r.body["flags"][0]["flag_key"], "alpha");
  EXPECT_EQ(r.body["flags"][0]["platforms"], Json::array({"mobile", "pc"}));  // given order
  EXPECT_EQ(r.body["flags"][1]["flag_key"], "zeta");
}

TEST_F(RouterTest, EventsTableChangedPerCommittedChange) {
  ASSERT_TRUE(PutRoute(RouteBody("a", 1, "*", "*")).ok());
  ASSERT_TRUE(PutFlag({{"flag_key", "f"}}).ok());
  ASSERT_TRUE(h_.Call("delete_route", R"({"route_id":"nope"})").ok());  // nothing removed
  ASSERT_TRUE(h_.Call("delete_route", R"({"route_id":"a"})").ok());
  ASSERT_TRUE(Resolve("1.0.0", "pc").code() == "NOT_FOUND");  // reads publish nothing
  std::vector<Json> events = h_.Events();
  ASSERT_EQ(events.size(), 3u);
  auto expect = [](int revision, const char* change, const char* id) {
    return Json{{"subject", "evt.router.v1.table_changed"}, {"occurred_at", "2025-11-20T12:00:00.000Z"},
                {"table_revision", revision}, {"change", change}, {"id", id}};
  };
  EXPECT_EQ(events[0], expect(1, "route_put", "a"));
  EXPECT_EQ(events[1], expect(2, "flag_put", "f"));
  EXPECT_EQ(events[2], expect(3, "route_deleted", "a"));
  // Distinct occurrences never share a Nats-Msg-Id.
  auto raw = h_.RawEvents();
  EXPECT_NE(raw[0].event_id, raw[1].event_id);
  EXPECT_NE(raw[1].event_id, raw[2].event_id);
}

// ---- RT6: caps ----

TEST_F(RouterTest, RT6TwoHundredRoutesAndFlagsThenLimitExceeded) {
  Json routes = Json::array();
  Json flags = Json::array();
  for (int i = 0; i < 200; ++i) {
    routes.push_back(RouteBody("r" + std::to_string(i), i, "*", "*"));
    flags.push_back({{"flag_key", "f" + std::to_string(i)}});
  }
  h_.LoadFixture({{"routes", routes}, {"flags", flags}, {"table_revision", 7}});
  const Json limit = Error("RESOURCE_EXHAUSTED", {{"reason", "limit_exceeded"}, {"limit", "200"}});
  EXPECT_EQ(PutRoute(RouteBody("one-more", 1, "*", "*")).body, limit);
  EXPECT_EQ(PutFlag({{"flag_key", "one_more"}}).body, limit);
  // Replacing at the cap succeeds (§0.4 caps count existing entities).
  EXPECT_EQ(PutRoute(RouteBody("r5", 1, "pc", "*")).body["table_revision"], 8);
  EXPECT_EQ(PutFlag({{"flag_key", "f5"}, {"enabled", true}}).body["table_revision"], 9);
  // A failed put changes nothing: no revision, no event.
  EXPECT_EQ(List().body["routes"].size(), 200u);
  EXPECT_EQ(h_.Events().size(), 2u);
}

// ---- §0.3 / §0.4 authorization and order ----

TEST_F(RouterTest, WritesAreServiceOrAdminAfterFieldChecks) {
  const Headers player = AsPlayer();
  EXPECT_EQ(PutRoute(RouteBody("a", 1, "*", "*"), player).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(PutFlag({{"flag_key", "f"}}, player).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(h_.Call("delete_route", R"({"route_id":"a"})", player).body, Error("PERMISSION_DENIED"));
  // Field checks come first (§0.4 step 2 before 3).
  EXPECT_EQ(PutRoute(RouteBody("", 1, "*", "*"), player).body, InvalidArg("route_id", "required"));
  const Headers service{"service:gateway", std::string(testing::kSpecTime)};
  EXPECT_TRUE(PutRoute(RouteBody("a", 1, "*", "*"), service).ok());
  EXPECT_TRUE(h_.Call("list_routes", "{}", player).ok());  // reads: any principal
  EXPECT_EQ(h_.Call("list_routes", "{}", Headers{"", std::string(testing::kSpecTime)}).body,
            Error("UNAUTHENTICATED"));
  EXPECT_EQ(PutRoute(RouteBody("a", 1, "*", "*"), Headers{"nobody", ""}).body,
            Error("UNAUTHENTICATED"));
}

TEST_F(RouterTest, ResolveIsPublic) {
  h_.LoadFixture(SpecTable());
  const Headers anonymous{"", std::string(testing::kSpecTime)};
  EXPECT_EQ(Resolve("1.6.2", "pc", P, anonymous).body["route_id"], "r-v2");
  // Another player's id is fine too: public actions are never player-scoped.
  EXPECT_TRUE(Resolve("1.6.2", "pc", P, AsPlayer("pl_0000000000000000")).ok());
}

TEST_F(RouterTest, HttpRoutesCarryPathFields) {
  Reply r = h_.CallHttp("PUT", "/api/router/routes/r-http",
                        R"({"order":3,"platform":"pc","version_range":"*","api_version":"v1","status":"supported"})");
  EXPECT_EQ(r.body, Json::parse(R"({"route_id":"r-http","table_revision":1})"));
  r = h_.CallHttp("PUT", "/api/router/flags/beta", R"({"enabled":true,"rollout_bp":10000})");
  EXPECT_EQ(r.body, Json::parse(R"({"flag_key":"beta","table_revision":2})"));
  r = h_.CallHttp("GET", "/api/router/routes", "");
  EXPECT_EQ(r.body["table_revision"], 2);
}

// ---- store failures ----

TEST(RouterStoreTest, LostRacesBeyondTheBoundAreUnavailable) {
  testing::FlakyStore* flaky = nullptr;
  PortHarness h("router", MakeRouterService, true, [&flaky](event::Dispatcher& d) {
    auto store = std::make_unique<testing::FlakyStore>(d);
    flaky = store.get();
    return store;
  });
  flaky->conflict_every_cas = true;
  EXPECT_EQ(h.Call("put_route", RouteBody("a", 1, "*", "*").dump()).body, Error("UNAVAILABLE"));
  EXPECT_EQ(flaky->cas_calls, router::kMaxAttempts);
  EXPECT_TRUE(h.Events().empty());
}

TEST(RouterStoreTest, StoreDownIsUnavailable) {
  testing::FlakyStore* flaky = nullptr;
  PortHarness h("router", MakeRouterService, true, [&flaky](event::Dispatcher& d) {
    auto store = std::make_unique<testing::FlakyStore>(d);
    flaky = store.get();
    return store;
  });
  flaky->fail_reads = true;
  EXPECT_EQ(h.Call("resolve", R"({"client_version":"1.0.0","platform":"pc","player_id":"pl_a8694c9d17e9b948"})")
                .code(),
            "UNAVAILABLE");
  EXPECT_EQ(h.Call("list_routes", "{}").code(), "UNAVAILABLE");
}

}  // namespace
}  // namespace sidecar::services
