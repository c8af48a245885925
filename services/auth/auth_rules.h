#pragma once
// The pure rules of auth (SERVICES.md §2.1 rules 1-7, §4 R13-R19, N6): field checks, password
// policy, lockout arithmetic, session cap and token states. No store, no clock: every function
// takes *now* as an argument.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "services/auth/auth_state.h"

namespace sidecar::services::auth {

inline constexpr std::string_view kServiceName = "auth";

inline constexpr int64_t kLockoutWindowMs = 15 * 60 * 1000;  // rule 4: 15 min
inline constexpr int32_t kMaxFailures = 5;                   // rule 4
inline constexpr int64_t kSessionTtlS = 86400;               // rule 5
inline constexpr int64_t kSessionTtlMs = kSessionTtlS * 1000;
inline constexpr size_t kMaxLiveSessions = 10;  // rule 5

// Messages of the examples (volatile, §0.7, but kept identical to the spec's).
inline constexpr std::string_view kBadCredentialsMessage = "invalid username or password";
inline constexpr std::string_view kLockedMessage = "account temporarily locked";

// ASCII-only lowercasing (§0.2, N6).
std::string AsciiLower(std::string_view s);
// "pl_" + hex16("player:" + username), username already lowercased (rule 3).
std::string PlayerIdFor(std::string_view lower_username);
// True for the shape of a derived player id, "pl_" + 16 lowercase hex: anything else names no
// account (and is never used as a store key).
bool IsPlayerIdShape(std::string_view player_id);

// Rule 1: register's username: required, 3-24 chars, [A-Za-z][A-Za-z0-9_]*.
absl::Status CheckUsername(std::string_view username);
// Rule 1: "" or <=254 chars with exactly one '@' between non-empty parts (else pattern).
absl::Status CheckEmail(std::string_view email);
// Rule 2 on `field` (password / new_password): required, too_short (<10), too_long (>128),
// missing_letter, missing_digit, contains_username (case-insensitive; skipped when `username` is
// ""), blocklisted. First failure wins.
absl::Status CheckPassword(std::string_view field, std::string_view password,
                           std::string_view username);

// Rule 4: the remaining lockout at now, or nullopt when not locked (now >= locked_until).
std::optional<int64_t> LockoutRemainingMs(const LoginThrottle& throttle, int64_t now_ms);

struct FailureOutcome {
  LoginThrottle throttle;      // to store
  int32_t attempts_remaining;  // 5 - failures, before a lock resets failures
  bool locked;                 // this failure locked the username (account_locked)
};
// Rule 4: one more bad credential at now. A failure more than 15 min after the previous one
// starts a new count; the 5th locks for 15 min and resets the count.
FailureOutcome RecordFailure(LoginThrottle throttle, int64_t now_ms);

// Rule 5: the player's sessions still live at now (expired ones dropped), ordered by
// (issued_at, token_sha256), the eviction order of R13.
std::vector<LiveSession> LiveAt(std::vector<LiveSession> sessions, int64_t now_ms);
// Rule 5: adds `added` to the live list (LiveAt already applied). At the cap the oldest are
// removed first (one, unless a fixture stored more than the cap) and returned, oldest first.
std::vector<LiveSession> AddLiveSession(std::vector<LiveSession>& live, LiveSession added);

// Rule 6: what validate answers for a stored session (nullptr: unknown token).
enum class TokenState { kValid, kInvalid, kExpired };
TokenState ClassifySession(const Session* session, int64_t now_ms);

}  // namespace sidecar::services::auth
