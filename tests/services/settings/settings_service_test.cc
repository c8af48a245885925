// settings (SERVICES.md §2.2) through its registry: every example, every numbered rule, the §0.4
// check order, compare-and-set conflicts and events.

#include <string>

#include "gtest/gtest.h"
#include "services/settings/settings_service.h"
#include "settings/v1/settings.pb.h"
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

// The §2.2 "Given".
Json GivenFixture() {
  return Json::parse(R"({
    "schemas": [
      {"key": "audio.master_volume", "type": "int", "default": 80, "min": 0, "max": 100},
      {"key": "gameplay.subtitles", "type": "bool", "default": false},
      {"key": "graphics.quality", "type": "enum", "default": "high",
       "allowed": ["low", "medium", "high"], "platform_defaults": {"mobile": "low"}}
    ],
    "schema_revision": 3,
    "players": {"pl_a8694c9d17e9b948": {"values": {"audio.master_volume": 55}, "revision": 3}}
  })");
}

class SettingsServiceTest : public ::testing::Test {
 protected:
  SettingsServiceTest() : h_("settings", MakeSettingsService) {}

  void LoadGiven() { ASSERT_TRUE(h_.Fixture(GivenFixture()).ok()); }

  Reply GetEffective(const std::string& query = "", const Headers& headers = AsPlayer()) {
    return h_.Call("get_effective", R"({"player_id":")" + P + "\"" + query + "}", headers);
  }
  Reply SetValues(const std::string& body_rest, const Headers& headers = AsPlayer()) {
    return h_.Call("set_values", R"({"player_id":")" + P + "\"," + body_rest + "}", headers);
  }
  Reply PutSchema(const std::string& body, const Headers& headers = {}) {
    return h_.Call("put_schema", body, headers);
  }

  PortHarness h_;
};

// ---- registry ----

TEST_F(SettingsServiceTest, RegistersEveryActionOfTheProto) {
  EXPECT_TRUE(VerifyRegistry("settings", h_.registry()).ok());
  EXPECT_NE(h_.registry().Find("_fixture"), nullptr);
}

TEST(SettingsFixtureTest, DisabledFixtureIsPermissionDenied) {
  PortHarness h("settings", MakeSettingsService, /*fixtures_enabled=*/false);
  Reply r = h.Fixture(GivenFixture());
  EXPECT_EQ(r.body, Error("PERMISSION_DENIED"));
}

// ---- examples ----

TEST_F(SettingsServiceTest, Example1LayeredRead) {
  LoadGiven();
  Reply r = GetEffective(R"(,"platform":"mobile")");
  EXPECT_EQ(r.body, Json::parse(R"({"player_id":"pl_a8694c9d17e9b948","platform":"mobile",
    "values":{"audio.master_volume":55,"gameplay.subtitles":false,"graphics.quality":"low"},
    "sources":{"audio.master_volume":"player","gameplay.subtitles":"default","graphics.quality":"platform"},
    "revision":3})"));
}

TEST_F(SettingsServiceTest, Example2SetDropsValueEqualToDefault) {
  LoadGiven();
  Reply r = SetValues(
      R"("platform":"pc","expected_revision":3,"values":{"audio.master_volume":80,"gameplay.subtitles":true})");
  EXPECT_EQ(r.body, Json::parse(R"({"revision":4,"stored":{"gameplay.subtitles":true}})"));
}

TEST_F(SettingsServiceTest, GoldenFilesReplay) {
  auto files = PortHarness::GoldenFiles("settings");
  ASSERT_EQ(files.size(), 2u);
  for (const auto& [name, golden] : files) {
    PortHarness fresh("settings", MakeSettingsService);
    EXPECT_EQ(fresh.ReplayGolden(golden), "") << name;
  }
}

TEST_F(SettingsServiceTest, ExamplesThroughTheHttpRoutes) {
  LoadGiven();
  Reply r = h_.CallHttp("GET", "/api/settings/players/" + P + "?platform=mobile", "", AsPlayer());
  EXPECT_EQ(r.body["values"]["graphics.quality"], "low");
  r = h_.CallHttp("GET", "/api/settings/schema", "");
  EXPECT_EQ(r.body["schema_revision"], 3);
}

// ---- rule 1: key, cap, platform ----

