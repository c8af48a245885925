#include "services/common/state_store.h"

#include "services/common/strings_internal.h"

#include "absl/strings/str_cat.h"

namespace sidecar::services {

bool IsConflict(const absl::Status& status) { return status.code() == absl::StatusCode::kAborted; }

absl::Status ConflictError(std::string_view key) {
  return absl::AbortedError(absl::StrCat("revision conflict on key '", Av(key), "'"));
}

}  // namespace sidecar::services
