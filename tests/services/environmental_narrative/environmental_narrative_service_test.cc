// environmental-narrative (SERVICES.md §2.18, §4 N26, §6 EN1-EN10) through its registry, with the
// real weather-manager and language-system ports hosted in process: the golden examples, every
// rule, the §0.4 check order, dependency errors passing through, events.

#include "services/environmental_narrative/environmental_narrative_service.h"

#include <chrono>
#include <string>

#include "gtest/gtest.h"
#include "services/language_system/language_system_service.h"
#include "services/weather_manager/weather_manager_service.h"
#include "tests/services/common/port_harness.h"
#include "tests/services/common/port_suite.h"  // SUITE, TestStore: built on memory and on KV

namespace sidecar::services {
namespace {

using testing::AsPlayer;
using testing::Error;
using testing::Headers;
using testing::InvalidArg;
using testing::Json;
using testing::PortHarness;
using testing::Reply;
using testing::TestStore;

const std::vector<PortHarness::Factory> kDependencies = {MakeWeatherManagerService,
                                                         MakeLanguageSystemService};

Json Rule(const std::string& id, Json regions, Json weather, Json tod, const std::string& key,
          int weight) {
  return {{"rule_id", id},      {"regions", regions}, {"weather", weather},
          {"time_of_day", tod}, {"message_key", key}, {"weight", weight}};
}

// The §2.18 Given.
Json GivenRules() {
  return Json::array(
      {Rule("crows", Json::array(), Json::array(), Json::array(), "env.crows", 20),
       Rule("fog-bells", {"vell-marches"}, {"fog"}, Json::array(), "env.fog_bells", 30),
       Rule("reed-whispers", Json::array(), {"fog", "rain"}, {"dusk", "night"}, "env.reed_whispers",
            50),
       Rule("sun-glare", Json::array(), {"clear"}, Json::array(), "env.sun_glare", 40)});
}

class SUITE(EnvironmentalNarrativeTest) : public ::testing::Test {
 protected:
  SUITE(EnvironmentalNarrativeTest)
  ()
      : h_("environmental-narrative", MakeEnvironmentalNarrativeService, true, TestStore(),
           kDependencies) {
    EXPECT_TRUE(h_.CallDependency("weather-manager", "_fixture", R"({"regions":[
        {"region_id":"vell-marches","climate":"marsh","world_seed":"bb-world-1",
         "anchor_tick":2880,"anchor_state":"fog"}]})")
                    .ok());
    EXPECT_TRUE(h_.CallDependency("language-system", "_fixture", R"({"locales":[
        {"locale":"en","plural_rule":"one_other"},{"locale":"fr","plural_rule":"french"}],
      "messages":[
        {"locale":"en","key":"env.crows","forms":{"other":"Crows gather on the gibbet, patient as creditors."}},
        {"locale":"en","key":"env.fog_bells","forms":{"other":"A drowned bell tolls somewhere in the fog."}},
        {"locale":"en","key":"env.reed_whispers","forms":{"other":"The reeds of {region_name} whisper names that were never paid for."}},
        {"locale":"fr","key":"env.crows","forms":{"other":"Les corbeaux ({weather}, {time_of_day}, {region_id})."}}]})")
                    .ok());
    EXPECT_TRUE(h_.Fixture(Json{{"rules", GivenRules()}}).ok());
  }

  Reply Describe(Json body, const Headers& headers = {}) {
    return h_.Call("describe", body.dump(), headers);
  }
  static Json DescribeBody() {
    return {{"region_id", "vell-marches"},
            {"tick", 2883},
            {"time_of_day", "dusk"},
            {"locale", "en"},
            {"max_lines", 2},
            {"args", {{"region_name", "Vell Marches"}}}};
  }
  Reply Put(Json rule, const Headers& headers = {}) {
    return h_.Call("put_rule", rule.dump(), headers);
  }
  Reply List(Json body = Json::object(), const Headers& headers = {}) {
    return h_.Call("list_rules", body.dump(), headers);
  }
  std::vector<std::string> RuleIds(const Reply& r) {
    std::vector<std::string> ids;
    for (const Json& rule : r.body["rules"]) ids.push_back(rule["rule_id"]);
    return ids;
  }
  std::vector<std::string> LineIds(const Reply& r) {
    std::vector<std::string> ids;
    for (const Json& line : r.body["lines"]) ids.push_back(line["rule_id"]);
    return ids;
  }
  std::vector<testing::LocalDependencyClient::RecordedCall> Calls() {
    return *h_.loop().Await<std::vector<testing::LocalDependencyClient::RecordedCall>>(
        [&](auto done) { std::move(done)(h_.dependencies().calls()); });
  }
  void ClearCalls() {
    h_.loop().Await<bool>([&](auto done) {
      h_.dependencies().ClearCalls();
      std::move(done)(true);
    });
  }

  PortHarness h_;
};

