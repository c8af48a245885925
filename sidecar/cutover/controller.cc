#include "sidecar/cutover/controller.h"

#include <unistd.h>

#include <future>

#include "absl/strings/str_cat.h"
#include "sidecar/common/logging.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::cutover {
namespace {

// kvWatcher_Next's wait: the watcher is woken by kvWatcher_Stop (reconnect, shutdown), so this
// only bounds how long a silent bucket keeps the thread in one call.
constexpr int64_t kWatchWaitMs = 3600 * 1000;
// After a failed bind or watch while connected, try again after this (or at once on reconnect).
constexpr std::chrono::milliseconds kRetryBackoff{1000};
constexpr int64_t kKvTimeoutMs = 5000;
constexpr std::chrono::seconds kCloseWait{5};

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

nlohmann::json WeightsJson(const Weights& w) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [cluster, bp] : w) out[cluster] = BpToPercent(bp);
  return out;
}

}  // namespace

std::vector<SplitSide> SplitOf(const config::Config& config, const config::RouteConfig& route) {
  std::vector<SplitSide> out;
  for (const config::WeightedClusterConfig& w : route.split) {
    SplitSide side{w.cluster, "", w.weight_bp};
    for (const config::ClusterConfig& c : config.clusters) {
      if (c.name != w.cluster) continue;
      side.kind = c.legacy_http ? "legacy" : c.nats ? "nats" : c.native ? "native" : "";
    }
    out.push_back(std::move(side));
  }
  return out;
}

std::vector<GuardRule> RulesOf(const config::CutoverRouteConfig& cfg) {
  std::vector<GuardRule> rules;
  auto add = [&rules](const std::optional<config::GuardRuleConfig>& r, GuardRule::Kind kind, double scale) {
    if (!r.has_value()) return;
    rules.push_back(GuardRule{kind, static_cast<double>(r->max) * scale, r->min_requests,
                              std::chrono::milliseconds(r->window_ms)});
  };
  add(cfg.error_rate, GuardRule::Kind::kErrorRate, 0.01);  // basis points -> percent
  add(cfg.p99_latency, GuardRule::Kind::kP99Latency, 1.0);
  add(cfg.mismatch_rate, GuardRule::Kind::kMismatchRate, 0.01);
  return rules;
}

std::string SidecarIdentity(const config::Config& config) {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return absl::StrCat(config.nats.name, "/", host, "/", getpid());
}

struct CutoverController::Shared {
  struct Job {
    std::string key, value;
    uint64_t expected = 0;
    absl::AnyInvocable<void(absl::StatusOr<uint64_t>)> done;  // on the write thread
  };

  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  bool connected = false;
  uint64_t generation = 0;      // bumped on every (re)connect
  kvWatcher* watcher = nullptr;  // the live watcher, so callbacks and shutdown can stop it
  std::unique_ptr<RouteKv> kv;  // bound by the watch thread, then read-only until shutdown
  std::deque<Job> jobs;
  absl::AnyInvocable<void(bool connected)> on_state;  // posts to the dispatcher
  std::promise<void> closed;

  void SetConnected(bool up) {
    {
      std::lock_guard<std::mutex> lock(mu);
      connected = up;
      if (up) {
        ++generation;
        // A watcher from before the disconnect may have missed updates: rebuild it (the bucket's
        // current state is delivered again; Apply skips revisions it already has).
        if (watcher != nullptr) kvWatcher_Stop(watcher);
      }
    }
    cv.notify_all();
    on_state(up);
  }
  static void OnConnected(natsConnection*, void* closure) noexcept { static_cast<Shared*>(closure)->SetConnected(true); }
  static void OnDisconnected(natsConnection*, void* closure) noexcept {
    static_cast<Shared*>(closure)->SetConnected(false);
  }
  static void OnClosed(natsConnection*, void* closure) noexcept { static_cast<Shared*>(closure)->closed.set_value(); }
};

