#include "services/router/router_store.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "services/common/errors.h"

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

struct EditOp {
  StateStore& store;
  int64_t now_ms;
  TableEdit edit;
  absl::AnyInvocable<void(absl::StatusOr<EditResult>) &&> done;
  int attempts = 0;
};

void Attempt(std::unique_ptr<EditOp> op) {
  ++op->attempts;
  StateStore& store = op->store;
  const int64_t now = op->now_ms;
  LoadSnapshot(store, now, [now, op = std::move(op)](absl::StatusOr<TableSnapshot> got) mutable {
    if (!got.ok()) {
      std::move(op->done)(got.status());
      return;
    }
    EditResult result;
    result.table = std::move(got->table);
    absl::StatusOr<bool> changed = op->edit(result.table);
    if (!changed.ok()) {
      std::move(op->done)(changed.status());
      return;
    }
    if (!*changed) {  // nothing to write (a delete of an absent route)
      std::move(op->done)(std::move(result));
      return;
    }
    result.changed = true;
    std::string bytes = result.table.SerializeAsString();
    // Arguments are evaluated in any order: nothing may read `op` after the callback takes it.
    StateStore& s = op->store;
    s.CompareAndSet(std::string(kTableKey), std::move(bytes), got->store_revision, now, {},
                    [op = std::move(op), result = std::move(result)](
                        absl::StatusOr<uint64_t> written) mutable {
                      if (IsConflict(written.status()) && op->attempts < kMaxAttempts) {
                        Attempt(std::move(op));
                        return;
                      }
                      if (!written.ok()) {
                        std::move(op->done)(
                            IsConflict(written.status())
                                ? Unavailable("", {}, "too much contention on the router table")
                                : written.status());
                        return;
                      }
                      result.store_revision = *written;
                      std::move(op->done)(std::move(result));
                    });
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
  Attempt(std::unique_ptr<EditOp>(new EditOp{store, now_ms, std::move(edit), std::move(done)}));
}

}  // namespace sidecar::services::router