TEST(SUITE(EnvironmentalNarrativeGoldenTest), EveryGoldenFileReplays) {
  auto paths = testing::GoldenPaths("environmental-narrative");
  ASSERT_EQ(paths.size(), 2u);
  for (const auto& path : paths) {
    testing::RunGolden(MakeEnvironmentalNarrativeService, path, TestStore(), kDependencies);
  }
}

TEST_F(SUITE(EnvironmentalNarrativeTest), RegistryMatchesTheProto) {
  EXPECT_TRUE(VerifyRegistry("environmental-narrative", h_.registry()).ok());
}

// ---- put_rule (rule 1, EN1-EN4, EN10) ----

TEST_F(SUITE(EnvironmentalNarrativeTest), PutRuleStoresInGivenOrderAndEmitsPut) {
  Json rule = Rule("ash-wind", {"vell-marches", "ash-fields"}, {"storm", "ashfall"},
                   {"night", "dawn"}, "env.ash_wind", 100);
  Reply r = Put(rule);
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body, Json({{"rule_id", "ash-wind"}}));
  Reply listed = List();
  ASSERT_EQ(listed.body["rules"][0], rule);  // "ash-wind" < "crows"; lists kept as given (EN1)
  // Replacing emits put again (EN4).
  rule["weight"] = 1;
  ASSERT_TRUE(Put(rule).ok());
  EXPECT_EQ(List().body["rules"][0]["weight"], 1);
  std::vector<Json> events = h_.Events();
  ASSERT_EQ(events.size(), 2u);
  for (const Json& e : events) {
    EXPECT_EQ(e["subject"], "evt.environmental-narrative.v1.rules_changed");
    EXPECT_EQ(e["rule_id"], "ash-wind");
    EXPECT_EQ(e["op"], "put");
    EXPECT_EQ(e["occurred_at"], "2025-11-20T12:00:00.000Z");
  }
}

