// The pure rules of auth (SERVICES.md §2.1): field checks, password policy, lockout arithmetic,
// session cap ordering, token states, credentials.

#include "services/auth/auth_rules.h"

#include <time.h>

#include <chrono>
#include <iostream>
#include <regex>
#include <set>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "services/auth/auth_state.h"
#include "services/auth/password_hash.h"
#include "services/common/errors.h"

namespace sidecar::services::auth {
namespace {

std::string ReasonOf(const absl::Status& s) {
  if (s.ok()) return "ok";
  ErrorDetails d = DetailsOf(s);
  return d["field"] + ":" + d["reason"];
}

constexpr int64_t kNow = 1763640000000;
constexpr int64_t kMin = 60 * 1000;

// ---- rule 1 ----

TEST(AuthRulesTest, UsernameRequiredLengthThenPattern) {
  EXPECT_EQ(ReasonOf(CheckUsername("")), "username:required");
  EXPECT_EQ(ReasonOf(CheckUsername("ab")), "username:too_short");
  EXPECT_EQ(ReasonOf(CheckUsername(std::string(25, 'a'))), "username:too_long");
  EXPECT_EQ(ReasonOf(CheckUsername(std::string(24, 'a'))), "ok");
  EXPECT_EQ(ReasonOf(CheckUsername("1abc")), "username:pattern");
  EXPECT_EQ(ReasonOf(CheckUsername("_abc")), "username:pattern");
  EXPECT_EQ(ReasonOf(CheckUsername("mara-vex")), "username:pattern");
  // Length counts code points (§0.2): 3 code points, 4 bytes, fails the ASCII pattern.
  EXPECT_EQ(ReasonOf(CheckUsername("mä")), "username:too_short");
  EXPECT_EQ(ReasonOf(CheckUsername("mär")), "username:pattern");
  EXPECT_EQ(ReasonOf(CheckUsername("Mara_Vex")), "ok");
}

TEST(AuthRulesTest, EmailEmptyOrOneAtBetweenNonEmptyParts) {
  EXPECT_EQ(ReasonOf(CheckEmail("")), "ok");
  EXPECT_EQ(ReasonOf(CheckEmail("a@b")), "ok");
  EXPECT_EQ(ReasonOf(CheckEmail("mara@example.com")), "ok");
  EXPECT_EQ(ReasonOf(CheckEmail("mara.example.com")), "email:pattern");
  EXPECT_EQ(ReasonOf(CheckEmail("a@b@c")), "email:pattern");
  EXPECT_EQ(ReasonOf(CheckEmail("@b")), "email:pattern");
  EXPECT_EQ(ReasonOf(CheckEmail("a@")), "email:pattern");
  EXPECT_EQ(ReasonOf(CheckEmail("a@" + std::string(252, 'b'))), "ok");  // 254 chars
  EXPECT_EQ(ReasonOf(CheckEmail("a@" + std::string(253, 'b'))), "email:too_long");
  // too_long comes before pattern (§0.4 order).
  EXPECT_EQ(ReasonOf(CheckEmail(std::string(255, 'x'))), "email:too_long");
}

TEST(AuthRulesTest, UsernamesLowercaseAsciiOnlyAndDerivePlayerId) {
  EXPECT_EQ(AsciiLower("Mara_VEX"), "mara_vex");
  EXPECT_EQ(AsciiLower("ÄB"), "Äb");                          // N6: ASCII only
  EXPECT_EQ(PlayerIdFor("mara_vex"), "pl_a8694c9d17e9b948");  // rule 3, §1 preamble
  EXPECT_TRUE(IsPlayerIdShape("pl_a8694c9d17e9b948"));
  EXPECT_FALSE(IsPlayerIdShape("pl_A8694C9D17E9B948"));
  EXPECT_FALSE(IsPlayerIdShape("pl_a8694c9d17e9b94"));
  EXPECT_FALSE(IsPlayerIdShape("pl_a8694c9d17e9b9/8"));
}

// ---- rule 2 ----

TEST(AuthRulesTest, PasswordPolicyReasonsInOrder) {
  const std::string u = "mara_vex";
  EXPECT_EQ(ReasonOf(CheckPassword("password", "", u)), "password:required");
  EXPECT_EQ(ReasonOf(CheckPassword("password", "abc12", u)), "password:too_short");
  EXPECT_EQ(ReasonOf(CheckPassword("password", "abcdefgh1", u)), "password:too_short");  // 9
  EXPECT_EQ(ReasonOf(CheckPassword("password", "abcdefgh12", u)), "ok");                 // 10
  EXPECT_EQ(ReasonOf(CheckPassword("password", std::string(127, 'a') + "1", u)), "ok");  // 128
  EXPECT_EQ(ReasonOf(CheckPassword("password", std::string(128, 'a') + "1", u)),
            "password:too_long");
  EXPECT_EQ(ReasonOf(CheckPassword("password", "1234567890", u)), "password:missing_letter");
  EXPECT_EQ(ReasonOf(CheckPassword("password", "abcdefghij", u)), "password:missing_digit");
  // Letters and digits are ASCII (R18): é is neither; ٣ (Arabic-Indic three) is not a digit.
  EXPECT_EQ(ReasonOf(CheckPassword("password", "éééééééééé", u)), "password:missing_letter");
  EXPECT_EQ(ReasonOf(CheckPassword("password", "abcdefghi٣", u)), "password:missing_digit");
  // Lengths count code points: 10 code points (18 bytes) pass, 9 (17 bytes) are too short.
  EXPECT_EQ(ReasonOf(CheckPassword("password", "éééééééé1a", u)), "ok");
  EXPECT_EQ(ReasonOf(CheckPassword("password", "ééééééé1a", u)), "password:too_short");
  EXPECT_EQ(ReasonOf(CheckPassword("password", "xx-MARA_Vex-1", u)), "password:contains_username");
  EXPECT_EQ(ReasonOf(CheckPassword("password", "xx-mara_vex-1", "MARA_VEX")),
            "password:contains_username");
  EXPECT_EQ(ReasonOf(CheckPassword("password", "xx-mara_vex-1", "")), "ok");  // skipped
  for (const char* p : {"password123", "QWERTY12345", "LetMeIn1234", "BodyBroker1"}) {
    EXPECT_EQ(ReasonOf(CheckPassword("new_password", p, u)), "new_password:blocklisted") << p;
  }
  // contains_username wins over blocklisted (rule 2 order).
  EXPECT_EQ(ReasonOf(CheckPassword("password", "password123", "password")),
            "password:contains_username");
  EXPECT_EQ(ReasonOf(CheckPassword("password", "ashen-crow-42", u)), "ok");
}

// ---- rule 4 ----

TEST(AuthRulesTest, LockoutRemainingIsUntilLockedUntilExclusive) {
  LoginThrottle t{"mara_vex", 0, kNow, kNow + 15 * kMin};
  EXPECT_EQ(LockoutRemainingMs(t, kNow + 3 * kMin), 12 * kMin);
  EXPECT_EQ(LockoutRemainingMs(t, kNow + 15 * kMin - 1), 1);
  EXPECT_EQ(LockoutRemainingMs(t, kNow + 15 * kMin), std::nullopt);
  EXPECT_EQ(LockoutRemainingMs(LoginThrottle{}, kNow), std::nullopt);
}

TEST(AuthRulesTest, FifthFailureLocksForFifteenMinutesAndResetsCount) {
  LoginThrottle t{"mara_vex", 0, 0, 0};
  for (int i = 1; i <= 4; ++i) {
    FailureOutcome o = RecordFailure(t, kNow + i * 1000);
    EXPECT_EQ(o.attempts_remaining, 5 - i);
    EXPECT_FALSE(o.locked);
    EXPECT_EQ(o.throttle.failures, i);
    EXPECT_EQ(o.throttle.last_failure_at, kNow + i * 1000);
    t = o.throttle;
  }
  FailureOutcome o = RecordFailure(t, kNow + 5000);
  EXPECT_TRUE(o.locked);
  EXPECT_EQ(o.attempts_remaining, 0);
  EXPECT_EQ(o.throttle.failures, 0);
  EXPECT_EQ(o.throttle.locked_until, kNow + 5000 + 15 * kMin);
}

TEST(AuthRulesTest, FailureCountRestartsOnlyAfterMoreThanFifteenMinutes) {
  LoginThrottle t{"mara_vex", 4, kNow, 0};
  // Exactly 15 min later still counts (the rule says "> 15 min").
  EXPECT_TRUE(RecordFailure(t, kNow + 15 * kMin).locked);
  FailureOutcome later = RecordFailure(t, kNow + 15 * kMin + 1);
  EXPECT_FALSE(later.locked);
  EXPECT_EQ(later.attempts_remaining, 4);
  EXPECT_EQ(later.throttle.failures, 1);
}

// ---- rule 5 ----

TEST(AuthRulesTest, LiveAtDropsExpiredAndOrdersByIssuedAtThenHash) {
  std::vector<LiveSession> s = {{"bb", 2, kNow + 10}, {"aa", 2, kNow + 10}, {"cc", 1, kNow}};
  std::vector<LiveSession> live = LiveAt(s, kNow);
  ASSERT_EQ(live.size(), 2u);  // "cc" expires at now: now >= expires_at is not live
  EXPECT_EQ(live[0].token_sha256, "aa");
  EXPECT_EQ(live[1].token_sha256, "bb");
}

TEST(AuthRulesTest, EleventhSessionEvictsTheOldest) {
  std::vector<LiveSession> live;
  for (int i = 0; i < 9; ++i) {
    EXPECT_TRUE(AddLiveSession(live, {"h" + std::to_string(i), 100 + i, kNow}).empty());
  }
  // Same issued_at as the oldest but a smaller hash: it becomes the oldest (R13).
  EXPECT_TRUE(AddLiveSession(live, {"a0", 100, kNow}).empty());
  ASSERT_EQ(live.size(), 10u);
  std::vector<LiveSession> evicted = AddLiveSession(live, {"new", 200, kNow});
  ASSERT_EQ(evicted.size(), 1u);
  EXPECT_EQ(evicted[0].token_sha256, "a0");
  EXPECT_EQ(live.size(), 10u);
  EXPECT_EQ(live.front().token_sha256, "h0");
  EXPECT_EQ(live.back().token_sha256, "new");
}

// ---- rule 6 ----

TEST(AuthRulesTest, TokenStatesCheckRevocationBeforeExpiry) {
  Session s{"h", "pl_x", kNow, kNow + 1000, false};
  EXPECT_EQ(ClassifySession(nullptr, kNow), TokenState::kInvalid);
  EXPECT_EQ(ClassifySession(&s, kNow + 999), TokenState::kValid);
  EXPECT_EQ(ClassifySession(&s, kNow + 1000), TokenState::kExpired);
  s.revoked = true;
  EXPECT_EQ(ClassifySession(&s, kNow), TokenState::kInvalid);
  EXPECT_EQ(ClassifySession(&s, kNow + 5000), TokenState::kInvalid);  // R16
}

// ---- rules 3 and 5: credentials ----

int64_t ThreadCpuMicros() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

TEST(PasswordHashTest, Pbkdf2HmacSha256MatchesRfc7914Vector) {
  // RFC 7914 §11: PBKDF2-HMAC-SHA256("passwd", "salt", 1); first 32 bytes of the 64-byte vector.
  auto encoded = HashPasswordWithSalt("passwd", "salt", 1);
  ASSERT_TRUE(encoded.ok());
  const std::string key = encoded->substr(encoded->rfind('$') + 1);
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(key, &raw));
  EXPECT_EQ(absl::BytesToHexString(raw),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc");
  EXPECT_EQ(encoded->substr(0, encoded->find('$', 14)), "pbkdf2_sha256$1");
}

TEST(PasswordHashTest, HashUsesRandomSixteenByteSaltAndOneHundredThousandIterations) {
  const auto start = std::chrono::steady_clock::now();
  const int64_t cpu_start = ThreadCpuMicros();
  auto a = HashPassword("ashen-crow-42");
  const int64_t cpu_us = ThreadCpuMicros() - cpu_start;
  const auto elapsed = std::chrono::steady_clock::now() - start;
  auto b = HashPassword("ashen-crow-42");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);  // fresh salt each time
  std::smatch m;
  ASSERT_TRUE(std::regex_match(
      *a, m, std::regex(R"(pbkdf2_sha256\$100000\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]{43}))")))
      << *a;
  std::string salt;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(m[1].str(), &salt));
  EXPECT_EQ(salt.size(), 16u);
  EXPECT_TRUE(VerifyPassword("ashen-crow-42", *a));
  EXPECT_TRUE(VerifyPassword("ashen-crow-42", *b));
  EXPECT_FALSE(VerifyPassword("ashen-crow-43", *a));
  EXPECT_FALSE(VerifyPassword("ashen-crow-42", "pbkdf2_sha256$1$$"));
  EXPECT_FALSE(VerifyPassword("ashen-crow-42", "plain"));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
  std::cout << "[ auth     ] one PBKDF2-HMAC-SHA256 hash (100000 iterations): " << ms
            << " ms wall, " << cpu_us / 1000 << " ms CPU\n";
  ::testing::Test::RecordProperty("pbkdf2_ms", static_cast<int>(ms));
}

