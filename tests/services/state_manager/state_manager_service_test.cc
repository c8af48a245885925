// state-manager (SERVICES.md §2.4) through its registry: every example, every numbered rule, the
// §0.4 check order, version compare-and-set conflicts and events.

#include <string>

#include "gtest/gtest.h"
#include "services/state_manager/state_manager_service.h"
#include "state_manager/v1/state_manager.pb.h"
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
const std::string kSlot = P + ":slot1";

Json VersionMismatch(int64_t current) {
  return Error("FAILED_PRECONDITION",
               {{"reason", "version_mismatch"}, {"current_version", std::to_string(current)}});
}

// A JSON string member long enough that {"s":"…"} has exactly `bytes` JCS bytes.
Json ValueOfSize(size_t bytes) { return {{"s", std::string(bytes - 8, 'x')}}; }

// {"a":{"a":…}} with `depth` objects (R36: the top level counts).
Json Nested(int depth) {
  Json v = Json::object();
  for (int i = 1; i < depth; ++i) v = Json{{"a", v}};
  return v;
}

class StateManagerServiceTest : public ::testing::Test {
 protected:
  StateManagerServiceTest() : h_("state-manager", MakeStateManagerService) {}

  static std::string Addr(const std::string& ns, const std::string& key) {
    return R"("namespace":")" + ns + R"(","key":")" + key + "\"";
  }
  Reply Put(const std::string& ns, const std::string& key, const std::string& rest,
            const Headers& headers = AsPlayer()) {
    return h_.Call("put", "{" + Addr(ns, key) + (rest.empty() ? "" : "," + rest) + "}", headers);
  }
  Reply Patch(const std::string& ns, const std::string& key, const std::string& rest,
              const Headers& headers = AsPlayer()) {
    return h_.Call("patch", "{" + Addr(ns, key) + (rest.empty() ? "" : "," + rest) + "}", headers);
  }
  Reply Get(const std::string& ns, const std::string& key, const Headers& headers = AsPlayer()) {
    return h_.Call("get", "{" + Addr(ns, key) + "}", headers);
  }
  Reply Delete(const std::string& ns, const std::string& key, const std::string& rest,
               const Headers& headers = AsPlayer()) {
    return h_.Call("delete", "{" + Addr(ns, key) + (rest.empty() ? "" : "," + rest) + "}", headers);
  }
  Reply List(const std::string& body, const Headers& headers = {}) {
    return h_.Call("list_keys", body, headers);
  }

  PortHarness h_;
};

// ---- registry and fixtures ----

TEST_F(StateManagerServiceTest, RegistersEveryActionOfTheProto) {
  EXPECT_TRUE(VerifyRegistry("state-manager", h_.registry()).ok());
  EXPECT_NE(h_.registry().Find("_fixture"), nullptr);
}

TEST(StateManagerFixtureTest, DisabledFixtureIsPermissionDenied) {
  PortHarness h("state-manager", MakeStateManagerService, /*fixtures_enabled=*/false);
  EXPECT_EQ(h.Fixture(Json::object()).body, Error("PERMISSION_DENIED"));
}

TEST_F(StateManagerServiceTest, FixtureLoadsDocumentsAndReplacesState) {
  ASSERT_TRUE(Put("save", kSlot, R"("value":{"old":1})").ok());
  ASSERT_TRUE(h_.Fixture(Json::parse(R"({"namespaces":{"session":{"pl_a8694c9d17e9b948:s":
      {"value":{"hp":3},"version":7,"updated_at":"2025-11-19T00:00:00Z"}}}})"))
                  .ok());
  EXPECT_EQ(Get("save", kSlot).code(), "NOT_FOUND");
  EXPECT_EQ(Get("session", P + ":s").body, Json::parse(
      R"({"value":{"hp":3},"version":7,"size_bytes":8,"updated_at":"2025-11-19T00:00:00.000Z"})"));
  EXPECT_EQ(h_.Fixture(Json::parse(R"({"namespaces":{"Bad":{}}})")).body,
            InvalidArg("namespaces.Bad", "pattern"));
}

