#include "services/npc_behavior/npc_behavior_store.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "services/common/errors.h"
#include "services/common/jcs.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::npc_behavior {
namespace {

using Json = nlohmann::json;

absl::Status Relabel(const absl::Status& s, const std::string& prefix) {
  if (s.ok()) return s;
  ErrorDetails d = DetailsOf(s);
  return InvalidArgument(KeyField(prefix, d["field"]), d["reason"]);
}

absl::StatusOr<StoreEntry> FixtureNpc(const Json& n, const std::string& path) {
  if (!n.is_object()) return InvalidArgument(path, reason::kType);
  absl::StatusOr<std::string> text = Jcs(n);  // integral doubles print as integers
  if (!text.ok()) return text.status();
  pb::PutNpcRequest rq;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(*text, &rq, options).ok()) {
    return InvalidArgument(path, reason::kType);
  }
  RETURN_IF_ERROR(Relabel(CheckPutNpc(rq), path));  // the put_npc field checks
  pb::Npc npc;
  npc.set_npc_id(rq.npc_id());
  npc.set_archetype(rq.archetype());
  *npc.mutable_traits() = rq.traits();
  *npc.mutable_needs() = rq.needs();
  *npc.mutable_allowed_actions() = rq.allowed_actions();
  npc.set_home_region(rq.home_region());
  return StoreEntry{NpcKey(npc.npc_id()), npc.SerializeAsString(), 0, 0};
}

absl::StatusOr<StoreEntry> FixtureDisposition(const Json& d, const std::string& path) {
  if (!d.is_object()) return InvalidArgument(path, reason::kType);
  const std::string npc_id = d.value("npc_id", Json("")).is_string() ? d.value("npc_id", "") : "";
  const std::string player_id =
      d.value("player_id", Json("")).is_string() ? d.value("player_id", "") : "";
  RETURN_IF_ERROR(Relabel(CheckNpcId(npc_id), path));
  RETURN_IF_ERROR(Relabel(CheckPlayerId(player_id, /*required=*/true), path));
  const Json value = d.contains("value") ? d["value"] : Json(0);
  if (!value.is_number() || std::floor(value.get<double>()) != value.get<double>()) {
    return InvalidArgument(KeyField(path, "value"), reason::kType);
  }
  const double v = value.get<double>();
  if (v < -kDispositionLimit || v > kDispositionLimit) {
    return InvalidArgument(KeyField(path, "value"), reason::kOutOfRange);
  }
  return StoreEntry{DispositionKey(npc_id, player_id), std::to_string(static_cast<int32_t>(v)), 0,
                    0};
}

}  // namespace

std::string NpcKey(std::string_view npc_id) {
  return std::string(kStorePrefix) + "npcs/" + std::string(npc_id);
}

std::string DispositionKey(std::string_view npc_id, std::string_view player_id) {
  return std::string(kStorePrefix) + "dispositions/" + std::string(npc_id) + "/" +
         std::string(player_id);
}

absl::StatusOr<int32_t> DecodeDisposition(const std::optional<std::string>& value) {
  if (!value.has_value()) return 0;
  int32_t parsed = 0;
  if (!absl::SimpleAtoi(*value, &parsed)) return Internal("corrupt disposition");
  return parsed;
}

absl::StatusOr<std::vector<StoreEntry>> MapNpcBehaviorFixture(const google::protobuf::Struct& doc,
                                                              const CallContext&) {
  Json document = StructToJson(doc);
  std::vector<StoreEntry> entries;
  for (const char* list : {"npcs", "dispositions"}) {
    if (!document.contains(list) || document[list].is_null()) continue;
    if (!document[list].is_array()) return InvalidArgument(list, reason::kType);
    for (size_t i = 0; i < document[list].size(); ++i) {
      const std::string path = IndexField(list, i);
      absl::StatusOr<StoreEntry> entry = std::string(list) == "npcs"
                                             ? FixtureNpc(document[list][i], path)
                                             : FixtureDisposition(document[list][i], path);
      if (!entry.ok()) return entry.status();
      entries.push_back(std::move(*entry));
    }
  }
  return entries;
}

}  // namespace sidecar::services::npc_behavior
