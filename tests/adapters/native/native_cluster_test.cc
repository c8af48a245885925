// The native cluster: an in-process port behind the Cluster interface, driven with the request
// model exactly as the router drives it (HTTP form from the gateway or from a NATS action route).

#include "adapters/native/native_cluster.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/common/errors.h"
#include "services/common/fixtures.h"
#include "services/common/in_memory_state_store.h"
#include "settings/v1/settings.pb.h"
#include "tests/services/common/loop_thread.h"

namespace sidecar::adapters::native {
namespace {

using Json = nlohmann::json;
namespace pb = ::settings::v1;

// A stand-in port speaking the settings schema: enough to exercise the pipeline, not the rules.
int last_fixture_fields = -1;

class FakeSettings final : public services::Service {
 public:
  explicit FakeSettings(const services::ServiceDeps& deps) : deps_(deps) {}
  std::string_view name() const override { return "settings"; }
  void Register(services::HandlerRegistry& r) override {
    r.AddSync<pb::GetSchemaRequest, pb::GetSchemaResponse>(
        "get_schema", [](const services::CallContext&, const pb::GetSchemaRequest&) {
          pb::GetSchemaResponse response;
          response.set_schema_revision(7);
          return absl::StatusOr<pb::GetSchemaResponse>(response);
        });
    r.Add<pb::GetEffectiveRequest, pb::GetEffectiveResponse>(
        "get_effective", [](const services::CallContext& ctx, pb::GetEffectiveRequest rq,
                            services::Done<pb::GetEffectiveResponse> done) {
          if (rq.player_id() == "stale") {
            std::move(done)(services::FailedPrecondition("revision_mismatch", {}));
            return;
          }
          pb::GetEffectiveResponse response;
          response.set_player_id(rq.player_id());
          response.set_platform(rq.platform().empty() ? "pc" : rq.platform());
          response.set_revision(ctx.now_ms());  // shows X-Request-Time reached the port as *now*
          std::move(done)(response);
        });
    services::RegisterFixtureAction(r, deps_.fixtures_enabled, *deps_.store, {"settings/"},
                                    [](const google::protobuf::Struct& document, const services::CallContext&) {
                                      last_fixture_fields = document.fields_size();
                                      return absl::StatusOr<std::vector<services::StoreEntry>>(
                                          std::vector<services::StoreEntry>{});
                                    });
  }

 private:
  services::ServiceDeps deps_;
};

class NativeClusterTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(/*fixtures=*/false); }

  void Make(bool fixtures) {
    loop_.dispatcher().Post([this, fixtures] {
      store_ = std::make_unique<services::InMemoryStateStore>(loop_.dispatcher());
      events_ = std::make_unique<services::InMemoryEventPublisher>(loop_.dispatcher());
      NativeClusterOptions options;
      options.name = "native";
      options.services = {"settings"};
      options.deps = {store_.get(), events_.get(), fixtures};
      auto cluster = NativeCluster::Create(std::move(options), loop_.dispatcher(), metrics_,
                                           [](std::string_view, const services::ServiceDeps& deps) {
                                             return absl::StatusOr<services::ServicePtr>(
                                                 std::make_unique<FakeSettings>(deps));
                                           });
      ASSERT_TRUE(cluster.ok()) << cluster.status();
      cluster_ = *std::move(cluster);
    });
    (void)loop_.Await<int>([](absl::AnyInvocable<void(int) &&> cb) { std::move(cb)(0); });
  }

  void TearDown() override {
    (void)loop_.Await<int>([this](absl::AnyInvocable<void(int) &&> cb) {
      cluster_.reset();
      events_.reset();
      store_.reset();
      std::move(cb)(0);
    });
  }

