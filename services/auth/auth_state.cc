#include "services/auth/auth_state.h"

#include <utility>

#include "nlohmann/json.hpp"
#include "services/common/determinism.h"
#include "services/common/errors.h"

namespace sidecar::services::auth {
namespace {

using nlohmann::json;

// Typed readers that never throw: a missing or mistyped member fails the whole decode.
bool ReadString(const json& j, const char* key, std::string& out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

bool ReadInt(const json& j, const char* key, int64_t& out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return false;
  out = it->get<int64_t>();
  return true;
}

bool ReadBool(const json& j, const char* key, bool& out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_boolean()) return false;
  out = it->get<bool>();
  return true;
}

absl::StatusOr<json> ParseObject(std::string_view value, std::string_view what) {
  json j = json::parse(value.begin(), value.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Internal(std::string("stored ") + std::string(what) + " is not a JSON object");
  }
  return j;
}

absl::Status Corrupt(std::string_view what) {
  return Internal(std::string("stored ") + std::string(what) + " is malformed");
}

}  // namespace

std::string AccountKey(std::string_view player_id) {
  return std::string(kStatePrefix) + "account/" + std::string(player_id);
}

std::string ThrottleKey(std::string_view lower_username) {
  return std::string(kStatePrefix) + "throttle/" + Sha256Hex(lower_username);
}

std::string SessionKey(std::string_view token_sha256) {
  return std::string(kStatePrefix) + "session/" + std::string(token_sha256);
}

std::string EncodeAccount(const Account& a) {
  json live = json::array();
  for (const LiveSession& s : a.live) {
    live.push_back({{"token_sha256", s.token_sha256},
                    {"issued_at", s.issued_at},
                    {"expires_at", s.expires_at}});
  }
  json j = {{"player_id", a.player_id},   {"username", a.username},
            {"email", a.email},           {"password_hash", a.password_hash},
            {"created_at", a.created_at}, {"live", std::move(live)}};
  return j.dump();
}

std::string EncodeThrottle(const LoginThrottle& t) {
  json j = {{"username", t.username},
            {"failures", t.failures},
            {"last_failure_at", t.last_failure_at},
            {"locked_until", t.locked_until}};
  return j.dump();
}

std::string EncodeSession(const Session& s) {
  json j = {{"token_sha256", s.token_sha256},
            {"player_id", s.player_id},
            {"issued_at", s.issued_at},
            {"expires_at", s.expires_at},
            {"revoked", s.revoked}};
  return j.dump();
}

absl::StatusOr<Account> DecodeAccount(std::string_view value) {
  absl::StatusOr<json> j = ParseObject(value, "account");
  if (!j.ok()) return j.status();
  Account a;
  if (!ReadString(*j, "player_id", a.player_id) || !ReadString(*j, "username", a.username) ||
      !ReadString(*j, "email", a.email) || !ReadString(*j, "password_hash", a.password_hash) ||
      !ReadInt(*j, "created_at", a.created_at)) {
    return Corrupt("account");
  }
  auto live = j->find("live");
  if (live == j->end() || !live->is_array()) return Corrupt("account");
  for (const json& s : *live) {
    LiveSession ls;
    if (!s.is_object() || !ReadString(s, "token_sha256", ls.token_sha256) ||
        !ReadInt(s, "issued_at", ls.issued_at) || !ReadInt(s, "expires_at", ls.expires_at)) {
      return Corrupt("account");
    }
    a.live.push_back(std::move(ls));
  }
  return a;
}

absl::StatusOr<LoginThrottle> DecodeThrottle(std::string_view value) {
  absl::StatusOr<json> j = ParseObject(value, "login throttle");
  if (!j.ok()) return j.status();
  LoginThrottle t;
  int64_t failures = 0;
  if (!ReadString(*j, "username", t.username) || !ReadInt(*j, "failures", failures) ||
      !ReadInt(*j, "last_failure_at", t.last_failure_at) ||
      !ReadInt(*j, "locked_until", t.locked_until)) {
    return Corrupt("login throttle");
  }
  t.failures = static_cast<int32_t>(failures);
  return t;
}

absl::StatusOr<Session> DecodeSession(std::string_view value) {
  absl::StatusOr<json> j = ParseObject(value, "session");
  if (!j.ok()) return j.status();
  Session s;
  if (!ReadString(*j, "token_sha256", s.token_sha256) ||
      !ReadString(*j, "player_id", s.player_id) || !ReadInt(*j, "issued_at", s.issued_at) ||
      !ReadInt(*j, "expires_at", s.expires_at) || !ReadBool(*j, "revoked", s.revoked)) {
    return Corrupt("session");
  }
  return s;
}

}  // namespace sidecar::services::auth
