#include <string>

#include "adapters/common/errors.h"
#include "adapters/nats_http/nats_http.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sidecar::adapters::nats_http {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

void ExpectInvalid(const absl::Status& status, std::string_view field, std::string_view reason) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(GetErrorDetails(status),
            (ErrorDetails{{"field", std::string(field)}, {"reason", std::string(reason)}}))
      << status;
}

// ---- Subjects
// --------------------------------------------------------------------------------------

TEST(SubjectTest, ParsesServiceAndAction) {
  absl::StatusOr<Subject> s = ParseSubject("svc.body-broker-integration.v1.list_entries");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->service, "body-broker-integration");
  EXPECT_EQ(s->action, "list_entries");
  EXPECT_EQ(MakeSubject("auth", "login"), "svc.auth.v1.login");
}

TEST(SubjectTest, RejectsOtherShapes) {
  for (std::string_view subject :
       {"", "svc.auth.v1", "svc.auth.v1.login.extra", "svc.auth.v1.login.extra.more", "evt.auth.v1.login", "svc.auth.v2.login",
        "svc..v1.login", "svc.auth.v1.", "svc.Auth.v1.login", "svc.auth.v1.Login", "svc.auth.v1.*",
        "svc.auth.v1.>", "svc.auth_x.v1.login", "svc.auth.v1.log-in"}) {
    SCOPED_TRACE(subject);
    absl::StatusOr<Subject> s = ParseSubject(subject);
    ExpectInvalid(s.status(), "subject", "malformed");
  }
  EXPECT_THAT(std::string(ParseSubject("svc.auth.v2.login").status().message()),
              HasSubstr("expected svc.<service>.v1.<action>"));
  EXPECT_THAT(std::string(ParseSubject("svc.Auth.v1.login").status().message()),
              HasSubstr("service name must match"));
}

// ---- Passthrough
// -----------------------------------------------------------------------------------

TEST(PassthroughTest, MapsMethodPathHeadersAndBody) {
  NatsMessageView msg;
  msg.subject = "svc.settings.v1.anything";
  msg.reply = "_INBOX.abc";
  msg.headers = {
      {"X-Http-Method", "PATCH"},
      {"X-Http-Path", "/api/settings/x?y=1"},
      {"X-Principal", "admin:test"},
      {"Accept-Language", "en"},
      {"x-custom", "1"},
      {"x-custom", "2"},
      {"Nats-Msg-Id", "dedupe"},
      {"Nats-Expected-Stream", "EVENTS"},
      {"Status", "503"},
      {"Connection", "close, X-Hop"},
      {"x-hop", "1"},
      {"Content-Length", "999"},
      {"Host", "evil"},
      {"Content-Type", "text/plain"},
  };
  msg.data = "raw body";
  absl::StatusOr<http::Request> r = MessageToRequest(msg, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->service, "settings");
  EXPECT_EQ(r->action, "anything");
  EXPECT_EQ(r->method, "PATCH");
  EXPECT_EQ(r->path, "/api/settings/x?y=1");
  EXPECT_EQ(r->body, "raw body");
  EXPECT_THAT(r->headers.entries(),
              ElementsAre(Pair("X-Principal", "admin:test"), Pair("Accept-Language", "en"),
                          Pair("x-custom", "1"), Pair("x-custom", "2"),
                          Pair("Content-Type", "text/plain")));
}

TEST(PassthroughTest, WinsOverActionRoutes) {
  config::ServiceConfig cfg{"settings",
                            {{"get_effective", "GET", "/api/settings/players/{player_id}"}}};
  absl::StatusOr<ActionRouteTable> table = ActionRouteTable::Create(cfg, 0);
  ASSERT_TRUE(table.ok());
  NatsMessageView msg{
      "svc.settings.v1.get_effective", "", {{"X-Http-Method", "GET"}, {"X-Http-Path", "/raw"}}, ""};
  absl::StatusOr<http::Request> r = MessageToRequest(msg, &*table);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->path, "/raw");
}

TEST(PassthroughTest, HeaderNamesAreMatchedInAnyCase) {
  NatsMessageView msg{
      "svc.a.v1.b",
      "",
      {{"x-http-method", "GET"}, {"x-http-path", "/p"}, {"x-principal", "player:pl_1"}},
      ""};
  absl::StatusOr<http::Request> r = MessageToRequest(msg, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->method, "GET");
  // Emitted once, in the canonical spelling.
  EXPECT_THAT(r->headers.entries(), ElementsAre(Pair("X-Principal", "player:pl_1")));
}

