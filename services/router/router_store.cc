#include "services/router/router_store.h"

#include <optional>
#include <string>
#include <utility>

#include "services/common/errors.h"
#include "services/common/read_modify_write.h"

namespace sidecar::services::router {
namespace {

struct TableSnapshot {
  Table table;
  uint64_t store_revision = 0;  // 0: absent (a create)
};

void LoadSnapshot(StateStore& store, int64_t now_ms,
                  absl::AnyInvocable<void(absl::StatusOr<TableSnapshot>) &&> done) {
  store.Get(std::string(kTableKey), now_ms,
            [done = std::move(done)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
              if (!got.ok()) {
                std::move(done)(got.status());
                return;
              }
              TableSnapshot snapshot;
              if (got->has_value()) {
                // Only this port writes the key: a value that does not parse is a bug.
                if (!snapshot.table.ParseFromString((*got)->value)) {
                  std::move(done)(Internal("stored router table does not parse"));
                  return;
                }
                snapshot.store_revision = (*got)->revision;
              }
              std::move(done)(std::move(snapshot));
            });
}

}  // namespace

void LoadTable(StateStore& store, int64_t now_ms,
               absl::AnyInvocable<void(absl::StatusOr<Table>) &&> done) {
  LoadSnapshot(store, now_ms,
               [done = std::move(done)](absl::StatusOr<TableSnapshot> got) mutable {
                 if (!got.ok()) {
                   std::move(done)(got.status());
                   return;
                 }
                 std::move(done)(std::move(got->table));
               });
}

void EditTable(StateStore& store, int64_t now_ms, TableEdit edit,
               absl::AnyInvocable<void(absl::StatusOr<EditResult>) &&> done) {
  UpdateKey<EditResult>(
      store, std::string(kTableKey), now_ms,
      [edit = std::move(edit)](
          const std::optional<StoreEntry>& current) -> absl::StatusOr<Write<EditResult>> {
        Write<EditResult> write;
        Table& table = write.result.table;
        // Only this port writes the key: a value that does not parse is a bug.
        if (current.has_value() && !table.ParseFromString(current->value)) {
          return Internal("stored router table does not parse");
        }
        absl::StatusOr<bool> changed = edit(table);
        if (!changed.ok()) return changed.status();
        if (!*changed) return write;  // nothing to write (a delete of an absent route)
        write.result.changed = true;
        write.op = Write<EditResult>::Op::kPut;
        write.value = table.SerializeAsString();
        return write;
      },
      [done = std::move(done)](absl::StatusOr<Committed<EditResult>> committed) mutable {
        if (!committed.ok()) {
          std::move(done)(committed.status());
          return;
        }
        EditResult result = std::move(committed->result);
        if (committed->wrote) result.store_revision = committed->store_revision;
        std::move(done)(std::move(result));
      });
}

}  // namespace sidecar::services::router
