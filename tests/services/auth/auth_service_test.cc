// The auth port through its HandlerRegistry (SERVICES.md §2.1): both examples exactly, one or more
// tests per rule, bad input, events, fixtures.

#include <regex>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/auth/password_hash.h"
#include "services/common/determinism.h"
#include "tests/services/auth/auth_harness.h"

namespace sidecar::services::auth_test {
namespace {

using nlohmann::json;

// A fast fixture hash (1 iteration) of "ashen-crow-42": fixtures accept any well-formed hash, and
// tests that log in many times should not pay 100000 iterations for each fixture account.
std::string FastHash(const std::string& password) {
  auto h = auth::HashPasswordWithSalt(password, "fixture-salt", 1);
  EXPECT_TRUE(h.ok());
  return *h;
}

std::string At(const std::string& hhmmss_ms) { return "2025-11-20T" + hhmmss_ms + "Z"; }

class AuthServiceTest : public ::testing::Test {
 protected:
  // mara_vex with password ashen-crow-42 (fast hash) plus extra document members.
  void GivenMara(json extra = json::object()) {
    json doc = {{"accounts",
                 {{{"username", "mara_vex"},
                   {"email", "mara@example.com"},
                   {"password_hash", FastHash("ashen-crow-42")},
                   {"created_at", kNoon}}}}};
    for (auto& [k, v] : extra.items()) doc[k] = v;
    Reply r = h_.Fixture(doc.dump());
    ASSERT_EQ(r.status, 200) << r.body.dump();
  }

  Reply Login(const std::string& username, const std::string& password,
              const std::string& time = kNoon) {
    return h_.Call("login", json{{"username", username}, {"password", password}}.dump(),
                   {.time = time});
  }
  Reply Validate(const std::string& token, const std::string& time = kNoon) {
    return h_.Call("validate", json{{"token", token}}.dump(), {.time = time});
  }
  Reply Logout(const std::string& token, const std::string& time = kNoon) {
    return h_.Call("logout", json{{"token", token}}.dump(), {.time = time});
  }
  Reply Change(const std::string& player_id, const std::string& old_password,
               const std::string& new_password, Headers headers = {}) {
    return h_.Call("change_password",
                   json{{"player_id", player_id},
                        {"old_password", old_password},
                        {"new_password", new_password}}
                       .dump(),
                   headers);
  }
  std::vector<std::string> EventNames() {
    std::vector<std::string> out;
    for (const json& e : h_.Events()) out.push_back(e["subject"].get<std::string>());
    return out;
  }

  AuthHarness h_;
};

// ---- registry ----

TEST_F(AuthServiceTest, RegistersEveryActionOfTheProtoWithSpecVisibility) {
  EXPECT_TRUE(VerifyRegistry("auth", h_.registry()).ok()) << VerifyRegistry("auth", h_.registry());
  EXPECT_EQ(h_.service().name(), "auth");
  for (const char* a : {"register", "login", "validate", "logout"}) {
    EXPECT_TRUE(h_.registry().Find(a)->options().is_public) << a;
  }
  EXPECT_FALSE(h_.registry().Find("change_password")->options().is_public);
  ASSERT_NE(h_.registry().Find("_fixture"), nullptr);
}

// ---- the examples, exactly ----

TEST_F(AuthServiceTest, Example1Register) {
  Reply r =
      h_.Call("register",
              R"({"username":"Mara_Vex","password":"ashen-crow-42","email":"mara@example.com"})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, json::parse(R"({"player_id":"pl_a8694c9d17e9b948","username":"mara_vex",
                                    "created_at":"2025-11-20T12:00:00.000Z"})"));
}

TEST_F(AuthServiceTest, Example2Lockout) {
  // Given four failed logins for mara_vex between 12:01:00 and 12:01:30 (the real password, hashed
  // with the production parameters by the fixture).
  Reply f = h_.Fixture(R"({"accounts":[{"username":"mara_vex","email":"mara@example.com",
      "password":"ashen-crow-42","created_at":"2025-11-20T12:00:00.000Z"}],
      "throttles":[{"username":"mara_vex","failures":4,"last_failure_at":"2025-11-20T12:01:30.000Z"}]})");
  ASSERT_EQ(f.status, 200) << f.body.dump();
  Reply first = Login("mara_vex", "wrong-pass-1", At("12:02:00.000"));
  EXPECT_EQ(first.status, 401);
  EXPECT_EQ(first.body, json::parse(R"({"error":{"code":"UNAUTHENTICATED",
      "message":"invalid username or password","details":{"attempts_remaining":"0"}}})"));
  Reply second = Login("mara_vex", "ashen-crow-42", At("12:05:00.000"));
  EXPECT_EQ(second.status, 429);
  EXPECT_EQ(second.body, json::parse(R"({"error":{"code":"RESOURCE_EXHAUSTED",
      "message":"account temporarily locked","details":{"retry_after_ms":"720000"}}})"));
}

