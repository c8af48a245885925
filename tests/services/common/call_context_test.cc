#include "services/common/call_context.h"

#include "gtest/gtest.h"
#include "services/common/errors.h"

namespace sidecar::services {
namespace {

constexpr int64_t kSpecNow = 1763640000000;  // 2025-11-20T12:00:00.000Z

void ExpectMalformed(std::string_view text) {
  auto t = ParseRequestTime(text);
  ASSERT_FALSE(t.ok()) << text;
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DetailsOf(t.status()),
            (ErrorDetails{{"field", "X-Request-Time"}, {"reason", "malformed"}}))
      << text;
}

TEST(RequestTimeTest, ParsesRfc3339AndTruncatesToMilliseconds) {
  EXPECT_EQ(ParseRequestTime("2025-11-20T12:00:00.000Z").value(), kSpecNow);
  EXPECT_EQ(ParseRequestTime("2025-11-20T12:00:00Z").value(), kSpecNow);
  EXPECT_EQ(ParseRequestTime("2025-11-20t12:00:00z").value(), kSpecNow);
  EXPECT_EQ(ParseRequestTime("2025-11-20T12:00:00.1239999Z").value(), kSpecNow + 123);
  EXPECT_EQ(ParseRequestTime("2025-11-20T12:00:00.5Z").value(), kSpecNow + 500);
  EXPECT_EQ(ParseRequestTime("2025-11-20T13:30:00.000+01:30").value(), kSpecNow);
  EXPECT_EQ(ParseRequestTime("2025-11-20T10:00:00-02:00").value(), kSpecNow);
  EXPECT_EQ(ParseRequestTime("2024-02-29T00:00:00Z").value(), 1709164800000);
  EXPECT_EQ(ParseRequestTime("1969-12-31T23:59:59.999Z").value(), -1);
}

TEST(RequestTimeTest, RejectsEverythingElseAsMalformed) {
  ExpectMalformed("2025-11-20 12:00:00Z");
  ExpectMalformed("2025-11-20T12:00:00");          // no zone
  ExpectMalformed("2025-11-20T12:00:60Z");         // seconds 00-59
  ExpectMalformed("2025-02-29T12:00:00Z");         // not a leap year
  ExpectMalformed("2025-13-01T12:00:00Z");
  ExpectMalformed("2025-11-20T24:00:00Z");
  ExpectMalformed("2025-11-20T12:00:00.Z");        // empty fraction
  ExpectMalformed("2025-11-20T12:00:00+0100");
  ExpectMalformed("2025-11-20T12:00:00+24:00");
  ExpectMalformed("2025-11-20T12:00:00Zjunk");
  ExpectMalformed("1763640000000");
}

TEST(RequestTimeTest, FormatsTsWithThreeDigitsAndZ) {
  EXPECT_EQ(FormatTs(kSpecNow), "2025-11-20T12:00:00.000Z");
  EXPECT_EQ(FormatTs(kSpecNow + 720000 + 7), "2025-11-20T12:12:00.007Z");
  EXPECT_EQ(FormatTs(0), "");  // unset ts (§0.2)
  EXPECT_EQ(FormatTs(-1), "1969-12-31T23:59:59.999Z");
}

TEST(PrincipalTest, ParsesTheThreeKindsAndTreatsAnythingElseAsMissing) {
  auto p = ParsePrincipal("player:pl_a8694c9d17e9b948");
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->is_player());
  EXPECT_EQ(p->id, "pl_a8694c9d17e9b948");
  EXPECT_EQ(p->ToString(), "player:pl_a8694c9d17e9b948");
  EXPECT_TRUE(ParsePrincipal("service:story-teller")->is_privileged());
  EXPECT_EQ(ParsePrincipal("admin:test")->kind, Principal::Kind::kAdmin);
  EXPECT_FALSE(ParsePrincipal("player:").has_value());  // empty id (R1)
  EXPECT_FALSE(ParsePrincipal("").has_value());
  EXPECT_FALSE(ParsePrincipal("user:x").has_value());
  EXPECT_FALSE(ParsePrincipal("Player:x").has_value());
}

class CallContextTest : public ::testing::Test {
 protected:
  CallContext FromHeaders(std::vector<std::pair<std::string, std::string>> hs) {
    http::HeaderMap h;
    for (auto& [k, v] : hs) h.Add(k, v);
    return CallContext::FromHeaders(h, absl::FromUnixMillis(kReceipt));
  }
  static constexpr int64_t kReceipt = 1800000000000;
};