// ---- examples ----

TEST_F(StateManagerServiceTest, Example1CreateAndExample2MergePatch) {
  Reply r = h_.CallHttp("PUT", "/api/state-manager/namespaces/save/keys/" + kSlot,
                        R"({"expected_version":0,"value":{"chapter":2,"gold_hint":1200,"flags":{"met_odrin":true}}})",
                        AsPlayer());
  EXPECT_EQ(r.body, Json::parse(R"({"version":1,"size_bytes":57})"));
  r = h_.CallHttp("PATCH", "/api/state-manager/namespaces/save/keys/" + kSlot,
                  R"({"expected_version":1,"patch":{"chapter":3,"flags":{"met_odrin":null,"saw_gibbet":true}}})",
                  AsPlayer());
  EXPECT_EQ(r.body, Json::parse(
      R"({"value":{"chapter":3,"flags":{"saw_gibbet":true},"gold_hint":1200},"version":2,"size_bytes":58})"));
  r = h_.CallHttp("GET", "/api/state-manager/namespaces/save/keys/" + kSlot, "", AsPlayer());
  EXPECT_EQ(r.body, Json::parse(R"({"value":{"chapter":3,"flags":{"saw_gibbet":true},"gold_hint":1200},
      "version":2,"size_bytes":58,"updated_at":"2025-11-20T12:00:00.000Z"})"));
}

TEST_F(StateManagerServiceTest, GoldenFilesReplay) {
  auto files = PortHarness::GoldenFiles("state-manager");
  ASSERT_EQ(files.size(), 2u);
  for (const auto& [name, golden] : files) {
    PortHarness fresh("state-manager", MakeStateManagerService);
    EXPECT_EQ(fresh.ReplayGolden(golden), "") << name;
  }
}

// ---- rule 1: syntax, ownership, cap ----

TEST_F(StateManagerServiceTest, Rule1NamespaceAndKeySyntax) {
  const Headers admin;
  EXPECT_EQ(Get("", "k", admin).body, InvalidArg("namespace", "required"));
  EXPECT_EQ(Get("Save", "k", admin).body, InvalidArg("namespace", "pattern"));
  EXPECT_EQ(Get("a-b", "k", admin).body, InvalidArg("namespace", "pattern"));
  EXPECT_EQ(Get(std::string(33, 'a'), "k", admin).body, InvalidArg("namespace", "too_long"));
  EXPECT_EQ(Get(std::string(32, 'a'), "k", admin).code(), "NOT_FOUND");
  EXPECT_EQ(Get("save", "", admin).body, InvalidArg("key", "required"));
  EXPECT_EQ(Get("save", "a/b", admin).body, InvalidArg("key", "pattern"));
  EXPECT_EQ(Get("save", "a b", admin).body, InvalidArg("key", "pattern"));
  EXPECT_EQ(Get("save", "é", admin).body, InvalidArg("key", "pattern"));
  EXPECT_EQ(Get("save", std::string(129, 'k'), admin).body, InvalidArg("key", "too_long"));
  EXPECT_EQ(Get("save", "A-z_0.9:x", admin).code(), "NOT_FOUND");
  EXPECT_EQ(Get("save", std::string(128, 'k'), admin).code(), "NOT_FOUND");
  EXPECT_EQ(h_.Call("get", R"({"namespace":5,"key":"k"})").body, InvalidArg("namespace", "type"));
}

