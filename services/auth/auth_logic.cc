#include "services/auth/auth_logic.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "services/auth/auth_rules.h"
#include "services/auth/auth_state.h"
#include "services/auth/password_hash.h"
#include "services/common/errors.h"
#include "services/common/validation.h"

namespace sidecar::services::auth {
namespace {

namespace pb = ::auth::v1;

// Attempts of one request against concurrent writers before giving up with UNAVAILABLE (the
// client retries, §0.4). Races need another replica writing the same player or username.
constexpr int kMaxAttempts = 8;

absl::Status TooMuchContention() {
  return Unavailable("", {}, "too many concurrent writers, retry");
}

// ---- typed store access ----

template <typename T>
struct Codec;
template <>
struct Codec<Account> {
  static std::string Encode(const Account& v) { return EncodeAccount(v); }
  static absl::StatusOr<Account> Decode(std::string_view v) { return DecodeAccount(v); }
};
template <>
struct Codec<LoginThrottle> {
  static std::string Encode(const LoginThrottle& v) { return EncodeThrottle(v); }
  static absl::StatusOr<LoginThrottle> Decode(std::string_view v) { return DecodeThrottle(v); }
};
template <>
struct Codec<Session> {
  static std::string Encode(const Session& v) { return EncodeSession(v); }
  static absl::StatusOr<Session> Decode(std::string_view v) { return DecodeSession(v); }
};

// A record as read, with the revision a compare-and-set must name.
template <typename T>
struct Stored {
  T value;
  uint64_t revision = 0;
};
template <typename T>
using Loaded = absl::StatusOr<std::optional<Stored<T>>>;
template <typename T>
using LoadDone = absl::AnyInvocable<void(Loaded<T>) &&>;

template <typename T>
void Load(StateStore& store, std::string key, int64_t now_ms, LoadDone<T> done) {
  store.Get(
      std::move(key), now_ms,
      [done = std::move(done)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
        if (!got.ok()) {
          std::move(done)(got.status());
          return;
        }
        if (!got->has_value()) {
          std::move(done)(std::optional<Stored<T>>());
          return;
        }
        absl::StatusOr<T> decoded = Codec<T>::Decode((*got)->value);
        if (!decoded.ok()) {
          std::move(done)(decoded.status());
          return;
        }
        std::move(done)(std::optional<Stored<T>>(Stored<T>{*std::move(decoded), (*got)->revision}));
      });
}

// Compare-and-set of `value` over `revision` (0: must be absent).
template <typename T>
void Write(StateStore& store, std::string key, const T& value, uint64_t revision, int64_t now_ms,
           absl::AnyInvocable<void(absl::Status) &&> done) {
  store.CompareAndSet(std::move(key), Codec<T>::Encode(value), revision, now_ms, WriteOptions{},
                      [done = std::move(done)](absl::StatusOr<uint64_t> written) mutable {
                        std::move(done)(written.status());
                      });
}

// Read-modify-write of one key, retried when another writer wins the race. `mutate` sees the
// current record (nullopt: absent) and returns what to write (nullopt: nothing to do); it may run
// several times, so it must derive everything from its argument.
template <typename T>
using Mutate = absl::AnyInvocable<std::optional<T>(const std::optional<T>&)>;

template <typename T>
void Update(StateStore& store, std::string key, int64_t now_ms, Mutate<T> mutate,
            absl::AnyInvocable<void(absl::Status) &&> done, int attempts_left = kMaxAttempts) {
  std::string key_copy = key;
  Load<T>(store, std::move(key_copy), now_ms,
          [&store, key = std::move(key), now_ms, mutate = std::move(mutate), done = std::move(done),
           attempts_left](Loaded<T> loaded) mutable {
            if (!loaded.ok()) {
              std::move(done)(loaded.status());
              return;
            }
            std::optional<T> current;
            uint64_t revision = 0;
            if (loaded->has_value()) {
              current = (*loaded)->value;
              revision = (*loaded)->revision;
            }
            std::optional<T> next = mutate(current);
            if (!next.has_value()) {
              std::move(done)(absl::OkStatus());
              return;
            }
            std::string write_key = key;
            Write<T>(store, std::move(write_key), *next, revision, now_ms,
                     [&store, key = std::move(key), now_ms, mutate = std::move(mutate),
                      done = std::move(done), attempts_left](absl::Status s) mutable {
                       if (IsConflict(s)) {
                         if (attempts_left <= 1) {
                           std::move(done)(TooMuchContention());
                           return;
                         }
                         Update<T>(store, std::move(key), now_ms, std::move(mutate),
                                   std::move(done), attempts_left - 1);
                         return;
                       }
                       std::move(done)(s);
                     });
          });
}

// ---- field checks (§0.4 step 2, in table order) ----

absl::Status CheckRegisterFields(const pb::RegisterRequest& rq) {
  if (absl::Status s = CheckUsername(rq.username()); !s.ok()) return s;
  if (absl::Status s = CheckPassword("password", rq.password(), rq.username()); !s.ok()) return s;
  return CheckEmail(rq.email());
}

// Rule 1 (R14): login only checks presence; everything else is a bad credential.
absl::Status CheckLoginFields(const pb::LoginRequest& rq) {
  if (rq.username().empty()) return InvalidArgument("username", reason::kRequired);
  if (rq.password().empty()) return InvalidArgument("password", reason::kRequired);
  return absl::OkStatus();
}

// Rule 6 (R15).
absl::Status CheckTokenField(std::string_view token) {
  if (token.empty()) return InvalidArgument("token", reason::kRequired);
  return absl::OkStatus();
}

absl::Status BadCredentials(int32_t attempts_remaining) {
  return Unauthenticated(kBadCredentialsMessage,
                         {{"attempts_remaining", std::to_string(attempts_remaining)}});
}

absl::Status InvalidToken(std::string_view why) {
  return Unauthenticated("session token is not valid", {{"reason", std::string(why)}});
}

bool ContainsSession(const std::vector<LiveSession>& live, std::string_view token_sha256) {
  return std::any_of(live.begin(), live.end(),
                     [&](const LiveSession& s) { return s.token_sha256 == token_sha256; });
}

std::vector<std::string> HashesOf(const std::vector<LiveSession>& sessions) {
  std::vector<std::string> out;
  for (const LiveSession& s : sessions) out.push_back(s.token_sha256);
  return out;
}

}  // namespace

// ---- operations: the state of one request, moved from callback to callback ----

// CallContext has no default constructor, hence the explicit constructors.
struct AuthLogic::RegisterOp {
  CallContext ctx;
  pb::RegisterRequest rq;
  Done<pb::RegisterResponse> done;
};

struct AuthLogic::LoginOp {
  explicit LoginOp(const CallContext& c) : ctx(c) {}
  CallContext ctx;
  pb::LoginRequest rq;
  Done<pb::LoginResponse> done;
  std::string username;   // lowercased: the lockout key (rule 4)
  std::string player_id;  // derived from it (rule 3)
  int attempts_left = kMaxAttempts;
  std::optional<Stored<LoginThrottle>> throttle;
  std::optional<Stored<Account>> account;
  // Success: the issued token and the sessions the cap revoked.
  std::string token;
  std::string token_sha256;
  int64_t expires_at = 0;
  bool had_failures = false;
  std::vector<LiveSession> evicted;
};

struct AuthLogic::SessionOp {
  explicit SessionOp(const CallContext& c) : ctx(c) {}
  CallContext ctx;
  std::string token_sha256;
  Done<pb::ValidateResponse> validate_done;
  Done<pb::LogoutResponse> logout_done;
  std::optional<Session> session;
  bool removed = false;  // logout: this request ended a live session

