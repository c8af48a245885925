#pragma once
// The stored state of auth (SERVICES.md §2.1 "State (strong, shared)") and its store layout.
//
//   auth/account/<player_id>         Account, plus `live`: the player's sessions that are neither
//                                    revoked nor known to be expired. It is the one strong entity
//                                    per player, so the ≤10 cap (rule 5) and "revoke all" (rule 7)
//                                    are single compare-and-sets.
//   auth/throttle/<sha256(username)> LoginThrottle. Keyed by a hash because login usernames are
//                                    arbitrary strings (rule 1) and a key segment may not hold '/'.
//   auth/session/<token_sha256>      Session. Its `revoked` flag answers validate forever
//                                    (revoked-and-expired is `invalid`, R16).
//
// Values are JSON objects with unix-ms integers. Decoding checks every type, so a corrupt value is
// INTERNAL rather than an exception.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace sidecar::services::auth {

inline constexpr std::string_view kStatePrefix = "auth/";

struct LiveSession {
  std::string token_sha256;
  int64_t issued_at = 0;
  int64_t expires_at = 0;
};

struct Account {
  std::string player_id;
  std::string username;  // lowercased (rule 1)
  std::string email;
  std::string password_hash;  // EncodedHash (password_hash.h)
  int64_t created_at = 0;
  std::vector<LiveSession> live;  // ascending by (issued_at, token_sha256)
};

struct LoginThrottle {
  std::string username;  // lowercased
  int32_t failures = 0;
  int64_t last_failure_at = 0;
  int64_t locked_until = 0;
};

struct Session {
  std::string token_sha256;
  std::string player_id;
  int64_t issued_at = 0;
  int64_t expires_at = 0;
  bool revoked = false;
};

std::string AccountKey(std::string_view player_id);
std::string ThrottleKey(std::string_view lower_username);
std::string SessionKey(std::string_view token_sha256);

std::string EncodeAccount(const Account& a);
std::string EncodeThrottle(const LoginThrottle& t);
std::string EncodeSession(const Session& s);

// INTERNAL on a value this port did not write.
absl::StatusOr<Account> DecodeAccount(std::string_view value);
absl::StatusOr<LoginThrottle> DecodeThrottle(std::string_view value);
absl::StatusOr<Session> DecodeSession(std::string_view value);

}  // namespace sidecar::services::auth
