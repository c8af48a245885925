// state-manager (SERVICES.md §2.4): the pure rules without a store.

#include "services/state_manager/state_manager_rules.h"

#include "gtest/gtest.h"
#include "services/common/errors.h"
#include "services/state_manager/state_manager_store.h"
#include "tests/services/common/port_harness.h"

namespace sidecar::services::state_manager {
namespace {

using services::testing::Json;
using services::testing::JsonToValue;

google::protobuf::Struct S(const std::string& json) {
  return JsonToValue(Json::parse(json)).struct_value();
}

Json J(const google::protobuf::Struct& s) {
  return Json::parse(services::testing::PortHarness::ToReply(
                         MessagePtr(new google::protobuf::Struct(s)))
                         .body.dump());
}

TEST(StateManagerRulesTest, DepthCountsObjectsAndArraysTopLevelIncluded) {
  EXPECT_EQ(Depth(S("{}")), 1);
  EXPECT_EQ(Depth(S(R"({"a":1,"b":"x"})")), 1);
  EXPECT_EQ(Depth(S(R"({"a":{"b":{}}})")), 3);
  EXPECT_EQ(Depth(S(R"({"a":[[1],[]]})")), 3);
  EXPECT_EQ(Depth(S(R"({"a":[],"b":{"c":[{"d":1}]}})")), 4);
}

TEST(StateManagerRulesTest, MergePatchFollowsRfc7396Examples) {
  // RFC 7396 Appendix A, the object cases.
  struct Case {
    const char* target;
    const char* patch;
    const char* result;
  } cases[] = {
      {R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
      {R"({"a":"b"})", R"({"a":null})", R"({})"},
      {R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})"},
      {R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
      {R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})"},
      {R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
      {R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})"},
      {R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"},
  };
  for (const Case& c : cases) {
    google::protobuf::Struct target = S(c.target);
    MergePatch(target, S(c.patch));
    EXPECT_EQ(J(target), Json::parse(c.result)) << c.target << " + " << c.patch;
  }
}

TEST(StateManagerRulesTest, CheckValueReportsSizeBeforeDepth) {
  auto size = CheckValue("value", S(R"({"chapter":2,"gold_hint":1200,"flags":{"met_odrin":true}})"));
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 57);
  EXPECT_EQ(DetailsOf(CheckValue("patch", S(R"({"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{}}}}}}}}}}}}}}}}})")).status()),
            (ErrorDetails{{"field", "patch"}, {"reason", "out_of_range"}}));
}

TEST(StateManagerRulesTest, OwnersAndStoreKeys) {
  EXPECT_EQ(OwnerOf("pl_a:slot:1"), "pl_a");
  EXPECT_EQ(OwnerOf("nocolon"), "nocolon");
  EXPECT_EQ(OwnerOf(":x"), "");
  EXPECT_TRUE(IsOwnedNamespace("save"));
  EXPECT_TRUE(IsOwnedNamespace("session"));
  EXPECT_FALSE(IsOwnedNamespace("saves"));
  EXPECT_EQ(DocKey("save", "pl_a:1"), "state-manager/docs/save/pl_a:1");
}

}  // namespace
}  // namespace sidecar::services::state_manager
