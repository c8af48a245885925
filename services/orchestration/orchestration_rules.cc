#include "services/orchestration/orchestration_rules.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/common/determinism.h"
#include "services/common/errors.h"
#include "services/common/jcs.h"
#include "services/common/json_fields.h"
#include "services/common/strings_internal.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::orchestration {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

const Pattern& PlayerIdPattern() {
  static const Pattern* p = new Pattern("pl_[0-9a-f]{16}");
  return *p;
}
const Pattern& QuestIdPattern() {
  static const Pattern* p = new Pattern(R"(q\.[a-z0-9_]{1,48})");
  return *p;
}

enum class ParamType { kString, kInteger, kArray };
struct ParamSpec {
  std::string_view name;
  ParamType type;
  bool required;
};

// The call column of the step table, in its order. Required: every name except reason, memo,
// standing_changes, region_changes (O2).
const std::vector<ParamSpec>* ParamsOf(std::string_view kind) {
  static const auto* quest = new std::vector<ParamSpec>{{"player_id", ParamType::kString, true},
                                                        {"quest_id", ParamType::kString, true}};
  static const auto* credit =
      new std::vector<ParamSpec>{{"account_id", ParamType::kString, true},
                                 {"currency", ParamType::kString, true},
                                 {"amount_minor", ParamType::kInteger, true},
                                 {"reason", ParamType::kString, false}};
  static const auto* transfer =
      new std::vector<ParamSpec>{{"from_account", ParamType::kString, true},
                                 {"to_account", ParamType::kString, true},
                                 {"currency", ParamType::kString, true},
                                 {"amount_minor", ParamType::kInteger, true},
                                 {"memo", ParamType::kString, false}};
  static const auto* delta = new std::vector<ParamSpec>{
      {"standing_changes", ParamType::kArray, false}, {"region_changes", ParamType::kArray, false}};
  if (kind == kQuestComplete) return quest;
  if (kind == kPaymentCredit) return credit;
  if (kind == kPaymentTransfer) return transfer;
  if (kind == kWorldApplyDelta) return delta;
  return nullptr;
}

bool IsIntegral(double v) { return std::isfinite(v) && std::floor(v) == v; }

