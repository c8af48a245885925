#include "services/auth/auth_fixture.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "services/auth/auth_rules.h"
#include "services/auth/auth_state.h"
#include "services/auth/password_hash.h"
#include "services/common/call_context.h"
#include "services/common/errors.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::auth {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

std::string Path(std::string_view list, size_t index, std::string_view member) {
  return IndexField(list, index) + "." + std::string(member);
}

// Reads of one document object; absent members are zero values (§0.2), wrong types fail.
class Reader {
 public:
  Reader(const Struct& object, std::string prefix) : object_(object), prefix_(std::move(prefix)) {}

  absl::Status CheckKnown(const std::set<std::string>& known) const {
    for (const auto& [key, unused] : object_.fields()) {
      if (known.count(key) == 0) return InvalidArgument(Field(key), reason::kUnknownValue);
    }
    return absl::OkStatus();
  }

  bool Has(const std::string& key) const {
    auto it = object_.fields().find(key);
    return it != object_.fields().end() && it->second.kind_case() != Value::kNullValue;
  }

  absl::StatusOr<std::string> String(const std::string& key) const {
    const Value* v = Find(key);
    if (v == nullptr) return std::string();
    if (v->kind_case() != Value::kStringValue) return InvalidArgument(Field(key), reason::kType);
    return v->string_value();
  }

  absl::StatusOr<int64_t> Int(const std::string& key) const {
    const Value* v = Find(key);
    if (v == nullptr) return int64_t{0};
    if (v->kind_case() != Value::kNumberValue ||
        std::floor(v->number_value()) != v->number_value()) {
      return InvalidArgument(Field(key), reason::kType);
    }
    if (std::fabs(v->number_value()) > 9007199254740991.0) {
      return InvalidArgument(Field(key), reason::kOutOfRange);
    }
    return static_cast<int64_t>(v->number_value());
  }

  absl::StatusOr<bool> Bool(const std::string& key) const {
    const Value* v = Find(key);
    if (v == nullptr) return false;
    if (v->kind_case() != Value::kBoolValue) return InvalidArgument(Field(key), reason::kType);
    return v->bool_value();
  }

  // A ts: RFC 3339 text ("" = unset) or unix ms.
  absl::StatusOr<int64_t> Ts(const std::string& key) const {
    const Value* v = Find(key);
    if (v == nullptr) return int64_t{0};
    if (v->kind_case() == Value::kNumberValue) return Int(key);
    if (v->kind_case() != Value::kStringValue) return InvalidArgument(Field(key), reason::kType);
    if (v->string_value().empty()) return int64_t{0};
    absl::StatusOr<int64_t> ms = ParseRequestTime(v->string_value());
    if (!ms.ok()) return InvalidArgument(Field(key), reason::kMalformed);
    return *ms;
  }

  std::string Field(std::string_view key) const { return prefix_ + "." + std::string(key); }

 private:
  const Value* Find(const std::string& key) const {
    auto it = object_.fields().find(key);
    if (it == object_.fields().end() || it->second.kind_case() == Value::kNullValue) return nullptr;
    return &it->second;
  }

  const Struct& object_;
  std::string prefix_;
};

// The objects of a top-level list member ([] when absent).
absl::StatusOr<std::vector<const Struct*>> Objects(const Struct& document, const std::string& key) {
  std::vector<const Struct*> out;
  auto it = document.fields().find(key);
  if (it == document.fields().end() || it->second.kind_case() == Value::kNullValue) return out;
  if (it->second.kind_case() != Value::kListValue) return InvalidArgument(key, reason::kType);
  const auto& values = it->second.list_value().values();
  for (int i = 0; i < values.size(); ++i) {
    if (values[i].kind_case() != Value::kStructValue) {
      return InvalidArgument(IndexField(key, static_cast<size_t>(i)), reason::kType);
    }
    out.push_back(&values[i].struct_value());
  }
  return out;
}

