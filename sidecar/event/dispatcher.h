#pragma once
// A Dispatcher owns one libevent event_base and the thread that runs it. Everything it owns (timers,
// connections, listeners) is touched only from that thread; other threads hand work over with Post().

#include <event2/event.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "sidecar/common/c_handle.h"

namespace sidecar::event {

using EventBasePtr = CHandle<event_base, event_base_free>;
using EventPtr = CHandle<struct event, event_free>;

class Dispatcher;

// A one-shot timer bound to a dispatcher. Destroying it cancels it. Not thread-safe: use on the owner thread.
//
// Re-arming is lazy, as nginx's timers are: a connection moves its timeout on every request (idle ->
// header -> in flight -> idle), and each libevent re-arm is a lock and a heap update. Enable() only
// touches libevent when the new deadline is earlier than the one libevent already holds; a later
// deadline is recorded, and the early wake-up re-arms for the rest. Disable() only clears the flag;
// the stale wake-up is ignored. The callback still runs once, at (never before) the last deadline.
class Timer {
 public:
  using Clock = std::chrono::steady_clock;

  ~Timer() = default;
  void Enable(std::chrono::milliseconds after);
  void Disable() { armed_ = false; }
  bool Enabled() const { return armed_; }

 private:
  friend class Dispatcher;
  explicit Timer(absl::AnyInvocable<void()> cb) : cb_(std::move(cb)) {}
  static void OnFire(evutil_socket_t, short, void* arg) noexcept;
  void ArmEvent(Clock::time_point now, Clock::time_point at);

  absl::AnyInvocable<void()> cb_;
  EventPtr ev_;
  bool armed_ = false;          // what the owner asked for
  Clock::time_point deadline_;  // valid while armed_
  bool event_pending_ = false;  // whether libevent holds the event, and for when
  Clock::time_point event_at_;
};
using TimerPtr = std::unique_ptr<Timer>;

// Runs its callback once, later in the current loop pass: after the running callback returns and
// before the loop polls again (libevent runs an event activated during a pass in that same pass).
// Deferred deletion uses it, as Envoy's SchedulableCallback::scheduleCallbackCurrentIteration: a
// 0 ms timer would do the same work one poll later, which cost the pass-through an extra
// epoll_wait(0) per request. Destroying it cancels it. Owner thread only.
class SchedulableCallback {
 public:
  ~SchedulableCallback() = default;
  void Schedule();  // no-op while already scheduled
  void Cancel();
  bool Scheduled() const { return scheduled_; }

 private:
  friend class Dispatcher;
  explicit SchedulableCallback(absl::AnyInvocable<void()> cb) : cb_(std::move(cb)) {}
  static void OnRun(evutil_socket_t, short, void* arg) noexcept;

  absl::AnyInvocable<void()> cb_;
  EventPtr ev_;
  bool scheduled_ = false;
};
using SchedulableCallbackPtr = std::unique_ptr<SchedulableCallback>;

// A registered signal handler; destroying it unregisters.
class SignalEvent {
 public:
  ~SignalEvent() = default;

 private:
  friend class Dispatcher;
  explicit SignalEvent(absl::AnyInvocable<void()> cb) : cb_(std::move(cb)) {}
  static void OnSignal(evutil_socket_t, short, void* arg) noexcept;

  absl::AnyInvocable<void()> cb_;
  EventPtr ev_;
};
using SignalEventPtr = std::unique_ptr<SignalEvent>;

class Dispatcher {
 public:
  // Fails only if libevent cannot allocate a base. Enables libevent's pthread locking once per process,
  // which nats.c's adapter and cross-thread event_active() both need.
  static absl::StatusOr<std::unique_ptr<Dispatcher>> Create(std::string name);
  ~Dispatcher();

  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  const std::string& name() const { return name_; }
  event_base* base() { return base_.get(); }

  // Thread-safe. Runs `work` on the dispatcher thread, in post order. Work posted after Exit() is
  // still run if the loop runs again; work left when the dispatcher is destroyed is dropped.
  void Post(absl::AnyInvocable<void() &&> work);

  TimerPtr CreateTimer(absl::AnyInvocable<void()> cb);
  SchedulableCallbackPtr CreateSchedulableCallback(absl::AnyInvocable<void()> cb);
  SignalEventPtr ListenForSignal(int signum, absl::AnyInvocable<void()> cb);

  // Runs the loop on the calling thread until Exit(). The calling thread becomes the owner thread.
  void Run();
  // Thread-safe: asks Run() to return after the current callbacks.
  void Exit();

  // True on the thread that runs (or, before Run, created) this dispatcher.
  bool IsThreadSafe() const { return std::this_thread::get_id() == owner_.load(); }

 private:
  explicit Dispatcher(std::string name, EventBasePtr base);
  static void OnPosted(evutil_socket_t, short, void* arg) noexcept;
  void RunPosted();

  std::string name_;
  EventBasePtr base_;
  EventPtr post_event_;
  std::mutex post_mu_;
  std::vector<absl::AnyInvocable<void() &&>> posted_;  // guarded by post_mu_
  // The batch RunPosted is running (loop thread only). It trades places with posted_ and keeps its
  // capacity, so a loop turn's posts fill a vector that is already grown, not a new one.
  std::vector<absl::AnyInvocable<void() &&>> running_;
  std::atomic<std::thread::id> owner_;
};
using DispatcherPtr = std::unique_ptr<Dispatcher>;

}  // namespace sidecar::event
