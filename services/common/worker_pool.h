#pragma once
// A few threads for nats.c's blocking calls (JetStream KV, js_PublishMsg), so they never run on a
// dispatcher. Work is a closure that gets `cancelled = true` instead of running normally when the
// pool is destroyed before reaching it; it must then post its "cancelled" result without blocking.

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"

namespace sidecar::services {

class WorkerPool {
 public:
  using Work = absl::AnyInvocable<void(bool cancelled) &&>;

  explicit WorkerPool(size_t threads);
  // Finishes the work in progress, runs the queued work with cancelled = true, joins.
  ~WorkerPool();

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Thread-safe.
  void Run(Work work);

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Work> queue_;  // guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace sidecar::services
