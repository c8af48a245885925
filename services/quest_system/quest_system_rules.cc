#include "services/quest_system/quest_system_rules.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_join.h"
#include "services/common/errors.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::quest_system {
namespace {

const Pattern& QuestIdPattern() {
  static const Pattern* p = new Pattern(R"(q\.[a-z0-9_]{1,48})");
  return *p;
}
const Pattern& PlayerIdPattern() {
  static const Pattern* p = new Pattern("pl_[0-9a-f]{16}");
  return *p;
}

const std::vector<std::string_view> kKinds = {"kill", "collect", "visit", "talk", "deliver"};
const std::vector<std::string_view> kCurrencies = {"GLD", "SHD"};
const std::vector<std::string_view> kStatuses = {"active", "completed"};
constexpr int64_t kMaxCurrencyReward = 1'000'000'000;
constexpr int32_t kMaxStandingReward = 1000;

absl::Status CheckPrerequisites(const pb::PutQuestRequest& rq) {
  RETURN_IF_ERROR(CheckCount("prerequisites", rq.prerequisites_size(), {.max = 10}));
  std::set<std::string> seen;
  for (int i = 0; i < rq.prerequisites_size(); ++i) {
    const std::string field = IndexField("prerequisites", i);
    if (rq.prerequisites(i).empty()) return InvalidArgument(field, reason::kTooShort);
    RETURN_IF_ERROR(CheckQuestId(field, rq.prerequisites(i)));
    // Q4: a duplicate is `malformed` on the later entry.
    if (!seen.insert(rq.prerequisites(i)).second) return InvalidArgument(field, reason::kMalformed);
  }
  return absl::OkStatus();
}

absl::Status CheckObjectives(const pb::PutQuestRequest& rq) {
  RETURN_IF_ERROR(CheckCount("objectives", rq.objectives_size(), {.required = true, .max = 10}));
  std::set<std::string> seen;
  for (int i = 0; i < rq.objectives_size(); ++i) {
    const pb::Objective& o = rq.objectives(i);
    const std::string field = IndexField("objectives", i);
    const std::string id_field = KeyField(field, "objective_id");
    RETURN_IF_ERROR(CheckString(id_field, o.objective_id(),
                                {.required = true, .max_len = 32, .char_class = "a-z0-9_"}));
    if (!seen.insert(o.objective_id()).second) return InvalidArgument(id_field, reason::kMalformed);
    RETURN_IF_ERROR(
        CheckString(KeyField(field, "kind"), o.kind(), {.required = true, .allowed = kKinds}));
    RETURN_IF_ERROR(
        CheckString(KeyField(field, "target"), o.target(), {.required = true, .max_len = 64}));
    RETURN_IF_ERROR(CheckInt(KeyField(field, "required"), o.required(), 1, 10000));
  }
  return absl::OkStatus();
}

absl::Status CheckRewards(const pb::Rewards& rewards) {
  RETURN_IF_ERROR(CheckCount("rewards.currency", rewards.currency_size(), {.max = 4}));
  for (int i = 0; i < rewards.currency_size(); ++i) {
    const std::string field = IndexField("rewards.currency", i);
    const pb::CurrencyReward& c = rewards.currency(i);
    RETURN_IF_ERROR(CheckString(KeyField(field, "currency"), c.currency(),
                                {.required = true, .allowed = kCurrencies}));
    RETURN_IF_ERROR(
        CheckInt(KeyField(field, "amount_minor"), c.amount_minor(), 1, kMaxCurrencyReward));
  }
  RETURN_IF_ERROR(CheckCount("rewards.standing", rewards.standing_size(), {.max = 4}));
  for (int i = 0; i < rewards.standing_size(); ++i) {
    const std::string field = IndexField("rewards.standing", i);
    const pb::StandingReward& s = rewards.standing(i);
    RETURN_IF_ERROR(CheckString(KeyField(field, "faction_id"), s.faction_id(),
                                {.required = true, .max_len = 32, .char_class = "a-z0-9_"}));  // Q3
    // Q5: ±1-1000, so 0 is out of range too.
    if (s.delta() == 0 || s.delta() < -kMaxStandingReward || s.delta() > kMaxStandingReward) {
      return InvalidArgument(KeyField(field, "delta"), reason::kOutOfRange);
    }
  }
  return absl::OkStatus();
}

bool HasCompleted(const PlayerQuests& quests, const std::string& quest_id) {
  auto it = quests.quests.find(quest_id);
  return it != quests.quests.end() && it->second.completions > 0;
}

size_t ActiveCount(const PlayerQuests& quests) {
  return std::count_if(quests.quests.begin(), quests.quests.end(),
                       [](const auto& entry) { return entry.second.status == "active"; });
}

// The player's quest if it is active, else nullptr.
PlayerQuest* ActiveQuest(PlayerQuests& quests, const std::string& quest_id) {
  auto it = quests.quests.find(quest_id);
  if (it == quests.quests.end() || it->second.status != "active") return nullptr;
  return &it->second;
}

void SyncProgress(PlayerQuest& pq, const QuestDef& def) {
  pq.progress = CurrentProgress(pq, def);
  pq.def_version = def.version;
}

}  // namespace

