#pragma once
// The `_fixture` document of state-manager (README.md here) -> store entries. Namespaces and keys
// must have their rule 1 syntax (they become store keys); documents are loaded as given otherwise
// (no size, depth or cap checks), so a fixture can set up any state.

#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "services/common/call_context.h"
#include "services/common/state_store.h"

namespace sidecar::services::state_manager {

absl::StatusOr<std::vector<StoreEntry>> MapStateManagerFixture(
    const google::protobuf::Struct& document, const CallContext& ctx);

}  // namespace sidecar::services::state_manager
