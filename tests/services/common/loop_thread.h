#pragma once
// A Dispatcher running on its own thread, and Await(): start an asynchronous operation on the
// loop and wait, bounded, for its callback. Every StateStore/EventPublisher callback arrives on the
// loop, so tests drive them exactly as a port would.

#include <optional>
#include <thread>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sidecar/event/dispatcher.h"

namespace sidecar::services::testing {

class LoopThread {
 public:
  LoopThread() {
    auto d = event::Dispatcher::Create("test-loop");
    EXPECT_TRUE(d.ok());
    dispatcher_ = std::move(*d);
    thread_ = std::thread([this] { dispatcher_->Run(); });
  }
  ~LoopThread() {
    dispatcher_->Exit();
    thread_.join();
  }

  event::Dispatcher& dispatcher() { return *dispatcher_; }

  // Runs `start(callback)` on the loop; returns what the callback got. Fails the test (and
  // returns nullopt) if nothing arrives within `timeout`.
  template <typename T>
  std::optional<T> Await(absl::AnyInvocable<void(absl::AnyInvocable<void(T) &&>) &&> start,
                         absl::Duration timeout = absl::Seconds(20)) {
    struct Slot {
      absl::Notification done;
      std::optional<T> value;
    };
    auto slot = std::make_shared<Slot>();
    dispatcher_->Post([start = std::move(start), slot]() mutable {
      std::move(start)([slot](T v) {
        if (slot->done.HasBeenNotified()) return;
        slot->value.emplace(std::move(v));
        slot->done.Notify();
      });
    });
    if (!slot->done.WaitForNotificationWithTimeout(timeout)) {
      ADD_FAILURE() << "callback did not arrive within " << timeout;
      return std::nullopt;
    }
    return std::move(slot->value);
  }

 private:
  event::DispatcherPtr dispatcher_;
  std::thread thread_;
};

}  // namespace sidecar::services::testing
