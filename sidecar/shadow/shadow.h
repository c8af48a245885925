#pragma once
// Shadow traffic: a share of a route's requests is mirrored to another cluster and the two answers
// are compared (diff.h), off the request path.
//
//   router picks the primary ──► ShadowRuntime::Begin: share, method, cap ──► MirrorRun: copy of
//                                  the request (credentials stripped, x-sidecar-shadow: 1), kept
//   primary answers ─► caller       (never waits for, fails because of, or slows for the shadow)
//                   └► MirrorHandle::OnPrimary (a copy) ─► on a later loop turn, after the reply
//                        was written, the run leaves: to the MirrorWorker's thread when it has the
//                        shadow cluster (mirror_worker.h), else on this loop ──► shadow cluster,
//                        own deadline (noise sample: ──► the primary cluster once more)
//                      ─► compared where it ran (mirror_run.h) ─► back here: stats, ring, observer
//
// Protections of the primary: the mirror leaves only once the primary's reply is out, so on a
// task's two cores neither this loop nor the shadow's upstream works during the primary's own
// exchange (sent together, as Envoy's mirror does, the shadow's write, its upstream's wake-up and
// its answer's read land inside the primary's latency). With a worker, this loop only hands the
// run over: the mirror's I/O and its diff run on a SCHED_IDLE thread with its own cluster
// instances, which the kernel preempts whenever the primary path wants a core; and a route may
// hold its shadow back while the task's CPU pressure is above a line it sets (cpu_pressure.h),
// since the shadow's upstream, when it shares the task, does not yield like that (AIMD: the share
// it lets out halves at each sample above the line and grows by a tenth below). A failed primary
// sends no mirror: there is nothing to compare against (counted as an error). The shadow gets its
// own timeout and a per-route cap on mirrors in flight (beyond it the mirror is dropped and
// counted), goes to the shadow cluster's inner cluster or the worker's own instance (so shadow
// failures never open a breaker or spend a retry budget that primary traffic uses).
//
// Noise (Diffy): a sampled share of mirrored safe requests (GET/HEAD/OPTIONS) also goes to the
// primary twice; paths that differ between the two primary answers are learned per route as noise
// and reported apart from mismatches.
//
// Dispatcher thread only (the admin handlers that read the stats run there too); the worker only
// ever holds a MirrorRun, never the runtime's state.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "prometheus/counter.h"
#include "sidecar/config/config.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/http/message.h"
#include "sidecar/shadow/cpu_pressure.h"
#include "sidecar/shadow/diff.h"
#include "sidecar/shadow/mirror_run.h"
#include "sidecar/shadow/mirror_worker.h"
#include "sidecar/stats/metrics.h"
#include "sidecar/upstream/guarded_cluster.h"

namespace sidecar::shadow {

// A route's resolved shadow settings (config::ShadowConfig). Built once; every route table copy
// shares it. The run-time share (percent) is not here but on the route itself, so a cut-over can
// change it with a new table like weights.
struct ShadowPolicy {
  upstream::GuardedCluster* cluster = nullptr;
  std::vector<std::string> methods;  // "*" = all
  std::string header;
  std::vector<std::string> allow_credentials;
  std::vector<std::string> strip_headers;
  std::chrono::milliseconds timeout{1000};
  int64_t max_concurrent = 64;
  int64_t noise_bp = 0;  // of mirrored requests, in basis points
  int64_t pause_above_cpu_pressure_bp = 0;  // 0: never
  DiffOptions diff;

  static std::shared_ptr<const ShadowPolicy> Create(const config::ShadowConfig& config, std::string_view service,
                                                    upstream::GuardedCluster* cluster);
  bool Mirrors(std::string_view method) const;
  // The request as the shadow gets it: credentials stripped unless allowed, strip_headers
  // removed, the marking header set to "1", the deadline now + timeout.
  http::Request MirrorOf(const http::Request& request) const;
};

class ShadowRuntime;

// The router's handle on one mirrored request. OnPrimary once with the primary's outcome;
// destroying the handle before that (the caller went away) abandons the comparison, and the
// mirror, which has not left yet, is never sent.
class MirrorHandle {
 public:
  MirrorHandle() = default;
  MirrorHandle(MirrorHandle&& other) noexcept { *this = std::move(other); }
  MirrorHandle& operator=(MirrorHandle&& other) noexcept;
  ~MirrorHandle() { Reset(); }

  explicit operator bool() const { return runtime_ != nullptr; }
  // A streamed primary body (Response::stream) is wrapped in place by a tee that hands every chunk
  // on unchanged and keeps a bounded copy: the comparison then uses the concatenation and the
  // stream's final status, once the stream has ended.
  void OnPrimary(absl::StatusOr<http::Response>& result, const std::string& primary_cluster);
  void Reset();

 private:
  friend class ShadowRuntime;
  MirrorHandle(ShadowRuntime* runtime, uint64_t id) : runtime_(runtime), id_(id) {}
  ShadowRuntime* runtime_ = nullptr;
  uint64_t id_ = 0;
};

// Called after each comparison with whether the two answers matched (RouteObserver::OnShadowCompared).
using ComparedCallback = absl::AnyInvocable<void(bool matched)>;

class ShadowRuntime {
 public:
  struct Options {
    size_t ring_size = 100;            // recent mismatches kept
    size_t max_body_bytes = 4096;      // per body in the ring
    size_t max_paths_per_route = 50;   // distinct path labels per route; the rest is "other"
    size_t max_noise_paths = 64;       // learned per route
    // The PSI file read for routes that pause their shadow above a CPU pressure; "" finds it
    // (cpu_pressure.h). Read every cpu_pressure_every once the first such route mirrors.
    std::string cpu_pressure_path;
    std::chrono::milliseconds cpu_pressure_every{1000};
  };