TEST_F(SettingsServiceTest, Rule1KeySyntax) {
  const std::string rest = R"(","type":"bool","default":true})";
  EXPECT_EQ(PutSchema(R"({"key":"","type":"bool","default":true})").body,
            InvalidArg("key", "required"));
  EXPECT_EQ(PutSchema(R"({"key":"graphics)" + rest).body, InvalidArg("key", "pattern"));
  EXPECT_EQ(PutSchema(R"({"key":"Graphics.quality)" + rest).body, InvalidArg("key", "pattern"));
  EXPECT_EQ(PutSchema(R"({"key":"a.b.c.d.e)" + rest).body, InvalidArg("key", "pattern"));
  EXPECT_EQ(PutSchema(R"({"key":"a.9b)" + rest).body, InvalidArg("key", "pattern"));
  EXPECT_TRUE(PutSchema(R"({"key":"a.b.c.d)" + rest).ok());
  EXPECT_TRUE(PutSchema(R"({"key":"a_1.b_2)" + rest).ok());
  // ≤64: a 65-char key that would match the pattern is too_long, not pattern.
  std::string long_key = "a." + std::string(63, 'b');
  EXPECT_EQ(PutSchema(R"({"key":")" + long_key + rest).body, InvalidArg("key", "too_long"));
  EXPECT_TRUE(PutSchema(R"({"key":"a.)" + std::string(62, 'b') + rest).ok());
}

TEST_F(SettingsServiceTest, Rule1AtMost256KeysReplacingAtTheCapSucceeds) {
  Json fixture = {{"schemas", Json::array()}};
  for (int i = 0; i < 256; ++i) {
    fixture["schemas"].push_back(
        {{"key", "k.s" + std::to_string(1000 + i)}, {"type", "bool"}, {"default", false}});
  }
  ASSERT_TRUE(h_.Fixture(fixture).ok());
  Reply r = PutSchema(R"({"key":"k.new","type":"bool","default":true})");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.body, Error("RESOURCE_EXHAUSTED", {{"reason", "limit_exceeded"}, {"limit", "256"}}));
  r = PutSchema(R"({"key":"k.s1000","type":"bool","default":true})");
  EXPECT_EQ(r.body, Json::parse(R"({"key":"k.s1000","schema_revision":257})"));
}

TEST_F(SettingsServiceTest, Rule1PlatformResolvesEmptyToPcAndRejectsUnknown) {
  LoadGiven();
  Reply r = GetEffective();
  EXPECT_EQ(r.body["platform"], "pc");
  EXPECT_EQ(r.body["values"]["graphics.quality"], "high");
  EXPECT_EQ(r.body["sources"]["graphics.quality"], "default");
  EXPECT_EQ(GetEffective(R"(,"platform":"xbox")").body, InvalidArg("platform", "unknown_value"));
  EXPECT_EQ(GetEffective(R"(,"platform":"PC")").body, InvalidArg("platform", "unknown_value"));
  EXPECT_EQ(GetEffective(R"(,"platform":7)").body, InvalidArg("platform", "type"));
  EXPECT_EQ(GetEffective(R"(,"platform":"console")").body["platform"], "console");
}

// ---- rule 2: types and value reasons ----

TEST_F(SettingsServiceTest, Rule2IntAcceptsIntegralFloatsAndChecksRange) {
  LoadGiven();
  Reply r = SetValues(R"("expected_revision":3,"values":{"audio.master_volume":5.0})");
  EXPECT_EQ(r.body, Json::parse(R"({"revision":4,"stored":{"audio.master_volume":5}})"));
  EXPECT_EQ(SetValues(R"("expected_revision":4,"values":{"audio.master_volume":1.5})").body,
            InvalidArg("values.audio.master_volume", "type"));
  EXPECT_EQ(SetValues(R"("expected_revision":4,"values":{"audio.master_volume":"5"})").body,
            InvalidArg("values.audio.master_volume", "type"));
  EXPECT_EQ(SetValues(R"("expected_revision":4,"values":{"audio.master_volume":101})").body,
            InvalidArg("values.audio.master_volume", "out_of_range"));
  EXPECT_EQ(SetValues(R"("expected_revision":4,"values":{"audio.master_volume":-1})").body,
            InvalidArg("values.audio.master_volume", "out_of_range"));
  EXPECT_EQ(SetValues(R"("expected_revision":4,"values":{"audio.master_volume":1e300})").body,
            InvalidArg("values.audio.master_volume", "out_of_range"));
  EXPECT_TRUE(SetValues(R"("expected_revision":4,"values":{"audio.master_volume":100})").ok());
}

TEST_F(SettingsServiceTest, Rule2BoolStringAndEnumReasons) {
  LoadGiven();
  ASSERT_TRUE(PutSchema(R"({"key":"profile.motto","type":"string","default":"","max_len":3})").ok());
  EXPECT_EQ(SetValues(R"("values":{"gameplay.subtitles":1})").body,
            InvalidArg("values.gameplay.subtitles", "type"));
  EXPECT_EQ(SetValues(R"("values":{"gameplay.subtitles":"true"})").body,
            InvalidArg("values.gameplay.subtitles", "type"));
  EXPECT_EQ(SetValues(R"("values":{"gameplay.subtitles":null})").body,
            InvalidArg("values.gameplay.subtitles", "type"));
  EXPECT_EQ(SetValues(R"("values":{"profile.motto":"abcd"})").body,
            InvalidArg("values.profile.motto", "too_long"));
  EXPECT_EQ(SetValues(R"("values":{"profile.motto":5})").body,
            InvalidArg("values.profile.motto", "type"));
  EXPECT_EQ(SetValues(R"("values":{"graphics.quality":"ultra"})").body,
            InvalidArg("values.graphics.quality", "unknown_value"));
  EXPECT_EQ(SetValues(R"("values":{"graphics.quality":["low"]})").body,
            InvalidArg("values.graphics.quality", "type"));
  // Lengths count code points: three two-byte characters fit max_len 3.
  Reply r = SetValues(R"("expected_revision":3,"values":{"profile.motto":"äöü"})");
  EXPECT_EQ(r.body["stored"]["profile.motto"], "äöü");
}

TEST_F(SettingsServiceTest, Rule2StringMaxLenBoundsAndEmptyStrings) {
  EXPECT_EQ(PutSchema(R"({"key":"p.s","type":"string","default":"","max_len":0})").body,
            InvalidArg("max_len", "out_of_range"));
  EXPECT_EQ(PutSchema(R"({"key":"p.s","type":"string","default":"","max_len":1025})").body,
            InvalidArg("max_len", "out_of_range"));
  EXPECT_TRUE(PutSchema(R"({"key":"p.s","type":"string","default":"","max_len":1024})").ok());
  EXPECT_TRUE(PutSchema(R"({"key":"p.t","type":"string","default":"","max_len":1})").ok());  // R21
  EXPECT_EQ(PutSchema(R"({"key":"p.s","type":"string","default":"ab","max_len":1})").body,
            InvalidArg("default", "too_long"));
}

TEST_F(SettingsServiceTest, Rule2EnumAllowedCountDistinctAndOrder) {
  EXPECT_EQ(PutSchema(R"({"key":"g.q","type":"enum","default":"a"})").body,
            InvalidArg("allowed", "required"));
  Json many = Json::array();
  for (int i = 0; i < 33; ++i) many.push_back("v" + std::to_string(i));
  EXPECT_EQ(PutSchema(R"({"key":"g.q","type":"enum","default":"v0","allowed":)" + many.dump() + "}")
                .body,
            InvalidArg("allowed", "too_long"));
  many.erase(many.size() - 1);
  EXPECT_TRUE(
      PutSchema(R"({"key":"g.q","type":"enum","default":"v0","allowed":)" + many.dump() + "}").ok());
  EXPECT_EQ(PutSchema(R"({"key":"g.q","type":"enum","default":"a","allowed":["a",""]})").body,
            InvalidArg("allowed[1]", "too_short"));
  EXPECT_EQ(PutSchema(R"({"key":"g.q","type":"enum","default":"a","allowed":["a","b","a"]})").body,
            InvalidArg("allowed[2]", "malformed"));
  EXPECT_EQ(PutSchema(R"({"key":"g.q","type":"enum","default":"a","allowed":["a",3]})").body,
            InvalidArg("allowed[1]", "type"));
  EXPECT_EQ(PutSchema(R"({"key":"g.q","type":"enum","default":"z","allowed":["a"]})").body,
            InvalidArg("default", "unknown_value"));
  ASSERT_TRUE(PutSchema(R"({"key":"g.q","type":"enum","default":"m","allowed":["z","a","m"]})").ok());
  Reply r = h_.Call("get_schema", "{}");
  EXPECT_EQ(r.body["entries"][0]["allowed"], Json::parse(R"(["z","a","m"])"));  // R30
}

TEST_F(SettingsServiceTest, Rule2DefaultIsRequiredAndMustValidate) {
  EXPECT_EQ(PutSchema(R"({"key":"a.b","type":"int","max":5})").body,
            InvalidArg("default", "required"));
  EXPECT_EQ(PutSchema(R"({"key":"a.b","type":"int","max":5,"default":null})").body,
            InvalidArg("default", "required"));
  EXPECT_EQ(PutSchema(R"({"key":"a.b","type":"int","max":5,"default":{"x":1}})").body,
            InvalidArg("default", "type"));
  EXPECT_EQ(PutSchema(R"({"key":"a.b","type":"int","max":5,"default":[1]})").body,
            InvalidArg("default", "type"));
  EXPECT_EQ(PutSchema(R"({"key":"a.b","type":"int","max":5,"default":6})").body,
            InvalidArg("default", "out_of_range"));
  EXPECT_EQ(PutSchema(R"({"key":"a.b","type":"int","max":5,"default":2.5})").body,
            InvalidArg("default", "type"));
  EXPECT_EQ(PutSchema(R"({"key":"a.b","type":"bool","default":"no"})").body,
            InvalidArg("default", "type"));
  // A protobuf caller's explicit null Value is absent too.
  ::settings::v1::PutSchemaRequest rq;
  rq.set_key("a.b");
  rq.set_type("bool");
  rq.mutable_default_()->set_null_value(google::protobuf::NULL_VALUE);
  EXPECT_EQ(h_.CallMessage("put_schema", rq).body, InvalidArg("default", "required"));
}

// ---- rule 3: layering ----

TEST_F(SettingsServiceTest, Rule3InvalidStoredValuesAreIgnoredNotDeleted) {
  Json fixture = GivenFixture();
  fixture["players"][P]["values"] = {{"audio.master_volume", 150}, {"graphics.quality", "ultra"}};
  ASSERT_TRUE(h_.Fixture(fixture).ok());
  Reply r = GetEffective(R"(,"platform":"mobile")");
  EXPECT_EQ(r.body["values"]["audio.master_volume"], 80);
  EXPECT_EQ(r.body["sources"]["audio.master_volume"], "default");
  EXPECT_EQ(r.body["values"]["graphics.quality"], "low");
  EXPECT_EQ(r.body["sources"]["graphics.quality"], "platform");
  // Widening the schema makes the kept value effective again.
  ASSERT_TRUE(
      PutSchema(R"({"key":"audio.master_volume","type":"int","default":80,"min":0,"max":200})").ok());
  r = GetEffective();
  EXPECT_EQ(r.body["values"]["audio.master_volume"], 150);
  EXPECT_EQ(r.body["sources"]["audio.master_volume"], "player");
}

TEST_F(SettingsServiceTest, Rule3UnknownPlayerReadsDefaultsAtRevisionZero) {
  LoadGiven();
  Reply r = h_.Call("get_effective", R"({"player_id":"pl_0000000000000000"})");
  EXPECT_EQ(r.body["revision"], 0);
  EXPECT_EQ(r.body["values"], Json::parse(
      R"({"audio.master_volume":80,"gameplay.subtitles":false,"graphics.quality":"high"})"));
}

// ---- rule 4: set_values ----

TEST_F(SettingsServiceTest, Rule4OneBadValueRejectsAllAndReportsTheFirstKeyInKeyOrder) {
  LoadGiven();
  Reply r = SetValues(
      R"("expected_revision":3,"values":{"z.unknown":1,"gameplay.subtitles":"x","audio.master_volume":500})");
  EXPECT_EQ(r.body, InvalidArg("values.audio.master_volume", "out_of_range"));
  r = SetValues(R"("expected_revision":3,"values":{"z.unknown":1,"gameplay.subtitles":true})");
  EXPECT_EQ(r.body, InvalidArg("values.z.unknown", "unknown_value"));
  // Nothing was written.
  r = GetEffective();
  EXPECT_EQ(r.body["revision"], 3);
  EXPECT_EQ(r.body["values"]["gameplay.subtitles"], false);
  EXPECT_TRUE(h_.Events().empty());
}

TEST_F(SettingsServiceTest, Rule4ValuesCountIs1To64) {
  LoadGiven();
  EXPECT_EQ(SetValues(R"("values":{})").body, InvalidArg("values", "required"));
  EXPECT_EQ(SetValues(R"("expected_revision":3)").body, InvalidArg("values", "required"));
  Json values = Json::object();
  for (int i = 0; i < 65; ++i) values["k.v" + std::to_string(i)] = 1;
  EXPECT_EQ(SetValues("\"values\":" + values.dump()).body, InvalidArg("values", "too_long"));
  EXPECT_EQ(SetValues(R"("values":[1])").body, InvalidArg("values", "type"));
}

TEST_F(SettingsServiceTest, Rule4PlatformDefaultDependsOnTheRequestPlatform) {
  LoadGiven();
  // "low" is mobile's layered default: dropped on mobile...
  Reply r = SetValues(R"("platform":"mobile","expected_revision":3,"values":{"graphics.quality":"low"})");
  EXPECT_EQ(r.body, Json::parse(R"({"revision":4,"stored":{"audio.master_volume":55}})"));
  // ...but stored for pc, where the layered default is "high".
  r = SetValues(R"("expected_revision":4,"values":{"graphics.quality":"low"})");
  EXPECT_EQ(r.body, Json::parse(
      R"({"revision":5,"stored":{"audio.master_volume":55,"graphics.quality":"low"}})"));
  // Setting the default again removes the stored value.
  r = SetValues(R"("expected_revision":5,"values":{"graphics.quality":"high","audio.master_volume":80.0})");
  EXPECT_EQ(r.body, Json::parse(R"({"revision":6,"stored":{}})"));
}

// ---- rule 5: revisions, reset ----

TEST_F(SettingsServiceTest, Rule5ExpectedRevisionMismatch) {
  LoadGiven();
  Reply r = SetValues(R"("expected_revision":2,"values":{"gameplay.subtitles":true})");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body, Error("FAILED_PRECONDITION",
                          {{"reason", "revision_mismatch"}, {"current_revision", "3"}}));
  // A new player starts at 0.
  r = h_.Call("set_values",
              R"({"player_id":"pl_0000000000000001","expected_revision":1,"values":{"gameplay.subtitles":true}})");
  EXPECT_EQ(r.body["error"]["details"]["current_revision"], "0");
  r = h_.Call("set_values",
              R"({"player_id":"pl_0000000000000001","values":{"gameplay.subtitles":true}})");
  EXPECT_EQ(r.body["revision"], 1);
}

TEST_F(SettingsServiceTest, Rule5ResetSomeKeysIgnoresUnknownOnesAndStillCounts) {
  LoadGiven();
  ASSERT_TRUE(SetValues(R"("expected_revision":3,"values":{"gameplay.subtitles":true})").ok());
  Reply r = h_.Call("reset", R"({"player_id":")" + P +
                                 R"(","expected_revision":4,"keys":["gameplay.subtitles","nope.key","nope"]})",
                    AsPlayer());
  EXPECT_EQ(r.body, Json::parse(R"({"revision":5,"stored":{"audio.master_volume":55}})"));
  r = h_.Call("reset", R"({"player_id":")" + P + R"(","expected_revision":5,"keys":["x.y"]})",
              AsPlayer());
  EXPECT_EQ(r.body, Json::parse(R"({"revision":6,"stored":{"audio.master_volume":55}})"));  // R27
}

TEST_F(SettingsServiceTest, Rule5ResetWithoutKeysClearsAll) {
  LoadGiven();
  Reply r = h_.Call("reset", R"({"player_id":")" + P + R"(","expected_revision":3})", AsPlayer());
  EXPECT_EQ(r.body, Json::parse(R"({"revision":4,"stored":{}})"));
  r = h_.Call("reset", R"({"player_id":")" + P + R"(","expected_revision":3})", AsPlayer());
  EXPECT_EQ(r.body, Error("FAILED_PRECONDITION",
                          {{"reason", "revision_mismatch"}, {"current_revision", "4"}}));
  EXPECT_EQ(h_.Call("reset", R"({"player_id":")" + P + R"(","keys":["a.b",""]})").body,
            InvalidArg("keys[1]", "too_short"));
  EXPECT_EQ(h_.Call("reset", R"({"player_id":")" + P + R"(","keys":"a.b"})").body,
            InvalidArg("keys", "type"));
}

TEST_F(SettingsServiceTest, Rule5ConcurrentWritersWithOneRevisionExactlyOneWins) {
  LoadGiven();
  // Both requests start on the loop before either commits: both read revision 3, one
  // compare-and-set loses, re-runs on fresh state and finds the revision moved on.
  Method* m = h_.registry().Find("set_values");
  CallContext ctx = PortHarness::Context(AsPlayer());
  auto both = h_.loop().Await<std::vector<Reply>>([&](auto done) {
    auto replies = std::make_shared<std::vector<Reply>>();
    auto shared_done = std::make_shared<decltype(done)>(std::move(done));
    for (const char* value : {"true", "false"}) {
      MessagePtr rq = m->NewRequest();
      ASSERT_TRUE(adapters::transcoding::JsonTextToMessage(
                      std::string(R"({"player_id":"pl_a8694c9d17e9b948","expected_revision":3,)") +
                          R"("values":{"gameplay.subtitles":)" + value + "}}",
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
      EXPECT_EQ(r.body["revision"], 4);
    } else {
      EXPECT_EQ(r.body, Error("FAILED_PRECONDITION",
                              {{"reason", "revision_mismatch"}, {"current_revision", "4"}}));
    }
  }
  EXPECT_EQ(wins, 1);
  EXPECT_EQ(h_.Events().size(), 1u);
}

// ---- rule 6: put_schema order and revisions ----

TEST_F(SettingsServiceTest, Rule6CheckOrder) {
  // Own syntax in table order: key before type before default.
  EXPECT_EQ(PutSchema(R"({"key":"bad","type":"nope"})").body, InvalidArg("key", "pattern"));
  EXPECT_EQ(PutSchema(R"({"key":"a.b","type":"nope"})").body, InvalidArg("type", "unknown_value"));
  EXPECT_EQ(PutSchema(R"({"key":"a.b"})").body, InvalidArg("type", "required"));
  EXPECT_EQ(PutSchema(R"({"key":"a.b","type":"int"})").body, InvalidArg("default", "required"));
  // platform_defaults keys are own syntax: before the type's constraints (min > max).
  EXPECT_EQ(PutSchema(R"({"key":"a.b","type":"int","default":1,"min":5,"max":1,
                          "platform_defaults":{"xbox":1}})")
                .body,
            InvalidArg("platform_defaults.xbox", "unknown_value"));
  EXPECT_EQ(PutSchema(R"({"key":"a.b","type":"int","default":1,"platform_defaults":{"pc":[1]}})")
                .body,
            InvalidArg("platform_defaults.pc", "type"));
  // The type's constraints before `default`.
  EXPECT_EQ(PutSchema(R"({"key":"a.b","type":"int","default":"x","min":5,"max":1})").body,
            InvalidArg("max", "out_of_range"));
  // `default` before the platform defaults, which go in key order.
  EXPECT_EQ(PutSchema(R"({"key":"a.b","type":"int","default":9,"max":5,
                          "platform_defaults":{"console":7}})")
                .body,
            InvalidArg("default", "out_of_range"));
  EXPECT_EQ(PutSchema(R"({"key":"a.b","type":"int","default":1,"max":5,
                          "platform_defaults":{"pc":6,"console":true,"mobile":9}})")
                .body,
            InvalidArg("platform_defaults.console", "type"));
  // JSON types of fields that do not apply are still the transcoder's.
  EXPECT_EQ(PutSchema(R"({"key":"a.b","type":"bool","default":true,"min":"x"})").body,
            InvalidArg("min", "type"));
  EXPECT_EQ(PutSchema(R"({"key":"a.b","type":"bool","default":true,"max_len":3000000000})").body,
            InvalidArg("max_len", "out_of_range"));
}

TEST_F(SettingsServiceTest, Rule6EveryPutBumpsSchemaRevisionAndZeroesOtherTypesFields) {
  const std::string body =
      R"({"key":"audio.music","type":"bool","default":true,"min":3,"max":9,"max_len":4,
          "allowed":["x"],"platform_defaults":{"mobile":false}})";
  EXPECT_EQ(PutSchema(body).body, Json::parse(R"({"key":"audio.music","schema_revision":1})"));
  EXPECT_EQ(PutSchema(body).body, Json::parse(R"({"key":"audio.music","schema_revision":2})"));
  Reply r = h_.Call("get_schema", "{}", AsPlayer());  // a read: any principal
  EXPECT_EQ(r.body, Json::parse(R"({"entries":[{"key":"audio.music","type":"bool","default":true,
      "min":0,"max":0,"max_len":0,"allowed":[],"platform_defaults":{"mobile":false}}],
      "schema_revision":2})"));
}

