#pragma once
// world-state (SERVICES.md §2.14 + §4 N18/N19/N35 + §6 W1-W20): the pure rules. No store, no
// clock: field checks, tiers, applying a delta to a World and reverting it. The logic
// (world_state_logic) reads the World document, calls these, and writes it back in one
// compare-and-set, which is what makes a delta all-or-nothing across many entities (rule 3).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "world_state/v1/world_state.pb.h"

namespace sidecar::services::world_state {

namespace pb = ::world_state::v1;

inline constexpr std::string_view kServiceName = "world-state";
inline constexpr int64_t kStandingLimit = 10000;  // rule 2: ±10000
inline constexpr int64_t kDangerMin = 0;          // rule 2: danger 0-10
inline constexpr int64_t kDangerMax = 10;
inline constexpr size_t kMaxFlags = 32;                                // rule 1
inline constexpr size_t kMaxChanges = 50;                              // rule 1, W5
inline constexpr int64_t kDeltaRetentionMs = 30LL * 24 * 3600 * 1000;  // Delta kept 30 days

struct RegionState {
  std::string name;
  std::string controller;  // "" = no controller
  int64_t danger = 0;      // int64: a revert may leave it outside 0-10 (W16)
  std::map<std::string, std::string> flags;
};

// What one delta did to one flag key: value before the delta's first touch and after the whole
// delta (nullopt = absent), W14.
struct FlagImage {
  std::optional<std::string> pre;
  std::optional<std::string> written;
};

// A touched region: net danger change, controller pre-image/written value, touched flag keys.
struct RegionTouch {
  std::string region_id;
  int64_t danger_net = 0;
  std::string controller_pre;
  bool controller_set = false;  // some change set a non-"" controller (W14)
  std::string controller_written;
  std::map<std::string, FlagImage> flags;  // keys set or cleared, ascending (W15)
};

struct StandingTouch {
  std::string player_id;
  std::string faction_id;
  int64_t net = 0;
};

// The stored Delta: its fingerprint, what it changed (first-touch order) and the original
// response, replayed with applied=false (W12).
struct DeltaRecord {
  std::string fingerprint;
  int64_t applied_at = 0;
  bool reverted = false;
  std::vector<StandingTouch> standings;
  std::vector<RegionTouch> regions;
  std::string response;  // serialized pb::ApplyDeltaResponse
};

struct World {
  std::map<std::string, RegionState> regions;
  // player_id -> faction_id -> standing (stored once touched, even at 0: rule 6).
  std::map<std::string, std::map<std::string, int64_t>> standings;
  std::map<std::string, DeltaRecord> deltas;
};

// ---- field checks (rule 1, W1-W5), §0.4 order ----
absl::Status CheckRegionId(std::string_view field, std::string_view region_id);
absl::Status CheckFactionId(std::string_view field, std::string_view faction_id, bool required);
absl::Status CheckPlayerId(std::string_view field, std::string_view player_id);
absl::Status CheckDeltaId(std::string_view delta_id);
absl::Status CheckPutRegion(const pb::PutRegionRequest& rq);
absl::Status CheckApplyDelta(const pb::ApplyDeltaRequest& rq);
absl::Status CheckGetStanding(const pb::GetStandingRequest& rq);

// Rule 2 tiers.
std::string_view Tier(int64_t standing);

// NOT_FOUND region_changes[i].region_id for the lowest unknown region (W8), else OK.
absl::Status FindUnknownRegion(const World& world, const pb::ApplyDeltaRequest& rq);

// Applies the delta to `world` (rules 3 and 6, W6/W7/W10/W13/W14/W20): FAILED_PRECONDITION for
// the first range offender, RESOURCE_EXHAUSTED for a region left with >32 flags; `world` is
// unusable after an error. On success returns the record (response and fingerprint filled by
// the caller) and the response body.
struct AppliedDelta {
  DeltaRecord record;
  pb::ApplyDeltaResponse response;
};
absl::StatusOr<AppliedDelta> ApplyDelta(World& world, const pb::ApplyDeltaRequest& rq);

// A controller restored by a revert, or changed by an apply (region_control_changed).
struct ControlChange {
  std::string region_id;
  std::string from;
  std::string to;
};
// Controller changes of an applied delta: final controller != pre-delta (W17), first-touch order.
std::vector<ControlChange> ControlChangesOf(const World& world, const DeltaRecord& record);

// Reverts `record` in `world` (rule 5, W14-W16): numbers inverted exactly, flags/controller
// restored only where the current value is what the delta wrote. Returns the conflicts in W15
// order; `restored` gets every controller that actually changed back.
std::vector<std::string> RevertDelta(World& world, const DeltaRecord& record,
                                     std::vector<ControlChange>& restored);

pb::Region RegionMessage(std::string_view region_id, const RegionState& region);

}  // namespace sidecar::services::world_state
