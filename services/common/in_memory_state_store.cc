#include "services/common/in_memory_state_store.h"

namespace sidecar::services {

uint64_t InMemoryStateStore::Write(const std::string& key, std::string value,
                                   const WriteOptions& options) {
  StoreEntry& e = entries_[key];
  e.key = key;
  e.value = std::move(value);
  e.revision = ++last_revision_;
  e.expires_at_ms = options.expires_at_ms;
  return e.revision;
}

void InMemoryStateStore::Get(std::string key, int64_t now_ms, GetCallback done) {
  std::optional<StoreEntry> result;
  auto it = entries_.find(key);
  if (it != entries_.end() && !IsExpired(it->second.expires_at_ms, now_ms)) result = it->second;
  // Posted even though the answer is known now: callers must never see a reentrant callback, so
  // code tested on this store behaves the same on JetStream KV.
  dispatcher_.Post([done = std::move(done), result = std::move(result)]() mutable {
    std::move(done)(std::move(result));
  });
}

void InMemoryStateStore::Put(std::string key, std::string value, WriteOptions options,
                             WriteCallback done) {
  uint64_t rev = Write(key, std::move(value), options);
  dispatcher_.Post([done = std::move(done), rev]() mutable { std::move(done)(rev); });
}

void InMemoryStateStore::CompareAndSet(std::string key, std::string value,
                                       uint64_t expected_revision, int64_t now_ms,
                                       WriteOptions options, WriteCallback done) {
  absl::StatusOr<uint64_t> result;
  auto it = entries_.find(key);
  const bool live = it != entries_.end() && !IsExpired(it->second.expires_at_ms, now_ms);
  if (expected_revision == 0 ? live
                             : (it == entries_.end() || it->second.revision != expected_revision)) {
    result = ConflictError(key);
  } else {
    result = Write(key, std::move(value), options);
  }
  dispatcher_.Post(
      [done = std::move(done), result = std::move(result)]() mutable { std::move(done)(result); });
}

void InMemoryStateStore::Delete(std::string key, uint64_t expected_revision,
                                DeleteCallback done) {
  absl::Status result;
  auto it = entries_.find(key);
  if (expected_revision != 0 &&
      (it == entries_.end() || it->second.revision != expected_revision)) {
    result = ConflictError(key);
  } else if (it != entries_.end()) {
    entries_.erase(it);
    // A delete is a write in JetStream (a marker with its own sequence); keep the sequence aligned.
    ++last_revision_;
  }
  dispatcher_.Post(
      [done = std::move(done), result = std::move(result)]() mutable { std::move(done)(result); });
}

void InMemoryStateStore::List(std::string prefix, int64_t now_ms, ListCallback done) {
  std::vector<StoreEntry> out;
  for (auto it = entries_.lower_bound(prefix);
       it != entries_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    if (!IsExpired(it->second.expires_at_ms, now_ms)) out.push_back(it->second);
  }
  dispatcher_.Post(
      [done = std::move(done), out = std::move(out)]() mutable { std::move(done)(std::move(out)); });
}

}  // namespace sidecar::services
