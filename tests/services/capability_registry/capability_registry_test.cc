// capability-registry (SERVICES.md §2.7) through its registry: both examples and the golden
// files, every numbered rule and the C resolutions, the §0.4 check order, pagination, events and
// store failures.

#include <string>

#include "gtest/gtest.h"
#include "services/capability_registry/capability_registry_service.h"
#include "services/capability_registry/capability_registry_store.h"
#include "services/common/pagination.h"
#include "tests/services/common/port_harness.h"
#include "tests/services/common/test_stores.h"

namespace sidecar::services {
namespace {

using testing::AsPlayer;
using testing::Error;
using testing::Headers;
using testing::InvalidArg;
using testing::Json;
using testing::PortHarness;
using testing::Reply;

const std::string kCap = "dialogue.generate";

// X-Request-Time 12:00:<seconds> on the spec's day.
Headers At(int seconds, const std::string& principal = "admin:test") {
  char time[32];
  std::snprintf(time, sizeof time, "2025-11-20T12:%02d:%02d.000Z", seconds / 60, seconds % 60);
  return Headers{principal, time};
}

Json RegisterBody(const std::string& provider, const std::string& version = "1.0.0",
                  int ttl_s = 30, const std::string& capability = kCap) {
  return {{"capability", capability}, {"provider_id", provider}, {"version", version},
          {"subject", "svc.ai-router.v1.route"}, {"ttl_s", ttl_s}};
}

class CapabilityRegistryTest : public ::testing::Test {
 protected:
  CapabilityRegistryTest() : h_("capability-registry", MakeCapabilityRegistryService) {}

  Reply Register(const Json& body, const Headers& headers = At(0)) {
    return h_.Call("register", body.dump(), headers);
  }
  Reply Heartbeat(const std::string& provider, int ttl_s, const Headers& headers,
                  const std::string& capability = kCap) {
    Json body = {{"capability", capability}, {"provider_id", provider}, {"ttl_s", ttl_s}};
    return h_.Call("heartbeat", body.dump(), headers);
  }
  Reply Deregister(const std::string& provider, const Headers& headers) {
    Json body = {{"capability", kCap}, {"provider_id", provider}};
    return h_.Call("deregister", body.dump(), headers);
  }
  Reply Resolve(const std::string& min_version, const Headers& headers,
                const std::string& capability = kCap) {
    Json body = {{"capability", capability}, {"min_version", min_version}};
    return h_.Call("resolve", body.dump(), headers);
  }
  Reply List(const Json& body, const Headers& headers = At(0)) {
    return h_.Call("list_capabilities", body.dump(), headers);
  }
  std::vector<std::string> ResolvedIds(const std::string& min_version, const Headers& headers) {
    std::vector<std::string> ids;
    const Reply reply = Resolve(min_version, headers);
    for (const Json& p : reply.body["providers"]) ids.push_back(p["provider_id"]);
    return ids;
  }
  // The stored lease (store form, ts as unix ms).
  Json StoredLease(const std::string& provider) {
    for (const StoreEntry& e : h_.List(std::string(capability_registry::kCapsPrefix))) {
      if (e.key == capability_registry::CapabilityKey(kCap)) return Json::parse(e.value)[provider];
    }
    return Json();
  }