TEST_F(StateManagerServiceTest, Rule1PlayersAccessOnlyTheirOwnKeysInSaveAndSession) {
  const Headers other = AsPlayer("pl_ffffffffffffffff");
  ASSERT_TRUE(Put("save", kSlot, R"("value":{"a":1})").ok());
  ASSERT_TRUE(Put("session", P + ":live", "").ok());
  EXPECT_EQ(Get("save", kSlot, other).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(Put("save", kSlot, R"("unconditional":true)", other).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(Patch("save", kSlot, R"("expected_version":1)", other).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(Delete("save", kSlot, "", other).body, Error("PERMISSION_DENIED"));
  // The owner is the text before the first ':'; a key equal to the id has no "<id>:" prefix.
  EXPECT_EQ(Put("save", P, "").body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(Put("save", P + "x:slot", "").body, Error("PERMISSION_DENIED"));
  EXPECT_TRUE(Put("save", P + ":a:b", "").ok());
  // Other namespaces are service/admin only, reads included.
  EXPECT_EQ(Put("world", kSlot, "").body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(Get("world", kSlot).body, Error("PERMISSION_DENIED"));
  EXPECT_TRUE(Put("world", kSlot, "", Headers{"service:quests", "2025-11-20T12:00:00.000Z"}).ok());
  EXPECT_TRUE(Get("save", kSlot, Headers{"service:quests", "2025-11-20T12:00:00.000Z"}).ok());
  EXPECT_TRUE(Put("save", "anything", "", Headers{}).ok());
  EXPECT_EQ(Get("save", kSlot, Headers{"", "2025-11-20T12:00:00.000Z"}).body,
            Error("UNAUTHENTICATED"));
}

TEST_F(StateManagerServiceTest, Rule1AtMost64KeysPerOwnerPerNamespace) {
  Json docs = Json::object();
  for (int i = 0; i < 64; ++i) docs[P + ":k" + std::to_string(i)] = {{"value", Json::object()}};
  ASSERT_TRUE(h_.Fixture({{"namespaces", {{"save", docs}, {"world", docs}}}}).ok());
  Reply r = Put("save", P + ":k64", R"("expected_version":0)");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.body, Error("RESOURCE_EXHAUSTED", {{"reason", "limit_exceeded"}, {"limit", "64"}}));
  EXPECT_EQ(Put("save", P + ":k64", R"("unconditional":true)").body["error"]["code"],
            "RESOURCE_EXHAUSTED");
  // FAILED_PRECONDITION comes before RESOURCE_EXHAUSTED.
  EXPECT_EQ(Put("save", P + ":k64", R"("expected_version":3)").body, VersionMismatch(0));
  // Updating at the cap succeeds; session counts separately; a longer owner is another owner;
  // other namespaces have no cap.
  EXPECT_EQ(Put("save", P + ":k0", R"("expected_version":1)").body["version"], 2);
  EXPECT_TRUE(Put("session", P + ":k64", "").ok());
  EXPECT_TRUE(Put("save", P + "0:k", "", Headers{}).ok());
  EXPECT_TRUE(Put("world", P + ":k64", "", Headers{}).ok());
  // After a delete there is room again.
  ASSERT_EQ(Delete("save", P + ":k1", "").body["deleted"], true);
  EXPECT_EQ(Put("save", P + ":k64", "").body["version"], 1);
}

// ---- rule 2: value size and depth ----

TEST_F(StateManagerServiceTest, Rule2SizeIsJcsBytesAtMost65536) {
  EXPECT_EQ(Put("save", kSlot, "\"value\":" + ValueOfSize(65536).dump()).body,
            Json::parse(R"({"version":1,"size_bytes":65536})"));
  EXPECT_EQ(Put("save", kSlot, "\"unconditional\":true,\"value\":" + ValueOfSize(65537).dump()).body,
            InvalidArg("value", "too_long"));
  // JCS: keys sorted, no whitespace, shortest numbers, UTF-8 as is (é is 2 bytes).
  EXPECT_EQ(Put("session", P + ":a", R"("value":{"b": 1.50, "a": "é"})").body["size_bytes"], 18);
  EXPECT_EQ(Put("session", P + ":b", "").body["size_bytes"], 2);  // absent = {}
  EXPECT_EQ(Put("session", P + ":c", R"("value":[1])").body, InvalidArg("value", "type"));
  EXPECT_EQ(Put("session", P + ":c", R"("value":"x")").body, InvalidArg("value", "type"));
}

TEST_F(StateManagerServiceTest, Rule2DepthAtMost16SizeFirst) {
  EXPECT_TRUE(Put("save", kSlot, "\"value\":" + Nested(16).dump()).ok());
  EXPECT_EQ(Put("save", kSlot, "\"unconditional\":true,\"value\":" + Nested(17).dump()).body,
            InvalidArg("value", "out_of_range"));
  // Arrays add a level too; scalars none.
  Json arrays = Nested(14);
  arrays = Json{{"l", Json::array({Json::array({arrays})})}};  // 14 + 2 arrays + top = 17
  EXPECT_EQ(Put("save", kSlot, "\"unconditional\":true,\"value\":" + arrays.dump()).body,
            InvalidArg("value", "out_of_range"));
  Json big_and_deep = Nested(17);
  big_and_deep["pad"] = std::string(70000, 'x');
  EXPECT_EQ(Put("save", kSlot, "\"unconditional\":true,\"value\":" + big_and_deep.dump()).body,
            InvalidArg("value", "too_long"));  // R41
}

// ---- rule 3: put versions ----

TEST_F(StateManagerServiceTest, Rule3ExpectedVersionCompareAndSet) {
  EXPECT_EQ(Put("save", kSlot, R"("expected_version":4)").body, VersionMismatch(0));
  EXPECT_EQ(Put("save", kSlot, R"("expected_version":0)").body["version"], 1);
  EXPECT_EQ(Put("save", kSlot, R"("expected_version":0)").body, VersionMismatch(1));  // exists
  EXPECT_EQ(Put("save", kSlot, R"("expected_version":1,"value":{"x":1})").body,
            Json::parse(R"({"version":2,"size_bytes":7})"));
  EXPECT_EQ(Put("save", kSlot, R"("expected_version":1)").body, VersionMismatch(2));
  EXPECT_EQ(Put("save", kSlot, R"("expected_version":99,"unconditional":true)").body["version"], 3);
  EXPECT_EQ(Put("save", kSlot, R"("unconditional":"yes")").body, InvalidArg("unconditional", "type"));
  EXPECT_EQ(Put("save", kSlot, R"("expected_version":"3")").body["version"], 4);  // §0.2 decimal string
  EXPECT_EQ(Get("save", kSlot).body["version"], 4);
}

TEST_F(StateManagerServiceTest, Rule3ConcurrentCreatesExactlyOneWins) {
  Method* m = h_.registry().Find("put");
  CallContext ctx = PortHarness::Context(AsPlayer());
  auto both = h_.loop().Await<std::vector<Reply>>([&](auto done) {
    auto replies = std::make_shared<std::vector<Reply>>();
    auto shared_done = std::make_shared<decltype(done)>(std::move(done));
    for (int i = 0; i < 2; ++i) {
      MessagePtr rq = m->NewRequest();
      ASSERT_TRUE(adapters::transcoding::JsonTextToMessage(
                      R"({"namespace":"save","key":"pl_a8694c9d17e9b948:slot1","expected_version":0,"value":{"i":)" +
                          std::to_string(i) + "}}",
                      *rq)
                      .ok());
      m->Invoke(ctx, std::move(rq), [replies, shared_done](absl::StatusOr<MessagePtr> out) {
        replies->push_back(PortHarness::ToReply(std::move(out)));
        if (replies->size() == 2) std::move(*shared_done)(*replies);
      });
    }
  });
  ASSERT_TRUE(both.has_value());
  int wins = 0;
  for (const Reply& r : *both) {
    if (r.ok()) {
      ++wins;
      EXPECT_EQ(r.body["version"], 1);
    } else {
      EXPECT_EQ(r.body, VersionMismatch(1));
    }
  }
  EXPECT_EQ(wins, 1);
  EXPECT_EQ(h_.Events().size(), 1u);
}

// ---- rule 4: patch ----

TEST_F(StateManagerServiceTest, Rule4MergePatchSemantics) {
  ASSERT_TRUE(Put("save", kSlot,
                  R"("value":{"keep":1,"gone":2,"list":[1,2,3],"obj":{"x":1,"y":{"z":1}},"scalar":5})")
                  .ok());
  Reply r = Patch("save", kSlot,
                  R"("expected_version":1,"patch":{"gone":null,"list":[9,null],"obj":{"y":{"z":null,"w":2}},
                     "scalar":{"n":{"m":null,"k":1}},"absent":null,"new":"v"})");
  EXPECT_EQ(r.body["value"], Json::parse(R"({"keep":1,"list":[9,null],"obj":{"x":1,"y":{"w":2}},
      "scalar":{"n":{"k":1}},"new":"v"})"));
  EXPECT_EQ(r.body["version"], 2);
  // Absent patch = {}: still a write.
  r = Patch("save", kSlot, R"("expected_version":2)");
  EXPECT_EQ(r.body["version"], 3);
  EXPECT_EQ(r.body["value"]["keep"], 1);
  EXPECT_EQ(Get("save", kSlot).body["size_bytes"], r.body["size_bytes"]);
}

TEST_F(StateManagerServiceTest, Rule4ExpectedVersionIsMandatoryAndChecked) {
  EXPECT_EQ(Patch("save", kSlot, "").body, InvalidArg("expected_version", "out_of_range"));
  EXPECT_EQ(Patch("save", kSlot, R"("expected_version":-1)").body,
            InvalidArg("expected_version", "out_of_range"));
  EXPECT_EQ(Patch("save", kSlot, R"("expected_version":1)").body, Error("NOT_FOUND", {{"field", "key"}}));
  ASSERT_TRUE(Put("save", kSlot, "").ok());
  EXPECT_EQ(Patch("save", kSlot, R"("expected_version":2,"patch":{"a":1})").body, VersionMismatch(1));
  EXPECT_EQ(Patch("save", kSlot, R"("patch":{"a":1})").body,
            InvalidArg("expected_version", "out_of_range"));
  EXPECT_EQ(Patch("save", kSlot, R"("expected_version":1,"patch":[1])").body,
            InvalidArg("patch", "type"));
}

TEST_F(StateManagerServiceTest, Rule4ResultIsRecheckedOnPatch) {
  ASSERT_TRUE(Put("save", kSlot, "\"value\":" + ValueOfSize(60000).dump()).ok());
  Json patch = {{"t", std::string(6000, 'y')}};
  EXPECT_EQ(Patch("save", kSlot, R"("expected_version":1,"patch":)" + patch.dump()).body,
            InvalidArg("patch", "too_long"));
  // The stored-data check sits at `patch`'s table position: before expected_version's range
  // and before authorization.
  EXPECT_EQ(Patch("save", kSlot, R"("expected_version":0,"patch":)" + patch.dump()).body,
            InvalidArg("patch", "too_long"));
  EXPECT_EQ(Patch("save", kSlot, R"("expected_version":1,"patch":)" + patch.dump(),
                  AsPlayer("pl_ffffffffffffffff"))
                .body,
            InvalidArg("patch", "too_long"));
  Json deep = {{"s", Nested(16)}};  // 1 + 16 = 17 levels after the merge
  EXPECT_EQ(Patch("save", kSlot, R"("expected_version":1,"patch":)" + deep.dump()).body,
            InvalidArg("patch", "out_of_range"));
  // The patch itself obeys rule 2 as well.
  EXPECT_EQ(Patch("save", kSlot, R"("expected_version":1,"patch":)" + Nested(17).dump()).body,
            InvalidArg("patch", "out_of_range"));
  // Shrinking works and reports the new size.
  Reply r = Patch("save", kSlot, R"("expected_version":1,"patch":{"s":"x"})");
  EXPECT_EQ(r.body["size_bytes"], 9);
  EXPECT_EQ(Get("save", kSlot).body["version"], 2);
}

// ---- rule 5: delete ----

TEST_F(StateManagerServiceTest, Rule5Delete) {
  EXPECT_EQ(Delete("save", kSlot, R"("expected_version":7)").body, Json::parse(R"({"deleted":false})"));
  ASSERT_TRUE(Put("save", kSlot, "").ok());
  ASSERT_TRUE(Put("save", kSlot, R"("expected_version":1)").ok());
  EXPECT_EQ(Delete("save", kSlot, R"("expected_version":1)").body, VersionMismatch(2));
  EXPECT_EQ(Delete("save", kSlot, R"("expected_version":2)").body, Json::parse(R"({"deleted":true})"));
  EXPECT_EQ(Get("save", kSlot).body, Error("NOT_FOUND", {{"field", "key"}}));
  // Re-creation restarts at version 1; 0 is unconditional.
  EXPECT_EQ(Put("save", kSlot, R"("expected_version":0)").body["version"], 1);
  EXPECT_EQ(Delete("save", kSlot, "").body["deleted"], true);
  EXPECT_EQ(Delete("save", kSlot, "").body["deleted"], false);
}

// ---- rule 6: list_keys ----

TEST_F(StateManagerServiceTest, Rule6ListKeysAscendingWithPrefixAndPages) {
  for (const std::string k : {"b:2", "a:1", "b:10", "B:0", "b:1", "bb:1"}) {
    ASSERT_TRUE(Put("world", k, R"("value":{"k":")" + k + "\"}", Headers{}).ok());
  }
  ASSERT_TRUE(Put("world", "b:1", R"("expected_version":1)", Headers{}).ok());
  Reply r = List(R"({"namespace":"world"})");
  Json keys = Json::array();
  for (const Json& k : r.body["keys"]) keys.push_back(k["key"]);
  EXPECT_EQ(keys, Json::parse(R"(["B:0","a:1","b:1","b:10","b:2","bb:1"])"));
  EXPECT_EQ(r.body["keys"][2], Json::parse(R"({"key":"b:1","version":2,"size_bytes":2})"));
  EXPECT_EQ(r.body["next_page_token"], "");

  r = List(R"({"namespace":"world","prefix":"b:","page_size":2})");
  EXPECT_EQ(r.body, Json::parse(R"({"keys":[{"key":"b:1","version":2,"size_bytes":2},
      {"key":"b:10","version":1,"size_bytes":12}],"next_page_token":"YjoxMA"})"));
  r = List(R"({"namespace":"world","prefix":"b:","page_size":2,"page_token":"YjoxMA"})");
  EXPECT_EQ(r.body["keys"].size(), 1u);
  EXPECT_EQ(r.body["keys"][0]["key"], "b:2");
  EXPECT_EQ(r.body["next_page_token"], "");  // R9: a page ending at the last item
  // A token resumes strictly after its key, whatever the other filters.
  r = List(R"({"namespace":"world","page_token":"YjoxMA"})");
  EXPECT_EQ(r.body["keys"][0]["key"], "b:2");
  EXPECT_EQ(List(R"({"namespace":"empty"})").body, Json::parse(R"({"keys":[],"next_page_token":""})"));
}

TEST_F(StateManagerServiceTest, Rule6ListKeysFieldChecksAndAuthorization) {
  EXPECT_EQ(List(R"({"namespace":"world","page_size":101})").body,
            InvalidArg("page_size", "out_of_range"));
  EXPECT_EQ(List(R"({"namespace":"world","page_size":-1})").body,
            InvalidArg("page_size", "out_of_range"));
  EXPECT_EQ(List(R"({"namespace":"world","page_token":"!!"})").body,
            InvalidArg("page_token", "malformed"));
  EXPECT_EQ(List(R"({"namespace":"world","prefix":"a/"})").body, InvalidArg("prefix", "pattern"));
  EXPECT_EQ(List(R"({"namespace":"world","prefix":")" + std::string(129, 'a') + "\"}").body,
            InvalidArg("prefix", "too_long"));
  EXPECT_EQ(List(R"({"prefix":"a"})").body, InvalidArg("namespace", "required"));
  // Players list only under "<player_id>:" in save/session.
  EXPECT_EQ(List(R"({"namespace":"save"})", AsPlayer()).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(List(R"({"namespace":"save","prefix":"pl_a8694c9d17e9b948"})", AsPlayer()).body,
            Error("PERMISSION_DENIED"));
  EXPECT_EQ(List(R"({"namespace":"world","prefix":"pl_a8694c9d17e9b948:"})", AsPlayer()).body,
            Error("PERMISSION_DENIED"));
  ASSERT_TRUE(Put("save", kSlot, "").ok());
  ASSERT_TRUE(Put("save", "pl_ffffffffffffffff:x", "", Headers{}).ok());
  Reply r = List(R"({"namespace":"save","prefix":"pl_a8694c9d17e9b948:"})", AsPlayer());
  EXPECT_EQ(r.body, Json::parse(R"({"keys":[{"key":"pl_a8694c9d17e9b948:slot1","version":1,
      "size_bytes":2}],"next_page_token":""})"));
  EXPECT_EQ(List(R"({"namespace":"save","page_size":0})").body["keys"].size(), 2u);  // 0 -> 20
}

