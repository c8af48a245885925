#pragma once
// quest-system (SERVICES.md §2.15): the actions over the StateStore. Each runs the §0.4 checks
// in order (fields -> PERMISSION_DENIED -> NOT_FOUND -> idempotency -> the rule's checks), then
// commits one compare-and-set (a quest definition, or one player's quests) and publishes its
// event after the commit. No clock: *now* is the CallContext's.

#include <map>
#include <string>

#include "services/common/async_util.h"
#include "services/common/call_context.h"
#include "services/common/event_publisher.h"
#include "services/common/idempotency.h"
#include "services/common/service.h"
#include "services/common/state_store.h"
#include "services/quest_system/quest_system_rules.h"

namespace sidecar::services::quest_system {

class QuestSystemLogic {
 public:
  QuestSystemLogic(StateStore& store, EventPublisher& events);

  void PutQuest(const CallContext& ctx, const pb::PutQuestRequest& rq,
                Done<pb::PutQuestResponse> done);
  void Accept(const CallContext& ctx, const pb::AcceptRequest& rq, Done<pb::AcceptResponse> done);
  void RecordProgress(const CallContext& ctx, const pb::RecordProgressRequest& rq,
                      Done<pb::RecordProgressResponse> done);
  void Complete(const CallContext& ctx, const pb::CompleteRequest& rq,
                Done<pb::CompleteResponse> done);
  void RevertCompletion(const CallContext& ctx, const pb::RevertCompletionRequest& rq,
                        Done<pb::RevertCompletionResponse> done);
  void ListPlayerQuests(const CallContext& ctx, const pb::ListPlayerQuestsRequest& rq,
                        Done<pb::ListPlayerQuestsResponse> done);

 private:
  // The current definition of a quest; NOT_FOUND quest_id when there is none.
  void LoadQuest(const CallContext& ctx, const std::string& quest_id, Done<QuestDef> done);
  void LoadAllQuests(const CallContext& ctx, Done<std::map<std::string, QuestDef>> done);
  // One compare-and-set of a player's quests: `change` mutates them (or fails with its rule's
  // error); `done` gets the quest as written.
  using Change = absl::AnyInvocable<absl::Status(PlayerQuests&)>;
  void UpdatePlayer(const CallContext& ctx, const std::string& player_id,
                    const std::string& quest_id, Change change, Done<PlayerQuest> done);
  void Publish(const CallContext& ctx, std::string_view event_name, const std::string& material,
               google::protobuf::Message& event);

  StateStore& store_;
  EventPublisher& events_;
  Idempotency idempotency_;
  KeyedQueue queue_;
};

}  // namespace sidecar::services::quest_system