// ---- rule 1: usernames, emails, login presence checks ----

TEST_F(AuthServiceTest, RegisterChecksFieldsInTableOrder) {
  ExpectInvalid(h_.Call("register", R"({})"), "username", "required");
  ExpectInvalid(h_.Call("register", R"({"username":"ab","password":"x"})"), "username",
                "too_short");
  ExpectInvalid(h_.Call("register", R"({"username":"9lives","password":"x"})"), "username",
                "pattern");
  ExpectInvalid(h_.Call("register", R"({"username":"mara_vex","password":"x","email":"bad"})"),
                "password", "too_short");
  ExpectInvalid(
      h_.Call("register", R"({"username":"mara_vex","password":"ashen-crow-42","email":"bad"})"),
      "email", "pattern");
  ExpectInvalid(
      h_.Call("register", R"({"username":"mara_vex","password":"ashen-crow-42","email":"a@b@c"})"),
      "email", "pattern");
  // The request as sent: contains_username compares case-insensitively (rule 2).
  ExpectInvalid(h_.Call("register", R"({"username":"Mara_Vex","password":"MARA_VEX-2024"})"),
                "password", "contains_username");
  // email "" is allowed; null is absent (§0.2).
  EXPECT_EQ(
      h_.Call("register", R"({"username":"kade","password":"ashen-crow-42","email":null})").status,
      200);
}

TEST_F(AuthServiceTest, UsernamesAreStoredLowercasedAndUniqueCaseInsensitively) {
  ASSERT_EQ(h_.Call("register", R"({"username":"Mara_Vex","password":"ashen-crow-42"})").status,
            200);
  ExpectError(h_.Call("register", R"({"username":"MARA_VEX","password":"other-pass-77"})"),
              "ALREADY_EXISTS", {{"field", "username"}});
  // Login with any case finds the account.
  Reply r = Login("mArA_vEx", "ashen-crow-42");
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["player_id"], kP);
}

TEST_F(AuthServiceTest, LoginChecksOnlyPresenceEverythingElseIsBadCredentials) {
  GivenMara();
  ExpectInvalid(h_.Call("login", R"({"password":"x"})"), "username", "required");
  ExpectInvalid(h_.Call("login", R"({"username":"mara_vex"})"), "password", "required");
  ExpectInvalid(h_.Call("login", R"({"username":"","password":""})"), "username", "required");
  // Not a valid username, a too-short password: bad credentials, counted (R14).
  ExpectError(Login("no such user!", "x"), "UNAUTHENTICATED", {{"attempts_remaining", "4"}});
  ExpectError(Login("no such user!", "y"), "UNAUTHENTICATED", {{"attempts_remaining", "3"}});
  ExpectError(Login("mara_vex", "x"), "UNAUTHENTICATED", {{"attempts_remaining", "4"}});
}

// ---- rule 2: password policy through register and change_password ----

TEST_F(AuthServiceTest, PasswordPolicyReasonsReachTheWire) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "required"},
      {"abc12", "too_short"},
      {std::string(129, 'a') + "1", "too_long"},
      {"1234567890", "missing_letter"},
      {"abcdefghij", "missing_digit"},
      {"I-am-kade-99", "contains_username"},
      {"Password123", "blocklisted"},
      {"bodybroker1", "blocklisted"},
  };
  for (const auto& [password, reason] : cases) {
    ExpectInvalid(h_.Call("register", json{{"username", "Kade"}, {"password", password}}.dump()),
                  "password", reason);
  }
  GivenMara();
  for (const auto& [password, reason] : cases) {
    if (reason == "contains_username") continue;  // kade is not this account's name
    if (reason == "required") {
      ExpectInvalid(Change(kP, "ashen-crow-42", password), "new_password", "required");
      continue;
    }
    ExpectInvalid(Change(kP, "ashen-crow-42", password), "new_password", reason);
  }
}

// ---- rule 3: ids and hashes ----

TEST_F(AuthServiceTest, PlayerIdIsDerivedAndOnlyASaltedHashIsStored) {
  Reply r = h_.Call("register", R"({"username":"Mara_Vex","password":"ashen-crow-42"})");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["player_id"], DerivedId("pl", "player:mara_vex"));
  bool found = false;
  for (const StoreEntry& e : h_.Entries()) {
    EXPECT_EQ(e.value.find("ashen-crow-42"), std::string::npos) << e.key;
    if (e.key == std::string("auth/account/") + kP) {
      found = true;
      json v = json::parse(e.value);
      EXPECT_TRUE(std::regex_match(
          v["password_hash"].get<std::string>(),
          std::regex(R"(pbkdf2_sha256\$100000\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43})")))
          << v.dump();
      EXPECT_EQ(v["username"], "mara_vex");
      EXPECT_EQ(v["created_at"], kNoonMs);
    }
  }
  EXPECT_TRUE(found);
}

// ---- rule 4: lockout ----

