#pragma once
// The capability-registry `_fixture` document (services/capability_registry/README.md) -> store
// entries: {"leases": [{capability, provider_id, version, subject, ttl_s, metadata,
// registered_at, expires_at}]}.

#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "services/common/call_context.h"
#include "services/common/state_store.h"

namespace sidecar::services::capability_registry {

absl::StatusOr<std::vector<StoreEntry>> MapCapabilityRegistryFixture(
    const google::protobuf::Struct& document, const CallContext& ctx);

}  // namespace sidecar::services::capability_registry
