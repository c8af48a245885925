#include "services/performance_mode/performance_mode_fixture.h"

#include <string>

#include "nlohmann/json.hpp"
#include "services/common/errors.h"
#include "services/common/jcs.h"
#include "services/common/json_fields.h"
#include "services/common/validation.h"
#include "services/performance_mode/performance_mode_rules.h"
#include "services/performance_mode/performance_mode_store.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::performance_mode {
namespace {

using Json = nlohmann::json;

// Fixture integers are int32 fields: integral within ±(2^31−1).
constexpr double kMaxFixtureInt = 2147483647.0;

absl::StatusOr<std::optional<Mode>> ModeAt(const Json& obj, const std::string& name,
                                           const std::string& path) {
  ASSIGN_OR_RETURN(std::optional<std::string> text, OptionalStringAt(obj, name, path));
  if (!text) return std::optional<Mode>();
  std::optional<Mode> mode = ParseMode(*text);
  if (!mode) return InvalidArgument(KeyField(path, name), reason::kUnknownValue);
  return mode;
}

absl::StatusOr<PlayerPerf> PlayerFrom(const Json& j, const std::string& path) {
  if (!j.is_object()) return InvalidArgument(path, reason::kType);
  PlayerPerf perf;
  ASSIGN_OR_RETURN(std::optional<Mode> current, ModeAt(j, "current", path));
  if (!current) return InvalidArgument(KeyField(path, "current"), reason::kRequired);
  perf.current = *current;
  ASSIGN_OR_RETURN(std::optional<Mode> device_cap, ModeAt(j, "device_cap", path));
  perf.device_cap = device_cap.value_or(*current);  // an evaluated player starts at its cap
  ASSIGN_OR_RETURN(std::optional<int64_t> target,
                   OptionalIntAt(j, "target_fps", path, kMaxFixtureInt));
  if (!target) return InvalidArgument(KeyField(path, "target_fps"), reason::kRequired);
  perf.target_fps = static_cast<int32_t>(*target);
  ASSIGN_OR_RETURN(std::optional<int64_t> below,
                   OptionalIntAt(j, "below_streak", path, kMaxFixtureInt));
  ASSIGN_OR_RETURN(std::optional<int64_t> above,
                   OptionalIntAt(j, "above_streak", path, kMaxFixtureInt));
  perf.below_streak = static_cast<int32_t>(below.value_or(0));
  perf.above_streak = static_cast<int32_t>(above.value_or(0));
  return perf;
}

}  // namespace

absl::StatusOr<std::vector<StoreEntry>> MapPerformanceModeFixture(
    const google::protobuf::Struct& document, const CallContext&) {
  const Json doc = StructToJson(document);
  std::vector<StoreEntry> entries;
  ASSIGN_OR_RETURN(std::optional<std::string> server_mode,
                   OptionalStringAt(doc, "server_mode", "fixture"));
  if (server_mode && !server_mode->empty()) {
    if (*server_mode != kServerNormal && *server_mode != kServerDegraded &&
        *server_mode != kServerCritical) {
      return InvalidArgument("server_mode", reason::kUnknownValue);
    }
    entries.push_back({std::string(kServerModeKey),
                       ServerModeToJson(ServerMode{*server_mode, 0}).dump(), 0, 0});
  }
  auto players = doc.find("players");
  if (players != doc.end() && !players->is_null()) {
    if (!players->is_object()) return InvalidArgument("players", reason::kType);
    for (const auto& [player_id, record] : players->items()) {
      const std::string path = KeyField("players", player_id);
      RETURN_IF_ERROR(CheckPlayerId(player_id).ok() ? absl::OkStatus()
                                                    : InvalidArgument(path, reason::kPattern));
      ASSIGN_OR_RETURN(PlayerPerf perf, PlayerFrom(record, path));
      entries.push_back({PlayerKey(player_id), PlayerToJson(perf).dump(), 0, 0});
    }
  }
  return entries;
}

}  // namespace sidecar::services::performance_mode
