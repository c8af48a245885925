#include "services/orchestration/orchestration_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "services/common/errors.h"
#include "services/common/jcs.h"
#include "services/common/json_fields.h"
#include "services/common/strings_internal.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::orchestration {
namespace {

Json ObjectAt(const Json& obj, const char* name) {
  auto it = obj.find(name);
  return it != obj.end() && it->is_object() ? *it : Json::object();
}

absl::StatusOr<Step> DecodeStep(const Json& j, const std::string& path, int index) {
  if (!j.is_object()) return InvalidArgument(path, reason::kType);
  Step s;
  ASSIGN_OR_RETURN(int64_t idx, IntAt(j, "index", path, index));
  s.index = static_cast<int>(idx);
  ASSIGN_OR_RETURN(s.kind, StringAt(j, "kind", path));
  s.params = ObjectAt(j, "params");
  ASSIGN_OR_RETURN(s.status, StringAt(j, "status", path));
  if (s.status.empty()) s.status = std::string(kPending);
  s.result = ObjectAt(j, "result");
  ASSIGN_OR_RETURN(s.error_code, StringAt(j, "error_code", path));
  ASSIGN_OR_RETURN(s.error_reason, StringAt(j, "error_reason", path));
  return s;
}

absl::StatusOr<Saga> DecodeSagaJson(const Json& j, const std::string& path) {
  if (!j.is_object()) return InvalidArgument(path.empty() ? "saga" : path, reason::kType);
  Saga saga;
  ASSIGN_OR_RETURN(saga.saga_id, StringAt(j, "saga_id", path));
  ASSIGN_OR_RETURN(saga.fingerprint, StringAt(j, "fingerprint", path));
  ASSIGN_OR_RETURN(saga.status, StringAt(j, "status", path));
  if (saga.status.empty()) saga.status = std::string(kRunning);
  ASSIGN_OR_RETURN(int64_t failed, IntAt(j, "failed_step", path, -1));
  saga.failed_step = static_cast<int>(failed);
  ASSIGN_OR_RETURN(Json steps, ArrayAt(j, "steps", path));
  for (size_t i = 0; i < steps.size(); ++i) {
    ASSIGN_OR_RETURN(Step s,
                     DecodeStep(steps[i], absl::StrCat(MemberPath(path, "steps"), "[", i, "]"),
                                static_cast<int>(i)));
    saga.steps.push_back(std::move(s));
  }
  ASSIGN_OR_RETURN(saga.updated_at, IntAt(j, "updated_at", path));
  ASSIGN_OR_RETURN(saga.template_name, StringAt(j, "template", path));
  ASSIGN_OR_RETURN(saga.player_id, StringAt(j, "player_id", path));
  ASSIGN_OR_RETURN(saga.quest_id, StringAt(j, "quest_id", path));
  ASSIGN_OR_RETURN(saga.retry_pass, BoolAt(j, "retry_pass", path));
  ASSIGN_OR_RETURN(int64_t cursor, IntAt(j, "cursor", path, -1));
  saga.cursor = static_cast<int>(cursor);
  ASSIGN_OR_RETURN(int64_t transitions, IntAt(j, "transitions", path));
  saga.transitions = static_cast<int>(transitions);
  ASSIGN_OR_RETURN(saga.touched_wall_ms, IntAt(j, "touched_wall_ms", path));
  return saga;
}

}  // namespace

std::string SagaKey(std::string_view saga_id) { return absl::StrCat(Av(kSagaPrefix), Av(saga_id)); }

std::string EncodeSaga(const Saga& saga) {
  Json steps = Json::array();
  for (const Step& s : saga.steps) {
    steps.push_back(Json{{"index", s.index},
                         {"kind", s.kind},
                         {"params", s.params},
                         {"status", s.status},
                         {"result", s.result},
                         {"error_code", s.error_code},
                         {"error_reason", s.error_reason}});
  }
  Json j{{"saga_id", saga.saga_id},
         {"fingerprint", saga.fingerprint},
         {"status", saga.status},
         {"failed_step", saga.failed_step},
         {"steps", std::move(steps)},
         {"updated_at", saga.updated_at},
         {"template", saga.template_name},
         {"player_id", saga.player_id},
         {"quest_id", saga.quest_id},
         {"retry_pass", saga.retry_pass},
         {"cursor", saga.cursor},
         {"transitions", saga.transitions},
         {"touched_wall_ms", saga.touched_wall_ms}};
  return j.dump();
}

absl::StatusOr<Saga> DecodeSaga(const std::string& value) {
  Json j = Json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Internal("stored saga is not JSON");
  absl::StatusOr<Saga> saga = DecodeSagaJson(j, "");
  if (!saga.ok())
    return Internal(absl::StrCat("stored saga does not decode: ", saga.status().message()));
  return saga;
}

absl::StatusOr<std::vector<StoreEntry>> MapOrchestrationFixture(const google::protobuf::Struct& doc,
                                                                const CallContext& ctx) {
  Json j = StructToJson(doc);
  ASSIGN_OR_RETURN(Json sagas, ArrayAt(j, "sagas", ""));
  std::vector<StoreEntry> entries;
  for (size_t i = 0; i < sagas.size(); ++i) {
    const std::string path = absl::StrCat("sagas[", i, "]");
    ASSIGN_OR_RETURN(Saga saga, DecodeSagaJson(sagas[i], path));
    RETURN_IF_ERROR(CheckSagaId(saga.saga_id).ok()
                        ? absl::OkStatus()
                        : InvalidArgument(MemberPath(path, "saga_id"), reason::kPattern));
    if (saga.updated_at == 0) saga.updated_at = ctx.now_ms();
    if (saga.cursor < 0 && saga.status == kCompensating) {
      saga.cursor = static_cast<int>(saga.steps.size()) - 1;
    }
    StoreEntry e;
    e.key = SagaKey(saga.saga_id);
    e.value = EncodeSaga(saga);
    entries.push_back(std::move(e));
  }
  return entries;
}

}  // namespace sidecar::services::orchestration
