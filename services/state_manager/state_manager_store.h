#pragma once
// Where state-manager keeps its documents in the shared StateStore:
//
//   state-manager/docs/<namespace>/<key>     Doc (strong; one compare-and-set per write)
//
// Both segments are '/'-free by their syntax (rule 1), so they are used as they are, and a
// namespace's keys are one List prefix, ascending by key (rule 6).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "services/common/errors.h"
#include "services/common/state_store.h"
#include "services/state_manager/state_manager_rules.h"

namespace sidecar::services::state_manager {

inline constexpr std::string_view kStorePrefix = "state-manager/";

// "state-manager/docs/<ns>/" (+ key or key prefix).
std::string NamespacePrefix(std::string_view ns);
std::string DocKey(std::string_view ns, std::string_view key);

// A document as read: nullopt doc when absent; store_revision 0 then (a create's CAS revision).
struct DocSnapshot {
  std::optional<Doc> doc;
  uint64_t store_revision = 0;
};

void LoadDoc(StateStore& store, std::string store_key, int64_t now_ms,
             absl::AnyInvocable<void(absl::StatusOr<DocSnapshot>) &&> done);

}  // namespace sidecar::services::state_manager