// One declared param (O2): presence and JSON type only; value rules are the callee's.
absl::Status CheckParam(const std::string& field, const ParamSpec& spec, const Struct& params) {
  auto it = params.fields().find(std::string(spec.name));
  const bool absent = it == params.fields().end() || it->second.kind_case() == Value::kNullValue;
  if (absent) {
    return spec.required ? InvalidArgument(field, reason::kRequired) : absl::OkStatus();
  }
  const Value& v = it->second;
  switch (spec.type) {
    case ParamType::kString:
      if (v.kind_case() != Value::kStringValue) return InvalidArgument(field, reason::kType);
      if (spec.required && v.string_value().empty())
        return InvalidArgument(field, reason::kRequired);
      return absl::OkStatus();
    case ParamType::kInteger:
      if (v.kind_case() != Value::kNumberValue || !IsIntegral(v.number_value())) {
        return InvalidArgument(field, reason::kType);
      }
      if (std::fabs(v.number_value()) > kMaxJsonSafeInteger) {  // §0.2 int64 range
        return InvalidArgument(field, reason::kOutOfRange);
      }
      return absl::OkStatus();
    case ParamType::kArray:
      if (v.kind_case() != Value::kListValue) return InvalidArgument(field, reason::kType);
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::Status CheckStep(size_t i, const pb::StepSpec& step) {
  const std::string base = IndexField("steps", i);
  const std::string kind_field = KeyField(base, "kind");
  RETURN_IF_ERROR(CheckString(
      kind_field, step.kind(),
      {.required = true,
       .allowed = {kQuestComplete, kPaymentCredit, kPaymentTransfer, kWorldApplyDelta}}));
  const std::string params_field = KeyField(base, "params");
  const std::vector<ParamSpec>& specs = *ParamsOf(step.kind());
  for (const ParamSpec& spec : specs) {
    RETURN_IF_ERROR(CheckParam(KeyField(params_field, spec.name), spec, step.params()));
  }
  // Other names -> unknown_value (rule 1), in key order after the declared ones.
  std::vector<std::string> unknown;
  for (const auto& [name, value] : step.params().fields()) {
    const bool known =
        std::any_of(specs.begin(), specs.end(), [&](const ParamSpec& s) { return s.name == name; });
    if (!known) unknown.push_back(name);
  }
  std::sort(unknown.begin(), unknown.end());
  if (!unknown.empty())
    return InvalidArgument(KeyField(params_field, unknown.front()), reason::kUnknownValue);
  return absl::OkStatus();
}

// O1: quest_turn_in takes exactly player_id and quest_id.
absl::Status CheckTemplateParams(const pb::StartSagaRequest& rq) {
  const auto& params = rq.template_params();
  auto value = [&](const char* key) -> std::string {
    auto it = params.find(key);
    return it == params.end() ? "" : it->second;
  };
  const std::string player_id = value("player_id");
  if (player_id.empty()) return InvalidArgument("template_params.player_id", reason::kRequired);
  // pl_[0-9a-f]{16}: any syntax failure is `pattern` (R32, Q2).
  if (!PlayerIdPattern().Matches(player_id)) {
    return InvalidArgument("template_params.player_id", reason::kPattern);
  }
  // quest-system syntax: q\.[a-z0-9_]{1,48}, 3-50 chars (its finite bounds, R4).
  RETURN_IF_ERROR(
      CheckString("template_params.quest_id", value("quest_id"),
                  {.required = true, .min_len = 3, .max_len = 50, .pattern = &QuestIdPattern()}));
  std::vector<std::string> unknown;
  for (const auto& [key, v] : params) {
    if (key != "player_id" && key != "quest_id") unknown.push_back(key);
  }
  std::sort(unknown.begin(), unknown.end());
  if (!unknown.empty())
    return InvalidArgument(KeyField("template_params", unknown.front()), reason::kUnknownValue);
  return absl::OkStatus();
}

std::string StringParam(const Json& params, std::string_view name) {
  auto it = params.find(std::string(name));
  return it != params.end() && it->is_string() ? it->get<std::string>() : "";
}
int64_t IntParam(const Json& params, std::string_view name) {
  auto it = params.find(std::string(name));
  return it != params.end() && it->is_number() ? static_cast<int64_t>(it->get<double>()) : 0;
}

// ---- apply_delta entries, decoded the way world-state's transcoder would (O2) ----

absl::StatusOr<std::string> EntryString(const Json& obj, const std::string& parent,
                                        const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) return InvalidArgument(KeyField(parent, name), reason::kType);
  return it->get<std::string>();
}

absl::StatusOr<int32_t> EntryInt32(const Json& obj, const std::string& parent, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return 0;
  if (!it->is_number() || !IsIntegral(it->get<double>())) {
    return InvalidArgument(KeyField(parent, name), reason::kType);
  }
  const double v = it->get<double>();
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
    return InvalidArgument(KeyField(parent, name), reason::kOutOfRange);
  }
  return static_cast<int32_t>(v);
}

absl::Status DecodeStandingChanges(const Json& list, ::world_state::v1::ApplyDeltaRequest& rq) {
  for (size_t j = 0; j < list.size(); ++j) {
    const std::string field = IndexField("standing_changes", j);
    const Json& entry = list[j];
    if (!entry.is_object()) return InvalidArgument(field, reason::kType);
    auto* change = rq.add_standing_changes();
    ASSIGN_OR_RETURN(*change->mutable_player_id(), EntryString(entry, field, "player_id"));
    ASSIGN_OR_RETURN(*change->mutable_faction_id(), EntryString(entry, field, "faction_id"));
    ASSIGN_OR_RETURN(int32_t delta, EntryInt32(entry, field, "delta"));
    change->set_delta(delta);
  }
  return absl::OkStatus();
}

