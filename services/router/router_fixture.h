#pragma once
// The router `_fixture` document (services/router/README.md) -> store entries. Its shape is
// list_routes' response: {"routes": [Route], "flags": [Flag], "table_revision": n}.

#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "services/common/call_context.h"
#include "services/common/state_store.h"

namespace sidecar::services::router {

absl::StatusOr<std::vector<StoreEntry>> MapRouterFixture(const google::protobuf::Struct& document,
                                                         const CallContext& ctx);

}  // namespace sidecar::services::router