// ---- §0.4 check order ----

TEST_F(StateManagerServiceTest, CheckOrderFieldsPermissionNotFound) {
  const Headers other = AsPlayer("pl_ffffffffffffffff");
  EXPECT_EQ(Get("save", "a b", other).body, InvalidArg("key", "pattern"));
  EXPECT_EQ(Get("bad-ns", "a b", other).body, InvalidArg("namespace", "pattern"));
  // PERMISSION_DENIED before NOT_FOUND.
  EXPECT_EQ(Get("save", kSlot, other).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(Patch("save", kSlot, R"("expected_version":1)", other).body, Error("PERMISSION_DENIED"));
  // Value checks before authorization.
  EXPECT_EQ(Put("save", kSlot, "\"value\":" + Nested(17).dump(), other).body,
            InvalidArg("value", "out_of_range"));
  EXPECT_EQ(Get("save", kSlot, Headers{"admin:x", "2025-13-01T00:00:00Z"}).body,
            InvalidArg("X-Request-Time", "malformed"));
}

// ---- events ----

TEST_F(StateManagerServiceTest, DocChangedForEveryWrite) {
  ASSERT_TRUE(Put("save", kSlot, "", Headers{"admin:t", "2025-11-21T00:00:00.000Z"}).ok());
  ASSERT_TRUE(Patch("save", kSlot, R"("expected_version":1)").ok());
  ASSERT_TRUE(Delete("save", kSlot, "").ok());
  ASSERT_TRUE(Put("save", kSlot, "").ok());
  // Failures and no-op deletes emit nothing.
  Put("save", kSlot, R"("expected_version":5)");
  Delete("save", P + ":nothing", "");
  std::vector<Json> events = h_.Events();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0], Json::parse(R"({"subject":"evt.state-manager.v1.doc_changed",
      "occurred_at":"2025-11-21T00:00:00.000Z","namespace":"save",
      "key":"pl_a8694c9d17e9b948:slot1","version":1,"op":"put"})"));
  EXPECT_EQ(events[1]["op"], "patch");
  EXPECT_EQ(events[1]["version"], 2);
  EXPECT_EQ(events[2]["op"], "delete");
  EXPECT_EQ(events[2]["version"], 2);  // the version that was deleted
  EXPECT_EQ(events[3]["op"], "put");
  EXPECT_EQ(events[3]["version"], 1);
}

