#include "services/capability_registry/capability_registry_fixture.h"

#include <map>
#include <string>

#include "nlohmann/json.hpp"
#include "services/capability_registry/capability_registry_rules.h"
#include "services/capability_registry/capability_registry_store.h"
#include "services/common/errors.h"
#include "services/common/jcs.h"
#include "services/common/json_fields.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::capability_registry {
namespace {

using Json = nlohmann::json;

struct FixtureLease {
  std::string capability;
  std::string provider_id;
  Lease lease;
};

absl::StatusOr<FixtureLease> LeaseFrom(const Json& j, const std::string& path) {
  if (!j.is_object()) return InvalidArgument(path, reason::kType);
  FixtureLease out;
  ASSIGN_OR_RETURN(out.capability, StringAt(j, "capability", path));
  if (out.capability.empty()) return InvalidArgument(KeyField(path, "capability"), reason::kRequired);
  ASSIGN_OR_RETURN(out.provider_id, StringAt(j, "provider_id", path));
  if (out.provider_id.empty()) {
    return InvalidArgument(KeyField(path, "provider_id"), reason::kRequired);
  }
  Lease& lease = out.lease;
  ASSIGN_OR_RETURN(lease.version, StringAt(j, "version", path));
  ASSIGN_OR_RETURN(lease.subject, StringAt(j, "subject", path));
  auto metadata = j.find("metadata");
  if (metadata != j.end() && !metadata->is_null()) {
    if (!metadata->is_object()) return InvalidArgument(KeyField(path, "metadata"), reason::kType);
    for (const auto& [key, value] : metadata->items()) {
      if (!value.is_string()) {
        return InvalidArgument(KeyField(KeyField(path, "metadata"), key), reason::kType);
      }
      lease.metadata[key] = value.get<std::string>();
    }
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> expires_at, TsAt(j, "expires_at", path));
  if (!expires_at) return InvalidArgument(KeyField(path, "expires_at"), reason::kRequired);
  lease.expires_at = *expires_at;
  ASSIGN_OR_RETURN(std::optional<int64_t> ttl_s, OptionalIntAt(j, "ttl_s", path));
  ASSIGN_OR_RETURN(std::optional<int64_t> registered_at, TsAt(j, "registered_at", path));
  // Defaults that agree with each other: a lease is registered ttl_s before it expires.
  if (!ttl_s) ttl_s = registered_at ? (*expires_at - *registered_at) / 1000 : 30;
  lease.ttl_s = static_cast<int32_t>(*ttl_s);
  lease.registered_at = registered_at ? *registered_at : *expires_at - *ttl_s * 1000;
  return out;
}

}  // namespace

absl::StatusOr<std::vector<StoreEntry>> MapCapabilityRegistryFixture(
    const google::protobuf::Struct& document, const CallContext&) {
  const Json doc = StructToJson(document);
  std::map<std::string, Leases> by_capability;
  auto leases = doc.find("leases");
  if (leases != doc.end() && !leases->is_null()) {
    if (!leases->is_array()) return InvalidArgument("leases", reason::kType);
    for (size_t i = 0; i < leases->size(); ++i) {
      ASSIGN_OR_RETURN(FixtureLease f, LeaseFrom((*leases)[i], IndexField("leases", i)));
      by_capability[f.capability][f.provider_id] = std::move(f.lease);  // the last one wins
    }
  }
  std::vector<StoreEntry> entries;
  for (const auto& [capability, capability_leases] : by_capability) {
    entries.push_back(LeasesEntry(capability, capability_leases));
  }
  return entries;
}

}  // namespace sidecar::services::capability_registry