TEST_F(SettingsServiceTest, GetSchemaListsEntriesByKey) {
  ASSERT_TRUE(PutSchema(R"({"key":"z.z","type":"int","default":5.0,"min":-3,"max":7})").ok());
  ASSERT_TRUE(PutSchema(R"({"key":"a.a","type":"string","default":"hi","max_len":8})").ok());
  Reply r = h_.Call("get_schema", "{}");
  EXPECT_EQ(r.body, Json::parse(R"({"entries":[
      {"key":"a.a","type":"string","default":"hi","min":0,"max":0,"max_len":8,"allowed":[],"platform_defaults":{}},
      {"key":"z.z","type":"int","default":5,"min":-3,"max":7,"max_len":0,"allowed":[],"platform_defaults":{}}],
      "schema_revision":2})"));
  EXPECT_EQ(h_.Call("get_schema", "{}", Headers{"", "2025-11-20T12:00:00.000Z"}).body,
            Error("UNAUTHENTICATED"));
}

// ---- §0.3/§0.4 authorization and check order ----

TEST_F(SettingsServiceTest, AuthorizationDefaults) {
  LoadGiven();
  const std::string schema = R"({"key":"a.b","type":"bool","default":true})";
  EXPECT_EQ(PutSchema(schema, Headers{"", "2025-11-20T12:00:00.000Z"}).body, Error("UNAUTHENTICATED"));
  EXPECT_EQ(PutSchema(schema, Headers{"player:", "2025-11-20T12:00:00.000Z"}).body,
            Error("UNAUTHENTICATED"));  // R1
  EXPECT_EQ(PutSchema(schema, AsPlayer()).body, Error("PERMISSION_DENIED"));
  EXPECT_TRUE(PutSchema(schema, Headers{"service:ops", "2025-11-20T12:00:00.000Z"}).ok());
  // Player-scoped: another player is denied, reads included; service/admin pass.
  EXPECT_EQ(GetEffective("", AsPlayer("pl_ffffffffffffffff")).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(SetValues(R"("expected_revision":3,"values":{"gameplay.subtitles":true})",
                      AsPlayer("pl_ffffffffffffffff"))
                .body,
            Error("PERMISSION_DENIED"));
  EXPECT_EQ(h_.Call("reset", R"({"player_id":")" + P + R"("})", AsPlayer("pl_ffffffffffffffff")).body,
            Error("PERMISSION_DENIED"));
  EXPECT_TRUE(GetEffective("", Headers{}).ok());
}

TEST_F(SettingsServiceTest, CheckOrderFieldsBeforePermissionBeforePrecondition) {
  LoadGiven();
  const Headers other = AsPlayer("pl_ffffffffffffffff");
  // Field checks (against the stored schema too) come before PERMISSION_DENIED.
  EXPECT_EQ(SetValues(R"("values":{"gameplay.subtitles":3})", other).body,
            InvalidArg("values.gameplay.subtitles", "type"));
  EXPECT_EQ(PutSchema(R"({"key":"a","type":"bool","default":true})", AsPlayer()).body,
            InvalidArg("key", "pattern"));
  // PERMISSION_DENIED before FAILED_PRECONDITION.
  EXPECT_EQ(SetValues(R"("expected_revision":99,"values":{"gameplay.subtitles":true})", other).body,
            Error("PERMISSION_DENIED"));
  // Table order: player_id, platform, values, expected_revision.
  EXPECT_EQ(h_.Call("set_values", R"({"platform":"x","values":{}})").body,
            InvalidArg("player_id", "required"));
  EXPECT_EQ(SetValues(R"("platform":"x","values":{})").body, InvalidArg("platform", "unknown_value"));
  EXPECT_EQ(SetValues(R"("values":{"gameplay.subtitles":true},"expected_revision":"abc")").body,
            InvalidArg("expected_revision", "type"));
  EXPECT_EQ(SetValues(R"("values":{"gameplay.subtitles":true},"expected_revision":1.5)").body,
            InvalidArg("expected_revision", "type"));
  EXPECT_EQ(SetValues(R"("values":{"gameplay.subtitles":true},"expected_revision":9007199254740992)")
                .body,
            InvalidArg("expected_revision", "out_of_range"));
  // X-Request-Time is the envelope, after UNAUTHENTICATED.
  EXPECT_EQ(GetEffective("", Headers{"", "yesterday"}).body, Error("UNAUTHENTICATED"));
  EXPECT_EQ(GetEffective("", Headers{"admin:x", "yesterday"}).body,
            InvalidArg("X-Request-Time", "malformed"));
  EXPECT_EQ(h_.Call("get_effective", R"({"player_id":""})").body,
            InvalidArg("player_id", "required"));
}

// ---- events ----

TEST_F(SettingsServiceTest, EventsCarryTheListedFields) {
  LoadGiven();
  ASSERT_TRUE(PutSchema(R"({"key":"audio.music","type":"bool","default":true})",
                        Headers{"admin:test", "2025-11-21T08:30:00.250Z"})
                  .ok());
  ASSERT_TRUE(SetValues(R"("expected_revision":3,"values":{"gameplay.subtitles":true,"audio.master_volume":80})")
                  .ok());
  ASSERT_TRUE(h_.Call("reset", R"({"player_id":")" + P + R"(","expected_revision":4,"keys":["b.b","a.a","b.b"]})")
                  .ok());
  ASSERT_TRUE(h_.Call("reset", R"({"player_id":")" + P + R"(","expected_revision":5})").ok());
  std::vector<Json> events = h_.Events();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0], Json::parse(R"({"subject":"evt.settings.v1.schema_changed",
      "occurred_at":"2025-11-21T08:30:00.250Z","key":"audio.music","schema_revision":4})"));
  EXPECT_EQ(events[1], Json::parse(R"({"subject":"evt.settings.v1.player_settings_changed",
      "occurred_at":"2025-11-20T12:00:00.000Z","player_id":"pl_a8694c9d17e9b948","revision":4,
      "keys":["audio.master_volume","gameplay.subtitles"]})"));
  EXPECT_EQ(events[2]["keys"], Json::parse(R"(["a.a","b.b"])"));
  EXPECT_EQ(events[2]["revision"], 5);
  EXPECT_EQ(events[3]["keys"], Json::parse(R"(["gameplay.subtitles"])"));  // what was cleared
  EXPECT_EQ(events[3]["revision"], 6);
}

