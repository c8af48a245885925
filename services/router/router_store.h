#pragma once
// Where router keeps its state in the shared StateStore, and the one way it changes it.
//
//   router/table    router.v1.ListRoutesResponse: every route and flag plus table_revision
//
// The table is config state (§0.8): small, rarely written, read whole by every resolve. One
// document means a put and its table_revision + 1 are a single compare-and-set, and the route and
// flag caps are checked against exactly the table being replaced.

#include <cstdint>
#include <functional>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "services/common/read_modify_write.h"
#include "services/common/state_store.h"
#include "services/router/router_rules.h"

namespace sidecar::services::router {

inline constexpr std::string_view kStorePrefix = "router/";
inline constexpr std::string_view kTableKey = "router/table";
// A lost compare-and-set re-runs the edit on the fresh table at most this often, then
// UNAVAILABLE {} (retryable contention).
inline constexpr int kMaxAttempts = kMaxUpdateAttempts;  // EditTable is UpdateKey

// Reads the table (absent -> an empty table at revision 0).
void LoadTable(StateStore& store, int64_t now_ms,
               absl::AnyInvocable<void(absl::StatusOr<Table>) &&> done);

// An edit of the table: returns whether it changed anything (false: nothing is written), or the
// rule's error. It may run more than once (on a fresh table after a lost race).
using TableEdit = std::function<absl::StatusOr<bool>(Table&)>;

struct EditResult {
  Table table;              // after the edit
  bool changed = false;     // the edit wrote it
  uint64_t store_revision = 0;  // of the write (0 when unchanged): names the change in event ids
};

// Load, edit, compare-and-set; re-runs on a lost race.
void EditTable(StateStore& store, int64_t now_ms, TableEdit edit,
               absl::AnyInvocable<void(absl::StatusOr<EditResult>) &&> done);

}  // namespace sidecar::services::router
