// model-management (SERVICES.md §2.9, MM1–MM10) through its registry: both examples (golden
// files), every numbered rule, the §0.4 check order, events and store contention.

#include <string>

#include "gtest/gtest.h"
#include "services/common/pagination.h"
#include "services/model_management/model_management_rules.h"
#include "services/common/read_modify_write.h"
#include "services/model_management/model_management_service.h"
#include "tests/services/common/port_harness.h"
#include "tests/services/common/test_stores.h"

namespace sidecar::services {
namespace {

using testing::AsPlayer;
using testing::Error;
using testing::GoldenPaths;
using testing::Headers;
using testing::InvalidArg;
using testing::Json;
using testing::PortHarness;
using testing::Reply;

// §2.9 Example 1's model, as a put_model body (model_id added by each test).
Json EchoSmall() {
  return Json::parse(R"({"provider":"template","template":"[{model_id}] {last_user}",
    "context_window":8192,"max_output_tokens":512,"price_in_per_1k":100,"price_out_per_1k":300})");
}

Json OpenAiModel() {
  return Json::parse(R"({"provider":"openai_compatible","provider_model":"gpt-4o-mini",
    "base_url":"https://api.example.test/v1","api_key_env":"OPENAI_API_KEY",
    "context_window":128000,"max_output_tokens":4096,"price_in_per_1k":150,"price_out_per_1k":600})");
}

class ModelManagementTest : public ::testing::Test {
 protected:
  ModelManagementTest() : h_("model-management", MakeModelManagementService) {}

  Reply PutModel(const std::string& id, Json body, const Headers& headers = {}) {
    body["model_id"] = id;
    return h_.Call("put_model", body.dump(), headers);
  }
  Reply SetAlias(const std::string& alias, const std::string& model_id,
                 const Headers& headers = {}) {
    return h_.Call("set_alias", Json{{"alias", alias}, {"model_id", model_id}}.dump(), headers);
  }
  Reply SetStatus(const std::string& model_id, const std::string& status,
                  const Headers& headers = {}) {
    return h_.Call("set_status", Json{{"model_id", model_id}, {"status", status}}.dump(), headers);
  }
  Reply GetModel(const std::string& name, const Headers& headers = {}) {
    return h_.Call("get_model", Json{{"name", name}}.dump(), headers);
  }
  Reply List(const Json& body) { return h_.Call("list_models", body.dump()); }

  // A put_model body with one field changed.
  static Json With(Json body, const std::string& field, Json value) {
    body[field] = std::move(value);
    return body;
  }

  PortHarness h_;
};

// ---- registry and golden files ----

TEST_F(ModelManagementTest, RegistersEveryActionOfTheProto) {
  EXPECT_TRUE(VerifyRegistry("model-management", h_.registry()).ok());
}

TEST(ModelManagementGoldenTest, EveryGoldenFileReplays) {
  const auto files = GoldenPaths("model-management");
  ASSERT_EQ(files.size(), 2u);
  for (const auto& file : files) testing::RunGolden(MakeModelManagementService, file);
}

TEST(ModelManagementFixtureTest, DisabledFixtureIsPermissionDenied) {
  PortHarness h("model-management", MakeModelManagementService, /*fixtures_enabled=*/false);
  EXPECT_EQ(h.Fixture(Json::object()).body, Error("PERMISSION_DENIED"));
}

TEST_F(ModelManagementTest, FixtureOfTheWrongShapeIsInvalid) {
  EXPECT_EQ(h_.Fixture(Json{{"models", "x"}}).body, InvalidArg("models", "type"));
  EXPECT_EQ(h_.Fixture(Json{{"models", Json::array({Json{{"model_id", 5}}})}}).body,
            InvalidArg("models[0].model_id", "type"));
}

// ---- examples ----

TEST_F(ModelManagementTest, Example1DeterministicTemplateModel) {
  Reply r = PutModel("echo-small", EchoSmall(), {"admin:ops"});
  EXPECT_EQ(r.body, Json::parse(R"({"model_id":"echo-small","revision":1,"status":"active"})"));
  r = GetModel("echo-small");
  EXPECT_EQ(r.body, Json::parse(R"({"model":{"model_id":"echo-small","provider":"template",
    "provider_model":"","base_url":"","api_key_env":"","template":"[{model_id}] {last_user}",
    "context_window":8192,"max_output_tokens":512,"price_in_per_1k":100,"price_out_per_1k":300,
    "status":"active","revision":1},"resolved_from_alias":""})"));
}