absl::Status CheckQuestId(std::string_view field, std::string_view quest_id) {
  // q\.[a-z0-9_]{1,48}: 3-50 chars (the pattern's finite bounds, R4).
  return CheckString(field, quest_id,
                     {.required = true, .min_len = 3, .max_len = 50, .pattern = &QuestIdPattern()});
}

absl::Status CheckPlayerId(std::string_view player_id) {
  // Q2: any syntax failure is `pattern`.
  if (player_id.empty()) return InvalidArgument("player_id", reason::kRequired);
  if (!PlayerIdPattern().Matches(player_id)) return InvalidArgument("player_id", reason::kPattern);
  return absl::OkStatus();
}

absl::Status CheckPutQuest(const pb::PutQuestRequest& rq) {
  RETURN_IF_ERROR(CheckQuestId("quest_id", rq.quest_id()));
  RETURN_IF_ERROR(CheckString("title", rq.title(), {.required = true, .max_len = 120}));
  RETURN_IF_ERROR(CheckInt("min_level", rq.min_level(), 1, 100));
  RETURN_IF_ERROR(CheckPrerequisites(rq));
  RETURN_IF_ERROR(CheckObjectives(rq));
  return CheckRewards(rq.rewards());
}

absl::Status CheckPlayerQuest(const std::string& player_id, const std::string& quest_id) {
  RETURN_IF_ERROR(CheckPlayerId(player_id));
  return CheckQuestId("quest_id", quest_id);
}

absl::Status CheckAccept(const pb::AcceptRequest& rq) {
  RETURN_IF_ERROR(CheckPlayerQuest(rq.player_id(), rq.quest_id()));
  return CheckInt("player_level", rq.player_level(), 0, 1000);  // Q6
}

absl::Status CheckRecordProgress(const pb::RecordProgressRequest& rq) {
  RETURN_IF_ERROR(CheckPlayerQuest(rq.player_id(), rq.quest_id()));
  RETURN_IF_ERROR(CheckString("objective_id", rq.objective_id(),
                              {.required = true, .max_len = 32, .char_class = "a-z0-9_"}));
  RETURN_IF_ERROR(CheckInt("amount", rq.amount(), 1, 1000));
  return CheckString("idempotency_key", rq.idempotency_key(),
                     {.required = true, .max_len = 64, .char_class = "A-Za-z0-9_.:-"});
}

absl::Status CheckListPlayerQuests(const pb::ListPlayerQuestsRequest& rq) {
  RETURN_IF_ERROR(CheckPlayerId(rq.player_id()));
  return CheckString("status", rq.status(), {.allowed = kStatuses});  // "" = all
}

absl::Status CheckSelfPrerequisite(const pb::PutQuestRequest& rq) {
  for (const std::string& p : rq.prerequisites()) {
    if (p == rq.quest_id())
      return FailedPrecondition("prerequisite_cycle", {}, "prerequisite cycle");
  }
  return absl::OkStatus();
}

