#include "services/common/jcs.h"

#include "event_bus/v1/event_bus.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "payment/v1/payment.pb.h"
#include "services/common/determinism.h"
#include "state_manager/v1/state_manager.pb.h"

namespace sidecar::services {
namespace {

std::string JcsOf(const std::string& json_text) {
  auto text = Jcs(nlohmann::json::parse(json_text));
  EXPECT_TRUE(text.ok());
  return text.ok() ? *text : "";
}

TEST(JcsTest, NumbersFollowEcmaScriptToString) {
  // RFC 8785 Appendix B and the ES6 boundaries.
  EXPECT_EQ(FormatJcsNumber(0.0), "0");
  EXPECT_EQ(FormatJcsNumber(-0.0), "0");
  EXPECT_EQ(FormatJcsNumber(1e21), "1e+21");
  EXPECT_EQ(FormatJcsNumber(1e20), "100000000000000000000");
  EXPECT_EQ(FormatJcsNumber(1e-7), "1e-7");
  EXPECT_EQ(FormatJcsNumber(0.000001), "0.000001");
  EXPECT_EQ(FormatJcsNumber(4.5), "4.5");
  EXPECT_EQ(FormatJcsNumber(0.002), "0.002");
  EXPECT_EQ(FormatJcsNumber(-1.5), "-1.5");
  EXPECT_EQ(FormatJcsNumber(333333333.3333333), "333333333.3333333");
  EXPECT_EQ(FormatJcsNumber(9007199254740992.0), "9007199254740992");
  EXPECT_EQ(FormatJcsNumber(5e-324), "5e-324");
  EXPECT_EQ(FormatJcsNumber(1.7976931348623157e308), "1.7976931348623157e+308");
  EXPECT_EQ(FormatJcsNumber(123e-20), "1.23e-18");
  EXPECT_EQ(FormatJcsNumber(57.0), "57");
}

TEST(JcsTest, SortsKeysByUtf16CodeUnitsAndEscapesMinimally) {
  // RFC 8785 §3.2.3 sorting example (subset): "\r" < "1" < "\u0080" < "\u00f6" < "\u20ac" <
  // "\ud83d\ude00" < "\ufb33" — the emoji (a surrogate pair) sorts before U+FB33 in UTF-16.
  EXPECT_EQ(JcsOf(R"({"\ufb33":1,"\ud83d\ude00":2,"\u20ac":3,"1":4,"\r":5,"\u00f6":6,"\u0080":7})"),
            "{\"\\r\":5,\"1\":4,\"\u0080\":7,\"\u00f6\":6,\"\u20ac\":3,\"\U0001F600\":2,\"\ufb33\":1}");
  EXPECT_EQ(JcsOf(R"({"a":"\u0007\"\\\/\n"})"), "{\"a\":\"\\u0007\\\"\\\\/\\n\"}");
  EXPECT_EQ(JcsOf(R"([1.0, true, null, {"b":[],"a":{}}])"), "[1,true,null,{\"a\":{},\"b\":[]}]");
}

TEST(JcsTest, StateManagerSizesMatchSpecExamples) {
  // §2.4 Example 1 (size_bytes 57) and Example 2's merged value (58).
  google::protobuf::Struct v1, v2;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  R"({"chapter":2,"gold_hint":1200,"flags":{"met_odrin":true}})", &v1)
                  .ok());
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  R"({"chapter":3,"flags":{"saw_gibbet":true},"gold_hint":1200})", &v2)
                  .ok());
  EXPECT_EQ(JcsSize(v1).value(), 57u);
  EXPECT_EQ(JcsSize(v2).value(), 58u);
  EXPECT_EQ(Jcs(StructToJson(v1)).value(),
            R"({"chapter":2,"flags":{"met_odrin":true},"gold_hint":1200})");
}

TEST(JcsTest, NormalisedRequestDropsIdempotencyKeyAndKeepsZeroFields) {
  payment::v1::PurchaseRequest rq;
  rq.set_idempotency_key("ord-7731");
  rq.set_account_id("pl_a8694c9d17e9b948");
  rq.set_currency("GLD");
  rq.set_amount_minor(1200);
  EXPECT_EQ(Jcs(NormalisedRequestJson(rq)).value(),
            R"({"account_id":"pl_a8694c9d17e9b948","amount_minor":1200,"currency":"GLD","sku":""})");
  payment::v1::PurchaseRequest other_key = rq;
  other_key.set_idempotency_key("ord-9999");
  EXPECT_EQ(RequestFingerprint(rq).value(), RequestFingerprint(other_key).value());
  payment::v1::PurchaseRequest other_amount = rq;
  other_amount.set_amount_minor(1201);
  EXPECT_NE(RequestFingerprint(rq).value(), RequestFingerprint(other_amount).value());
  EXPECT_EQ(RequestFingerprint(rq).value(),
            Sha256Hex(R"({"account_id":"pl_a8694c9d17e9b948","amount_minor":1200,"currency":"GLD","sku":""})"));
}

TEST(JcsTest, OptionalFieldsAppearOnlyWhenPresentAndStructsDefaultToEmptyObject) {
  event_bus::v1::FetchRequest fetch;
  fetch.set_topic("t");
  EXPECT_EQ(Jcs(NormalisedRequestJson(fetch)).value(),
            R"({"consumer_id":"","max_events":0,"topic":"t"})");
  fetch.set_from_offset(0);  // present at its zero value: still included
  EXPECT_EQ(Jcs(NormalisedRequestJson(fetch)).value(),
            R"({"consumer_id":"","from_offset":0,"max_events":0,"topic":"t"})");
  state_manager::v1::PutRequest put;
  put.set_namespace_("save");
  EXPECT_EQ(Jcs(NormalisedRequestJson(put, {})).value(),
            R"({"expected_version":0,"key":"","namespace":"save","unconditional":false,"value":{}})");
}

TEST(JcsTest, RejectsNonFiniteNumbers) {
  EXPECT_FALSE(Jcs(nlohmann::json(std::numeric_limits<double>::infinity())).ok());
}

}  // namespace
}  // namespace sidecar::services