absl::StatusOr<Account> ReadAccount(const Struct& object, size_t i) {
  Reader r(object, IndexField("accounts", i));
  if (absl::Status s =
          r.CheckKnown({"username", "email", "password", "password_hash", "created_at"});
      !s.ok()) {
    return s;
  }
  ASSIGN_OR_RETURN(auto username, r.String("username"));
  if (absl::Status s = CheckUsername(username); !s.ok()) {
    return InvalidArgument(Path("accounts", i, "username"), DetailsOf(s)["reason"]);
  }
  ASSIGN_OR_RETURN(auto email, r.String("email"));
  if (absl::Status s = CheckEmail(email); !s.ok()) {
    return InvalidArgument(Path("accounts", i, "email"), DetailsOf(s)["reason"]);
  }
  ASSIGN_OR_RETURN(auto password, r.String("password"));
  ASSIGN_OR_RETURN(auto password_hash, r.String("password_hash"));
  // Exactly one of password / password_hash (§0.4 wording for the error).
  if (password.empty() && password_hash.empty()) {
    return InvalidArgument(Path("accounts", i, "password"), reason::kRequired);
  }
  if (!password.empty() && !password_hash.empty()) {
    return InvalidArgument(Path("accounts", i, "password_hash"), reason::kMalformed);
  }
  if (!password_hash.empty() && !IsEncodedHash(password_hash)) {
    return InvalidArgument(Path("accounts", i, "password_hash"), reason::kPattern);
  }
  ASSIGN_OR_RETURN(auto created_at, r.Ts("created_at"));
  Account a;
  a.username = AsciiLower(username);
  a.player_id = PlayerIdFor(a.username);
  a.email = email;
  a.created_at = created_at;
  if (!password.empty()) {
    // The fixture states the Given in plain text; the store only ever holds the hash.
    absl::StatusOr<std::string> hashed = HashPassword(password);
    if (!hashed.ok()) return hashed.status();
    a.password_hash = *std::move(hashed);
  } else {
    a.password_hash = password_hash;
  }
  return a;
}

absl::StatusOr<LoginThrottle> ReadThrottle(const Struct& object, size_t i) {
  Reader r(object, IndexField("throttles", i));
  if (absl::Status s = r.CheckKnown({"username", "failures", "last_failure_at", "locked_until"});
      !s.ok()) {
    return s;
  }
  ASSIGN_OR_RETURN(auto username, r.String("username"));
  if (username.empty()) return InvalidArgument(Path("throttles", i, "username"), reason::kRequired);
  ASSIGN_OR_RETURN(auto failures, r.Int("failures"));
  // Between failures the count is 0..4: the 5th locks and resets it (rule 4).
  if (failures < 0 || failures >= kMaxFailures) {
    return InvalidArgument(Path("throttles", i, "failures"), reason::kOutOfRange);
  }
  ASSIGN_OR_RETURN(auto last_failure_at, r.Ts("last_failure_at"));
  ASSIGN_OR_RETURN(auto locked_until, r.Ts("locked_until"));
  return LoginThrottle{AsciiLower(username), static_cast<int32_t>(failures), last_failure_at,
                       locked_until};
}