TEST_F(AuthServiceTest, LockoutIsCheckedBeforeThePasswordAndNotExtended) {
  GivenMara({{"throttles",
              {{{"username", "mara_vex"},
                {"failures", 0},
                {"last_failure_at", At("12:02:00.000")},
                {"locked_until", At("12:17:00.000")}}}}});
  ExpectError(Login("mara_vex", "ashen-crow-42", At("12:05:00.000")), "RESOURCE_EXHAUSTED",
              {{"retry_after_ms", "720000"}});
  ExpectError(Login("mara_vex", "wrong-pass-1", At("12:10:00.000")), "RESOURCE_EXHAUSTED",
              {{"retry_after_ms", "420000"}});
  ExpectError(Login("MARA_VEX", "wrong-pass-1", At("12:16:59.999")), "RESOURCE_EXHAUSTED",
              {{"retry_after_ms", "1"}});
  // At locked_until the lock is over (now < locked_until is false).
  EXPECT_EQ(Login("mara_vex", "ashen-crow-42", At("12:17:00.000")).status, 200);
}

TEST_F(AuthServiceTest, FailuresRestartAfterMoreThanFifteenQuietMinutes) {
  GivenMara(
      {{"throttles",
        {{{"username", "mara_vex"}, {"failures", 4}, {"last_failure_at", At("12:00:00.000")}}}}});
  ExpectError(Login("mara_vex", "wrong-pass-1", At("12:15:00.001")), "UNAUTHENTICATED",
              {{"attempts_remaining", "4"}});
  GivenMara(
      {{"throttles",
        {{{"username", "mara_vex"}, {"failures", 4}, {"last_failure_at", At("12:00:00.000")}}}}});
  ExpectError(Login("mara_vex", "wrong-pass-1", At("12:15:00.000")), "UNAUTHENTICATED",
              {{"attempts_remaining", "0"}});
}

TEST_F(AuthServiceTest, UnknownUsernamesLockLikeRealOnesCaseInsensitively) {
  for (int i = 1; i <= 4; ++i) {
    ExpectError(
        Login(i % 2 ? "Ghost" : "GHOST", "whatever-1", At("12:00:0" + std::to_string(i) + ".000")),
        "UNAUTHENTICATED", {{"attempts_remaining", std::to_string(5 - i)}});
  }
  h_.ClearEvents();
  ExpectError(Login("ghost", "whatever-1", At("12:00:05.000")), "UNAUTHENTICATED",
              {{"attempts_remaining", "0"}});
  std::vector<json> events = h_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["subject"], "evt.auth.v1.account_locked");
  EXPECT_EQ(events[0]["event"]["username"], "ghost");
  EXPECT_EQ(events[0]["event"]["locked_until"], "2025-11-20T12:15:05.000Z");
  EXPECT_EQ(events[0]["event"]["occurred_at"], "2025-11-20T12:00:05.000Z");
  ExpectError(Login("gHoSt", "whatever-1", At("12:00:06.000")), "RESOURCE_EXHAUSTED",
              {{"retry_after_ms", "899000"}});
}

TEST_F(AuthServiceTest, SuccessfulLoginResetsFailures) {
  GivenMara(
      {{"throttles",
        {{{"username", "mara_vex"}, {"failures", 3}, {"last_failure_at", At("11:59:00.000")}}}}});
  ASSERT_EQ(Login("mara_vex", "ashen-crow-42").status, 200);
  ExpectError(Login("mara_vex", "wrong-pass-1", At("12:00:01.000")), "UNAUTHENTICATED",
              {{"attempts_remaining", "4"}});
}

// ---- rule 5: tokens and sessions ----

TEST_F(AuthServiceTest, LoginIssuesAnOpaqueFixedTtlTokenStoredOnlyAsItsHash) {
  GivenMara();
  Reply a = Login("mara_vex", "ashen-crow-42");
  Reply b = Login("mara_vex", "ashen-crow-42");
  ASSERT_EQ(a.status, 200) << a.body.dump();
  const std::string token = a.body["token"];
  EXPECT_TRUE(std::regex_match(token, std::regex("bbs_[A-Za-z0-9_-]{43}"))) << token;
  EXPECT_NE(token, b.body["token"].get<std::string>());
  EXPECT_EQ(a.body["player_id"], kP);
  EXPECT_EQ(a.body["expires_at"], "2025-11-21T12:00:00.000Z");
  EXPECT_EQ(a.body["ttl_s"], 86400);
  bool session_found = false;
  for (const StoreEntry& e : h_.Entries()) {
    EXPECT_EQ(e.value.find(token), std::string::npos) << e.key;
    EXPECT_EQ(e.key.find(token), std::string::npos) << e.key;
    if (e.key == "auth/session/" + Sha256Hex(token)) session_found = true;
  }
  EXPECT_TRUE(session_found);
  // Not sliding: validating later does not move expires_at.
  Reply v = Validate(token, At("20:00:00.000"));
  ASSERT_EQ(v.status, 200);
  EXPECT_EQ(v.body, json({{"player_id", kP},
                          {"username", "mara_vex"},
                          {"expires_at", "2025-11-21T12:00:00.000Z"}}));
  EXPECT_EQ(Validate(token, "2025-11-21T11:59:59.999Z").status, 200);
  ExpectError(Validate(token, "2025-11-21T12:00:00.000Z"), "UNAUTHENTICATED",
              {{"reason", "expired"}});
}

