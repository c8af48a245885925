#include <string>

#include "adapters/common/errors.h"
#include "adapters/nats_http/nats_http.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace sidecar::adapters::nats_http {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using Json = nlohmann::json;

config::ServiceConfig SettingsConfig() {
  config::ServiceConfig cfg;
  cfg.name = "settings";
  cfg.actions = {
      {"get_effective", "GET", "/api/settings/players/{player_id}"},
      {"get_schema", "GET", "/api/settings/schema"},
      {"get_schema_key", "GET", "/api/settings/schema/{key}"},
      {"get_settings", "GET", "/api/settings/players/{player_id}/keys"},
      {"put_schema", "PUT", "/api/settings/schema/{key}"},
      {"reset", "POST", "/api/settings/players/{player_id}/reset"},
      {"set_values", "POST", "/api/settings/players/{player_id}/values"},
      {"delete_key", "DELETE", "/api/settings/players/{player_id}/keys/{key}"},
      {"get_by_section", "GET", "/api/settings/{section}/{key}"},
  };
  return cfg;
}

class ActionRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<ActionRouteTable> table = ActionRouteTable::Create(SettingsConfig(), 0);
    ASSERT_TRUE(table.ok()) << table.status();
    table_.emplace(*std::move(table));
  }

  const ActionRoute& Route(std::string_view action) {
    const ActionRoute* route = table_->Find(action);
    EXPECT_NE(route, nullptr) << action;
    return *route;
  }

  std::optional<ActionRouteTable> table_;
};

// ---- Table construction
// ----------------------------------------------------------------------------

std::string CreateError(std::vector<config::ActionRouteConfig> actions, size_t index = 3) {
  config::ServiceConfig cfg{"svc", std::move(actions)};
  absl::StatusOr<ActionRouteTable> table = ActionRouteTable::Create(cfg, index);
  EXPECT_FALSE(table.ok());
  return std::string(table.status().message());
}

TEST(ActionRouteTableTest, BuildErrorsNameTheConfigPath) {
  EXPECT_EQ(CreateError({{"get_x", "GET", "/api/x/{id"}}),
            "services[3].actions.get_x: path template \"/api/x/{id\": segment \"{id\": unbalanced "
            "braces");
  EXPECT_EQ(CreateError({{"get_x", "FETCH", "/api/x"}}),
            "services[3].actions.get_x: method \"FETCH\" is not one of GET, HEAD, POST, PUT, "
            "PATCH, DELETE");
  EXPECT_THAT(CreateError({{"get_x", "get", "/api/x"}}), HasSubstr("method \"get\""));
  EXPECT_EQ(CreateError({{"a", "GET", "/a"}, {"a", "POST", "/b"}}),
            "services[3].actions.a: duplicate action");
  EXPECT_EQ(CreateError({{"GetX", "GET", "/a"}}),
            "services[3].actions.GetX: action name must match _?[a-z][a-z0-9_]*");
  EXPECT_EQ(CreateError({{"", "GET", "/a"}}), "services[3].actions[0]: action name is empty");
  EXPECT_THAT(CreateError({{"a", "GET", "/x/{id}"}, {"b", "GET", "/x/{key}"}}),
              HasSubstr("services[3].actions.b: GET /x/{key} is ambiguous with action a"));
}

TEST(ActionRouteTableTest, SameShapeWithAnotherMethodIsFine) {
  config::ServiceConfig cfg{"svc", {{"get", "GET", "/x/{id}"}, {"put", "PUT", "/x/{id}"}}};
  EXPECT_TRUE(ActionRouteTable::Create(cfg, 0).ok());
}

TEST_F(ActionRoutesTest, FindsRoutesByAction) {
  EXPECT_EQ(table_->service(), "settings");
  EXPECT_EQ(Route("set_values").method, "POST");
  EXPECT_EQ(table_->Find("nope"), nullptr);
  EXPECT_TRUE(Route("get_effective").FieldsInQuery());
  EXPECT_TRUE(Route("delete_key").FieldsInQuery());
  EXPECT_FALSE(Route("put_schema").FieldsInQuery());
}

