// DispatcherTimers: delayed work on the loop, never inline, in delay order, and safe to arm from
// another thread (a port arming its sweeper while it is being built).

#include "services/common/timers.h"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "tests/services/common/loop_thread.h"

namespace sidecar::services {
namespace {

using std::chrono::milliseconds;

TEST(DispatcherTimersTest, RunsWorkOnTheLoopAfterItsDelayNeverInline) {
  testing::LoopThread loop;
  DispatcherTimers timers(loop.dispatcher());
  auto order = loop.Await<std::vector<std::string>>([&](auto done) {
    auto seen = std::make_shared<std::vector<std::string>>();
    auto finish = std::make_shared<decltype(done)>(std::move(done));
    timers.After(milliseconds(30), [seen, finish] {
      seen->push_back("30ms");
      std::move(*finish)(*seen);
    });
    timers.After(milliseconds(0), [seen] { seen->push_back("0ms"); });
    seen->push_back("inline");
    EXPECT_EQ(timers.pending(), 2u);
  });
  ASSERT_TRUE(order.has_value());
  EXPECT_EQ(*order, (std::vector<std::string>{"inline", "0ms", "30ms"}));
  EXPECT_EQ(loop.Await<size_t>([&](auto done) { std::move(done)(timers.pending()); }).value_or(99), 0u);
}

TEST(DispatcherTimersTest, WorkMayScheduleMoreWork) {
  testing::LoopThread loop;
  DispatcherTimers timers(loop.dispatcher());
  auto rounds = loop.Await<int>([&](auto done) {
    auto count = std::make_shared<int>(0);
    auto finish = std::make_shared<decltype(done)>(std::move(done));
    auto tick = std::make_shared<std::function<void()>>();
    *tick = [&timers, count, finish, weak = std::weak_ptr<std::function<void()>>(tick)] {
      if (++*count == 3) {
        std::move(*finish)(*count);
        return;
      }
      timers.After(milliseconds(1), [next = weak.lock()] { (*next)(); });
    };
    timers.After(milliseconds(1), [tick] { (*tick)(); });
  });
  EXPECT_EQ(rounds.value_or(0), 3);
}

TEST(DispatcherTimersTest, ArmedFromAnotherThreadRunsOnTheLoop) {
  testing::LoopThread loop;
  DispatcherTimers timers(loop.dispatcher());
  absl::Notification ran;
  bool on_loop = false;
  timers.After(milliseconds(1), [&] {
    on_loop = loop.dispatcher().IsThreadSafe();
    ran.Notify();
  });
  ASSERT_TRUE(ran.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_TRUE(on_loop);
}

}  // namespace
}  // namespace sidecar::services
