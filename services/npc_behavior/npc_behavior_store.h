#pragma once
// Where npc-behavior keeps its state in the shared StateStore:
//
//   npc-behavior/npcs/<npc_id>                        Npc (config), serialized npc_behavior.v1.Npc
//   npc-behavior/dispositions/<npc_id>/<player_id>    Disposition (strong), decimal text
//   _idem/npc-behavior/record_interaction/<interaction_id>
//                                                     interaction records: the §0.5 idempotency
//                                                     record of each interaction (30 days, NB7)
//
// npc_id ([a-z0-9_-]) and player_id (pl_ + hex) never contain '/'.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "services/common/call_context.h"
#include "services/common/state_store.h"
#include "services/npc_behavior/npc_behavior_rules.h"

namespace sidecar::services::npc_behavior {

inline constexpr std::string_view kStorePrefix = "npc-behavior/";
inline constexpr std::string_view kIdempotencyPrefix = "_idem/npc-behavior/";

std::string NpcKey(std::string_view npc_id);
std::string DispositionKey(std::string_view npc_id, std::string_view player_id);
// Absent -> 0 (rule 2: default disposition).
absl::StatusOr<int32_t> DecodeDisposition(const std::optional<std::string>& value);

// The `_fixture` document (README.md) -> store entries.
absl::StatusOr<std::vector<StoreEntry>> MapNpcBehaviorFixture(const google::protobuf::Struct& doc,
                                                              const CallContext& ctx);

}  // namespace sidecar::services::npc_behavior