TEST_F(ModelManagementTest, Example2CannotRetireAnAliasTarget) {
  ASSERT_TRUE(PutModel("echo-small", EchoSmall()).ok());
  ASSERT_TRUE(SetAlias("npc-dialogue-default", "echo-small").ok());
  EXPECT_EQ(SetStatus("echo-small", "retired").body,
            Error("FAILED_PRECONDITION",
                  {{"reason", "has_aliases"}, {"aliases", "npc-dialogue-default"}}));
}

// ---- rule 1: names, one namespace, no chains, resolved_from_alias ----

TEST_F(ModelManagementTest, Rule1NameSyntax) {
  EXPECT_EQ(PutModel("", EchoSmall()).body, InvalidArg("model_id", "required"));
  EXPECT_EQ(PutModel("Echo", EchoSmall()).body, InvalidArg("model_id", "pattern"));
  EXPECT_EQ(PutModel("-echo", EchoSmall()).body, InvalidArg("model_id", "pattern"));
  EXPECT_EQ(PutModel(std::string(65, 'a'), EchoSmall()).body, InvalidArg("model_id", "too_long"));
  EXPECT_TRUE(PutModel(std::string(64, 'a'), EchoSmall()).ok());
  EXPECT_TRUE(PutModel("0.echo_small-v2", EchoSmall()).ok());
  EXPECT_EQ(SetAlias("Bad", "echo").body, InvalidArg("alias", "pattern"));
  EXPECT_EQ(SetAlias("ok", "").body, InvalidArg("model_id", "required"));
  EXPECT_EQ(GetModel("UPPER").body, InvalidArg("name", "pattern"));  // MM10
  EXPECT_EQ(GetModel(std::string(65, 'a')).body, InvalidArg("name", "too_long"));
}

TEST_F(ModelManagementTest, Rule1IdsAndAliasesShareOneNamespace) {
  ASSERT_TRUE(PutModel("echo-small", EchoSmall()).ok());
  ASSERT_TRUE(PutModel("echo-large", EchoSmall()).ok());
  ASSERT_TRUE(SetAlias("default", "echo-small").ok());
  // MM4: a model may not take an alias's name; MM5: an alias may not take a model's id.
  EXPECT_EQ(PutModel("default", EchoSmall()).body, Error("ALREADY_EXISTS", {{"field", "model_id"}}));
  EXPECT_EQ(SetAlias("echo-large", "echo-small").body,
            Error("ALREADY_EXISTS", {{"field", "alias"}}));
}

TEST_F(ModelManagementTest, Rule1AliasesPointToModelIdsOnly) {
  ASSERT_TRUE(PutModel("echo-small", EchoSmall()).ok());
  ASSERT_TRUE(SetAlias("default", "echo-small").ok());
  EXPECT_EQ(SetAlias("chained", "default").body, Error("NOT_FOUND", {{"field", "model_id"}}));
  EXPECT_EQ(SetAlias("chained", "nothing").body, Error("NOT_FOUND", {{"field", "model_id"}}));
}

TEST_F(ModelManagementTest, Rule1GetModelByIdOrAlias) {
  ASSERT_TRUE(PutModel("echo-small", EchoSmall()).ok());
  ASSERT_TRUE(SetAlias("npc-dialogue-default", "echo-small").ok());
  Reply by_alias = GetModel("npc-dialogue-default", AsPlayer());
  EXPECT_EQ(by_alias.body["resolved_from_alias"], "npc-dialogue-default");
  EXPECT_EQ(by_alias.body["model"]["model_id"], "echo-small");
  EXPECT_EQ(GetModel("echo-small").body["resolved_from_alias"], "");
  EXPECT_EQ(GetModel("missing").body, Error("NOT_FOUND", {{"field", "name"}}));
}

// ---- rule 2: providers ----

TEST_F(ModelManagementTest, Rule2Provider) {
  EXPECT_EQ(PutModel("m", With(EchoSmall(), "provider", "")).body,
            InvalidArg("provider", "required"));
  EXPECT_EQ(PutModel("m", With(EchoSmall(), "provider", "anthropic")).body,
            InvalidArg("provider", "unknown_value"));
}

