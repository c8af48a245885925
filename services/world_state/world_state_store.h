#pragma once
// Where world-state keeps its state in the shared StateStore: one document,
//
//   world-state/world   World as JSON (regions, standings, deltas; see README.md)
//
// One key because rule 3 makes a delta all-or-nothing across any number of players and regions:
// one compare-and-set on one document is the only atomic multi-entity write the StateStore
// offers. Deltas older than 30 days are dropped from it whenever it is written (and never read).

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "services/common/call_context.h"
#include "services/common/state_store.h"
#include "services/world_state/world_state_rules.h"

namespace sidecar::services::world_state {

inline constexpr std::string_view kStorePrefix = "world-state/";
inline constexpr std::string_view kWorldKey = "world-state/world";

std::string EncodeWorld(const World& world);
// "" / absent decodes to an empty world; a corrupt document -> INTERNAL.
absl::StatusOr<World> DecodeWorld(const std::optional<std::string>& value);

// A delta record that still counts at now_ms (kept 30 days), or nullptr.
const DeltaRecord* LiveDelta(const World& world, const std::string& delta_id, int64_t now_ms);
// Drops delta records past their retention.
void PruneDeltas(World& world, int64_t now_ms);

// The `_fixture` document (README.md) -> the world entry.
absl::StatusOr<std::vector<StoreEntry>> MapWorldStateFixture(const google::protobuf::Struct& doc,
                                                             const CallContext& ctx);

}  // namespace sidecar::services::world_state
