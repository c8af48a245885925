#pragma once
// A StateStore decorator that injects the failures a port must survive: every compare-and-set
// lost to another writer (the retry bound), or the store unreachable on reads (UNAVAILABLE passes
// through). Callbacks still arrive on the dispatcher, never inside the call.

#include <string>
#include <utility>

#include "services/common/in_memory_state_store.h"
#include "sidecar/event/dispatcher.h"

namespace sidecar::services::testing {

class FlakyStore final : public StateStore {
 public:
  explicit FlakyStore(event::Dispatcher& dispatcher) : dispatcher_(dispatcher), inner_(dispatcher) {}

  bool conflict_every_cas = false;
  bool fail_reads = false;
  int cas_calls = 0;

  void Get(std::string key, int64_t now_ms, GetCallback done) override {
    if (fail_reads) {
      dispatcher_.Post([done = std::move(done)]() mutable {
        std::move(done)(absl::UnavailableError("store down"));
      });
      return;
    }
    inner_.Get(std::move(key), now_ms, std::move(done));
  }
  void Put(std::string key, std::string value, WriteOptions options, WriteCallback done) override {
    inner_.Put(std::move(key), std::move(value), options, std::move(done));
  }
  void CompareAndSet(std::string key, std::string value, uint64_t expected_revision, int64_t now_ms,
                     WriteOptions options, WriteCallback done) override {
    ++cas_calls;
    if (conflict_every_cas) {
      dispatcher_.Post([key, done = std::move(done)]() mutable {
        std::move(done)(ConflictError(key));
      });
      return;
    }
    inner_.CompareAndSet(std::move(key), std::move(value), expected_revision, now_ms, options,
                         std::move(done));
  }
  void Delete(std::string key, uint64_t expected_revision, DeleteCallback done) override {
    if (conflict_every_cas) {
      ++cas_calls;
      dispatcher_.Post([key, done = std::move(done)]() mutable {
        std::move(done)(ConflictError(key));
      });
      return;
    }
    inner_.Delete(std::move(key), expected_revision, std::move(done));
  }
  void List(std::string prefix, int64_t now_ms, ListCallback done) override {
    if (fail_reads) {
      dispatcher_.Post([done = std::move(done)]() mutable {
        std::move(done)(absl::UnavailableError("store down"));
      });
      return;
    }
    inner_.List(std::move(prefix), now_ms, std::move(done));
  }

 private:
  event::Dispatcher& dispatcher_;
  InMemoryStateStore inner_;
};

}  // namespace sidecar::services::testing
