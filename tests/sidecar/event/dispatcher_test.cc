#include "sidecar/event/dispatcher.h"

#include <atomic>
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
