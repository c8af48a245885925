#pragma once
// quest-system (SERVICES.md §2.15 + §4 N20/N21 + §5 Q1-Q13): the pure rules. No store, no clock:
// field checks, the prerequisite graph, and every state transition of a player's quest. The
// logic (quest_system_logic) loads the documents, calls these and writes the result back with
// one compare-and-set.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "quest_system/v1/quest_system.pb.h"

namespace sidecar::services::quest_system {

namespace pb = ::quest_system::v1;

inline constexpr std::string_view kServiceName = "quest-system";
inline constexpr size_t kMaxActiveQuests = 25;  // rule 2

// One `required` value an objective had from `version` on (put_quest history, see below).
struct RequiredSince {
  int64_t version = 0;
  int32_t required = 0;
};

// A stored QuestDef: the put_quest request, its version, and per objective the history of its
// `required` since it was (re)introduced. The history lets a player's progress be brought up to
// the current definition lazily, exactly as if every put_quest had rewritten every player
// (rule 6, Q11): progress of an objective introduced after the player's last write starts at 0,
// and every `required` set since then clamps it.
struct QuestDef {
  pb::PutQuestRequest def;
  int64_t version = 0;
  std::map<std::string, std::vector<RequiredSince>> history;
};

struct PlayerQuest {
  std::string status;  // active, completed
  std::map<std::string, int32_t> progress;
  int32_t completions = 0;
  int64_t accepted_at = 0;
  int64_t completed_at = 0;
  int64_t def_version = 0;  // the QuestDef version `progress` was written against
};

// All quests of one player (one document: accept's 25-quest cap and prerequisites need them all).
struct PlayerQuests {
  std::map<std::string, PlayerQuest> quests;  // by quest_id (list order, rule 6)
};

// ---- field checks (rule 1, Q2-Q6), §0.4 order ----
absl::Status CheckQuestId(std::string_view field, std::string_view quest_id);
absl::Status CheckPlayerId(std::string_view player_id);
absl::Status CheckPutQuest(const pb::PutQuestRequest& rq);
absl::Status CheckAccept(const pb::AcceptRequest& rq);
absl::Status CheckRecordProgress(const pb::RecordProgressRequest& rq);
absl::Status CheckPlayerQuest(const std::string& player_id, const std::string& quest_id);
absl::Status CheckListPlayerQuests(const pb::ListPlayerQuestsRequest& rq);

// ---- put_quest (rules 1, 6; N20, Q1) ----
// FAILED_PRECONDITION prerequisite_cycle when the quest lists itself (Q1: before NOT_FOUND).
absl::Status CheckSelfPrerequisite(const pb::PutQuestRequest& rq);
// NOT_FOUND prerequisites[i] for the first undefined prerequisite.
absl::Status CheckPrerequisitesDefined(const pb::PutQuestRequest& rq,
                                       const std::map<std::string, QuestDef>& defs);
// FAILED_PRECONDITION prerequisite_cycle when the new definition closes a cycle.
absl::Status CheckNoCycle(const pb::PutQuestRequest& rq,
                          const std::map<std::string, QuestDef>& defs);
// The next stored definition: version +1 and the objective histories carried over.
QuestDef NextDefinition(const pb::PutQuestRequest& rq, const std::optional<QuestDef>& previous);

// A player's progress brought up to the current definition (rule 6, Q11): exactly the current
// objectives, each clamped to its required.
std::map<std::string, int32_t> CurrentProgress(const PlayerQuest& pq, const QuestDef& def);

// ---- transitions; each returns the rule's error or mutates `quests` ----
// Rule 2 / N21 / Q10 / Q12: accept checks in order, then a fresh active quest.
absl::Status Accept(PlayerQuests& quests, const QuestDef& def, int32_t player_level,
                    int64_t now_ms);
// Rule 3 / Q13 (after the idempotency lookup): not_active, else progress += amount (clamped).
absl::Status RecordProgress(PlayerQuests& quests, const QuestDef& def,
                            const std::string& objective_id, int32_t amount);
// Rule 4 / Q7 / Q8.
absl::Status Complete(PlayerQuests& quests, const QuestDef& def, int64_t now_ms);
// Rule 5 / Q9 / Q10.
absl::Status RevertCompletion(PlayerQuests& quests, const QuestDef& def);

pb::PlayerQuest PlayerQuestMessage(const std::string& player_id, const std::string& quest_id,
                                   const PlayerQuest& pq, const QuestDef* def);

}  // namespace sidecar::services::quest_system
