#pragma once
// Where settings keeps its state in the shared StateStore, and a typed read of one document.
//
//   settings/schema                   SchemaDoc (config: the whole schema + schema_revision)
//   settings/players/<player_id>      PlayerDoc (strong: one player's values + revision)
//
// A player_id is free-form text in §2.2, but store segments may not contain '/', so the id is
// escaped ('%' -> %25, '/' -> %2F): distinct ids stay distinct keys.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "services/common/errors.h"
#include "services/common/state_store.h"

namespace sidecar::services::settings {

inline constexpr std::string_view kStorePrefix = "settings/";
inline constexpr std::string_view kSchemaKey = "settings/schema";

std::string EscapeSegment(std::string_view text);
std::string PlayerKey(std::string_view player_id);

// A document as read, with the store revision a compare-and-set must name (0: absent).
template <typename Doc>
struct Snapshot {
  Doc doc;
  uint64_t store_revision = 0;
};

// Reads `key` as a `Doc` (absent -> an empty Doc, store_revision 0). A value that does not parse
// is INTERNAL: only this port writes these keys.
template <typename Doc>
void LoadDoc(StateStore& store, std::string key, int64_t now_ms,
             absl::AnyInvocable<void(absl::StatusOr<Snapshot<Doc>>) &&> done) {
  store.Get(std::move(key), now_ms,
            [done = std::move(done)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
              if (!got.ok()) {
                std::move(done)(got.status());
                return;
              }
              Snapshot<Doc> snapshot;
              if (got->has_value()) {
                if (!snapshot.doc.ParseFromString((*got)->value)) {
                  std::move(done)(Internal("stored settings document does not parse"));
                  return;
                }
                snapshot.store_revision = (*got)->revision;
              }
              std::move(done)(std::move(snapshot));
            });
}

}  // namespace sidecar::services::settings