  PortHarness h_;
};

// ---- registry, fixtures, examples ----

TEST_F(CapabilityRegistryTest, RegistersEveryActionOfTheProto) {
  EXPECT_TRUE(VerifyRegistry("capability-registry", h_.registry()).ok());
  EXPECT_NE(h_.registry().Find("_fixture"), nullptr);
}

TEST(CapabilityRegistryFixtureTest, DisabledFixtureIsPermissionDenied) {
  PortHarness h("capability-registry", MakeCapabilityRegistryService, /*fixtures_enabled=*/false);
  EXPECT_EQ(h.Fixture(Json::object()).body, Error("PERMISSION_DENIED"));
}

TEST_F(CapabilityRegistryTest, FixtureChecksTypesAndRequiresExpiry) {
  EXPECT_EQ(h_.Fixture(Json::parse(R"({"leases":[{"capability":"a","provider_id":"p"}]})")).body,
            InvalidArg("leases[0].expires_at", "required"));
  EXPECT_EQ(h_.Fixture(Json::parse(R"({"leases":[{"capability":"a","provider_id":"p",
      "expires_at":"soon"}]})")).body, InvalidArg("leases[0].expires_at", "malformed"));
  EXPECT_EQ(h_.Fixture(Json::parse(R"({"leases":{}})")).body, InvalidArg("leases", "type"));
}

TEST_F(CapabilityRegistryTest, GoldenFilesReplay) {
  const auto files = testing::GoldenPaths("capability-registry");
  ASSERT_EQ(files.size(), 2u);
  for (const auto& file : files) testing::RunGolden(MakeCapabilityRegistryService, file);
}

TEST_F(CapabilityRegistryTest, Example1RegisterOverHttpAndEvent) {
  Reply r = h_.CallHttp("POST", "/api/capability-registry/capabilities/dialogue.generate/providers",
                        R"({"provider_id":"ai-router-7f2c","version":"1.3.0","subject":"svc.ai-router.v1.route",
                            "ttl_s":30,"metadata":{"zone":"us-east-1a"}})",
                        At(0, "service:ai-router"));
  EXPECT_EQ(r.body, Json::parse(R"({"capability":"dialogue.generate","provider_id":"ai-router-7f2c",
      "expires_at":"2025-11-20T12:00:30.000Z","replaced":false})"));
  EXPECT_EQ(h_.Events(), std::vector<Json>{Json::parse(R"({"subject":
      "evt.capability-registry.v1.provider_registered","occurred_at":"2025-11-20T12:00:00.000Z",
      "capability":"dialogue.generate","provider_id":"ai-router-7f2c","version":"1.3.0"})")});
}

TEST_F(CapabilityRegistryTest, Example2ResolveFiltersVersionAndExpiry) {
  ASSERT_TRUE(Register({{"capability", kCap}, {"provider_id", "ai-router-7f2c"}, {"version", "1.3.0"},
                        {"subject", "svc.ai-router.v1.route"}, {"ttl_s", 30},
                        {"metadata", {{"zone", "us-east-1a"}}}}, At(0)).ok());
  ASSERT_TRUE(Register(RegisterBody("ai-router-19ab", "1.1.0", 30), At(10)).ok());
  ASSERT_TRUE(Register(RegisterBody("ai-router-0c4d", "1.3.0", 10), At(0)).ok());
  Reply r = h_.CallHttp("GET", "/api/capability-registry/capabilities/dialogue.generate?min_version=1.2.0",
                        "", At(20));
  EXPECT_EQ(r.body, Json::parse(R"({"capability":"dialogue.generate","providers":[{"provider_id":
      "ai-router-7f2c","version":"1.3.0","subject":"svc.ai-router.v1.route",
      "expires_at":"2025-11-20T12:00:30.000Z","metadata":{"zone":"us-east-1a"}}]})"));
}

// ---- rule 1: field checks ----

