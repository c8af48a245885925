#pragma once
// The StateStore for one replica, development and tests. Same semantics as JetStreamKvStateStore
// (revisions are a store-wide sequence like a JetStream stream's), callbacks posted to the
// dispatcher. Not thread-safe: use from the dispatcher's thread, like every StateStore.

#include <map>
#include <string>

#include "services/common/state_store.h"
#include "sidecar/event/dispatcher.h"

namespace sidecar::services {

class InMemoryStateStore final : public StateStore {
 public:
  explicit InMemoryStateStore(event::Dispatcher& dispatcher) : dispatcher_(dispatcher) {}

  void Get(std::string key, int64_t now_ms, GetCallback done) override;
  void Put(std::string key, std::string value, WriteOptions options, WriteCallback done) override;
  void CompareAndSet(std::string key, std::string value, uint64_t expected_revision,
                     int64_t now_ms, WriteOptions options, WriteCallback done) override;
  void Delete(std::string key, uint64_t expected_revision, DeleteCallback done) override;
  void List(std::string prefix, int64_t now_ms, ListCallback done) override;

  // Synchronous view for tests and diagnostics (includes expired entries).
  size_t size() const { return entries_.size(); }

 private:
  uint64_t Write(const std::string& key, std::string value, const WriteOptions& options);

  event::Dispatcher& dispatcher_;
  std::map<std::string, StoreEntry> entries_;  // ordered: List is a range scan
  uint64_t last_revision_ = 0;
};

}  // namespace sidecar::services