// Ten live sessions t0..t9 issued a minute apart from 11:00; t0 and tA share the oldest issued_at.
json TenSessions(const std::string& oldest_token_a, const std::string& oldest_token_b) {
  json sessions = json::array();
  sessions.push_back(
      {{"token", oldest_token_a}, {"player_id", kP}, {"issued_at", At("11:00:00.000")}});
  sessions.push_back(
      {{"token", oldest_token_b}, {"player_id", kP}, {"issued_at", At("11:00:00.000")}});
  for (int i = 2; i < 10; ++i) {
    sessions.push_back({{"token", "bbs_t" + std::to_string(i)},
                        {"player_id", kP},
                        {"issued_at", At("11:0" + std::to_string(i) + ":00.000")}});
  }
  return sessions;
}

TEST_F(AuthServiceTest, EleventhLoginRevokesTheOldestSessionSmallestHashFirst) {
  // Two sessions tie on the oldest issued_at: the one with the smaller hex hash goes (R13).
  std::string x = "bbs_tie_x", y = "bbs_tie_y";
  const std::string victim = Sha256Hex(x) < Sha256Hex(y) ? x : y;
  const std::string survivor = victim == x ? y : x;
  GivenMara({{"sessions", TenSessions(x, y)}});
  h_.ClearEvents();
  Reply r = Login("mara_vex", "ashen-crow-42");
  ASSERT_EQ(r.status, 200) << r.body.dump();
  ExpectError(Validate(victim), "UNAUTHENTICATED", {{"reason", "invalid"}});
  EXPECT_EQ(Validate(survivor).status, 200);
  for (int i = 2; i < 10; ++i) EXPECT_EQ(Validate("bbs_t" + std::to_string(i)).status, 200) << i;
  EXPECT_EQ(Validate(r.body["token"]).status, 200);
  std::vector<json> events = h_.Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["subject"], "evt.auth.v1.sessions_revoked");
  EXPECT_EQ(events[0]["event"]["player_id"], kP);
  EXPECT_EQ(events[0]["event"]["count"], 1);
  EXPECT_EQ(events[1]["subject"], "evt.auth.v1.login_succeeded");
  // The 12th login evicts the survivor of the tie next.
  ASSERT_EQ(Login("mara_vex", "ashen-crow-42").status, 200);
  ExpectError(Validate(survivor), "UNAUTHENTICATED", {{"reason", "invalid"}});
}

TEST_F(AuthServiceTest, ExpiredAndRevokedSessionsDoNotCountTowardsTheCap) {
  json sessions = TenSessions("bbs_a", "bbs_b");
  sessions[0]["expires_at"] = At("11:30:00.000");  // expired at noon
  sessions[1]["revoked"] = true;
  GivenMara({{"sessions", sessions}});
  h_.ClearEvents();
  ASSERT_EQ(Login("mara_vex", "ashen-crow-42").status, 200);
  EXPECT_EQ(EventNames(), std::vector<std::string>{"evt.auth.v1.login_succeeded"});
  for (int i = 2; i < 10; ++i) EXPECT_EQ(Validate("bbs_t" + std::to_string(i)).status, 200) << i;
}

// ---- rule 6: validate and logout ----

TEST_F(AuthServiceTest, ValidateDistinguishesInvalidFromExpiredRevocationFirst) {
  GivenMara(
      {{"sessions",
        {{{"token", "bbs_live"}, {"player_id", kP}, {"issued_at", At("11:00:00.000")}},
         {{"token", "bbs_expired"}, {"player_id", kP}, {"issued_at", "2025-11-19T11:00:00.000Z"}},
         {{"token", "bbs_revoked"},
          {"player_id", kP},
          {"issued_at", At("11:00:00.000")},
          {"revoked", true}},
         {{"token", "bbs_revoked_expired"},
          {"player_id", kP},
          {"issued_at", "2025-11-19T11:00:00.000Z"},
          {"revoked", true}}}}});
  ExpectInvalid(h_.Call("validate", R"({})"), "token", "required");
  ExpectInvalid(h_.Call("validate", R"({"token":""})"), "token", "required");
  ExpectError(Validate("bbs_unknown"), "UNAUTHENTICATED", {{"reason", "invalid"}});
  ExpectError(Validate("bbs_revoked"), "UNAUTHENTICATED", {{"reason", "invalid"}});
  ExpectError(Validate("bbs_revoked_expired"), "UNAUTHENTICATED", {{"reason", "invalid"}});
  ExpectError(Validate("bbs_expired"), "UNAUTHENTICATED", {{"reason", "expired"}});
  Reply ok = Validate("bbs_live");
  EXPECT_EQ(ok.body, json({{"player_id", kP},
                           {"username", "mara_vex"},
                           {"expires_at", "2025-11-21T11:00:00.000Z"}}));
  // Public: no principal needed.
  EXPECT_EQ(h_.Call("validate", R"({"token":"bbs_live"})", {.principal = std::nullopt}).status,
            200);
}

