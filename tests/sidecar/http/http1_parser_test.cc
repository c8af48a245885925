#include "sidecar/http/http1_parser.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sidecar::http {
namespace {

using Event = Http1Parser::Event;

struct Outcome {
  std::vector<Request> requests;
  std::optional<Http1Error> error;
  int head_complete_events = 0;
  bool keep_alive = false;        // of the last complete request
  bool expects_continue = false;  // at the last kHeadComplete
};

// Feeds `input` in pieces of `step` bytes the way the listener does: whatever the parser did not
// consume stays in a pending buffer in front of the next piece.
Outcome FeedAll(std::string_view input, size_t step = std::string_view::npos, Http1Limits limits = {}) {
  Http1Parser parser(limits);
  Outcome out;
  std::string pending;
  size_t offset = 0;
  while (offset < input.size()) {
    const size_t n = std::min(step, input.size() - offset);
    pending.append(input.substr(offset, n));
    offset += n;
    for (;;) {
      size_t consumed = 0;
      const Event event = parser.Feed(pending, &consumed);
      pending.erase(0, consumed);
      if (event == Event::kError) {
        out.error = parser.error();
        return out;
      }
      if (event == Event::kHeadComplete) {
        ++out.head_complete_events;
        out.expects_continue = parser.expects_continue();
        continue;
      }
      if (event == Event::kComplete) {
        out.keep_alive = parser.keep_alive();
        out.requests.push_back(parser.TakeRequest());
        if (pending.empty()) break;
        continue;
      }
      EXPECT_TRUE(pending.empty()) << "kNeedMore must consume everything";
      break;
    }
  }
  return out;
}

TEST(Http1ParserTest, ParsesAGetWithQueryAndHeaders) {
  Outcome out = FeedAll("GET /quests/7?verbose=1&x=%20 HTTP/1.1\r\nHost: example.com\r\n"
                        "X-Empty:\r\nAccept:   text/plain  \r\n\r\n");
  ASSERT_FALSE(out.error.has_value()) << out.error->message;
  ASSERT_EQ(out.requests.size(), 1u);
  const Request& r = out.requests[0];
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/quests/7?verbose=1&x=%20");
  EXPECT_EQ(r.headers.GetOr("host", ""), "example.com");
  EXPECT_EQ(r.headers.GetOr("Accept", ""), "text/plain");  // OWS trimmed
  EXPECT_TRUE(r.headers.Has("X-Empty"));
  EXPECT_TRUE(r.body.empty());
  EXPECT_TRUE(out.keep_alive);
  EXPECT_EQ(out.head_complete_events, 0);  // no body: straight to kComplete
}

TEST(Http1ParserTest, ParsesAPostWithContentLength) {
  Outcome out = FeedAll("POST /scores HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world");
  ASSERT_FALSE(out.error.has_value()) << out.error->message;
  ASSERT_EQ(out.requests.size(), 1u);
  EXPECT_EQ(out.requests[0].method, "POST");
  EXPECT_EQ(out.requests[0].body, "hello world");
  EXPECT_EQ(out.head_complete_events, 1);
}

TEST(Http1ParserTest, ParsesAChunkedBodyWithExtensionsAndTrailers) {
  Outcome out = FeedAll(
      "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "6 ; ext\r\n world\r\n"
      "0\r\nX-Checksum: abc\r\n\r\n");
  ASSERT_FALSE(out.error.has_value()) << out.error->message;
  ASSERT_EQ(out.requests.size(), 1u);
  EXPECT_EQ(out.requests[0].body, "hello world");
  // Trailers are validated and dropped, never merged into the headers the filters checked.
  EXPECT_FALSE(out.requests[0].headers.Has("X-Checksum"));
}

TEST(Http1ParserTest, UpperCaseHexChunkSizes) {
  std::string body(0x1A, 'x');
  Outcome out = FeedAll("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n1A\r\n" + body +
                        "\r\n0\r\n\r\n");
  ASSERT_FALSE(out.error.has_value()) << out.error->message;
  ASSERT_EQ(out.requests.size(), 1u);
  EXPECT_EQ(out.requests[0].body, body);
}

TEST(Http1ParserTest, StopsAfterEachPipelinedRequestAndLeavesTheRestUnconsumed) {
  const std::string first = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string second = "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok";
  const std::string both = first + second;
  Http1Parser parser;
  size_t consumed = 0;
  ASSERT_EQ(parser.Feed(both, &consumed), Event::kComplete);
  EXPECT_EQ(consumed, first.size());
  EXPECT_EQ(parser.TakeRequest().path, "/a");

  std::string_view rest = std::string_view(both).substr(consumed);
  ASSERT_EQ(parser.Feed(rest, &consumed), Event::kHeadComplete);
  rest.remove_prefix(consumed);
  ASSERT_EQ(parser.Feed(rest, &consumed), Event::kComplete);
  EXPECT_EQ(consumed, rest.size());
  Request r = parser.TakeRequest();
  EXPECT_EQ(r.path, "/b");
  EXPECT_EQ(r.body, "ok");

  Outcome out = FeedAll(both);
  ASSERT_EQ(out.requests.size(), 2u);
}

TEST(Http1ParserTest, ParsesRequestsFedOneByteAtATime) {
  const std::string input =
      "POST /one HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
      "PUT /two HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\ndef\r\n0\r\nT: v\r\n\r\n"
      "GET /three HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  Outcome out = FeedAll(input, 1);
  ASSERT_FALSE(out.error.has_value()) << out.error->message;
  ASSERT_EQ(out.requests.size(), 3u);
  EXPECT_EQ(out.requests[0].body, "abc");
  EXPECT_EQ(out.requests[1].method, "PUT");
  EXPECT_EQ(out.requests[1].body, "def");
  EXPECT_EQ(out.requests[2].path, "/three");
  EXPECT_FALSE(out.keep_alive);
}

TEST(Http1ParserTest, IgnoresBlankLinesBeforeTheRequestLine) {
  Outcome out = FeedAll("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_FALSE(out.error.has_value()) << out.error->message;
  EXPECT_EQ(out.requests.size(), 1u);
}

TEST(Http1ParserTest, ReportsExpectContinueAtTheEndOfTheHead) {
  Http1Parser parser;
  size_t consumed = 0;
  const std::string head = "PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\n";
  ASSERT_EQ(parser.Feed(head, &consumed), Event::kHeadComplete);
  EXPECT_EQ(consumed, head.size());
  EXPECT_TRUE(parser.expects_continue());
  EXPECT_TRUE(parser.in_body());
  ASSERT_EQ(parser.Feed("body", &consumed), Event::kComplete);
  EXPECT_EQ(parser.TakeRequest().body, "body");
}

TEST(Http1ParserTest, KeepAliveFollowsVersionAndConnectionHeader) {
  EXPECT_TRUE(FeedAll("GET / HTTP/1.1\r\nHost: h\r\n\r\n").keep_alive);
  EXPECT_FALSE(FeedAll("GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n").keep_alive);
  EXPECT_FALSE(FeedAll("GET / HTTP/1.0\r\n\r\n").keep_alive);
  EXPECT_TRUE(FeedAll("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
  EXPECT_FALSE(FeedAll("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n").keep_alive);
}

TEST(Http1ParserTest, InRequestBecomesTrueWithTheFirstByte) {
  Http1Parser parser;
  EXPECT_FALSE(parser.in_request());
  size_t consumed = 0;
  EXPECT_EQ(parser.Feed("G", &consumed), Event::kNeedMore);
  EXPECT_TRUE(parser.in_request());
}

TEST(Http1ParserTest, AcceptsAsteriskOnlyForOptions) {
  EXPECT_EQ(FeedAll("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").requests.size(), 1u);
  EXPECT_TRUE(FeedAll("GET * HTTP/1.1\r\nHost: h\r\n\r\n").error.has_value());
}

TEST(Http1ParserTest, RejectsAContentLengthOverTheLimitFromTheHeadAlone) {
  Http1Limits limits;
  limits.max_body_bytes = 10;
  Http1Parser parser(limits);
  size_t consumed = 0;
  // No body byte is fed: the decision is made on the head.
  ASSERT_EQ(parser.Feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", &consumed),
            Event::kError);
  EXPECT_EQ(parser.error().status, 413);
  EXPECT_EQ(parser.error().reason, "body_too_large");
}

TEST(Http1ParserTest, RejectsAChunkedBodyAsSoonAsItPassesTheLimit) {
  Http1Limits limits;
  limits.max_body_bytes = 10;
  Http1Parser parser(limits);
  size_t consumed = 0;
  ASSERT_EQ(parser.Feed("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", &consumed),
            Event::kHeadComplete);
  ASSERT_EQ(parser.Feed("8\r\n12345678\r\n", &consumed), Event::kNeedMore);
  // The next chunk header alone passes the limit: rejected before its data arrives.
  ASSERT_EQ(parser.Feed("3\r\n", &consumed), Event::kError);
  EXPECT_EQ(parser.error().status, 413);
}

TEST(Http1ParserTest, AcceptsWellFormedChunkExtensionsHostsAndTargets) {
  Outcome out = FeedAll(
      "POST /a%2Fb?x=100%&y=a\\b HTTP/1.1\r\nHost: [::1]:8080\r\nTransfer-Encoding: chunked\r\n\r\n"
      "1 ; a = b;c;d=\"q\\\"x\"\r\nx\r\n0\r\n\r\n");
  ASSERT_FALSE(out.error.has_value()) << out.error->message;
  ASSERT_EQ(out.requests.size(), 1u);
  EXPECT_EQ(out.requests[0].body, "x");
}

TEST(Http1ParserTest, AcceptsUnderscoresWhenAllowed) {
  Http1Limits limits;
  limits.allow_underscores_in_header_names = true;
  Outcome out = FeedAll("GET / HTTP/1.1\r\nHost: h\r\nX_A: v\r\n\r\n", std::string_view::npos, limits);
  ASSERT_FALSE(out.error.has_value());
  EXPECT_EQ(out.requests.at(0).headers.GetOr("X_A", ""), "v");
}

TEST(Http1ParserTest, ChunkExtensionBudgetIsPerRequest) {
  // 4 KiB of extensions per request, many requests on one connection: each gets its own budget.
  std::string one = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;a=" +
                    std::string(4000, 'b') + "\r\nx\r\n0\r\n\r\n";
  std::string many;
  for (int i = 0; i < 8; ++i) many += one;
  Outcome out = FeedAll(many);
  ASSERT_FALSE(out.error.has_value()) << out.error->message;
  EXPECT_EQ(out.requests.size(), 8u);
}

TEST(Http1ParserTest, AcceptsExactlyTheLimits) {
  Http1Limits limits;
  limits.max_body_bytes = 5;
  limits.max_headers = 3;
  Outcome out = FeedAll("POST / HTTP/1.1\r\nHost: h\r\nA: 1\r\nContent-Length: 5\r\n\r\n12345", 7, limits);
  ASSERT_FALSE(out.error.has_value()) << out.error->message;
  EXPECT_EQ(out.requests.size(), 1u);

  const std::string head = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  limits.max_header_bytes = head.size();
  EXPECT_EQ(FeedAll(head, 1, limits).requests.size(), 1u);
  limits.max_header_bytes = head.size() - 1;
  ASSERT_TRUE(FeedAll(head, 1, limits).error.has_value());
  EXPECT_EQ(FeedAll(head, 1, limits).error->status, 431);
}

struct RejectCase {
  std::string name;
  std::string input;
  int status;
};

std::ostream& operator<<(std::ostream& os, const RejectCase& c) { return os << c.name; }

class Http1ParserRejectTest : public ::testing::TestWithParam<RejectCase> {};

std::vector<RejectCase> RejectCases() {
  const std::string big_header = "X-Big: " + std::string(17000, 'a') + "\r\n";
  std::string many_headers;
  for (int i = 0; i < 101; ++i) many_headers += "X-H" + std::to_string(i) + ": v\r\n";
  return {
      // Framing conflicts (request smuggling).
      {"ContentLengthAndTransferEncoding",
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"TransferEncodingAndContentLength",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},
      {"DuplicateEqualContentLength",
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400},
      {"ConflictingContentLength",
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc", 400},
      {"ContentLengthList", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc", 400},
      {"ContentLengthNegative", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
      {"ContentLengthPlus", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc", 400},
      {"ContentLengthHex", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x3\r\n\r\nabc", 400},
      {"ContentLengthEmpty", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400},
      {"ContentLengthOverflow",
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
      {"TransferEncodingGzip", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
      {"TransferEncodingList",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400},
      {"TransferEncodingTwice",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
       400},
      {"TransferEncodingOnHttp10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      // Line syntax.
      {"ObsFold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n two\r\n\r\n", 400},
      {"ObsFoldTab", "GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n\ttwo\r\n\r\n", 400},
      {"BareLfInRequestLine", "GET / HTTP/1.1\nHost: h\r\n\r\n", 400},
      {"BareLfInHeader", "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", 400},
      {"BareLfEndOfHead", "GET / HTTP/1.1\r\nHost: h\r\n\n", 400},
      {"BareCrInValue", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n", 400},
      {"NulInValue", std::string("GET / HTTP/1.1\r\nHost: h\r\nX-A: a") + '\0' + "b\r\n\r\n", 400},
      {"SpaceBeforeColon", "GET / HTTP/1.1\r\nHost: h\r\nX-A : v\r\n\r\n", 400},
      {"InvalidHeaderName", "GET / HTTP/1.1\r\nHost: h\r\nX(A): v\r\n\r\n", 400},
      {"EmptyHeaderName", "GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 400},
      {"HeaderWithoutColon", "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400},
      // Request line.
      {"GarbageRequestLine", "HELLO\r\n\r\n", 400},
      {"MissingVersion", "GET /\r\nHost: h\r\n\r\n", 400},
      {"DoubleSpace", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"TrailingSpace", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400},
      {"InvalidMethod", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"AbsoluteFormTarget", "GET http://evil/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"ControlInTarget", "GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"LowerCaseProtocol", "GET / http/1.1\r\nHost: h\r\n\r\n", 400},
      {"MissingHost", "GET / HTTP/1.1\r\n\r\n", 400},
      {"TwoHosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      // Version.
      {"Http2", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
      {"Http12", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505},
      {"Http09", "GET / HTTP/0.9\r\n\r\n", 505},
      // Expect.
      {"UnknownExpectation", "POST / HTTP/1.1\r\nHost: h\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx", 417},
      // Limits.
      {"HeaderTooLarge", "GET / HTTP/1.1\r\nHost: h\r\n" + big_header + "\r\n", 431},
      {"RequestLineTooLarge", "GET /" + std::string(17000, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", 431},
      {"TooManyHeaders", "GET / HTTP/1.1\r\nHost: h\r\n" + many_headers + "\r\n", 431},
      {"BodyTooLarge", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n", 413},
      // Chunk framing.
      {"ChunkSizeNotHex", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
      {"ChunkSizeEmpty", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400},
      {"ChunkSizeNegative", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", 400},
      {"ChunkSizeOverflow",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 400},
      {"ChunkDataTooLong",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n", 400},
      {"ChunkBareLf", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n", 400},
      {"ChunkedBodyTooLarge",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n", 413},
      {"TrailerObsFold",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: b\r\n c\r\n\r\n", 400},
      // Issue 9 hardening (the listener's framing corpus has many more).
      {"UnknownMethod", "PURGE / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"LowerCaseMethod", "get / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"UnderscoreInHeaderName", "GET / HTTP/1.1\r\nHost: h\r\nX_Forwarded_For: 1\r\n\r\n", 400},
      {"FragmentInTarget", "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"BackslashInPath", "GET /a\\b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"BrokenPercentEncoding", "GET /a%2 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"HostWithUserinfo", "GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", 400},
      {"HostWithSlash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
      {"ChunkSizeTrailingSpace",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n", 400},
      {"ChunkExtensionWithoutName",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;\r\nabc\r\n0\r\n\r\n", 400},
      {"ChunkExtensionUnterminatedQuote",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\"b\r\nabc\r\n0\r\n\r\n", 400},
      {"ChunkExtensionsOverBudget",
       [] {
         std::string s = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
         for (int i = 0; i < 6; ++i) s += "1;a=" + std::string(3000, 'b') + "\r\nx\r\n";
         return s + "0\r\n\r\n";
       }(),
       400},
  };
}

TEST_P(Http1ParserRejectTest, RejectsWithTheRightStatusWhole) {
  Outcome out = FeedAll(GetParam().input);
  ASSERT_TRUE(out.error.has_value()) << "accepted " << out.requests.size() << " request(s)";
  EXPECT_EQ(out.error->status, GetParam().status) << out.error->message;
  EXPECT_TRUE(out.requests.empty());
  EXPECT_FALSE(out.error->reason.empty());
  EXPECT_FALSE(out.error->message.empty());
}

TEST_P(Http1ParserRejectTest, RejectsWithTheRightStatusByteByByte) {
  Outcome out = FeedAll(GetParam().input, 1);
  ASSERT_TRUE(out.error.has_value()) << "accepted " << out.requests.size() << " request(s)";
  EXPECT_EQ(out.error->status, GetParam().status) << out.error->message;
  EXPECT_TRUE(out.requests.empty());
}

TEST_P(Http1ParserRejectTest, StaysFailed) {
  Http1Parser parser;
  size_t consumed = 0;
  Event event = parser.Feed(GetParam().input, &consumed);
  while (event == Event::kHeadComplete) {
    std::string_view rest = std::string_view(GetParam().input).substr(consumed);
    size_t more = 0;
    event = parser.Feed(rest, &more);
    consumed += more;
  }
  ASSERT_EQ(event, Event::kError);
  EXPECT_EQ(parser.Feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &consumed), Event::kError);
  EXPECT_EQ(consumed, 0u);
}

INSTANTIATE_TEST_SUITE_P(All, Http1ParserRejectTest, ::testing::ValuesIn(RejectCases()),
                         [](const ::testing::TestParamInfo<RejectCase>& info) { return info.param.name; });

}  // namespace
}  // namespace sidecar::http
