#include "sidecar/common/append_buffer.h"

#include <gtest/gtest.h>

#include <string>

namespace sidecar {
namespace {

TEST(AppendBufferTest, PiecesAndHeaderLinesFollowOneAnother) {
  AppendBuffer buffer(16);
  buffer.Append("GET / HTTP/1.1\r\n");
  buffer.AppendHeaderLine("Host", "a");
  buffer.AppendHeaderLine("X-Empty", "");
  buffer.Append("");
  EXPECT_EQ(buffer.view(), "GET / HTTP/1.1\r\nHost: a\r\nX-Empty: \r\n");
  EXPECT_EQ(buffer.size(), buffer.view().size());
}

TEST(AppendBufferTest, GrowsPastItsRoomKeepingWhatItHolds) {
  AppendBuffer buffer;  // no room at all
  EXPECT_TRUE(buffer.empty());
  std::string expected;
  for (int i = 0; i < 200; ++i) {
    const std::string piece(static_cast<size_t>(i % 37), static_cast<char>('a' + i % 26));
    buffer.Append(piece);
    expected += piece;
  }
  const std::string large(100000, 'z');  // more than twice the room at once
  buffer.AppendHeaderLine("Big", large);
  expected += "Big: " + large + "\r\n";
  EXPECT_EQ(buffer.view(), expected);
}

TEST(AppendBufferTest, ClearKeepsNothingButTheRoom) {
  AppendBuffer buffer;
  buffer.Append(std::string(1000, 'x'));
  buffer.Clear();
  EXPECT_TRUE(buffer.empty());
  buffer.Append("y");
  EXPECT_EQ(buffer.view(), "y");
}

TEST(AppendBufferTest, CopiesAndMovesCarryTheContent) {
  AppendBuffer buffer(4);
  buffer.Append("content");
  AppendBuffer copy = buffer;
  AppendBuffer moved = std::move(buffer);
  EXPECT_EQ(copy.view(), "content");
  EXPECT_EQ(moved.view(), "content");
  EXPECT_TRUE(buffer.empty());  // NOLINT(bugprone-use-after-move): moved-from is specified empty
  buffer.Append("again");
  EXPECT_EQ(buffer.view(), "again");
}

TEST(FormatDecimalTest, WritesTheDigitsOfAnyUint64) {
  char digits[20];
  EXPECT_EQ(FormatDecimal(0, digits), "0");
  EXPECT_EQ(FormatDecimal(5000, digits), "5000");
  EXPECT_EQ(FormatDecimal(UINT64_MAX, digits), "18446744073709551615");  // all 20 places
}

}  // namespace
}  // namespace sidecar
