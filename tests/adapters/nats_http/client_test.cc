#include "adapters/nats_http/client.h"

#include <string>

#include "adapters/common/errors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace sidecar::adapters::nats_http {
namespace {

using std::chrono::milliseconds;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Key;
using ::testing::Not;
using ::testing::Pair;

void ExpectInvalid(const absl::Status& status, std::string_view field, std::string_view reason) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(GetErrorDetails(status),
            (ErrorDetails{{"field", std::string(field)}, {"reason", std::string(reason)}}))
      << status;
}

http::Request PassthroughRequest() {
  http::Request request;
  request.service = "settings";
  request.action = "update";
  request.method = "PATCH";
  request.path = "/api/settings/p1?x=1";
  request.body = R"({"volume":3})";
  return request;
}

ClientOptions Passthrough(std::string subject = "") {
  return ClientOptions{ClientMode::kPassthrough, std::move(subject)};
}
ClientOptions Action(std::string subject = "") {
  return ClientOptions{ClientMode::kAction, std::move(subject)};
}

// ---- EncodeRequest: passthrough ----------------------------------------------------------------

TEST(EncodeRequestTest, PassthroughCarriesRequestLineHeadersAndBody) {
  http::Request request = PassthroughRequest();
  request.headers.Add("content-type", "application/json");
  request.headers.Add("x-principal", "player:42");
  request.headers.Add("X-Request-Id", "req-1");
  request.headers.Add("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  request.headers.Add("Accept-Language", "en");

  absl::StatusOr<NatsRequest> out = EncodeRequest(request, Passthrough(), milliseconds(1500));

  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->subject, "svc.settings.v1.update");
  EXPECT_EQ(out->data, R"({"volume":3})");
  EXPECT_THAT(out->headers,
              ElementsAre(Pair("X-Http-Method", "PATCH"), Pair("X-Http-Path", "/api/settings/p1?x=1"),
                          Pair("X-Principal", "player:42"), Pair("X-Request-Id", "req-1"),
                          Pair("traceparent",
                               "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
                          Pair("Content-Type", "application/json"),
                          Pair("Accept-Language", "en"), Pair("X-Deadline-Ms", "1500")));
}

TEST(EncodeRequestTest, PassthroughUsesFixedSubjectOverride) {
  http::Request request = PassthroughRequest();
  request.action.clear();  // pure passthrough has no action

  absl::StatusOr<NatsRequest> out =
      EncodeRequest(request, Passthrough("svc.settings.v1.http"), milliseconds(100));

  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->subject, "svc.settings.v1.http");
}

TEST(EncodeRequestTest, PassthroughDropsHopByHopInternalAndOwnHeaders) {
  http::Request request = PassthroughRequest();
  for (const char* name :
       {"Connection", "Keep-Alive", "Transfer-Encoding", "TE", "Trailer", "Upgrade",
        "Proxy-Connection", "Proxy-Authorization", "Content-Length", "Host", "X-Hop",
        "Nats-Msg-Id", "nats-expected-stream", "Status", "Description", "X-Http-Status",
        "x-http-method", "X-Deadline-Ms"}) {
    request.headers.Add(name, "v");
  }
  request.headers.Set("Connection", "keep-alive, X-Hop");
  request.headers.Add("Bad Name", "v");
  request.headers.Add("X-Bad-Value", "a\r\nb");
  request.headers.Add("X-Keep", "1");

  absl::StatusOr<NatsRequest> out = EncodeRequest(request, Passthrough(), milliseconds(250));

  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->headers, ElementsAre(Pair("X-Http-Method", "PATCH"),
                                        Pair("X-Http-Path", "/api/settings/p1?x=1"),
                                        Pair("X-Keep", "1"), Pair("X-Deadline-Ms", "250")));
}

TEST(EncodeRequestTest, PassthroughRejectsMissingOrBadRequestLine) {
  http::Request no_method = PassthroughRequest();
  no_method.method.clear();
  ExpectInvalid(EncodeRequest(no_method, Passthrough(), milliseconds(1)).status(), "X-Http-Method",
                "required");

  http::Request bad_method = PassthroughRequest();
  bad_method.method = "GE T";
  ExpectInvalid(EncodeRequest(bad_method, Passthrough(), milliseconds(1)).status(),
                "X-Http-Method", "malformed");

  http::Request no_path = PassthroughRequest();
  no_path.path.clear();
  ExpectInvalid(EncodeRequest(no_path, Passthrough(), milliseconds(1)).status(), "X-Http-Path",
                "required");

  for (const char* path : {"relative", "/a b", "/a#frag", "/\x7f"}) {
    SCOPED_TRACE(path);
    http::Request bad_path = PassthroughRequest();
    bad_path.path = path;
    ExpectInvalid(EncodeRequest(bad_path, Passthrough(), milliseconds(1)).status(), "X-Http-Path",
                  "malformed");
  }
}

