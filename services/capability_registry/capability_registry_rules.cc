#include "services/capability_registry/capability_registry_rules.h"

#include <algorithm>
#include <array>

#include "services/common/errors.h"
#include "services/common/validation.h"
#include "services/common/version.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::capability_registry {
namespace {

constexpr size_t kMaxCapabilityLength = 64;
constexpr size_t kMaxMetadataKeyLength = 32;
constexpr size_t kMaxMetadataValueLength = 128;

// The 22 service names of SERVICES.md §2 (N13, C3).
constexpr std::array<std::string_view, 22> kServiceNames = {
    "auth",           "settings",        "payment",         "state-manager",
    "event-bus",      "router",          "capability-registry", "performance-mode",
    "model-management", "knowledge-base", "language-system", "time-manager",
    "weather-manager", "world-state",    "quest-system",    "npc-behavior",
    "ai-integration", "environmental-narrative", "orchestration", "ai-router",
    "body-broker-integration", "story-teller"};

const Pattern& CapabilityPattern() {
  static const Pattern* p = new Pattern(R"([a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*)");
  return *p;
}
const Pattern& ActionPattern() {
  static const Pattern* p = new Pattern("[a-z][a-z0-9_]*");
  return *p;
}

// Map entries in key order (§0.4): the key's length (C4: 1–32), then the value's (0–128).
absl::Status CheckMetadata(const google::protobuf::Map<std::string, std::string>& metadata) {
  RETURN_IF_ERROR(CheckCount("metadata", metadata.size(), {.max = kMaxMetadataEntries}));
  std::vector<const std::string*> keys;
  for (const auto& [key, value] : metadata) keys.push_back(&key);
  std::sort(keys.begin(), keys.end(), [](auto* a, auto* b) { return *a < *b; });
  for (const std::string* key : keys) {
    const std::string field = KeyField("metadata", *key);
    if (key->empty()) return InvalidArgument(field, reason::kTooShort);
    if (CodePoints(*key) > kMaxMetadataKeyLength) return InvalidArgument(field, reason::kTooLong);
    if (CodePoints(metadata.at(*key)) > kMaxMetadataValueLength) {
      return InvalidArgument(field, reason::kTooLong);
    }
  }
  return absl::OkStatus();
}

}  // namespace

// ---- liveness ----

const Lease* LiveLease(const Leases& leases, std::string_view provider_id, int64_t now_ms) {
  auto it = leases.find(std::string(provider_id));
  if (it == leases.end() || !IsLive(it->second, now_ms)) return nullptr;
  return &it->second;
}

void PurgeExpired(Leases& leases, int64_t now_ms) {
  for (auto it = leases.begin(); it != leases.end();) {
    it = IsLive(it->second, now_ms) ? std::next(it) : leases.erase(it);
  }
}

size_t CountLive(const Leases& leases, int64_t now_ms) {
  return static_cast<size_t>(std::count_if(leases.begin(), leases.end(), [&](const auto& entry) {
    return IsLive(entry.second, now_ms);
  }));
}

// ---- field checks ----

bool IsValidSubject(std::string_view subject) {
  // svc . <service> . v1 . <action>: service names contain no '.', so the parts are fixed.
  constexpr std::string_view kPrefix = "svc.";
  if (subject.substr(0, kPrefix.size()) != kPrefix) return false;
  std::string_view rest = subject.substr(kPrefix.size());
  const size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return false;
  const std::string_view service = rest.substr(0, dot);
  rest = rest.substr(dot + 1);
  constexpr std::string_view kVersion = "v1.";
  if (rest.substr(0, kVersion.size()) != kVersion) return false;
  const std::string_view action = rest.substr(kVersion.size());
  return std::find(kServiceNames.begin(), kServiceNames.end(), service) != kServiceNames.end() &&
         ActionPattern().Matches(action);
}

absl::Status CheckCapability(std::string_view capability) {
  return CheckString("capability", capability,
                     {.required = true, .min_len = 1, .max_len = kMaxCapabilityLength,
                      .pattern = &CapabilityPattern()});
}

absl::Status CheckProviderId(std::string_view provider_id) {
  return CheckString("provider_id", provider_id,
                     {.required = true, .min_len = 1, .max_len = 64, .char_class = "a-z0-9-"});
}

