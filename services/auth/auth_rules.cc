#include "services/auth/auth_rules.h"

#include <algorithm>
#include <array>

#include "services/common/determinism.h"
#include "services/common/errors.h"
#include "services/common/validation.h"

namespace sidecar::services::auth {
namespace {

constexpr size_t kUsernameMin = 3;
constexpr size_t kUsernameMax = 24;
constexpr size_t kEmailMax = 254;
constexpr size_t kPasswordMin = 10;
constexpr size_t kPasswordMax = 128;

constexpr std::array<std::string_view, 4> kBlocklist = {"password123", "qwerty12345", "letmein1234",
                                                        "bodybroker1"};

bool IsAsciiLetter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

bool SessionOrder(const LiveSession& a, const LiveSession& b) {
  if (a.issued_at != b.issued_at) return a.issued_at < b.issued_at;
  return a.token_sha256 < b.token_sha256;
}

}  // namespace

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string PlayerIdFor(std::string_view lower_username) {
  return DerivedId("pl", std::string("player:") + std::string(lower_username));
}

bool IsPlayerIdShape(std::string_view player_id) {
  if (player_id.size() != 19 || player_id.substr(0, 3) != "pl_") return false;
  return AllCharsIn(player_id.substr(3), "0-9a-f");
}

absl::Status CheckUsername(std::string_view username) {
  static const Pattern kUsername("[A-Za-z][A-Za-z0-9_]*");
  return CheckString(
      "username", username,
      {.required = true, .min_len = kUsernameMin, .max_len = kUsernameMax, .pattern = &kUsername});
}

absl::Status CheckEmail(std::string_view email) {
  if (email.empty()) return absl::OkStatus();
  if (CodePoints(email) > kEmailMax) return InvalidArgument("email", reason::kTooLong);
  const size_t at = email.find('@');
  const bool one_at =
      at != std::string_view::npos && email.find('@', at + 1) == std::string_view::npos;
  if (!one_at || at == 0 || at + 1 == email.size())
    return InvalidArgument("email", reason::kPattern);
  return absl::OkStatus();
}

absl::Status CheckPassword(std::string_view field, std::string_view password,
                           std::string_view username) {
  if (password.empty()) return InvalidArgument(field, reason::kRequired);
  const size_t len = CodePoints(password);
  if (len < kPasswordMin) return InvalidArgument(field, reason::kTooShort);
  if (len > kPasswordMax) return InvalidArgument(field, reason::kTooLong);
  if (std::none_of(password.begin(), password.end(), IsAsciiLetter)) {
    return InvalidArgument(field, "missing_letter");
  }
  if (std::none_of(password.begin(), password.end(), IsAsciiDigit)) {
    return InvalidArgument(field, "missing_digit");
  }
  const std::string lower = AsciiLower(password);
  if (!username.empty() && lower.find(AsciiLower(username)) != std::string::npos) {
    return InvalidArgument(field, "contains_username");
  }
  if (std::find(kBlocklist.begin(), kBlocklist.end(), lower) != kBlocklist.end()) {
    return InvalidArgument(field, "blocklisted");
  }
  return absl::OkStatus();
}

std::optional<int64_t> LockoutRemainingMs(const LoginThrottle& throttle, int64_t now_ms) {
  if (now_ms < throttle.locked_until) return throttle.locked_until - now_ms;
  return std::nullopt;
}

FailureOutcome RecordFailure(LoginThrottle throttle, int64_t now_ms) {
  if (now_ms - throttle.last_failure_at > kLockoutWindowMs) throttle.failures = 0;
  throttle.failures += 1;
  throttle.last_failure_at = now_ms;
  FailureOutcome out{throttle, kMaxFailures - throttle.failures, false};
  if (out.throttle.failures >= kMaxFailures) {
    out.throttle.locked_until = now_ms + kLockoutWindowMs;
    out.throttle.failures = 0;
    out.attempts_remaining = 0;
    out.locked = true;
  }
  return out;
}

std::vector<LiveSession> LiveAt(std::vector<LiveSession> sessions, int64_t now_ms) {
  sessions.erase(std::remove_if(sessions.begin(), sessions.end(),
                                [now_ms](const LiveSession& s) { return now_ms >= s.expires_at; }),
                 sessions.end());
  std::sort(sessions.begin(), sessions.end(), SessionOrder);
  return sessions;
}

std::vector<LiveSession> AddLiveSession(std::vector<LiveSession>& live, LiveSession added) {
  std::vector<LiveSession> evicted;
  while (live.size() >= kMaxLiveSessions) {
    evicted.push_back(live.front());
    live.erase(live.begin());
  }
  live.push_back(std::move(added));
  std::sort(live.begin(), live.end(), SessionOrder);
  return evicted;
}

TokenState ClassifySession(const Session* session, int64_t now_ms) {
  // R16: revocation is checked before expiry.
  if (session == nullptr || session->revoked) return TokenState::kInvalid;
  if (now_ms >= session->expires_at) return TokenState::kExpired;
  return TokenState::kValid;
}

}  // namespace sidecar::services::auth