TEST_F(SUITE(EnvironmentalNarrativeTest), PutRuleFieldChecksInTableOrder) {
  Json base = Rule("r1", Json::array(), Json::array(), Json::array(), "env.k", 10);
  auto with = [&](const char* k, Json v) {
    Json b = base;
    b[k] = v;
    return Put(b).body;
  };
  EXPECT_EQ(with("rule_id", ""), InvalidArg("rule_id", "required"));
  EXPECT_EQ(with("rule_id", std::string(49, 'a')), InvalidArg("rule_id", "too_long"));
  EXPECT_EQ(with("rule_id", "Bad.Id"), InvalidArg("rule_id", "pattern"));
  // EN1: regions syntax, duplicates, the 100-entry cap.
  EXPECT_EQ(with("regions", {"ok", "Bad"}), InvalidArg("regions[1]", "pattern"));
  EXPECT_EQ(with("regions", {""}), InvalidArg("regions[0]", "too_short"));
  EXPECT_EQ(with("regions", {std::string(49, 'r')}), InvalidArg("regions[0]", "too_long"));
  EXPECT_EQ(with("regions", {"a", "b", "a"}), InvalidArg("regions[2]", "malformed"));
  Json many = Json::array();
  for (int i = 0; i < 101; ++i) many.push_back("r" + std::to_string(i));
  EXPECT_EQ(with("regions", many), InvalidArg("regions", "too_long"));
  many.erase(many.end() - 1);
  EXPECT_TRUE(Put([&] {
                Json b = base;
                b["regions"] = many;
                return b;
              }())
                  .ok());
  EXPECT_EQ(with("weather", {"rain", "sleet"}), InvalidArg("weather[1]", "unknown_value"));
  EXPECT_EQ(with("weather", {"rain", "rain"}), InvalidArg("weather[1]", "malformed"));
  EXPECT_EQ(with("time_of_day", {"noon"}), InvalidArg("time_of_day[0]", "unknown_value"));
  EXPECT_EQ(with("time_of_day", {"dusk", "dusk"}), InvalidArg("time_of_day[1]", "malformed"));
  // EN2: message_key required, language-system syntax (≤128), not checked for existence.
  EXPECT_EQ(with("message_key", ""), InvalidArg("message_key", "required"));
  EXPECT_EQ(with("message_key", "Env.x"), InvalidArg("message_key", "pattern"));
  EXPECT_EQ(with("message_key", "e" + std::string(128, 'x')),
            InvalidArg("message_key", "too_long"));
  EXPECT_EQ(with("weight", 0), InvalidArg("weight", "out_of_range"));
  EXPECT_EQ(with("weight", 101), InvalidArg("weight", "out_of_range"));
  // Fields before authorization (§0.4), then PERMISSION_DENIED for players (EN10).
  Json bad = base;
  bad["weight"] = 0;
  EXPECT_EQ(Put(bad, AsPlayer()).body, InvalidArg("weight", "out_of_range"));
  EXPECT_EQ(Put(base, AsPlayer()).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(Put(base, Headers{"", std::string(testing::kSpecTime)}).body, Error("UNAUTHENTICATED"));
  EXPECT_TRUE(Put(base, Headers{"service:ops", std::string(testing::kSpecTime)}).ok());
}

TEST_F(SUITE(EnvironmentalNarrativeTest), The501stRuleIsRefusedButReplacingAtTheCapSucceeds) {
  Json rules = Json::array();
  for (int i = 0; i < 500; ++i) {
    rules.push_back(Rule("r" + std::to_string(1000 + i), Json::array(), Json::array(),
                         Json::array(), "env.k", 1));
  }
  ASSERT_TRUE(h_.Fixture(Json{{"rules", rules}}).ok());
  Reply over = Put(Rule("r9999", Json::array(), Json::array(), Json::array(), "env.k", 1));
  EXPECT_EQ(over.status, 429);
  EXPECT_EQ(over.body,
            Error("RESOURCE_EXHAUSTED", {{"reason", "limit_exceeded"}, {"limit", "500"}}));
  EXPECT_TRUE(Put(Rule("r1000", Json::array(), Json::array(), Json::array(), "env.k", 7)).ok());
  ASSERT_TRUE(h_.Call("delete_rule", R"({"rule_id":"r1001"})").ok());
  EXPECT_TRUE(Put(Rule("r9999", Json::array(), Json::array(), Json::array(), "env.k", 1)).ok());
}

// ---- delete_rule (EN4) ----

TEST_F(SUITE(EnvironmentalNarrativeTest), DeleteRuleEmitsOnlyWhenSomethingWasDeleted) {
  Reply r = h_.Call("delete_rule", R"({"rule_id":"crows"})");
  EXPECT_EQ(r.body, Json({{"deleted", true}}));
  EXPECT_EQ(h_.Call("delete_rule", R"({"rule_id":"crows"})").body, Json({{"deleted", false}}));
  EXPECT_EQ(h_.Call("delete_rule", R"({"rule_id":"never"})").body, Json({{"deleted", false}}));
  std::vector<Json> events = h_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["rule_id"], "crows");
  EXPECT_EQ(events[0]["op"], "delete");
  EXPECT_EQ(RuleIds(List()), (std::vector<std::string>{"fog-bells", "reed-whispers", "sun-glare"}));
  EXPECT_EQ(h_.Call("delete_rule", R"({"rule_id":"x!"})").body, InvalidArg("rule_id", "pattern"));
  EXPECT_EQ(h_.Call("delete_rule", R"({"rule_id":"fog-bells"})", AsPlayer()).body,
            Error("PERMISSION_DENIED"));
}

// ---- list_rules (rule 1: by rule_id; EN10: a read) ----

TEST_F(SUITE(EnvironmentalNarrativeTest), ListRulesPagesByRuleId) {
  Reply first = List({{"page_size", 3}}, AsPlayer());
  ASSERT_TRUE(first.ok()) << first;
  EXPECT_EQ(RuleIds(first), (std::vector<std::string>{"crows", "fog-bells", "reed-whispers"}));
  EXPECT_EQ(first.body["next_page_token"], "cmVlZC13aGlzcGVycw");  // base64url("reed-whispers")
  Reply second = List({{"page_size", 3}, {"page_token", first.body["next_page_token"]}});
  EXPECT_EQ(RuleIds(second), (std::vector<std::string>{"sun-glare"}));
  EXPECT_EQ(second.body["next_page_token"], "");
  EXPECT_EQ(List({{"page_size", 4}}).body["next_page_token"], "");  // exactly full: ""
  EXPECT_EQ(List({{"page_size", 101}}).body, InvalidArg("page_size", "out_of_range"));
  EXPECT_EQ(List({{"page_token", "!!"}}).body, InvalidArg("page_token", "malformed"));
}

// ---- describe (rules 2-4, N26, EN5-EN9) ----

