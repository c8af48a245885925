#include "services/quest_system/quest_system_store.h"

#include <cmath>
#include <utility>

#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "services/common/errors.h"
#include "services/common/jcs.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::quest_system {
namespace {

using Json = nlohmann::json;

const Json& Member(const Json& j, const char* key) {
  static const Json* null = new Json();
  if (!j.is_object()) return *null;
  auto it = j.find(key);
  return it == j.end() ? *null : *it;
}
int64_t Int(const Json& j, const char* key) {
  const Json& v = Member(j, key);
  return v.is_number() ? static_cast<int64_t>(v.get<double>()) : 0;
}
std::string Str(const Json& j, const char* key) {
  const Json& v = Member(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

absl::StatusOr<pb::PutQuestRequest> DefFromJson(const Json& j) {
  absl::StatusOr<std::string> text = Jcs(j);  // integral doubles print as integers
  if (!text.ok()) return text.status();
  pb::PutQuestRequest def;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(*text, &def, options).ok()) {
    return InvalidArgument("quests", reason::kType);
  }
  return def;
}

Json PlayerQuestJson(const PlayerQuest& pq) {
  return Json{{"status", pq.status},
              {"progress", pq.progress},
              {"completions", pq.completions},
              {"accepted_at", pq.accepted_at},
              {"completed_at", pq.completed_at},
              {"def_version", pq.def_version}};
}

PlayerQuest PlayerQuestFromJson(const Json& j) {
  PlayerQuest pq;
  pq.status = Str(j, "status");
  const Json& progress = Member(j, "progress");
  for (auto it = progress.begin(); progress.is_object() && it != progress.end(); ++it) {
    if (it->is_number()) pq.progress[it.key()] = static_cast<int32_t>(it->get<double>());
  }
  pq.completions = static_cast<int32_t>(Int(j, "completions"));
  pq.accepted_at = Int(j, "accepted_at");
  pq.completed_at = Int(j, "completed_at");
  pq.def_version = Int(j, "def_version");
  return pq;
}

// ---- fixture ----

absl::Status Relabel(const absl::Status& s, const std::string& prefix) {
  if (s.ok()) return s;
  ErrorDetails d = DetailsOf(s);
  return InvalidArgument(KeyField(prefix, d["field"]), d["reason"]);
}

absl::StatusOr<int64_t> FixtureTs(const Json& record, const char* key, const std::string& path,
                                  int64_t fallback) {
  const Json& v = Member(record, key);
  if (v.is_null() || (v.is_string() && v.get<std::string>().empty())) return fallback;
  if (!v.is_string()) return InvalidArgument(KeyField(path, key), reason::kType);
  absl::StatusOr<int64_t> ms = ParseRequestTime(v.get<std::string>());
  if (!ms.ok()) return InvalidArgument(KeyField(path, key), reason::kMalformed);
  return *ms;
}

absl::Status FixtureQuest(const Json& q, const std::string& path,
                          std::map<std::string, QuestDef>& defs) {
  if (!q.is_object()) return InvalidArgument(path, reason::kType);
  ASSIGN_OR_RETURN(pb::PutQuestRequest def, DefFromJson(q));
  RETURN_IF_ERROR(Relabel(CheckPutQuest(def), path));  // the put_quest field checks
  const int64_t version = std::max<int64_t>(1, Int(q, "version"));
  QuestDef stored = NextDefinition(def, std::nullopt);
  stored.version = version;
  for (auto& [id, history] : stored.history) history.front().version = version;
  defs[def.quest_id()] = std::move(stored);
  return absl::OkStatus();
}

absl::Status FixturePlayerQuest(const Json& p, const std::string& path, int64_t now_ms,
                                const std::map<std::string, QuestDef>& defs,
                                std::map<std::string, PlayerQuests>& players) {
  if (!p.is_object()) return InvalidArgument(path, reason::kType);
  const std::string player_id = Str(p, "player_id");
  const std::string quest_id = Str(p, "quest_id");
  RETURN_IF_ERROR(Relabel(CheckPlayerQuest(player_id, quest_id), path));
  PlayerQuest pq = PlayerQuestFromJson(p);
  if (pq.status != "active" && pq.status != "completed") {
    return InvalidArgument(KeyField(path, "status"), reason::kUnknownValue);
  }
  ASSIGN_OR_RETURN(pq.accepted_at, FixtureTs(p, "accepted_at", path, now_ms));
  ASSIGN_OR_RETURN(pq.completed_at, FixtureTs(p, "completed_at", path, 0));
  auto def = defs.find(quest_id);
  pq.def_version = def == defs.end() ? 0 : def->second.version;
  players[player_id].quests[quest_id] = std::move(pq);
  return absl::OkStatus();
}

}  // namespace

std::string QuestKey(std::string_view quest_id) {
  return std::string(kQuestPrefix) + std::string(quest_id);
}
std::string PlayerKey(std::string_view player_id) {
  return std::string(kPlayerPrefix) + std::string(player_id);
}

std::string EncodeQuestDef(const QuestDef& def) {
  std::string def_json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(def.def, &def_json, options);
  Json history = Json::object();
  for (const auto& [id, entries] : def.history) {
    Json list = Json::array();
    for (const RequiredSince& r : entries)
      list.push_back({{"version", r.version}, {"required", r.required}});
    history[id] = list;
  }
  return Json{{"def", Json::parse(def_json, nullptr, false)},
              {"version", def.version},
              {"history", history}}
      .dump();
}

absl::StatusOr<QuestDef> DecodeQuestDef(const std::string& value) {
  Json doc = Json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return Internal("corrupt quest definition");
  QuestDef def;
  absl::StatusOr<pb::PutQuestRequest> parsed = DefFromJson(Member(doc, "def"));
  if (!parsed.ok()) return Internal("corrupt quest definition");
  def.def = std::move(*parsed);
  def.version = Int(doc, "version");
  const Json& history = Member(doc, "history");
  for (auto it = history.begin(); history.is_object() && it != history.end(); ++it) {
    for (const Json& r : *it) {
      def.history[it.key()].push_back(
          {Int(r, "version"), static_cast<int32_t>(Int(r, "required"))});
    }
  }
  return def;
}

std::string EncodePlayerQuests(const PlayerQuests& quests) {
  Json all = Json::object();
  for (const auto& [id, pq] : quests.quests) all[id] = PlayerQuestJson(pq);
  return Json{{"quests", all}}.dump();
}

absl::StatusOr<PlayerQuests> DecodePlayerQuests(const std::optional<std::string>& value) {
  PlayerQuests quests;
  if (!value.has_value() || value->empty()) return quests;
  Json doc = Json::parse(*value, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return Internal("corrupt player quests");
  const Json& all = Member(doc, "quests");
  for (auto it = all.begin(); all.is_object() && it != all.end(); ++it) {
    quests.quests[it.key()] = PlayerQuestFromJson(*it);
  }
  return quests;
}

absl::StatusOr<std::vector<StoreEntry>> MapQuestSystemFixture(const google::protobuf::Struct& doc,
                                                              const CallContext& ctx) {
  Json document = StructToJson(doc);
  std::map<std::string, QuestDef> defs;
  const Json& quests = Member(document, "quests");
  if (!quests.is_null() && !quests.is_array()) return InvalidArgument("quests", reason::kType);
  for (size_t i = 0; quests.is_array() && i < quests.size(); ++i) {
    RETURN_IF_ERROR(FixtureQuest(quests[i], IndexField("quests", i), defs));
  }
  std::map<std::string, PlayerQuests> players;
  const Json& player_quests = Member(document, "player_quests");
  if (!player_quests.is_null() && !player_quests.is_array()) {
    return InvalidArgument("player_quests", reason::kType);
  }
  for (size_t i = 0; player_quests.is_array() && i < player_quests.size(); ++i) {
    RETURN_IF_ERROR(FixturePlayerQuest(player_quests[i], IndexField("player_quests", i),
                                       ctx.now_ms(), defs, players));
  }
  std::vector<StoreEntry> entries;
  for (const auto& [id, def] : defs) entries.push_back({QuestKey(id), EncodeQuestDef(def), 0, 0});
  for (const auto& [id, pq] : players) {
    entries.push_back({PlayerKey(id), EncodePlayerQuests(pq), 0, 0});
  }
  return entries;
}

}  // namespace sidecar::services::quest_system