// ---- Encoding: action + payload -> HTTP
// ------------------------------------------------------------

TEST_F(ActionRoutesTest, ServicesExampleGetPutsListInRepeatedQueryKeys) {
  config::ServiceConfig cfg{"settings",
                            {{"get_settings", "GET", "/api/settings/players/{player_id}"}}};
  absl::StatusOr<ActionRouteTable> table = ActionRouteTable::Create(cfg, 0);
  ASSERT_TRUE(table.ok()) << table.status();
  absl::StatusOr<HttpForm> form = EncodeAction(
      *table->Find("get_settings"), R"({"player_id":"pl_a8694c9d17e9b948","keys":["a","b"]})");
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(form->method, "GET");
  EXPECT_EQ(form->path, "/api/settings/players/pl_a8694c9d17e9b948?keys=a&keys=b");
  EXPECT_EQ(form->body, "");
  EXPECT_EQ(form->content_type, "");
}

TEST_F(ActionRoutesTest, GetEncodesScalarsSortedAndEscaped) {
  absl::StatusOr<HttpForm> form = EncodeAction(
      Route("get_effective"),
      R"({"player_id":"pl 1/x","platform":"mobile","n":5,"f":5.0,"g":0.5,"b":true,"z":null,"s":"a&b=c"})");
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(form->path,
            "/api/settings/players/pl%201%2Fx?b=true&f=5&g=0.5&n=5&platform=mobile&s=a%26b%3Dc");
}

TEST_F(ActionRoutesTest, GetWithoutOtherFieldsHasNoQuery) {
  absl::StatusOr<HttpForm> form = EncodeAction(Route("get_effective"), R"({"player_id":"p"})");
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(form->path, "/api/settings/players/p");
  absl::StatusOr<HttpForm> no_vars = EncodeAction(Route("get_schema"), "");
  ASSERT_TRUE(no_vars.ok()) << no_vars.status();
  EXPECT_EQ(no_vars->path, "/api/settings/schema");
}

TEST_F(ActionRoutesTest, PostSendsRemainingFieldsAsJsonBody) {
  absl::StatusOr<HttpForm> form =
      EncodeAction(Route("set_values"),
                   R"({"player_id":"pl_a8694c9d17e9b948","platform":"pc","expected_revision":3,)"
                   R"("values":{"audio.master_volume":80,"gameplay.subtitles":true}})");
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(form->method, "POST");
  EXPECT_EQ(form->path, "/api/settings/players/pl_a8694c9d17e9b948/values");
  EXPECT_EQ(form->content_type, "application/json");
  EXPECT_EQ(Json::parse(form->body),
            Json::parse(R"({"platform":"pc","expected_revision":3,)"
                        R"("values":{"audio.master_volume":80,"gameplay.subtitles":true}})"));
}

TEST_F(ActionRoutesTest, PostWithOnlyPathFieldsSendsEmptyObject) {
  absl::StatusOr<HttpForm> form = EncodeAction(Route("reset"), R"({"player_id":"p"})");
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(form->body, "{}");
}

TEST_F(ActionRoutesTest, DeleteUsesPathAndQuery) {
  absl::StatusOr<HttpForm> form = EncodeAction(
      Route("delete_key"), R"({"player_id":"p1","key":"audio.master_volume","force":true})");
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(form->method, "DELETE");
  EXPECT_EQ(form->path, "/api/settings/players/p1/keys/audio.master_volume?force=true");
  EXPECT_EQ(form->body, "");
}

TEST_F(ActionRoutesTest, PathFieldsAcceptIntegersAndBools) {
  absl::StatusOr<HttpForm> form =
      EncodeAction(Route("delete_key"), R"({"player_id":42,"key":false})");
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(form->path, "/api/settings/players/42/keys/false");
}

void ExpectInvalid(const absl::Status& status, std::string_view field, std::string_view reason) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(GetErrorDetails(status),
            (ErrorDetails{{"field", std::string(field)}, {"reason", std::string(reason)}}))
      << status;
}