TEST_F(AuthServiceTest, LogoutNeverFailsOnANonEmptyTokenAndRevokesOnlyLiveSessions) {
  GivenMara(
      {{"sessions",
        {{{"token", "bbs_live"}, {"player_id", kP}, {"issued_at", At("11:00:00.000")}},
         {{"token", "bbs_expired"}, {"player_id", kP}, {"issued_at", "2025-11-19T11:00:00.000Z"}},
         {{"token", "bbs_revoked"},
          {"player_id", kP},
          {"issued_at", At("11:00:00.000")},
          {"revoked", true}}}}});
  ExpectInvalid(h_.Call("logout", R"({"token":""})"), "token", "required");
  EXPECT_EQ(Logout("bbs_unknown").body, json({{"revoked", false}}));
  EXPECT_EQ(Logout("bbs_expired").body, json({{"revoked", false}}));
  EXPECT_EQ(Logout("bbs_revoked").body, json({{"revoked", false}}));
  h_.ClearEvents();
  Reply first = h_.Call("logout", R"({"token":"bbs_live"})", {.principal = std::nullopt});
  EXPECT_EQ(first.body, json({{"revoked", true}}));
  std::vector<json> events = h_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["subject"], "evt.auth.v1.sessions_revoked");
  EXPECT_EQ(events[0]["event"]["player_id"], kP);
  EXPECT_EQ(events[0]["event"]["count"], 1);
  EXPECT_EQ(Logout("bbs_live").body, json({{"revoked", false}}));
  ExpectError(Validate("bbs_live"), "UNAUTHENTICATED", {{"reason", "invalid"}});
  // Revoked, then expired: still invalid (R16).
  ExpectError(Validate("bbs_live", "2025-11-22T00:00:00.000Z"), "UNAUTHENTICATED",
              {{"reason", "invalid"}});
}

TEST_F(AuthServiceTest, LoggedOutSessionFreesASlotUnderTheCap) {
  GivenMara({{"sessions", TenSessions("bbs_a", "bbs_b")}});
  ASSERT_EQ(Logout("bbs_t5").body, json({{"revoked", true}}));
  h_.ClearEvents();
  ASSERT_EQ(Login("mara_vex", "ashen-crow-42").status, 200);
  EXPECT_EQ(EventNames(), std::vector<std::string>{"evt.auth.v1.login_succeeded"});
  EXPECT_EQ(Validate("bbs_a").status, 200);
  EXPECT_EQ(Validate("bbs_b").status, 200);
}

// ---- rule 7: change_password ----

TEST_F(AuthServiceTest, ChangePasswordNeedsAPrincipal) {
  GivenMara();
  ExpectError(Change(kP, "ashen-crow-42", "new-pass-1234", {.principal = std::nullopt}),
              "UNAUTHENTICATED", json::object());
  ExpectError(Change(kP, "ashen-crow-42", "new-pass-1234", {.principal = "player:"}),
              "UNAUTHENTICATED", json::object());
}

TEST_F(AuthServiceTest, ChangePasswordChecksInRuleOrder) {
  GivenMara(
      {{"throttles",
        {{{"username", "mara_vex"}, {"failures", 0}, {"locked_until", At("12:10:00.000")}}}}});
  const Headers other{.principal = "player:pl_0000000000000001"};
  // Fields first, in table order, before authorization.
  ExpectInvalid(h_.Call("change_password", R"({"old_password":"x","new_password":"y"})"),
                "player_id", "required");
  ExpectInvalid(Change(kP, "", "new-pass-1234", other), "old_password", "required");
  ExpectInvalid(Change(kP, "x", "short1", other), "new_password", "too_short");
  // contains_username uses the account's username...
  ExpectInvalid(Change(kP, "x", "Mara_Vex-2025", other), "new_password", "contains_username");
  // ...and is skipped for an unknown player.
  ExpectError(Change("pl_0000000000000000", "x", "Mara_Vex-2025"), "NOT_FOUND",
              {{"field", "player_id"}});
  ExpectInvalid(Change(kP, "same-pass-123", "same-pass-123", other), "new_password", "unchanged");
  // Then PERMISSION_DENIED, then NOT_FOUND, then the lockout (before the old password).
  ExpectError(Change(kP, "ashen-crow-42", "new-pass-1234", other), "PERMISSION_DENIED",
              json::object());
  ExpectError(Change("pl_0000000000000000", "x", "new-pass-1234", other), "PERMISSION_DENIED",
              json::object());
  ExpectError(Change("not-a-player", "x", "new-pass-1234"), "NOT_FOUND", {{"field", "player_id"}});
  ExpectError(Change(kP, "ashen-crow-42", "new-pass-1234"), "RESOURCE_EXHAUSTED",
              {{"retry_after_ms", "600000"}});
  ExpectError(
      Change(kP, "ashen-crow-42", "new-pass-1234", {.principal = std::string("player:") + kP}),
      "RESOURCE_EXHAUSTED", {{"retry_after_ms", "600000"}});
}

