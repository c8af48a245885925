#include "services/performance_mode/performance_mode_store.h"

#include <utility>

#include "services/common/errors.h"
#include "services/common/read_modify_write.h"

namespace sidecar::services::performance_mode {
namespace {

using Json = nlohmann::json;

struct Snapshot {
  std::optional<Json> doc;
  uint64_t store_revision = 0;
};

void LoadSnapshot(StateStore& store, std::string key, int64_t now_ms,
                  absl::AnyInvocable<void(absl::StatusOr<Snapshot>) &&> done) {
  store.Get(std::move(key), now_ms,
            [done = std::move(done)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
              if (!got.ok()) {
                std::move(done)(got.status());
                return;
              }
              Snapshot snapshot;
              if (got->has_value()) {
                Json doc = Json::parse((*got)->value, nullptr, /*allow_exceptions=*/false);
                if (doc.is_discarded()) {
                  std::move(done)(Internal("stored performance-mode document is not JSON"));
                  return;
                }
                snapshot.doc = std::move(doc);
                snapshot.store_revision = (*got)->revision;
              }
              std::move(done)(std::move(snapshot));
            });
}

bool IsInt(const Json& j, const char* name) {
  return j.contains(name) && j[name].is_number_integer();
}

}  // namespace

std::string PlayerKey(std::string_view player_id) {
  return std::string(kStorePrefix) + "players/" + std::string(player_id);
}

Json PlayerToJson(const PlayerPerf& perf) {
  return {{"device_cap", ModeName(perf.device_cap)}, {"current", ModeName(perf.current)},
          {"target_fps", perf.target_fps},           {"below_streak", perf.below_streak},
          {"above_streak", perf.above_streak}};
}

absl::StatusOr<PlayerPerf> PlayerFromJson(const Json& j) {
  if (!j.is_object() || !j.contains("device_cap") || !j["device_cap"].is_string() ||
      !j.contains("current") || !j["current"].is_string() || !IsInt(j, "target_fps") ||
      !IsInt(j, "below_streak") || !IsInt(j, "above_streak")) {
    return Internal("stored player mode is malformed");
  }
  std::optional<Mode> device_cap = ParseMode(j["device_cap"].get<std::string>());
  std::optional<Mode> current = ParseMode(j["current"].get<std::string>());
  if (!device_cap || !current) return Internal("stored player mode names an unknown mode");
  PlayerPerf perf;
  perf.device_cap = *device_cap;
  perf.current = *current;
  perf.target_fps = j["target_fps"].get<int32_t>();
  perf.below_streak = j["below_streak"].get<int32_t>();
  perf.above_streak = j["above_streak"].get<int32_t>();
  return perf;
}

Json ServerModeToJson(const ServerMode& server) {
  return {{"mode", server.mode}, {"changed_at", server.changed_at}};
}

absl::StatusOr<ServerMode> ServerModeFromJson(const Json& j) {
  if (!j.is_object() || !j.contains("mode") || !j["mode"].is_string() || !IsInt(j, "changed_at")) {
    return Internal("stored server mode is malformed");
  }
  return ServerMode{j["mode"].get<std::string>(), j["changed_at"].get<int64_t>()};
}

void LoadServerMode(StateStore& store, int64_t now_ms,
                    absl::AnyInvocable<void(absl::StatusOr<ServerMode>) &&> done) {
  LoadSnapshot(store, std::string(kServerModeKey), now_ms,
               [done = std::move(done)](absl::StatusOr<Snapshot> got) mutable {
                 if (!got.ok()) {
                   std::move(done)(got.status());
                   return;
                 }
                 if (!got->doc) {
                   std::move(done)(ServerMode{});  // PM4: normal until first set
                   return;
                 }
                 std::move(done)(ServerModeFromJson(*got->doc));
               });
}

void LoadPlayer(StateStore& store, std::string_view player_id, int64_t now_ms,
                absl::AnyInvocable<void(absl::StatusOr<std::optional<PlayerPerf>>) &&> done) {
  LoadSnapshot(store, PlayerKey(player_id), now_ms,
               [done = std::move(done)](absl::StatusOr<Snapshot> got) mutable {
                 if (!got.ok()) {
                   std::move(done)(got.status());
                   return;
                 }
                 if (!got->doc) {
                   std::move(done)(std::optional<PlayerPerf>());
                   return;
                 }
                 absl::StatusOr<PlayerPerf> perf = PlayerFromJson(*got->doc);
                 if (!perf.ok()) {
                   std::move(done)(perf.status());
                   return;
                 }
                 std::move(done)(std::optional<PlayerPerf>(*perf));
               });
}

void EditJson(StateStore& store, std::string key, int64_t now_ms, JsonEdit edit,
              absl::AnyInvocable<void(absl::StatusOr<EditResult>) &&> done) {
  UpdateKey<bool>(
      store, std::move(key), now_ms,
      [edit = std::move(edit)](
          const std::optional<StoreEntry>& current) -> absl::StatusOr<Write<bool>> {
        std::optional<Json> doc;
        if (current.has_value()) {
          doc = Json::parse(current->value, nullptr, /*allow_exceptions=*/false);
          if (doc->is_discarded()) return Internal("stored performance-mode document is not JSON");
        }
        absl::StatusOr<bool> changed = edit(doc);
        if (!changed.ok()) return changed.status();
        if (!*changed) return Write<bool>{};
        return Write<bool>{Write<bool>::Op::kPut, doc->dump(), true};
      },
      [done = std::move(done)](absl::StatusOr<Committed<bool>> committed) mutable {
        if (!committed.ok()) {
          std::move(done)(committed.status());
          return;
        }
        std::move(done)(committed->wrote ? EditResult{true, committed->store_revision}
                                         : EditResult{});
      });
}

}  // namespace sidecar::services::performance_mode
