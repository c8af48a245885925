// language-system (SERVICES.md §2.11): every example, every numbered rule and resolution (L1–L10,
// N33, N34), the §0.4 check order, the event, and the golden files — all through the registry.

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "language_system/v1/language_system.pb.h"
#include "nlohmann/json.hpp"
#include "services/language_system/language_system_logic.h"
#include "services/language_system/language_system_service.h"
#include "tests/services/common/port_harness.h"

namespace sidecar::services::testing::language_system_tests {
namespace {

using nlohmann::json;
namespace lsl = ::sidecar::services::language_system;

constexpr char kPlayer[] = "player:pl_a8694c9d17e9b948";

json Given() {
  return json::parse(R"({
    "locales": [
      {"locale": "en", "plural_rule": "one_other", "fallbacks": []},
      {"locale": "fr", "plural_rule": "french", "fallbacks": []},
      {"locale": "fr-CA", "plural_rule": "french", "fallbacks": ["fr"]},
      {"locale": "ru", "plural_rule": "east_slavic", "fallbacks": []}],
    "messages": [
      {"locale": "en", "key": "inventory.vessels",
       "forms": {"one": "{count} vessel", "other": "{count} vessels"}},
      {"locale": "fr", "key": "inventory.vessels",
       "forms": {"one": "{count} réceptacle", "other": "{count} réceptacles"}},
      {"locale": "ru", "key": "inventory.vessels",
       "forms": {"one": "{count} сосуд", "few": "{count} сосуда", "many": "{count} сосудов",
                 "other": "{count} сосуда"}}]})");
}

std::unique_ptr<google::protobuf::Message> DecodeEvent(const std::string& subject) {
  if (subject == "evt.language-system.v1.catalog_changed") {
    return std::make_unique<::language_system::v1::CatalogChangedEvent>();
  }
  return nullptr;
}

class LanguageSystemTest : public ::testing::Test {
 protected:
  LanguageSystemTest() : port_(MakeLanguageSystemService) {}

  Reply Call(const std::string& action, const json& body, const Headers& h = {}) {
    return port_.Call(action, body.dump(), h);
  }
  void ExpectOk(const Reply& r, const json& body) {
    EXPECT_EQ(r.status, 200) << r;
    EXPECT_EQ(r.body, body) << r;
  }
  void ExpectError(const Reply& r, int status, const json& body) {
    EXPECT_EQ(r.status, status) << r;
    EXPECT_EQ(r.body, body) << r;
  }
  Reply Translate(const json& body) { return Call("translate", body); }
  void PutMessage(const std::string& locale, const std::string& key, const json& forms) {
    Reply r = Call("put_messages",
                   {{"locale", locale}, {"messages", {{{"key", key}, {"forms", forms}}}}});
    ASSERT_EQ(r.status, 200) << r;
  }
  void PutLocale(const std::string& locale, const std::string& rule,
                 const json& fallbacks = json::array()) {
    Reply r =
        Call("put_locale", {{"locale", locale}, {"plural_rule", rule}, {"fallbacks", fallbacks}});
    ASSERT_EQ(r.status, 200) << r;
  }

  PortHarness port_;
};

// ---- registry and fixture ----

TEST_F(LanguageSystemTest, RegistersEveryActionOfTheProto) {
  EXPECT_TRUE(VerifyRegistry("language-system", port_.registry()).ok())
      << VerifyRegistry("language-system", port_.registry());
  EXPECT_NE(port_.registry().Find("_fixture"), nullptr);
}

TEST(LanguageSystemFixture, DisabledFixtureIsPermissionDenied) {
  PortHarness port(MakeLanguageSystemService, /*fixtures_enabled=*/false);
  Reply r = port.Call("_fixture", Given().dump());
  EXPECT_EQ(r.status, 403) << r;
}

TEST_F(LanguageSystemTest, FixtureChecksItsDocument) {
  ExpectError(Call("_fixture", json::parse(R"({"locales":[{"locale":"de","plural_rule":"one_other",
      "fallbacks":["xx"]}]})")),
              400, InvalidArg("locales.de.fallbacks[0]", "unknown_value"));
  ExpectError(
      Call("_fixture",
           json::parse(R"({"messages":[{"locale":"de","key":"a","forms":{"other":"x"}}]})")),
      400, InvalidArg("messages[0].locale", "unknown_value"));
  // The catalog revision of the Given carries into put_messages.
  port_.LoadFixture(json::parse(
      R"({"locales":[{"locale":"en","plural_rule":"one_other","catalog_revision":7}]})"));
  Reply r = Call("put_messages",
                 {{"locale", "en"}, {"messages", {{{"key", "a"}, {"forms", {{"other", "x"}}}}}}});
  EXPECT_EQ(r.body["catalog_revision"], 8);
}