TEST_F(AuthServiceTest, WrongOldPasswordCountsExactlyLikeAFailedLogin) {
  GivenMara(
      {{"throttles",
        {{{"username", "mara_vex"}, {"failures", 3}, {"last_failure_at", At("11:59:00.000")}}}}});
  ExpectError(Change(kP, "wrong-pass-1", "new-pass-1234"), "UNAUTHENTICATED",
              {{"attempts_remaining", "1"}});
  h_.ClearEvents();
  ExpectError(Login("mara_vex", "wrong-pass-2", At("12:00:01.000")), "UNAUTHENTICATED",
              {{"attempts_remaining", "0"}});
  EXPECT_EQ(EventNames(), std::vector<std::string>{"evt.auth.v1.account_locked"});
  ExpectError(Change(kP, "ashen-crow-42", "new-pass-1234", {.time = At("12:00:02.000")}),
              "RESOURCE_EXHAUSTED", {{"retry_after_ms", "899000"}});
}

TEST_F(AuthServiceTest, ChangePasswordLocksOnTheFifthFailure) {
  GivenMara(
      {{"throttles",
        {{{"username", "mara_vex"}, {"failures", 4}, {"last_failure_at", At("11:59:00.000")}}}}});
  h_.ClearEvents();
  ExpectError(Change(kP, "wrong-pass-1", "new-pass-1234"), "UNAUTHENTICATED",
              {{"attempts_remaining", "0"}});
  std::vector<json> events = h_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["event"]["username"], "mara_vex");
  EXPECT_EQ(events[0]["event"]["locked_until"], At("12:15:00.000"));
  ExpectError(Login("mara_vex", "ashen-crow-42"), "RESOURCE_EXHAUSTED",
              {{"retry_after_ms", "900000"}});
}

TEST_F(AuthServiceTest, ChangePasswordRevokesEveryLiveSessionAndResetsFailures) {
  GivenMara(
      {{"throttles",
        {{{"username", "mara_vex"}, {"failures", 2}, {"last_failure_at", At("11:59:00.000")}}}},
       {"sessions",
        {{{"token", "bbs_one"}, {"player_id", kP}, {"issued_at", At("10:00:00.000")}},
         {{"token", "bbs_two"}, {"player_id", kP}, {"issued_at", At("11:00:00.000")}},
         {{"token", "bbs_expired"}, {"player_id", kP}, {"issued_at", "2025-11-19T09:00:00.000Z"}},
         {{"token", "bbs_revoked"},
          {"player_id", kP},
          {"issued_at", At("11:00:00.000")},
          {"revoked", true}}}}});
  h_.ClearEvents();
  Reply r =
      Change(kP, "ashen-crow-42", "new-pass-1234", {.principal = std::string("player:") + kP});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body, json({{"revoked_sessions", 2}}));
  std::vector<json> events = h_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["subject"], "evt.auth.v1.sessions_revoked");
  EXPECT_EQ(events[0]["event"]["player_id"], kP);
  EXPECT_EQ(events[0]["event"]["count"], 2);
  EXPECT_EQ(events[0]["event"]["occurred_at"], kNoon);
  EXPECT_TRUE(std::regex_match(events[0]["event"]["event_id"].get<std::string>(),
                               std::regex("ev_[0-9a-f]{16}")));
  ExpectError(Validate("bbs_one"), "UNAUTHENTICATED", {{"reason", "invalid"}});
  ExpectError(Validate("bbs_two"), "UNAUTHENTICATED", {{"reason", "invalid"}});
  ExpectError(Validate("bbs_expired"), "UNAUTHENTICATED", {{"reason", "expired"}});
  // The old password is gone, the new one works, failures were reset (4 left after one more).
  ExpectError(Login("mara_vex", "ashen-crow-42"), "UNAUTHENTICATED", {{"attempts_remaining", "4"}});
  ASSERT_EQ(Login("mara_vex", "new-pass-1234").status, 200);
  h_.ClearEvents();
  EXPECT_EQ(Change(kP, "new-pass-1234", "newer-pass-5678").body, json({{"revoked_sessions", 1}}));
  // No live session left: nothing to revoke, no event.
  EXPECT_EQ(Change(kP, "newer-pass-5678", "newest-pass-9").body, json({{"revoked_sessions", 0}}));
  EXPECT_EQ(EventNames(), std::vector<std::string>{"evt.auth.v1.sessions_revoked"});
}