TEST_F(StateManagerServiceTest, EventIdsDifferForARecreatedVersion) {
  // Same (namespace, key, version, op, time) twice: the ids must still differ, or JetStream's
  // Nats-Msg-Id de-duplication would drop the second occurrence.
  ASSERT_TRUE(Put("save", kSlot, "").ok());
  ASSERT_TRUE(Delete("save", kSlot, "").ok());
  ASSERT_TRUE(Put("save", kSlot, "").ok());
  std::vector<Event> raw = h_.RawEvents();
  ASSERT_EQ(raw.size(), 3u);
  std::vector<Json> events = h_.Events();
  EXPECT_EQ(events[0], events[2]);
  EXPECT_NE(raw[0].event_id, raw[2].event_id);
}

// ---- store failures and bounded retries ----

TEST(StateManagerStoreFailureTest, LostCompareAndSetIsRetriedABoundedNumberOfTimes) {
  testing::LoopThread loop;
  testing::FlakyStore store(loop.dispatcher());
  InMemoryEventPublisher events(loop.dispatcher());
  auto service = MakeStateManagerService({&store, &events, true});
  HandlerRegistry registry;
  service->Register(registry);
  auto call = [&](const char* action, const std::string& json) {
    return loop.Await<absl::StatusOr<MessagePtr>>([&](auto done) {
      Method* m = registry.Find(action);
      MessagePtr rq = m->NewRequest();
      ASSERT_TRUE(adapters::transcoding::JsonTextToMessage(json, *rq).ok());
      m->Invoke(PortHarness::Context({}), std::move(rq), std::move(done));
    });
  };
  store.conflict_every_cas = true;
  auto out = call("put", R"({"namespace":"world","key":"k","unconditional":true})");
  EXPECT_EQ(out->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store.cas_calls, 8);
  store.conflict_every_cas = false;
  ASSERT_TRUE(call("put", R"({"namespace":"world","key":"k"})")->ok());
  store.conflict_every_cas = true;
  store.cas_calls = 0;
  out = call("delete", R"({"namespace":"world","key":"k"})");
  EXPECT_EQ(out->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store.cas_calls, 8);
  EXPECT_EQ(events.events().size(), 1u);
  store.conflict_every_cas = false;
  store.fail_reads = true;
  out = call("list_keys", R"({"namespace":"world"})");
  EXPECT_EQ(out->status().code(), absl::StatusCode::kUnavailable);
}