absl::Status CheckRegister(const pb::RegisterRequest& rq) {
  RETURN_IF_ERROR(CheckCapability(rq.capability()));
  RETURN_IF_ERROR(CheckProviderId(rq.provider_id()));
  RETURN_IF_ERROR(CheckVersionField("version", rq.version(), /*required=*/true));
  // The action part is unbounded, so the subject has no length bounds: `pattern` only (C3).
  RETURN_IF_ERROR(CheckString("subject", rq.subject(), {.required = true}));
  if (!IsValidSubject(rq.subject())) return InvalidArgument("subject", reason::kPattern);
  RETURN_IF_ERROR(CheckInt("ttl_s", rq.ttl_s(), kMinTtlS, kMaxTtlS));
  return CheckMetadata(rq.metadata());
}

absl::Status CheckHeartbeat(const pb::HeartbeatRequest& rq) {
  RETURN_IF_ERROR(CheckCapability(rq.capability()));
  RETURN_IF_ERROR(CheckProviderId(rq.provider_id()));
  if (rq.ttl_s() == 0) return absl::OkStatus();  // 0 = previous ttl
  return CheckInt("ttl_s", rq.ttl_s(), kMinTtlS, kMaxTtlS);
}

absl::Status CheckResolve(const pb::ResolveRequest& rq) {
  RETURN_IF_ERROR(CheckCapability(rq.capability()));
  return CheckVersionField("min_version", rq.min_version(), /*required=*/false);
}

// ---- decisions ----

absl::StatusOr<Registered> Register(Leases& leases, const pb::RegisterRequest& rq, int64_t now_ms) {
  const Lease* live = LiveLease(leases, rq.provider_id(), now_ms);
  // §0.4 caps count existing entities: replacing a live lease at the cap succeeds.
  if (live == nullptr && CountLive(leases, now_ms) >= kMaxLiveProviders) {
    return LimitExceeded(kMaxLiveProviders, "at most 32 live providers per capability");
  }
  Lease lease;
  lease.version = rq.version();
  lease.subject = rq.subject();
  lease.ttl_s = rq.ttl_s();
  lease.metadata = {rq.metadata().begin(), rq.metadata().end()};
  lease.registered_at = live != nullptr ? live->registered_at : now_ms;  // C5
  lease.expires_at = now_ms + int64_t{rq.ttl_s()} * 1000;
  const bool replaced = live != nullptr;
  PurgeExpired(leases, now_ms);
  leases[rq.provider_id()] = std::move(lease);
  return Registered{now_ms + int64_t{rq.ttl_s()} * 1000, replaced};
}

absl::StatusOr<int64_t> Heartbeat(Leases& leases, const pb::HeartbeatRequest& rq, int64_t now_ms) {
  if (LiveLease(leases, rq.provider_id(), now_ms) == nullptr) {
    return NotFound("provider_id", "no live lease: the provider must re-register");  // C1
  }
  Lease& lease = leases[rq.provider_id()];
  if (rq.ttl_s() != 0) lease.ttl_s = rq.ttl_s();  // the new ttl is the next "previous ttl"
  lease.expires_at = now_ms + int64_t{lease.ttl_s} * 1000;
  PurgeExpired(leases, now_ms);
  return lease.expires_at;
}

bool Deregister(Leases& leases, std::string_view provider_id, int64_t now_ms) {
  if (LiveLease(leases, provider_id, now_ms) == nullptr) return false;  // C7
  leases.erase(std::string(provider_id));
  PurgeExpired(leases, now_ms);
  return true;
}

absl::StatusOr<std::vector<pb::Provider>> LiveProviders(const Leases& leases,
                                                        std::string_view min_version,
                                                        int64_t now_ms) {
  const std::optional<Version> min =
      min_version.empty() ? std::optional<Version>() : ParseVersion(min_version);
  struct Candidate {
    Version version;
    const std::string* provider_id;
    const Lease* lease;
  };
  std::vector<Candidate> candidates;
  for (const auto& [provider_id, lease] : leases) {
    if (!IsLive(lease, now_ms)) continue;
    std::optional<Version> version = ParseVersion(lease.version);
    if (!version) continue;  // only a fixture can store a bad version; it never resolves
    if (min && *version < *min) continue;
    candidates.push_back({*version, &provider_id, &lease});
  }
  if (candidates.empty()) return NotFoundReason("no_live_provider", "no live provider");
  // Version descending, then provider_id ascending (N14).
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.version != b.version) return a.version > b.version;
    return *a.provider_id < *b.provider_id;
  });
  std::vector<pb::Provider> providers;
  for (const Candidate& c : candidates) {
    pb::Provider& p = providers.emplace_back();
    p.set_provider_id(*c.provider_id);
    p.set_version(c.lease->version);
    p.set_subject(c.lease->subject);
    p.set_expires_at(c.lease->expires_at);
    p.mutable_metadata()->insert(c.lease->metadata.begin(), c.lease->metadata.end());
  }
  return providers;
}

}  // namespace sidecar::services::capability_registry
