#pragma once
// Where capability-registry keeps its leases in the shared StateStore, and how it changes them.
//
//   capability-registry/caps/<capability>   JSON {"<provider_id>": Lease, ...}
//
// One document per capability (strong state, §0.8): a register, its "≤32 live providers" cap
// and its `replaced` answer are decided on the very leases one compare-and-set replaces, so two
// replicas registering concurrently can never overshoot the cap. The entry's store expiry is the
// latest lease's expires_at, so a capability whose leases all expired reads as absent (C6: lazy
// purge, nothing listed) and its key may be re-created. Capability names contain no '/'.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "services/capability_registry/capability_registry_rules.h"
#include "services/common/read_modify_write.h"
#include "services/common/state_store.h"

namespace sidecar::services::capability_registry {

inline constexpr std::string_view kStorePrefix = "capability-registry/";
inline constexpr std::string_view kCapsPrefix = "capability-registry/caps/";
// A lost compare-and-set re-runs the edit on fresh leases at most this often, then UNAVAILABLE.
inline constexpr int kMaxAttempts = kMaxUpdateAttempts;  // EditLeases is UpdateKey

std::string CapabilityKey(std::string_view capability);

// The stored form (ts as unix ms). Decoding fails only for a value this port did not write.
nlohmann::json LeasesToJson(const Leases& leases);
absl::StatusOr<Leases> LeasesFromJson(const nlohmann::json& json);
// The store entry for `leases` (expiry = the latest expires_at).
StoreEntry LeasesEntry(std::string_view capability, const Leases& leases);

void LoadLeases(StateStore& store, std::string_view capability, int64_t now_ms,
                absl::AnyInvocable<void(absl::StatusOr<Leases>) &&> done);

// Every capability document (live at now_ms), by capability name.
struct CapabilityLeases {
  std::string capability;
  Leases leases;
};
void LoadAllLeases(StateStore& store, int64_t now_ms,
                   absl::AnyInvocable<void(absl::StatusOr<std::vector<CapabilityLeases>>) &&> done);

// An edit of one capability's leases: whether it changed anything (false: nothing is written),
// or the rule's error. It may run more than once (on fresh leases after a lost race).
using LeasesEdit = std::function<absl::StatusOr<bool>(Leases&)>;

struct EditResult {
  bool changed = false;
  uint64_t store_revision = 0;  // of the write (a delete: the revision deleted); names the change
};

// Load, edit, compare-and-set (or delete when no lease is left); re-runs on a lost race.
void EditLeases(StateStore& store, std::string capability, int64_t now_ms, LeasesEdit edit,
                absl::AnyInvocable<void(absl::StatusOr<EditResult>) &&> done);

}  // namespace sidecar::services::capability_registry