TEST_F(CallContextTest, UsesRequestTimeAsNowOrTheReceiptClockWhenAbsentOrEmpty) {
  EXPECT_EQ(FromHeaders({{"X-Request-Time", "2025-11-20T12:00:00.000Z"}}).now_ms(), kSpecNow);
  EXPECT_EQ(FromHeaders({}).now_ms(), kReceipt);
  EXPECT_EQ(FromHeaders({{"x-request-time", ""}}).now_ms(), kReceipt);
  EXPECT_TRUE(FromHeaders({}).CheckEnvelope().ok());
}

TEST_F(CallContextTest, MissingPrincipalIsReportedBeforeAMalformedRequestTime) {
  CallContext ctx = FromHeaders({{"X-Request-Time", "yesterday"}});
  // §0.4: (1) UNAUTHENTICATED, then (2) the envelope.
  EXPECT_EQ(ctx.CheckAuthenticated(false).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(DetailsOf(ctx.CheckAuthenticated(false)), ErrorDetails{});
  EXPECT_TRUE(ctx.CheckAuthenticated(/*is_public=*/true).ok());
  EXPECT_EQ(DetailsOf(ctx.CheckEnvelope()),
            (ErrorDetails{{"field", "X-Request-Time"}, {"reason", "malformed"}}));
}

TEST_F(CallContextTest, MalformedPrincipalCountsAsMissing) {
  EXPECT_EQ(FromHeaders({{"X-Principal", "player:"}}).CheckAuthenticated(false).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(FromHeaders({{"X-Principal", "admin:test"}}).CheckAuthenticated(false).ok());
}

TEST_F(CallContextTest, AuthorizationDefaults) {
  const std::string p = "pl_a8694c9d17e9b948";
  CallContext player = FromHeaders({{"X-Principal", "player:" + p}});
  CallContext other = FromHeaders({{"X-Principal", "player:pl_0000000000000000"}});
  CallContext service = FromHeaders({{"X-Principal", "service:orchestration"}});
  CallContext admin = FromHeaders({{"X-Principal", "admin:test"}});
  // Player-scoped, reads included: that player, service:, admin:.
  for (bool write : {false, true}) {
    EXPECT_TRUE(player.AuthorizePlayer(p, write).ok());
    EXPECT_TRUE(service.AuthorizePlayer(p, write).ok());
    EXPECT_TRUE(admin.AuthorizePlayer(p, write).ok());
    EXPECT_EQ(other.AuthorizePlayer(p, write).code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(DetailsOf(other.AuthorizePlayer(p, write)), ErrorDetails{});
  }
  // Not naming a player: reads any principal, writes service/admin.
  EXPECT_TRUE(player.AuthorizePlayer("", false).ok());
  EXPECT_EQ(player.AuthorizePlayer("", true).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(player.AuthorizeWrite().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(service.AuthorizeWrite().ok());
  EXPECT_TRUE(admin.AuthorizeWrite().ok());
}

TEST_F(CallContextTest, DownstreamHeadersCarryServicePrincipalSameNowAndRemainingMinus50) {
  http::HeaderMap h;
  h.Add("X-Principal", "player:pl_a8694c9d17e9b948");
  h.Add("X-Request-Id", "req-1");
  auto start = http::Clock::now();
  CallContext ctx = CallContext::FromHeaders(h, absl::FromUnixMillis(kSpecNow),
                                             start + std::chrono::milliseconds(2000));
  http::HeaderMap down = ctx.DownstreamHeaders("body-broker-integration", start);
  EXPECT_EQ(down.GetOr("X-Principal", ""), "service:body-broker-integration");
  EXPECT_EQ(down.GetOr("X-Request-Time", ""), "2025-11-20T12:00:00.000Z");
  EXPECT_EQ(down.GetOr("X-Request-Id", ""), "req-1");
  EXPECT_EQ(down.GetOr("X-Deadline-Ms", ""), "1950");
  EXPECT_EQ(ctx.Remaining(start + std::chrono::milliseconds(5000)).count(), 0);
}

TEST_F(CallContextTest, DeadlineDefaultsTo5000MsOrXDeadlineMs) {
  auto before = http::Clock::now();
  CallContext d = FromHeaders({});
  EXPECT_GE(d.deadline(), before + std::chrono::milliseconds(5000));
  EXPECT_LE(d.deadline(), http::Clock::now() + std::chrono::milliseconds(5000));
  CallContext e = FromHeaders({{"X-Deadline-Ms", "300"}});
  EXPECT_LE(e.deadline(), http::Clock::now() + std::chrono::milliseconds(300));
}

}  // namespace
}  // namespace sidecar::services