TEST_F(ModelManagementTest, Rule2TemplateUsesOnlyTheFourPlaceholders) {
  EXPECT_TRUE(PutModel("m", With(EchoSmall(), "template",
                                 "{system}|{last_user}|{model_id}|{n_messages} plain text"))
                  .ok());
  for (const char* bad : {"{foo}", "{last_user", "a } b", "{", "{{system}}", "{System}"}) {
    EXPECT_EQ(PutModel("m", With(EchoSmall(), "template", bad)).body,
              InvalidArg("template", "pattern"))
        << bad;
  }
  EXPECT_EQ(PutModel("m", With(EchoSmall(), "template", "")).body,
            InvalidArg("template", "required"));
  EXPECT_EQ(PutModel("m", With(EchoSmall(), "template", std::string(2001, 'x'))).body,
            InvalidArg("template", "too_long"));
  EXPECT_TRUE(PutModel("m", With(EchoSmall(), "template", std::string(2000, 'x'))).ok());
}

TEST_F(ModelManagementTest, Rule2TemplateModelStoresOtherProviderFieldsAsEmpty) {
  Json body = EchoSmall();
  body["provider_model"] = "ignored";
  body["base_url"] = "not a url";
  body["api_key_env"] = "lower";
  ASSERT_TRUE(PutModel("m", body).ok());
  Json model = GetModel("m").body["model"];
  EXPECT_EQ(model["provider_model"], "");
  EXPECT_EQ(model["base_url"], "");
  EXPECT_EQ(model["api_key_env"], "");
  // ... but they are still type-checked (by the transcoder, on the HTTP form).
  Reply r = h_.CallHttp("PUT", "/api/model-management/models/m", With(body, "base_url", 5).dump());
  EXPECT_EQ(r.body, InvalidArg("base_url", "type"));
}

TEST_F(ModelManagementTest, Rule2OpenAiCompatibleFields) {
  ASSERT_TRUE(PutModel("gpt", With(OpenAiModel(), "template", "{bad}")).ok());
  Json model = GetModel("gpt").body["model"];
  EXPECT_EQ(model["template"], "");  // MM2: the template provider's field is stored as ""
  EXPECT_EQ(model["api_key_env"], "OPENAI_API_KEY");
  EXPECT_EQ(PutModel("gpt", With(OpenAiModel(), "provider_model", "")).body,
            InvalidArg("provider_model", "required"));
  EXPECT_EQ(PutModel("gpt", With(OpenAiModel(), "provider_model", std::string(257, 'x'))).body,
            InvalidArg("provider_model", "too_long"));
  EXPECT_EQ(PutModel("gpt", With(OpenAiModel(), "base_url", "")).body,
            InvalidArg("base_url", "required"));
  EXPECT_EQ(PutModel("gpt", With(OpenAiModel(), "base_url", "ftp://x")).body,
            InvalidArg("base_url", "pattern"));
  EXPECT_EQ(PutModel("gpt", With(OpenAiModel(), "base_url", "https://" + std::string(2041, 'x')))
                .body,
            InvalidArg("base_url", "too_long"));
  EXPECT_TRUE(PutModel("gpt", With(OpenAiModel(), "base_url", "http://localhost:8080")).ok());
  EXPECT_TRUE(PutModel("gpt", With(OpenAiModel(), "api_key_env", "")).ok());
  EXPECT_EQ(PutModel("gpt", With(OpenAiModel(), "api_key_env", "openai_key")).body,
            InvalidArg("api_key_env", "pattern"));
  EXPECT_EQ(PutModel("gpt", With(OpenAiModel(), "api_key_env", "_KEY")).body,
            InvalidArg("api_key_env", "pattern"));
  EXPECT_EQ(PutModel("gpt", With(OpenAiModel(), "api_key_env", "K" + std::string(64, 'X'))).body,
            InvalidArg("api_key_env", "too_long"));
}

// ---- rule 3: limits and prices ----