  // Ends whichever action this op serves with `status`.
  void Fail(absl::Status status) {
    if (validate_done) {
      std::move(validate_done)(std::move(status));
    } else {
      std::move(logout_done)(std::move(status));
    }
  }
};

struct AuthLogic::ChangeOp {
  explicit ChangeOp(const CallContext& c) : ctx(c) {}
  CallContext ctx;
  pb::ChangePasswordRequest rq;
  Done<pb::ChangePasswordResponse> done;
  int attempts_left = kMaxAttempts;
  std::optional<Stored<Account>> account;
  std::optional<Stored<LoginThrottle>> throttle;
  std::vector<LiveSession> revoked;
};

// ---- register ----

void AuthLogic::Register(const CallContext& ctx, pb::RegisterRequest request,
                         Done<pb::RegisterResponse> done) {
  if (absl::Status s = CheckRegisterFields(request); !s.ok()) {
    std::move(done)(s);
    return;
  }
  // Public action (§0.3): no authorization step; no NOT_FOUND or idempotency step either.
  absl::StatusOr<std::string> hash = HashPassword(request.password());
  if (!hash.ok()) {
    std::move(done)(hash.status());
    return;
  }
  Account account;
  account.username = AsciiLower(request.username());
  account.player_id = PlayerIdFor(account.username);
  account.email = request.email();
  account.password_hash = *std::move(hash);
  account.created_at = ctx.now_ms();
  auto op = std::make_unique<RegisterOp>(RegisterOp{ctx, std::move(request), std::move(done)});
  const std::string key = AccountKey(account.player_id);
  // Create-only: the username is unique case-insensitively because the key derives from its
  // lowercased form; losing the create to anyone is ALREADY_EXISTS.
  Write<Account>(store_, key, account, 0, ctx.now_ms(),
                 [this, op = std::move(op), account](absl::Status s) mutable {
                   if (IsConflict(s)) {
                     std::move(op->done)(AlreadyExists("username", "username is taken"));
                     return;
                   }
                   if (!s.ok()) {
                     std::move(op->done)(s);
                     return;
                   }
                   PublishPlayerRegistered(op->ctx.now_ms(), account.player_id, account.username);
                   pb::RegisterResponse response;
                   response.set_player_id(account.player_id);
                   response.set_username(account.username);
                   response.set_created_at(account.created_at);
                   std::move(op->done)(std::move(response));
                 });
}

// ---- login ----

void AuthLogic::Login(const CallContext& ctx, pb::LoginRequest request,
                      Done<pb::LoginResponse> done) {
  if (absl::Status s = CheckLoginFields(request); !s.ok()) {
    std::move(done)(s);
    return;
  }
  auto op = std::make_unique<LoginOp>(ctx);
  op->username = AsciiLower(request.username());
  op->player_id = PlayerIdFor(op->username);
  op->rq = std::move(request);
  op->done = std::move(done);
  LoginAttempt(std::move(op));
}

void AuthLogic::LoginAttempt(std::unique_ptr<LoginOp> op) {
  if (op->attempts_left-- <= 0) {
    std::move(op->done)(TooMuchContention());
    return;
  }
  const std::string key = ThrottleKey(op->username);
  const int64_t now = op->ctx.now_ms();
  Load<LoginThrottle>(
      store_, key, now, [this, op = std::move(op)](Loaded<LoginThrottle> throttle) mutable {
        if (!throttle.ok()) {
          std::move(op->done)(throttle.status());
          return;
        }
        op->throttle = *std::move(throttle);
        // Rule 4: the lockout is checked before the password, existing account
        // or not, and is not extended by attempts while locked.
        if (op->throttle.has_value()) {
          if (auto left = LockoutRemainingMs(op->throttle->value, op->ctx.now_ms())) {
            std::move(op->done)(RetryAfter(*left, kLockedMessage));
            return;
          }
        }
        LoginVerify(std::move(op));
      });
}

void AuthLogic::LoginVerify(std::unique_ptr<LoginOp> op) {
  const std::string key = AccountKey(op->player_id);
  const int64_t now = op->ctx.now_ms();
  Load<Account>(store_, key, now, [this, op = std::move(op)](Loaded<Account> account) mutable {
    if (!account.ok()) {
      std::move(op->done)(account.status());
      return;
    }
    op->account = *std::move(account);
    bool ok = false;
    if (op->account.has_value()) {
      ok = VerifyPassword(op->rq.password(), op->account->value.password_hash);
    } else {
      VerifyPassword(op->rq.password(), kUnknownAccountHash);  // same cost; never matches
    }
    if (ok) {
      LoginSucceeded(std::move(op));
    } else {
      LoginFailed(std::move(op));
    }
  });
}

void AuthLogic::LoginFailed(std::unique_ptr<LoginOp> op) {
  LoginThrottle current;
  current.username = op->username;
  uint64_t revision = 0;
  if (op->throttle.has_value()) {
    current = op->throttle->value;
    revision = op->throttle->revision;
  }
  const int64_t now = op->ctx.now_ms();
  FailureOutcome outcome = RecordFailure(std::move(current), now);
  const std::string key = ThrottleKey(op->username);
  Write<LoginThrottle>(store_, key, outcome.throttle, revision, now,
                       [this, op = std::move(op), outcome](absl::Status s) mutable {
                         if (IsConflict(s)) {
                           LoginAttempt(std::move(op));  // count against fresh state
                           return;
                         }
                         if (!s.ok()) {
                           std::move(op->done)(s);
                           return;
                         }
                         if (outcome.locked) {
                           PublishAccountLocked(op->ctx.now_ms(), op->username,
                                                outcome.throttle.locked_until);
                         }
                         std::move(op->done)(BadCredentials(outcome.attempts_remaining));
                       });
}

void AuthLogic::LoginSucceeded(std::unique_ptr<LoginOp> op) {
  absl::StatusOr<std::string> token = NewSessionToken();
  if (!token.ok()) {
    std::move(op->done)(token.status());
    return;
  }
  const int64_t now = op->ctx.now_ms();
  op->token = *std::move(token);
  op->token_sha256 = TokenSha256(op->token);
  op->expires_at = now + kSessionTtlMs;  // rule 5: fixed TTL, not sliding
  op->had_failures = op->throttle.has_value() && op->throttle->value.failures != 0;
  Account account = op->account->value;
  account.live = LiveAt(std::move(account.live), now);
  op->evicted = AddLiveSession(account.live, LiveSession{op->token_sha256, now, op->expires_at});
  const uint64_t revision = op->account->revision;
  const std::string key = AccountKey(op->player_id);
  Write<Account>(store_, key, account, revision, now,
                 [this, op = std::move(op)](absl::Status s) mutable {
                   if (IsConflict(s)) {
                     LoginAttempt(std::move(op));
                     return;
                   }
                   if (!s.ok()) {
                     std::move(op->done)(s);
                     return;
                   }
                   LoginFinish(std::move(op));
                 });
}

void AuthLogic::LoginFinish(std::unique_ptr<LoginOp> op) {
  // The account (the authority on live sessions) is committed; now the session record that
  // validate reads, the revocation of what the cap evicted, and the failure reset.
  Session session{op->token_sha256, op->player_id, op->ctx.now_ms(), op->expires_at, false};
  const std::string key = SessionKey(op->token_sha256);
  const int64_t now = op->ctx.now_ms();
  Write<Session>(store_, key, session, 0, now, [this, op = std::move(op)](absl::Status s) mutable {
    if (!s.ok()) {
      std::move(op->done)(s);
      return;
    }
    std::vector<std::string> evicted = HashesOf(op->evicted);
    RevokeSessionRecords(evicted, 0, [this, op = std::move(op)](absl::Status s) mutable {
      if (!s.ok()) {
        std::move(op->done)(s);
        return;
      }
      // Read before `op` moves into `finish`.
      const bool reset_failures = op->had_failures;
      const std::string username = op->username;
      const int64_t now = op->ctx.now_ms();
      auto finish = [this, op = std::move(op)](absl::Status s) mutable {
        if (!s.ok()) {
          std::move(op->done)(s);
          return;
        }
        const int64_t now = op->ctx.now_ms();
        if (!op->evicted.empty()) PublishSessionsRevoked(now, op->player_id, HashesOf(op->evicted));
        PublishLoginSucceeded(now, op->player_id, op->token_sha256);
        pb::LoginResponse response;
        response.set_token(op->token);
        response.set_player_id(op->player_id);
        response.set_expires_at(op->expires_at);
        response.set_ttl_s(kSessionTtlS);
        std::move(op->done)(std::move(response));
      };
      if (!reset_failures) {
        std::move(finish)(absl::OkStatus());
        return;
      }
      ResetFailures(username, now, std::move(finish));
    });
  });
}

// ---- validate / logout ----

void AuthLogic::Validate(const CallContext& ctx, pb::ValidateRequest request,
                         Done<pb::ValidateResponse> done) {
  if (absl::Status s = CheckTokenField(request.token()); !s.ok()) {
    std::move(done)(s);
    return;
  }
  auto op = std::make_unique<SessionOp>(ctx);
  op->token_sha256 = TokenSha256(request.token());
  op->validate_done = std::move(done);
  LoadSessionThen(std::move(op), &AuthLogic::ValidateWithSession);
}

void AuthLogic::LoadSessionThen(std::unique_ptr<SessionOp> op,
                                void (AuthLogic::*next)(std::unique_ptr<SessionOp>)) {
  const std::string key = SessionKey(op->token_sha256);
  const int64_t now = op->ctx.now_ms();
  Load<Session>(store_, key, now, [this, next, op = std::move(op)](Loaded<Session> s) mutable {
    if (!s.ok()) {
      op->Fail(s.status());
      return;
    }
    if (s->has_value()) op->session = (*s)->value;
    (this->*next)(std::move(op));
  });
}

void AuthLogic::ValidateWithSession(std::unique_ptr<SessionOp> op) {
  const int64_t now = op->ctx.now_ms();
  switch (ClassifySession(op->session ? &*op->session : nullptr, now)) {
    case TokenState::kInvalid:
      std::move(op->validate_done)(InvalidToken("invalid"));
      return;
    case TokenState::kExpired:
      std::move(op->validate_done)(InvalidToken("expired"));
      return;
    case TokenState::kValid:
      break;
  }
  const std::string key = AccountKey(op->session->player_id);
  Load<Account>(store_, key, now, [op = std::move(op)](Loaded<Account> account) mutable {
    if (!account.ok()) {
      std::move(op->validate_done)(account.status());
      return;
    }
    // The account's live list is the authority: a session missing from it was revoked (by the
    // cap or a password change) even if its own record has not caught up yet.
    if (!account->has_value() || !ContainsSession((*account)->value.live, op->token_sha256)) {
      std::move(op->validate_done)(InvalidToken("invalid"));
      return;
    }
    pb::ValidateResponse response;
    response.set_player_id(op->session->player_id);
    response.set_username((*account)->value.username);
    response.set_expires_at(op->session->expires_at);
    std::move(op->validate_done)(std::move(response));
  });
}

void AuthLogic::Logout(const CallContext& ctx, pb::LogoutRequest request,
                       Done<pb::LogoutResponse> done) {
  if (absl::Status s = CheckTokenField(request.token()); !s.ok()) {
    std::move(done)(s);
    return;
  }
  auto op = std::make_unique<SessionOp>(ctx);
  op->token_sha256 = TokenSha256(request.token());
  op->logout_done = std::move(done);
  LoadSessionThen(std::move(op), &AuthLogic::LogoutWithSession);
}

void AuthLogic::LogoutWithSession(std::unique_ptr<SessionOp> op) {
  const int64_t now = op->ctx.now_ms();
  // Rule 6: never fails on a non-empty token; only a live session ends.
  if (ClassifySession(op->session ? &*op->session : nullptr, now) != TokenState::kValid) {
    pb::LogoutResponse response;
    response.set_revoked(false);
    std::move(op->logout_done)(std::move(response));
    return;
  }
  SessionOp* raw = op.get();  // outlives the update: `op` is owned by its callback
  const std::string key = AccountKey(op->session->player_id);
  Update<Account>(
      store_, key, now,
      [raw, now](const std::optional<Account>& account) -> std::optional<Account> {
        raw->removed = false;
        if (!account.has_value() || !ContainsSession(account->live, raw->token_sha256)) {
          return std::nullopt;
        }
        Account next = *account;
        next.live = LiveAt(std::move(next.live), now);
        next.live.erase(std::remove_if(next.live.begin(), next.live.end(),
                                       [raw](const LiveSession& s) {
                                         return s.token_sha256 == raw->token_sha256;
                                       }),
                        next.live.end());
        raw->removed = true;
        return next;
      },
      [this, op = std::move(op)](absl::Status s) mutable {
        if (!s.ok()) {
          std::move(op->logout_done)(s);
          return;
        }
        const bool removed = op->removed;  // read before `op` moves into `answer`
        std::vector<std::string> hashes = {op->token_sha256};
        auto answer = [this, op = std::move(op)](absl::Status s) mutable {
          if (!s.ok()) {
            std::move(op->logout_done)(s);
            return;
          }
          if (op->removed) {
            PublishSessionsRevoked(op->ctx.now_ms(), op->session->player_id, {op->token_sha256});
          }
          pb::LogoutResponse response;
          response.set_revoked(op->removed);
          std::move(op->logout_done)(std::move(response));
        };
        if (!removed) {
          std::move(answer)(absl::OkStatus());
          return;
        }
        RevokeSessionRecords(std::move(hashes), 0, std::move(answer));
      });
}

// ---- change_password ----

void AuthLogic::ChangePassword(const CallContext& ctx, pb::ChangePasswordRequest request,
                               Done<pb::ChangePasswordResponse> done) {
  auto op = std::make_unique<ChangeOp>(ctx);
  op->rq = std::move(request);
  op->done = std::move(done);
  ChangeAttempt(std::move(op));
}

void AuthLogic::ChangeAttempt(std::unique_ptr<ChangeOp> op) {
  if (op->attempts_left-- <= 0) {
    std::move(op->done)(TooMuchContention());
    return;
  }
  // Rule 7, fields in table order. player_id is a path field: required; a value that is not a
  // derived id names no account (NOT_FOUND after authorization), and is never a store key.
  if (op->rq.player_id().empty()) {
    std::move(op->done)(InvalidArgument("player_id", reason::kRequired));
    return;
  }
  if (op->rq.old_password().empty()) {
    std::move(op->done)(InvalidArgument("old_password", reason::kRequired));
    return;
  }
  op->account.reset();
  if (!IsPlayerIdShape(op->rq.player_id())) {
    ChangeChecks(std::move(op));
    return;
  }
  // new_password's contains_username needs the account's username (own stored data, §0.4).
  const std::string key = AccountKey(op->rq.player_id());
  const int64_t now = op->ctx.now_ms();  // not in the call: `op` moves into an argument
  Load<Account>(store_, key, now, [this, op = std::move(op)](Loaded<Account> account) mutable {
    if (!account.ok()) {
      std::move(op->done)(account.status());
      return;
    }
    op->account = *std::move(account);
    ChangeChecks(std::move(op));
  });
}

void AuthLogic::ChangeChecks(std::unique_ptr<ChangeOp> op) {
  // contains_username is skipped for an unknown player (rule 7).
  const std::string username = op->account ? op->account->value.username : "";
  if (absl::Status s = CheckPassword("new_password", op->rq.new_password(), username); !s.ok()) {
    std::move(op->done)(s);
    return;
  }
  if (op->rq.new_password() == op->rq.old_password()) {
    std::move(op->done)(InvalidArgument("new_password", "unchanged"));
    return;
  }
  if (absl::Status s = op->ctx.AuthorizePlayer(op->rq.player_id(), /*is_write=*/true); !s.ok()) {
    std::move(op->done)(s);
    return;
  }
  if (!op->account.has_value()) {
    std::move(op->done)(NotFound("player_id", "unknown player"));
    return;
  }
  const std::string key = ThrottleKey(op->account->value.username);
  const int64_t now = op->ctx.now_ms();  // not in the call: `op` moves into an argument
  Load<LoginThrottle>(
      store_, key, now, [this, op = std::move(op)](Loaded<LoginThrottle> throttle) mutable {
        if (!throttle.ok()) {
          std::move(op->done)(throttle.status());
          return;
        }
        op->throttle = *std::move(throttle);
        if (op->throttle.has_value()) {
          if (auto left = LockoutRemainingMs(op->throttle->value, op->ctx.now_ms())) {
            std::move(op->done)(RetryAfter(*left, kLockedMessage));
            return;
          }
        }
        ChangeVerify(std::move(op));
      });
}

void AuthLogic::ChangeVerify(std::unique_ptr<ChangeOp> op) {
  if (VerifyPassword(op->rq.old_password(), op->account->value.password_hash)) {
    ChangeSucceeded(std::move(op));
  } else {
    ChangeFailed(std::move(op));
  }
}

void AuthLogic::ChangeFailed(std::unique_ptr<ChangeOp> op) {
  // Counted exactly like a failed login (rule 7, R17).
  LoginThrottle current;
  current.username = op->account->value.username;
  uint64_t revision = 0;
  if (op->throttle.has_value()) {
    current = op->throttle->value;
    revision = op->throttle->revision;
  }
  const int64_t now = op->ctx.now_ms();
  FailureOutcome outcome = RecordFailure(std::move(current), now);
  const std::string key = ThrottleKey(op->account->value.username);
  Write<LoginThrottle>(store_, key, outcome.throttle, revision, now,
                       [this, op = std::move(op), outcome](absl::Status s) mutable {
                         if (IsConflict(s)) {
                           ChangeAttempt(std::move(op));
                           return;
                         }
                         if (!s.ok()) {
                           std::move(op->done)(s);
                           return;
                         }
                         if (outcome.locked) {
                           PublishAccountLocked(op->ctx.now_ms(), op->account->value.username,
                                                outcome.throttle.locked_until);
                         }
                         std::move(op->done)(BadCredentials(outcome.attempts_remaining));
                       });
}

void AuthLogic::ChangeSucceeded(std::unique_ptr<ChangeOp> op) {
  absl::StatusOr<std::string> hash = HashPassword(op->rq.new_password());
  if (!hash.ok()) {
    std::move(op->done)(hash.status());
    return;
  }
  const int64_t now = op->ctx.now_ms();
  Account account = op->account->value;
  account.password_hash = *std::move(hash);
  // Rule 7: success revokes all sessions; revoked_sessions counts the live ones ended.
  op->revoked = LiveAt(std::move(account.live), now);
  account.live.clear();
  const uint64_t revision = op->account->revision;
  const std::string key = AccountKey(account.player_id);
  Write<Account>(store_, key, account, revision, now,
                 [this, op = std::move(op)](absl::Status s) mutable {
                   if (IsConflict(s)) {
                     ChangeAttempt(std::move(op));
                     return;
                   }
                   if (!s.ok()) {
                     std::move(op->done)(s);
                     return;
                   }
                   ChangeFinish(std::move(op));
                 });
}

void AuthLogic::ChangeFinish(std::unique_ptr<ChangeOp> op) {
  // The account (new hash, empty live list) is committed; now the session records and the
  // failure reset, then the answer.
  std::vector<std::string> hashes = HashesOf(op->revoked);
  const std::string username = op->account->value.username;
  const int64_t now = op->ctx.now_ms();
  RevokeSessionRecords(
      std::move(hashes), 0, [this, op = std::move(op), username, now](absl::Status s) mutable {
        if (!s.ok()) {
          std::move(op->done)(s);
          return;
        }
        ResetFailures(username, now, [this, op = std::move(op)](absl::Status s) mutable {
          if (!s.ok()) {
            std::move(op->done)(s);
            return;
          }
          if (!op->revoked.empty()) {
            PublishSessionsRevoked(op->ctx.now_ms(), op->account->value.player_id,
                                   HashesOf(op->revoked));
          }
          pb::ChangePasswordResponse response;
          response.set_revoked_sessions(static_cast<int32_t>(op->revoked.size()));
          std::move(op->done)(std::move(response));
        });
      });
}

// ---- shared follow-up writes ----

void AuthLogic::RevokeSessionRecords(std::vector<std::string> token_hashes, size_t index,
                                     absl::AnyInvocable<void(absl::Status) &&> done) {
  if (index == token_hashes.size()) {
    std::move(done)(absl::OkStatus());
    return;
  }
  const std::string key = SessionKey(token_hashes[index]);
  // The record's own clock does not matter here: a revoked flag is written whatever the expiry.
  Update<Session>(
      store_, key, /*now_ms=*/0,
      [](const std::optional<Session>& session) -> std::optional<Session> {
        if (!session.has_value() || session->revoked) return std::nullopt;
        Session next = *session;
        next.revoked = true;
        return next;
      },
      [this, token_hashes = std::move(token_hashes), index,
       done = std::move(done)](absl::Status s) mutable {
        if (!s.ok()) {
          std::move(done)(s);
          return;
        }
        RevokeSessionRecords(std::move(token_hashes), index + 1, std::move(done));
      });
}

void AuthLogic::ResetFailures(std::string lower_username, int64_t now_ms,
                              absl::AnyInvocable<void(absl::Status) &&> done) {
  Update<LoginThrottle>(
      store_, ThrottleKey(lower_username), now_ms,
      [](const std::optional<LoginThrottle>& t) -> std::optional<LoginThrottle> {
        if (!t.has_value() || t->failures == 0) return std::nullopt;
        LoginThrottle next = *t;
        next.failures = 0;
        return next;
      },
      std::move(done));
}

// ---- events (after commit, §0.1); a failed publish does not fail the request ----

namespace {

void PublishEvent(EventPublisher& events, std::string_view name, std::string_view material,
                  int64_t now_ms, google::protobuf::Message& message) {
  absl::StatusOr<Event> event =
      MakeEvent(kServiceName, name, MakeEventId(kServiceName, name, material), now_ms, message);
  if (!event.ok()) return;  // only a proto without event_id/occurred_at: caught by tests
  events.Publish(*std::move(event), nullptr);
}

}  // namespace

void AuthLogic::PublishPlayerRegistered(int64_t now_ms, const std::string& player_id,
                                        const std::string& username) {
  pb::PlayerRegisteredEvent e;
  e.set_player_id(player_id);
  e.set_username(username);
  // A player registers once: the id names the occurrence.
  PublishEvent(events_, "player_registered", player_id, now_ms, e);
}

void AuthLogic::PublishLoginSucceeded(int64_t now_ms, const std::string& player_id,
                                      const std::string& token_sha256) {
  pb::LoginSucceededEvent e;
  e.set_player_id(player_id);
  PublishEvent(events_, "login_succeeded", token_sha256, now_ms, e);
}

void AuthLogic::PublishAccountLocked(int64_t now_ms, const std::string& username,
                                     int64_t locked_until) {
  pb::AccountLockedEvent e;
  e.set_username(username);
  e.set_locked_until(locked_until);
  PublishEvent(events_, "account_locked", username + ":" + std::to_string(locked_until), now_ms, e);
}

void AuthLogic::PublishSessionsRevoked(int64_t now_ms, const std::string& player_id,
                                       const std::vector<std::string>& token_hashes) {
  pb::SessionsRevokedEvent e;
  e.set_player_id(player_id);
  e.set_count(static_cast<int32_t>(token_hashes.size()));
  // A session is revoked once, so the revoked hashes name the occurrence.
  std::string material = player_id;
  for (const std::string& h : token_hashes) material += ":" + h;
  PublishEvent(events_, "sessions_revoked", material, now_ms, e);
}

}  // namespace sidecar::services::auth