// ---- strong state: concurrent requests on one entity serialize ----

TEST_F(AuthServiceTest, ConcurrentFailuresAreAllCountedAndLockOnce) {
  GivenMara(
      {{"throttles",
        {{{"username", "mara_vex"}, {"failures", 2}, {"last_failure_at", At("11:59:00.000")}}}}});
  h_.ClearEvents();
  const std::string wrong = json{{"username", "mara_vex"}, {"password", "wrong-pass-1"}}.dump();
  std::vector<Reply> replies =
      h_.CallTogether({{"login", wrong}, {"login", wrong}, {"login", wrong}, {"login", wrong}});
  ASSERT_EQ(replies.size(), 4u);
  // Serial outcome whatever the interleaving: 2 and 1 attempts left, the lock, then locked out.
  std::multiset<std::string> outcomes;
  for (const Reply& r : replies) outcomes.insert(r.code() + " " + r.details().dump());
  EXPECT_EQ(outcomes,
            (std::multiset<std::string>{R"(UNAUTHENTICATED {"attempts_remaining":"2"})",
                                        R"(UNAUTHENTICATED {"attempts_remaining":"1"})",
                                        R"(UNAUTHENTICATED {"attempts_remaining":"0"})",
                                        R"(RESOURCE_EXHAUSTED {"retry_after_ms":"900000"})"}));
  EXPECT_EQ(EventNames(), std::vector<std::string>{"evt.auth.v1.account_locked"});
}

TEST_F(AuthServiceTest, ConcurrentLoginsAndRegistrationsSerialize) {
  GivenMara({{"sessions", TenSessions("bbs_a", "bbs_b")}});
  const std::string login = json{{"username", "mara_vex"}, {"password", "ashen-crow-42"}}.dump();
  std::vector<Reply> replies = h_.CallTogether({{"login", login}, {"login", login}});
  ASSERT_EQ(replies.size(), 2u);
  ASSERT_EQ(replies[0].status, 200) << replies[0].body.dump();
  ASSERT_EQ(replies[1].status, 200) << replies[1].body.dump();
  // Both new sessions live; the cap evicted the two oldest, one per login.
  EXPECT_EQ(Validate(replies[0].body["token"]).status, 200);
  EXPECT_EQ(Validate(replies[1].body["token"]).status, 200);
  ExpectError(Validate("bbs_a"), "UNAUTHENTICATED", {{"reason", "invalid"}});
  ExpectError(Validate("bbs_b"), "UNAUTHENTICATED", {{"reason", "invalid"}});
  EXPECT_EQ(Validate("bbs_t2").status, 200);
  // One of two identical registrations wins.
  const std::string kade = R"({"username":"kade","password":"ashen-crow-42"})";
  std::vector<Reply> regs = h_.CallTogether(
      {{"register", kade}, {"register", R"({"username":"KADE","password":"ashen-crow-42"})"}});
  ASSERT_EQ(regs.size(), 2u);
  std::multiset<int> statuses = {regs[0].status, regs[1].status};
  EXPECT_EQ(statuses, (std::multiset<int>{200, 409}));
}

TEST_F(AuthServiceTest, ConcurrentLogoutsEndASessionOnce) {
  GivenMara({{"sessions",
              {{{"token", "bbs_live"}, {"player_id", kP}, {"issued_at", At("11:00:00.000")}}}}});
  const std::string body = R"({"token":"bbs_live"})";
  std::vector<Reply> replies = h_.CallTogether({{"logout", body}, {"logout", body}});
  ASSERT_EQ(replies.size(), 2u);
  std::multiset<std::string> revoked = {replies[0].body.dump(), replies[1].body.dump()};
  EXPECT_EQ(revoked, (std::multiset<std::string>{R"({"revoked":false})", R"({"revoked":true})"}));
}

// ---- bad input ----

TEST_F(AuthServiceTest, WrongJsonTypesAndEnvelopeErrors) {
  ExpectInvalid(h_.Call("register", R"({"username":5,"password":"ashen-crow-42"})"), "username",
                "type");
  ExpectInvalid(h_.Call("login", R"({"username":"mara_vex","password":["x"]})"), "password",
                "type");
  ExpectInvalid(h_.Call("validate", R"({"token":true})"), "token", "type");
  ExpectInvalid(h_.Call("logout", R"({"token":{}})"), "token", "type");
  ExpectInvalid(h_.Call("register", R"([1,2])"), "body", "malformed");
  ExpectInvalid(h_.Call("login", R"(not json)"), "body", "malformed");
  ExpectInvalid(h_.Call("login", R"({"username":"a","password":"b"})", {.time = "yesterday"}),
                "X-Request-Time", "malformed");
  // Unknown fields are ignored (§0.4).
  EXPECT_EQ(h_.Call("register",
                    R"({"username":"kade","password":"ashen-crow-42","role":"admin","playerId":1})")
                .status,
            200);
}

