#include "services/npc_behavior/npc_behavior_logic.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/common/errors.h"
#include "services/common/cas_update.h"
#include "services/npc_behavior/npc_behavior_store.h"

namespace sidecar::services::npc_behavior {
namespace {

pb::Npc NpcOf(const pb::PutNpcRequest& rq) {
  pb::Npc npc;
  npc.set_npc_id(rq.npc_id());
  npc.set_archetype(rq.archetype());
  *npc.mutable_traits() = rq.traits();
  *npc.mutable_needs() = rq.needs();
  *npc.mutable_allowed_actions() = rq.allowed_actions();  // given order (NB3)
  npc.set_home_region(rq.home_region());
  return npc;
}

}  // namespace

NpcBehaviorLogic::NpcBehaviorLogic(StateStore& store, EventPublisher& events)
    : store_(store),
      events_(events),
      idempotency_(store, Idempotency::Options{.service = std::string(kServiceName),
                                               .retention_ms = kInteractionRetentionMs,
                                               .conflict_field = "interaction_id",
                                               .scope_by_principal = false}) {}  // NB7

void NpcBehaviorLogic::LoadNpc(const CallContext& ctx, const std::string& npc_id,
                               const std::string& player_id, Done<NpcView> done) {
  ReadValue(store_, NpcKey(npc_id), ctx.now_ms(),
            [this, ctx, npc_id, player_id,
             done = std::move(done)](absl::StatusOr<std::optional<std::string>> value) mutable {
              if (!value.ok()) return std::move(done)(value.status());
              if (!value->has_value()) return std::move(done)(NotFound("npc_id", "unknown npc"));
              NpcView view;
              if (!view.npc.ParseFromString(**value))
                return std::move(done)(Internal("corrupt npc"));
              if (player_id.empty()) return std::move(done)(std::move(view));
              ReadValue(store_, DispositionKey(npc_id, player_id), ctx.now_ms(),
                        [view = std::move(view), done = std::move(done)](
                            absl::StatusOr<std::optional<std::string>> disp) mutable {
                          if (!disp.ok()) return std::move(done)(disp.status());
                          absl::StatusOr<int32_t> d = DecodeDisposition(*disp);
                          if (!d.ok()) return std::move(done)(d.status());
                          view.disposition = *d;
                          std::move(done)(std::move(view));
                        });
            });
}

void NpcBehaviorLogic::PutNpc(const CallContext& ctx, const pb::PutNpcRequest& rq,
                              Done<pb::PutNpcResponse> done) {
  absl::Status s = CheckPutNpc(rq);
  if (s.ok()) s = ctx.AuthorizeWrite();
  if (!s.ok()) return std::move(done)(s);
  // NB10: a full replace; dispositions and interaction records are kept; no event.
  store_.Put(NpcKey(rq.npc_id()), NpcOf(rq).SerializeAsString(), {},
             [id = rq.npc_id(), done = std::move(done)](absl::StatusOr<uint64_t> written) mutable {
               if (!written.ok()) return std::move(done)(written.status());
               pb::PutNpcResponse out;
               out.set_npc_id(id);
               std::move(done)(std::move(out));
             });
}

void NpcBehaviorLogic::GetNpc(const CallContext& ctx, const pb::GetNpcRequest& rq,
                              Done<pb::GetNpcResponse> done) {
  absl::Status s = CheckNpcId(rq.npc_id());
  if (s.ok()) s = CheckPlayerId(rq.player_id(), /*required=*/false);
  if (s.ok()) s = ctx.AuthorizePlayer(rq.player_id(), /*is_write=*/false);  // NB4
  if (!s.ok()) return std::move(done)(s);
  LoadNpc(ctx, rq.npc_id(), rq.player_id(),
          [done = std::move(done)](absl::StatusOr<NpcView> view) mutable {
            if (!view.ok()) return std::move(done)(view.status());
            pb::GetNpcResponse out;
            *out.mutable_npc() = std::move(view->npc);
            out.set_disposition(view->disposition);
            std::move(done)(std::move(out));
          });
}

void NpcBehaviorLogic::Decide(const CallContext& ctx, const pb::DecideRequest& rq,
                              Done<pb::DecideResponse> done) {
  absl::Status s = CheckDecide(rq);
  if (s.ok()) s = ctx.AuthorizePlayer(rq.player_id(), /*is_write=*/false);  // NB4: a read
  if (!s.ok()) return std::move(done)(s);
  LoadNpc(ctx, rq.npc_id(), rq.player_id(),
          [rq, done = std::move(done)](absl::StatusOr<NpcView> view) mutable {
            if (!view.ok()) return std::move(done)(view.status());
            Decision decision = npc_behavior::Decide(view->npc, rq, view->disposition);
            pb::DecideResponse out;
            out.set_npc_id(rq.npc_id());
            out.set_action(decision.action);
            for (const auto& [action, score] : decision.scores)
              (*out.mutable_scores())[action] = score;
            out.set_disposition(view->disposition);
            std::move(done)(std::move(out));
          });
}

void NpcBehaviorLogic::RecordInteraction(const CallContext& ctx,
                                         const pb::RecordInteractionRequest& rq,
                                         Done<pb::RecordInteractionResponse> done) {
  absl::Status s = CheckRecordInteraction(rq);
  if (s.ok()) s = ctx.AuthorizePlayer(rq.player_id(), /*is_write=*/true);  // rule 4: player-scoped
  if (!s.ok()) return std::move(done)(s);
  LoadNpc(ctx, rq.npc_id(), "",
          [this, ctx, rq, done = std::move(done)](absl::StatusOr<NpcView> view) mutable {
            if (!view.ok()) return std::move(done)(view.status());  // NB8: NOT_FOUND npc_id
            const int32_t change = InteractionDelta(view->npc, rq.kind(), rq.magnitude());
            idempotency_.Run<pb::RecordInteractionResponse>(
                ctx, "record_interaction", rq.interaction_id(), rq,
                [this, ctx, rq, change](Done<pb::RecordInteractionResponse> body_done) mutable {
                  CasUpdate<pb::RecordInteractionResponse>(
                      store_, queue_, DispositionKey(rq.npc_id(), rq.player_id()), ctx.now_ms(),
                      [rq, change](const std::optional<std::string>& current)
                          -> absl::StatusOr<Planned<pb::RecordInteractionResponse>> {
                        absl::StatusOr<int32_t> old = DecodeDisposition(current);
                        if (!old.ok()) return old.status();
                        const int32_t now = ClampDisposition(int64_t{*old} + change);
                        Planned<pb::RecordInteractionResponse> planned;
                        planned.result.set_npc_id(rq.npc_id());
                        planned.result.set_player_id(rq.player_id());
                        planned.result.set_delta(now - *old);  // NB9: the applied change, may be 0
                        planned.result.set_disposition(now);
                        planned.result.set_replayed(false);
                        planned.new_value = std::to_string(now);  // stored either way (NB9)
                        return planned;
                      },
                      [this, ctx, rq, body_done = std::move(body_done)](
                          absl::StatusOr<pb::RecordInteractionResponse> r) mutable {
                        if (r.ok() && r->delta() != 0) {  // NB9: only a real change is an event
                          pb::DispositionChangedEvent event;
                          event.set_npc_id(r->npc_id());
                          event.set_player_id(r->player_id());
                          event.set_disposition(r->disposition());
                          event.set_delta(r->delta());
                          const std::string name = "disposition_changed";
                          absl::StatusOr<Event> built =
                              MakeEvent(kServiceName, name,
                                        MakeEventId(kServiceName, name, rq.interaction_id()),
                                        ctx.now_ms(), event);
                          if (built.ok()) events_.Publish(std::move(*built), nullptr);
                        }
                        std::move(body_done)(std::move(r));
                      });
                },
                [](pb::RecordInteractionResponse& r) { r.set_replayed(true); }, std::move(done));
          });
}

}  // namespace sidecar::services::npc_behavior