TEST(EncodeRequestTest, RejectsSubjectThatCannotBeBuilt) {
  http::Request request = PassthroughRequest();
  request.action.clear();
  ExpectInvalid(EncodeRequest(request, Passthrough(), milliseconds(1)).status(), "subject",
                "malformed");
  request.action = "x";
  request.service = "Bad.Service";
  ExpectInvalid(EncodeRequest(request, Action(), milliseconds(1)).status(), "subject", "malformed");
}

TEST(EncodeRequestTest, RejectsContextHeaderWithControlCharacters) {
  http::Request request = PassthroughRequest();
  request.headers.Add("X-Principal", "player:1\r\nX-Principal: admin");
  ExpectInvalid(EncodeRequest(request, Passthrough(), milliseconds(1)).status(), "X-Principal",
                "malformed");
}

TEST(EncodeRequestTest, DeadlineIsAtLeastOneMillisecond) {
  absl::StatusOr<NatsRequest> out =
      EncodeRequest(PassthroughRequest(), Passthrough(), milliseconds(0));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->headers, Contains(Pair("X-Deadline-Ms", "1")));
}

// ---- EncodeRequest: action ---------------------------------------------------------------------

TEST(EncodeRequestTest, ActionSendsJsonPayloadAndOnlyContextHeaders) {
  http::Request request;
  request.service = "scores";
  request.action = "submit_score";
  request.method = "POST";  // known but irrelevant in the action form
  request.path = "/api/scores";
  request.body = R"({"points":12})";
  request.headers.Add("X-Principal", "player:42");
  request.headers.Add("tracestate", "a=b");
  request.headers.Add("Content-Type", "application/json");
  request.headers.Add("X-Deadline-Ms", "99999");

  absl::StatusOr<NatsRequest> out = EncodeRequest(request, Action(), milliseconds(800));

  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->subject, "svc.scores.v1.submit_score");
  EXPECT_EQ(out->data, R"({"points":12})");
  // Content-Type is ours (the payload is always JSON), not the caller's forwarded.
  EXPECT_THAT(out->headers, ElementsAre(Pair("X-Principal", "player:42"), Pair("tracestate", "a=b"),
                                        Pair("Content-Type", "application/json"), Pair("X-Deadline-Ms", "800")));
  EXPECT_THAT(out->headers, Not(Contains(Key("X-Http-Method"))));
}

TEST(EncodeRequestTest, ActionEmptyBodyIsEmptyObject) {
  http::Request request;
  request.service = "scores";
  request.action = "list";
  absl::StatusOr<NatsRequest> out = EncodeRequest(request, Action(), milliseconds(10));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->data, "{}");
}

TEST(EncodeRequestTest, ActionRejectsPayloadThatIsNotAJsonObject) {
  for (const char* body : {"[1,2]", "\"x\"", "12", "{not json", "null"}) {
    SCOPED_TRACE(body);
    http::Request request;
    request.service = "scores";
    request.action = "list";
    request.body = body;
    ExpectInvalid(EncodeRequest(request, Action(), milliseconds(10)).status(), "body", "malformed");
  }
}

// The listener (server direction) reads back what the client direction wrote.
TEST(EncodeRequestTest, PassthroughRoundTripsThroughMessageToRequest) {
  http::Request request = PassthroughRequest();
  request.headers.Add("X-Principal", "player:42");
  request.headers.Add("Accept", "application/json");

  absl::StatusOr<NatsRequest> out = EncodeRequest(request, Passthrough(), milliseconds(700));
  ASSERT_TRUE(out.ok()) << out.status();
  NatsMessageView view{out->subject, "_INBOX.x.1", out->headers, out->data};
  absl::StatusOr<http::Request> back = MessageToRequest(view, nullptr);

  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->service, "settings");
  EXPECT_EQ(back->action, "update");
  EXPECT_EQ(back->method, "PATCH");
  EXPECT_EQ(back->path, "/api/settings/p1?x=1");
  EXPECT_EQ(back->body, R"({"volume":3})");
  EXPECT_EQ(back->headers.GetOr("X-Principal", ""), "player:42");
  EXPECT_EQ(back->headers.GetOr("Accept", ""), "application/json");
  EXPECT_EQ(back->headers.GetOr("X-Deadline-Ms", ""), "700");
}

