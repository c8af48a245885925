#pragma once
// The `_fixture` document of settings (README.md here) -> store entries. Loaded as given, like the
// legacy stand-in's /admin/fixtures/settings: a fixture may hold states the actions would refuse
// (e.g. a stored value that the current schema rejects, to exercise rule 3), so only the shape is
// checked.

#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "services/common/call_context.h"
#include "services/common/state_store.h"

namespace sidecar::services::settings {

absl::StatusOr<std::vector<StoreEntry>> MapSettingsFixture(const google::protobuf::Struct& document,
                                                           const CallContext& ctx);

}  // namespace sidecar::services::settings
