#include <string>

#include "adapters/common/errors.h"
#include "adapters/nats_http/nats_http.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sidecar/upstream/cluster.h"

namespace sidecar::adapters::nats_http {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using Json = nlohmann::json;

http::Response MakeResponse(int status, std::vector<std::pair<std::string, std::string>> headers,
                            std::string body) {
  http::Response r;
  r.status = status;
  for (auto& [name, value] : headers) r.headers.Add(std::move(name), std::move(value));
  r.body = std::move(body);
  return r;
}

TEST(ReplyTest, SuccessKeepsBodyAndEndToEndHeaders) {
  NatsReply reply = EncodeReply(MakeResponse(200,
                                             {{"content-type", "application/json"},
                                              {"content-length", "11"},
                                              {"connection", "keep-alive, x-hop"},
                                              {"keep-alive", "timeout=5"},
                                              {"x-hop", "1"},
                                              {"transfer-encoding", "chunked"},
                                              {"date", "Thu, 20 Nov 2025 12:00:00 GMT"},
                                              {"x-request-id", "r1"},
                                              {"etag", "\"v1\""},
                                              {"nats-msg-id", "spoofed"},
                                              {"x-http-status", "999"}},
                                             R"({"ok":true})"));
  EXPECT_THAT(reply.headers,
              ElementsAre(Pair("X-Http-Status", "200"), Pair("Content-Type", "application/json"),
                          Pair("Date", "Thu, 20 Nov 2025 12:00:00 GMT"), Pair("X-Request-Id", "r1"),
                          Pair("ETag", "\"v1\"")));
  EXPECT_EQ(reply.data, R"({"ok":true})");
}

TEST(ReplyTest, NotFoundWithLegacyErrorBodyIsKeptAsIs) {
  std::string body =
      R"({"error":{"code":"NOT_FOUND","message":"quest not found","details":{"field":"quest_id"}}})";
  NatsReply reply = EncodeReply(MakeResponse(404, {{"content-type", "application/json"}}, body));
  EXPECT_THAT(reply.headers,
              ElementsAre(Pair("X-Http-Status", "404"), Pair("Nats-Service-Error", "NOT_FOUND"),
                          Pair("Nats-Service-Error-Code", "404"),
                          Pair("Content-Type", "application/json")));
  EXPECT_EQ(reply.data, body);
}

TEST(ReplyTest, LegacyCodeWinsOverTheStatusDerivedOne) {
  // Spec example (auth lockout): the legacy body names the code; its non-string details are kept.
  std::string body =
      R"({"error":{"code":"RESOURCE_EXHAUSTED","message":"locked","details":{"n":1}}})";
  NatsReply reply = EncodeReply(MakeResponse(400, {}, body));
  EXPECT_THAT(reply.headers, ElementsAre(Pair("X-Http-Status", "400"),
                                         Pair("Nats-Service-Error", "RESOURCE_EXHAUSTED"),
                                         Pair("Nats-Service-Error-Code", "400"),
                                         Pair("Content-Type", "application/json")));
  EXPECT_EQ(reply.data, body);
}

TEST(ReplyTest, InternalErrorWithPlainTextBodyIsWrapped) {
  NatsReply reply = EncodeReply(MakeResponse(500,
                                             {{"Content-Type", "text/plain; charset=utf-8"},
                                              {"Content-Encoding", "identity"},
                                              {"X-Trace", "t"}},
                                             "Traceback: boom"));
  EXPECT_THAT(reply.headers,
              ElementsAre(Pair("X-Http-Status", "500"), Pair("Nats-Service-Error", "INTERNAL"),
                          Pair("Nats-Service-Error-Code", "500"), Pair("X-Trace", "t"),
                          Pair("Content-Type", "application/json")));
  EXPECT_EQ(reply.data,
            R"({"error":{"code":"INTERNAL","message":"Traceback: boom","details":{}}})");
}

TEST(ReplyTest, EmptyErrorBodyUsesTheReasonPhrase) {
  NatsReply reply = EncodeReply(MakeResponse(503, {}, ""));
  EXPECT_EQ(reply.data,
            R"({"error":{"code":"UNAVAILABLE","message":"Service Unavailable","details":{}}})");
  NatsReply odd = EncodeReply(MakeResponse(599, {}, ""));
  EXPECT_EQ(odd.data, R"({"error":{"code":"INTERNAL","message":"HTTP 599","details":{}}})");
}

TEST(ReplyTest, FastApiStyleBodyIsWrappedWithTheStatusCode) {
  NatsReply reply = EncodeReply(MakeResponse(405, {{"content-type", "application/json"}},
                                             R"({"detail":"Method Not Allowed"})"));
  EXPECT_THAT(reply.headers, ::testing::Contains(Pair("Nats-Service-Error", "INVALID_ARGUMENT")));
  EXPECT_EQ(Json::parse(reply.data)["error"]["message"], R"({"detail":"Method Not Allowed"})");
}

TEST(ReplyTest, UnknownLegacyCodeIsReplacedButMessageAndDetailsKept) {
  NatsReply reply = EncodeReply(MakeResponse(
      409, {},
      R"({"error":{"code":"CONFLICT","message":"dup","details":{"field":"quest_id","n":2}}})"));
  EXPECT_THAT(reply.headers, ::testing::Contains(Pair("Nats-Service-Error", "ALREADY_EXISTS")));
  EXPECT_EQ(
      reply.data,
      R"({"error":{"code":"ALREADY_EXISTS","message":"dup","details":{"field":"quest_id"}}})");
}

TEST(ReplyTest, LongLegacyMessageIsCutOnAUtf8Boundary) {
  std::string body(511, 'x');
  body += "\xE2\x82\xAC";  // a 3-byte character straddling byte 512
  body += std::string(100, 'y');
  NatsReply reply = EncodeReply(MakeResponse(500, {}, body));
  std::string message = Json::parse(reply.data)["error"]["message"];
  EXPECT_EQ(message, std::string(511, 'x'));
}

TEST(ReplyTest, InvalidStatusIsReportedAsBadGateway) {
  NatsReply reply = EncodeReply(MakeResponse(0, {}, ""));
  EXPECT_THAT(reply.headers, ::testing::Contains(Pair("X-Http-Status", "502")));
  EXPECT_THAT(reply.headers, ::testing::Contains(Pair("Nats-Service-Error", "UNAVAILABLE")));
}

TEST(ReplyTest, HeadersWithControlCharactersAreSkipped) {
  NatsReply reply =
      EncodeReply(MakeResponse(200, {{"X-Bad", "a\nb"}, {"X Bad", "v"}, {"x-good", "v"}}, ""));
  EXPECT_THAT(reply.headers, ElementsAre(Pair("X-Http-Status", "200"), Pair("X-Good", "v")));
}

TEST(ReplyTest, TransportFailuresBecomeErrorReplies) {
  NatsReply unavailable = EncodeError(
      upstream::UpstreamFailure(upstream::FailureKind::kConnectFailure, "connect refused"));
  EXPECT_THAT(unavailable.headers,
              ElementsAre(Pair("X-Http-Status", "503"), Pair("Nats-Service-Error", "UNAVAILABLE"),
                          Pair("Nats-Service-Error-Code", "503"),
                          Pair("Content-Type", "application/json"),
                          Pair("X-Sidecar-Reason", "connect_failure")));
  EXPECT_EQ(
      unavailable.data,
      R"({"error":{"code":"UNAVAILABLE","message":"connect refused","details":{"reason":"connect_failure"}}})");

  NatsReply timeout =
      EncodeError(upstream::UpstreamFailure(upstream::FailureKind::kTimeout, "late"));
  EXPECT_THAT(timeout.headers,
              ::testing::Contains(Pair("Nats-Service-Error", "DEADLINE_EXCEEDED")));
  EXPECT_THAT(timeout.headers, ::testing::Contains(Pair("Nats-Service-Error-Code", "504")));

  NatsReply invalid = EncodeError(InvalidArgument("body", "malformed", "not an object"));
  EXPECT_EQ(
      invalid.data,
      R"({"error":{"code":"INVALID_ARGUMENT","message":"not an object","details":{"field":"body","reason":"malformed"}}})");
}

TEST(HeaderNameTest, CanonicalisesHttpNamesForNats) {
  EXPECT_EQ(CanonicalHeaderName("content-type"), "Content-Type");
  EXPECT_EQ(CanonicalHeaderName("X-REQUEST-ID"), "X-Request-Id");
  EXPECT_EQ(CanonicalHeaderName("Traceparent"), "traceparent");
  EXPECT_EQ(CanonicalHeaderName("etag"), "ETag");
  EXPECT_EQ(CanonicalHeaderName("www-authenticate"), "WWW-Authenticate");
  EXPECT_TRUE(IsValidHeaderName("X-Custom_1"));
  EXPECT_FALSE(IsValidHeaderName("X Custom"));
  EXPECT_FALSE(IsValidHeaderName("X:Custom"));
  EXPECT_FALSE(IsValidHeaderName(""));
  EXPECT_TRUE(IsValidHeaderValue("a\tb"));
  EXPECT_FALSE(IsValidHeaderValue("a\rb"));
  EXPECT_FALSE(IsValidHeaderValue(std::string("a\0b", 3)));
}

}  // namespace
}  // namespace sidecar::adapters::nats_http