TEST_F(ModelManagementTest, Rule3ContextWindowAndOutputTokens) {
  EXPECT_EQ(PutModel("m", With(EchoSmall(), "context_window", 255)).body,
            InvalidArg("context_window", "out_of_range"));
  EXPECT_EQ(PutModel("m", With(EchoSmall(), "context_window", 1048577)).body,
            InvalidArg("context_window", "out_of_range"));
  EXPECT_TRUE(PutModel("m", With(With(EchoSmall(), "context_window", 256), "max_output_tokens",
                                 256))
                  .ok());
  // MM3: above min(context_window, 32768), and 0, fail on max_output_tokens.
  EXPECT_EQ(PutModel("m", With(EchoSmall(), "max_output_tokens", 8193)).body,
            InvalidArg("max_output_tokens", "out_of_range"));
  EXPECT_EQ(PutModel("m", With(EchoSmall(), "max_output_tokens", 0)).body,
            InvalidArg("max_output_tokens", "out_of_range"));
  Json big = With(EchoSmall(), "context_window", 1048576);
  EXPECT_TRUE(PutModel("m", With(big, "max_output_tokens", 32768)).ok());
  EXPECT_EQ(PutModel("m", With(big, "max_output_tokens", 32769)).body,
            InvalidArg("max_output_tokens", "out_of_range"));
}

TEST_F(ModelManagementTest, Rule3Prices) {
  EXPECT_TRUE(PutModel("m", With(EchoSmall(), "price_in_per_1k", 1000000000)).ok());
  EXPECT_EQ(PutModel("m", With(EchoSmall(), "price_in_per_1k", 1000000001)).body,
            InvalidArg("price_in_per_1k", "out_of_range"));
  EXPECT_EQ(PutModel("m", With(EchoSmall(), "price_out_per_1k", -1)).body,
            InvalidArg("price_out_per_1k", "out_of_range"));
}

TEST_F(ModelManagementTest, FieldsAreCheckedInTableOrderBeforeAuthorization) {
  Json body = With(With(EchoSmall(), "context_window", 1), "price_in_per_1k", -1);
  EXPECT_EQ(PutModel("m", body, AsPlayer()).body, InvalidArg("context_window", "out_of_range"));
  EXPECT_EQ(PutModel("m", EchoSmall(), AsPlayer()).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(PutModel("m", EchoSmall(), Headers{"", testing::kDefaultTime}).body,
            Error("UNAUTHENTICATED"));
}

// ---- rule 4: lifecycle ----

TEST_F(ModelManagementTest, Rule4NewModelsAreActiveAndEachPutAddsOne) {
  EXPECT_EQ(PutModel("m", EchoSmall()).body["revision"], 1);
  ASSERT_TRUE(SetStatus("m", "deprecated").ok());  // revision 2
  Reply r = PutModel("m", EchoSmall());            // MM8: identical, still + 1, status kept
  EXPECT_EQ(r.body, Json::parse(R"({"model_id":"m","revision":3,"status":"deprecated"})"));
}

TEST_F(ModelManagementTest, Rule4StatusTransitions) {
  ASSERT_TRUE(PutModel("m", EchoSmall()).ok());
  EXPECT_EQ(SetStatus("m", "deprecated").body,
            Json::parse(R"({"model_id":"m","status":"deprecated","previous":"active"})"));
  EXPECT_EQ(SetStatus("m", "active").body,
            Json::parse(R"({"model_id":"m","status":"active","previous":"deprecated"})"));
  EXPECT_EQ(GetModel("m").body["model"]["revision"], 3);
  EXPECT_EQ(SetStatus("m", "retired").body,
            Json::parse(R"({"model_id":"m","status":"retired","previous":"active"})"));
  EXPECT_EQ(GetModel("m").body["model"]["revision"], 4);
}

TEST_F(ModelManagementTest, Rule4SameStatusIsANoOp) {
  ASSERT_TRUE(PutModel("m", EchoSmall()).ok());
  h_.ClearEvents();
  EXPECT_EQ(SetStatus("m", "active").body,
            Json::parse(R"({"model_id":"m","status":"active","previous":"active"})"));
  EXPECT_EQ(GetModel("m").body["model"]["revision"], 1);
  EXPECT_TRUE(h_.Events().empty());
}

TEST_F(ModelManagementTest, Rule4RetiredIsTerminalAndImmutable) {
  ASSERT_TRUE(PutModel("m", EchoSmall()).ok());
  ASSERT_TRUE(SetStatus("m", "retired").ok());
  const Json retired = Error("FAILED_PRECONDITION", {{"reason", "retired"}});
  EXPECT_EQ(PutModel("m", EchoSmall()).body, retired);
  EXPECT_EQ(SetStatus("m", "active").body, retired);
  EXPECT_EQ(SetStatus("m", "retired").body, retired);  // MM6: any target
  EXPECT_EQ(SetAlias("a", "m").body, retired);
}

TEST_F(ModelManagementTest, Rule4RetiredIsCheckedBeforeTheNamespaceCollision) {
  // Only a fixture can make a retired model share a name with an alias (MM4 order).
  h_.LoadFixture(Json::parse(R"({"models":[{"model_id":"m","provider":"template","template":"x",
    "context_window":256,"max_output_tokens":1,"status":"retired","revision":2},
    {"model_id":"t","provider":"template","template":"x","context_window":256,"max_output_tokens":1}],
    "aliases":{"m":"t"}})"));
  EXPECT_EQ(PutModel("m", EchoSmall()).body, Error("FAILED_PRECONDITION", {{"reason", "retired"}}));
}

