#include "services/state_manager/state_manager_store.h"

namespace sidecar::services::state_manager {

std::string NamespacePrefix(std::string_view ns) {
  return std::string(kStorePrefix) + "docs/" + std::string(ns) + "/";
}

std::string DocKey(std::string_view ns, std::string_view key) {
  return NamespacePrefix(ns) + std::string(key);
}

void LoadDoc(StateStore& store, std::string store_key, int64_t now_ms,
             absl::AnyInvocable<void(absl::StatusOr<DocSnapshot>) &&> done) {
  store.Get(std::move(store_key), now_ms,
            [done = std::move(done)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
              if (!got.ok()) {
                std::move(done)(got.status());
                return;
              }
              DocSnapshot snapshot;
              if (got->has_value()) {
                Doc doc;
                // Only this port writes these keys: a value that does not parse is a bug.
                if (!doc.ParseFromString((*got)->value)) {
                  std::move(done)(Internal("stored state-manager document does not parse"));
                  return;
                }
                snapshot.doc = std::move(doc);
                snapshot.store_revision = (*got)->revision;
              }
              std::move(done)(std::move(snapshot));
            });
}

}  // namespace sidecar::services::state_manager
