#pragma once
// auth's actions (SERVICES.md §2.1) over the StateStore and EventPublisher interfaces. Each action
// runs the §0.4 check order of its rules, reads *now* only from the CallContext, and completes
// through `done` from store callbacks (never blocking the dispatcher on I/O).
//
// Strong state: every write is a compare-and-set on the revision read in the same attempt. When
// the first write of an attempt loses a race the whole attempt re-runs on fresh state (so the
// result is what a serial execution would give); follow-up writes of an already decided attempt
// are read-modify-write loops on their own key.
//
// CPU: login and change_password derive PBKDF2 keys (100000 iterations, rule 3) on the calling
// thread; see README.md for the measured cost.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "auth/v1/auth.pb.h"
#include "services/common/call_context.h"
#include "services/common/event_publisher.h"
#include "services/common/service.h"
#include "services/common/state_store.h"

namespace sidecar::services::auth {

class AuthLogic {
 public:
  // Both must outlive the logic and every request in flight.
  AuthLogic(StateStore& store, EventPublisher& events) : store_(store), events_(events) {}

  void Register(const CallContext& ctx, ::auth::v1::RegisterRequest request,
                Done<::auth::v1::RegisterResponse> done);
  void Login(const CallContext& ctx, ::auth::v1::LoginRequest request,
             Done<::auth::v1::LoginResponse> done);
  void Validate(const CallContext& ctx, ::auth::v1::ValidateRequest request,
                Done<::auth::v1::ValidateResponse> done);
  void Logout(const CallContext& ctx, ::auth::v1::LogoutRequest request,
              Done<::auth::v1::LogoutResponse> done);
  void ChangePassword(const CallContext& ctx, ::auth::v1::ChangePasswordRequest request,
                      Done<::auth::v1::ChangePasswordResponse> done);

 private:
  struct RegisterOp;
  struct LoginOp;
  struct SessionOp;
  struct ChangeOp;

  void LoginAttempt(std::unique_ptr<LoginOp> op);
  void LoginVerify(std::unique_ptr<LoginOp> op);
  void LoginFailed(std::unique_ptr<LoginOp> op);
  void LoginSucceeded(std::unique_ptr<LoginOp> op);
  void LoginFinish(std::unique_ptr<LoginOp> op);

  // Reads the session the op's token names, then continues with `next` (validate and logout).
  void LoadSessionThen(std::unique_ptr<SessionOp> op, void (AuthLogic::*next)(std::unique_ptr<SessionOp>));
  void ValidateWithSession(std::unique_ptr<SessionOp> op);
  void LogoutWithSession(std::unique_ptr<SessionOp> op);

  void ChangeAttempt(std::unique_ptr<ChangeOp> op);
  void ChangeChecks(std::unique_ptr<ChangeOp> op);
  void ChangeVerify(std::unique_ptr<ChangeOp> op);
  void ChangeFailed(std::unique_ptr<ChangeOp> op);
  void ChangeSucceeded(std::unique_ptr<ChangeOp> op);
  void ChangeFinish(std::unique_ptr<ChangeOp> op);

  // Marks the sessions revoked one after the other, then calls `done`.
  void RevokeSessionRecords(std::vector<std::string> token_hashes, size_t index,
                            absl::AnyInvocable<void(absl::Status) &&> done);
  // Rule 4 "success resets failures" (no write when there is nothing to reset).
  void ResetFailures(std::string lower_username, int64_t now_ms,
                     absl::AnyInvocable<void(absl::Status) &&> done);

  void PublishPlayerRegistered(int64_t now_ms, const std::string& player_id,
                               const std::string& username);
  void PublishLoginSucceeded(int64_t now_ms, const std::string& player_id,
                             const std::string& token_sha256);
  void PublishAccountLocked(int64_t now_ms, const std::string& username, int64_t locked_until);
  void PublishSessionsRevoked(int64_t now_ms, const std::string& player_id,
                              const std::vector<std::string>& token_hashes);

  StateStore& store_;
  EventPublisher& events_;
};

}  // namespace sidecar::services::auth