// ---- examples ----

TEST_F(LanguageSystemTest, Example1RussianFew) {
  port_.LoadFixture(Given());
  Reply r = port_.CallHttp("POST", "/api/language-system/translate",
                       R"({"key":"inventory.vessels","locale":"ru","count":23})");
  ExpectOk(r, json::parse(R"({"text":"23 сосуда","resolved_locale":"ru","plural_category":"few",
      "found":true,"missing_args":[],"chain":["ru","en"]})"));
}

TEST_F(LanguageSystemTest, Example2FallbackTheResolvedLocalesRuleDecides) {
  port_.LoadFixture(Given());
  Reply r = port_.CallHttp("POST", "/api/language-system/translate",
                       R"({"key":"inventory.vessels","locale":"fr-CA","count":0})");
  ExpectOk(r, json::parse(R"({"text":"0 réceptacle","resolved_locale":"fr","plural_category":"one",
      "found":true,"missing_args":[],"chain":["fr-CA","fr","en"]})"));
}

TEST(LanguageSystemGolden, EveryGoldenFileReplays) {
  auto files = GoldenPaths("language-system");
  ASSERT_EQ(files.size(), 2u);
  for (const auto& file : files) RunGolden(MakeLanguageSystemService, file);
}

// ---- r1: put_locale ----

TEST_F(LanguageSystemTest, PutLocaleReturnsItsChain) {
  ExpectOk(Call("put_locale", {{"locale", "fr"}, {"plural_rule", "french"}}),
           json::parse(R"({"locale":"fr","chain":["fr","en"]})"));
  // L1: L itself is accepted (also on the first put) and dropped as a duplicate.
  ExpectOk(Call("put_locale",
                {{"locale", "fr-CA"}, {"plural_rule", "french"}, {"fallbacks", {"fr-CA", "fr"}}}),
           json::parse(R"({"locale":"fr-CA","chain":["fr-CA","fr","en"]})"));
  ExpectOk(port_.CallHttp("PUT", "/api/language-system/locales/de",
                      R"({"plural_rule":"one_other","fallbacks":["de"]})"),
           json::parse(R"({"locale":"de","chain":["de","en"]})"));
}

TEST_F(LanguageSystemTest, PutLocaleFieldChecksInTableOrder) {
  auto put = [&](json body) { return Call("put_locale", body); };
  ExpectError(put({{"plural_rule", "french"}}), 400, InvalidArg("locale", "required"));
  ExpectError(put({{"locale", "f"}, {"plural_rule", "french"}}), 400,
              InvalidArg("locale", "too_short"));
  ExpectError(put({{"locale", "fra-CAN"}, {"plural_rule", "french"}}), 400,
              InvalidArg("locale", "too_long"));
  ExpectError(put({{"locale", "FR"}, {"plural_rule", "french"}}), 400,
              InvalidArg("locale", "pattern"));
  ExpectError(put({{"locale", "fr-ca"}, {"plural_rule", "french"}}), 400,
              InvalidArg("locale", "pattern"));
  ExpectError(put({{"locale", "fr"}}), 400, InvalidArg("plural_rule", "required"));
  ExpectError(put({{"locale", "fr"}, {"plural_rule", "French"}}), 400,
              InvalidArg("plural_rule", "unknown_value"));
  // L2: at most 4 fallbacks.
  ExpectError(put({{"locale", "fr"},
                   {"plural_rule", "french"},
                   {"fallbacks", {"en", "en", "en", "en", "en"}}}),
              400, InvalidArg("fallbacks", "too_long"));
  ExpectError(put({{"locale", "fr"}, {"plural_rule", "french"}, {"fallbacks", {"en", ""}}}), 400,
              InvalidArg("fallbacks[1]", "too_short"));
  ExpectError(put({{"locale", "fr"}, {"plural_rule", "french"}, {"fallbacks", {"EN"}}}), 400,
              InvalidArg("fallbacks[0]", "pattern"));
  // N33: an unconfigured fallback is unknown_value, checked entry by entry.
  ExpectError(put({{"locale", "fr"}, {"plural_rule", "french"}, {"fallbacks", {"en", "de", "X"}}}),
              400, InvalidArg("fallbacks[1]", "unknown_value"));
  ExpectError(put({{"locale", "fr"}, {"plural_rule", "french"}, {"fallbacks", "en"}}), 400,
              InvalidArg("fallbacks", "type"));
}