TEST(PasswordHashTest, UnknownAccountHashCostsARealCheckAndMatchesNothing) {
  EXPECT_TRUE(IsEncodedHash(kUnknownAccountHash));
  EXPECT_EQ(kUnknownAccountHash.substr(0, 21), "pbkdf2_sha256$100000$");
  EXPECT_FALSE(VerifyPassword("", kUnknownAccountHash));
  EXPECT_FALSE(VerifyPassword("ashen-crow-42", kUnknownAccountHash));
}

TEST(PasswordHashTest, TokensAreBbsPlus43Base64UrlCharsAndStoredAsSha256) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    auto t = NewSessionToken();
    ASSERT_TRUE(t.ok());
    EXPECT_TRUE(std::regex_match(*t, std::regex("bbs_[A-Za-z0-9_-]{43}"))) << *t;
    seen.insert(*t);
  }
  EXPECT_EQ(seen.size(), 50u);
  EXPECT_EQ(TokenSha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// ---- store values ----

TEST(AuthStateTest, RecordsRoundTripAndCorruptValuesAreInternal) {
  Account a{"pl_a8694c9d17e9b948",      "mara_vex", "m@x",
            "pbkdf2_sha256$1$c2FsdA$x", 5,          {{"aa", 1, 2}, {"bb", 3, 4}}};
  auto back = DecodeAccount(EncodeAccount(a));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->username, "mara_vex");
  ASSERT_EQ(back->live.size(), 2u);
  EXPECT_EQ(back->live[1].expires_at, 4);
  auto t = DecodeThrottle(EncodeThrottle({"mara_vex", 3, 7, 9}));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->failures, 3);
  EXPECT_EQ(t->locked_until, 9);
  auto s = DecodeSession(EncodeSession({"h", "pl_x", 1, 2, true}));
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->revoked);
  EXPECT_EQ(DecodeSession("{\"token_sha256\":1}").status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(DecodeAccount("not json").status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(ThrottleKey("a/b").find('/', 14), std::string::npos);  // hashed: no '/' segment
}

}  // namespace
}  // namespace sidecar::services::auth
