#pragma once
// orchestration (SERVICES.md §2.19 + §4 N27/N28 + §6 O1-O12): the pure rules. No store, no clock,
// no calls: request checks (rule 1, O1, O2), the saga record and its state machine (rules 2-4, 6,
// O3-O7), and the step table (the dependency request of each step and of its compensation, built
// from the step's params; the dependency's generated protos, never its code).
//
// The logic (orchestration_logic) drives a Saga through these functions, persisting it before
// every call it makes, so a saga can always be resumed from its stored form (rule 5).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "orchestration/v1/orchestration.pb.h"
#include "payment/v1/payment.pb.h"
#include "quest_system/v1/quest_system.pb.h"
#include "world_state/v1/world_state.pb.h"

namespace sidecar::services::orchestration {

namespace pb = ::orchestration::v1;
using Json = nlohmann::json;

inline constexpr std::string_view kServiceName = "orchestration";
inline constexpr std::string_view kTemplateQuestTurnIn = "quest_turn_in";
inline constexpr size_t kMaxSteps = 8;               // rule 1: 1-8 steps after expansion
inline constexpr int64_t kAttemptTimeoutMs = 2000;   // rule 3 / O8: per attempt
inline constexpr int kMaxAttempts = 3;               // rule 3 / O8: up to 3 calls
inline constexpr int64_t kBackoffMs[] = {100, 200};  // O8: waits before attempts 2 and 3
inline constexpr int64_t kStaleAfterMs = 30000;      // rule 5: idle > 30 s

// Step kinds (the step table of §2.19).
inline constexpr std::string_view kQuestComplete = "quest.complete";
inline constexpr std::string_view kPaymentCredit = "payment.credit";
inline constexpr std::string_view kPaymentTransfer = "payment.transfer";
inline constexpr std::string_view kWorldApplyDelta = "world.apply_delta";

// Saga status (rule 4).
inline constexpr std::string_view kRunning = "running";
inline constexpr std::string_view kCompleted = "completed";
inline constexpr std::string_view kCompensating = "compensating";
inline constexpr std::string_view kCompensated = "compensated";
inline constexpr std::string_view kCompensationFailed = "compensation_failed";
// Step status (rule 4).
inline constexpr std::string_view kPending = "pending";
inline constexpr std::string_view kDone = "done";
inline constexpr std::string_view kFailed = "failed";
inline constexpr std::string_view kStepCompensated = "compensated";
inline constexpr std::string_view kStepCompensationFailed = "compensation_failed";

struct Step {
  int index = 0;
  std::string kind;
  Json params = Json::object();  // as given (rule 1, N27) or as generated (rule 2, O6)
  std::string status = std::string(kPending);
  Json result = Json::object();
  std::string error_code;
  std::string error_reason;
};

// The stored saga (State of §2.19) plus what resuming it needs.
struct Saga {
  std::string saga_id;
  std::string fingerprint;
  std::string status = std::string(kRunning);
  int failed_step = -1;
  std::vector<Step> steps;
  int64_t updated_at = 0;  // request clock (*now* of the run that last wrote it)