absl::Status DecodeRegionChanges(const Json& list, ::world_state::v1::ApplyDeltaRequest& rq) {
  for (size_t j = 0; j < list.size(); ++j) {
    const std::string field = IndexField("region_changes", j);
    const Json& entry = list[j];
    if (!entry.is_object()) return InvalidArgument(field, reason::kType);
    auto* change = rq.add_region_changes();
    ASSIGN_OR_RETURN(*change->mutable_region_id(), EntryString(entry, field, "region_id"));
    ASSIGN_OR_RETURN(int32_t danger, EntryInt32(entry, field, "danger_delta"));
    change->set_danger_delta(danger);
    ASSIGN_OR_RETURN(*change->mutable_controlling_faction(),
                     EntryString(entry, field, "controlling_faction"));
    if (auto it = entry.find("set_flags"); it != entry.end() && !it->is_null()) {
      const std::string flags_field = KeyField(field, "set_flags");
      if (!it->is_object()) return InvalidArgument(flags_field, reason::kType);
      for (auto f = it->begin(); f != it->end(); ++f) {
        if (!f.value().is_string())
          return InvalidArgument(KeyField(flags_field, f.key()), reason::kType);
        (*change->mutable_set_flags())[f.key()] = f.value().get<std::string>();
      }
    }
    if (auto it = entry.find("clear_flags"); it != entry.end() && !it->is_null()) {
      const std::string clear_field = KeyField(field, "clear_flags");
      if (!it->is_array()) return InvalidArgument(clear_field, reason::kType);
      for (size_t k = 0; k < it->size(); ++k) {
        if (!(*it)[k].is_string())
          return InvalidArgument(IndexField(clear_field, k), reason::kType);
        change->add_clear_flags((*it)[k].get<std::string>());
      }
    }
  }
  return absl::OkStatus();
}

Value JsonToValue(const Json& j) {
  Value v;
  if (j.is_null()) {
    v.set_null_value(google::protobuf::NULL_VALUE);
  } else if (j.is_boolean()) {
    v.set_bool_value(j.get<bool>());
  } else if (j.is_number()) {
    v.set_number_value(j.get<double>());
  } else if (j.is_string()) {
    v.set_string_value(j.get<std::string>());
  } else if (j.is_array()) {
    auto* list = v.mutable_list_value();
    for (const Json& item : j) *list->add_values() = JsonToValue(item);
  } else {
    *v.mutable_struct_value() = JsonToStruct(j);
  }
  return v;
}

}  // namespace

// ---- checks ----

absl::Status CheckSagaId(std::string_view saga_id) {
  return CheckString(
      "saga_id", saga_id,
      {.required = true, .min_len = 1, .max_len = 64, .char_class = "A-Za-z0-9_.:-"});
}

bool IsTemplate(const pb::StartSagaRequest& rq) { return !rq.template_().empty(); }

absl::Status CheckStartSaga(const pb::StartSagaRequest& rq) {
  RETURN_IF_ERROR(CheckSagaId(rq.saga_id()));
  // Exactly one of template/steps (rule 1, N4): neither -> template required; both -> steps
  // malformed (the later field).
  if (rq.template_().empty() && rq.steps().empty()) {
    return InvalidArgument("template", reason::kRequired);
  }
  RETURN_IF_ERROR(CheckString("template", rq.template_(), {.allowed = {kTemplateQuestTurnIn}}));
  // With steps, template_params is type-checked only (by the transcoder) and ignored (O1).
  if (IsTemplate(rq)) RETURN_IF_ERROR(CheckTemplateParams(rq));
  if (IsTemplate(rq) && !rq.steps().empty()) return InvalidArgument("steps", reason::kMalformed);
  RETURN_IF_ERROR(CheckCount("steps", rq.steps_size(), {.max = kMaxSteps}));
  for (int i = 0; i < rq.steps_size(); ++i) RETURN_IF_ERROR(CheckStep(i, rq.steps(i)));
  return absl::OkStatus();
}