TEST_F(LanguageSystemTest, PutLocaleIsAServiceOrAdminWrite) {
  const Headers player{kPlayer, kDefaultTime};
  ExpectError(Call("put_locale", {{"locale", "fr"}, {"plural_rule", "french"}}, player), 403,
              Error("PERMISSION_DENIED"));
  // Field checks (own-state ones included) come before PERMISSION_DENIED.
  ExpectError(Call("put_locale",
                   {{"locale", "fr"}, {"plural_rule", "french"}, {"fallbacks", {"de"}}}, player),
              400, InvalidArg("fallbacks[0]", "unknown_value"));
  EXPECT_EQ(Call("put_locale", {{"locale", "fr"}, {"plural_rule", "french"}},
                 Headers{"service:environmental-narrative", kDefaultTime})
                .status,
            200);
  ExpectError(
      Call("put_locale", {{"locale", "fr"}, {"plural_rule", "french"}}, Headers{"", kDefaultTime}),
      401, Error("UNAUTHENTICATED"));
}

TEST_F(LanguageSystemTest, OneHundredLocalesCountingEn) {
  // en + 99 more = 100 (L10).
  int made = 0;
  for (char a = 'a'; a <= 'z' && made < 99; ++a) {
    for (char b = 'a'; b <= 'z' && made < 99; ++b) {
      const std::string l = std::string(1, a) + b;
      if (l == "en") continue;
      ASSERT_EQ(Call("put_locale", {{"locale", l}, {"plural_rule", "other_only"}}).status, 200)
          << l;
      ++made;
    }
  }
  ExpectError(Call("put_locale", {{"locale", "zz"}, {"plural_rule", "other_only"}}), 429,
              Error("RESOURCE_EXHAUSTED", {{"reason", "limit_exceeded"}, {"limit", "100"}}));
  // Replacing at the cap succeeds, en included.
  EXPECT_EQ(Call("put_locale", {{"locale", "aa"}, {"plural_rule", "french"}}).status, 200);
  EXPECT_EQ(Call("put_locale", {{"locale", "en"}, {"plural_rule", "one_other"}}).status, 200);
}

TEST_F(LanguageSystemTest, EnAlwaysExistsAndMayBeReput) {
  // Before any put: en exists with one_other.
  ExpectOk(Call("plural_category", {{"locale", "en"}, {"count", 1}}),
           json::parse(R"({"category":"one","plural_rule":"one_other"})"));
  ExpectOk(Call("put_locale", {{"locale", "en"}, {"plural_rule", "french"}}),
           json::parse(R"({"locale":"en","chain":["en"]})"));
  ExpectOk(Call("plural_category", {{"locale", "en"}, {"count", 0}}),
           json::parse(R"({"category":"one","plural_rule":"french"})"));
}

TEST_F(LanguageSystemTest, PutLocaleKeepsMessagesAndRevision) {
  port_.LoadFixture(Given());
  PutMessage("ru", "greeting", {{"other", "привет"}});  // revision 1
  // L3: re-putting ru changes only its rule and fallbacks.
  PutLocale("ru", "polish", {"fr"});
  Reply r = Translate({{"key", "inventory.vessels"}, {"locale", "ru"}, {"count", 21}});
  EXPECT_EQ(r.body["plural_category"], "many");  // polish: 21 -> many (east_slavic said one)
  EXPECT_EQ(r.body["text"], "21 сосудов");
  EXPECT_EQ(r.body["chain"], json::parse(R"(["ru","fr","en"])"));
  r = Call("put_messages",
           {{"locale", "ru"}, {"messages", {{{"key", "x"}, {"forms", {{"other", "y"}}}}}}});
  EXPECT_EQ(r.body["catalog_revision"], 2);
}

