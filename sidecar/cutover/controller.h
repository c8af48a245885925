#pragma once
// Fleet-wide cut-over in one sidecar: applies the KV bucket's route states to the RouteTableHolder,
// judges the guards on this sidecar's own traffic, and writes rollbacks and ramp steps back to the
// KV so the whole fleet follows (see route_state.h for the KV layout).
//
// Threads. nats.c's KV calls block, so they never run on the dispatcher:
//   - a connection of our own (plain nats.c threads, RetryOnFailedConnect: a KV that is down at
//     startup is not fatal, the config weights serve until it answers);
//   - the watch thread binds the bucket and blocks in kvWatcher_Next; each entry is Post()ed;
//   - the write thread runs CAS writes (rollback, ramp step) and Post()s their outcome.
// Everything else — route tables, guards, timers, readiness detail — is dispatcher-thread only.
//
// Who writes. Every sidecar judges its own requests and may write; every write is a compare-and-set
// on the revision it last saw, so for one revision exactly one sidecar's rollback or ramp step
// wins, and the others see the winner's revision through their watchers (a ramp advances once per
// hold, not once per task). A sidecar whose guard is in breach never advances the ramp; it rolls
// back, and retries on the next revision while the breach lasts. The rollback counter is
// incremented by the winner only, so a fleet-wide sum counts each rollback once.
//
// KV unreachable: the last applied weights stay in force (the route table is only replaced by a
// newer revision), and detail() says so; readiness is not affected — see server.cc.

#include <nats/nats.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "sidecar/config/config.h"
#include "sidecar/cutover/guard.h"
#include "sidecar/cutover/route_kv.h"
#include "sidecar/cutover/route_state.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/nats/connection.h"
#include "sidecar/router/route_observer.h"
#include "sidecar/router/router.h"
#include "sidecar/stats/metrics.h"

namespace sidecar::cutover {

// The sides of `route`'s split with their kinds and config weights.
std::vector<SplitSide> SplitOf(const config::Config& config, const config::RouteConfig& route);
// Guard rules of a cutover route entry, in a fixed order (error rate, p99, mismatch).
std::vector<GuardRule> RulesOf(const config::CutoverRouteConfig& cfg);
// "<nats.name>/<hostname>/<pid>": names this sidecar in `by` fields.
std::string SidecarIdentity(const config::Config& config);

class CutoverController final : public router::RouteObserver {
 public:
  // Call on the dispatcher thread. Nothing blocks: connecting and watching start in the background.
  // `config.cutover` must be set. `routes` is the table the router reads.
  static absl::StatusOr<std::unique_ptr<CutoverController>> Create(const config::Config& config,
                                                                   event::Dispatcher& dispatcher,
                                                                   stats::Metrics& metrics,
                                                                   std::shared_ptr<router::RouteTableHolder> routes);
  // Stops the watcher and the writer (waiting for a write in progress), then closes the connection.
  ~CutoverController() override;

  // router::RouteObserver (dispatcher thread).
  void OnRequest(const std::string& route, const std::string& cluster, bool ok,
                 std::chrono::microseconds latency) override;
  void OnShadowCompared(const std::string& route, const std::string& shadow_cluster, bool matched) override;

  // For /ready and GET /cutover: KV state ("watching", "connecting", "unreachable"), and per route
  // the source of its weights (kv revision or config) and the ramp.
  nlohmann::json Detail() const;
  bool kv_reachable() const { return kv_state_ == KvState::kWatching; }

  // Runs on the dispatcher after every applied revision and every KV state change (the server
  // logs readiness detail flips with it; tests wait on it instead of polling).
  void SetChangeCallback(absl::AnyInvocable<void()> cb) { on_change_ = std::move(cb); }

  // Judges every guard now and writes a rollback for each route in breach. The evaluate timer
  // calls it every cutover.evaluate_interval_ms; tests call it to judge at a known point.
  void Evaluate();
  // Rollbacks and ramp steps handed to the write thread so far (for tests: "nothing was written").
  uint64_t writes_submitted() const { return writes_submitted_; }

 private:
  enum class KvState { kConnecting, kWatching, kUnreachable };
  struct Shared;  // shared with nats.c callback threads and our two threads
  struct RouteRuntime {
    std::string name, service, action;
    std::vector<SplitSide> split;
    Weights config_weights;
    const config::CutoverRouteConfig* cfg = nullptr;  // null: not guarded (the CLI may still set it)
    std::string side;  // the new side's cluster ("" when not guarded)
    std::unique_ptr<RouteGuard> guard;
    uint64_t revision = 0;  // 0: no KV entry, config weights
    std::optional<RouteState> state;
    bool write_in_flight = false;
    event::TimerPtr ramp_timer;
  };

  CutoverController(const config::Config& config, event::Dispatcher& dispatcher, stats::Metrics& metrics,
                    std::shared_ptr<router::RouteTableHolder> routes);
  absl::Status Start();
  void WatchLoop();
  void WriteLoop();
  // Queues a CAS write; `done` runs on the dispatcher with the new revision or the error.
  void SubmitWrite(std::string key, std::string value, uint64_t expected,
                   absl::AnyInvocable<void(absl::StatusOr<uint64_t>)> done);
  // Runs `work` on the dispatcher unless this controller is gone by then.
  void PostAlive(absl::AnyInvocable<void()> work);

  // Dispatcher thread.
  void Apply(const KvRecord& record);
  void SetKvState(KvState state, std::string error);
  void Rollback(RouteRuntime& rt, const Breach& breach);
  void AdvanceRamp(RouteRuntime& rt);
  void ScheduleRamp(RouteRuntime& rt);
  Weights CurrentWeights(const RouteRuntime& rt) const;

  config::CutoverConfig cfg_;
  config::NatsConfig nats_cfg_;
  std::string identity_;
  event::Dispatcher& dispatcher_;
  stats::Metrics& metrics_;
  std::shared_ptr<router::RouteTableHolder> routes_;
  std::map<std::string, RouteRuntime> runtime_;
  KvState kv_state_ = KvState::kConnecting;
  std::string kv_error_;
  std::chrono::system_clock::time_point kv_state_since_ = std::chrono::system_clock::now();
  uint64_t writes_submitted_ = 0;
  absl::AnyInvocable<void()> on_change_;
  bool synced_ = false;  // the watcher delivered the bucket's initial state at least once
  event::TimerPtr evaluate_timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  std::shared_ptr<Shared> shared_;
  nats::NatsConnectionPtr conn_;
  std::thread watch_thread_;
  std::thread write_thread_;
};

}  // namespace sidecar::cutover
