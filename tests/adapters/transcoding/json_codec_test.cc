// The spec's JSON conventions (SERVICES.md §0.2, §0.4, §4 N5) in the reflection codec.

#include "adapters/transcoding/json_codec.h"

#include <cmath>
#include <string>
#include <vector>

#include "adapters/common/errors.h"
#include "auth/v1/auth.pb.h"
#include "common/v1/common.pb.h"
#include "event_bus/v1/event_bus.pb.h"
#include "gtest/gtest.h"
#include "knowledge_base/v1/knowledge_base.pb.h"
#include "nlohmann/json.hpp"
#include "npc_behavior/v1/npc_behavior.pb.h"
#include "settings/v1/settings.pb.h"
#include "state_manager/v1/state_manager.pb.h"
#include "time_manager/v1/time_manager.pb.h"
#include "world_state/v1/world_state.pb.h"

namespace sidecar::adapters::transcoding {
namespace {

using Json = nlohmann::json;

// The §0.4 error a parse gives: "<field> <reason>", or "ok".
std::string ParseError(std::string_view json, google::protobuf::Message& message) {
  absl::Status status = JsonTextToMessage(json, message);
  if (status.ok()) return "ok";
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  ErrorDetails details = GetErrorDetails(status);
  EXPECT_EQ(details.size(), 2u) << status;
  return details["field"] + " " + details["reason"];
}

std::string Print(const google::protobuf::Message& message, bool emit_zero_values = true) {
  PrintOptions options;
  options.emit_zero_values = emit_zero_values;
  absl::StatusOr<std::string> json = MessageToJsonText(message, options);
  EXPECT_TRUE(json.ok()) << json.status();
  return json.ok() ? *json : "";
}

// ---- Integers --------------------------------------------------------------------------------

TEST(JsonCodecTest, Int64PrintsAsJsonNumber) {
  ::state_manager::v1::GetResponse response;
  response.set_version(9007199254740991);
  response.set_size_bytes(57);
  EXPECT_EQ(Print(response),
            R"({"value":{},"version":9007199254740991,"size_bytes":57,"updated_at":""})");
}

TEST(JsonCodecTest, IntegersAcceptIntegralNumbersAndDecimalStrings) {
  ::state_manager::v1::PutRequest put;
  for (std::string_view text : {"5", "5.0", "5e0", "\"5\"", "\"005\""}) {
    SCOPED_TRACE(std::string(text));
    ASSERT_EQ(ParseError(std::string(R"({"expected_version":)") + std::string(text) + "}", put),
              "ok");
    EXPECT_EQ(put.expected_version(), 5);
  }
  ASSERT_EQ(ParseError(R"({"expected_version":"-9007199254740991"})", put), "ok");
  EXPECT_EQ(put.expected_version(), -9007199254740991);
}

TEST(JsonCodecTest, NonIntegralOrNonNumericIntegersAreTypeErrors) {
  ::state_manager::v1::PutRequest put;
  for (std::string_view text :
       {"5.5", "\"5.0\"", "\"5e0\"", "\"\"", "\" 5\"", "\"0x10\"", "true", "[5]", "{}", "\"-\""}) {
    SCOPED_TRACE(std::string(text));
    EXPECT_EQ(ParseError(std::string(R"({"expected_version":)") + std::string(text) + "}", put),
              "expected_version type");
  }
}

TEST(JsonCodecTest, Int64OutsideSafeRangeIsOutOfRange) {
  ::state_manager::v1::PutRequest put;
  for (std::string_view text :
       {"9007199254740992", "-9007199254740992", "\"9007199254740992\"", "1e300", "-1e300",
        "18446744073709551615", "\"99999999999999999999999\"", "9223372036854775808"}) {
    SCOPED_TRACE(std::string(text));
    EXPECT_EQ(ParseError(std::string(R"({"expected_version":)") + std::string(text) + "}", put),
              "expected_version out_of_range");
  }
}

TEST(JsonCodecTest, Int32OutsideItsRangeIsOutOfRange) {
  ::knowledge_base::v1::SearchRequest search;
  EXPECT_EQ(ParseError(R"({"page_size":2147483647})", search), "ok");
  EXPECT_EQ(ParseError(R"({"page_size":-2147483648})", search), "ok");
  EXPECT_EQ(search.page_size(), -2147483647 - 1);
  EXPECT_EQ(ParseError(R"({"page_size":2147483648})", search), "page_size out_of_range");
  EXPECT_EQ(ParseError(R"({"page_size":"-2147483649"})", search), "page_size out_of_range");
}

// ---- Timestamps ------------------------------------------------------------------------------

TEST(JsonCodecTest, TimestampsPrintAsRfc3339UtcMillis) {
  ::auth::v1::RegisterResponse response;
  response.set_player_id("pl_a8694c9d17e9b948");
  response.set_created_at(1763640000000);
  EXPECT_EQ(
      Print(response),
      R"({"player_id":"pl_a8694c9d17e9b948","username":"","created_at":"2025-11-20T12:00:00.000Z"})");
  response.set_created_at(0);  // unset ts is "" (§0.2)
  EXPECT_EQ(Json::parse(Print(response))["created_at"], "");
  EXPECT_EQ(FormatTimestampMillis(1709251199999), "2024-02-29T23:59:59.999Z");
  EXPECT_EQ(FormatTimestampMillis(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatTimestampMillis(-62135596800000), "0001-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestampMillis(253402300799999), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatTimestampMillis(253402300800000), "");
}

TEST(JsonCodecTest, TimestampOutsideRfc3339YearsDoesNotPrint) {
  ::auth::v1::RegisterResponse response;
  response.set_created_at(9007199254740991);
  absl::StatusOr<std::string> json = MessageToJsonText(response);
  ASSERT_FALSE(json.ok());
  EXPECT_EQ(GetErrorDetails(json.status())["field"], "created_at");
  EXPECT_EQ(GetErrorDetails(json.status())["reason"], "out_of_range");
}

TEST(JsonCodecTest, TimestampsParseFromRfc3339) {
  ::auth::v1::RegisterResponse response;
  struct Case {
    std::string_view text;
    int64_t ms;
  } cases[] = {
      {"2025-11-20T12:00:00.000Z", 1763640000000},
      {"2025-11-20T12:00:00Z", 1763640000000},
      {"2025-11-20T12:00:00.1239Z", 1763640000123},  // truncated, not rounded
      {"2025-11-20T12:00:00.5Z", 1763640000500},
      {"2025-11-20T13:30:00.000+01:30", 1763640000000},
      {"2025-11-20T10:00:00.000-02:00", 1763640000000},
      {"2024-02-29T23:59:59.999Z", 1709251199999},
      {"", 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.text));
    ASSERT_EQ(ParseError(std::string(R"({"created_at":")") + std::string(c.text) + "\"}", response),
              "ok");
    EXPECT_EQ(response.created_at(), c.ms);
  }
}

TEST(JsonCodecTest, BadTimestampsAreTypePatternOrMalformed) {
  ::auth::v1::RegisterResponse response;
  EXPECT_EQ(ParseError(R"({"created_at":1763640000000})", response), "created_at type");
  EXPECT_EQ(ParseError(R"({"created_at":true})", response), "created_at type");
  for (std::string_view text :
       {"2025-11-20", "2025-11-20 12:00:00Z", "2025-11-20T12:00:00", "2025-11-20T12:00:00.Z",
        "2025-11-20t12:00:00Z", "2025-11-20T12:00:00+0100", "25-11-20T12:00:00Z",
        "2025-11-20T12:00:00Zjunk", "yesterday"}) {
    SCOPED_TRACE(std::string(text));
    EXPECT_EQ(ParseError(std::string(R"({"created_at":")") + std::string(text) + "\"}", response),
              "created_at pattern");
  }
  for (std::string_view text :
       {"2025-02-29T00:00:00Z", "2025-13-01T00:00:00Z", "2025-11-31T00:00:00Z",
        "2025-11-20T24:00:00Z", "2025-11-20T12:60:00Z", "2025-11-20T12:00:60Z",
        "2025-11-20T12:00:00+24:00"}) {
    SCOPED_TRACE(std::string(text));
    EXPECT_EQ(ParseError(std::string(R"({"created_at":")") + std::string(text) + "\"}", response),
              "created_at malformed");
  }
}

// ---- null, presence, unknown fields ----------------------------------------------------------

TEST(JsonCodecTest, NullMeansAbsent) {
  ::state_manager::v1::PutRequest put;
  ASSERT_EQ(
      ParseError(R"({"namespace":null,"value":null,"expected_version":null,"unconditional":null})",
                 put),
      "ok");
  EXPECT_FALSE(put.has_value());
  EXPECT_EQ(put.expected_version(), 0);
  ::event_bus::v1::FetchRequest fetch;
  ASSERT_EQ(ParseError(R"({"from_offset":null})", fetch), "ok");
  EXPECT_FALSE(fetch.has_from_offset());
}

TEST(JsonCodecTest, OptionalFieldsKeepPresence) {
  ::event_bus::v1::FetchRequest fetch;
  ASSERT_EQ(ParseError(R"({"topic":"t","from_offset":0})", fetch), "ok");
  EXPECT_TRUE(fetch.has_from_offset());
  // A present T? prints even when zero, in both modes; an absent one never prints.
  EXPECT_EQ(Print(fetch, false), R"({"topic":"t","from_offset":0})");
  EXPECT_EQ(Print(fetch, true), R"({"topic":"t","consumer_id":"","max_events":0,"from_offset":0})");
  fetch.clear_from_offset();
  EXPECT_EQ(Print(fetch, true), R"({"topic":"t","consumer_id":"","max_events":0})");

  ::time_manager::v1::SetScaleRequest scale;
  ASSERT_EQ(ParseError(R"({"paused":false})", scale), "ok");
  EXPECT_TRUE(scale.has_paused());
  EXPECT_FALSE(scale.paused());
}

TEST(JsonCodecTest, NullInsideFreeFormJsonIsKept) {
  ::state_manager::v1::PatchRequest patch;
  ASSERT_EQ(ParseError(R"({"patch":{"flags":{"met_odrin":null},"list":[1,null]}})", patch), "ok");
  EXPECT_EQ(Json::parse(Print(patch, false))["patch"],
            Json::parse(R"({"flags":{"met_odrin":null},"list":[1,null]})"));
  ::settings::v1::SetValuesRequest set;
  ASSERT_EQ(ParseError(R"({"values":{"a":null}})", set), "ok");
  EXPECT_EQ(set.values().at("a").kind_case(), google::protobuf::Value::kNullValue);
}

TEST(JsonCodecTest, NullListElementsAndMapValuesAreTypeErrors) {
  ::knowledge_base::v1::SearchRequest search;
  EXPECT_EQ(ParseError(R"({"all_tags":["a",null]})", search), "all_tags[1] type");
  ::npc_behavior::v1::PutNpcRequest npc;
  EXPECT_EQ(ParseError(R"({"traits":{"fear":1,"greed":null}})", npc), "traits.greed type");
}

TEST(JsonCodecTest, UnknownAndLowerCamelKeysAreIgnored) {
  ::state_manager::v1::PutRequest put;
  ASSERT_EQ(ParseError(R"({"expectedVersion":5,"extra":{"deep":[1]},"key":"k"})", put), "ok");
  EXPECT_EQ(put.expected_version(), 0);
  EXPECT_EQ(put.key(), "k");
  ::world_state::v1::ApplyDeltaRequest delta;
  ASSERT_EQ(ParseError(R"({"standing_changes":[{"playerId":"x","delta":3,"junk":true}]})", delta),
            "ok");
  EXPECT_EQ(delta.standing_changes(0).player_id(), "");
  EXPECT_EQ(delta.standing_changes(0).delta(), 3);
}

// ---- Types and paths -------------------------------------------------------------------------

TEST(JsonCodecTest, WrongTypesNameTheFieldPath) {
  ::state_manager::v1::PutRequest put;
  EXPECT_EQ(ParseError(R"({"namespace":5})", put), "namespace type");
  EXPECT_EQ(ParseError(R"({"value":[]})", put), "value type");
  EXPECT_EQ(ParseError(R"({"value":"x"})", put), "value type");
  EXPECT_EQ(ParseError(R"({"unconditional":"true"})", put), "unconditional type");
  EXPECT_EQ(ParseError(R"({"unconditional":1})", put), "unconditional type");
  // Fields in declaration (= spec table) order: value (3) before expected_version (4).
  EXPECT_EQ(ParseError(R"({"expected_version":"x","value":1})", put), "value type");

  ::knowledge_base::v1::SearchRequest search;
  EXPECT_EQ(ParseError(R"({"all_tags":"herb"})", search), "all_tags type");
  EXPECT_EQ(ParseError(R"({"all_tags":["herb",2]})", search), "all_tags[1] type");

  ::npc_behavior::v1::PutNpcRequest npc;
  EXPECT_EQ(ParseError(R"({"traits":[]})", npc), "traits type");
  EXPECT_EQ(ParseError(R"({"traits":{"fear":1,"greed":1.5}})", npc), "traits.greed type");
  EXPECT_EQ(ParseError(R"({"traits":{"fear":4294967296}})", npc), "traits.fear out_of_range");

  ::world_state::v1::ApplyDeltaRequest delta;
  EXPECT_EQ(ParseError(R"({"standing_changes":{}})", delta), "standing_changes type");
  EXPECT_EQ(ParseError(R"({"standing_changes":["x"]})", delta), "standing_changes[0] type");
  EXPECT_EQ(ParseError(R"({"standing_changes":[{"delta":1},{"delta":"x"}]})", delta),
            "standing_changes[1].delta type");
  EXPECT_EQ(ParseError(R"({"region_changes":[{"set_flags":{"curfew":true}}]})", delta),
            "region_changes[0].set_flags.curfew type");
  EXPECT_EQ(ParseError(R"({"region_changes":[{"clear_flags":[1]}]})", delta),
            "region_changes[0].clear_flags[0] type");
}

TEST(JsonCodecTest, DoublesAreNumbersAndPrintIntegralValuesAsIntegers) {
  ::knowledge_base::v1::Hit hit;
  ASSERT_EQ(ParseError(R"({"score":1.303291})", hit), "ok");
  EXPECT_EQ(hit.score(), 1.303291);
  EXPECT_EQ(Print(hit), R"({"doc_id":"","title":"","tags":[],"score":1.303291})");
  hit.set_score(58.0);
  EXPECT_EQ(Json::parse(Print(hit))["score"].dump(), "58");
  EXPECT_EQ(ParseError(R"({"score":"1.5"})", hit), "score type");
  hit.set_score(std::numeric_limits<double>::quiet_NaN());
  absl::StatusOr<std::string> nan = MessageToJsonText(hit);
  EXPECT_EQ(GetErrorDetails(nan.status())["reason"], "out_of_range");
}

// ---- Envelope ---------------------------------------------------------------------------------

TEST(JsonCodecTest, MalformedJsonIsBodyMalformed) {
  ::state_manager::v1::PutRequest put;
  for (std::string_view text : {"{", "{\"key\":}", "[]", "\"x\"", "5", "null", "{\"a\":1}}", "\xff",
                                "{\"key\":\"\xff\"}"}) {
    SCOPED_TRACE(std::string(text));
    EXPECT_EQ(ParseError(text, put), "body malformed");
  }
  EXPECT_EQ(ParseError("", put), "ok");  // an empty payload is {}
  EXPECT_EQ(ParseError(" {} ", put), "ok");
}

TEST(JsonCodecTest, DeepJsonNeverCrashes) {
  ::state_manager::v1::PutRequest put;
  EXPECT_EQ(ParseError(std::string(200000, '['), put), "body malformed");
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "{\"a\":";
  deep += "1";
  deep += std::string(100000, '}');
  EXPECT_EQ(ParseError("{\"value\":" + deep + "}", put), "value out_of_range");
  // The spec's own limits (state-manager: depth 16) are left to the service.
  std::string sixteen = "1";
  for (int i = 0; i < 16; ++i) sixteen = "{\"a\":" + sixteen + "}";
  EXPECT_EQ(ParseError("{\"value\":" + sixteen + "}", put), "ok");
  EXPECT_TRUE(put.ParseFromString(put.SerializeAsString()));
}

// ---- Printing ---------------------------------------------------------------------------------

TEST(JsonCodecTest, ResponsesEmitEveryFieldWithZeroRecords) {
  common::v1::ErrorResponse error;
  EXPECT_EQ(Print(error), R"({"error":{"code":"","message":"","details":{}}})");
  EXPECT_EQ(Print(error, false), "{}");
  ::settings::v1::PutSchemaRequest schema;  // an unset Value prints as null
  EXPECT_EQ(Json::parse(Print(schema))["default"], Json(nullptr));
}

TEST(JsonCodecTest, MapsPrintInKeyOrder) {
  ::npc_behavior::v1::PutNpcRequest npc;
  (*npc.mutable_traits())["piety"] = 3;
  (*npc.mutable_traits())["aggression"] = 1;
  (*npc.mutable_traits())["greed"] = 2;
  EXPECT_EQ(Print(npc, false), R"({"traits":{"aggression":1,"greed":2,"piety":3}})");
}

TEST(JsonCodecTest, InvalidUtf8InProtobufStringsDoesNotThrow) {
  ::state_manager::v1::PutRequest put;
  put.set_key(std::string("a\xff", 2));
  absl::StatusOr<std::string> json = MessageToJsonText(put);
  ASSERT_TRUE(json.ok());
  EXPECT_FALSE(Json::parse(*json, nullptr, false).is_discarded());
}

// The printer writes text directly; it must be byte for byte what nlohmann dumps of the same
// values (the codec's earlier form built that tree and dumped it, and replies are compared and
// hashed by their bytes): escapes, non-ASCII, invalid UTF-8, fractional and huge doubles, key
// order.
TEST(JsonCodecTest, TextIsWhatNlohmannDumpsOfTheSameValues) {
  const std::vector<std::string> strings = {"plain",
                                            "quote \" and backslash \\",
                                            "ctl \x01\x1f\x7f \n\t\r\b\f",
                                            "caf\xc3\xa9 \xe6\x97\xa5",
                                            "bad \xff end",
                                            std::string("nul \0 inside", 12),
                                            "cut \xe6\x97",
                                            ""};
  const std::vector<double> doubles = {
      0.1, 1.5, -2.25, 1e21, 1e-7, 123456789012345678.0, -0.0, 9007199254740993.0, 3.0, 1.303291};
  ::state_manager::v1::PutRequest put;
  put.set_namespace_("ns \"q\" \xff");
  put.set_key("k");
  Json expected_value = Json::object();
  auto& fields = *put.mutable_value()->mutable_fields();
  for (size_t i = 0; i < strings.size(); ++i) {
    const std::string key = "s" + std::to_string(i) + strings[i];
    fields[key].set_string_value(strings[i]);
    expected_value[key] = strings[i];
  }
  Json list = Json::array();
  auto* values = fields["doubles"].mutable_list_value();
  for (double d : doubles) {
    values->add_values()->set_number_value(d);
    if (std::floor(d) == d && std::fabs(d) <= 9007199254740991.0) {
      list.push_back(static_cast<int64_t>(d));
    } else {
      list.push_back(d);
    }
  }
  values->add_values()->set_bool_value(true);
  list.push_back(true);
  values->add_values()->set_null_value(google::protobuf::NULL_VALUE);
  list.push_back(nullptr);
  expected_value["doubles"] = list;
  (*fields["nested"].mutable_struct_value()->mutable_fields())["z\n"].set_bool_value(false);
  expected_value["nested"] = Json{{"z\n", false}};
  put.set_expected_version(-9007199254740993);
  put.set_unconditional(true);

  using OJson = nlohmann::ordered_json;
  OJson expected = OJson::object();
  expected["namespace"] = put.namespace_();
  expected["key"] = "k";
  // nlohmann::json keeps its keys in byte order, the order the codec sorts a Struct's keys in.
  expected["value"] =
      OJson::parse(expected_value.dump(-1, ' ', false, Json::error_handler_t::replace));
  expected["expected_version"] = put.expected_version();
  expected["unconditional"] = true;
  EXPECT_EQ(Print(put), expected.dump(-1, ' ', false, OJson::error_handler_t::replace));
}

}  // namespace
}  // namespace sidecar::adapters::transcoding