// ---- r2: chains ----

TEST_F(LanguageSystemTest, ChainsOfEmptyAndUnconfiguredLocales) {
  port_.LoadFixture(Given());
  // An empty or unconfigured locale is not an error.
  Reply r = Translate({{"key", "inventory.vessels"}, {"count", 2}});
  ExpectOk(r, json::parse(R"({"text":"2 vessels","resolved_locale":"en","plural_category":"other",
      "found":true,"missing_args":[],"chain":["en"]})"));
  r = Translate({{"key", "inventory.vessels"}, {"locale", "de"}, {"count", 1}});
  EXPECT_EQ(r.body["chain"], json::parse(R"(["en"])"));
  // Unconfigured with a configured base language: the base, then en.
  r = Translate({{"key", "inventory.vessels"}, {"locale", "fr-BE"}, {"count", 1}});
  EXPECT_EQ(r.body["chain"], json::parse(R"(["fr","en"])"));
  EXPECT_EQ(r.body["text"], "1 réceptacle");
  // Configured with a region: L, fallbacks, base, en.
  PutLocale("ru-UA", "east_slavic");
  r = Translate({{"key", "inventory.vessels"}, {"locale", "ru-UA"}, {"count", 5}});
  EXPECT_EQ(r.body["chain"], json::parse(R"(["ru-UA","ru","en"])"));
  EXPECT_EQ(r.body["resolved_locale"], "ru");
  EXPECT_EQ(r.body["text"], "5 сосудов");
}

TEST_F(LanguageSystemTest, ChainsAreNotTransitiveSoCyclesAreHarmless) {
  PutLocale("aa", "other_only");
  PutLocale("bb", "other_only", {"aa"});
  PutLocale("aa", "other_only", {"bb"});  // aa -> bb -> aa
  PutLocale("cc", "other_only", {"aa"});
  ExpectOk(
      Call("put_locale", {{"locale", "cc"}, {"plural_rule", "other_only"}, {"fallbacks", {"aa"}}}),
      json::parse(R"({"locale":"cc","chain":["cc","aa","en"]})"));  // aa's own fallback bb ignored
  Reply r = Translate({{"key", "a.b"}, {"locale", "aa"}});
  EXPECT_EQ(r.body["chain"], json::parse(R"(["aa","bb","en"])"));
}

TEST(LanguageSystemChain, DuplicatesDroppedAndEnAlwaysFits) {
  lsl::LocaleMap locales;
  lsl::EnsureDefaultLocale(locales);
  for (const char* l : {"pt", "pt-BR", "es", "it", "de", "nl"}) locales[l] = {"one_other", {}};
  locales["pt-BR"].fallbacks = {"es", "it", "de", "nl"};
  // pt-BR, es, it, de, nl, (pt dropped: a 7th entry), en.
  EXPECT_EQ(lsl::Chain("pt-BR", locales),
            (std::vector<std::string>{"pt-BR", "es", "it", "de", "nl", "en"}));
  locales["pt-BR"].fallbacks = {"es", "en", "es", "pt"};
  EXPECT_EQ(lsl::Chain("pt-BR", locales), (std::vector<std::string>{"pt-BR", "es", "en", "pt"}));
  EXPECT_EQ(lsl::Chain("", locales), (std::vector<std::string>{"en"}));
}

// ---- r3: plural rules ----