TEST_F(ActionRoutesTest, MissingOrEmptyPathFieldIsRequired) {
  ExpectInvalid(EncodeAction(Route("get_effective"), R"({"platform":"pc"})").status(), "player_id",
                "required");
  ExpectInvalid(EncodeAction(Route("get_effective"), R"({"player_id":""})").status(), "player_id",
                "required");
  ExpectInvalid(EncodeAction(Route("get_effective"), R"({"player_id":null})").status(), "player_id",
                "required");
  ExpectInvalid(EncodeAction(Route("get_effective"), "").status(), "player_id", "required");
}

TEST_F(ActionRoutesTest, NonScalarPathFieldIsType) {
  ExpectInvalid(EncodeAction(Route("get_effective"), R"({"player_id":["a"]})").status(),
                "player_id", "type");
  ExpectInvalid(EncodeAction(Route("get_effective"), R"({"player_id":{"a":1}})").status(),
                "player_id", "type");
  ExpectInvalid(EncodeAction(Route("get_effective"), R"({"player_id":1.5})").status(), "player_id",
                "type");
}

TEST_F(ActionRoutesTest, NonObjectPayloadIsMalformedBody) {
  for (std::string_view payload : {"[1,2]", "\"x\"", "42", "null", "{not json", " "}) {
    SCOPED_TRACE(payload);
    ExpectInvalid(EncodeAction(Route("set_values"), payload).status(), "body", "malformed");
  }
}

TEST_F(ActionRoutesTest, ObjectsCannotGoInAQuery) {
  ExpectInvalid(
      EncodeAction(Route("get_effective"), R"({"player_id":"p","filter":{"a":1}})").status(),
      "filter", "type");
  ExpectInvalid(
      EncodeAction(Route("get_effective"), R"({"player_id":"p","keys":["a",["b"]]})").status(),
      "keys[1]", "type");
  ExpectInvalid(
      EncodeAction(Route("get_effective"), R"({"player_id":"p","keys":["a",null]})").status(),
      "keys[1]", "type");
}

// ---- Decoding: HTTP -> action + payload
// -------------------------------------------------------------

TEST_F(ActionRoutesTest, DecodeGetMergesPathAndQuery) {
  absl::StatusOr<DecodedRequest> d = table_->Decode(
      "GET",
      "/api/settings/players/pl_a8694c9d17e9b948/keys?keys=a&keys=b&platform=mobile&empty=", "");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->action, "get_settings");
  EXPECT_THAT(d->path_params, ElementsAre(Pair("player_id", "pl_a8694c9d17e9b948")));
  EXPECT_EQ(
      d->fields,
      Json::parse(R"({"player_id":"pl_a8694c9d17e9b948","keys":["a","b"],"platform":"mobile"})"));
}

TEST_F(ActionRoutesTest, DecodeQueryValuesArePercentAndPlusDecoded) {
  absl::StatusOr<DecodedRequest> d =
      table_->Decode("GET", "/api/settings/players/a%2Fb?q=x+y%26z", "");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->fields, Json::parse(R"({"player_id":"a/b","q":"x y&z"})"));
}

TEST_F(ActionRoutesTest, DecodeReplacesPercentDecodedBytesThatAreNotUtf8) {
  // Percent-decoding yields any byte; JSON carries only UTF-8, so each invalid sequence in a path
  // value, a query key or a query value becomes U+FFFD. Valid multi-byte text is kept.
  absl::StatusOr<DecodedRequest> d = table_->Decode(
      "GET", "/api/settings/players/a%FFb?q=x%C3&k%E2%82=1&ok=%C3%A9%F0%9F%98%80&s=%ED%A0%80", "");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->path_params.at("player_id"), "a\xFF" "b");  // the path value itself stays raw
  EXPECT_EQ(d->fields,
            Json::parse("{\"player_id\":\"a\\ufffdb\",\"q\":\"x\\ufffd\",\"k\\ufffd\":\"1\","
                        "\"ok\":\"\u00e9\\ud83d\\ude00\",\"s\":\"\\ufffd\\ufffd\\ufffd\"}"));
  EXPECT_EQ(Json::parse(d->Payload()), d->fields);  // the text form, for callers that send it on
}