  // With a `worker`, mirrors to the clusters it has run on its thread (mirror_worker.h); the rest,
  // and every mirror without one, run on `dispatcher`'s loop.
  ShadowRuntime(event::Dispatcher& dispatcher, stats::Metrics& metrics, Options options, BodyDecoder decoder = nullptr,
                std::unique_ptr<MirrorWorker> worker = nullptr);
  ~ShadowRuntime();  // stops the worker, then cancels every shadow in flight

  // Called by the router once the primary side is chosen. Decides (share, method, health,
  // primary == shadow, concurrency cap) and keeps the mirror, which leaves after the primary's
  // answer (MirrorHandle::OnPrimary); an empty handle when it did not.
  // `route`, `service`, `action` label the stats (action "" -> "*").
  MirrorHandle Begin(const std::string& route, const std::string& service, const std::string& action,
                     std::shared_ptr<const ShadowPolicy> policy, int64_t percent_bp, const http::Request& request,
                     upstream::GuardedCluster& primary, ComparedCallback on_compared);

  // GET /shadow/mismatches: the ring, newest first.
  nlohmann::json MismatchesJson() const;
  // Per-route counts, match rate, top differing paths and learned noise (for /status).
  nlohmann::json StatsJson() const;
  size_t in_flight() const { return exchanges_.size(); }
  // Mirrors that ran on the worker's thread / on the request loop, since the start.
  uint64_t runs_on_worker() const { return runs_on_worker_; }
  uint64_t runs_on_loop() const { return runs_on_loop_; }
  // The task's CPU pressure (0-1) over the last sample; nullopt until a route that pauses above
  // one has mirrored and two samples were taken, or when it cannot be read.
  std::optional<double> cpu_pressure() const { return cpu_pressure_; }

 private:
  friend class MirrorHandle;
  struct RouteState;
  struct Exchange;

  RouteState& StateOf(const std::string& route, const std::string& service, const std::string& action);
  void OnPrimary(uint64_t id, absl::StatusOr<http::Response>& result, const std::string& primary_cluster);
  // The tee of a streamed primary ended (or was dropped: `status` CANCELLED).
  void OnPrimaryStreamEnd(uint64_t id, absl::Status status, std::string body, bool truncated);
  void Abandon(uint64_t id);
  // Sends the mirror (and noise copy) once the primary's answer, or its head, is in: on the
  // worker when it has the clusters, else on this loop.
  void Dispatch(uint64_t id);
  // A run came back compared (on this loop, from either place it ran).
  void Finish(uint64_t id, std::unique_ptr<MirrorRun> run);
  void Count(RouteState& state, const char* result);
  // Counts a diffed comparison (learning noise first) and records a mismatch; returns whether it matched.
  bool CountDiff(RouteState& state, const MirrorRun& run, Comparison& comparison);
  void Record(RouteState& state, const MirrorRun& run, const Comparison& comparison);
  // Finishes the runs the worker has left in the mailbox; again later while some are still out.
  void Collect();
  // Starts sampling the CPU pressure (once; later calls do nothing).
  void WatchCpuPressure();
  void SampleCpuPressure();
  // Whether this mirror of a route with a CPU pressure line is held back: drawn against the
  // share the route admits (cpu_pressure.h, AdmitShare).
  static bool HeldBackByCpuPressure(const RouteState& state);
  // Posts `work` to this loop, dropped if the runtime is gone by then.
  void PostIfAlive(absl::AnyInvocable<void()> work);

  event::Dispatcher& dispatcher_;
  stats::Metrics& metrics_;
  Options options_;
  BodyDecoder decoder_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::unique_ptr<Exchange>> exchanges_;
  std::map<std::string, std::unique_ptr<RouteState>> routes_;
  std::deque<nlohmann::json> ring_;  // newest at the front
  uint64_t runs_on_worker_ = 0, runs_on_loop_ = 0;
  // Posted tasks check it, so a comparison posted just before shutdown never runs on a dead runtime.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  // Runs the worker finished, until Collect takes them (the worker's thread and this one).
  struct Mailbox {
    std::mutex mu;
    std::vector<std::unique_ptr<MirrorRun>> runs;  // guarded by mu
  };
  // How often finished runs are collected while some are out: late enough to batch a busy second's
  // mirrors into few loop wake-ups, early enough for the guards' mismatch windows (seconds).
  static constexpr std::chrono::milliseconds kCollectEvery{10};
  std::shared_ptr<Mailbox> mailbox_ = std::make_shared<Mailbox>();
  event::TimerPtr collect_timer_;
  int64_t on_worker_ = 0;  // runs handed to the worker and not collected yet
  std::optional<CpuPressure> pressure_source_;  // set once watched, if PSI can be read
  std::string pressure_error_;                  // why it cannot be (for /status)
  std::optional<double> cpu_pressure_;
  event::TimerPtr pressure_timer_;
  // Last member: destroyed first, so no run on its thread outlives what it reports to.
  std::unique_ptr<MirrorWorker> worker_;
};

}  // namespace sidecar::shadow