TEST(LanguageSystemPlural, EveryRuleOnItsBoundaries) {
  struct Case {
    const char* rule;
    int64_t n;
    const char* category;
  };
  const Case cases[] = {
      {"other_only", 0, "other"},  {"other_only", 1, "other"},   {"one_other", 0, "other"},
      {"one_other", 1, "one"},     {"one_other", 2, "other"},    {"one_other", 11, "other"},
      {"french", 0, "one"},        {"french", 1, "one"},         {"french", 2, "other"},
      {"east_slavic", 0, "many"},  {"east_slavic", 1, "one"},    {"east_slavic", 2, "few"},
      {"east_slavic", 4, "few"},   {"east_slavic", 5, "many"},   {"east_slavic", 11, "many"},
      {"east_slavic", 12, "many"}, {"east_slavic", 14, "many"},  {"east_slavic", 21, "one"},
      {"east_slavic", 22, "few"},  {"east_slavic", 111, "many"}, {"east_slavic", 112, "many"},
      {"east_slavic", 122, "few"}, {"east_slavic", 101, "one"},  {"polish", 0, "many"},
      {"polish", 1, "one"},        {"polish", 2, "few"},         {"polish", 12, "many"},
      {"polish", 21, "many"},      {"polish", 22, "few"},        {"polish", 101, "many"},
      {"arabic", 0, "zero"},       {"arabic", 1, "one"},         {"arabic", 2, "two"},
      {"arabic", 3, "few"},        {"arabic", 10, "few"},        {"arabic", 11, "many"},
      {"arabic", 99, "many"},      {"arabic", 100, "other"},     {"arabic", 101, "other"},
      {"arabic", 102, "other"},    {"arabic", 103, "few"},       {"arabic", 111, "many"},
      {"arabic", 200, "other"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(lsl::PluralCategoryOf(c.rule, c.n), c.category) << c.rule << " " << c.n;
  }
}

TEST_F(LanguageSystemTest, PluralCategoryAction) {
  port_.LoadFixture(Given());
  ExpectOk(Call("plural_category", {{"locale", "ru"}, {"count", 14}}),
           json::parse(R"({"category":"many","plural_rule":"east_slavic"})"));
  ExpectOk(port_.CallHttp("GET", "/api/language-system/locales/fr/plural?count=0", ""),
           json::parse(R"({"category":"one","plural_rule":"french"})"));
  ExpectError(Call("plural_category", {{"locale", "de"}, {"count", 1}}), 404,
              Error("NOT_FOUND", {{"field", "locale"}}));
  ExpectError(Call("plural_category", {{"locale", "ru"}, {"count", -1}}), 400,
              InvalidArg("count", "out_of_range"));  // L6
  ExpectError(Call("plural_category", {{"count", 1}}), 400, InvalidArg("locale", "required"));
  // L9: a read; any principal.
  EXPECT_EQ(
      Call("plural_category", {{"locale", "ru"}, {"count", 1}}, Headers{kPlayer, kDefaultTime})
          .status,
      200);
}

// ---- r4: put_messages / get_catalog ----

TEST_F(LanguageSystemTest, PutMessagesUpsertsAtomicallyAndBumpsTheRevision) {
  port_.LoadFixture(Given());
  Reply r = Call("put_messages", json::parse(R"({"locale":"en","messages":[
      {"key":"inventory.vessels","forms":{"other":"{count} jars"}},
      {"key":"ui.title","forms":{"other":"The Body Broker"}}]})"));
  ExpectOk(r, json::parse(R"({"upserted":2,"catalog_revision":1})"));
  // The upsert replaced every form: "one" is gone, so count 1 uses other.
  r = Translate({{"key", "inventory.vessels"}, {"locale", "en"}, {"count", 1}});
  EXPECT_EQ(r.body["text"], "1 jars");
  EXPECT_EQ(r.body["plural_category"], "one");
  r = Call("put_messages",
           json::parse(R"({"locale":"en","messages":[{"key":"ui.title","forms":{"other":"x"}}]})"));
  ExpectOk(r, json::parse(R"({"upserted":1,"catalog_revision":2})"));
  std::vector<json> events = port_.Events(DecodeEvent);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], json::parse(R"({"subject":"evt.language-system.v1.catalog_changed",
      "event":{"occurred_at":"2025-11-20T12:00:00.000Z","locale":"en","catalog_revision":1}})"));
  EXPECT_EQ(events[1]["event"]["catalog_revision"], 2);
}