TEST_F(CapabilityRegistryTest, Rule1RegisterFieldChecksInTableOrder) {
  auto with = [&](const std::string& field, const Json& value) {
    Json body = RegisterBody("p-1");
    body[field] = value;
    return Register(body).body;
  };
  EXPECT_EQ(with("capability", ""), InvalidArg("capability", "required"));
  EXPECT_EQ(with("capability", std::string(65, 'a')), InvalidArg("capability", "too_long"));
  EXPECT_EQ(with("capability", "Dialogue"), InvalidArg("capability", "pattern"));
  EXPECT_EQ(with("capability", "dialogue..generate"), InvalidArg("capability", "pattern"));
  EXPECT_EQ(with("capability", "dialogue.1x"), InvalidArg("capability", "pattern"));
  EXPECT_TRUE(with("capability", std::string(64, 'a')).contains("provider_id"));
  EXPECT_EQ(with("provider_id", ""), InvalidArg("provider_id", "required"));
  EXPECT_EQ(with("provider_id", std::string(65, 'a')), InvalidArg("provider_id", "too_long"));
  EXPECT_EQ(with("provider_id", "Router_1"), InvalidArg("provider_id", "pattern"));
  EXPECT_EQ(with("version", ""), InvalidArg("version", "required"));
  EXPECT_EQ(with("version", "1.3"), InvalidArg("version", "pattern"));
  // C2: no length bounds on versions, any syntax failure is `pattern`.
  EXPECT_EQ(with("version", "1.3.0" + std::string(100, '0')), InvalidArg("version", "pattern"));
  EXPECT_EQ(with("version", "01.3.0"), InvalidArg("version", "pattern"));
  EXPECT_EQ(with("subject", ""), InvalidArg("subject", "required"));
  // N13/C3: one of the 22 services and a snake_case action, else `pattern`.
  EXPECT_EQ(with("subject", "svc.nope.v1.route"), InvalidArg("subject", "pattern"));
  EXPECT_EQ(with("subject", "svc.ai-router.v2.route"), InvalidArg("subject", "pattern"));
  EXPECT_EQ(with("subject", "svc.ai-router.v1.Route"), InvalidArg("subject", "pattern"));
  EXPECT_EQ(with("subject", "svc.ai-router.v1."), InvalidArg("subject", "pattern"));
  EXPECT_EQ(with("subject", "svc.ai-router.v1.route.x"), InvalidArg("subject", "pattern"));
  EXPECT_EQ(with("subject", "evt.ai-router.v1.route"), InvalidArg("subject", "pattern"));
  EXPECT_TRUE(with("subject", "svc.body-broker-integration.v1.settle_contract").contains("provider_id"));
  EXPECT_EQ(with("ttl_s", 0), InvalidArg("ttl_s", "out_of_range"));
  EXPECT_EQ(with("ttl_s", 4), InvalidArg("ttl_s", "out_of_range"));
  EXPECT_EQ(with("ttl_s", 301), InvalidArg("ttl_s", "out_of_range"));
  EXPECT_TRUE(with("ttl_s", 5).contains("provider_id"));
  EXPECT_TRUE(with("ttl_s", 300).contains("provider_id"));
  // First failure in table order.
  Json two = RegisterBody("BAD");
  two["ttl_s"] = 1;
  EXPECT_EQ(Register(two).body, InvalidArg("provider_id", "pattern"));
}

TEST_F(CapabilityRegistryTest, Rule1MetadataChecksC4) {
  auto with = [&](const Json& metadata) {
    Json body = RegisterBody("p-1");
    body["metadata"] = metadata;
    return Register(body).body;
  };
  Json nine = Json::object();
  for (int i = 0; i < 9; ++i) nine["k" + std::to_string(i)] = "v";
  EXPECT_EQ(with(nine), InvalidArg("metadata", "too_long"));
  EXPECT_EQ(with({{"", "v"}}), InvalidArg("metadata.", "too_short"));
  EXPECT_EQ(with({{std::string(33, 'k'), "v"}}), InvalidArg("metadata." + std::string(33, 'k'), "too_long"));
  EXPECT_EQ(with({{"b", std::string(129, 'v')}, {"a", std::string(129, 'v')}}),
            InvalidArg("metadata.a", "too_long"));  // entries in key order
  nine.erase("k8");
  nine["k0"] = "";                                   // values may be ""
  nine["k1"] = std::string(128, 'v');
  nine[std::string(32, 'k')] = "é";
  nine.erase("k2");
  EXPECT_TRUE(with(nine).contains("provider_id")) << with(nine);
}