TEST_F(SettingsServiceTest, FailedRequestsEmitNothing) {
  LoadGiven();
  SetValues(R"("expected_revision":9,"values":{"gameplay.subtitles":true})");
  PutSchema(R"({"key":"a.b","type":"bool","default":true})", AsPlayer());
  EXPECT_TRUE(h_.Events().empty());
}

// ---- store failures and bounded retries ----

TEST(SettingsStoreFailureTest, LostCompareAndSetIsRetriedABoundedNumberOfTimes) {
  testing::LoopThread loop;
  testing::FlakyStore store(loop.dispatcher());
  InMemoryEventPublisher events(loop.dispatcher());
  auto service = MakeSettingsService({&store, &events, true});
  HandlerRegistry registry;
  service->Register(registry);
  store.conflict_every_cas = true;
  auto out = loop.Await<absl::StatusOr<MessagePtr>>([&](auto done) {
    Method* m = registry.Find("put_schema");
    MessagePtr rq = m->NewRequest();
    ASSERT_TRUE(adapters::transcoding::JsonTextToMessage(
                    R"({"key":"a.b","type":"bool","default":true})", *rq)
                    .ok());
    m->Invoke(PortHarness::Context({}), std::move(rq), std::move(done));
  });
  EXPECT_EQ(out->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store.cas_calls, 8);
  EXPECT_TRUE(events.events().empty());

  store.conflict_every_cas = false;
  store.fail_reads = true;
  out = loop.Await<absl::StatusOr<MessagePtr>>([&](auto done) {
    Method* m = registry.Find("get_schema");
    m->Invoke(PortHarness::Context({}), m->NewRequest(), std::move(done));
  });
  EXPECT_EQ(out->status().code(), absl::StatusCode::kUnavailable);  // passes through
}