TEST_F(LanguageSystemTest, PutMessagesFieldChecks) {
  port_.LoadFixture(Given());
  auto put = [&](const std::string& messages) {
    return Call("put_messages", json::parse(R"({"locale":"en","messages":)" + messages + "}"));
  };
  ExpectError(put("[]"), 400, InvalidArg("messages", "required"));
  json many = json::array();
  for (int i = 0; i < 501; ++i)
    many.push_back({{"key", "k" + std::to_string(i)}, {"forms", {{"other", "x"}}}});
  ExpectError(put(many.dump()), 400, InvalidArg("messages", "too_long"));
  ExpectError(put(R"([{"forms":{"other":"x"}}])"), 400, InvalidArg("messages[0].key", "required"));
  ExpectError(put(R"([{"key":"Bad","forms":{"other":"x"}}])"), 400,
              InvalidArg("messages[0].key", "pattern"));
  ExpectError(put(R"([{"key":"a..b","forms":{"other":"x"}}])"), 400,
              InvalidArg("messages[0].key", "pattern"));
  ExpectError(
      put(R"([{"key":"a.b.c.d.e.f.g","forms":{"other":"x"}}])"), 400,
      InvalidArg("messages[0].key", "pattern"));  // at most 5 dotted segments after the first
  EXPECT_EQ(put(R"([{"key":"a.b.c.d.e.f","forms":{"other":"x"}}])").status, 200);
  ExpectError(put(R"([{"key":")" + std::string(129, 'a') + R"(","forms":{"other":"x"}}])"), 400,
              InvalidArg("messages[0].key", "too_long"));
  ExpectError(put(R"([{"key":"a","forms":{}}])"), 400, InvalidArg("messages[0].forms", "required"));
  // L4.
  ExpectError(put(R"([{"key":"a","forms":{"one":"x"}}])"), 400,
              InvalidArg("messages[0].forms.other", "required"));
  ExpectError(put(R"([{"key":"a","forms":{"other":"x","plural":"y"}}])"), 400,
              InvalidArg("messages[0].forms.plural", "unknown_value"));
  ExpectError(put(R"([{"key":"a","forms":{"other":"","one":"x"}}])"), 400,
              InvalidArg("messages[0].forms.other", "too_short"));
  ExpectError(put(R"([{"key":"a","forms":{"few":"","other":"x"}}])"), 400,
              InvalidArg("messages[0].forms.few", "too_short"));
  ExpectError(put(R"([{"key":"a","forms":{"other":")" + std::string(2001, 'x') + R"("}}])"), 400,
              InvalidArg("messages[0].forms.other", "too_long"));
  EXPECT_EQ(put(R"([{"key":"a","forms":{"other":")" + std::string(2000, 'x') + R"("}}])").status,
            200);
  // L5: the later duplicate.
  ExpectError(put(R"([{"key":"a","forms":{"other":"x"}},{"key":"b","forms":{"other":"x"}},
                      {"key":"a","forms":{"other":"y"}}])"),
              400, InvalidArg("messages[2].key", "malformed"));
  ExpectError(put(R"([{"key":"a","forms":{"other":5}}])"), 400,
              InvalidArg("messages[0].forms.other", "type"));
}

TEST_F(LanguageSystemTest, PutMessagesCheckOrder) {
  port_.LoadFixture(Given());
  const json body =
      json::parse(R"({"locale":"de","messages":[{"key":"a","forms":{"other":"x"}}]})");
  ExpectError(Call("put_messages", body), 404, Error("NOT_FOUND", {{"field", "locale"}}));
  ExpectError(Call("put_messages", body, Headers{kPlayer, kDefaultTime}), 403,
              Error("PERMISSION_DENIED"));
  ExpectError(Call("put_messages", json::parse(R"({"locale":"de","messages":[]})"),
                   Headers{kPlayer, kDefaultTime}),
              400, InvalidArg("messages", "required"));
}