TEST_F(SUITE(EnvironmentalNarrativeTest), DescribeFieldChecksInTableOrder) {
  auto with = [&](const char* k, Json v) {
    Json b = DescribeBody();
    b[k] = v;
    return Describe(b).body;
  };
  EXPECT_EQ(with("region_id", ""), InvalidArg("region_id", "required"));
  EXPECT_EQ(with("region_id", "Vell"), InvalidArg("region_id", "pattern"));
  EXPECT_EQ(with("region_id", std::string(49, 'v')), InvalidArg("region_id", "too_long"));
  EXPECT_EQ(with("tick", -1), InvalidArg("tick", "out_of_range"));
  EXPECT_EQ(with("time_of_day", ""), InvalidArg("time_of_day", "required"));
  EXPECT_EQ(with("time_of_day", "noon"), InvalidArg("time_of_day", "unknown_value"));
  EXPECT_EQ(with("locale", "english"), InvalidArg("locale", "too_long"));
  EXPECT_EQ(with("locale", "EN"), InvalidArg("locale", "pattern"));
  EXPECT_EQ(with("max_lines", 4), InvalidArg("max_lines", "out_of_range"));
  EXPECT_EQ(with("max_lines", -1), InvalidArg("max_lines", "out_of_range"));
  EXPECT_EQ(with("weather_override", "sleet"), InvalidArg("weather_override", "unknown_value"));
  EXPECT_EQ(with("args", {{"Bad", "x"}}), InvalidArg("args.Bad", "pattern"));
  EXPECT_EQ(with("args", {{std::string(33, 'a'), "x"}}),
            InvalidArg("args." + std::string(33, 'a'), "too_long"));
  EXPECT_EQ(with("args", {{"ok", std::string(2001, 'x')}}), InvalidArg("args.ok", "too_long"));
  EXPECT_EQ(with("args", {{"9lives", "x"}}), InvalidArg("args.9lives", "pattern"));
  // Field errors come before any call.
  EXPECT_TRUE(Calls().empty());
}

TEST_F(SUITE(EnvironmentalNarrativeTest), DescribeCallsWeatherThenTranslateLineByLine) {
  Reply r = Describe(DescribeBody(), AsPlayer());  // EN10: any principal
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(LineIds(r), (std::vector<std::string>{"reed-whispers", "crows"}));
  auto calls = Calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].service, "weather-manager");
  EXPECT_EQ(calls[0].action, "get_weather");
  EXPECT_EQ(calls[1].service, "language-system");
  EXPECT_EQ(calls[1].action, "translate");
  for (const auto& c : calls) {
    EXPECT_EQ(c.principal, "service:environmental-narrative");
    EXPECT_EQ(c.now_ms, testing::kSpecTimeMs);  // X-Request-Time forwarded
  }
  // EN7: key, resolved locale, no count, args = request args + region_id, weather, time_of_day.
  EXPECT_NE(calls[1].request_debug.find("key: \"env.reed_whispers\""), std::string::npos);
  EXPECT_EQ(calls[1].request_debug.find("count"), std::string::npos);
  EXPECT_NE(calls[1].request_debug.find("value: \"rain\""), std::string::npos);
  EXPECT_NE(calls[1].request_debug.find("value: \"dusk\""), std::string::npos);
  EXPECT_NE(calls[2].request_debug.find("key: \"env.crows\""), std::string::npos);
  EXPECT_TRUE(h_.Events().empty());  // describe is read-only
}

TEST_F(SUITE(EnvironmentalNarrativeTest), DescribeDefaultsOneLineAndEnglish) {
  Json body = DescribeBody();
  body.erase("max_lines");
  body.erase("locale");
  Reply r = Describe(body);
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(LineIds(r), (std::vector<std::string>{"reed-whispers"}));  // the first pick only
  EXPECT_EQ(r.body["lines"][0]["locale"], "en");
  auto calls = Calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_NE(calls[1].request_debug.find("locale: \"en\""), std::string::npos);
}

TEST_F(SUITE(EnvironmentalNarrativeTest), DescribeMoreLinesThanEligibleReturnsAllEligible) {
  Json body = DescribeBody();
  body["max_lines"] = 3;
  Reply r = Describe(body);
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(LineIds(r), (std::vector<std::string>{"reed-whispers", "crows"}));  // EN9
}

