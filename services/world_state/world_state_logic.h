#pragma once
// world-state (SERVICES.md §2.14): the actions over the StateStore. Each runs the §0.4 checks in
// order (fields -> PERMISSION_DENIED -> NOT_FOUND -> delta_id lookup -> FAILED_PRECONDITION ->
// RESOURCE_EXHAUSTED, W9), then commits one compare-and-set of the World document and publishes
// its events after the commit. No clock: *now* is the CallContext's.

#include "services/common/async_util.h"
#include "services/common/call_context.h"
#include "services/common/event_publisher.h"
#include "services/common/service.h"
#include "services/common/state_store.h"
#include "services/world_state/world_state_rules.h"

namespace sidecar::services::world_state {

class WorldStateLogic {
 public:
  WorldStateLogic(StateStore& store, EventPublisher& events) : store_(store), events_(events) {}

  void PutRegion(const CallContext& ctx, const pb::PutRegionRequest& rq,
                 Done<pb::PutRegionResponse> done);
  void GetRegion(const CallContext& ctx, const pb::GetRegionRequest& rq,
                 Done<pb::GetRegionResponse> done);
  void ApplyDelta(const CallContext& ctx, const pb::ApplyDeltaRequest& rq,
                  Done<pb::ApplyDeltaResponse> done);
  void RevertDelta(const CallContext& ctx, const pb::RevertDeltaRequest& rq,
                   Done<pb::RevertDeltaResponse> done);
  void GetStanding(const CallContext& ctx, const pb::GetStandingRequest& rq,
                   Done<pb::GetStandingResponse> done);

 private:
  // Reads the World document (an empty world when absent).
  void LoadWorld(const CallContext& ctx, Done<World> done);
  void PublishControlChanges(const CallContext& ctx, const std::string& material,
                             const std::vector<ControlChange>& changes);
  void Publish(const CallContext& ctx, std::string_view event_name, const std::string& material,
               google::protobuf::Message& event);

  StateStore& store_;
  EventPublisher& events_;
  KeyedQueue world_queue_;
};

}  // namespace sidecar::services::world_state