TEST_F(LanguageSystemTest, GetCatalogPagesByKey) {
  port_.LoadFixture(Given());
  json messages = json::array();
  for (const char* k : {"b.two", "a.one", "c_three", "a"})
    messages.push_back({{"key", k}, {"forms", {{"other", k}}}});
  ASSERT_EQ(Call("put_messages", {{"locale", "fr"}, {"messages", messages}}).status, 200);
  Reply r = Call("get_catalog", {{"locale", "fr"}, {"page_size", 2}});
  ExpectOk(r, json::parse(R"({"messages":[
      {"locale":"fr","key":"a","forms":{"other":"a"}},
      {"locale":"fr","key":"a.one","forms":{"other":"a.one"}}],"next_page_token":"YS5vbmU"})"));
  r = port_.CallHttp("GET", "/api/language-system/locales/fr/messages?page_size=2&page_token=YS5vbmU",
                 "");
  ASSERT_EQ(r.status, 200) << r;
  ASSERT_EQ(r.body["messages"].size(), 2u);
  EXPECT_EQ(r.body["messages"][0]["key"], "b.two");
  EXPECT_EQ(r.body["messages"][1]["key"], "c_three");
  EXPECT_EQ(r.body["next_page_token"], "Y190aHJlZQ");  // "c_three": inventory.vessels follows
  r = Call("get_catalog", {{"locale", "fr"}, {"page_size", 1}, {"page_token", "Y190aHJlZQ"}});
  ASSERT_EQ(r.body["messages"].size(), 1u);
  EXPECT_EQ(r.body["messages"][0]["key"], "inventory.vessels");
  EXPECT_EQ(r.body["next_page_token"], "");  // ends exactly at the last key
  r = Call("get_catalog", {{"locale", "fr"}});
  EXPECT_EQ(r.body["messages"].size(), 5u);
  EXPECT_EQ(r.body["messages"][4]["key"], "inventory.vessels");
  // A locale without messages has an empty catalog.
  ExpectOk(Call("get_catalog", {{"locale", "fr-CA"}}),
           json::parse(R"({"messages":[],"next_page_token":""})"));
  ExpectError(Call("get_catalog", {{"locale", "de"}}), 404,
              Error("NOT_FOUND", {{"field", "locale"}}));
  ExpectError(Call("get_catalog", {{"locale", "fr"}, {"page_size", 101}}), 400,
              InvalidArg("page_size", "out_of_range"));
  ExpectError(Call("get_catalog", {{"locale", "fr"}, {"page_token", "!!"}}), 400,
              InvalidArg("page_token", "malformed"));
  // Field checks come before NOT_FOUND.
  ExpectError(Call("get_catalog", {{"locale", "de"}, {"page_size", -1}}), 400,
              InvalidArg("page_size", "out_of_range"));
}

// ---- r5: translate ----

TEST_F(LanguageSystemTest, MissingKeyIsFoundFalse) {
  port_.LoadFixture(Given());
  ExpectOk(Translate({{"key", "quest.unknown"}, {"locale", "fr-CA"}, {"count", 3}}),
           json::parse(R"({"text":"quest.unknown","resolved_locale":"","plural_category":"",
               "found":false,"missing_args":[],"chain":["fr-CA","fr","en"]})"));
}

TEST_F(LanguageSystemTest, AbsentCountIsOtherAndCountPlaceholderNeedsArgs) {
  port_.LoadFixture(Given());
  ExpectOk(Translate({{"key", "inventory.vessels"}, {"locale", "ru"}}),
           json::parse(R"({"text":"{count} сосуда","resolved_locale":"ru","plural_category":"other",
               "found":true,"missing_args":["count"],"chain":["ru","en"]})"));
  Reply r =
      Translate({{"key", "inventory.vessels"}, {"locale", "ru"}, {"args", {{"count", "many"}}}});
  EXPECT_EQ(r.body["text"], "many сосуда");
  EXPECT_EQ(r.body["missing_args"], json::array());
  // L7: args.count wins over count for {count}; the category still comes from count.
  r = Translate(
      {{"key", "inventory.vessels"}, {"locale", "en"}, {"count", 1}, {"args", {{"count", "one"}}}});
  EXPECT_EQ(r.body["text"], "one vessel");
  EXPECT_EQ(r.body["plural_category"], "one");
}

