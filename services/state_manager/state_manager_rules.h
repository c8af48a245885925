#pragma once
// state-manager (SERVICES.md §2.4): the pure rules, no store and no loop.
//
// Stored document: Doc = state_manager.v1.GetResponse {value, version, size_bytes, updated_at},
// i.e. §2.4's Doc{...} minus namespace/key, which are the store key (state_manager_store.h).
// Reusing the response keeps the stored form the spec's record without a second proto.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "services/common/call_context.h"
#include "state_manager/v1/state_manager.pb.h"

namespace sidecar::services::state_manager {

namespace pb = ::state_manager::v1;

using Doc = pb::GetResponse;

inline constexpr size_t kMaxNamespaceLength = 32;   // rule 1: [a-z0-9_]{1,32}
inline constexpr size_t kMaxKeyLength = 128;        // rule 1: [A-Za-z0-9_.:-]{1,128}
inline constexpr size_t kMaxValueBytes = 65536;     // rule 2 (JCS bytes)
inline constexpr int kMaxDepth = 16;                // rule 2, R36
inline constexpr size_t kMaxKeysPerOwner = 64;      // rule 1, R37

inline constexpr std::string_view kOpPut = "put";
inline constexpr std::string_view kOpPatch = "patch";
inline constexpr std::string_view kOpDelete = "delete";

// Rule 1 field syntax.
absl::Status CheckNamespace(std::string_view ns);
absl::Status CheckKey(std::string_view key);
// list_keys `prefix`: "" or a beginning of a key: ≤128 chars of the key alphabet (the simplest
// bound that keeps it a key prefix; a longer or foreign one could match nothing anyway).
absl::Status CheckPrefix(std::string_view prefix);

// Rule 2 on `field`: JCS size ≤65536 (too_long) first, then depth ≤16 (out_of_range, R41).
// Returns the JCS size (size_bytes).
absl::StatusOr<int32_t> CheckValue(std::string_view field, const google::protobuf::Struct& value);

// R36: each object or array adds 1 (the top level included), scalars 0. Stops counting past
// `limit` so hostile nesting costs no more than the check needs.
int Depth(const google::protobuf::Struct& value, int limit = kMaxDepth + 1);

// RFC 7396 JSON Merge Patch of `patch` into `target` (null deletes a member, objects merge
// recursively, anything else, arrays included, replaces).
void MergePatch(google::protobuf::Struct& target, const google::protobuf::Struct& patch);

// Rule 1: namespaces whose keys have owners (and the per-owner cap).
bool IsOwnedNamespace(std::string_view ns);
// The text before the first ':' (the whole key when there is none, R38).
std::string_view OwnerOf(std::string_view key);

// Rule 1 authorization (§0.4 step 3), PERMISSION_DENIED {}:
//   save/session: service/admin any key; a player only keys "<player_id>:…".
//   other namespaces: service/admin only.
absl::Status AuthorizeKey(const CallContext& ctx, std::string_view ns, std::string_view key);
// list_keys: as above, a player only with a prefix starting "<player_id>:".
absl::Status AuthorizeList(const CallContext& ctx, std::string_view ns, std::string_view prefix);

// Rule 3/5: FAILED_PRECONDITION version_mismatch + current_version.
absl::Status VersionMismatch(int64_t current_version);

}  // namespace sidecar::services::state_manager
