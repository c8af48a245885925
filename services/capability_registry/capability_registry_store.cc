#include "services/capability_registry/capability_registry_store.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "services/common/errors.h"

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

struct EditOp {
  StateStore& store;
  std::string key;
  std::string capability;
  int64_t now_ms;
  LeasesEdit edit;
  absl::AnyInvocable<void(absl::StatusOr<EditResult>) &&> done;
  int attempts = 0;
};

void Attempt(std::unique_ptr<EditOp> op);

// After a write: retry a lost race while attempts remain, else answer.
void Finish(std::unique_ptr<EditOp> op, absl::Status status, uint64_t store_revision) {
  if (IsConflict(status) && op->attempts < kMaxAttempts) {
    Attempt(std::move(op));
    return;
  }
  if (!status.ok()) {
    std::move(op->done)(IsConflict(status)
                            ? Unavailable("", {}, "too much contention on the capability")
                            : status);
    return;
  }
  std::move(op->done)(EditResult{true, store_revision});
}

void Attempt(std::unique_ptr<EditOp> op) {
  ++op->attempts;
  StateStore& store = op->store;
  const std::string key = op->key;
  const int64_t now = op->now_ms;
  LoadSnapshot(store, key, now, [now, op = std::move(op)](absl::StatusOr<Snapshot> got) mutable {
    if (!got.ok()) {
      std::move(op->done)(got.status());
      return;
    }
    absl::StatusOr<bool> changed = op->edit(got->leases);
    if (!changed.ok()) {
      std::move(op->done)(changed.status());
      return;
    }
    if (!*changed) {
      std::move(op->done)(EditResult{});
      return;
    }
    StateStore& s = op->store;
    const std::string key = op->key;
    const uint64_t expected = got->store_revision;
    if (got->leases.empty()) {
      // No lease left: the key goes (a create later starts from revision 0 again).
      // The revision deleted names this write (a delete makes no new revision).
      s.Delete(key, expected, [op = std::move(op), expected](absl::Status deleted) mutable {
        Finish(std::move(op), deleted, expected);
      });
      return;
    }
    StoreEntry entry = LeasesEntry(op->capability, got->leases);
    s.CompareAndSet(key, std::move(entry.value), expected, now, WriteOptions{entry.expires_at_ms},
                    [op = std::move(op)](absl::StatusOr<uint64_t> written) mutable {
                      Finish(std::move(op), written.status(), written.ok() ? *written : 0);
                    });
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
  Attempt(std::unique_ptr<EditOp>(new EditOp{store, std::move(key), std::move(capability), now_ms,
                                             std::move(edit), std::move(done)}));
}

}  // namespace sidecar::services::capability_registry
