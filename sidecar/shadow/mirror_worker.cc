#include "sidecar/shadow/mirror_worker.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <future>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sidecar::shadow {
namespace {

// SCHED_IDLE needs no privilege for the calling thread; nice 19 is the fallback where a seccomp or
// container policy refuses it.
bool LowerThisThreadsPriority() {
  sched_param param{};
  param.sched_priority = 0;
  if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &param) == 0) return true;
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 19);
  return false;
}

}  // namespace

upstream::Cluster* MirrorWorker::Clusters::Get(const std::string& name) const {
  auto it = clusters_.find(name);
  return it == clusters_.end() ? nullptr : it->second.get();
}

std::set<std::string> MirrorWorker::Clusters::Names() const {
  std::set<std::string> names;
  for (const auto& [name, cluster] : clusters_) names.insert(name);
  return names;
}

absl::StatusOr<std::unique_ptr<MirrorWorker>> MirrorWorker::Start(Options options,
                                                                  ClustersFactory factory,
                                                                  BodyDecoder decoder) {
  std::unique_ptr<MirrorWorker> worker(new MirrorWorker());
  worker->decoder_ = std::move(decoder);
  std::promise<absl::Status> started;
  std::future<absl::Status> started_future = started.get_future();
  MirrorWorker* w = worker.get();
  // The dispatcher and the clusters are made on the worker's thread: it owns them from the start.
  w->thread_ = std::thread([w, options, factory = std::move(factory),
                            started = std::move(started)]() mutable {
    pthread_setname_np(pthread_self(), options.name.substr(0, 15).c_str());  // top -H, perf, gdb
    w->idle_priority_ = LowerThisThreadsPriority();
    auto dispatcher = event::Dispatcher::Create(options.name);
    if (!dispatcher.ok()) {
      started.set_value(dispatcher.status());
      return;
    }
    w->dispatcher_ = *std::move(dispatcher);
    auto clusters = std::move(factory)(*w->dispatcher_);
    if (!clusters.ok()) {
      started.set_value(
          absl::Status(clusters.status().code(),
                       absl::StrCat("shadow worker clusters: ", clusters.status().message())));
      return;
    }
    w->clusters_ = *std::move(clusters);
    w->names_ = w->clusters_->Names();
    started.set_value(absl::OkStatus());
    w->dispatcher_->Run();
    // Stopped: nothing in flight may call back into a cluster that is going away.
    for (auto& [id, pending] : w->runs_) pending.run->Cancel();
    w->runs_.clear();
    w->clusters_.reset();
  });
  absl::Status status = started_future.get();
  if (!status.ok()) {
    worker->thread_.join();
    return status;
  }
  return worker;
}

MirrorWorker::~MirrorWorker() {
  if (dispatcher_ != nullptr) dispatcher_->Exit();
  if (thread_.joinable()) thread_.join();
}

void MirrorWorker::Launch(std::unique_ptr<MirrorRun> run, Done done) {
  dispatcher_->Post([this, run = std::move(run), done = std::move(done)]() mutable {
    upstream::Cluster* shadow = clusters_->Get(run->shadow_cluster);
    upstream::Cluster* primary = run->want_noise ? clusters_->Get(run->primary_cluster) : nullptr;
    if (shadow == nullptr) {  // the runtime asks Has() first; kept safe all the same
      run->shadow = absl::FailedPreconditionError(
          absl::StrCat("the shadow worker has no instance of cluster '", run->shadow_cluster, "'"));
      run->comparison = Compare(*run, &decoder_);
      run->ReleaseSlot();
      std::move(done)(std::move(run));
      return;
    }
    const uint64_t id = run->id;
    MirrorRun& started = *run;
    runs_[id] = Pending{std::move(run), std::move(done)};
    started.Start(*shadow, primary, &decoder_, [this, id] { Finish(id); });
  });
}

void MirrorWorker::SetPrimary(uint64_t id, absl::StatusOr<http::Response> result) {
  dispatcher_->Post([this, id, result = std::move(result)]() mutable {
    auto it = runs_.find(id);
    if (it != runs_.end()) it->second.run->SetPrimary(std::move(result));
  });
}

void MirrorWorker::Cancel(uint64_t id) {
  dispatcher_->Post([this, id] {
    auto it = runs_.find(id);
    if (it == runs_.end()) return;
    it->second.run->Cancel();
    it->second.run->ReleaseSlot();
    runs_.erase(it);
  });
}

void MirrorWorker::Finish(uint64_t id) {
  auto it = runs_.find(id);
  if (it == runs_.end()) return;
  Pending pending = std::move(it->second);
  runs_.erase(it);
  // Before the run waits in the runtime's mailbox: the cap counts mirrors at the shadow only.
  pending.run->ReleaseSlot();
  std::move(pending.done)(std::move(pending.run));
}

}  // namespace sidecar::shadow
