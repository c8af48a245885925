#include "services/common/worker_pool.h"

namespace sidecar::services {

WorkerPool::WorkerPool(size_t threads) {
  if (threads == 0) threads = 1;
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

WorkerPool::~WorkerPool() {
  std::deque<Work> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    left.swap(queue_);
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  for (auto& work : left) std::move(work)(/*cancelled=*/true);
}

void WorkerPool::Run(Work work) {
  bool queued = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back(std::move(work));
      queued = true;
    }
  }
  if (!queued) {
    std::move(work)(/*cancelled=*/true);
    return;
  }
  cv_.notify_one();
}

void WorkerPool::Loop() {
  for (;;) {
    Work work;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    std::move(work)(/*cancelled=*/false);
  }
}

}  // namespace sidecar::services