Saga NewSaga(const pb::StartSagaRequest& rq, std::string fingerprint) {
  Saga saga;
  saga.saga_id = rq.saga_id();
  saga.fingerprint = std::move(fingerprint);
  if (IsTemplate(rq)) {
    saga.template_name = rq.template_();
    saga.player_id = rq.template_params().at("player_id");
    saga.quest_id = rq.template_params().at("quest_id");
    Step step0;
    step0.index = 0;
    step0.kind = std::string(kQuestComplete);
    step0.params = Json{{"player_id", saga.player_id}, {"quest_id", saga.quest_id}};
    saga.steps.push_back(std::move(step0));
    return saga;
  }
  for (int i = 0; i < rq.steps_size(); ++i) {
    Step step;
    step.index = i;
    step.kind = rq.steps(i).kind();
    step.params = StructToJson(rq.steps(i).params());  // echoed as given (N27)
    saga.steps.push_back(std::move(step));
  }
  return saga;
}

// ---- state machine ----

std::string StepKey(const Saga& saga, int index) { return absl::StrCat(saga.saga_id, ":", index); }
std::string CompensationKey(const Saga& saga, int index) {
  return absl::StrCat(saga.saga_id, ":", index, ":c");
}

std::optional<int> NextPendingStep(const Saga& saga) {
  for (const Step& s : saga.steps) {
    if (s.status == kPending) return s.index;
  }
  return std::nullopt;
}

std::optional<int> NextCompensation(const Saga& saga) {
  for (int i = std::min<int>(saga.cursor, static_cast<int>(saga.steps.size()) - 1); i >= 0; --i) {
    const Step& s = saga.steps[i];
    if (saga.retry_pass) {
      if (s.status == kStepCompensationFailed) return i;
      continue;
    }
    if (s.status == kDone) return i;
    if (s.status == kFailed && i == saga.failed_step &&
        (s.error_code == "UNAVAILABLE" || s.error_code == "DEADLINE_EXCEEDED")) {
      return i;
    }
  }
  return std::nullopt;
}

void MarkStepDone(Saga& saga, int index, Json result,
                  const ::quest_system::v1::CompleteResponse* completed) {
  Step& step = saga.steps[index];
  step.status = std::string(kDone);
  step.result = std::move(result);
  if (saga.template_name != kTemplateQuestTurnIn || index != 0 || completed == nullptr) return;
  // Rule 2 / O6: one credit per currency reward in the response's order, then one apply_delta
  // carrying every standing reward (no region_changes key); none for empty lists.
  for (const auto& reward : completed->rewards().currency()) {
    Step credit;
    credit.index = static_cast<int>(saga.steps.size());
    credit.kind = std::string(kPaymentCredit);
    credit.params = Json{{"account_id", saga.player_id},
                         {"currency", reward.currency()},
                         {"amount_minor", reward.amount_minor()},
                         {"reason", absl::StrCat("quest:", saga.quest_id)}};
    saga.steps.push_back(std::move(credit));
  }
  if (completed->rewards().standing_size() > 0) {
    Json changes = Json::array();
    for (const auto& reward : completed->rewards().standing()) {
      changes.push_back(Json{{"player_id", saga.player_id},
                             {"faction_id", reward.faction_id()},
                             {"delta", reward.delta()}});
    }
    Step delta;
    delta.index = static_cast<int>(saga.steps.size());
    delta.kind = std::string(kWorldApplyDelta);
    delta.params = Json{{"standing_changes", std::move(changes)}};
    saga.steps.push_back(std::move(delta));
  }
}

