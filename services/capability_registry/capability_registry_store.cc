#include "services/capability_registry/capability_registry_store.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "services/common/errors.h"
#include "services/common/read_modify_write.h"

namespace sidecar::services::capability_registry {
namespace {

using Json = nlohmann::json;

struct Snapshot {
  Leases leases;
  uint64_t store_revision = 0;  // 0: absent (a create)
};

absl::StatusOr<Leases> Decode(const std::string& value) {
  Json json = Json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return Internal("stored capability leases are not JSON");
  return LeasesFromJson(json);
}

void LoadSnapshot(StateStore& store, std::string key, int64_t now_ms,
                  absl::AnyInvocable<void(absl::StatusOr<Snapshot>) &&> done) {
  store.Get(std::move(key), now_ms,
            [done = std::move(done)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
              if (!got.ok()) {
                std::move(done)(got.status());
                return;
              }
              Snapshot snapshot;
              if (got->has_value()) {
                absl::StatusOr<Leases> leases = Decode((*got)->value);
                if (!leases.ok()) {
                  std::move(done)(leases.status());
                  return;
                }
                snapshot.leases = std::move(*leases);
                snapshot.store_revision = (*got)->revision;
              }
              std::move(done)(std::move(snapshot));
            });
}

}  // namespace

std::string CapabilityKey(std::string_view capability) {
  return std::string(kCapsPrefix) + std::string(capability);
}

Json LeasesToJson(const Leases& leases) {
  Json out = Json::object();
  for (const auto& [provider_id, lease] : leases) {
    out[provider_id] = {{"version", lease.version},       {"subject", lease.subject},
                        {"ttl_s", lease.ttl_s},           {"metadata", lease.metadata},
                        {"registered_at", lease.registered_at}, {"expires_at", lease.expires_at}};
  }
  return out;
}

absl::StatusOr<Leases> LeasesFromJson(const Json& json) {
  if (!json.is_object()) return Internal("stored capability leases are not an object");
  Leases leases;
  for (const auto& [provider_id, j] : json.items()) {
    const bool well_formed = j.is_object() && j.value("version", Json()).is_string() &&
                             j.value("subject", Json()).is_string() &&
                             j.value("ttl_s", Json()).is_number_integer() &&
                             j.value("metadata", Json()).is_object() &&
                             j.value("registered_at", Json()).is_number_integer() &&
                             j.value("expires_at", Json()).is_number_integer();
    if (!well_formed) return Internal("stored lease is malformed");
    Lease lease;
    lease.version = j["version"].get<std::string>();
    lease.subject = j["subject"].get<std::string>();
    lease.ttl_s = j["ttl_s"].get<int32_t>();
    for (const auto& [key, value] : j["metadata"].items()) {
      if (!value.is_string()) return Internal("stored lease metadata is malformed");
      lease.metadata[key] = value.get<std::string>();
    }
    lease.registered_at = j["registered_at"].get<int64_t>();
    lease.expires_at = j["expires_at"].get<int64_t>();
    leases[provider_id] = std::move(lease);
  }
  return leases;
}

StoreEntry LeasesEntry(std::string_view capability, const Leases& leases) {
  int64_t latest = 0;
  for (const auto& [id, lease] : leases) latest = std::max(latest, lease.expires_at);
  // An entry that never expires would be written with 0; every lease has an expiry, and a
  // capability with only expired leases (a fixture) expires at once.
  StoreEntry entry;
  entry.key = CapabilityKey(capability);
  entry.value = LeasesToJson(leases).dump();
  entry.expires_at_ms = latest == 0 ? 1 : latest;
  return entry;
}

void LoadLeases(StateStore& store, std::string_view capability, int64_t now_ms,
                absl::AnyInvocable<void(absl::StatusOr<Leases>) &&> done) {
  LoadSnapshot(store, CapabilityKey(capability), now_ms,
               [done = std::move(done)](absl::StatusOr<Snapshot> got) mutable {
                 if (!got.ok()) {
                   std::move(done)(got.status());
                   return;
                 }
                 std::move(done)(std::move(got->leases));
               });
}

void LoadAllLeases(StateStore& store, int64_t now_ms,
                   absl::AnyInvocable<void(absl::StatusOr<std::vector<CapabilityLeases>>) &&> done) {
  store.List(std::string(kCapsPrefix), now_ms,
             [done = std::move(done)](absl::StatusOr<std::vector<StoreEntry>> listed) mutable {
               if (!listed.ok()) {
                 std::move(done)(listed.status());
                 return;
               }
               std::vector<CapabilityLeases> out;
               for (const StoreEntry& entry : *listed) {
                 absl::StatusOr<Leases> leases = Decode(entry.value);
                 if (!leases.ok()) {
                   std::move(done)(leases.status());
                   return;
                 }
                 out.push_back({entry.key.substr(kCapsPrefix.size()), std::move(*leases)});
               }
               // Ascending by key bytes = by capability name (one shared prefix).
               std::move(done)(std::move(out));
             });
}

void EditLeases(StateStore& store, std::string capability, int64_t now_ms, LeasesEdit edit,
                absl::AnyInvocable<void(absl::StatusOr<EditResult>) &&> done) {
  std::string key = CapabilityKey(capability);
  UpdateKey<bool>(
      store, std::move(key), now_ms,
      [capability = std::move(capability), edit = std::move(edit)](
          const std::optional<StoreEntry>& current) -> absl::StatusOr<Write<bool>> {
        Leases leases;
        if (current.has_value()) {
          absl::StatusOr<Leases> decoded = Decode(current->value);
          if (!decoded.ok()) return decoded.status();
          leases = std::move(*decoded);
        }
        absl::StatusOr<bool> changed = edit(leases);
        if (!changed.ok()) return changed.status();
        if (!*changed) return Write<bool>{};
        // No lease left: the key goes (a create later starts from revision 0 again); the
        // revision deleted names this write (a delete makes no new revision).
        if (leases.empty()) return Write<bool>{Write<bool>::Op::kDelete, "", true};
        StoreEntry entry = LeasesEntry(capability, leases);
        return Write<bool>{Write<bool>::Op::kPut, std::move(entry.value), true,
                           WriteOptions{entry.expires_at_ms}};
      },
      [done = std::move(done)](absl::StatusOr<Committed<bool>> committed) mutable {
        if (!committed.ok()) {
          std::move(done)(committed.status());
          return;
        }
        std::move(done)(committed->wrote ? EditResult{true, committed->store_revision}
                                         : EditResult{});
      });
}

}  // namespace sidecar::services::capability_registry