// ---- DecodeReply ---------------------------------------------------------------------------------

TEST(DecodeReplyTest, StatusFromXHttpStatusHeadersCopiedBodyKept) {
  NatsReply reply;
  reply.headers = {{"X-Http-Status", "201"},
                   {"Content-Type", "application/json"},
                   {"X-Reply", "yes"},
                   {"Nats-Msg-Id", "m1"},
                   {"Content-Length", "99"}};
  reply.data = R"({"id":7})";

  absl::StatusOr<http::Response> response = DecodeReply(reply);

  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, R"({"id":7})");
  EXPECT_THAT(response->headers.entries(),
              ElementsAre(Pair("Content-Type", "application/json"), Pair("X-Reply", "yes")));
}

TEST(DecodeReplyTest, XHttpStatusWinsOverServiceErrorCode) {
  NatsReply reply;
  reply.headers = {{"Nats-Service-Error-Code", "500"}, {"x-http-status", "404"}};
  reply.data = R"({"error":{"code":"NOT_FOUND","message":"no","details":{}}})";
  absl::StatusOr<http::Response> response = DecodeReply(reply);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 404);
}

TEST(DecodeReplyTest, StatusFromServiceErrorCodeWithJsonErrorBody) {
  NatsReply reply;
  const std::string body = ErrorBody(codes::kNotFound, "quest not found", {{"field", "quest_id"}});
  reply.headers = {{"Nats-Service-Error", "NOT_FOUND"},
                   {"Nats-Service-Error-Code", "404"},
                   {"Content-Type", "application/json"}};
  reply.data = body;

  absl::StatusOr<http::Response> response = DecodeReply(reply);

  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(response->body, body);
  EXPECT_THAT(response->headers.entries(), ElementsAre(Pair("Content-Type", "application/json")));
}

TEST(DecodeReplyTest, NoStatusHeaderMeans200) {
  NatsReply reply;
  reply.data = "ok";
  absl::StatusOr<http::Response> response = DecodeReply(reply);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "ok");
  EXPECT_TRUE(response->headers.empty());
}

TEST(DecodeReplyTest, BareServiceErrorGetsErrorBody) {
  NatsReply known;
  known.headers = {{"Nats-Service-Error", "RESOURCE_EXHAUSTED"}, {"Nats-Service-Error-Code", "429"}};
  absl::StatusOr<http::Response> response = DecodeReply(known);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 429);
  EXPECT_EQ(response->headers.GetOr("Content-Type", ""), "application/json");
  auto json = nlohmann::json::parse(response->body);
  EXPECT_EQ(json["error"]["code"], "RESOURCE_EXHAUSTED");
  EXPECT_EQ(json["error"]["message"], "Too Many Requests");

  NatsReply free_text;  // an ADR-32 service (nats.c micro) puts a description there
  free_text.headers = {{"Nats-Service-Error", "quest store offline"},
                       {"Nats-Service-Error-Code", "503"},
                       {"Content-Type", "text/plain"}};
  response = DecodeReply(free_text);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->headers.GetOr("Content-Type", ""), "application/json");
  json = nlohmann::json::parse(response->body);
  EXPECT_EQ(json["error"]["code"], "UNAVAILABLE");
  EXPECT_EQ(json["error"]["message"], "quest store offline");
}

TEST(DecodeReplyTest, RejectsStatusThatIsNotAnHttpStatus) {
  for (const char* value : {"abc", "", "99", "600", "200 OK", "-1"}) {
    SCOPED_TRACE(value);
    NatsReply reply;
    reply.headers = {{"X-Http-Status", value}};
    EXPECT_EQ(DecodeReply(reply).status().code(), absl::StatusCode::kInvalidArgument);
    reply.headers = {{"Nats-Service-Error-Code", value}};
    EXPECT_EQ(DecodeReply(reply).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(DecodeReplyTest, DropsNatsStatusPseudoHeaders) {
  NatsReply reply;
  reply.headers = {{"Status", "200"}, {"Description", "x"}, {"X-Keep", "1"}};
  absl::StatusOr<http::Response> response = DecodeReply(reply);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(response->headers.entries(), ElementsAre(Pair("X-Keep", "1")));
}

}  // namespace
}  // namespace sidecar::adapters::nats_http
