#pragma once
// Delayed work for a port (orchestration's retry backoff and its sweeper), without the port touching
// the loop. The host owns the Timers and destroys it together with its ports, on the dispatcher
// thread, so a pending callback never outlives the port it calls into.

#include <chrono>
#include <memory>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "sidecar/event/dispatcher.h"

namespace sidecar::services {

class Timers {
 public:
  virtual ~Timers() = default;
  // Runs `work` once on the dispatcher thread after `delay` (0: a later loop turn), never inline.
  virtual void After(std::chrono::milliseconds delay, absl::AnyInvocable<void() &&> work) = 0;
};

// Timers on an event::Dispatcher. After() may be called from any thread (a port arming its
// sweeper while it is built, before or after the loop started): off the dispatcher thread it is
// handed over with Post. Destroy on the dispatcher thread (or after the loop stopped); pending work
// is dropped then, including hand-overs not yet run.
class DispatcherTimers final : public Timers {
 public:
  explicit DispatcherTimers(event::Dispatcher& dispatcher) : dispatcher_(dispatcher) {}
  ~DispatcherTimers() override { *alive_ = false; }
  void After(std::chrono::milliseconds delay, absl::AnyInvocable<void() &&> work) override;
  size_t pending() const;

 private:
  struct Pending {
    event::TimerPtr timer;
    absl::AnyInvocable<void() &&> work;
  };
  event::Dispatcher& dispatcher_;
  std::vector<std::unique_ptr<Pending>> pending_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sidecar::services
