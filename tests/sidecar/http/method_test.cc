#include "sidecar/http/method.h"

#include <gtest/gtest.h>

namespace sidecar::http {
namespace {

TEST(MethodTest, NamesRoundTrip) {
  for (const char* name : {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE",
                           "CONNECT"}) {
    const std::optional<evhttp_cmd_type> method = ParseMethod(name);
    ASSERT_TRUE(method.has_value()) << name;
    EXPECT_EQ(MethodName(*method), name);
  }
  EXPECT_EQ(ParseMethod("get"), EVHTTP_REQ_GET);  // matched ignoring case
  EXPECT_FALSE(ParseMethod("BREW").has_value());
  EXPECT_EQ(MethodName(static_cast<evhttp_cmd_type>(0)), "UNKNOWN");
}

}  // namespace
}  // namespace sidecar::http
