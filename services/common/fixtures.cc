#include "services/common/fixtures.h"

#include "services/common/strings_internal.h"

#include <limits>
#include <memory>

#include "services/common/errors.h"

namespace sidecar::services {
namespace {

// The sequential steps of one fixture load. Owned by the callback chain (each step moves the
// unique_ptr into the next callback), so nothing outlives the load.
struct FixtureLoad {
  StateStore* store;
  std::vector<std::string> prefixes;
  std::vector<StoreEntry> entries;
  int64_t now_ms;
  absl::AnyInvocable<void(absl::Status) &&> done;
  std::vector<std::string> to_delete;
};
using FixtureLoadPtr = std::unique_ptr<FixtureLoad>;

void WriteNext(FixtureLoadPtr load, size_t index);

void DeleteNext(FixtureLoadPtr load, size_t index) {
  if (index == load->to_delete.size()) {
    WriteNext(std::move(load), 0);
    return;
  }
  StateStore* store = load->store;
  std::string key = load->to_delete[index];
  store->Delete(std::move(key), 0, [load = std::move(load), index](absl::Status s) mutable {
    if (!s.ok()) {
      std::move(load->done)(s);
      return;
    }
    DeleteNext(std::move(load), index + 1);
  });
}

void ListNext(FixtureLoadPtr load, size_t index) {
  if (index == load->prefixes.size()) {
    DeleteNext(std::move(load), 0);
    return;
  }
  StateStore* store = load->store;
  std::string prefix = load->prefixes[index];
  // Expired entries are cleared too: List hides them, so list at the earliest possible "now".
  store->List(std::move(prefix), std::numeric_limits<int64_t>::min(),
              [load = std::move(load), index](absl::StatusOr<std::vector<StoreEntry>> got) mutable {
                if (!got.ok()) {
                  std::move(load->done)(got.status());
                  return;
                }
                for (StoreEntry& e : *got) load->to_delete.push_back(std::move(e.key));
                ListNext(std::move(load), index + 1);
              });
}

void WriteNext(FixtureLoadPtr load, size_t index) {
  if (index == load->entries.size()) {
    std::move(load->done)(absl::OkStatus());
    return;
  }
  StateStore* store = load->store;
  StoreEntry& e = load->entries[index];
  WriteOptions wo{e.expires_at_ms};
  store->Put(std::move(e.key), std::move(e.value), wo,
             [load = std::move(load), index](absl::StatusOr<uint64_t> rev) mutable {
               if (!rev.ok()) {
                 std::move(load->done)(rev.status());
                 return;
               }
               WriteNext(std::move(load), index + 1);
             });
}

}  // namespace

absl::Status CheckFixturesEnabled(bool enabled) {
  if (enabled) return absl::OkStatus();
  return PermissionDenied("fixtures are disabled (config fixtures: false)");
}

void ApplyFixture(StateStore& store, std::vector<std::string> prefixes,
                  std::vector<StoreEntry> entries, int64_t now_ms,
                  absl::AnyInvocable<void(absl::Status) &&> done) {
  auto load = std::make_unique<FixtureLoad>(FixtureLoad{
      &store, std::move(prefixes), std::move(entries), now_ms, std::move(done), {}});
  ListNext(std::move(load), 0);
}

void RegisterFixtureAction(HandlerRegistry& registry, bool enabled, StateStore& store,
                           std::vector<std::string> prefixes, FixtureMapper mapper) {
  registry.Add<google::protobuf::Struct, google::protobuf::Struct>(
      std::string(kFixtureAction),
      [enabled, &store, prefixes = std::move(prefixes), mapper = std::move(mapper)](
          const CallContext& ctx, google::protobuf::Struct document,
          Done<google::protobuf::Struct> done) {
        if (absl::Status s = CheckFixturesEnabled(enabled); !s.ok()) {
          std::move(done)(s);
          return;
        }
        absl::StatusOr<std::vector<StoreEntry>> entries = mapper(document, ctx);
        if (!entries.ok()) {
          std::move(done)(entries.status());
          return;
        }
        ApplyFixture(store, prefixes, std::move(*entries), ctx.now_ms(),
                     [done = std::move(done)](absl::Status s) mutable {
                       if (!s.ok()) {
                         std::move(done)(s);
                       } else {
                         std::move(done)(google::protobuf::Struct());
                       }
                     });
      },
      MethodOptions{.is_public = true});
}

}  // namespace sidecar::services
