#pragma once
// Where performance-mode keeps its state in the shared StateStore, and how it changes it.
//
//   performance-mode/players/<player_id>   JSON PlayerPerf (strong: one compare-and-set per write)
//   performance-mode/server-mode           JSON {"mode", "changed_at"} (config singleton)
//
// player_id is pl_[0-9a-f]{16} (PM1), so it is a safe key segment. Absent server mode = normal
// (PM4).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "services/common/read_modify_write.h"
#include "services/common/state_store.h"
#include "services/performance_mode/performance_mode_rules.h"

namespace sidecar::services::performance_mode {

inline constexpr std::string_view kStorePrefix = "performance-mode/";
inline constexpr std::string_view kServerModeKey = "performance-mode/server-mode";
inline constexpr int kMaxAttempts = kMaxUpdateAttempts;  // EditJson is UpdateKey

std::string PlayerKey(std::string_view player_id);

struct ServerMode {
  std::string mode = std::string(kServerNormal);
  int64_t changed_at = 0;
};

nlohmann::json PlayerToJson(const PlayerPerf& perf);
absl::StatusOr<PlayerPerf> PlayerFromJson(const nlohmann::json& json);
nlohmann::json ServerModeToJson(const ServerMode& server);
absl::StatusOr<ServerMode> ServerModeFromJson(const nlohmann::json& json);

void LoadServerMode(StateStore& store, int64_t now_ms,
                    absl::AnyInvocable<void(absl::StatusOr<ServerMode>) &&> done);
// nullopt when the player was never evaluated.
void LoadPlayer(StateStore& store, std::string_view player_id, int64_t now_ms,
                absl::AnyInvocable<void(absl::StatusOr<std::optional<PlayerPerf>>) &&> done);

// An edit of one JSON document (nullopt: absent). Returns whether to write it; may re-run on
// fresh state after a lost race.
using JsonEdit = std::function<absl::StatusOr<bool>(std::optional<nlohmann::json>&)>;
struct EditResult {
  bool changed = false;
  uint64_t store_revision = 0;
};
// Load, edit, compare-and-set; re-runs on a lost race (then UNAVAILABLE {}).
void EditJson(StateStore& store, std::string key, int64_t now_ms, JsonEdit edit,
              absl::AnyInvocable<void(absl::StatusOr<EditResult>) &&> done);

}  // namespace sidecar::services::performance_mode