CutoverController::CutoverController(const config::Config& config, event::Dispatcher& dispatcher,
                                     stats::Metrics& metrics, std::shared_ptr<router::RouteTableHolder> routes)
    : cfg_(*config.cutover),
      nats_cfg_(config.nats),
      identity_(SidecarIdentity(config)),
      dispatcher_(dispatcher),
      metrics_(metrics),
      routes_(std::move(routes)),
      shared_(std::make_shared<Shared>()) {
  for (const config::RouteConfig& rc : config.routes) {
    if (rc.split.size() < 2) continue;  // nothing to cut over
    RouteRuntime& rt = runtime_[rc.name];
    rt.name = rc.name;
    rt.service = rc.service;
    rt.action = rc.action.empty() ? "*" : rc.action;
    rt.split = SplitOf(config, rc);
    for (const SplitSide& s : rt.split) rt.config_weights[s.cluster] = s.base_bp;
  }
  for (const config::CutoverRouteConfig& c : cfg_.routes) {
    auto it = runtime_.find(c.route);
    if (it == runtime_.end()) continue;  // the loader reported it
    RouteRuntime& rt = it->second;
    rt.cfg = &c;
    rt.side = ResolveSide(rt.split, c.side);
    rt.guard = std::make_unique<RouteGuard>(RulesOf(c));
    // Series from 0, so increase() over the first rollback is not lost on a fresh scrape.
    for (const GuardRule& rule : rt.guard->rules()) {
      metrics_.rollbacks_total.Add({{"service", rt.service}, {"action", rt.action}, {"rule", rule.name()}});
    }
  }
}

absl::StatusOr<std::unique_ptr<CutoverController>> CutoverController::Create(
    const config::Config& config, event::Dispatcher& dispatcher, stats::Metrics& metrics,
    std::shared_ptr<router::RouteTableHolder> routes) {
  if (!config.cutover.has_value()) return absl::InvalidArgumentError("no cutover section");
  std::unique_ptr<CutoverController> c(new CutoverController(config, dispatcher, metrics, std::move(routes)));
  // cfg_ is a copy: point the runtime entries at it, not at the caller's config.
  for (const config::CutoverRouteConfig& rc : c->cfg_.routes) {
    auto it = c->runtime_.find(rc.route);
    if (it != c->runtime_.end()) it->second.cfg = &rc;
  }
  RETURN_IF_ERROR(c->Start());
  return c;
}

void CutoverController::PostAlive(absl::AnyInvocable<void()> work) {
  dispatcher_.Post([alive = std::weak_ptr<bool>(alive_), work = std::move(work)]() mutable {
    if (alive.lock() != nullptr) work();
  });
}

absl::Status CutoverController::Start() {
  shared_->on_state = [this](bool up) {
    PostAlive([this, up] {
      if (!up) {
        SetKvState(KvState::kUnreachable, "NATS connection lost");
      } else if (kv_state_ != KvState::kWatching) {
        SetKvState(KvState::kConnecting, "connected; binding the bucket");
      }
    });
  };
  ASSIGN_OR_RETURN(nats::NatsOptionsPtr opts, nats::BaseOptions(nats_cfg_, nats_cfg_.name + "-cutover"));
  natsStatus s = natsOptions_SetRetryOnFailedConnect(opts.get(), true, &Shared::OnConnected, shared_.get());
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts.get(), &Shared::OnDisconnected, shared_.get());
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts.get(), &Shared::OnConnected, shared_.get());
  if (s == NATS_OK) s = natsOptions_SetClosedCB(opts.get(), &Shared::OnClosed, shared_.get());
  RETURN_IF_ERROR(nats::FromNats(s, "configuring the cut-over NATS connection"));
  natsConnection* raw = nullptr;
  s = natsConnection_Connect(&raw, opts.get());
  conn_.reset(raw);
  if (s == NATS_OK) {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->connected = true;
    ++shared_->generation;
  } else if (s == NATS_NOT_YET_CONNECTED) {
    SetKvState(KvState::kUnreachable, "NATS not reachable yet; serving the config weights");
  } else {
    return nats::FromNats(s, "connecting to NATS for the cut-over KV");
  }
  watch_thread_ = std::thread([this] { WatchLoop(); });
  write_thread_ = std::thread([this] { WriteLoop(); });
  evaluate_timer_ = dispatcher_.CreateTimer([this] {
    Evaluate();
    evaluate_timer_->Enable(std::chrono::milliseconds(cfg_.evaluate_interval_ms));
  });
  evaluate_timer_->Enable(std::chrono::milliseconds(cfg_.evaluate_interval_ms));
  return absl::OkStatus();
}

