#pragma once
// The shadow's own thread: an event loop with its own instances of the clusters mirrors go to, at
// the kernel's idle scheduling class (SCHED_IDLE).
//
//   request loop: primary answered ─► ShadowRuntime ─► Launch(run) ──┐
//   mirror loop:  run.Start: mirror ─► its own cluster instance ─► answers ─► Compare ─┘
//                 ─► done(run) ─► request loop: stats, ring, observer
//
// Why a thread of its own: on a task's few cores, every mirror's write, wake-up, read and diff on
// the request loop sits in front of the next primary request that arrives meanwhile. Here the
// request loop only hands the run over; and because this thread is SCHED_IDLE, the kernel runs it
// only on a core nothing else wants and preempts it the moment a primary-path thread wakes up. A
// saturated task therefore starves its shadow, not its primary: mirrors wait, time out or hit the
// cap and are counted (error, dropped), as the shadow's guarantees promise.
//
// The clusters are separate instances built from the same config (their own connection pools, and
// their own NATS connection for nats clusters), owned and used only by this thread, so nothing in
// them is shared with the request loop. They run no health checks: the request loop's instances
// own health and readiness.

#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/shadow/mirror_run.h"
#include "sidecar/upstream/cluster.h"

namespace sidecar::shadow {

class MirrorWorker {
 public:
  // The worker's cluster instances, by name. Created and destroyed on the worker's thread. A
  // subclass may own what the clusters use (a NATS connection) and calls Clear() first thing in
  // its destructor, so the clusters go before it.
  class Clusters {
   public:
    virtual ~Clusters() { Clear(); }
    void Add(const std::string& name, upstream::ClusterPtr cluster) { clusters_[name] = std::move(cluster); }
    // nullptr when this worker has no instance of `name`.
    upstream::Cluster* Get(const std::string& name) const;
    std::set<std::string> Names() const;

   protected:
    void Clear() { clusters_.clear(); }

   private:
    std::map<std::string, upstream::ClusterPtr> clusters_;
  };
  using ClustersFactory =
      absl::AnyInvocable<absl::StatusOr<std::unique_ptr<Clusters>>(event::Dispatcher&) &&>;
  // Runs on the worker's thread with the run back, compared (or failed), once it is done.
  using Done = absl::AnyInvocable<void(std::unique_ptr<MirrorRun>) &&>;

  struct Options {
    std::string name = "shadow";  // the thread's name (top -H, perf) and its dispatcher's
  };

  // Starts the thread, builds the clusters there and returns once they exist (or failed to).
  static absl::StatusOr<std::unique_ptr<MirrorWorker>> Start(Options options,
                                                             ClustersFactory factory,
                                                             BodyDecoder decoder = nullptr);
  // Cancels the runs in flight (their done never runs), destroys the clusters on the worker's
  // thread and joins it.
  ~MirrorWorker();
  MirrorWorker(const MirrorWorker&) = delete;
  MirrorWorker& operator=(const MirrorWorker&) = delete;

  // Thread-safe: whether mirrors to `cluster` can run here (fixed at Start).
  bool Has(const std::string& cluster) const { return names_.count(cluster) > 0; }
  // Thread-safe. Starts `run` on the worker against its own instances of run->shadow_cluster (and,
  // for a noise sample, run->primary_cluster). `done` runs on the worker thread.
  void Launch(std::unique_ptr<MirrorRun> run, Done done);
  // Thread-safe: the primary's final answer for a run launched before it was in.
  void SetPrimary(uint64_t id, absl::StatusOr<http::Response> result);
  // Thread-safe: drops run `id`; its done never runs.
  void Cancel(uint64_t id);

  // Whether the thread runs at SCHED_IDLE (the kernel may refuse; the worker then runs at the
  // lowest nice value instead). Set once Start returned.
  bool idle_priority() const { return idle_priority_; }

 private:
  MirrorWorker() = default;
  void Finish(uint64_t id);

  std::unique_ptr<event::Dispatcher> dispatcher_;
  std::thread thread_;
  std::set<std::string> names_;
  BodyDecoder decoder_;
  bool idle_priority_ = false;
  // Worker thread only.
  std::unique_ptr<Clusters> clusters_;
  struct Pending {
    std::unique_ptr<MirrorRun> run;
    Done done;
  };
  std::map<uint64_t, Pending> runs_;
};

}  // namespace sidecar::shadow