TEST_F(CapabilityRegistryTest, Rule1WritesAreServiceOrAdminReadsAnyPrincipal) {
  const Headers player = AsPlayer();
  EXPECT_EQ(Register(RegisterBody("p-1"), player).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(Register(RegisterBody("P"), player).body, InvalidArg("provider_id", "pattern"));
  ASSERT_TRUE(Register(RegisterBody("p-1"), At(0, "service:ai-router")).ok());
  EXPECT_EQ(Heartbeat("p-1", 0, player).body, Error("PERMISSION_DENIED"));
  // PERMISSION_DENIED comes before NOT_FOUND (§0.4 steps 3, 4).
  EXPECT_EQ(Heartbeat("nobody", 0, player).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(Deregister("p-1", player).body, Error("PERMISSION_DENIED"));
  EXPECT_TRUE(Resolve("", player).ok());
  EXPECT_TRUE(List(Json::object(), player).ok());
  EXPECT_EQ(Resolve("", Headers{"", std::string(testing::kSpecTime)}).body, Error("UNAUTHENTICATED"));
}

TEST_F(CapabilityRegistryTest, Rule1ResolveAndHeartbeatFieldChecks) {
  EXPECT_EQ(Resolve("", At(0), "").body, InvalidArg("capability", "required"));
  EXPECT_EQ(Resolve("1.2", At(0)).body, InvalidArg("min_version", "pattern"));
  EXPECT_EQ(Heartbeat("p", 4, At(0)).body, InvalidArg("ttl_s", "out_of_range"));
  EXPECT_EQ(Heartbeat("p", 301, At(0)).body, InvalidArg("ttl_s", "out_of_range"));
  EXPECT_EQ(Heartbeat("p", -1, At(0)).body, InvalidArg("ttl_s", "out_of_range"));
  EXPECT_EQ(Heartbeat("", 0, At(0)).body, InvalidArg("provider_id", "required"));
  EXPECT_EQ(h_.Call("deregister", R"({"capability":"x y","provider_id":"p"})").body,
            InvalidArg("capability", "pattern"));
}

// ---- rule 2: liveness ----

TEST_F(CapabilityRegistryTest, Rule2LiveStrictlyBeforeExpiresAt) {
  ASSERT_TRUE(Register(RegisterBody("p-1", "1.0.0", 5), At(0)).ok());
  EXPECT_EQ(ResolvedIds("", At(4)), std::vector<std::string>{"p-1"});
  EXPECT_EQ(Resolve("", At(5)).body, Error("NOT_FOUND", {{"reason", "no_live_provider"}}));
  EXPECT_EQ(Heartbeat("p-1", 0, At(5)).body, Error("NOT_FOUND", {{"field", "provider_id"}}));
  EXPECT_EQ(List(Json::object(), At(5)).body, Json::parse(R"({"capabilities":[],"next_page_token":""})"));
}

// ---- rule 3: register upserts; the 32-provider cap ----

TEST_F(CapabilityRegistryTest, Rule3ReplacedOnlyOverALiveLeaseC5KeepsRegisteredAt) {
  EXPECT_EQ(Register(RegisterBody("p-1", "1.0.0", 10), At(0)).body["replaced"], false);
  Reply r = Register(RegisterBody("p-1", "1.1.0", 20), At(5));
  EXPECT_EQ(r.body["replaced"], true);
  EXPECT_EQ(r.body["expires_at"], "2025-11-20T12:00:25.000Z");
  EXPECT_EQ(StoredLease("p-1")["registered_at"], testing::kSpecTimeMs);  // C5: kept
  EXPECT_EQ(StoredLease("p-1")["version"], "1.1.0");
  // Expired: a fresh registration, registered_at reset.
  EXPECT_EQ(Register(RegisterBody("p-1", "1.2.0", 10), At(30)).body["replaced"], false);
  EXPECT_EQ(StoredLease("p-1")["registered_at"], testing::kSpecTimeMs + 30000);
  // Every successful register is evented.
  EXPECT_EQ(h_.Events().size(), 3u);
}

TEST_F(CapabilityRegistryTest, Rule3AtMost32LiveProvidersPerCapability) {
  for (int i = 0; i < 32; ++i) {
    ASSERT_TRUE(Register(RegisterBody("p-" + std::to_string(i), "1.0.0", i == 0 ? 10 : 60), At(0)).ok());
  }
  const Json limit = Error("RESOURCE_EXHAUSTED", {{"reason", "limit_exceeded"}, {"limit", "32"}});
  EXPECT_EQ(Register(RegisterBody("p-new"), At(1)).body, limit);
  // Replacing a live one at the cap succeeds; another capability has its own cap.
  EXPECT_TRUE(Register(RegisterBody("p-5", "2.0.0"), At(1)).ok());
  EXPECT_TRUE(Register(RegisterBody("p-new", "1.0.0", 30, "other.cap"), At(1)).ok());
  // Expired leases do not count: p-0 expired at 12:00:10.
  EXPECT_TRUE(Register(RegisterBody("p-new"), At(10)).ok());
  EXPECT_EQ(Register(RegisterBody("p-newer"), At(10)).body, limit);
}

// ---- rule 4: heartbeat ----

TEST_F(CapabilityRegistryTest, Rule4HeartbeatExtendsLiveLeasesOnly) {
  EXPECT_EQ(Heartbeat("p-1", 0, At(0)).body, Error("NOT_FOUND", {{"field", "provider_id"}}));  // C1
  ASSERT_TRUE(Register(RegisterBody("p-1", "1.0.0", 10), At(0)).ok());
  // ttl_s 0 = the previous ttl.
  EXPECT_EQ(Heartbeat("p-1", 0, At(8)).body, Json::parse(R"({"expires_at":"2025-11-20T12:00:18.000Z"})"));
  EXPECT_EQ(Heartbeat("p-1", 60, At(9)).body, Json::parse(R"({"expires_at":"2025-11-20T12:01:09.000Z"})"));
  // The new ttl becomes the previous one.
  EXPECT_EQ(Heartbeat("p-1", 0, At(10)).body, Json::parse(R"({"expires_at":"2025-11-20T12:01:10.000Z"})"));
  EXPECT_EQ(Heartbeat("p-1", 0, At(70)).body, Error("NOT_FOUND", {{"field", "provider_id"}}));
  EXPECT_EQ(h_.Call("heartbeat", R"({"capability":"other","provider_id":"p-1"})").body,
            Error("NOT_FOUND", {{"field", "provider_id"}}));
  EXPECT_EQ(h_.Events().size(), 1u);  // heartbeats are not evented
}

// ---- rule 5: resolve and list ----

TEST_F(CapabilityRegistryTest, Rule5ResolveOrdersByVersionDescThenProviderIdN14) {
  ASSERT_TRUE(Register(RegisterBody("b", "1.9.0"), At(0)).ok());
  ASSERT_TRUE(Register(RegisterBody("c", "1.10.0"), At(0)).ok());
  ASSERT_TRUE(Register(RegisterBody("a", "1.9.0"), At(0)).ok());
  ASSERT_TRUE(Register(RegisterBody("d", "0.9.9"), At(0)).ok());
  EXPECT_EQ(ResolvedIds("", At(1)), (std::vector<std::string>{"c", "a", "b", "d"}));
  EXPECT_EQ(ResolvedIds("1.9.0", At(1)), (std::vector<std::string>{"c", "a", "b"}));  // ≥, inclusive
  EXPECT_EQ(Resolve("2.0.0", At(1)).body, Error("NOT_FOUND", {{"reason", "no_live_provider"}}));
  EXPECT_EQ(Resolve("", At(1), "unknown.cap").body, Error("NOT_FOUND", {{"reason", "no_live_provider"}}));
  Json provider = Resolve("", At(1)).body["providers"][0];
  EXPECT_EQ(provider, Json::parse(R"({"provider_id":"c","version":"1.10.0","subject":
      "svc.ai-router.v1.route","expires_at":"2025-11-20T12:00:30.000Z","metadata":{}})"));
}

TEST_F(CapabilityRegistryTest, Rule5ListCapabilitiesByNameWithLiveCountsAndPages) {
  ASSERT_TRUE(Register(RegisterBody("p-1", "1.0.0", 30, "zeta"), At(0)).ok());
  ASSERT_TRUE(Register(RegisterBody("p-1", "1.0.0", 30, "alpha.x"), At(0)).ok());
  ASSERT_TRUE(Register(RegisterBody("p-2", "1.0.0", 5, "alpha.x"), At(0)).ok());
  ASSERT_TRUE(Register(RegisterBody("p-1", "1.0.0", 5, "gone"), At(0)).ok());  // C6: expires
  ASSERT_TRUE(Register(RegisterBody("p-1", "1.0.0", 30, "beta"), At(0)).ok());
  EXPECT_EQ(List(Json::object(), At(10)).body, Json::parse(R"({"capabilities":[
      {"capability":"alpha.x","live_providers":1},{"capability":"beta","live_providers":1},
      {"capability":"zeta","live_providers":1}],"next_page_token":""})"));
  EXPECT_EQ(List(Json::object(), At(1)).body["capabilities"][0]["live_providers"], 2);
  Reply first = List({{"page_size", 2}}, At(10));
  EXPECT_EQ(first.body["capabilities"].size(), 2u);
  EXPECT_EQ(first.body["next_page_token"], EncodePageToken("beta"));
  Reply second = List({{"page_size", 2}, {"page_token", first.body["next_page_token"]}}, At(10));
  EXPECT_EQ(second.body, Json::parse(R"({"capabilities":[{"capability":"zeta","live_providers":1}],
      "next_page_token":""})"));
  // A page ending exactly at the last item has no token (R9).
  EXPECT_EQ(List({{"page_size", 3}}, At(10)).body["next_page_token"], "");
  EXPECT_EQ(List({{"page_size", 101}}).body, InvalidArg("page_size", "out_of_range"));
  EXPECT_EQ(List({{"page_size", -1}}).body, InvalidArg("page_size", "out_of_range"));
  EXPECT_EQ(List({{"page_token", "!!"}}).body, InvalidArg("page_token", "malformed"));
}

// ---- deregister and events ----

TEST_F(CapabilityRegistryTest, DeregisterRemovesLiveLeasesOnlyC7) {
  ASSERT_TRUE(Register(RegisterBody("p-1", "1.0.0", 10), At(0)).ok());
  ASSERT_TRUE(Register(RegisterBody("p-2", "1.0.0", 60), At(0)).ok());
  h_.ClearEvents();
  EXPECT_EQ(Deregister("p-1", At(10)).body, Json::parse(R"({"removed":false})"));  // expired
  EXPECT_EQ(Deregister("p-3", At(10)).body, Json::parse(R"({"removed":false})"));  // absent
  EXPECT_TRUE(h_.Events().empty());
  EXPECT_EQ(h_.CallHttp("DELETE", "/api/capability-registry/capabilities/dialogue.generate/providers/p-2",
                        "", At(11)).body,
            Json::parse(R"({"removed":true})"));
  EXPECT_EQ(Deregister("p-2", At(12)).body, Json::parse(R"({"removed":false})"));
  EXPECT_EQ(h_.Events(), std::vector<Json>{Json::parse(R"({"subject":
      "evt.capability-registry.v1.provider_deregistered","occurred_at":"2025-11-20T12:00:11.000Z",
      "capability":"dialogue.generate","provider_id":"p-2"})")});
  // The last lease gone, the capability is unlisted and can be registered afresh.
  EXPECT_EQ(List(Json::object(), At(12)).body["capabilities"], Json::array());
  EXPECT_EQ(Register(RegisterBody("p-2"), At(12)).body["replaced"], false);
}

TEST_F(CapabilityRegistryTest, EventIdsNameEachOccurrence) {
  ASSERT_TRUE(Register(RegisterBody("p-1"), At(0)).ok());
  ASSERT_TRUE(Register(RegisterBody("p-1"), At(0)).ok());
  ASSERT_TRUE(Deregister("p-1", At(1)).ok());
  ASSERT_TRUE(Register(RegisterBody("p-1"), At(1)).ok());
  ASSERT_TRUE(Deregister("p-1", At(1)).ok());
  auto raw = h_.RawEvents();
  ASSERT_EQ(raw.size(), 5u);
  std::set<std::string> ids;
  for (const Event& e : raw) ids.insert(e.event_id);
  EXPECT_EQ(ids.size(), 5u);
}

// ---- store failures ----

TEST(CapabilityRegistryStoreTest, LostRacesBeyondTheBoundAreUnavailable) {
  testing::FlakyStore* flaky = nullptr;
  PortHarness h("capability-registry", MakeCapabilityRegistryService, true,
                [&flaky](event::Dispatcher& d) {
                  auto store = std::make_unique<testing::FlakyStore>(d);
                  flaky = store.get();
                  return store;
                });
  flaky->conflict_every_cas = true;
  EXPECT_EQ(h.Call("register", RegisterBody("p-1").dump()).body, Error("UNAVAILABLE"));
  EXPECT_EQ(flaky->cas_calls, capability_registry::kMaxAttempts);
  EXPECT_TRUE(h.Events().empty());
}

TEST(CapabilityRegistryStoreTest, StoreDownIsUnavailable) {
  testing::FlakyStore* flaky = nullptr;
  PortHarness h("capability-registry", MakeCapabilityRegistryService, true,
                [&flaky](event::Dispatcher& d) {
                  auto store = std::make_unique<testing::FlakyStore>(d);
                  flaky = store.get();
                  return store;
                });
  flaky->fail_reads = true;
  EXPECT_EQ(h.Call("resolve", R"({"capability":"a"})").code(), "UNAVAILABLE");
  EXPECT_EQ(h.Call("list_capabilities", "{}").code(), "UNAVAILABLE");
}

}  // namespace
}  // namespace sidecar::services
