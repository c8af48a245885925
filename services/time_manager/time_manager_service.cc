#include "services/time_manager/time_manager_service.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "services/common/call_context.h"
#include "services/common/errors.h"
#include "services/common/event_publisher.h"
#include "services/common/fixtures.h"
#include "services/common/state_store.h"
#include "services/time_manager/time_manager_logic.h"

namespace sidecar::services {
namespace {

using time_manager::Clock;
using time_manager::ClockMap;
namespace tml = time_manager;
namespace v1 = ::time_manager::v1;

// Compare-and-set retries of the clocks entry before giving up with UNAVAILABLE (only concurrent
// writers of other clocks can make it lose; each retry re-runs the rule checks on fresh state).
constexpr int kCasAttempts = 8;
// The tick lease outlives any request deadline; it expires on the request clock (StateStore TTL)
// so a replica that died mid-tick frees the clock on its own.
constexpr int64_t kTickLeaseMs = 30000;

class TimeManagerService final : public Service {
 public:
  explicit TimeManagerService(const ServiceDeps& deps)
      : store_(*deps.store), events_(*deps.events), fixtures_enabled_(deps.fixtures_enabled) {}

  std::string_view name() const override { return tml::kServiceName; }

  void Register(HandlerRegistry& r) override {
    r.Add<v1::CreateClockRequest, v1::CreateClockResponse>(
        "create_clock", [this](const CallContext& ctx, v1::CreateClockRequest rq,
                               Done<v1::CreateClockResponse> done) {
          CreateClock(ctx, std::move(rq), std::move(done));
        });
    r.Add<v1::GetTimeRequest, v1::GetTimeResponse>(
        "get_time",
        [this](const CallContext& ctx, v1::GetTimeRequest rq, Done<v1::GetTimeResponse> done) {
          GetTime(ctx, std::move(rq), std::move(done));
        });
    r.Add<v1::SetScaleRequest, v1::SetScaleResponse>(
        "set_scale",
        [this](const CallContext& ctx, v1::SetScaleRequest rq, Done<v1::SetScaleResponse> done) {
          SetScale(ctx, std::move(rq), std::move(done));
        });
    r.Add<v1::ScheduleTimerRequest, v1::ScheduleTimerResponse>(
        "schedule_timer", [this](const CallContext& ctx, v1::ScheduleTimerRequest rq,
                                 Done<v1::ScheduleTimerResponse> done) {
          ScheduleTimer(ctx, std::move(rq), std::move(done));
        });
    r.Add<v1::CancelTimerRequest, v1::CancelTimerResponse>(
        "cancel_timer", [this](const CallContext& ctx, v1::CancelTimerRequest rq,
                               Done<v1::CancelTimerResponse> done) {
          CancelTimer(ctx, std::move(rq), std::move(done));
        });
    r.Add<v1::TickRequest, v1::TickResponse>(
        "tick", [this](const CallContext& ctx, v1::TickRequest rq, Done<v1::TickResponse> done) {
          Tick(ctx, std::move(rq), std::move(done));
        });
    RegisterFixtureAction(r, fixtures_enabled_, store_, {std::string(tml::kStorePrefix)},
                          [](const google::protobuf::Struct& doc, const CallContext&) {
                            return tml::FixtureEntries(doc);
                          });
  }

 private:
  using ClocksDone = absl::AnyInvocable<void(absl::StatusOr<ClockMap>) &&>;
  // Applies a rule to the current clocks; called once per compare-and-set attempt.
  using ClocksMutation = absl::AnyInvocable<absl::Status(ClockMap&)>;

  // ---- store helpers ----

  void LoadClocks(int64_t now_ms, ClocksDone done) {
    store_.Get(tml::ClocksKey(), now_ms,
               [done = std::move(done)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
                 if (!got.ok()) {
                   std::move(done)(got.status());
                   return;
                 }
                 if (!got->has_value()) {
                   std::move(done)(ClockMap());
                   return;
                 }
                 std::move(done)(tml::DecodeClocks((*got)->value));
               });
  }

