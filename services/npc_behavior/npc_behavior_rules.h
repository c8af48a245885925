#pragma once
// npc-behavior (SERVICES.md §2.16 + §4 N22 + §6 NB1-NB10): the pure rules. No store, no clock:
// field checks, the rule-2 utilities, the rule-3 seeded jitter and the rule-4 disposition deltas.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "npc_behavior/v1/npc_behavior.pb.h"

namespace sidecar::services::npc_behavior {

namespace pb = ::npc_behavior::v1;

inline constexpr std::string_view kServiceName = "npc-behavior";
inline constexpr int32_t kDispositionLimit = 100;                            // rule 4: ±100
inline constexpr int64_t kInteractionRetentionMs = 30LL * 24 * 3600 * 1000;  // NB7: 30 days

// The seven actions of rule 2, alphabetical (the jitter and tie order of rule 3).
extern const std::vector<std::string_view> kActions;

// ---- field checks (rule 1, N22, NB1-NB5), §0.4 order ----
absl::Status CheckNpcId(std::string_view npc_id);
// "" allowed unless `required` (NB4); else pl_[0-9a-f]{16}, any failure `pattern`.
absl::Status CheckPlayerId(std::string_view player_id, bool required);
absl::Status CheckPutNpc(const pb::PutNpcRequest& rq);
absl::Status CheckDecide(const pb::DecideRequest& rq);
absl::Status CheckRecordInteraction(const pb::RecordInteractionRequest& rq);

// Rule 2: base utility of every action, by name.
std::map<std::string, int32_t> BaseUtilities(const pb::Npc& npc, const pb::DecideRequest& rq,
                                             int32_t disposition);

struct Decision {
  std::string action;
  std::map<std::string, int32_t> scores;
};
// Rule 3 / NB6: candidates (allowed_actions, or all seven) scored base + jitter from
// rng("npc:" + npc_id + ":" + tick), drawn in alphabetical order; the highest wins, ties
// alphabetically first.
Decision Decide(const pb::Npc& npc, const pb::DecideRequest& rq, int32_t disposition);

// Rule 4: the unclamped change of an interaction of `kind` with magnitude m.
int32_t InteractionDelta(const pb::Npc& npc, std::string_view kind, int32_t magnitude);
// Rule 4: disposition clamped to ±100.
int32_t ClampDisposition(int64_t value);

}  // namespace sidecar::services::npc_behavior
