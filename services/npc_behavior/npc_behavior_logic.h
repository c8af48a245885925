#pragma once
// npc-behavior (SERVICES.md §2.16): the actions over the StateStore. Each runs the §0.4 checks in
// order (fields -> PERMISSION_DENIED -> NOT_FOUND npc_id -> interaction_id lookup, NB8), then
// reads or commits (one compare-and-set of a disposition) and publishes after the commit.
// decide is read-only (rule 1) and a pure function of the NPC, the request and the disposition.

#include "services/common/async_util.h"
#include "services/common/call_context.h"
#include "services/common/event_publisher.h"
#include "services/common/idempotency.h"
#include "services/common/service.h"
#include "services/common/state_store.h"
#include "services/npc_behavior/npc_behavior_rules.h"

namespace sidecar::services::npc_behavior {

class NpcBehaviorLogic {
 public:
  NpcBehaviorLogic(StateStore& store, EventPublisher& events);

  void PutNpc(const CallContext& ctx, const pb::PutNpcRequest& rq, Done<pb::PutNpcResponse> done);
  void GetNpc(const CallContext& ctx, const pb::GetNpcRequest& rq, Done<pb::GetNpcResponse> done);
  void Decide(const CallContext& ctx, const pb::DecideRequest& rq, Done<pb::DecideResponse> done);
  void RecordInteraction(const CallContext& ctx, const pb::RecordInteractionRequest& rq,
                         Done<pb::RecordInteractionResponse> done);

 private:
  struct NpcView {
    pb::Npc npc;
    int32_t disposition = 0;  // 0 when no player is named (NB6)
  };
  // The NPC (NOT_FOUND npc_id when absent) and, for a non-empty player_id, its disposition.
  void LoadNpc(const CallContext& ctx, const std::string& npc_id, const std::string& player_id,
               Done<NpcView> done);

  StateStore& store_;
  EventPublisher& events_;
  Idempotency idempotency_;
  KeyedQueue queue_;
};

}  // namespace sidecar::services::npc_behavior