absl::StatusOr<Session> ReadSession(const Struct& object, size_t i) {
  Reader r(object, IndexField("sessions", i));
  if (absl::Status s = r.CheckKnown(
          {"token", "token_sha256", "player_id", "issued_at", "expires_at", "revoked"});
      !s.ok()) {
    return s;
  }
  ASSIGN_OR_RETURN(auto token, r.String("token"));
  ASSIGN_OR_RETURN(auto token_sha256, r.String("token_sha256"));
  if (token.empty() && token_sha256.empty()) {
    return InvalidArgument(Path("sessions", i, "token"), reason::kRequired);
  }
  if (!token.empty() && !token_sha256.empty()) {
    return InvalidArgument(Path("sessions", i, "token_sha256"), reason::kMalformed);
  }
  if (!token_sha256.empty() && (token_sha256.size() != 64 || !AllCharsIn(token_sha256, "0-9a-f"))) {
    return InvalidArgument(Path("sessions", i, "token_sha256"), reason::kPattern);
  }
  ASSIGN_OR_RETURN(auto player_id, r.String("player_id"));
  if (player_id.empty())
    return InvalidArgument(Path("sessions", i, "player_id"), reason::kRequired);
  ASSIGN_OR_RETURN(auto issued_at, r.Ts("issued_at"));
  ASSIGN_OR_RETURN(auto expires_at, r.Ts("expires_at"));
  ASSIGN_OR_RETURN(auto revoked, r.Bool("revoked"));
  Session s;
  s.token_sha256 = token.empty() ? token_sha256 : TokenSha256(token);
  s.player_id = player_id;
  s.issued_at = issued_at;
  // Omitted expiry: the fixed TTL of rule 5.
  s.expires_at = r.Has("expires_at") ? expires_at : issued_at + kSessionTtlMs;
  s.revoked = revoked;
  return s;
}

}  // namespace

absl::StatusOr<std::vector<StoreEntry>> FixtureEntries(const Struct& document) {
  for (const auto& [key, unused] : document.fields()) {
    if (key != "accounts" && key != "throttles" && key != "sessions") {
      return InvalidArgument(key, reason::kUnknownValue);
    }
  }
  std::map<std::string, Account> accounts;  // by player_id
  ASSIGN_OR_RETURN(auto account_objects, Objects(document, "accounts"));
  for (size_t i = 0; i < account_objects.size(); ++i) {
    ASSIGN_OR_RETURN(auto account, ReadAccount(*account_objects[i], i));
    const std::string player_id = account.player_id;
    if (!accounts.emplace(player_id, std::move(account)).second) {
      return InvalidArgument(Path("accounts", i, "username"), reason::kMalformed);
    }
  }
  std::vector<StoreEntry> entries;
  std::set<std::string> throttle_keys;
  ASSIGN_OR_RETURN(auto throttle_objects, Objects(document, "throttles"));
  for (size_t i = 0; i < throttle_objects.size(); ++i) {
    ASSIGN_OR_RETURN(auto throttle, ReadThrottle(*throttle_objects[i], i));
    std::string key = ThrottleKey(throttle.username);
    if (!throttle_keys.insert(key).second) {
      return InvalidArgument(Path("throttles", i, "username"), reason::kMalformed);
    }
    entries.push_back({std::move(key), EncodeThrottle(throttle), 0, 0});
  }
  std::set<std::string> session_hashes;
  ASSIGN_OR_RETURN(auto session_objects, Objects(document, "sessions"));
  for (size_t i = 0; i < session_objects.size(); ++i) {
    ASSIGN_OR_RETURN(auto session, ReadSession(*session_objects[i], i));
    auto account = accounts.find(session.player_id);
    if (account == accounts.end()) {
      return InvalidArgument(Path("sessions", i, "player_id"), reason::kUnknownValue);
    }
    if (!session_hashes.insert(session.token_sha256).second) {
      return InvalidArgument(Path("sessions", i, "token"), reason::kMalformed);
    }
    // Unrevoked sessions are on the account's live list; expired ones drop off lazily.
    if (!session.revoked) {
      account->second.live.push_back({session.token_sha256, session.issued_at, session.expires_at});
    }
    entries.push_back({SessionKey(session.token_sha256), EncodeSession(session), 0, 0});
  }
  for (auto& [player_id, account] : accounts) {
    std::sort(account.live.begin(), account.live.end(),
              [](const LiveSession& a, const LiveSession& b) {
                return a.issued_at != b.issued_at ? a.issued_at < b.issued_at
                                                  : a.token_sha256 < b.token_sha256;
              });
    entries.push_back({AccountKey(player_id), EncodeAccount(account), 0, 0});
  }
  return entries;
}

}  // namespace sidecar::services::auth