TEST(PassthroughTest, RequiresAValidMethodAndPath) {
  auto status = [](std::vector<std::pair<std::string, std::string>> headers) {
    return MessageToRequest(NatsMessageView{"svc.a.v1.b", "", std::move(headers), ""}, nullptr)
        .status();
  };
  ExpectInvalid(status({{"X-Http-Method", "GET"}}), "X-Http-Path", "required");
  ExpectInvalid(status({{"X-Http-Method", "GET"}, {"X-Http-Path", ""}}), "X-Http-Path", "required");
  ExpectInvalid(status({{"X-Http-Method", "GET"}, {"X-Http-Path", "api/x"}}), "X-Http-Path",
                "malformed");
  ExpectInvalid(status({{"X-Http-Method", "GET"}, {"X-Http-Path", "/a b"}}), "X-Http-Path",
                "malformed");
  ExpectInvalid(status({{"X-Http-Path", "/x"}}), "X-Http-Method", "required");
  ExpectInvalid(status({{"X-Http-Method", ""}, {"X-Http-Path", "/x"}}), "X-Http-Method",
                "required");
  ExpectInvalid(status({{"X-Http-Method", "GE T"}, {"X-Http-Path", "/x"}}), "X-Http-Method",
                "malformed");
  ExpectInvalid(
      status({{"X-Http-Method", "GET"}, {"x-http-method", "POST"}, {"X-Http-Path", "/x"}}),
      "X-Http-Method", "malformed");
}

TEST(PassthroughTest, SkipsHeadersWithControlCharacters) {
  NatsMessageView msg{"svc.a.v1.b",
                      "",
                      {{"X-Http-Method", "GET"},
                       {"X-Http-Path", "/p"},
                       {"X-Evil", "a\r\nInjected: 1"},
                       {"Bad Name", "v"},
                       {"X-Ok", "tab\tok"}},
                      ""};
  absl::StatusOr<http::Request> r = MessageToRequest(msg, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->headers.entries(), ElementsAre(Pair("X-Ok", "tab\tok")));
}

// ---- Well-known header forwarding
// ------------------------------------------------------------------

class ActionRequestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config::ServiceConfig cfg{"settings",
                              {{"get_effective", "GET", "/api/settings/players/{player_id}"},
                               {"set_values", "POST", "/api/settings/players/{player_id}/values"}}};
    absl::StatusOr<ActionRouteTable> table = ActionRouteTable::Create(cfg, 0);
    ASSERT_TRUE(table.ok()) << table.status();
    table_.emplace(*std::move(table));
  }
  std::optional<ActionRouteTable> table_;
};