TEST(SettingsStoreFailureTest, RacingWritersReallyConflictAndTheLoserRereads) {
  testing::LoopThread loop;
  testing::FlakyStore store(loop.dispatcher());
  InMemoryEventPublisher events(loop.dispatcher());
  auto service = MakeSettingsService({&store, &events, true});
  HandlerRegistry registry;
  service->Register(registry);
  auto start = [&](const char* action, const std::string& json, auto on_done) {
    Method* m = registry.Find(action);
    MessagePtr rq = m->NewRequest();
    ASSERT_TRUE(adapters::transcoding::JsonTextToMessage(json, *rq).ok());
    m->Invoke(PortHarness::Context({}), std::move(rq), std::move(on_done));
  };
  auto put = loop.Await<absl::StatusOr<MessagePtr>>([&](auto done) {
    start("put_schema", R"({"key":"a.b","type":"bool","default":false})", std::move(done));
  });
  ASSERT_TRUE(put->ok());
  store.cas_calls = 0;
  auto codes = loop.Await<std::vector<std::string>>([&](auto done) {
    auto out = std::make_shared<std::vector<std::string>>();
    auto shared_done = std::make_shared<decltype(done)>(std::move(done));
    for (int i = 0; i < 2; ++i) {
      start("set_values", R"({"player_id":"p1","expected_revision":0,"values":{"a.b":true}})",
            [out, shared_done](absl::StatusOr<MessagePtr> r) {
              out->push_back(r.ok() ? "OK" : ToErrorProto(r.status()).code());
              if (out->size() == 2) std::move(*shared_done)(*out);
            });
    }
  });
  std::sort(codes->begin(), codes->end());
  EXPECT_EQ(*codes, (std::vector<std::string>{"FAILED_PRECONDITION", "OK"}));
  // Both read revision 0 and tried to commit: the loser's compare-and-set failed, it re-read and
  // then failed revision_mismatch without writing.
  EXPECT_EQ(store.cas_calls, 2);
}

}  // namespace
}  // namespace sidecar::services
