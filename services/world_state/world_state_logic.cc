#include "services/world_state/world_state_logic.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/common/errors.h"
#include "services/common/jcs.h"
#include "services/common/validation.h"
#include "services/common/cas_update.h"
#include "services/world_state/world_state_store.h"

namespace sidecar::services::world_state {
namespace {

// What a committed apply_delta hands to the event step.
struct ApplyOutcome {
  pb::ApplyDeltaResponse response;
  bool applied = false;  // false: a replay (W12), no events
  std::vector<ControlChange> control_changes;
};

struct RevertOutcome {
  pb::RevertDeltaResponse response;
  std::vector<ControlChange> restored;
};

// The plan of apply_delta on the current World (see world_state_logic.h for the order).
absl::StatusOr<Planned<ApplyOutcome>> PlanApply(const std::optional<std::string>& current,
                                                const pb::ApplyDeltaRequest& rq,
                                                const std::string& fingerprint, int64_t now_ms) {
  absl::StatusOr<World> world = DecodeWorld(current);
  if (!world.ok()) return world.status();
  if (absl::Status s = FindUnknownRegion(*world, rq); !s.ok()) return s;
  if (const DeltaRecord* prior = LiveDelta(*world, rq.delta_id(), now_ms)) {
    if (prior->fingerprint != fingerprint) return AlreadyExists("delta_id", "delta_id reused");
    Planned<ApplyOutcome> replay;
    if (!replay.result.response.ParseFromString(prior->response)) {
      return Internal("stored delta response does not parse");
    }
    replay.result.response.set_applied(false);  // rule 4: the original response, applied=false
    return replay;
  }
  absl::StatusOr<AppliedDelta> applied = ApplyDelta(*world, rq);
  if (!applied.ok()) return applied.status();
  DeltaRecord record = std::move(applied->record);
  record.fingerprint = fingerprint;
  record.applied_at = now_ms;
  record.response = applied->response.SerializeAsString();
  Planned<ApplyOutcome> planned;
  planned.result.control_changes = ControlChangesOf(*world, record);
  planned.result.response = std::move(applied->response);
  planned.result.applied = true;
  world->deltas[rq.delta_id()] = std::move(record);
  PruneDeltas(*world, now_ms);
  planned.new_value = EncodeWorld(*world);
  return planned;
}

absl::StatusOr<Planned<RevertOutcome>> PlanRevert(const std::optional<std::string>& current,
                                                  const std::string& delta_id, int64_t now_ms) {
  absl::StatusOr<World> world = DecodeWorld(current);
  if (!world.ok()) return world.status();
  const DeltaRecord* found = LiveDelta(*world, delta_id, now_ms);
  if (found == nullptr) return NotFound("delta_id", "unknown or expired delta");  // W16
  Planned<RevertOutcome> planned;
  if (found->reverted) {  // rule 5: a second revert changes nothing
    planned.result.response.set_reverted(false);
    return planned;
  }
  DeltaRecord record = *found;
  std::vector<std::string> conflicts = RevertDelta(*world, record, planned.result.restored);
  record.reverted = true;
  world->deltas[delta_id] = std::move(record);
  PruneDeltas(*world, now_ms);
  planned.result.response.set_reverted(true);
  for (std::string& c : conflicts) planned.result.response.add_conflicts(std::move(c));
  planned.new_value = EncodeWorld(*world);
  return planned;
}

}  // namespace

void WorldStateLogic::LoadWorld(const CallContext& ctx, Done<World> done) {
  ReadValue(store_, std::string(kWorldKey), ctx.now_ms(),
            [done = std::move(done)](absl::StatusOr<std::optional<std::string>> value) mutable {
              if (!value.ok()) return std::move(done)(value.status());
              std::move(done)(DecodeWorld(*value));
            });
}

void WorldStateLogic::PutRegion(const CallContext& ctx, const pb::PutRegionRequest& rq,
                                Done<pb::PutRegionResponse> done) {
  absl::Status s = CheckPutRegion(rq);
  if (s.ok()) s = ctx.AuthorizeWrite();
  if (!s.ok()) return std::move(done)(s);
  const int64_t now = ctx.now_ms();
  CasUpdate<pb::PutRegionResponse>(
      store_, world_queue_, std::string(kWorldKey), now,
      [rq, now](const std::optional<std::string>& current)
          -> absl::StatusOr<Planned<pb::PutRegionResponse>> {
        absl::StatusOr<World> world = DecodeWorld(current);
        if (!world.ok()) return world.status();
        // W19: a full replace (flags replaced, not merged); standings untouched.
        RegionState& region = world->regions[rq.region_id()];
        region.name = rq.name();
        region.controller = rq.controlling_faction();
        region.danger = rq.danger();
        region.flags = std::map<std::string, std::string>(rq.flags().begin(), rq.flags().end());
        PruneDeltas(*world, now);
        Planned<pb::PutRegionResponse> planned;
        planned.new_value = EncodeWorld(*world);
        planned.result.set_region_id(rq.region_id());
        return planned;
      },
      std::move(done));
}

void WorldStateLogic::GetRegion(const CallContext& ctx, const pb::GetRegionRequest& rq,
                                Done<pb::GetRegionResponse> done) {
  if (absl::Status s = CheckRegionId("region_id", rq.region_id()); !s.ok()) {
    return std::move(done)(s);
  }
  LoadWorld(ctx, [rq, done = std::move(done)](absl::StatusOr<World> world) mutable {
    if (!world.ok()) return std::move(done)(world.status());
    auto it = world->regions.find(rq.region_id());
    if (it == world->regions.end()) return std::move(done)(NotFound("region_id", "unknown region"));
    pb::Region region = RegionMessage(it->first, it->second);
    pb::GetRegionResponse out;
    out.set_region_id(region.region_id());
    out.set_name(region.name());
    out.set_controlling_faction(region.controlling_faction());
    out.set_danger(region.danger());
    *out.mutable_flags() = region.flags();
    std::move(done)(std::move(out));
  });
}

void WorldStateLogic::ApplyDelta(const CallContext& ctx, const pb::ApplyDeltaRequest& rq,
                                 Done<pb::ApplyDeltaResponse> done) {
  absl::Status s = CheckApplyDelta(rq);
  if (s.ok()) s = ctx.AuthorizeWrite();  // rule 1: service/admin only
  if (!s.ok()) return std::move(done)(s);
  // W11: the §0.5 fingerprint of every declared field, delta_id included.
  absl::StatusOr<std::string> fingerprint = RequestFingerprint(rq, {});
  if (!fingerprint.ok())
    return std::move(done)(Internal(std::string(fingerprint.status().message())));
  const int64_t now = ctx.now_ms();
  CasUpdate<ApplyOutcome>(
      store_, world_queue_, std::string(kWorldKey), now,
      [rq, fp = *fingerprint, now](const std::optional<std::string>& current) {
        return PlanApply(current, rq, fp, now);
      },
      [this, ctx, done = std::move(done)](absl::StatusOr<ApplyOutcome> outcome) mutable {
        if (!outcome.ok()) return std::move(done)(outcome.status());
        if (outcome->applied) {
          const std::string& id = outcome->response.delta_id();
          pb::DeltaAppliedEvent applied;
          applied.set_delta_id(id);
          Publish(ctx, "delta_applied", id, applied);
          PublishControlChanges(ctx, id + ":apply", outcome->control_changes);
        }
        std::move(done)(std::move(outcome->response));
      });
}

void WorldStateLogic::RevertDelta(const CallContext& ctx, const pb::RevertDeltaRequest& rq,
                                  Done<pb::RevertDeltaResponse> done) {
  absl::Status s = CheckDeltaId(rq.delta_id());
  if (s.ok()) s = ctx.AuthorizeWrite();  // rule 1: service/admin only
  if (!s.ok()) return std::move(done)(s);
  const int64_t now = ctx.now_ms();
  CasUpdate<RevertOutcome>(
      store_, world_queue_, std::string(kWorldKey), now,
      [id = rq.delta_id(), now](const std::optional<std::string>& current) {
        return PlanRevert(current, id, now);
      },
      [this, ctx, id = rq.delta_id(),
       done = std::move(done)](absl::StatusOr<RevertOutcome> outcome) mutable {
        if (!outcome.ok()) return std::move(done)(outcome.status());
        if (outcome->response.reverted()) {  // W17: a second revert emits nothing
          pb::DeltaRevertedEvent reverted;
          reverted.set_delta_id(id);
          *reverted.mutable_conflicts() = outcome->response.conflicts();
          Publish(ctx, "delta_reverted", id, reverted);
          PublishControlChanges(ctx, id + ":revert", outcome->restored);
        }
        std::move(done)(std::move(outcome->response));
      });
}

void WorldStateLogic::GetStanding(const CallContext& ctx, const pb::GetStandingRequest& rq,
                                  Done<pb::GetStandingResponse> done) {
  absl::Status s = CheckGetStanding(rq);
  if (s.ok()) s = ctx.AuthorizePlayer(rq.player_id(), /*is_write=*/false);  // W18
  if (!s.ok()) return std::move(done)(s);
  LoadWorld(ctx, [rq, done = std::move(done)](absl::StatusOr<World> world) mutable {
    if (!world.ok()) return std::move(done)(world.status());
    std::map<std::string, int64_t> stored;
    if (auto it = world->standings.find(rq.player_id()); it != world->standings.end()) {
      stored = it->second;
    }
    pb::GetStandingResponse out;
    auto add = [&out](const std::string& faction, int64_t value) {
      pb::FactionStanding* f = out.add_standings();
      f->set_faction_id(faction);
      f->set_standing(static_cast<int32_t>(value));
      f->set_tier(std::string(Tier(value)));
    };
    if (!rq.faction_id().empty()) {  // W18: exactly one entry; a missing one is 0 / neutral
      auto it = stored.find(rq.faction_id());
      add(rq.faction_id(), it == stored.end() ? 0 : it->second);
    } else {
      for (const auto& [faction, value] : stored) add(faction, value);  // by faction_id
    }
    std::move(done)(std::move(out));
  });
}

void WorldStateLogic::PublishControlChanges(const CallContext& ctx, const std::string& material,
                                            const std::vector<ControlChange>& changes) {
  for (const ControlChange& change : changes) {
    pb::RegionControlChangedEvent event;
    event.set_region_id(change.region_id);
    event.set_from(change.from);
    event.set_to(change.to);
    Publish(ctx, "region_control_changed", material + ":" + change.region_id, event);
  }
}

void WorldStateLogic::Publish(const CallContext& ctx, std::string_view event_name,
                              const std::string& material, google::protobuf::Message& event) {
  // After the commit; a publish error does not undo it (event_publisher.h).
  absl::StatusOr<Event> built =
      MakeEvent(kServiceName, event_name, MakeEventId(kServiceName, event_name, material),
                ctx.now_ms(), event);
  if (built.ok()) events_.Publish(std::move(*built), nullptr);
}

}  // namespace sidecar::services::world_state