void MarkStepFailed(Saga& saga, int index, const absl::Status& error) {
  Step& step = saga.steps[index];
  step.status = std::string(kFailed);
  step.error_code = ErrorCodeOf(error);
  step.error_reason = ErrorReasonOf(error);
  saga.failed_step = index;
  saga.status = std::string(kCompensating);
  saga.retry_pass = false;
  saga.cursor = index;
}

void MarkCompensated(Saga& saga, int index, const std::string& compensation_tx_id, bool undone) {
  Step& step = saga.steps[index];
  const bool uncertain = step.status == kFailed ||
                         (step.status == kStepCompensationFailed && step.index == saga.failed_step);
  if (uncertain) {
    // The failed step keeps status failed and its error (O3); a refund that did move money is
    // still reported.
    step.status = std::string(kFailed);
  } else {
    step.status = std::string(kStepCompensated);
  }
  if (undone && !compensation_tx_id.empty()) step.result["compensation_tx_id"] = compensation_tx_id;
  saga.cursor = index - 1;
}

void MarkCompensationFailed(Saga& saga, int index) {
  saga.steps[index].status = std::string(kStepCompensationFailed);
  saga.cursor = index - 1;
}

void FinishCompensation(Saga& saga) {
  const bool any_failed = std::any_of(saga.steps.begin(), saga.steps.end(), [](const Step& s) {
    return s.status == kStepCompensationFailed;
  });
  saga.status = std::string(any_failed ? kCompensationFailed : kCompensated);
  saga.retry_pass = false;
  saga.cursor = -1;
}

absl::Status BeginRetryCompensation(Saga& saga) {
  if (saga.status != kCompensationFailed) {
    return FailedPrecondition("not_compensation_failed", {}, "saga is not compensation_failed");
  }
  saga.status = std::string(kCompensating);
  saga.retry_pass = true;
  saga.cursor = static_cast<int>(saga.steps.size()) - 1;
  return absl::OkStatus();
}

bool IsTerminal(std::string_view status) {
  return status == kCompleted || status == kCompensated || status == kCompensationFailed;
}

bool IsRetryable(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status);
}

std::string ErrorCodeOf(const absl::Status& status) { return ToErrorProto(status).code(); }

std::string ErrorReasonOf(const absl::Status& status) {
  ErrorDetails details = DetailsOf(status);
  auto it = details.find("reason");
  return it == details.end() ? "" : it->second;
}

// ---- step table ----

CallTarget StepCall(std::string_view kind) {
  if (kind == kQuestComplete) return {"quest-system", "complete"};
  if (kind == kPaymentCredit) return {"payment", "credit"};
  if (kind == kPaymentTransfer) return {"payment", "transfer"};
  return {"world-state", "apply_delta"};
}

CallTarget CompensationCall(std::string_view kind) {
  if (kind == kQuestComplete) return {"quest-system", "revert_completion"};
  if (kind == kPaymentCredit || kind == kPaymentTransfer) return {"payment", "refund"};
  return {"world-state", "revert_delta"};
}

::quest_system::v1::CompleteRequest CompleteRequestOf(const Step& step) {
  ::quest_system::v1::CompleteRequest rq;
  rq.set_player_id(StringParam(step.params, "player_id"));
  rq.set_quest_id(StringParam(step.params, "quest_id"));
  return rq;
}

::payment::v1::CreditRequest CreditRequestOf(const Saga& saga, const Step& step) {
  ::payment::v1::CreditRequest rq;
  rq.set_idempotency_key(StepKey(saga, step.index));
  rq.set_account_id(StringParam(step.params, "account_id"));
  rq.set_currency(StringParam(step.params, "currency"));
  rq.set_amount_minor(IntParam(step.params, "amount_minor"));
  rq.set_reason(StringParam(step.params, "reason"));
  return rq;
}