  // Read-modify-write of the clocks entry (strong state: one compare-and-set).
  void UpdateClocks(int64_t now_ms, ClocksMutation mutate, int attempts_left, ClocksDone done) {
    store_.Get(
        tml::ClocksKey(), now_ms,
        [this, now_ms, mutate = std::move(mutate), attempts_left,
         done = std::move(done)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
          if (!got.ok()) {
            std::move(done)(got.status());
            return;
          }
          ClockMap clocks;
          uint64_t revision = 0;
          if (got->has_value()) {
            absl::StatusOr<ClockMap> decoded = tml::DecodeClocks((*got)->value);
            if (!decoded.ok()) {
              std::move(done)(decoded.status());
              return;
            }
            clocks = std::move(*decoded);
            revision = (*got)->revision;
          }
          if (absl::Status s = mutate(clocks); !s.ok()) {
            std::move(done)(s);
            return;
          }
          std::string bytes = tml::EncodeClocks(clocks);
          store_.CompareAndSet(
              tml::ClocksKey(), std::move(bytes), revision, now_ms, {},
              [this, now_ms, mutate = std::move(mutate), attempts_left, clocks = std::move(clocks),
               done = std::move(done)](absl::StatusOr<uint64_t> written) mutable {
                if (written.ok()) {
                  std::move(done)(std::move(clocks));
                  return;
                }
                if (IsConflict(written.status()) && attempts_left > 1) {
                  UpdateClocks(now_ms, std::move(mutate), attempts_left - 1, std::move(done));
                  return;
                }
                std::move(done)(IsConflict(written.status())
                                    ? Unavailable("", {}, "clocks entry kept changing")
                                    : written.status());
              });
        });
  }

  void PublishClockChanged(const Clock& clock, int64_t now_ms) {
    v1::ClockChangedEvent ev;
    ev.set_clock_id(clock.clock_id);
    ev.set_scale_milli(clock.scale_milli);
    ev.set_paused(clock.paused);
    ev.set_revision(clock.revision);
    // clock_id + revision names the change uniquely (revisions only grow; no delete in v1, T1).
    std::string id = MakeEventId(tml::kServiceName, "clock_changed",
                                 clock.clock_id + ":" + std::to_string(clock.revision));
    absl::StatusOr<Event> event =
        MakeEvent(tml::kServiceName, "clock_changed", std::move(id), now_ms, ev);
    // A publish failure does not fail the request: the state change already happened.
    if (event.ok()) events_.Publish(std::move(*event), nullptr);
  }

  // ---- actions ----

  void CreateClock(const CallContext& ctx, v1::CreateClockRequest rq,
                   Done<v1::CreateClockResponse> done) {
    if (absl::Status s = tml::ValidateCreateClock(rq); !s.ok()) return std::move(done)(s);
    if (absl::Status s = ctx.AuthorizeWrite(); !s.ok()) return std::move(done)(s);
    const int64_t now = ctx.now_ms();
    Clock clock;
    clock.clock_id = rq.clock_id();
    clock.anchor_real_ms = now;
    clock.anchor_game_ms = rq.start_game_ms();
    clock.scale_milli = rq.scale_milli();
    clock.paused = false;
    clock.revision = 1;
    UpdateClocks(
        now,
        [clock](ClockMap& clocks) -> absl::Status {
          // §0.4 step 6: ALREADY_EXISTS, then the cap (T1: per deployment).
          if (clocks.count(clock.clock_id) != 0) return AlreadyExists("clock_id");
          if (clocks.size() >= tml::kMaxClocks) return LimitExceeded(tml::kMaxClocks);
          clocks[clock.clock_id] = clock;
          return absl::OkStatus();
        },
        kCasAttempts,
        [this, clock, now, done = std::move(done)](absl::StatusOr<ClockMap> clocks) mutable {
          if (!clocks.ok()) return std::move(done)(clocks.status());
          v1::CreateClockResponse resp;
          tml::FillGameTime(clock, now, resp);
          PublishClockChanged(clock, now);
          std::move(done)(std::move(resp));
        });
  }

  void GetTime(const CallContext& ctx, v1::GetTimeRequest rq, Done<v1::GetTimeResponse> done) {
    if (absl::Status s = tml::ValidateGetTime(rq); !s.ok()) return std::move(done)(s);
    if (absl::Status s = ctx.AuthorizeRead(); !s.ok()) return std::move(done)(s);
    const int64_t now = ctx.now_ms();
    LoadClocks(now, [id = rq.clock_id(), now,
                     done = std::move(done)](absl::StatusOr<ClockMap> clocks) mutable {
      if (!clocks.ok()) return std::move(done)(clocks.status());
      auto it = clocks->find(id);
      if (it == clocks->end()) return std::move(done)(NotFound("clock_id"));
      v1::GetTimeResponse resp;
      tml::FillGameTime(it->second, now, resp);
      std::move(done)(std::move(resp));
    });
  }

