#pragma once
// StateStore over one JetStream KV bucket (nats.c), shared by every replica of a service.
//
// nats.c's KV and JetStream calls block, so each operation runs on a small WorkerPool and its
// result is Post()ed back to the dispatcher: the loop never waits on the store.
//
// Mapping:
//   key    '/'-separated path -> KV key: one token per segment, joined by '.'; in a segment the
//          bytes [A-Za-z0-9_-] are kept and every other byte is "=XX" (upper-case hex); an empty
//          segment is "="; a leading '_' of the whole key is escaped too ("_kv" is reserved).
//          List(prefix) watches "<tokens of the prefix's complete segments>.>" and filters the
//          rest of the prefix after decoding, so a list touches only its own subtree.
//   value  envelope: 1 byte format (1), 8 bytes big-endian expires_at_ms (0 = never), the bytes.
//   revision = the stream sequence of the key's last message (kvEntry_Revision).
//   writes are js_PublishMsg to $KV.<bucket>.<key> with Nats-Expected-Last-Subject-Sequence, so a
//          lost race is the server's "wrong last sequence" (10071) -> kAborted. A create over a
//          deleted or expired entry retries once against that entry's sequence, so concurrent
//          creators still have exactly one winner.
//   delete = a KV-Operation: DEL marker (what kvStore_Delete writes), conditional the same way.

#include <nats/nats.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "services/common/state_store.h"
#include "services/common/worker_pool.h"
#include "sidecar/common/c_handle.h"
#include "sidecar/event/dispatcher.h"

namespace sidecar::services {

using JsCtxPtr = CHandle<jsCtx, jsCtx_Destroy>;
using KvStorePtr = CHandle<kvStore, kvStore_Destroy>;

// KV key <-> store key (exposed for tests).
std::string EncodeKvKey(std::string_view key);
absl::StatusOr<std::string> DecodeKvKey(std::string_view kv_key);

class JetStreamKvStateStore final : public StateStore {
 public:
  struct Options {
    std::string bucket;                 // e.g. "svc-payment"; [A-Za-z0-9_-]+
    int replicas = 1;
    bool file_storage = true;
    // Bucket max age in ms (0: none): a production backstop for entries that expired on the
    // request clock and were never overwritten. Must exceed every retention the service uses.
    int64_t max_age_ms = 0;
    size_t worker_threads = 4;
    int64_t op_timeout_ms = 5000;       // per nats.c call (jsOptions.Wait, watcher waits)
  };

  // Binds to the bucket, creating it when absent. Blocking: call at startup, not from a handler.
  // `conn` must outlive the store; `dispatcher` receives every callback.
  static absl::StatusOr<std::unique_ptr<JetStreamKvStateStore>> Create(natsConnection* conn,
                                                                       event::Dispatcher& dispatcher,
                                                                       Options options);
  // Waits for operations in progress; queued ones complete with kCancelled (posted).
  ~JetStreamKvStateStore() override;

  void Get(std::string key, int64_t now_ms, GetCallback done) override;
  void Put(std::string key, std::string value, WriteOptions options, WriteCallback done) override;
  void CompareAndSet(std::string key, std::string value, uint64_t expected_revision,
                     int64_t now_ms, WriteOptions options, WriteCallback done) override;
  void Delete(std::string key, uint64_t expected_revision, DeleteCallback done) override;
  void List(std::string prefix, int64_t now_ms, ListCallback done) override;

  const std::string& bucket() const { return options_.bucket; }

 private:
  JetStreamKvStateStore(event::Dispatcher& dispatcher, Options options, JsCtxPtr js, KvStorePtr kv);

  // Blocking bodies, run on a worker.
  absl::StatusOr<std::optional<StoreEntry>> DoGet(const std::string& key, int64_t now_ms);
  // expected: nullopt = unconditional; 0 = must not exist; else that sequence.
  absl::StatusOr<uint64_t> DoPublish(const std::string& key, const std::string* value,
                                     int64_t expires_at_ms, std::optional<uint64_t> expected);
  absl::StatusOr<uint64_t> DoCompareAndSet(const std::string& key, const std::string& value,
                                           uint64_t expected, int64_t now_ms, int64_t expires_at_ms);
  absl::StatusOr<std::vector<StoreEntry>> DoList(const std::string& prefix, int64_t now_ms);

  // Runs `body` on a worker and posts `deliver(result)` to the dispatcher.
  template <typename Result>
  void Submit(absl::AnyInvocable<Result() &&> body,
              absl::AnyInvocable<void(Result) &&> deliver);

  event::Dispatcher& dispatcher_;
  Options options_;
  std::string stream_;          // KV_<bucket>
  std::string subject_prefix_;  // $KV.<bucket>.
  JsCtxPtr js_;
  KvStorePtr kv_;
  // Declared last: destroyed first, so workers stop before the handles they use go away.
  std::unique_ptr<WorkerPool> workers_;
};

}  // namespace sidecar::services