TEST_F(SUITE(EnvironmentalNarrativeTest), DescribeWithNoEligibleRuleHasNoLines) {
  ASSERT_TRUE(h_.Call("delete_rule", R"({"rule_id":"crows"})").ok());
  Json body = DescribeBody();
  body["time_of_day"] = "day";  // reed-whispers needs dusk/night; rain rules out the others
  Reply r = Describe(body);
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body, Json({{"region_id", "vell-marches"},
                          {"tick", 2883},
                          {"weather", "rain"},
                          {"lines", Json::array()}}));
}

TEST_F(SUITE(EnvironmentalNarrativeTest), OverrideSkipsWeatherManagerEvenForAnUnknownRegion) {
  Json body = DescribeBody();
  body["region_id"] = "nowhere";
  body["tick"] = 5;  // before any anchor: not checked with an override (EN6)
  body["weather_override"] = "clear";
  Reply r = Describe(body);
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.body["weather"], "clear");
  // sun-glare (clear, any region) and crows; sun-glare has no message: found=false (EN8).
  for (const auto& c : Calls()) EXPECT_NE(c.service, "weather-manager");
  for (const Json& line : r.body["lines"]) {
    if (line["rule_id"] == "sun-glare") {
      EXPECT_EQ(line, Json({{"rule_id", "sun-glare"},
                            {"message_key", "env.sun_glare"},
                            {"text", "env.sun_glare"},
                            {"locale", ""}}));
    }
  }
  EXPECT_EQ(r.body["lines"].size(), 2u);
}

TEST_F(SUITE(EnvironmentalNarrativeTest), RequestArgsWinOverTheImplicitOnes) {
  Json body = DescribeBody();
  body["locale"] = "fr";
  body["max_lines"] = 3;
  body["weather_override"] = "storm";  // only crows is eligible
  body["args"] = {{"weather", "tempête"}};
  Reply r = Describe(body);
  ASSERT_TRUE(r.ok()) << r;
  ASSERT_EQ(r.body["lines"].size(), 1u);
  EXPECT_EQ(r.body["lines"][0]["text"], "Les corbeaux (tempête, dusk, vell-marches).");
  EXPECT_EQ(r.body["lines"][0]["locale"], "fr");
}

TEST_F(SUITE(EnvironmentalNarrativeTest), WeatherManagerErrorsPassThrough) {
  Json body = DescribeBody();
  body["region_id"] = "ash-fields";
  EXPECT_EQ(Describe(body).body, Error("NOT_FOUND", {{"field", "region_id"}}));
  body = DescribeBody();
  body["tick"] = 100;  // before the anchor: weather-manager's own range check (EN6)
  EXPECT_EQ(Describe(body).body, InvalidArg("tick", "out_of_range"));
  h_.dependencies().FailNext("weather-manager", "get_weather", Unavailable("", {}, "down"));
  Reply down = Describe(DescribeBody());
  EXPECT_EQ(down.status, 503);
  EXPECT_EQ(down.body, Error("UNAVAILABLE"));
}

TEST_F(SUITE(EnvironmentalNarrativeTest), ATranslateErrorAbortsDescribe) {
  h_.dependencies().FailNext(
      "language-system", "translate",
      Unavailable("dependency_unavailable", {{"service", "language-system"}}));
  Reply r = Describe(DescribeBody());
  EXPECT_EQ(r.body, Error("UNAVAILABLE",
                          {{"reason", "dependency_unavailable"}, {"service", "language-system"}}));
  // Aborted after the first line's translate: the second is never asked for.
  auto calls = Calls();
  EXPECT_EQ(calls.size(), 2u);
}

TEST_F(SUITE(EnvironmentalNarrativeTest), ADependencyThatNeverAnswersFailsWithinTheDeadline) {
  h_.dependencies().SetInterceptor(
      [](const testing::LocalDependencyClient::RecordedCall& c, const google::protobuf::Message&) {
        return c.service == "weather-manager" ? DeadlineExceeded() : absl::OkStatus();
      });
  auto start = std::chrono::steady_clock::now();
  Reply r = Describe(DescribeBody());
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(r.body, Error("DEADLINE_EXCEEDED"));
  EXPECT_LT(took, std::chrono::milliseconds(5000));  // the 5000 ms default budget minus 50
  auto calls = Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_LE(calls[0].budget, std::chrono::milliseconds(4950));
}

TEST_F(SUITE(EnvironmentalNarrativeTest), FixtureRejectsInvalidRules) {
  Reply r =
      h_.Fixture(Json{{"rules", {Rule("ok", Json::array(), {"sleet"}, Json::array(), "k", 1)}}});
  EXPECT_EQ(r.body, InvalidArg("rules[0].weather[0]", "unknown_value"));
}

}  // namespace
}  // namespace sidecar::services
