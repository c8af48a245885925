#include "sidecar/event/dispatcher.h"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace sidecar::event {
namespace {

TEST(DispatcherTest, PostFromOtherThreadsRunsEveryItemOnTheLoopThreadInOrder) {
  auto dispatcher = *Dispatcher::Create("test");
  std::vector<int> seen;
  std::thread::id loop_thread;
  constexpr int kItems = 1000;
  std::thread producer([&] {
    for (int i = 0; i < kItems; ++i) {
      dispatcher->Post([&, i] {
        EXPECT_TRUE(dispatcher->IsThreadSafe());
        seen.push_back(i);
        if (i == kItems - 1) dispatcher->Exit();
      });
    }
  });
  dispatcher->Run();
  producer.join();
  ASSERT_EQ(seen.size(), static_cast<size_t>(kItems));
  for (int i = 0; i < kItems; ++i) EXPECT_EQ(seen[i], i);
}

TEST(DispatcherTest, ExitBeforeRunIsNotLost) {
  auto dispatcher = *Dispatcher::Create("test");
  dispatcher->Exit();
  dispatcher->Run();  // returns instead of hanging
  SUCCEED();
}

TEST(DispatcherTest, TimerFiresOnceAndCanBeDisabled) {
  auto dispatcher = *Dispatcher::Create("test");
  int fired = 0, disabled_fired = 0;
  TimerPtr disabled = dispatcher->CreateTimer([&] { ++disabled_fired; });
  disabled->Enable(std::chrono::milliseconds(1));
  disabled->Disable();
  EXPECT_FALSE(disabled->Enabled());
  TimerPtr timer = dispatcher->CreateTimer([&] {
    ++fired;
    dispatcher->Exit();
  });
  timer->Enable(std::chrono::milliseconds(5));
  EXPECT_TRUE(timer->Enabled());
  dispatcher->Run();
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(disabled_fired, 0);
}

// Re-arming is lazy (libevent keeps the earliest deadline it was given and the timer re-arms itself
// on the early wake-up): a timer moved later fires at the later deadline, never before; one moved
// earlier fires at the earlier one; one disabled and enabled again fires once, at the new deadline.
TEST(DispatcherTest, ATimerFiresOnceAtItsLastDeadlineWhicheverWayItMoved) {
  using Clock = std::chrono::steady_clock;
  using std::chrono::milliseconds;
  auto dispatcher = *Dispatcher::Create("test");
  const Clock::time_point start = Clock::now();
  Clock::time_point later_fired, earlier_fired, again_fired;
  int later_count = 0, earlier_count = 0, again_count = 0;
  TimerPtr later = dispatcher->CreateTimer([&] {
    ++later_count;
    later_fired = Clock::now();
  });
  TimerPtr earlier = dispatcher->CreateTimer([&] {
    ++earlier_count;
    earlier_fired = Clock::now();
  });
  TimerPtr again = dispatcher->CreateTimer([&] {
    ++again_count;
    again_fired = Clock::now();
  });
  TimerPtr stop = dispatcher->CreateTimer([&] { dispatcher->Exit(); });
  later->Enable(milliseconds(10));
  later->Enable(milliseconds(60));
  earlier->Enable(milliseconds(500));
  earlier->Enable(milliseconds(20));
  again->Enable(milliseconds(10));
  again->Disable();
  EXPECT_FALSE(again->Enabled());
  again->Enable(milliseconds(40));
  EXPECT_TRUE(again->Enabled());
  stop->Enable(milliseconds(150));
  dispatcher->Run();
  EXPECT_EQ(later_count, 1);
  EXPECT_EQ(earlier_count, 1);
  EXPECT_EQ(again_count, 1);
  EXPECT_GE(later_fired - start, milliseconds(60));
  EXPECT_GE(earlier_fired - start, milliseconds(20));
  EXPECT_LT(earlier_fired - start, milliseconds(150));
  EXPECT_GE(again_fired - start, milliseconds(40));
  EXPECT_FALSE(later->Enabled());
}

TEST(DispatcherTest, AScheduledCallbackRunsInTheSamePassBeforeTheNextPoll) {
  auto dispatcher = *Dispatcher::Create("test");
  std::vector<std::string> order;
  int again = 0;
  SchedulableCallbackPtr callback;
  callback = dispatcher->CreateSchedulableCallback([&] {
    order.push_back("scheduled");
    if (++again == 1) callback->Schedule();  // scheduling itself from its callback runs it once more
  });
  SchedulableCallbackPtr cancelled = dispatcher->CreateSchedulableCallback([&] { order.push_back("cancelled"); });
  // A 0 ms timer fires only after the loop polls again: the scheduled callback, though scheduled
  // later, runs first.
  TimerPtr timer = dispatcher->CreateTimer([&] {
    order.push_back("timer");
    dispatcher->Exit();
  });
  dispatcher->Post([&] {
    timer->Enable(std::chrono::milliseconds(0));
    callback->Schedule();
    callback->Schedule();  // once
    EXPECT_TRUE(callback->Scheduled());
    cancelled->Schedule();
    cancelled->Cancel();
    EXPECT_FALSE(cancelled->Scheduled());
  });
  dispatcher->Run();
  EXPECT_EQ(order, (std::vector<std::string>{"scheduled", "scheduled", "timer"}));
  EXPECT_FALSE(callback->Scheduled());
}

}  // namespace
}  // namespace sidecar::event