  void SetScale(const CallContext& ctx, v1::SetScaleRequest rq, Done<v1::SetScaleResponse> done) {
    if (absl::Status s = tml::ValidateSetScale(rq); !s.ok()) return std::move(done)(s);
    if (absl::Status s = ctx.AuthorizeWrite(); !s.ok()) return std::move(done)(s);
    const int64_t now = ctx.now_ms();
    std::optional<bool> paused;
    if (rq.has_paused()) paused = rq.paused();  // T5: absent keeps the paused state
    const std::string id = rq.clock_id();
    UpdateClocks(
        now,
        [id, now, scale = rq.scale_milli(), paused](ClockMap& clocks) -> absl::Status {
          auto it = clocks.find(id);
          if (it == clocks.end()) return NotFound("clock_id");
          it->second = tml::Reanchor(it->second, now, scale, paused);
          return absl::OkStatus();
        },
        kCasAttempts,
        [this, id, now, done = std::move(done)](absl::StatusOr<ClockMap> clocks) mutable {
          if (!clocks.ok()) return std::move(done)(clocks.status());
          const Clock& clock = clocks->at(id);
          v1::SetScaleResponse resp;
          tml::FillGameTime(clock, now, resp);
          PublishClockChanged(clock, now);
          std::move(done)(std::move(resp));
        });
  }

  void ScheduleTimer(const CallContext& ctx, v1::ScheduleTimerRequest rq,
                     Done<v1::ScheduleTimerResponse> done) {
    if (absl::Status s = tml::ValidateScheduleTimer(rq); !s.ok()) return std::move(done)(s);
    if (absl::Status s = ctx.AuthorizeWrite(); !s.ok()) return std::move(done)(s);
    const int64_t now = ctx.now_ms();
    LoadClocks(now, [this, rq = std::move(rq), now,
                     done = std::move(done)](absl::StatusOr<ClockMap> clocks) mutable {
      if (!clocks.ok()) return std::move(done)(clocks.status());
      auto it = clocks->find(rq.clock_id());
      if (it == clocks->end()) return std::move(done)(NotFound("clock_id"));
      const int64_t g = tml::GameMsAt(it->second, now);
      tml::Timer timer;
      timer.clock_id = rq.clock_id();
      timer.timer_id = rq.timer_id();
      timer.fire_at_game_ms =
          rq.has_fire_at_game_ms() ? rq.fire_at_game_ms() : g + rq.delay_game_ms();
      timer.interval_game_ms = rq.interval_game_ms();
      timer.payload = rq.payload();
      timer.fire_count = 0;
      // Computed before the call: the continuation below takes `timer` by move.
      std::string prefix = tml::TimersPrefix(timer.clock_id);
      store_.List(std::move(prefix), now,
                  [this, timer = std::move(timer), g, now,
                   done = std::move(done)](absl::StatusOr<std::vector<StoreEntry>> listed) mutable {
                    if (!listed.ok()) return std::move(done)(listed.status());
                    const std::string key = tml::TimerKey(timer.clock_id, timer.timer_id);
                    // §0.4 step 6 in rule order: ALREADY_EXISTS (T3: scheduled timers only),
                    // in_past (T2: anything ≤ game_ms(now)), then the per-clock cap.
                    for (const StoreEntry& e : *listed) {
                      if (e.key == key) return std::move(done)(AlreadyExists("timer_id"));
                    }
                    if (timer.fire_at_game_ms <= g)
                      return std::move(done)(FailedPrecondition("in_past"));
                    if (listed->size() >= tml::kMaxTimersPerClock) {
                      return std::move(done)(LimitExceeded(tml::kMaxTimersPerClock));
                    }
                    store_.CompareAndSet(
                        key, tml::EncodeTimer(timer), 0, now, {},
                        [id = timer.timer_id, fire_at = timer.fire_at_game_ms,
                         done = std::move(done)](absl::StatusOr<uint64_t> written) mutable {
                          if (!written.ok()) {
                            // Lost a create race with the same id: it exists now.
                            return std::move(done)(IsConflict(written.status())
                                                       ? AlreadyExists("timer_id")
                                                       : written.status());
                          }
                          v1::ScheduleTimerResponse resp;
                          resp.set_timer_id(id);
                          resp.set_fire_at_game_ms(fire_at);
                          std::move(done)(std::move(resp));
                        });
                  });
    });
  }

