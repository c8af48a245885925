#pragma once
// quest-system (SERVICES.md §2.15) as a native port: the factory the host calls.

#include <memory>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

// Registers put_quest, accept, record_progress, complete, revert_completion,
// list_player_quests and `_fixture`.
std::unique_ptr<Service> MakeQuestSystemService(const ServiceDeps& deps);

}  // namespace sidecar::services