TEST_F(ActionRequestTest, ForwardsWellKnownHeadersOnly) {
  NatsMessageView msg;
  msg.subject = "svc.settings.v1.get_effective";
  msg.headers = {
      {"X-Principal", "player:pl_a8694c9d17e9b948"},
      {"X-Request-Time", "2025-11-20T12:00:00.000Z"},
      {"X-Request-Id", "req-1"},
      {"X-Deadline-Ms", "2500"},
      {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
      {"tracestate", "vendor=1"},
      {"Accept-Language", "en"},
      {"Nats-Msg-Id", "x"},
  };
  msg.data = R"({"player_id":"pl_a8694c9d17e9b948","platform":"mobile"})";
  absl::StatusOr<http::Request> r = MessageToRequest(msg, &*table_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->service, "settings");
  EXPECT_EQ(r->action, "get_effective");
  EXPECT_EQ(r->method, "GET");
  EXPECT_EQ(r->path, "/api/settings/players/pl_a8694c9d17e9b948?platform=mobile");
  EXPECT_EQ(r->body, "");
  EXPECT_THAT(
      r->headers.entries(),
      ElementsAre(Pair("X-Principal", "player:pl_a8694c9d17e9b948"),
                  Pair("X-Request-Time", "2025-11-20T12:00:00.000Z"), Pair("X-Request-Id", "req-1"),
                  Pair("X-Deadline-Ms", "2500"),
                  Pair("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
                  Pair("tracestate", "vendor=1")));
  EXPECT_EQ(r->TraceId(), "req-1");
}

TEST_F(ActionRequestTest, PostGetsJsonBodyAndContentType) {
  NatsMessageView msg{"svc.settings.v1.set_values",
                      "",
                      {{"X-Request-Id", "r"}},
                      R"({"player_id":"p1","expected_revision":3,"values":{"a.b":1}})"};
  absl::StatusOr<http::Request> r = MessageToRequest(msg, &*table_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->path, "/api/settings/players/p1/values");
  EXPECT_EQ(r->body, R"({"expected_revision":3,"values":{"a.b":1}})");
  EXPECT_EQ(r->headers.GetOr("content-type", ""), "application/json");
  EXPECT_EQ(r->headers.GetOr("X-Request-Id", ""), "r");
}

TEST_F(ActionRequestTest, ConflictingCopiesOfAWellKnownHeaderAreRejected) {
  NatsMessageView msg{"svc.settings.v1.get_effective",
                      "",
                      {{"X-Principal", "player:pl_1"}, {"x-principal", "admin:root"}},
                      R"({"player_id":"p"})"};
  ExpectInvalid(MessageToRequest(msg, &*table_).status(), "X-Principal", "malformed");
  // Identical copies are the same header.
  msg.headers = {{"X-Principal", "player:pl_1"}, {"x-principal", "player:pl_1"}};
  absl::StatusOr<http::Request> r = MessageToRequest(msg, &*table_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->headers.entries(), ElementsAre(Pair("X-Principal", "player:pl_1")));
}

TEST_F(ActionRequestTest, WellKnownHeaderWithControlCharactersIsRejected) {
  NatsMessageView msg{"svc.settings.v1.get_effective",
                      "",
                      {{"X-Request-Time", "2025\r\nX: y"}},
                      R"({"player_id":"p"})"};
  ExpectInvalid(MessageToRequest(msg, &*table_).status(), "X-Request-Time", "malformed");
}

TEST_F(ActionRequestTest, OfSeveralMalformedHeadersTheFirstWellKnownOneIsNamedWhateverTheirOrder) {
  // The well-known headers are checked in a fixed order (principal, request time, ..., then the
  // request line), not in the order the message carries them.
  NatsMessageView msg{"svc.settings.v1.get_effective",
                      "",
                      {{"X-Http-Path", "/a"},
                       {"X-Http-Path", "/b"},
                       {"X-Request-Time", "2025\x01"},
                       {"X-Principal", "player:pl_1"},
                       {"X-PRINCIPAL", "player:pl_2"},
                       {"X-Principal", "bad\r\n"}},
                      R"({"player_id":"p"})"};
  absl::Status status = MessageToRequest(msg, &*table_).status();
  ExpectInvalid(status, "X-Principal", "malformed");
  EXPECT_THAT(std::string(status.message()), HasSubstr("repeated with different values"));
  msg.headers.erase(msg.headers.begin() + 3, msg.headers.end());
  status = MessageToRequest(msg, &*table_).status();
  ExpectInvalid(status, "X-Request-Time", "malformed");
  EXPECT_THAT(std::string(status.message()), HasSubstr("control characters"));
  msg.headers.pop_back();
  ExpectInvalid(MessageToRequest(msg, &*table_).status(), "X-Http-Path", "malformed");
}

TEST_F(ActionRequestTest, UnknownActionIsNotFound) {
  NatsMessageView msg{"svc.settings.v1.get_nothing", "", {}, "{}"};
  absl::Status s = MessageToRequest(msg, &*table_).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetErrorDetails(s), (ErrorDetails{{"field", "action"}}));
  EXPECT_THAT(std::string(s.message()), HasSubstr("get_nothing"));
  // Without any table, too.
  EXPECT_EQ(MessageToRequest(msg, nullptr).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ActionRequestTest, PayloadErrorsSurface) {
  NatsMessageView msg{"svc.settings.v1.set_values", "", {}, "[1]"};
  ExpectInvalid(MessageToRequest(msg, &*table_).status(), "body", "malformed");
  msg.data = R"({"values":{}})";
  ExpectInvalid(MessageToRequest(msg, &*table_).status(), "player_id", "required");
}

TEST_F(ActionRequestTest, BadSubjectIsRejectedFirst) {
  NatsMessageView msg{"svc.settings.v1", "", {}, "[1]"};
  ExpectInvalid(MessageToRequest(msg, &*table_).status(), "subject", "malformed");
}

}  // namespace
}  // namespace sidecar::adapters::nats_http