TEST(StateManagerStoreFailureTest, RacingCreatesReallyConflictAndTheLoserRereads) {
  testing::LoopThread loop;
  testing::FlakyStore store(loop.dispatcher());
  InMemoryEventPublisher events(loop.dispatcher());
  auto service = MakeStateManagerService({&store, &events, true});
  HandlerRegistry registry;
  service->Register(registry);
  auto codes = loop.Await<std::vector<std::string>>([&](auto done) {
    auto out = std::make_shared<std::vector<std::string>>();
    auto shared_done = std::make_shared<decltype(done)>(std::move(done));
    for (int i = 0; i < 2; ++i) {
      Method* m = registry.Find("put");
      MessagePtr rq = m->NewRequest();
      ASSERT_TRUE(adapters::transcoding::JsonTextToMessage(
                      R"({"namespace":"world","key":"k","expected_version":0})", *rq)
                      .ok());
      m->Invoke(PortHarness::Context({}), std::move(rq),
                [out, shared_done](absl::StatusOr<MessagePtr> r) {
                  out->push_back(r.ok() ? "OK" : ToErrorProto(r.status()).code());
                  if (out->size() == 2) std::move(*shared_done)(*out);
                });
    }
  });
  std::sort(codes->begin(), codes->end());
  EXPECT_EQ(*codes, (std::vector<std::string>{"FAILED_PRECONDITION", "OK"}));
  EXPECT_EQ(store.cas_calls, 2);  // the loser's create lost, it re-read and saw version 1
}

}  // namespace
}  // namespace sidecar::services
