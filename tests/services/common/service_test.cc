#include "services/common/service.h"

#include "gtest/gtest.h"
#include "services/common/errors.h"
#include "settings/v1/settings.pb.h"

namespace sidecar::services {
namespace {

using settings::v1::GetSchemaRequest;
using settings::v1::GetSchemaResponse;

CallContext Ctx(std::optional<Principal> p) { return CallContext::Make(1763640000000, std::move(p)); }

// Captures the one answer of an Invoke.
struct Answer {
  int calls = 0;
  absl::StatusOr<MessagePtr> result = absl::UnknownError("no answer");
  MessageDone Callback() {
    return [this](absl::StatusOr<MessagePtr> r) {
      ++calls;
      result = std::move(r);
    };
  }
};

TEST(HandlerRegistryTest, InvokesTypedSyncHandler) {
  HandlerRegistry registry;
  registry.AddSync<GetSchemaRequest, GetSchemaResponse>(
      "get_schema", [](const CallContext& ctx, const GetSchemaRequest&) -> absl::StatusOr<GetSchemaResponse> {
        GetSchemaResponse r;
        r.set_schema_revision(ctx.now_ms());
        return r;
      });
  Method* m = registry.Find("get_schema");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->request_descriptor().full_name(), "settings.v1.GetSchemaRequest");
  Answer a;
  m->Invoke(Ctx(Principal{Principal::Kind::kAdmin, "test"}), m->NewRequest(), a.Callback());
  ASSERT_EQ(a.calls, 1);
  ASSERT_TRUE(a.result.ok());
  EXPECT_EQ(static_cast<GetSchemaResponse&>(**a.result).schema_revision(), 1763640000000);
}

TEST(HandlerRegistryTest, AsyncHandlerMayAnswerLaterAndDroppingDoneAnswersInternal) {
  HandlerRegistry registry;
  Done<GetSchemaResponse> parked;
  registry.Add<GetSchemaRequest, GetSchemaResponse>(
      "get_schema", [&](const CallContext&, GetSchemaRequest, Done<GetSchemaResponse> done) {
        parked = std::move(done);
      });
  Method* m = registry.Find("get_schema");
  Answer a;
  m->Invoke(Ctx(Principal{Principal::Kind::kAdmin, "test"}), m->NewRequest(), a.Callback());
  EXPECT_EQ(a.calls, 0);
  std::move(parked)(NotFound("key"));
  ASSERT_EQ(a.calls, 1);
  EXPECT_EQ(a.result.status().code(), absl::StatusCode::kNotFound);

  Answer dropped;
  m->Invoke(Ctx(Principal{Principal::Kind::kAdmin, "test"}), m->NewRequest(), dropped.Callback());
  parked = nullptr;  // the handler lost its callback
  ASSERT_EQ(dropped.calls, 1);
  EXPECT_EQ(dropped.result.status().code(), absl::StatusCode::kInternal);
}

TEST(HandlerRegistryTest, InvokeBinaryRunsPreflightThenParsesThenHandles) {
  HandlerRegistry registry;
  int handled = 0;
  registry.AddSync<GetSchemaRequest, GetSchemaResponse>(
      "get_schema", [&](const CallContext&, const GetSchemaRequest&) -> absl::StatusOr<GetSchemaResponse> {
        ++handled;
        GetSchemaResponse r;
        r.set_schema_revision(7);
        return r;
      });
  Method* m = registry.Find("get_schema");
  std::optional<absl::StatusOr<std::string>> out;
  auto capture = [&](absl::StatusOr<std::string> r) { out = std::move(r); };

  m->InvokeBinary(Ctx(std::nullopt), "", capture);  // step 1: no principal
  EXPECT_EQ(out->status().code(), absl::StatusCode::kUnauthenticated);
  m->InvokeBinary(Ctx(Principal{Principal::Kind::kPlayer, "p"}), "\xff\xff", capture);
  EXPECT_EQ(DetailsOf(out->status()), (ErrorDetails{{"field", "body"}, {"reason", "malformed"}}));
  EXPECT_EQ(handled, 0);
  m->InvokeBinary(Ctx(Principal{Principal::Kind::kPlayer, "p"}), "", capture);
  ASSERT_TRUE(out->ok());
  GetSchemaResponse r;
  ASSERT_TRUE(r.ParseFromString(**out));
  EXPECT_EQ(r.schema_revision(), 7);
}

TEST(HandlerRegistryTest, PublicActionsNeedNoPrincipal) {
  HandlerRegistry registry;
  registry.AddSync<GetSchemaRequest, GetSchemaResponse>(
      "get_schema", [](const CallContext&, const GetSchemaRequest&) { return GetSchemaResponse(); },
      MethodOptions{.is_public = true});
  EXPECT_TRUE(registry.Find("get_schema")->Preflight(Ctx(std::nullopt)).ok());
}

TEST(HandlerRegistryTest, DuplicateRegistrationIsAStartupError) {
  HandlerRegistry registry;
  auto h = [](const CallContext&, const GetSchemaRequest&) { return GetSchemaResponse(); };
  registry.AddSync<GetSchemaRequest, GetSchemaResponse>("get_schema", h);
  registry.AddSync<GetSchemaRequest, GetSchemaResponse>("get_schema", h);
  EXPECT_EQ(registry.status().code(), absl::StatusCode::kAlreadyExists);
}

TEST(HandlerRegistryTest, VerifyRegistryFindsMissingWrongAndUnknownActions) {
  HandlerRegistry registry;
  auto h = [](const CallContext&, const GetSchemaRequest&) { return GetSchemaResponse(); };
  registry.AddSync<GetSchemaRequest, GetSchemaResponse>("get_schema", h);
  registry.AddSync<GetSchemaRequest, GetSchemaResponse>("put_schema", h);  // wrong types
  registry.AddSync<GetSchemaRequest, GetSchemaResponse>("frobnicate", h);  // not an action
  registry.AddSync<GetSchemaRequest, GetSchemaResponse>("_fixture", h);    // allowed
  absl::Status s = VerifyRegistry("settings", registry);
  ASSERT_FALSE(s.ok());
  std::string text(s.message());
  EXPECT_NE(text.find("get_effective: not registered"), std::string::npos) << text;
  EXPECT_NE(text.find("put_schema: registered as"), std::string::npos) << text;
  EXPECT_NE(text.find("frobnicate: not an action"), std::string::npos) << text;
  EXPECT_EQ(text.find("_fixture"), std::string::npos) << text;
  EXPECT_EQ(text.find("get_schema:"), std::string::npos) << text;
}

}  // namespace
}  // namespace sidecar::services
