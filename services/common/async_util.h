#pragma once
// Two small asynchronous building blocks ports share (payment, event-bus). Header-only.
//
//   KeyedQueue  runs tasks for the same key one after another on this replica, so concurrent
//               requests against one key (a ledger book, a topic) do not race each other's
//               compare-and-set (which would cost O(n^2) store round trips under load and
//               exhaust bounded retries). Only other replicas can still conflict, and the CAS
//               loop handles those.
//   Barrier     completes once N parallel store operations have answered, with the first error.

#include <deque>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace sidecar::services {

class KeyedQueue {
 public:
  using Release = absl::AnyInvocable<void() &&>;
  using Task = absl::AnyInvocable<void(Release) &&>;

  // Runs `task` now if no task of `key` is running, else after the earlier ones released. A task
  // must call its Release exactly once; it never blocks (it releases from a store callback).
  void Run(const std::string& key, Task task) {
    {
      absl::MutexLock lock(&mu_);
      auto [it, inserted] = queues_.try_emplace(key);
      if (!inserted) {  // a task of this key is running: wait behind it
        it->second.push_back(std::move(task));
        return;
      }
    }
    Start(key, std::move(task));
  }

 private:
  void Start(const std::string& key, Task task) {
    std::move(task)([this, key]() { Next(key); });
  }
  void Next(const std::string& key) {
    Task next;
    {
      absl::MutexLock lock(&mu_);
      auto it = queues_.find(key);
      if (it == queues_.end()) return;
      if (it->second.empty()) {
        queues_.erase(it);
        return;
      }
      next = std::move(it->second.front());
      it->second.pop_front();
    }
    Start(key, std::move(next));
  }

  absl::Mutex mu_;
  // Present while a task of the key runs; holds the tasks waiting behind it.
  absl::flat_hash_map<std::string, std::deque<Task>> queues_ ABSL_GUARDED_BY(mu_);
};

// Shared by the callbacks of N parallel operations; `done` runs after the last one.
class Barrier {
 public:
  static std::shared_ptr<Barrier> Create(int count, absl::AnyInvocable<void(absl::Status) &&> done) {
    auto b = std::shared_ptr<Barrier>(new Barrier(count, std::move(done)));
    if (count == 0) b->Finish();
    return b;
  }
  void Arrive(const absl::Status& status) {
    if (!status.ok() && first_error_.ok()) first_error_ = status;
    if (--remaining_ == 0) Finish();
  }

 private:
  Barrier(int count, absl::AnyInvocable<void(absl::Status) &&> done)
      : remaining_(count), done_(std::move(done)) {}
  void Finish() {
    if (done_) std::move(done_)(first_error_);
    done_ = nullptr;
  }
  // Callbacks all arrive on the store's dispatcher thread: no lock needed.
  int remaining_;
  absl::Status first_error_;
  absl::AnyInvocable<void(absl::Status) &&> done_;
};

}  // namespace sidecar::services