TEST_F(LanguageSystemTest, FormFallsBackToOther) {
  PutLocale("ar", "arabic");
  PutMessage("ar", "coins", {{"two", "{count} coins (dual)"}, {"other", "{count} coins"}});
  EXPECT_EQ(Translate({{"key", "coins"}, {"locale", "ar"}, {"count", 2}}).body["text"],
            "2 coins (dual)");
  Reply r = Translate({{"key", "coins"}, {"locale", "ar"}, {"count", 11}});
  EXPECT_EQ(r.body["plural_category"], "many");
  EXPECT_EQ(r.body["text"], "11 coins");
}

TEST_F(LanguageSystemTest, PlaceholderFormatting) {
  PutMessage("en", "fmt.all",
             {{"other",
               "{who} sold {count} to {who} at {place}; {{literal}} {x-y} {Bad} { who} {who "
               "{} }{ {{{who}}} {zeta} {alpha}"}});
  Reply r =
      Translate({{"key", "fmt.all"}, {"count", 3}, {"args", {{"who", "Mara"}, {"unused", "z"}}}});
  ExpectOk(
      r,
      json::parse(
          R"({"text":"Mara sold 3 to Mara at {place}; {literal} {x-y} {Bad} { who} {who {} }{ {Mara} {zeta} {alpha}",
      "resolved_locale":"en","plural_category":"other","found":true,
      "missing_args":["alpha","place","zeta"],"chain":["en"]})"));
  // Substituted text is not re-scanned.
  PutMessage("en", "fmt.nested", {{"other", "{a}"}});
  EXPECT_EQ(Translate({{"key", "fmt.nested"}, {"args", {{"a", "{b}"}}}}).body["text"], "{b}");
  // Missing args are distinct and sorted; names may start with '_'.
  PutMessage("en", "fmt.dup", {{"other", "{b}{a}{b}{_c}"}});
  r = Translate({{"key", "fmt.dup"}});
  EXPECT_EQ(r.body["missing_args"], json::parse(R"(["_c","a","b"])"));
}

TEST(LanguageSystemFormat, BraceEdgeCases) {
  google::protobuf::Map<std::string, std::string> args;
  args["n"] = "N";
  auto fmt = [&](const char* t) { return lsl::FormatMessage(t, std::nullopt, args).text; };
  EXPECT_EQ(fmt("{"), "{");
  EXPECT_EQ(fmt("}"), "}");
  EXPECT_EQ(fmt("{{"), "{");
  EXPECT_EQ(fmt("{{n}}"), "{n}");
  EXPECT_EQ(fmt("{{{n}}}"), "{N}");
  EXPECT_EQ(fmt("{n"), "{n");
  EXPECT_EQ(fmt("{n}}"), "N}");
  EXPECT_EQ(fmt("{9}"), "{9}");
  EXPECT_EQ(lsl::FormatMessage("{count}", int64_t{0}, args).text, "0");
  EXPECT_EQ(lsl::FormatMessage("{count}", int64_t{9007199254740991}, args).text,
            "9007199254740991");
}

TEST_F(LanguageSystemTest, TranslateFieldChecks) {
  ExpectError(Translate({{"locale", "en"}}), 400, InvalidArg("key", "required"));
  ExpectError(Translate({{"key", "Inventory"}}), 400, InvalidArg("key", "pattern"));
  ExpectError(Translate({{"key", std::string(129, 'a')}}), 400, InvalidArg("key", "too_long"));
  ExpectError(Translate({{"key", "a"}, {"locale", "english"}}), 400,
              InvalidArg("locale", "too_long"));
  ExpectError(Translate({{"key", "a"}, {"locale", "En"}}), 400, InvalidArg("locale", "pattern"));
  ExpectError(Translate({{"key", "a"}, {"count", -1}}), 400, InvalidArg("count", "out_of_range"));
  ExpectError(Translate({{"key", "a"}, {"count", 1.5}}), 400, InvalidArg("count", "type"));
  ExpectError(Translate({{"key", "a"}, {"args", {{"n", 1}}}}), 400, InvalidArg("args.n", "type"));
  // L9: a read, although a POST.
  EXPECT_EQ(Call("translate", {{"key", "a"}}, Headers{kPlayer, kDefaultTime}).status, 200);
}

}  // namespace
}  // namespace sidecar::services::testing::language_system_tests
