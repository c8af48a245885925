#pragma once
// Where quest-system keeps its state in the shared StateStore:
//
//   quest-system/quests/<quest_id>     QuestDef as JSON (config; version, objective histories)
//   quest-system/players/<player_id>   PlayerQuests as JSON (strong; one compare-and-set per write)
//   _idem/quest-system/record_progress/...   record_progress idempotency records (§0.5, 24 h)
//
// quest_id (`q.` + [a-z0-9_]) and player_id (`pl_` + hex) never contain '/'. A player's quests
// share one document because accept checks all of them at once (prerequisites, the 25 cap).

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "services/common/call_context.h"
#include "services/common/state_store.h"
#include "services/quest_system/quest_system_rules.h"

namespace sidecar::services::quest_system {

inline constexpr std::string_view kStorePrefix = "quest-system/";
inline constexpr std::string_view kQuestPrefix = "quest-system/quests/";
inline constexpr std::string_view kPlayerPrefix = "quest-system/players/";

std::string QuestKey(std::string_view quest_id);
std::string PlayerKey(std::string_view player_id);

std::string EncodeQuestDef(const QuestDef& def);
absl::StatusOr<QuestDef> DecodeQuestDef(const std::string& value);
std::string EncodePlayerQuests(const PlayerQuests& quests);
// Absent -> no quests.
absl::StatusOr<PlayerQuests> DecodePlayerQuests(const std::optional<std::string>& value);

// The `_fixture` document (README.md) -> store entries.
absl::StatusOr<std::vector<StoreEntry>> MapQuestSystemFixture(const google::protobuf::Struct& doc,
                                                              const CallContext& ctx);

}  // namespace sidecar::services::quest_system