TEST_F(AuthServiceTest, OversizeFieldsAreTooLong) {
  ExpectInvalid(
      h_.Call("register", json{{"username", std::string(25, 'k')}, {"password", "x"}}.dump()),
      "username", "too_long");
  ExpectInvalid(
      h_.Call("register",
              json{{"username", "kade"}, {"password", "a1" + std::string(127, 'b')}}.dump()),
      "password", "too_long");
  ExpectInvalid(h_.Call("register", json{{"username", "kade"},
                                         {"password", "ashen-crow-42"},
                                         {"email", "k@" + std::string(253, 'x')}}
                                        .dump()),
                "email", "too_long");
  GivenMara();
  ExpectInvalid(Change(kP, "ashen-crow-42", "a1" + std::string(127, 'b')), "new_password",
                "too_long");
  // Login and validate have no length bounds: a huge value is just a bad credential / token.
  ExpectError(Login(std::string(10000, 'm'), "x"), "UNAUTHENTICATED",
              {{"attempts_remaining", "4"}});
  ExpectError(Validate("bbs_" + std::string(100000, 'x')), "UNAUTHENTICATED",
              {{"reason", "invalid"}});
}

// ---- events ----

TEST_F(AuthServiceTest, EventsCarryTheirFieldsAfterCommit) {
  ASSERT_EQ(h_.Call("register", R"({"username":"Mara_Vex","password":"ashen-crow-42"})").status,
            200);
  Reply login = Login("mara_vex", "ashen-crow-42", At("12:00:01.000"));
  ASSERT_EQ(login.status, 200);
  std::vector<json> events = h_.Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["subject"], "evt.auth.v1.player_registered");
  EXPECT_EQ(events[0]["nats_msg_id"], events[0]["event"]["event_id"]);
  json registered = events[0]["event"];
  registered.erase("event_id");
  EXPECT_EQ(registered,
            json({{"occurred_at", kNoon}, {"player_id", kP}, {"username", "mara_vex"}}));
  EXPECT_EQ(events[1]["subject"], "evt.auth.v1.login_succeeded");
  json succeeded = events[1]["event"];
  succeeded.erase("event_id");
  EXPECT_EQ(succeeded, json({{"occurred_at", At("12:00:01.000")}, {"player_id", kP}}));
  EXPECT_NE(events[0]["event"]["event_id"], events[1]["event"]["event_id"]);
  // Failures emit nothing until the lock.
  h_.ClearEvents();
  ExpectError(Login("mara_vex", "nope"), "UNAUTHENTICATED", {{"attempts_remaining", "4"}});
  ExpectError(h_.Call("register", R"({"username":"mara_vex","password":"ashen-crow-42"})"),
              "ALREADY_EXISTS", {{"field", "username"}});
  EXPECT_TRUE(h_.Events().empty());
}

// ---- fixtures ----

TEST(AuthFixtureTest, DisabledFixturesArePermissionDenied) {
  AuthHarness h(/*fixtures_enabled=*/false);
  ExpectError(h.Fixture(R"({})"), "PERMISSION_DENIED", json::object());
}

TEST_F(AuthServiceTest, FixtureReplacesStateAndRejectsBadDocuments) {
  GivenMara();
  ASSERT_EQ(h_.Fixture(R"({})").status, 200);
  EXPECT_TRUE(h_.Entries().empty());
  ExpectInvalid(h_.Fixture(R"({"players":[]})"), "players", "unknown_value");
  ExpectInvalid(h_.Fixture(R"({"accounts":[{"username":"x!","password":"p"}]})"),
                "accounts[0].username", "too_short");
  ExpectInvalid(h_.Fixture(R"({"accounts":[{"username":"kade"}]})"), "accounts[0].password",
                "required");
  ExpectInvalid(h_.Fixture(R"({"accounts":[{"username":"kade","password_hash":"plain"}]})"),
                "accounts[0].password_hash", "pattern");
  ExpectInvalid(h_.Fixture(R"({"accounts":[{"username":"kade","password":"p"},
                                          {"username":"KADE","password":"p"}]})"),
                "accounts[1].username", "malformed");
  ExpectInvalid(h_.Fixture(R"({"throttles":[{"username":"kade","failures":5}]})"),
                "throttles[0].failures", "out_of_range");
  ExpectInvalid(h_.Fixture(R"({"sessions":[{"token":"bbs_x","player_id":"pl_0000000000000000"}]})"),
                "sessions[0].player_id", "unknown_value");
  ExpectInvalid(h_.Fixture(R"({"throttles":[{"username":"kade","last_failure_at":"noon"}]})"),
                "throttles[0].last_failure_at", "malformed");
  EXPECT_TRUE(h_.Entries().empty());  // a rejected document leaves the state as it was
}

}  // namespace
}  // namespace sidecar::services::auth_test
