#include "services/common/timers.h"

#include <algorithm>
#include <utility>

namespace sidecar::services {

void DispatcherTimers::After(std::chrono::milliseconds delay, absl::AnyInvocable<void() &&> work) {
  if (!dispatcher_.IsThreadSafe()) {
    dispatcher_.Post([this, delay, work = std::move(work), alive = std::weak_ptr<bool>(alive_)]() mutable {
      if (auto a = alive.lock(); a && *a) After(delay, std::move(work));
    });
    return;
  }
  auto pending = std::make_unique<Pending>();
  Pending* raw = pending.get();
  raw->work = std::move(work);
  raw->timer = dispatcher_.CreateTimer([this, raw] {
    absl::AnyInvocable<void() &&> work = std::move(raw->work);
    // Forget the entry first: `work` may schedule more (a sweeper re-arming itself).
    auto it = std::find_if(pending_.begin(), pending_.end(), [raw](const auto& p) { return p.get() == raw; });
    std::unique_ptr<Pending> self;
    if (it != pending_.end()) {
      self = std::move(*it);
      pending_.erase(it);
    }
    std::move(work)();
    // `self` (and its timer) goes here, after the callback returned: a libevent timer may be freed
    // from inside its own callback, but keeping it alive until then is the simple rule.
  });
  raw->timer->Enable(std::max(delay, std::chrono::milliseconds(0)));
  pending_.push_back(std::move(pending));
}

size_t DispatcherTimers::pending() const { return pending_.size(); }

}  // namespace sidecar::services