  void CancelTimer(const CallContext& ctx, v1::CancelTimerRequest rq,
                   Done<v1::CancelTimerResponse> done) {
    if (absl::Status s = tml::ValidateCancelTimer(rq); !s.ok()) return std::move(done)(s);
    if (absl::Status s = ctx.AuthorizeWrite(); !s.ok()) return std::move(done)(s);
    const int64_t now = ctx.now_ms();
    LoadClocks(now, [this, rq = std::move(rq), now,
                     done = std::move(done)](absl::StatusOr<ClockMap> clocks) mutable {
      if (!clocks.ok()) return std::move(done)(clocks.status());
      if (clocks->count(rq.clock_id()) == 0) return std::move(done)(NotFound("clock_id"));
      DeleteTimer(tml::TimerKey(rq.clock_id(), rq.timer_id()), now, kCasAttempts, std::move(done));
    });
  }

  // Deletes the timer at its current revision; a concurrent tick that rescheduled it makes the
  // delete lose, so re-read and try again (a one-shot the tick removed reads as absent: false).
  void DeleteTimer(std::string key, int64_t now, int attempts_left,
                   Done<v1::CancelTimerResponse> done) {
    store_.Get(key, now,
               [this, key, now, attempts_left,
                done = std::move(done)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
                 if (!got.ok()) return std::move(done)(got.status());
                 if (!got->has_value()) {
                   v1::CancelTimerResponse resp;
                   resp.set_cancelled(false);  // N32: unknown timer -> cancelled=false
                   return std::move(done)(std::move(resp));
                 }
                 store_.Delete(key, (*got)->revision,
                               [this, key, now, attempts_left,
                                done = std::move(done)](absl::Status deleted) mutable {
                                 if (deleted.ok()) {
                                   v1::CancelTimerResponse resp;
                                   resp.set_cancelled(true);
                                   return std::move(done)(std::move(resp));
                                 }
                                 if (IsConflict(deleted) && attempts_left > 1) {
                                   return DeleteTimer(key, now, attempts_left - 1, std::move(done));
                                 }
                                 std::move(done)(IsConflict(deleted)
                                                     ? Unavailable("", {}, "timer kept changing")
                                                     : deleted);
                               });
               });
  }

  // One tick in flight: owned by its callback chain.
  struct TickRun {
    std::string clock_id;
    int64_t now_ms = 0;
    int64_t g = 0;
    uint64_t lease_revision = 0;
    std::vector<tml::StoredTimer> timers;
    tml::TickPlan plan;
    std::vector<bool> committed;
    absl::Status error;  // a store failure that stopped the commits
    Done<v1::TickResponse> done;
  };
  using TickRunPtr = std::unique_ptr<TickRun>;

  void Tick(const CallContext& ctx, v1::TickRequest rq, Done<v1::TickResponse> done) {
    if (absl::Status s = tml::ValidateTick(rq); !s.ok()) return std::move(done)(s);
    // §2.12 r1: "Writes and tick: service/admin".
    if (absl::Status s = ctx.AuthorizeWrite(); !s.ok()) return std::move(done)(s);
    const int64_t now = ctx.now_ms();
    auto run = std::make_unique<TickRun>();
    run->clock_id = rq.clock_id();
    run->now_ms = now;
    run->done = std::move(done);
    const int32_t max_fires = rq.max_fires() == 0 ? tml::kDefaultMaxFires : rq.max_fires();
    LoadClocks(
        now, [this, run = std::move(run), max_fires](absl::StatusOr<ClockMap> clocks) mutable {
          if (!clocks.ok()) return std::move(run->done)(clocks.status());
          auto it = clocks->find(run->clock_id);
          if (it == clocks->end()) return std::move(run->done)(NotFound("clock_id"));
          run->g = tml::GameMsAt(it->second, run->now_ms);
          // Serialize ticks per clock: create the lease entry or report the tick in flight.
          WriteOptions lease_options;
          lease_options.expires_at_ms = run->now_ms + kTickLeaseMs;
          const std::string lease_key = tml::LeaseKey(run->clock_id);
          std::string lease_value = "{\"acquired_at_ms\":" + std::to_string(run->now_ms) + "}";
          const int64_t now = run->now_ms;
          store_.CompareAndSet(
              lease_key, std::move(lease_value), 0, now, lease_options,
              [this, run = std::move(run), max_fires](absl::StatusOr<uint64_t> lease) mutable {
                if (!lease.ok()) {
                  return std::move(run->done)(IsConflict(lease.status()) ? InProgress()
                                                                         : lease.status());
                }
                run->lease_revision = *lease;
                const std::string prefix = tml::TimersPrefix(run->clock_id);
                const int64_t now = run->now_ms;
                store_.List(prefix, now,
                            [this, run = std::move(run),
                             max_fires](absl::StatusOr<std::vector<StoreEntry>> listed) mutable {
                              if (!listed.ok()) {
                                run->error = listed.status();
                                return FinishTick(std::move(run));
                              }
                              for (StoreEntry& e : *listed) {
                                absl::StatusOr<tml::Timer> timer = tml::DecodeTimer(e.value);
                                if (!timer.ok()) {
                                  run->error = timer.status();
                                  return FinishTick(std::move(run));
                                }
                                run->timers.push_back({std::move(*timer), e.revision});
                              }
                              run->plan = tml::PlanTick(run->timers, run->g, max_fires);
                              run->committed.assign(run->plan.fires.size(), false);
                              CommitFire(std::move(run), 0);
                            });
              });
        });
  }

