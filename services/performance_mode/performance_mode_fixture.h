#pragma once
// The performance-mode `_fixture` document (services/performance_mode/README.md) -> store
// entries: {"server_mode": "normal", "players": {"<player_id>": {device_cap, current,
// target_fps, below_streak, above_streak}}}.

#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "services/common/call_context.h"
#include "services/common/state_store.h"

namespace sidecar::services::performance_mode {

absl::StatusOr<std::vector<StoreEntry>> MapPerformanceModeFixture(
    const google::protobuf::Struct& document, const CallContext& ctx);

}  // namespace sidecar::services::performance_mode
