#pragma once
// Blocking access to the cut-over KV bucket over a plain nats.c connection (its own threads, not
// on an event loop). Used directly by the CLI, and by the controller only from its own threads.
//
// Writes are compare-and-set on the key's revision (JetStream's expected-last-subject-sequence),
// so of several sidecars writing the same step or rollback from the same revision exactly one
// wins; the others get kAborted and see the winner's revision through their watchers.

#include <nats/nats.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sidecar/common/c_handle.h"

namespace sidecar::cutover {

using JsCtxPtr = CHandle<jsCtx, jsCtx_Destroy>;
using KvStorePtr = CHandle<kvStore, kvStore_Destroy>;
using KvWatcherPtr = CHandle<kvWatcher, kvWatcher_Destroy>;

struct KvRecord {
  std::string key;
  uint64_t revision = 0;
  std::string value;
  bool deleted = false;  // a DEL or PURGE marker
  int64_t created_ms = 0;  // server time of the revision
};

// kAborted from Write: another writer changed the key since `expected_revision`.
bool IsConflict(const absl::Status& status);

class RouteKv {
 public:
  // Binds the bucket; creates it (history 16, file storage) when absent and `create` is set.
  // Blocking. `conn` must outlive the RouteKv.
  static absl::StatusOr<std::unique_ptr<RouteKv>> Bind(natsConnection* conn, const std::string& bucket,
                                                       bool create, int replicas, int64_t timeout_ms);

  absl::StatusOr<std::optional<KvRecord>> Get(const std::string& key);
  // Writes `value` if the key's latest revision is `expected_revision` (0: the key must not exist
  // or be deleted). Returns the new revision; kAborted on a lost race.
  absl::StatusOr<uint64_t> Write(const std::string& key, const std::string& value, uint64_t expected_revision);
  // Every stored revision of `key`, oldest first (the bucket keeps `history` of them).
  absl::StatusOr<std::vector<KvRecord>> History(const std::string& key);
  // Current keys (deleted ones left out).
  absl::StatusOr<std::vector<std::string>> Keys();
  // A watcher over every key (current values first, then a null entry, then updates).
  absl::StatusOr<KvWatcherPtr> WatchAll();

  const std::string& bucket() const { return bucket_; }

 private:
  RouteKv(std::string bucket, JsCtxPtr js, KvStorePtr kv, int64_t timeout_ms)
      : bucket_(std::move(bucket)), js_(std::move(js)), kv_(std::move(kv)), timeout_ms_(timeout_ms) {}

  std::string bucket_;
  JsCtxPtr js_;
  KvStorePtr kv_;
  int64_t timeout_ms_;
};

// Copies a watcher/history entry out of nats.c.
KvRecord ToRecord(kvEntry* entry);

}  // namespace sidecar::cutover