TEST_F(ActionRoutesTest, DecodePostMergesPathAndBody) {
  absl::StatusOr<DecodedRequest> d =
      table_->Decode("POST", "/api/settings/players/p1/values?ignored=1",
                     R"({"expected_revision":3,"values":{}})");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->action, "set_values");
  EXPECT_EQ(d->fields,
            Json::parse(R"({"player_id":"p1","expected_revision":3,"values":{}})"));
}

TEST_F(ActionRoutesTest, DecodeAcceptsAPathFieldRepeatedWithTheSameValue) {
  absl::StatusOr<DecodedRequest> d =
      table_->Decode("POST", "/api/settings/players/p1/values", R"({"player_id":"p1"})");
  ASSERT_TRUE(d.ok()) << d.status();
  absl::StatusOr<DecodedRequest> q =
      table_->Decode("GET", "/api/settings/players/p1?player_id=p1", "");
  ASSERT_TRUE(q.ok()) << q.status();
}

TEST_F(ActionRoutesTest, DecodeRejectsAPathFieldRepeatedWithAnotherValue) {
  ExpectInvalid(
      table_->Decode("POST", "/api/settings/players/p1/values", R"({"player_id":"p2"})").status(),
      "player_id", "malformed");
  ExpectInvalid(table_->Decode("GET", "/api/settings/players/p1?player_id=p2", "").status(),
                "player_id", "malformed");
}

TEST_F(ActionRoutesTest, DecodeRejectsNonObjectBody) {
  ExpectInvalid(table_->Decode("POST", "/api/settings/players/p1/values", "[]").status(), "body",
                "malformed");
  // The body envelope is checked before path conflicts (§0.4 check order).
  ExpectInvalid(table_->Decode("POST", "/api/settings/players/p1/values", "nope").status(), "body",
                "malformed");
}

TEST_F(ActionRoutesTest, DecodeRanksLiteralsFirst) {
  absl::StatusOr<DecodedRequest> schema = table_->Decode("GET", "/api/settings/schema/audio.x", "");
  ASSERT_TRUE(schema.ok()) << schema.status();
  EXPECT_EQ(schema->action, "get_schema_key");  // beats /api/settings/{section}/{key}
  absl::StatusOr<DecodedRequest> section = table_->Decode("GET", "/api/settings/other/audio.x", "");
  ASSERT_TRUE(section.ok()) << section.status();
  EXPECT_EQ(section->action, "get_by_section");
  EXPECT_EQ(section->fields, Json::parse(R"({"section":"other","key":"audio.x"})"));
  absl::StatusOr<DecodedRequest> put = table_->Decode("PUT", "/api/settings/schema/audio.x", "");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->action, "put_schema");
}

TEST_F(ActionRoutesTest, DecodeUnknownPathIsNotFound) {
  absl::Status s = table_->Decode("GET", "/api/other", "").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetErrorDetails(s), (ErrorDetails{{"field", "path"}}));
  absl::Status wrong_method =
      table_->Decode("PATCH", "/api/settings/players/p1/values", "{}").status();
  EXPECT_EQ(wrong_method.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(wrong_method.message()), HasSubstr("another method"));
  // A malformed escape matches no template, even where a variable would take any text.
  EXPECT_EQ(table_->Decode("GET", "/api/settings/players/p%zz/values", "").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ActionRoutesTest, EncodeThenDecodeRoundTrips) {
  std::string payload = R"({"player_id":"pl a/b","keys":["x y","z"],"platform":"pc"})";
  absl::StatusOr<HttpForm> form = EncodeAction(Route("get_settings"), payload);
  ASSERT_TRUE(form.ok()) << form.status();
  absl::StatusOr<DecodedRequest> d = table_->Decode(form->method, form->path, form->body);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->action, "get_settings");
  EXPECT_EQ(d->fields, Json::parse(payload));
}

}  // namespace
}  // namespace sidecar::adapters::nats_http