::payment::v1::TransferRequest TransferRequestOf(const Saga& saga, const Step& step) {
  ::payment::v1::TransferRequest rq;
  rq.set_idempotency_key(StepKey(saga, step.index));
  rq.set_from_account(StringParam(step.params, "from_account"));
  rq.set_to_account(StringParam(step.params, "to_account"));
  rq.set_currency(StringParam(step.params, "currency"));
  rq.set_amount_minor(IntParam(step.params, "amount_minor"));
  rq.set_memo(StringParam(step.params, "memo"));
  return rq;
}

absl::StatusOr<::world_state::v1::ApplyDeltaRequest> ApplyDeltaRequestOf(const Saga& saga,
                                                                         const Step& step) {
  ::world_state::v1::ApplyDeltaRequest rq;
  rq.set_delta_id(StepKey(saga, step.index));
  if (auto it = step.params.find("standing_changes"); it != step.params.end() && it->is_array()) {
    RETURN_IF_ERROR(DecodeStandingChanges(*it, rq));
  }
  if (auto it = step.params.find("region_changes"); it != step.params.end() && it->is_array()) {
    RETURN_IF_ERROR(DecodeRegionChanges(*it, rq));
  }
  return rq;
}

::quest_system::v1::RevertCompletionRequest RevertCompletionRequestOf(const Step& step) {
  ::quest_system::v1::RevertCompletionRequest rq;
  rq.set_player_id(StringParam(step.params, "player_id"));
  rq.set_quest_id(StringParam(step.params, "quest_id"));
  return rq;
}

::payment::v1::RefundRequest RefundRequestOf(const Saga& saga, const Step& step) {
  ::payment::v1::RefundRequest rq;
  rq.set_idempotency_key(CompensationKey(saga, step.index));
  std::string tx_id = StringParam(step.result, "tx_id");
  if (tx_id.empty()) {
    const std::string action = step.kind == kPaymentCredit ? "credit" : "transfer";
    tx_id = DerivedId(
        "tx", absl::StrCat(action, ":service:", Av(kServiceName), ":", StepKey(saga, step.index)));
  }
  rq.set_tx_id(tx_id);
  rq.set_amount_minor(0);  // all remaining
  return rq;
}

::world_state::v1::RevertDeltaRequest RevertDeltaRequestOf(const Saga& saga, const Step& step) {
  ::world_state::v1::RevertDeltaRequest rq;
  std::string delta_id = StringParam(step.result, "delta_id");
  rq.set_delta_id(delta_id.empty() ? StepKey(saga, step.index) : delta_id);
  return rq;
}

bool IsNothingToUndo(const Saga& saga, const Step& step, const absl::Status& error) {
  const bool not_completed =
      absl::IsFailedPrecondition(error) && ErrorReasonOf(error) == "not_completed";
  if (step.kind == kQuestComplete) return not_completed;
  // Only the failed (uncertain) step may have nothing to undo; a done payment/world step must be
  // undone for real.
  return step.index == saga.failed_step && absl::IsNotFound(error);
}

// ---- wire forms ----

google::protobuf::Struct JsonToStruct(const Json& object) {
  google::protobuf::Struct s;
  if (!object.is_object()) return s;
  for (auto it = object.begin(); it != object.end(); ++it) {
    (*s.mutable_fields())[it.key()] = JsonToValue(it.value());
  }
  return s;
}

void FillSteps(const Saga& saga, google::protobuf::RepeatedPtrField<pb::Step>* steps) {
  for (const Step& s : saga.steps) {
    pb::Step* out = steps->Add();
    out->set_index(s.index);
    out->set_kind(s.kind);
    *out->mutable_params() = JsonToStruct(s.params);
    out->set_status(s.status);
    *out->mutable_result() = JsonToStruct(s.result);
    out->set_error_code(s.error_code);
    out->set_error_reason(s.error_reason);
  }
}

}  // namespace sidecar::services::orchestration
