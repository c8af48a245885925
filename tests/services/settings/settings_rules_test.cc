// settings (SERVICES.md §2.2): the pure rules without a store.

#include "services/settings/settings_rules.h"

#include "gtest/gtest.h"
#include "services/common/errors.h"
#include "services/common/call_context.h"
#include "services/settings/settings_fixture.h"
#include "services/settings/settings_store.h"

namespace sidecar::services::settings {
namespace {

using google::protobuf::Value;

Value Num(double d) {
  Value v;
  v.set_number_value(d);
  return v;
}
Value Str(const std::string& s) {
  Value v;
  v.set_string_value(s);
  return v;
}

pb::SettingSchema IntSchema(int64_t min, int64_t max) {
  pb::SettingSchema s;
  s.set_key("a.b");
  s.set_type("int");
  s.set_min(min);
  s.set_max(max);
  *s.mutable_default_() = Num(min);
  return s;
}

std::string Reason(const absl::Status& s) { return DetailsOf(s)["reason"]; }

TEST(SettingsRulesTest, IntValuesAreIntegralAndInRange) {
  pb::SettingSchema s = IntSchema(-5, 5);
  EXPECT_TRUE(CheckSettingValue(s, Num(5.0), "v").ok());
  EXPECT_TRUE(CheckSettingValue(s, Num(-5), "v").ok());
  EXPECT_EQ(Reason(CheckSettingValue(s, Num(5.5), "v").status()), "type");
  EXPECT_EQ(Reason(CheckSettingValue(s, Num(6), "v").status()), "out_of_range");
  EXPECT_EQ(Reason(CheckSettingValue(s, Num(-1e308), "v").status()), "out_of_range");
  EXPECT_EQ(Reason(CheckSettingValue(s, Str("1"), "v").status()), "type");
  EXPECT_EQ(DetailsOf(CheckSettingValue(s, Str("1"), "values.a.b").status())["field"],
            "values.a.b");
}

TEST(SettingsRulesTest, SameValueComparesKindAndValue) {
  Value t;
  t.set_bool_value(true);
  EXPECT_TRUE(SameValue(Num(80), Num(80.0)));
  EXPECT_FALSE(SameValue(Num(1), t));
  EXPECT_FALSE(SameValue(Str("1"), Num(1)));
  EXPECT_TRUE(SameValue(Str("low"), Str("low")));
}

TEST(SettingsRulesTest, BuildSchemaZeroesFieldsOfOtherTypes) {
  pb::PutSchemaRequest rq;
  rq.set_key("g.q");
  rq.set_type("enum");
  *rq.mutable_default_() = Str("b");
  rq.set_min(3);
  rq.set_max(1);  // min > max is not checked for enums (N5: only type-checked)
  rq.set_max_len(9999);
  rq.add_allowed("b");
  rq.add_allowed("a");
  (*rq.mutable_platform_defaults())["console"] = Str("a");
  auto schema = BuildSchema(rq);
  ASSERT_TRUE(schema.ok()) << schema.status();
  EXPECT_EQ(schema->min(), 0);
  EXPECT_EQ(schema->max(), 0);
  EXPECT_EQ(schema->max_len(), 0);
  EXPECT_EQ(schema->allowed_size(), 2);
  EXPECT_EQ(schema->allowed(0), "b");
  EXPECT_EQ(schema->platform_defaults().at("console").string_value(), "a");
}

TEST(SettingsRulesTest, LayeredDefaultPrefersThePlatformDefault) {
  pb::SettingSchema s = IntSchema(0, 100);
  (*s.mutable_platform_defaults())["mobile"] = Num(10);
  std::string_view source;
  EXPECT_EQ(LayeredDefault(s, "mobile", &source).number_value(), 10);
  EXPECT_EQ(source, "platform");
  EXPECT_EQ(LayeredDefault(s, "pc", &source).number_value(), 0);
  EXPECT_EQ(source, "default");
  EXPECT_EQ(ResolvePlatform(""), "pc");
}

TEST(SettingsRulesTest, PlayerKeysEscapeSlashes) {
  EXPECT_EQ(PlayerKey("pl_a8694c9d17e9b948"), "settings/players/pl_a8694c9d17e9b948");
  EXPECT_EQ(PlayerKey("a/b%c"), "settings/players/a%2Fb%25c");
  EXPECT_NE(PlayerKey("a/b"), PlayerKey("a%2Fb"));
}

TEST(SettingsRulesTest, FixtureShapeErrorsAreInvalidArgument) {
  google::protobuf::Struct doc;
  (*doc.mutable_fields())["schemas"].set_string_value("nope");
  CallContext ctx = CallContext::Make(0, std::nullopt);
  auto entries = MapSettingsFixture(doc, ctx);
  EXPECT_EQ(entries.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DetailsOf(entries.status())["field"], "schemas");
  // {} is a valid, empty state.
  entries = MapSettingsFixture(google::protobuf::Struct(), ctx);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].key, "settings/schema");
}

}  // namespace
}  // namespace sidecar::services::settings
