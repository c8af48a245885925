// The RFC 9110 character classes every hop validates headers with (sidecar/http/header_chars.h),
// and the hop-by-hop set each hop rewrites (HeaderMap::IsHopByHopOrFraming). Both are tables or
// switches now; these pin them to the RFC's definitions byte by byte.

#include "sidecar/http/header_chars.h"

#include "gtest/gtest.h"

#include <string>
#include <string_view>

#include "sidecar/http/message.h"

namespace sidecar::http {
namespace {

bool RfcTchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

TEST(HeaderCharsTest, EveryByteIsClassifiedAsRfc9110Says) {
  for (int i = 0; i < 256; ++i) {
    const auto c = static_cast<char>(i);
    const auto u = static_cast<unsigned char>(i);
    SCOPED_TRACE(i);
    EXPECT_EQ(IsTchar(c), RfcTchar(u));
    // field-vchar / SP / HTAB / obs-text: no CTL but HTAB, no DEL.
    EXPECT_EQ(IsFieldValueChar(c), (u >= 0x20 && u != 0x7f) || u == '\t');
    EXPECT_EQ(HasLineBreakOrNul(std::string_view(&c, 1)), u == '\r' || u == '\n' || u == 0);
  }
}

TEST(HeaderCharsTest, TokensAreNonEmptyRunsOfTchar) {
  EXPECT_TRUE(IsToken("X-Forwarded-For"));
  EXPECT_TRUE(IsToken("PATCH"));
  EXPECT_FALSE(IsToken(""));
  EXPECT_FALSE(IsToken("X Forwarded"));
  EXPECT_FALSE(IsToken("Host:"));
  EXPECT_FALSE(IsToken("caf\xc3\xa9"));
}

TEST(HeaderCharsTest, FieldValuesRefuseControlsButKeepTabsAndObsText) {
  EXPECT_TRUE(IsFieldValue(""));
  EXPECT_TRUE(IsFieldValue("text/html;\tq=0.9, caf\xc3\xa9"));
  EXPECT_FALSE(IsFieldValue("a\r\nInjected: 1"));
  EXPECT_FALSE(IsFieldValue(std::string("a\0b", 3)));
  EXPECT_FALSE(IsFieldValue("bell\x07"));
  EXPECT_FALSE(IsFieldValue("del\x7f"));
}

TEST(HeaderCharsTest, OnlyLineBreaksAndNulEndAHeaderLine) {
  EXPECT_FALSE(HasLineBreakOrNul("bell\x07 and del\x7f pass"));
  EXPECT_TRUE(HasLineBreakOrNul("split\rhere"));
  EXPECT_TRUE(HasLineBreakOrNul("split\nhere"));
  EXPECT_TRUE(HasLineBreakOrNul(std::string("nul\0", 4)));
}

TEST(HeaderMapTest, HopByHopOrFramingIsTheRfcSetPlusContentLengthInAnyCase) {
  for (std::string_view name : {"Connection", "keep-alive", "PROXY-CONNECTION", "Transfer-Encoding", "te",
                                "Trailer", "upgrade", "content-length"}) {
    EXPECT_TRUE(HeaderMap::IsHopByHopOrFraming(name)) << name;
  }
  for (std::string_view name : {"Host", "Content-Type", "Trailers", "T", "TEE", "Connections",
                                "X-Forwarded-For", "Content-Lengths", ""}) {
    EXPECT_FALSE(HeaderMap::IsHopByHopOrFraming(name)) << name;
  }
}

TEST(HeaderMapTest, NameEqualsIgnoresAsciiCaseOnly) {
  EXPECT_TRUE(HeaderMap::NameEquals("content-type", "Content-Type"));
  EXPECT_TRUE(HeaderMap::NameEquals("X-A", "x-a"));
  EXPECT_FALSE(HeaderMap::NameEquals("X-A", "X-B"));
  EXPECT_FALSE(HeaderMap::NameEquals("X-A", "X-A "));
  // Case folding is ASCII only: '@' (0x40) and '`' (0x60) differ by the case bit but are not letters.
  EXPECT_FALSE(HeaderMap::NameEquals("@", "`"));
  EXPECT_FALSE(HeaderMap::NameEquals("[", "{"));
}

}  // namespace
}  // namespace sidecar::http