  http::Response Send(const std::string& method, const std::string& path, const std::string& body = "",
                      const std::string& principal = "player:p1") {
    http::Request request;
    request.service = "settings";
    request.method = method;
    request.path = path;
    request.body = body;
    if (!principal.empty()) request.headers.Add("X-Principal", principal);
    request.headers.Add("X-Request-Time", "2025-11-20T12:00:00.000Z");
    auto result = loop_.Await<absl::StatusOr<http::Response>>(
        [this, request](absl::AnyInvocable<void(absl::StatusOr<http::Response>) &&> cb) mutable {
          cluster_->Send(request, [cb = std::move(cb)](absl::StatusOr<http::Response> r) mutable {
            std::move(cb)(std::move(r));
          });
        });
    EXPECT_TRUE(result.has_value() && result->ok());
    return result.has_value() && result->ok() ? **result : http::Response{};
  }

  services::testing::LoopThread loop_;
  stats::Metrics metrics_;
  std::unique_ptr<services::InMemoryStateStore> store_;
  std::unique_ptr<services::InMemoryEventPublisher> events_;
  std::unique_ptr<NativeCluster> cluster_;
};

TEST_F(NativeClusterTest, AnswersAnActionFromItsHttpFormWithTheResponseAsJson) {
  http::Response r = Send("GET", "/api/settings/schema");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Json::parse(r.body), Json::parse(R"({"entries":[],"schema_revision":7})"));
  EXPECT_EQ(r.headers.GetOr("Content-Type", ""), "application/json");
}

TEST_F(NativeClusterTest, PathAndQueryFieldsReachThePortTypedAndNowComesFromTheHeader) {
  http::Response r = Send("GET", "/api/settings/players/pl_1?platform=mobile");
  ASSERT_EQ(r.status, 200) << r.body;
  Json body = Json::parse(r.body);
  EXPECT_EQ(body["player_id"], "pl_1");
  EXPECT_EQ(body["platform"], "mobile");
  EXPECT_EQ(body["revision"], 1763640000000);  // 2025-11-20T12:00:00.000Z in unix ms
}

TEST_F(NativeClusterTest, PortErrorsAreResponsesWithTheSpecStatusAndBody) {
  http::Response r = Send("GET", "/api/settings/players/stale");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(Json::parse(r.body)["error"]["code"], "FAILED_PRECONDITION");
  EXPECT_EQ(Json::parse(r.body)["error"]["details"]["reason"], "revision_mismatch");
}

TEST_F(NativeClusterTest, MissingPrincipalIsUnauthenticatedBeforeAnythingElse) {
  http::Response r = Send("GET", "/api/settings/players/pl_1", "", /*principal=*/"");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Json::parse(r.body)["error"]["code"], "UNAUTHENTICATED");
}

TEST_F(NativeClusterTest, UnknownRoutesAndUnregisteredActionsAre404) {
  EXPECT_EQ(Send("GET", "/api/settings/nowhere").status, 404);
  // set_values exists in the schema but the fake port does not register it.
  EXPECT_EQ(Send("POST", "/api/settings/players/p1/values", R"({"values":{"a.b":1}})").status, 404);
}

TEST_F(NativeClusterTest, FixturesAreRefusedUnlessEnabled) {
  EXPECT_EQ(Send("POST", "/api/settings/_fixture", "{}").status, 403);
  TearDown();
  Make(/*fixtures=*/true);
  http::Response r = Send("POST", "/api/settings/_fixture", R"({"schemas":[],"players":{}})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(last_fixture_fields, 2);  // the whole document reached the port
}

TEST_F(NativeClusterTest, ACancelledCallNeverAnswers) {
  auto answered = std::make_shared<bool>(false);
  (void)loop_.Await<int>([this, answered](absl::AnyInvocable<void(int) &&> cb) {
    http::Request request;
    request.service = "settings";
    request.method = "GET";
    request.path = "/api/settings/schema";
    request.headers.Add("X-Principal", "player:p1");
    upstream::Cancellable* call =
        cluster_->Send(request, [answered](absl::StatusOr<http::Response>) { *answered = true; });
    call->Cancel();
    // Answers are posted; one more posted task runs after the port's would have.
    loop_.dispatcher().Post([cb = std::move(cb)]() mutable { std::move(cb)(0); });
  });
  (void)loop_.Await<int>([](absl::AnyInvocable<void(int) &&> cb) { std::move(cb)(0); });
  EXPECT_FALSE(*answered);
}

}  // namespace
}  // namespace sidecar::adapters::native
