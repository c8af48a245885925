#include "services/quest_system/quest_system_logic.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/common/errors.h"
#include "services/common/pagination.h"
#include "services/common/strings_internal.h"
#include "services/common/cas_update.h"
#include "services/quest_system/quest_system_store.h"

namespace sidecar::services::quest_system {
namespace {

bool AllDone(const std::map<std::string, int32_t>& progress, const QuestDef& def) {
  for (const pb::Objective& o : def.def.objectives()) {
    auto it = progress.find(o.objective_id());
    if (it == progress.end() || it->second < o.required()) return false;
  }
  return true;
}

bool HasObjective(const QuestDef& def, const std::string& objective_id) {
  for (const pb::Objective& o : def.def.objectives()) {
    if (o.objective_id() == objective_id) return true;
  }
  return false;
}

// Unique per occurrence, so a retried publish is de-duplicated by the stream.
std::string Occurrence(const std::string& player_id, const std::string& quest_id,
                       const PlayerQuest& pq, int64_t now_ms) {
  return absl::StrCat(player_id, ":", quest_id, ":", pq.completions, ":", now_ms);
}

}  // namespace

QuestSystemLogic::QuestSystemLogic(StateStore& store, EventPublisher& events)
    : store_(store),
      events_(events),
      idempotency_(store, Idempotency::Options{.service = std::string(kServiceName)}) {}

void QuestSystemLogic::LoadQuest(const CallContext& ctx, const std::string& quest_id,
                                 Done<QuestDef> done) {
  ReadValue(store_, QuestKey(quest_id), ctx.now_ms(),
            [done = std::move(done)](absl::StatusOr<std::optional<std::string>> value) mutable {
              if (!value.ok()) return std::move(done)(value.status());
              if (!value->has_value())
                return std::move(done)(NotFound("quest_id", "unknown quest"));
              std::move(done)(DecodeQuestDef(**value));
            });
}

void QuestSystemLogic::LoadAllQuests(const CallContext& ctx,
                                     Done<std::map<std::string, QuestDef>> done) {
  store_.List(std::string(kQuestPrefix), ctx.now_ms(),
              [done = std::move(done)](absl::StatusOr<std::vector<StoreEntry>> listed) mutable {
                if (!listed.ok()) return std::move(done)(listed.status());
                std::map<std::string, QuestDef> defs;
                for (const StoreEntry& e : *listed) {
                  absl::StatusOr<QuestDef> def = DecodeQuestDef(e.value);
                  if (!def.ok()) return std::move(done)(def.status());
                  defs[def->def.quest_id()] = std::move(*def);
                }
                std::move(done)(std::move(defs));
              });
}

void QuestSystemLogic::UpdatePlayer(const CallContext& ctx, const std::string& player_id,
                                    const std::string& quest_id, Change change,
                                    Done<PlayerQuest> done) {
  CasUpdate<PlayerQuest>(
      store_, queue_, PlayerKey(player_id), ctx.now_ms(),
      [quest_id, change = std::move(change)](const std::optional<std::string>& current) mutable
      -> absl::StatusOr<Planned<PlayerQuest>> {
        absl::StatusOr<PlayerQuests> quests = DecodePlayerQuests(current);
        if (!quests.ok()) return quests.status();
        if (absl::Status s = change(*quests); !s.ok()) return s;
        Planned<PlayerQuest> planned;
        planned.result = quests->quests.at(quest_id);
        planned.new_value = EncodePlayerQuests(*quests);
        return planned;
      },
      std::move(done));
}

// ---- put_quest ----

void QuestSystemLogic::PutQuest(const CallContext& ctx, const pb::PutQuestRequest& rq,
                                Done<pb::PutQuestResponse> done) {
  absl::Status s = CheckPutQuest(rq);
  if (s.ok()) s = ctx.AuthorizeWrite();
  if (s.ok()) s = CheckSelfPrerequisite(rq);  // Q1: a self-reference is a cycle, checked first
  if (!s.ok()) return std::move(done)(s);
  LoadAllQuests(ctx, [this, ctx, rq, done = std::move(done)](
                         absl::StatusOr<std::map<std::string, QuestDef>> defs) mutable {
    if (!defs.ok()) return std::move(done)(defs.status());
    absl::Status s = CheckPrerequisitesDefined(rq, *defs);  // N20: NOT_FOUND prerequisites[i]
    if (s.ok()) s = CheckNoCycle(rq, *defs);
    if (!s.ok()) return std::move(done)(s);
    CasUpdate<pb::PutQuestResponse>(
        store_, queue_, QuestKey(rq.quest_id()), ctx.now_ms(),
        [rq](const std::optional<std::string>& current)
            -> absl::StatusOr<Planned<pb::PutQuestResponse>> {
          std::optional<QuestDef> previous;
          if (current.has_value()) {
            absl::StatusOr<QuestDef> decoded = DecodeQuestDef(*current);
            if (!decoded.ok()) return decoded.status();
            previous = std::move(*decoded);
          }
          QuestDef next = NextDefinition(rq, previous);  // rule 6: replace, version +1
          Planned<pb::PutQuestResponse> planned;
          planned.result.set_quest_id(rq.quest_id());
          planned.result.set_version(next.version);
          planned.new_value = EncodeQuestDef(next);
          return planned;
        },
        std::move(done));
  });
}

// ---- accept ----

void QuestSystemLogic::Accept(const CallContext& ctx, const pb::AcceptRequest& rq,
                              Done<pb::AcceptResponse> done) {
  absl::Status s = CheckAccept(rq);
  if (s.ok()) s = ctx.AuthorizePlayer(rq.player_id(), /*is_write=*/true);
  if (!s.ok()) return std::move(done)(s);
  LoadQuest(ctx, rq.quest_id(),
            [this, ctx, rq, done = std::move(done)](absl::StatusOr<QuestDef> def) mutable {
              if (!def.ok()) return std::move(done)(def.status());
              auto shared_def = std::make_shared<QuestDef>(std::move(*def));
              const int64_t now = ctx.now_ms();
              UpdatePlayer(
                  ctx, rq.player_id(), rq.quest_id(),
                  [shared_def, level = rq.player_level(), now](PlayerQuests& quests) {
                    return quest_system::Accept(quests, *shared_def, level, now);
                  },
                  [this, ctx, rq, done = std::move(done)](absl::StatusOr<PlayerQuest> pq) mutable {
                    if (!pq.ok()) return std::move(done)(pq.status());
                    pb::QuestAcceptedEvent event;
                    event.set_player_id(rq.player_id());
                    event.set_quest_id(rq.quest_id());
                    Publish(ctx, "quest_accepted",
                            Occurrence(rq.player_id(), rq.quest_id(), *pq, ctx.now_ms()), event);
                    pb::AcceptResponse out;
                    out.set_quest_id(rq.quest_id());
                    out.set_status(pq->status);
                    for (const auto& [id, value] : pq->progress)
                      (*out.mutable_progress())[id] = value;
                    std::move(done)(std::move(out));
                  });
            });
}

// ---- record_progress ----

void QuestSystemLogic::RecordProgress(const CallContext& ctx, const pb::RecordProgressRequest& rq,
                                      Done<pb::RecordProgressResponse> done) {
  absl::Status s = CheckRecordProgress(rq);
  if (s.ok()) s = ctx.AuthorizePlayer(rq.player_id(), /*is_write=*/true);
  if (!s.ok()) return std::move(done)(s);
  LoadQuest(ctx, rq.quest_id(),
            [this, ctx, rq, done = std::move(done)](absl::StatusOr<QuestDef> def) mutable {
              if (!def.ok()) return std::move(done)(def.status());
              if (!HasObjective(*def, rq.objective_id())) {
                return std::move(done)(NotFound("objective_id", "unknown objective"));
              }
              auto shared_def = std::make_shared<QuestDef>(std::move(*def));
              // Rule 3: idempotency after NOT_FOUND, before not_active.
              idempotency_.Run<pb::RecordProgressResponse>(
                  ctx, "record_progress", rq.idempotency_key(), rq,
                  [this, ctx, rq, shared_def](Done<pb::RecordProgressResponse> body_done) mutable {
                    UpdatePlayer(
                        ctx, rq.player_id(), rq.quest_id(),
                        [shared_def, objective = rq.objective_id(),
                         amount = rq.amount()](PlayerQuests& q) {
                          return quest_system::RecordProgress(q, *shared_def, objective, amount);
                        },
                        [shared_def,
                         body_done = std::move(body_done)](absl::StatusOr<PlayerQuest> pq) mutable {
                          if (!pq.ok()) return std::move(body_done)(pq.status());
                          pb::RecordProgressResponse out;
                          for (const auto& [id, value] : pq->progress)
                            (*out.mutable_progress())[id] = value;
                          out.set_all_done(AllDone(pq->progress, *shared_def));
                          out.set_replayed(false);
                          std::move(body_done)(std::move(out));
                        });
                  },
                  [](pb::RecordProgressResponse& r) { r.set_replayed(true); }, std::move(done));
            });
}

// ---- complete / revert_completion ----

void QuestSystemLogic::Complete(const CallContext& ctx, const pb::CompleteRequest& rq,
                                Done<pb::CompleteResponse> done) {
  absl::Status s = CheckPlayerQuest(rq.player_id(), rq.quest_id());
  if (s.ok()) s = ctx.AuthorizeWrite();  // rule 4: service/admin only
  if (!s.ok()) return std::move(done)(s);
  LoadQuest(ctx, rq.quest_id(),
            [this, ctx, rq, done = std::move(done)](absl::StatusOr<QuestDef> def) mutable {
              if (!def.ok()) return std::move(done)(def.status());
              auto shared_def = std::make_shared<QuestDef>(std::move(*def));
              const int64_t now = ctx.now_ms();
              UpdatePlayer(
                  ctx, rq.player_id(), rq.quest_id(),
                  [shared_def, now](PlayerQuests& quests) {
                    return quest_system::Complete(quests, *shared_def, now);
                  },
                  [this, ctx, rq, shared_def,
                   done = std::move(done)](absl::StatusOr<PlayerQuest> pq) mutable {
                    if (!pq.ok()) return std::move(done)(pq.status());
                    pb::QuestCompletedEvent event;
                    event.set_player_id(rq.player_id());
                    event.set_quest_id(rq.quest_id());
                    event.set_completions(pq->completions);
                    Publish(ctx, "quest_completed",
                            Occurrence(rq.player_id(), rq.quest_id(), *pq, ctx.now_ms()), event);
                    pb::CompleteResponse out;
                    out.set_quest_id(rq.quest_id());
                    out.set_status(pq->status);
                    out.set_completions(pq->completions);
                    *out.mutable_rewards() =
                        shared_def->def.rewards();  // rule 4: reported, not granted
                    std::move(done)(std::move(out));
                  });
            });
}

void QuestSystemLogic::RevertCompletion(const CallContext& ctx,
                                        const pb::RevertCompletionRequest& rq,
                                        Done<pb::RevertCompletionResponse> done) {
  absl::Status s = CheckPlayerQuest(rq.player_id(), rq.quest_id());
  if (s.ok()) s = ctx.AuthorizeWrite();  // rule 5: service/admin only
  if (!s.ok()) return std::move(done)(s);
  LoadQuest(ctx, rq.quest_id(),
            [this, ctx, rq, done = std::move(done)](absl::StatusOr<QuestDef> def) mutable {
              if (!def.ok()) return std::move(done)(def.status());
              auto shared_def = std::make_shared<QuestDef>(std::move(*def));
              UpdatePlayer(
                  ctx, rq.player_id(), rq.quest_id(),
                  [shared_def](PlayerQuests& quests) {
                    return quest_system::RevertCompletion(quests, *shared_def);
                  },
                  [this, ctx, rq, done = std::move(done)](absl::StatusOr<PlayerQuest> pq) mutable {
                    if (!pq.ok()) return std::move(done)(pq.status());
                    pb::QuestCompletionRevertedEvent event;
                    event.set_player_id(rq.player_id());
                    event.set_quest_id(rq.quest_id());
                    Publish(
                        ctx, "quest_completion_reverted",
                        absl::StrCat(Occurrence(rq.player_id(), rq.quest_id(), *pq, ctx.now_ms()),
                                     ":revert"),
                        event);
                    pb::RevertCompletionResponse out;
                    out.set_quest_id(rq.quest_id());
                    out.set_status(pq->status);
                    out.set_completions(pq->completions);
                    std::move(done)(std::move(out));
                  });
            });
}

// ---- list_player_quests ----

void QuestSystemLogic::ListPlayerQuests(const CallContext& ctx,
                                        const pb::ListPlayerQuestsRequest& rq,
                                        Done<pb::ListPlayerQuestsResponse> done) {
  absl::Status s = CheckListPlayerQuests(rq);
  absl::StatusOr<int32_t> page_size = ResolvePageSize(rq.page_size());
  if (s.ok() && !page_size.ok()) s = page_size.status();
  absl::StatusOr<std::optional<std::string>> after = DecodeStringPageToken(rq.page_token());
  if (s.ok() && !after.ok()) s = after.status();
  if (s.ok()) s = ctx.AuthorizePlayer(rq.player_id(), /*is_write=*/false);
  if (!s.ok()) return std::move(done)(s);
  LoadAllQuests(ctx, [this, ctx, rq, size = *page_size, after = *after, done = std::move(done)](
                         absl::StatusOr<std::map<std::string, QuestDef>> defs) mutable {
    if (!defs.ok()) return std::move(done)(defs.status());
    ReadValue(store_, PlayerKey(rq.player_id()), ctx.now_ms(),
              [rq, size, after, defs = std::move(*defs),
               done = std::move(done)](absl::StatusOr<std::optional<std::string>> value) mutable {
                if (!value.ok()) return std::move(done)(value.status());
                absl::StatusOr<PlayerQuests> quests = DecodePlayerQuests(*value);
                if (!quests.ok()) return std::move(done)(quests.status());
                std::vector<pb::PlayerQuest> items;  // by quest_id (rule 6)
                for (const auto& [quest_id, pq] : quests->quests) {
                  if (!rq.status().empty() && pq.status != rq.status()) continue;
                  auto def = defs.find(quest_id);
                  items.push_back(PlayerQuestMessage(rq.player_id(), quest_id, pq,
                                                     def == defs.end() ? nullptr : &def->second));
                }
                std::function<bool(const pb::PlayerQuest&)> after_token;
                if (after.has_value()) {
                  after_token = [key = *after](const pb::PlayerQuest& q) {
                    return q.quest_id() > key;
                  };
                }
                Page<pb::PlayerQuest> page = Paginate<pb::PlayerQuest>(
                    std::move(items), size, after_token,
                    [](const pb::PlayerQuest& q) { return EncodePageToken(q.quest_id()); });
                pb::ListPlayerQuestsResponse out;
                for (pb::PlayerQuest& q : page.items) *out.add_quests() = std::move(q);
                out.set_next_page_token(page.next_page_token);
                std::move(done)(std::move(out));
              });
  });
}

void QuestSystemLogic::Publish(const CallContext& ctx, std::string_view event_name,
                               const std::string& material, google::protobuf::Message& event) {
  absl::StatusOr<Event> built =
      MakeEvent(kServiceName, event_name, MakeEventId(kServiceName, event_name, material),
                ctx.now_ms(), event);
  if (built.ok()) events_.Publish(std::move(*built), nullptr);
}

}  // namespace sidecar::services::quest_system