CutoverController::~CutoverController() {
  alive_.reset();  // work posted from here on is dropped
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->stop = true;
    if (shared_->watcher != nullptr) kvWatcher_Stop(shared_->watcher);
  }
  shared_->cv.notify_all();
  // Closing fails any blocking call in progress (bind, write) at once.
  if (conn_ != nullptr) natsConnection_Close(conn_.get());
  if (watch_thread_.joinable()) watch_thread_.join();
  if (write_thread_.joinable()) write_thread_.join();
  shared_->kv.reset();
  if (conn_ != nullptr) {
    if (shared_->closed.get_future().wait_for(kCloseWait) != std::future_status::ready) {
      log::Error("cut-over NATS close callback did not arrive; leaking callback state");
      new std::shared_ptr<Shared>(shared_);
    }
    conn_.reset();
  }
}

void CutoverController::WatchLoop() {
  Shared& sh = *shared_;
  std::unique_lock<std::mutex> lock(sh.mu);
  auto report = [this](std::string error) {
    PostAlive([this, error = std::move(error)] { SetKvState(KvState::kUnreachable, error); });
  };
  while (true) {
    sh.cv.wait(lock, [&sh] { return sh.stop || sh.connected; });
    if (sh.stop) return;
    const uint64_t generation = sh.generation;
    auto backoff = [&] {
      sh.cv.wait_for(lock, kRetryBackoff, [&sh, generation] { return sh.stop || sh.generation != generation; });
    };
    if (sh.kv == nullptr) {
      lock.unlock();
      auto kv = RouteKv::Bind(conn_.get(), cfg_.kv_bucket, /*create=*/true, static_cast<int>(cfg_.kv_replicas),
                              kKvTimeoutMs);
      lock.lock();
      if (!kv.ok()) {
        report(std::string(kv.status().message()));
        backoff();
        continue;
      }
      sh.kv = *std::move(kv);
      sh.cv.notify_all();  // the writer may be waiting for the bucket
    }
    lock.unlock();
    auto watcher = sh.kv->WatchAll();
    lock.lock();
    if (!watcher.ok()) {
      report(std::string(watcher.status().message()));
      backoff();
      continue;
    }
    if (sh.stop) return;
    if (sh.generation != generation) continue;  // reconnected meanwhile: watch afresh
    sh.watcher = watcher->get();
    lock.unlock();
    natsStatus s = NATS_OK;
    while (true) {
      kvEntry* raw = nullptr;
      s = kvWatcher_Next(&raw, watcher->get(), kWatchWaitMs);
      if (s == NATS_TIMEOUT) continue;
      if (s != NATS_OK) break;
      if (raw == nullptr) {  // the bucket's current state has been delivered
        PostAlive([this] {
          synced_ = true;
          SetKvState(KvState::kWatching, "");
        });
        continue;
      }
      KvRecord record = ToRecord(raw);
      kvEntry_Destroy(raw);
      PostAlive([this, record = std::move(record)] { Apply(record); });
    }
    lock.lock();
    sh.watcher = nullptr;
    if (sh.stop) return;
    if (sh.generation == generation) {
      // Not a reconnect: the watcher itself failed. Say so and build a new one.
      report(absl::StrCat("KV watcher stopped: ", natsStatus_GetText(s)));
      backoff();
    }
  }
}