TEST_F(ModelManagementTest, Rule4HasAliasesListsEveryAliasSorted) {
  ASSERT_TRUE(PutModel("m", EchoSmall()).ok());
  ASSERT_TRUE(SetAlias("zeta", "m").ok());
  ASSERT_TRUE(SetAlias("alpha", "m").ok());
  EXPECT_EQ(SetStatus("m", "retired").body,
            Error("FAILED_PRECONDITION", {{"reason", "has_aliases"}, {"aliases", "alpha,zeta"}}));
  // Deprecating an alias target is fine; has_aliases only guards retiring.
  EXPECT_TRUE(SetStatus("m", "deprecated").ok());
}

TEST_F(ModelManagementTest, Rule4SetStatusCheckOrder) {
  EXPECT_EQ(SetStatus("m", "gone").body, InvalidArg("status", "unknown_value"));
  EXPECT_EQ(SetStatus("m", "").body, InvalidArg("status", "required"));
  EXPECT_EQ(SetStatus("m", "retired", AsPlayer()).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(SetStatus("m", "retired").body, Error("NOT_FOUND", {{"field", "model_id"}}));
}

TEST_F(ModelManagementTest, SetAliasRepointAndNoOp) {
  ASSERT_TRUE(PutModel("a", EchoSmall()).ok());
  ASSERT_TRUE(PutModel("b", EchoSmall()).ok());
  h_.ClearEvents();
  EXPECT_EQ(SetAlias("x", "a").body,
            Json::parse(R"({"alias":"x","model_id":"a","previous_model_id":""})"));
  EXPECT_EQ(SetAlias("x", "b").body,
            Json::parse(R"({"alias":"x","model_id":"b","previous_model_id":"a"})"));
  EXPECT_EQ(SetAlias("x", "b").body,
            Json::parse(R"({"alias":"x","model_id":"b","previous_model_id":"b"})"));
  std::vector<Json> events = h_.Events();
  ASSERT_EQ(events.size(), 2u);  // MM7: the no-op emits nothing
  EXPECT_EQ(events[0]["subject"], "evt.model-management.v1.alias_changed");
  EXPECT_EQ(events[0]["alias"], "x");
  EXPECT_EQ(events[0]["model_id"], "a");
  EXPECT_EQ(events[1]["model_id"], "b");
  EXPECT_EQ(SetAlias("y", "b", AsPlayer()).body, Error("PERMISSION_DENIED"));
}

// ---- rule 5: listing ----

TEST_F(ModelManagementTest, Rule5ListOrderFilterAndPages) {
  for (const char* id : {"c", "a", "b", "d"}) ASSERT_TRUE(PutModel(id, EchoSmall()).ok());
  ASSERT_TRUE(SetStatus("b", "deprecated").ok());
  Reply all = List(Json::object());
  ASSERT_EQ(all.body["models"].size(), 4u);
  EXPECT_EQ(all.body["models"][0]["model_id"], "a");
  EXPECT_EQ(all.body["models"][3]["model_id"], "d");
  EXPECT_EQ(all.body["next_page_token"], "");
  Reply deprecated = List({{"status", "deprecated"}});
  ASSERT_EQ(deprecated.body["models"].size(), 1u);
  EXPECT_EQ(deprecated.body["models"][0]["model_id"], "b");

  Reply first = List({{"page_size", 2}});
  ASSERT_EQ(first.body["models"].size(), 2u);
  EXPECT_EQ(first.body["next_page_token"], EncodePageToken("b"));
  Reply second = List({{"page_size", 2}, {"page_token", first.body["next_page_token"]}});
  ASSERT_EQ(second.body["models"].size(), 2u);
  EXPECT_EQ(second.body["models"][0]["model_id"], "c");
  EXPECT_EQ(second.body["next_page_token"], "");  // R9: a page ending at the last item
}

TEST_F(ModelManagementTest, Rule5ListFieldChecks) {
  EXPECT_EQ(List({{"status", "gone"}}).body, InvalidArg("status", "unknown_value"));
  EXPECT_EQ(List({{"page_size", 101}}).body, InvalidArg("page_size", "out_of_range"));
  EXPECT_EQ(List({{"page_token", "!!"}}).body, InvalidArg("page_token", "malformed"));
  EXPECT_TRUE(List(Json::object()).ok());
  EXPECT_TRUE(h_.Call("list_models", "{}", AsPlayer()).ok());  // a read: any principal
}

// ---- events ----

TEST_F(ModelManagementTest, ModelChangedOnPutAndRealStatusChanges) {
  ASSERT_TRUE(PutModel("m", EchoSmall()).ok());
  ASSERT_TRUE(SetStatus("m", "deprecated").ok());
  ASSERT_TRUE(SetStatus("m", "deprecated").ok());  // no-op
  ASSERT_TRUE(PutModel("m", EchoSmall()).ok());
  std::vector<Json> events = h_.Events();
  ASSERT_EQ(events.size(), 3u);
  for (const Json& e : events) EXPECT_EQ(e["subject"], "evt.model-management.v1.model_changed");
  EXPECT_EQ(events[0]["revision"], 1);
  EXPECT_EQ(events[0]["status"], "active");
  EXPECT_EQ(events[1]["revision"], 2);
  EXPECT_EQ(events[1]["status"], "deprecated");
  EXPECT_EQ(events[2]["revision"], 3);
  EXPECT_EQ(events[2]["occurred_at"], "2025-11-20T12:00:00.000Z");
}

TEST_F(ModelManagementTest, FailedWritesChangeNothingAndEmitNothing) {
  ASSERT_TRUE(PutModel("m", EchoSmall()).ok());
  ASSERT_TRUE(SetAlias("a", "m").ok());
  h_.ClearEvents();
  EXPECT_FALSE(SetStatus("m", "retired").ok());
  EXPECT_EQ(GetModel("m").body["model"]["status"], "active");
  EXPECT_TRUE(h_.Events().empty());
}

// ---- store ----

TEST(ModelManagementStoreTest, LostRacesBeyondTheBoundAreUnavailable) {
  testing::FlakyStore* flaky = nullptr;
  PortHarness h(
      "model-management", MakeModelManagementService, true,
      [&flaky](event::Dispatcher& d) {
        auto store = std::make_unique<testing::FlakyStore>(d);
        flaky = store.get();
        return store;
      });
  flaky->conflict_every_cas = true;
  Json body = EchoSmall();
  body["model_id"] = "m";
  Reply r = h.Call("put_model", body.dump());
  EXPECT_EQ(r.body, Error("UNAVAILABLE"));
  EXPECT_EQ(flaky->cas_calls, kMaxUpdateAttempts);
  EXPECT_TRUE(h.Events().empty());
}

TEST(ModelManagementStoreTest, StoreDownIsUnavailable) {
  testing::FlakyStore* flaky = nullptr;
  PortHarness h("model-management", MakeModelManagementService, true,
                [&flaky](event::Dispatcher& d) {
                  auto store = std::make_unique<testing::FlakyStore>(d);
                  flaky = store.get();
                  return store;
                });
  flaky->fail_reads = true;
  EXPECT_EQ(h.Call("get_model", R"({"name":"m"})").code(), "UNAVAILABLE");
}

}  // namespace
}  // namespace sidecar::services
