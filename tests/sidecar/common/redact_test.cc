#include "sidecar/common/redact.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sidecar::redact {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(RedactTest, TextWithoutSecretsIsUnchanged) {
  for (const char* text : {"", "nats connected", "listener gateway on 127.0.0.1:15001", "GET /api/x?page=2",
                           "{\"status\":\"ok\",\"count\":5}", "max tokens 5", "Bearer", "eyJ only"}) {
    EXPECT_EQ(Text(text), text);
  }
}

TEST(RedactTest, ErrsOnTheSideOfRedacting) {
  // A name that merely contains a secret word loses its value too: cheaper than a leak.
  EXPECT_EQ(Text("tokens_used=5"), "tokens_used=<redacted>");
}

TEST(RedactTest, AuthorizationSchemesKeepTheSchemeOnly) {
  EXPECT_EQ(Text("Bearer abc.def-1"), "Bearer <redacted>");
  EXPECT_EQ(Text("got basic dXNlcjpwYXNz from x"), "got basic <redacted> from x");
  EXPECT_EQ(Text("Authorization: Bearer abc\nnext"), "Authorization: <redacted>\nnext");
}

TEST(RedactTest, NamedValuesInQueriesJsonAndHeaders) {
  EXPECT_EQ(Text("/x?access_token=abc&page=2"), "/x?access_token=<redacted>&page=2");
  EXPECT_EQ(Text(R"({"user":"u","password":"p\"w","n":1})"), R"({"user":"u","password":"<redacted>","n":1})");
  EXPECT_EQ(Text("Cookie: a=1; b=2"), "Cookie: <redacted>");
  EXPECT_EQ(Text("set-cookie: sid=x; HttpOnly"), "set-cookie: <redacted>");
  EXPECT_EQ(Text("api_key=k1 rest"), "api_key=<redacted> rest");
  EXPECT_EQ(Text("password_file=/run/secrets/pw"), "password_file=/run/secrets/pw");  // a path, not a secret
}

TEST(RedactTest, SecretsRecognisedByShape) {
  const std::string seed = "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU";
  EXPECT_EQ(Text("seed " + seed + " end"), "seed <redacted> end");
  EXPECT_EQ(Text("jwt=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln"), "jwt=<redacted>");
  EXPECT_EQ(Text("x eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln y"), "x <redacted> y");
  EXPECT_EQ(Text("nats://user:pw@host:4222"), "nats://user:<redacted>@host:4222");
  EXPECT_EQ(Text("tls://tok@host:4222/x"), "tls://<redacted>@host:4222/x");
  EXPECT_EQ(Text("k -----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY----- z"), "k <redacted> z");
  EXPECT_EQ(Text("-----BEGIN CERTIFICATE-----"), "-----BEGIN CERTIFICATE-----");  // public
}

TEST(RedactTest, NamesAndHeaders) {
  EXPECT_TRUE(IsSensitiveHeader("set-cookie"));
  EXPECT_TRUE(IsSensitiveHeader("AUTHORIZATION"));
  EXPECT_FALSE(IsSensitiveHeader("X-Principal"));
  EXPECT_TRUE(IsSecretKey("nkey_seed"));
  EXPECT_TRUE(IsSecretKey("user_jwt"));
  EXPECT_FALSE(IsSecretKey("nkey_seed_file"));
  EXPECT_FALSE(IsSecretKey("service"));
}

}  // namespace
}  // namespace sidecar::redact