  // Commits fire i (delete a one-shot, reschedule a repeating timer) at the revision the tick
  // read. A lost compare-and-set means a concurrent cancel (or cancel + re-schedule) won: that
  // timer is left out of `fired`. A store failure stops the commits; what committed is reported.
  void CommitFire(TickRunPtr run, size_t i) {
    if (i == run->plan.fires.size()) return FinishTick(std::move(run));
    const tml::PlannedFire& fire = run->plan.fires[i];
    const tml::StoredTimer& stored = run->timers[fire.index];
    std::string key = tml::TimerKey(run->clock_id, stored.timer.timer_id);
    const int64_t now = run->now_ms;  // `run` moves into the continuation below
    auto next = [this, run = std::move(run), i](absl::Status s) mutable {
      if (s.ok()) {
        run->committed[i] = true;
      } else if (!IsConflict(s)) {
        run->error = s;
        return FinishTick(std::move(run));
      }
      CommitFire(std::move(run), i + 1);
    };
    if (fire.remove) {
      store_.Delete(std::move(key), stored.revision, std::move(next));
    } else {
      store_.CompareAndSet(std::move(key), tml::EncodeTimer(fire.updated), stored.revision, now, {},
                           [next = std::move(next)](absl::StatusOr<uint64_t> w) mutable {
                             std::move(next)(w.status());
                           });
    }
  }

  void FinishTick(TickRunPtr run) {
    const std::string lease_key = tml::LeaseKey(run->clock_id);
    const uint64_t lease_revision = run->lease_revision;
    // Release first, then answer: a caller that ticks again right after the reply must not find
    // its own lease. A failed release only delays the next tick until the lease expires.
    store_.Delete(lease_key, lease_revision, [this, run = std::move(run)](absl::Status) mutable {
      size_t committed = 0;
      for (bool c : run->committed) committed += c ? 1 : 0;
      if (!run->error.ok() && committed == 0) return std::move(run->done)(run->error);
      v1::TickResponse resp;
      resp.set_game_ms(run->g);
      for (size_t i = 0; i < run->plan.fires.size(); ++i) {
        if (!run->committed[i]) continue;
        const tml::PlannedFire& fire = run->plan.fires[i];
        *resp.add_fired() = fire.fired;
        PublishTimerFired(run->clock_id, fire, run->timers[fire.index].revision, run->now_ms);
      }
      // Commits cut short by a store failure leave due timers behind: say so.
      resp.set_more(run->plan.more || !run->error.ok());
      std::move(run->done)(std::move(resp));
    });
  }

  void PublishTimerFired(const std::string& clock_id, const tml::PlannedFire& fire,
                         uint64_t read_revision, int64_t now_ms) {
    v1::TimerFiredEvent ev;
    ev.set_clock_id(clock_id);
    ev.set_timer_id(fire.fired.timer_id());
    ev.set_fire_at_game_ms(fire.fired.fire_at_game_ms());
    ev.set_fire_count(fire.fired.fire_count());
    *ev.mutable_payload() = fire.fired.payload();
    // The store revision the fire was committed against names this occurrence even when a timer
    // id is reused (T3) with the same fire_at.
    std::string id = MakeEventId(tml::kServiceName, "timer_fired",
                                 clock_id + ":" + fire.fired.timer_id() + ":" +
                                     std::to_string(fire.fired.fire_at_game_ms()) + ":" +
                                     std::to_string(read_revision));
    absl::StatusOr<Event> event =
        MakeEvent(tml::kServiceName, "timer_fired", std::move(id), now_ms, ev);
    if (event.ok()) events_.Publish(std::move(*event), nullptr);
  }

  StateStore& store_;
  EventPublisher& events_;
  bool fixtures_enabled_;
};

}  // namespace

std::unique_ptr<Service> MakeTimeManagerService(const ServiceDeps& deps) {
  return std::make_unique<TimeManagerService>(deps);
}

}  // namespace sidecar::services