absl::Status CheckPrerequisitesDefined(const pb::PutQuestRequest& rq,
                                       const std::map<std::string, QuestDef>& defs) {
  for (int i = 0; i < rq.prerequisites_size(); ++i) {
    if (defs.count(rq.prerequisites(i)) == 0) {
      return NotFound(IndexField("prerequisites", i), "undefined prerequisite");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckNoCycle(const pb::PutQuestRequest& rq,
                          const std::map<std::string, QuestDef>& defs) {
  // A cycle through the new definition is a path from one of its prerequisites back to it.
  std::vector<std::string> stack(rq.prerequisites().begin(), rq.prerequisites().end());
  std::set<std::string> visited;
  while (!stack.empty()) {
    std::string id = std::move(stack.back());
    stack.pop_back();
    if (id == rq.quest_id())
      return FailedPrecondition("prerequisite_cycle", {}, "prerequisite cycle");
    if (!visited.insert(id).second) continue;
    auto it = defs.find(id);
    if (it == defs.end()) continue;
    for (const std::string& next : it->second.def.prerequisites()) stack.push_back(next);
  }
  return absl::OkStatus();
}

QuestDef NextDefinition(const pb::PutQuestRequest& rq, const std::optional<QuestDef>& previous) {
  QuestDef next;
  next.def = rq;
  next.version = previous ? previous->version + 1 : 1;
  for (const pb::Objective& o : rq.objectives()) {
    std::vector<RequiredSince> history;
    if (previous) {
      auto it = previous->history.find(o.objective_id());
      if (it != previous->history.end()) history = it->second;  // kept objective
    }
    if (history.empty() || history.back().required != o.required()) {
      history.push_back({next.version, o.required()});
    }
    next.history[o.objective_id()] = std::move(history);  // removed objectives drop out
  }
  return next;
}

std::map<std::string, int32_t> CurrentProgress(const PlayerQuest& pq, const QuestDef& def) {
  std::map<std::string, int32_t> progress;
  for (const pb::Objective& o : def.def.objectives()) {
    auto history = def.history.find(o.objective_id());
    const int64_t since = history == def.history.end() || history->second.empty()
                              ? def.version
                              : history->second.front().version;
    int32_t value = 0;
    if (pq.def_version >= since) {  // the objective existed when this progress was written
      auto stored = pq.progress.find(o.objective_id());
      if (stored != pq.progress.end()) value = stored->second;
      if (history != def.history.end()) {
        for (const RequiredSince& r : history->second) {
          if (r.version > pq.def_version) value = std::min(value, r.required);  // Q11
        }
      }
    }
    progress[o.objective_id()] = std::min(value, o.required());
  }
  return progress;
}

absl::Status Accept(PlayerQuests& quests, const QuestDef& def, int32_t player_level,
                    int64_t now_ms) {
  const pb::PutQuestRequest& q = def.def;
  if (player_level < q.min_level()) return FailedPrecondition("level_too_low", {}, "level too low");
  std::vector<std::string> missing;
  for (const std::string& p : q.prerequisites()) {
    if (!HasCompleted(quests, p)) missing.push_back(p);
  }
  if (!missing.empty()) {
    std::sort(missing.begin(), missing.end());
    return FailedPrecondition("prerequisites_unmet", {{"missing", absl::StrJoin(missing, ",")}},
                              "prerequisites not met");
  }
  auto it = quests.quests.find(q.quest_id());
  if (it != quests.quests.end() && it->second.status == "active") {
    return AlreadyExists("quest_id", "quest already active");
  }
  if (it != quests.quests.end() && it->second.completions > 0 && !q.repeatable()) {
    return FailedPrecondition("already_completed", {}, "quest already completed");
  }
  if (ActiveCount(quests) >= kMaxActiveQuests)
    return LimitExceeded(kMaxActiveQuests, "too many active quests");
  PlayerQuest& pq = quests.quests[q.quest_id()];  // keeps completions of a repeatable quest
  pq.status = "active";
  pq.progress.clear();
  for (const pb::Objective& o : q.objectives()) pq.progress[o.objective_id()] = 0;  // N21
  pq.accepted_at = now_ms;                                                          // Q10
  pq.completed_at = 0;
  pq.def_version = def.version;
  return absl::OkStatus();
}

absl::Status RecordProgress(PlayerQuests& quests, const QuestDef& def,
                            const std::string& objective_id, int32_t amount) {
  PlayerQuest* pq = ActiveQuest(quests, def.def.quest_id());
  if (pq == nullptr) return FailedPrecondition("not_active", {}, "quest not active");
  SyncProgress(*pq, def);
  for (const pb::Objective& o : def.def.objectives()) {
    if (o.objective_id() != objective_id) continue;
    int32_t& value = pq->progress[objective_id];
    value = static_cast<int32_t>(std::min<int64_t>(o.required(), int64_t{value} + amount));
  }
  return absl::OkStatus();
}

absl::Status Complete(PlayerQuests& quests, const QuestDef& def, int64_t now_ms) {
  PlayerQuest* pq = ActiveQuest(quests, def.def.quest_id());
  if (pq == nullptr) return FailedPrecondition("not_active", {}, "quest not active");  // Q7
  SyncProgress(*pq, def);
  std::vector<std::string> incomplete;
  for (const pb::Objective& o : def.def.objectives()) {  // Q8: definition order
    if (pq->progress[o.objective_id()] < o.required()) incomplete.push_back(o.objective_id());
  }
  if (!incomplete.empty()) {
    return FailedPrecondition("objectives_incomplete",
                              {{"incomplete", absl::StrJoin(incomplete, ",")}},
                              "objectives incomplete");
  }
  pq->status = "completed";
  pq->completions += 1;
  pq->completed_at = now_ms;
  return absl::OkStatus();
}

absl::Status RevertCompletion(PlayerQuests& quests, const QuestDef& def) {
  auto it = quests.quests.find(def.def.quest_id());
  if (it == quests.quests.end() || it->second.status != "completed") {
    return FailedPrecondition("not_completed", {}, "quest not completed");  // Q9
  }
  PlayerQuest& pq = it->second;
  SyncProgress(pq, def);  // progress kept (rule 5)
  pq.status = "active";
  pq.completions -= 1;
  pq.completed_at = 0;  // Q10
  return absl::OkStatus();
}

pb::PlayerQuest PlayerQuestMessage(const std::string& player_id, const std::string& quest_id,
                                   const PlayerQuest& pq, const QuestDef* def) {
  pb::PlayerQuest out;
  out.set_player_id(player_id);
  out.set_quest_id(quest_id);
  out.set_status(pq.status);
  const std::map<std::string, int32_t> progress = def ? CurrentProgress(pq, *def) : pq.progress;
  for (const auto& [id, value] : progress) (*out.mutable_progress())[id] = value;
  out.set_completions(pq.completions);
  out.set_accepted_at(pq.accepted_at);
  out.set_completed_at(pq.completed_at);
  return out;
}

}  // namespace sidecar::services::quest_system