  // quest_turn_in: the steps after step 0 are generated from its result (rule 2).
  std::string template_name;
  std::string player_id;
  std::string quest_id;
  // Compensation walks steps downwards from `cursor` (rule 3). A retry_compensation pass (rule 6,
  // O10) takes compensation_failed steps; a first pass takes done ones (and an uncertain failed
  // step, see NextCompensation).
  bool retry_pass = false;
  int cursor = -1;
  // Terminal transitions so far: part of event ids, so each transition has its own (O11).
  int transitions = 0;
  // Operational, not spec state: the wall clock (unix ms) of the last write, which the sweeper
  // compares with its own clock (rule 5). The request clock (`updated_at`) may be pinned by
  // X-Request-Time anywhere in the past and cannot tell whether a saga is still being run.
  int64_t touched_wall_ms = 0;
};

// ---- rule 1, O1, O2: start_saga field checks (§0.4 step 2, table order) ----
absl::Status CheckStartSaga(const pb::StartSagaRequest& rq);
absl::Status CheckSagaId(std::string_view saga_id);
// Template requests are authorized for the named player, service or admin; explicit steps for
// service/admin only (rule 1).
bool IsTemplate(const pb::StartSagaRequest& rq);

// The saga a valid request starts: explicit steps all pending, or step 0 of the template.
Saga NewSaga(const pb::StartSagaRequest& rq, std::string fingerprint);

// ---- the state machine ----

// "<saga_id>:<index>" (idempotency key / delta_id) and "<saga_id>:<index>:c" (compensation).
std::string StepKey(const Saga& saga, int index);
std::string CompensationKey(const Saga& saga, int index);

// The first pending step while running; nullopt when every step is done.
std::optional<int> NextPendingStep(const Saga& saga);
// The next step to compensate at or below `saga.cursor`, nullopt when none is left. A first pass
// takes done steps and also the failed step itself when its last error was UNAVAILABLE or
// DEADLINE_EXCEEDED: such a call may have been applied by the dependency without the answer
// reaching us, and leaving it would move money without the matching quest/world change. Undoing
// it is harmless when it was not applied (the dependency answers "nothing to undo", see
// IsNothingToUndo). A retry pass (rule 6) takes compensation_failed steps.
std::optional<int> NextCompensation(const Saga& saga);

// Step `index` answered: done with `result`; quest_turn_in's step 0 appends the generated steps
// (rule 2, O6) from quest-system's complete response.
void MarkStepDone(Saga& saga, int index, Json result,
                  const ::quest_system::v1::CompleteResponse* completed);
// Step `index` failed (O3: code and reason of the last attempt): the saga starts compensating
// (rule 3) from that step downwards.
void MarkStepFailed(Saga& saga, int index, const absl::Status& error);
// A compensation answered (O7: payment steps gain compensation_tx_id). `undone` is false when the
// dependency reported nothing to undo for an uncertain failed step (its status stays failed).
void MarkCompensated(Saga& saga, int index, const std::string& compensation_tx_id, bool undone);
// A compensation failed (O4): the step's error fields are kept.
void MarkCompensationFailed(Saga& saga, int index);
// No compensation left: compensated or compensation_failed (rule 4, O4).
void FinishCompensation(Saga& saga);
// retry_compensation (rule 6, O10): from compensation_failed only.
absl::Status BeginRetryCompensation(Saga& saga);

bool IsTerminal(std::string_view status);
// Dependency errors worth another attempt with the same key (rule 3).
bool IsRetryable(const absl::Status& status);
// "FAILED_PRECONDITION", ... (the §0.4 code of a Status).
std::string ErrorCodeOf(const absl::Status& status);
// The `reason` detail, "" when the error has none (O3).
std::string ErrorReasonOf(const absl::Status& status);

// ---- the step table: dependency requests ----

// Which call a step (or its compensation) makes.
struct CallTarget {
  std::string service;  // payment, quest-system, world-state
  std::string action;
};
CallTarget StepCall(std::string_view kind);
CallTarget CompensationCall(std::string_view kind);

// Step requests from params (validated by CheckStartSaga or generated). apply_delta entries are
// decoded here: an entry world-state could not parse fails the step with the error world-state
// would give (INVALID_ARGUMENT {field: standing_changes[0].delta, reason: type}), since O2 leaves
// value rules to the callee.
::quest_system::v1::CompleteRequest CompleteRequestOf(const Step& step);
::payment::v1::CreditRequest CreditRequestOf(const Saga& saga, const Step& step);
::payment::v1::TransferRequest TransferRequestOf(const Saga& saga, const Step& step);
absl::StatusOr<::world_state::v1::ApplyDeltaRequest> ApplyDeltaRequestOf(const Saga& saga,
                                                                         const Step& step);
// Compensation requests (step table, last column).
::quest_system::v1::RevertCompletionRequest RevertCompletionRequestOf(const Step& step);
// refund(tx_id, 0). A failed (uncertain) payment step has no result: its tx_id is the one payment
// derives for our key (§2.3 rule 2: "tx_" + hex16(action:principal:key)).
::payment::v1::RefundRequest RefundRequestOf(const Saga& saga, const Step& step);
::world_state::v1::RevertDeltaRequest RevertDeltaRequestOf(const Saga& saga, const Step& step);

// A compensation error that means the forward call left nothing to undo: for an uncertain failed
// step, payment NOT_FOUND tx_id / world-state NOT_FOUND delta_id / quest-system not_completed;
// for a done quest.complete step, not_completed (the completion is already reverted: quest-system
// has no idempotency key on revert_completion, so a resumed compensation sees this).
bool IsNothingToUndo(const Saga& saga, const Step& step, const absl::Status& error);

// ---- wire forms ----
google::protobuf::Struct JsonToStruct(const Json& object);
void FillSteps(const Saga& saga, google::protobuf::RepeatedPtrField<pb::Step>* steps);
// Saga responses carry exactly saga_id, status, failed_step, steps (rule 4, N27).
template <typename SagaResponse>
SagaResponse SagaResponseOf(const Saga& saga) {
  SagaResponse out;
  out.set_saga_id(saga.saga_id);
  out.set_status(saga.status);
  out.set_failed_step(saga.failed_step);
  FillSteps(saga, out.mutable_steps());
  return out;
}

}  // namespace sidecar::services::orchestration