void CutoverController::WriteLoop() {
  Shared& sh = *shared_;
  std::unique_lock<std::mutex> lock(sh.mu);
  while (true) {
    sh.cv.wait(lock, [&sh] { return sh.stop || !sh.jobs.empty(); });
    if (sh.stop) {
      for (Shared::Job& job : sh.jobs) job.done(absl::CancelledError("shutting down"));
      return;
    }
    Shared::Job job = std::move(sh.jobs.front());
    sh.jobs.pop_front();
    RouteKv* kv = sh.kv.get();
    lock.unlock();
    absl::StatusOr<uint64_t> result = kv == nullptr ? absl::UnavailableError("KV bucket not bound yet")
                                                    : kv->Write(job.key, job.value, job.expected);
    job.done(std::move(result));
    lock.lock();
  }
}

void CutoverController::SubmitWrite(std::string key, std::string value, uint64_t expected,
                                    absl::AnyInvocable<void(absl::StatusOr<uint64_t>)> done) {
  ++writes_submitted_;
  Shared::Job job;
  job.key = std::move(key);
  job.value = std::move(value);
  job.expected = expected;
  job.done = [this, done = std::move(done)](absl::StatusOr<uint64_t> result) mutable {
    PostAlive([done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
  };
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->jobs.push_back(std::move(job));
  }
  shared_->cv.notify_all();
}

void CutoverController::SetKvState(KvState state, std::string error) {
  if (state == kv_state_ && error == kv_error_) return;
  const bool changed = state != kv_state_;
  kv_state_ = state;
  kv_error_ = std::move(error);
  if (changed) kv_state_since_ = std::chrono::system_clock::now();
  if (state == KvState::kWatching) {
    log::Info("cutover kv watching", {{"bucket", cfg_.kv_bucket}});
  } else if (state == KvState::kUnreachable) {
    log::Warn("cutover kv unreachable; keeping the last known weights",
              {{"bucket", cfg_.kv_bucket}, {"error", kv_error_}});
  }
  if (on_change_) on_change_();
}

Weights CutoverController::CurrentWeights(const RouteRuntime& rt) const {
  return rt.state.has_value() ? rt.state->weights : rt.config_weights;
}

void CutoverController::Apply(const KvRecord& record) {
  auto name = RouteFromKey(record.key);
  if (!name.ok()) return;  // not ours (another tool's key in the bucket)
  auto it = runtime_.find(*name);
  if (it == runtime_.end()) {
    log::Debug("cutover state for a route this sidecar does not split", {{"route", *name}});
    return;
  }
  RouteRuntime& rt = it->second;
  if (record.revision <= rt.revision) return;  // replayed after a re-watch
  std::optional<RouteState> state;
  if (!record.deleted) {
    auto parsed = RouteState::FromJson(record.value);
    if (!parsed.ok()) {
      log::Error("cutover state ignored: invalid", {{"route", rt.name},
                                                    {"revision", std::to_string(record.revision)},
                                                    {"error", parsed.status().ToString()}});
      rt.revision = record.revision;
      return;
    }
    state = *std::move(parsed);
  }
  const Weights before = CurrentWeights(rt);
  const Weights after = state.has_value() ? state->weights : rt.config_weights;
  auto table = routes_->Get()->WithWeights(rt.name, after);
  if (!table.ok()) {
    log::Error("cutover state ignored: does not fit this sidecar's split",
               {{"route", rt.name}, {"revision", std::to_string(record.revision)}, {"error", table.status().ToString()}});
    rt.revision = record.revision;
    return;
  }
  if (state.has_value() && state->shadow_percent.has_value()) {
    // The shadow fraction travels with the weights; a route without a shadow block keeps none.
    auto shadowed = (*table)->WithShadowPercent(rt.name, *state->shadow_percent);
    if (shadowed.ok()) {
      table = std::move(shadowed);
    } else {
      log::Warn("cutover shadow percent ignored", {{"route", rt.name}, {"error", shadowed.status().ToString()}});
    }
  }
  routes_->Set(*std::move(table));
  rt.revision = record.revision;
  rt.state = std::move(state);
  if (before != after && rt.guard != nullptr) rt.guard->Reset();  // new weights, new judgement
  ScheduleRamp(rt);
  log::Info("cutover applied", {{"route", rt.name},
                                {"revision", std::to_string(record.revision)},
                                {"weights", WeightsToString(after)},
                                {"by", rt.state.has_value() ? rt.state->by : "config"},
                                {"reason", rt.state.has_value() ? rt.state->reason : "key deleted"}});
  if (on_change_) on_change_();
}

void CutoverController::ScheduleRamp(RouteRuntime& rt) {
  const bool running = rt.state.has_value() && rt.state->ramp.has_value() && rt.state->ramp->running() &&
                       rt.state->ramp->index + 1 < rt.state->ramp->steps_bp.size();
  if (!running) {
    if (rt.ramp_timer != nullptr) rt.ramp_timer->Disable();
    return;
  }
  if (rt.ramp_timer == nullptr) {
    rt.ramp_timer = dispatcher_.CreateTimer([this, name = rt.name] {
      auto it = runtime_.find(name);
      if (it != runtime_.end()) AdvanceRamp(it->second);
    });
  }
  // The hold runs from when this sidecar saw the step, not from the writer's clock: clock skew
  // between tasks cannot shorten it, and the earliest task's timer is the one that advances.
  rt.ramp_timer->Enable(std::chrono::milliseconds(rt.state->ramp->hold_ms));
}

void CutoverController::AdvanceRamp(RouteRuntime& rt) {
  if (!rt.state.has_value() || !rt.state->ramp.has_value() || !rt.state->ramp->running()) return;
  if (rt.write_in_flight) {
    rt.ramp_timer->Enable(std::chrono::milliseconds(cfg_.evaluate_interval_ms));
    return;
  }
  if (rt.guard != nullptr) {
    if (auto breach = rt.guard->Evaluate(Clock::now()); breach.has_value()) {
      log::Warn("cutover ramp held: guard in breach", {{"route", rt.name}, {"breach", breach->ToString()}});
      Rollback(rt, *breach);
      return;
    }
  }
  RouteState next = *rt.state;
  RampState& ramp = *next.ramp;
  const std::string side = ResolveSide(rt.split, ramp.side);
  if (side.empty()) return;
  ++ramp.index;
  next.last_safe = rt.state->weights;  // the step that just held
  next.weights = WeightsWithSide(rt.split, side, ramp.steps_bp[ramp.index], rt.state->weights);
  if (ramp.index + 1 == ramp.steps_bp.size()) ramp.state = "done";
  next.by = "ramp@" + identity_;
  next.at_ms = NowMs();
  next.reason = absl::StrCat("ramp step ", ramp.index + 1, "/", ramp.steps_bp.size(), ": ", side, " ",
                             BpToPercent(ramp.steps_bp[ramp.index]), "%");
  rt.write_in_flight = true;
  const uint64_t from = rt.revision;
  SubmitWrite(RouteKey(rt.name), next.ToJson().dump(), from,
              [this, name = rt.name, from, reason = next.reason](absl::StatusOr<uint64_t> result) {
                auto it = runtime_.find(name);
                if (it == runtime_.end()) return;
                it->second.write_in_flight = false;
                if (result.ok()) {
                  log::Info("cutover ramp advanced", {{"route", name}, {"revision", std::to_string(*result)},
                                                      {"step", reason}});
                } else if (IsConflict(result.status())) {
                  // Another task advanced (or rolled back) from the same revision: its write is
                  // the one the fleet follows, and our watcher brings it here.
                  log::Debug("cutover ramp step lost the race", {{"route", name}, {"from", std::to_string(from)}});
                } else {
                  log::Warn("cutover ramp step not written", {{"route", name}, {"error", result.status().ToString()}});
                  ScheduleRamp(it->second);  // try again after another hold
                }
              });
}

void CutoverController::Rollback(RouteRuntime& rt, const Breach& breach) {
  if (rt.write_in_flight || !rt.state.has_value()) return;  // config weights are the floor
  const bool ramping = rt.state->ramp.has_value() && rt.state->ramp->running();
  if (rt.state->weights == rt.state->last_safe && !ramping) return;  // nothing safer to go back to
  RouteState next = *rt.state;
  next.weights = rt.state->last_safe;
  if (next.ramp.has_value() && next.ramp->running()) next.ramp->state = "halted";
  RollbackRecord& rb = next.rollback.emplace();
  rb.rule = breach.rule;
  rb.observed = breach.observed;
  rb.threshold = breach.threshold;
  rb.requests = breach.requests;
  rb.from = rt.state->weights;
  rb.by = "guard@" + identity_;
  rb.at_ms = NowMs();
  next.by = rb.by;
  next.at_ms = rb.at_ms;
  next.reason = "rollback: " + breach.ToString();
  rt.write_in_flight = true;
  SubmitWrite(RouteKey(rt.name), next.ToJson().dump(), rt.revision,
              [this, name = rt.name, breach, to = WeightsToString(next.weights)](absl::StatusOr<uint64_t> result) {
                auto it = runtime_.find(name);
                if (it == runtime_.end()) return;
                RouteRuntime& rt = it->second;
                rt.write_in_flight = false;
                if (result.ok()) {
                  metrics_.rollbacks_total.Add({{"service", rt.service}, {"action", rt.action}, {"rule", breach.rule}})
                      .Increment();
                  log::Warn("cutover rollback", {{"route", name}, {"revision", std::to_string(*result)},
                                                 {"rule", breach.rule}, {"why", breach.ToString()}, {"to", to}});
                } else if (IsConflict(result.status())) {
                  log::Info("cutover rollback lost the race; re-judging on the new revision", {{"route", name}});
                } else {
                  log::Error("cutover rollback not written", {{"route", name}, {"error", result.status().ToString()}});
                }
              });
}

void CutoverController::Evaluate() {
  const Clock::time_point now = Clock::now();
  for (auto& [name, rt] : runtime_) {
    if (rt.guard == nullptr || rt.write_in_flight) continue;
    if (auto breach = rt.guard->Evaluate(now); breach.has_value()) Rollback(rt, *breach);
  }
}

void CutoverController::OnRequest(const std::string& route, const std::string& cluster, bool ok,
                                  std::chrono::microseconds latency) {
  auto it = runtime_.find(route);
  if (it == runtime_.end() || it->second.guard == nullptr || it->second.side != cluster) return;
  it->second.guard->RecordRequest(Clock::now(), ok, latency);
}

void CutoverController::OnShadowCompared(const std::string& route, const std::string& shadow_cluster, bool matched) {
  auto it = runtime_.find(route);
  if (it == runtime_.end() || it->second.guard == nullptr || it->second.side != shadow_cluster) return;
  it->second.guard->RecordShadow(Clock::now(), matched);
}

nlohmann::json CutoverController::Detail() const {
  nlohmann::json d;
  d["bucket"] = cfg_.kv_bucket;
  d["kv"] = kv_state_ == KvState::kWatching ? "watching" : kv_state_ == KvState::kConnecting ? "connecting" : "unreachable";
  d["since_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(kv_state_since_.time_since_epoch()).count();
  if (!kv_error_.empty()) d["error"] = kv_error_;
  if (kv_state_ != KvState::kWatching) {
    d["note"] = synced_ ? "KV unreachable: keeping the last known weights (below) until it answers"
                        : "KV not read yet: serving the config weights until it answers";
  }
  nlohmann::json routes = nlohmann::json::object();
  for (const auto& [name, rt] : runtime_) {
    nlohmann::json r = {{"source", rt.state.has_value() ? "kv" : "config"},
                        {"revision", rt.revision},
                        {"weights", WeightsJson(CurrentWeights(rt))}};
    if (rt.state.has_value()) {
      r["state"] = rt.state->ToJson();
    }
    if (rt.guard != nullptr) {
      r["guarded_side"] = rt.side;
      r["guard_samples"] = rt.guard->request_samples();
    }
    routes[name] = std::move(r);
  }
  d["routes"] = std::move(routes);
  return d;
}

}  // namespace sidecar::cutover
