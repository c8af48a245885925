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
    EXPECT_EQ(IsFieldValue(std::string_view(&c, 1)), (u >= 0x20 && u != 0x7f) || u == '\t');
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

// The value checks skip 8-byte words with no suspect byte: every byte, at every offset of
// values of every length around the word size, must get the same answer as a per-byte check.
TEST(HeaderCharsTest, WordAtATimeChecksAgreeWithTheTableAtEveryOffset) {
  for (size_t length = 1; length <= 26; ++length) {
    for (size_t at = 0; at < length; ++at) {
      for (int i = 0; i < 256; ++i) {
        std::string value(length, 'a');
        value[at] = static_cast<char>(i);
        const auto u = static_cast<unsigned char>(i);
        SCOPED_TRACE(testing::Message() << "length " << length << " offset " << at << " byte " << i);
        ASSERT_EQ(IsFieldValue(value), (u >= 0x20 && u != 0x7f) || u == '\t');
        ASSERT_EQ(HasLineBreakOrNul(value), u == '\r' || u == '\n' || u == 0);
        ASSERT_EQ(IsToken(value), RfcTchar(u));
      }
    }
  }
}

TEST(HeaderCharsTest, ASuspectWordThatIsCleanDoesNotHideALaterBadByte) {
  // A tab or obs-text byte makes its word suspect without being refused; the bytes after it
  // are still checked.
  EXPECT_TRUE(IsFieldValue("a\tb\xff cdefghijklmnop"));
  EXPECT_FALSE(IsFieldValue("a\tbcdefghijklmnop\x01"));
  EXPECT_FALSE(HasLineBreakOrNul("tab\there and more bytes"));
  EXPECT_TRUE(HasLineBreakOrNul("tab\there and more bytes\n"));
  EXPECT_TRUE(HasLineBreakOrNul("\x0c\x0b\x09 then a CR\r"));
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

TEST(HeaderMapTest, RemovingSeveralNamesKeepsTheOthersInOrder) {
  HeaderMap headers;
  headers.Add("Host", "a");
  headers.Add("x-forwarded-for", "spoofed");
  headers.Add("Accept", "b");
  headers.Add("EXPECT", "100-continue");
  headers.Add("X-Forwarded-For", "spoofed too");
  headers.Add("Accept", "c");
  headers.Remove({"Expect", "X-Forwarded-For", "Transfer-Encoding"});
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers.entries()[0], HeaderMap::Entry("Host", "a"));
  EXPECT_EQ(headers.entries()[1], HeaderMap::Entry("Accept", "b"));
  EXPECT_EQ(headers.entries()[2], HeaderMap::Entry("Accept", "c"));
}

}  // namespace
}  // namespace sidecar::http
