#pragma once
// The shared state of a native port (SERVICES.md §0.8): every replica of a service sees the same
// entries, so "strong" state is a compare-and-set loop over revisions.
//
// Two implementations with identical semantics, checked by one conformance suite
// (tests/services/common/state_store_conformance_test.cc):
//   InMemoryStateStore     one replica, development, tests (services/common/in_memory_state_store.h)
//   JetStreamKvStateStore  production, one JetStream KV bucket shared by all replicas
//                          (services/common/jetstream_kv_state_store.h)
//
// Keys are '/'-separated paths ("wallet/pl_a8694c9d17e9b948/GLD"); a segment may hold any bytes
// but '/'. Values are opaque bytes (ports store protobuf or JSON).
//
// Revisions are opaque: > 0, different after every write of a key, and only meaningful as the
// `expected_revision` of a later write. They are NOT the spec's `version`/`revision` fields
// (JetStream's are stream sequences shared by all keys); a port keeps those in its value.
//
// Expiry (TTL). JetStream KV (nats-server 2.9) only has a per-bucket max age, and the spec's
// retention is measured on the request clock (X-Request-Time, §0.3), not the wall clock. So an
// entry may carry `expires_at_ms` (unix ms, request clock) in its stored envelope, and every read
// takes the caller's `now_ms`: an entry with expires_at_ms != 0 && now_ms >= expires_at_ms reads
// as absent (Get, List) and may be replaced by a create (CompareAndSet with expected_revision 0).
// Expired entries stay on disk until overwritten or deleted (lazy purge, like capability-registry
// C6); a bucket max age can bound them in production (JetStreamKvStateStore::Options::max_age).
//
// Threads: every operation may be called from the owning dispatcher's thread only, and its
// callback is always delivered later on that thread, via Post() — never inside the call — so the
// two implementations cannot differ in reentrancy.
//
// Errors: a write that loses a race (revision mismatch, or "must not exist" but it does) fails
// with kAborted (IsConflict); callers re-read and retry or map it to their rule's error. A store
// that cannot be reached fails with kUnavailable; ports pass that on as §0.4 UNAVAILABLE.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sidecar::services {

struct StoreEntry {
  std::string key;
  std::string value;
  uint64_t revision = 0;
  int64_t expires_at_ms = 0;  // 0: never
};

struct WriteOptions {
  // Absolute expiry on the request clock (unix ms); 0: never. See the header comment.
  int64_t expires_at_ms = 0;
};

// True for the kAborted status of a lost compare-and-set.
bool IsConflict(const absl::Status& status);
absl::Status ConflictError(std::string_view key);

// True when an entry with this expiry is expired at now_ms.
inline bool IsExpired(int64_t expires_at_ms, int64_t now_ms) {
  return expires_at_ms != 0 && now_ms >= expires_at_ms;
}

class StateStore {
 public:
  using GetCallback = absl::AnyInvocable<void(absl::StatusOr<std::optional<StoreEntry>>) &&>;
  using WriteCallback = absl::AnyInvocable<void(absl::StatusOr<uint64_t> new_revision) &&>;
  using DeleteCallback = absl::AnyInvocable<void(absl::Status) &&>;
  using ListCallback = absl::AnyInvocable<void(absl::StatusOr<std::vector<StoreEntry>>) &&>;

  virtual ~StateStore() = default;

  // The live entry, or nullopt when absent, deleted or expired at now_ms.
  virtual void Get(std::string key, int64_t now_ms, GetCallback done) = 0;

  // Unconditional write (last writer wins). For state nobody else writes concurrently (config
  // written by one admin call, fixtures); strong state uses CompareAndSet.
  virtual void Put(std::string key, std::string value, WriteOptions options,
                   WriteCallback done) = 0;

  // Writes iff the key's current revision is `expected_revision`; 0 means "absent, deleted or
  // expired at now_ms" (create). Otherwise kAborted (IsConflict). Of concurrent writers with the
  // same expected revision exactly one wins, across processes for JetStream KV.
  virtual void CompareAndSet(std::string key, std::string value, uint64_t expected_revision,
                             int64_t now_ms, WriteOptions options, WriteCallback done) = 0;

  // Deletes the key. expected_revision 0: unconditional (absent is OK); otherwise the current
  // revision must match, else kAborted (absent included).
  virtual void Delete(std::string key, uint64_t expected_revision, DeleteCallback done) = 0;

  // Live entries (not expired at now_ms) whose key starts with `prefix` (plain byte prefix),
  // ascending by key bytes (= code point order for UTF-8).
  virtual void List(std::string prefix, int64_t now_ms, ListCallback done) = 0;
};

}  // namespace sidecar::services
