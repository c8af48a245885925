#include "sidecar/upstream/wire_request.h"

#include <gtest/gtest.h>

#include <string>

namespace sidecar::upstream {
namespace {

TEST(WireRequestTest, TheHeadIsTheRequestLineAndEachHeaderOnItsOwnLine) {
  WireRequest request(EVHTTP_REQ_PUT, "/api/settings/u1?x=1", 64);
  ASSERT_TRUE(request.AddHeader("Host", "legacy:8080").ok());
  ASSERT_TRUE(request.AddHeader("X-Empty", "").ok());
  EXPECT_EQ(request.method(), EVHTTP_REQ_PUT);
  EXPECT_EQ(request.head(), "PUT /api/settings/u1?x=1 HTTP/1.1\r\nHost: legacy:8080\r\nX-Empty: \r\n");
  EXPECT_FALSE(request.has_content_length());
}

TEST(WireRequestTest, ADefaultRequestIsAnEmptyPlaceholder) {
  WireRequest request;
  EXPECT_TRUE(request.head().empty());
  EXPECT_TRUE(request.body().empty());
}

TEST(WireRequestTest, AContentLengthInAnyCaseIsNoticed) {
  WireRequest request(EVHTTP_REQ_POST, "/");
  ASSERT_TRUE(request.AddHeader("content-LENGTH", "3").ok());
  request.set_body("abc");
  EXPECT_TRUE(request.has_content_length());
  EXPECT_EQ(request.body(), "abc");
}

TEST(WireRequestTest, OwnHeadersAreWrittenAsGivenAndTheirContentLengthIsNoticed) {
  WireRequest request(EVHTTP_REQ_POST, "/");
  request.AddOwnHeader("Host", "legacy:8080");
  request.AddOwnHeader("Content-Length", "3");
  EXPECT_EQ(request.head(), "POST / HTTP/1.1\r\nHost: legacy:8080\r\nContent-Length: 3\r\n");
  EXPECT_TRUE(request.has_content_length());
}

// A CR or LF in a value would let the caller's bytes start a header of their own (request
// smuggling towards the legacy service); NUL is cut by some parsers.
TEST(WireRequestTest, AValueWithALineBreakOrNulIsRefusedAndLeavesTheHeadAsItWas) {
  for (std::string bad : {std::string("a\r\nInjected: 1"), std::string("a\nb"), std::string("a\rb"),
                          std::string("a\0b", 3)}) {
    WireRequest request(EVHTTP_REQ_GET, "/");
    const absl::Status added = request.AddHeader("X-Bad", bad);
    EXPECT_EQ(added.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(added.message().find("X-Bad"), std::string::npos) << added;
    EXPECT_EQ(request.head(), "GET / HTTP/1.1\r\n");
  }
}

TEST(WireRequestTest, ANameThatIsNotATokenIsRefused) {
  for (std::string bad : {"", "X Bad", "X:Bad", "X\r\nBad", "(x)"}) {
    WireRequest request(EVHTTP_REQ_GET, "/");
    EXPECT_EQ(request.AddHeader(bad, "v").code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(request.head(), "GET / HTTP/1.1\r\n");
  }
}

}  // namespace
}  // namespace sidecar::upstream
