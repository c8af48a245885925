#pragma once
// auth's `_fixture` document (services/common/fixtures.h) -> store entries. The shape is
// documented in services/auth/README.md; every list is optional:
//
//   {"accounts":  [{"username", "email", "password" | "password_hash", "created_at"}],
//    "throttles": [{"username", "failures", "last_failure_at", "locked_until"}],
//    "sessions":  [{"token" | "token_sha256", "player_id", "issued_at", "expires_at", "revoked"}]}
//
// ts values are RFC 3339 strings ("" = 0) or unix-ms integers. A bad document is INVALID_ARGUMENT
// with a field path (`accounts[0].username`) and the §0.4 reason; the state is then left as is.

#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "services/common/state_store.h"

namespace sidecar::services::auth {

absl::StatusOr<std::vector<StoreEntry>> FixtureEntries(const google::protobuf::Struct& document);

}  // namespace sidecar::services::auth
