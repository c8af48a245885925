#pragma once
// capability-registry (SERVICES.md §2.7): the pure rules — field checks (rule 1, N13, C2–C4),
// lease liveness (rule 2), register/heartbeat/deregister decisions (rules 3–4, C5, C7) and the
// resolve order (rule 5, N14). No store, no loop: capability_registry_logic.h applies them.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "capability_registry/v1/capability_registry.pb.h"

namespace sidecar::services::capability_registry {

// The proto package (capability_registry.v1) is shadowed by this namespace.
namespace pb = ::capability_registry::v1;

inline constexpr int kMaxLiveProviders = 32;  // rule 3, per capability
inline constexpr int32_t kMinTtlS = 5;
inline constexpr int32_t kMaxTtlS = 300;
inline constexpr size_t kMaxMetadataEntries = 8;

// One provider's lease (§2.7 State; `capability` is the document it lives in). `ttl_s` is kept
// for heartbeat's "0 = previous ttl".
struct Lease {
  std::string version;
  std::string subject;
  int32_t ttl_s = 0;
  std::map<std::string, std::string> metadata;
  int64_t registered_at = 0;  // unix ms
  int64_t expires_at = 0;     // unix ms
};

// The leases of one capability by provider_id; may hold expired ones until the next write.
using Leases = std::map<std::string, Lease>;

// Rule 2: live iff now < expires_at.
inline bool IsLive(const Lease& lease, int64_t now_ms) { return now_ms < lease.expires_at; }
// The live lease of `provider_id`, or nullptr (expired behaves as absent).
const Lease* LiveLease(const Leases& leases, std::string_view provider_id, int64_t now_ms);
// Drops expired leases (lazy purge, C6).
void PurgeExpired(Leases& leases, int64_t now_ms);
size_t CountLive(const Leases& leases, int64_t now_ms);

// ---- rule 1: field checks, in table order; the first failure wins ----

absl::Status CheckCapability(std::string_view capability);
absl::Status CheckProviderId(std::string_view provider_id);
absl::Status CheckRegister(const pb::RegisterRequest& rq);
absl::Status CheckHeartbeat(const pb::HeartbeatRequest& rq);
absl::Status CheckResolve(const pb::ResolveRequest& rq);
// `svc.<service>.v1.<action>` with one of the 22 §2 service names and a snake_case action.
bool IsValidSubject(std::string_view subject);

// ---- rules 3–5 ----

struct Registered {
  int64_t expires_at = 0;
  bool replaced = false;  // a live lease existed
};
// Rule 3: upserts the lease; RESOURCE_EXHAUSTED limit_exceeded (limit 32) when a 33rd live
// provider would appear. registered_at is kept only over a live lease (C5).
absl::StatusOr<Registered> Register(Leases& leases, const pb::RegisterRequest& rq, int64_t now_ms);
// Rule 4: extends a live lease (ttl_s 0 = its previous ttl); NOT_FOUND provider_id (C1) when the
// lease is absent or expired. Returns the new expires_at.
absl::StatusOr<int64_t> Heartbeat(Leases& leases, const pb::HeartbeatRequest& rq, int64_t now_ms);
// Removes a live lease; false when absent or expired (C7).
bool Deregister(Leases& leases, std::string_view provider_id, int64_t now_ms);
// Rule 5: live providers with version ≥ min_version ("" = any), version descending then
// provider_id ascending; NOT_FOUND {reason: no_live_provider} when none.
absl::StatusOr<std::vector<pb::Provider>> LiveProviders(const Leases& leases,
                                                        std::string_view min_version,
                                                        int64_t now_ms);

}  // namespace sidecar::services::capability_registry
