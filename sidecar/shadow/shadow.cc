#include "sidecar/shadow/shadow.h"

#include <algorithm>
#include <atomic>
#include <random>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sidecar/common/logging.h"
#include "sidecar/common/redact.h"

namespace sidecar::shadow {
namespace {

using Json = nlohmann::json;

uint32_t RandomBasisPoint() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return std::uniform_int_distribution<uint32_t>(0, 9999)(rng);
}

bool IsSafeMethod(std::string_view method) { return method == "GET" || method == "HEAD" || method == "OPTIONS"; }

// §0.7: health answers are volatile by nature; comparing them says nothing about a port.
bool IsHealthRequest(const http::Request& request) {
  std::string_view path = request.path;
  path = path.substr(0, path.find('?'));
  return request.action == "health" || absl::EndsWith(absl::string_view(path.data(), path.size()), "/health");
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// ShadowPolicy

std::shared_ptr<const ShadowPolicy> ShadowPolicy::Create(const config::ShadowConfig& config, std::string_view service,
                                                         upstream::GuardedCluster* cluster) {
  auto policy = std::make_shared<ShadowPolicy>();
  policy->cluster = cluster;
  policy->methods = config.methods;
  policy->header = config.header;
  policy->allow_credentials = config.allow_credentials;
  policy->strip_headers = config.strip_headers;
  policy->timeout = std::chrono::milliseconds(config.timeout_ms);
  policy->max_concurrent = config.max_concurrent;
  policy->noise_bp = config.noise_percent_bp;
  policy->pause_above_cpu_pressure_bp = config.pause_above_cpu_pressure_bp;
  std::vector<std::pair<std::string, double>> tolerances(config.tolerances.begin(), config.tolerances.end());
  policy->diff = BuildDiffOptions(service, config.ignore_paths, tolerances, config.volatile_defaults);
  return policy;
}

bool ShadowPolicy::Mirrors(std::string_view method) const {
  for (const std::string& m : methods) {
    if (m == "*" || m == method) return true;
  }
  return false;
}

http::Request ShadowPolicy::MirrorOf(const http::Request& request) const {
  http::Request out = request;
  std::vector<std::string> remove;
  for (const auto& [name, value] : out.headers.entries()) {
    bool strip = false;
    if (IsCredentialHeader(name)) {
      strip = std::none_of(allow_credentials.begin(), allow_credentials.end(),
                           [&](const std::string& allowed) { return http::HeaderMap::NameEquals(allowed, name); });
    }
    for (const std::string& s : strip_headers) strip = strip || http::HeaderMap::NameEquals(s, name);
    if (strip) remove.push_back(name);
  }
  for (const std::string& name : remove) out.headers.Remove(name);
  out.headers.Set(header, "1");
  out.deadline = http::Clock::now() + timeout;
  return out;
}

// ------------------------------------------------------------------------------------------------
// MirrorHandle

MirrorHandle& MirrorHandle::operator=(MirrorHandle&& other) noexcept {
  if (this != &other) {
    Reset();
    runtime_ = std::exchange(other.runtime_, nullptr);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

void MirrorHandle::OnPrimary(absl::StatusOr<http::Response>& result, const std::string& primary_cluster) {
  if (runtime_ == nullptr) return;
  std::exchange(runtime_, nullptr)->OnPrimary(id_, result, primary_cluster);
}

void MirrorHandle::Reset() {
  if (runtime_ != nullptr) std::exchange(runtime_, nullptr)->Abandon(id_);
}

// ------------------------------------------------------------------------------------------------
// ShadowRuntime

namespace {

// A streamed primary body is compared by its concatenation; beyond this the exchange is dropped.
constexpr size_t kMaxStreamCompareBytes = 1024 * 1024;

// Passes a streamed body through unchanged and reports its concatenation (bounded) at the end.
class TeeStream final : public http::BodyStream, private http::BodyStream::Sink {
 public:
  using Report = absl::AnyInvocable<void(absl::Status, std::string, bool truncated)>;
  TeeStream(http::BodyStreamPtr inner, Report report) : inner_(std::move(inner)), report_(std::move(report)) {}
  ~TeeStream() override {
    inner_.reset();  // cancels the producer when it has not ended
    Deliver(absl::CancelledError("the consumer dropped the stream"));
  }
  void Start(http::BodyStream::Sink& sink) override {
    sink_ = &sink;
    inner_->Start(*this);
  }
  void Pause() override { inner_->Pause(); }
  void Resume() override { inner_->Resume(); }
  const std::string& summary() const override {
    static const std::string kNone;
    return inner_ != nullptr ? inner_->summary() : kNone;
  }

 private:
  void OnChunk(std::string data) override {
    if (!truncated_) {
      if (copy_.size() + data.size() > kMaxStreamCompareBytes) {
        truncated_ = true;
        copy_.clear();
      } else {
        copy_.append(data);
      }
    }
    sink_->OnChunk(std::move(data));
  }
  void OnEnd(absl::Status status) override {
    Deliver(status);
    sink_->OnEnd(std::move(status));
  }
  void Deliver(absl::Status status) {
    if (!report_) return;
    Report report = std::move(report_);
    report_ = nullptr;
    std::move(report)(std::move(status), std::move(copy_), truncated_);
  }

  http::BodyStreamPtr inner_;
  Report report_;
  http::BodyStream::Sink* sink_ = nullptr;
  std::string copy_;
  bool truncated_ = false;
};

}  // namespace

struct ShadowRuntime::RouteState {
  std::string route, service, action;
  // Mirrors sent and not yet answered (the cap). Shared with the runs: the one that holds a slot
  // gives it back where it ends, the worker's thread included.
  std::shared_ptr<std::atomic<int64_t>> in_flight = std::make_shared<std::atomic<int64_t>>(0);
  // Counts for /status (the Prometheus counters carry the same numbers).
  std::map<std::string, int64_t> results;
  std::map<std::string, int64_t> paths;  // folded path -> mismatches
  std::set<std::string> noise;           // folded paths learned as noise
  int64_t noise_samples = 0;
  int64_t pause_above_cpu_pressure_bp = 0;  // the route's setting, as last seen
  AdmitShare admit;                         // of its mirrors, under that line
  std::map<std::string, prometheus::Counter*> counters;  // result -> cached child
};

struct ShadowRuntime::Exchange {
  RouteState* state = nullptr;
  ComparedCallback on_compared;
  // The mirror's own exchange; null while the worker holds it (on_worker).
  std::unique_ptr<MirrorRun> run;
  upstream::GuardedCluster* primary_target = nullptr;  // for a noise copy on this loop
  bool on_worker = false;
  std::optional<http::Response> primary_head;  // a streamed primary, until its body has ended
};

ShadowRuntime::ShadowRuntime(event::Dispatcher& dispatcher, stats::Metrics& metrics, Options options,
                             BodyDecoder decoder, std::unique_ptr<MirrorWorker> worker)
    : dispatcher_(dispatcher),
      metrics_(metrics),
      options_(options),
      decoder_(std::move(decoder)),
      collect_timer_(dispatcher.CreateTimer([this] { Collect(); })),
      worker_(std::move(worker)) {}

void ShadowRuntime::Collect() {
  std::vector<std::unique_ptr<MirrorRun>> done;
  {
    std::lock_guard<std::mutex> lock(mailbox_->mu);
    done.swap(mailbox_->runs);
  }
  for (std::unique_ptr<MirrorRun>& run : done) {
    const uint64_t id = run->id;
    auto it = exchanges_.find(id);
    if (it == exchanges_.end()) continue;  // abandoned meanwhile (and uncounted then)
    --on_worker_;
    Finish(id, std::move(run));
  }
  if (on_worker_ > 0) collect_timer_->Enable(kCollectEvery);
}

ShadowRuntime::~ShadowRuntime() {
  *alive_ = false;
  worker_.reset();  // joins its thread; its runs are cancelled there
  for (auto& [id, exchange] : exchanges_) {
    if (exchange->run != nullptr) exchange->run->Cancel();
  }
}

void ShadowRuntime::PostIfAlive(absl::AnyInvocable<void()> work) {
  dispatcher_.Post([alive = std::weak_ptr<bool>(alive_), work = std::move(work)]() mutable {
    if (auto a = alive.lock(); a && *a) work();
  });
}

ShadowRuntime::RouteState& ShadowRuntime::StateOf(const std::string& route, const std::string& service,
                                                  const std::string& action) {
  std::unique_ptr<RouteState>& state = routes_[route];
  if (state == nullptr) {
    state = std::make_unique<RouteState>();
    state->route = route;
    state->service = service;
    state->action = action.empty() ? "*" : action;
  }
  return *state;
}

void ShadowRuntime::Count(RouteState& state, const char* result) {
  prometheus::Counter*& counter = state.counters[result];
  if (counter == nullptr) {
    counter = &metrics_.shadow_requests_total.Add(
        {{"service", state.service}, {"action", state.action}, {"result", result}});
  }
  counter->Increment();
  ++state.results[result];
}

MirrorHandle ShadowRuntime::Begin(const std::string& route, const std::string& service, const std::string& action,
                                  std::shared_ptr<const ShadowPolicy> policy, int64_t percent_bp,
                                  const http::Request& request, upstream::GuardedCluster& primary,
                                  ComparedCallback on_compared) {
  if (policy == nullptr || policy->cluster == nullptr || percent_bp <= 0) return {};
  if (policy->cluster == &primary) return {};  // this request already goes where the shadow would
  if (!policy->Mirrors(request.method) || IsHealthRequest(request)) return {};
  if (percent_bp < 10000 && static_cast<int64_t>(RandomBasisPoint()) >= percent_bp) return {};
  RouteState& state = StateOf(route, service, action);
  if (state.pause_above_cpu_pressure_bp != policy->pause_above_cpu_pressure_bp) {
    state.pause_above_cpu_pressure_bp = policy->pause_above_cpu_pressure_bp;
    state.admit.Reset();  // a new line starts from the whole shadow
  }
  if (policy->pause_above_cpu_pressure_bp > 0) WatchCpuPressure();
  // Held back above the route's CPU pressure line, or at its cap: the shadow's own limits skip it,
  // each under a result of its own so that a dashboard tells a busy box from a slow shadow.
  if (HeldBackByCpuPressure(state)) {
    Count(state, "paused");
    return {};
  }
  if (state.in_flight->load() >= policy->max_concurrent) {
    Count(state, "dropped");
    return {};
  }
  auto exchange = std::make_unique<Exchange>();
  Exchange& e = *exchange;
  e.state = &state;
  e.on_compared = std::move(on_compared);
  e.run = std::make_unique<MirrorRun>();
  MirrorRun& run = *e.run;
  run.id = next_id_++;
  run.policy = std::move(policy);
  run.time_pinned = request.headers.Has(http::headers::kRequestTime);
  run.mirrored = run.policy->MirrorOf(request);
  run.mirrored.stream_ok = false;  // the shadow's body is compared whole
  run.shadow_cluster = run.policy->cluster->name();
  run.want_noise = run.policy->noise_bp > 0 && IsSafeMethod(request.method) &&
                   static_cast<int64_t>(RandomBasisPoint()) < run.policy->noise_bp;
  if (run.want_noise) {
    e.primary_target = &primary;
    run.primary_budget = std::max(http::Clock::duration::zero(), request.deadline - http::Clock::now());
  }
  const uint64_t id = run.id;
  exchanges_.emplace(id, std::move(exchange));
  return MirrorHandle(this, id);
}

void ShadowRuntime::WatchCpuPressure() {
  if (pressure_timer_ != nullptr) return;
  pressure_timer_ = dispatcher_.CreateTimer([this] {
    SampleCpuPressure();
    pressure_timer_->Enable(options_.cpu_pressure_every);
  });
  absl::StatusOr<std::string> path = options_.cpu_pressure_path;
  if (options_.cpu_pressure_path.empty()) path = CpuPressure::FindSource();
  if (!path.ok()) {
    // Without PSI no route pauses: the shadow runs as if the cores were free, and says so.
    pressure_error_ = std::string(path.status().message());
    log::Warn("shadow: cpu pressure unavailable; no route pauses its shadow", {{"error", pressure_error_}});
    return;
  }
  pressure_source_.emplace(*path);
  SampleCpuPressure();  // the first reading: a baseline
  pressure_timer_->Enable(options_.cpu_pressure_every);
}

void ShadowRuntime::SampleCpuPressure() {
  if (!pressure_source_.has_value()) return;
  absl::StatusOr<std::optional<double>> share = pressure_source_->Sample(CpuPressure::Clock::now());
  if (!share.ok()) {
    // Unreadable now: nothing held back on a stale figure.
    if (pressure_error_.empty()) log::Warn("shadow: cannot read cpu pressure", {{"error", share.status().ToString()}});
    pressure_error_ = std::string(share.status().message());
    cpu_pressure_.reset();
    for (auto& [name, state] : routes_) state->admit.Reset();
    return;
  }
  if (!share->has_value()) return;  // a baseline
  pressure_error_.clear();
  cpu_pressure_ = **share;
  for (auto& [name, state] : routes_) {
    const int64_t line_bp = state->pause_above_cpu_pressure_bp;
    if (line_bp > 0) state->admit.OnSample(*cpu_pressure_, line_bp);
  }
}

bool ShadowRuntime::HeldBackByCpuPressure(const RouteState& state) {
  if (state.pause_above_cpu_pressure_bp <= 0) return false;
  const int64_t share_bp = state.admit.share_bp();
  return share_bp < AdmitShare::kAll && static_cast<int64_t>(RandomBasisPoint()) >= share_bp;
}

void ShadowRuntime::Dispatch(uint64_t id) {
  auto it = exchanges_.find(id);
  if (it == exchanges_.end()) return;
  Exchange& e = *it->second;
  MirrorRun& run = *e.run;
  if (!e.primary_head.has_value() && !(run.primary.has_value() && run.primary->ok())) {
    // A failed primary leaves nothing to compare: asking the shadow would only load it.
    Count(*e.state, "error");
    Abandon(id);
    return;
  }
  // The cap counts mirrors sent and not yet back. Begin checked it too, to spare the copy when it
  // was full already; mirrors waiting for their primary do not hold a slot.
  if (e.state->in_flight->load() >= run.policy->max_concurrent) {
    Count(*e.state, "dropped");
    Abandon(id);
    return;
  }
  run.TakeSlot(e.state->in_flight);
  if (run.want_noise) ++e.state->noise_samples;
  if (worker_ != nullptr && worker_->Has(run.shadow_cluster) &&
      (!run.want_noise || worker_->Has(run.primary_cluster))) {
    e.on_worker = true;
    ++runs_on_worker_;
    ++on_worker_;
    // The worker leaves the finished run in the mailbox and does not wake this loop: the collect
    // timer picks the runs up in batches (a wake-up per mirror would cost this loop one more
    // epoll round and context switch per request).
    worker_->Launch(std::move(e.run), [mailbox = mailbox_](std::unique_ptr<MirrorRun> done) {
      std::lock_guard<std::mutex> lock(mailbox->mu);
      mailbox->runs.push_back(std::move(done));
    });
    if (!collect_timer_->Enabled()) collect_timer_->Enable(kCollectEvery);
    return;
  }
  // The inner clusters: shadow failures must not trip a breaker or spend a budget that primary
  // traffic shares.
  ++runs_on_loop_;
  run.Start(run.policy->cluster->inner(), run.want_noise ? &e.primary_target->inner() : nullptr, &decoder_,
            [this, id] {
              // Inside the cluster's callback: the run is taken apart on a later turn.
              PostIfAlive([this, id] {
                auto found = exchanges_.find(id);
                if (found != exchanges_.end()) Finish(id, std::move(found->second->run));
              });
            });
}

void ShadowRuntime::OnPrimary(uint64_t id, absl::StatusOr<http::Response>& result,
                              const std::string& primary_cluster) {
  auto it = exchanges_.find(id);
  if (it == exchanges_.end()) return;
  it->second->run->primary_cluster = primary_cluster;
  if (result.ok() && result->stream != nullptr) {
    // Compared once the body has streamed through to the caller.
    http::Response head = *result;
    head.stream = nullptr;
    it->second->primary_head = std::move(head);
    result->stream = std::make_shared<TeeStream>(
        std::move(result->stream),
        [this, id, alive = std::weak_ptr<bool>(alive_)](absl::Status status, std::string body, bool truncated) {
          if (auto a = alive.lock(); a && *a) OnPrimaryStreamEnd(id, std::move(status), std::move(body), truncated);
        });
  } else {
    it->second->run->primary = result;
  }
  // Called just before the primary's reply is handed on: the mirror (and the noise copy) leave on
  // a later loop turn, after the reply was written, so neither this process nor the shadow's
  // upstream competes with the primary's own exchange for the cores.
  PostIfAlive([this, id] { Dispatch(id); });
}

void ShadowRuntime::OnPrimaryStreamEnd(uint64_t id, absl::Status status, std::string body, bool truncated) {
  auto it = exchanges_.find(id);
  if (it == exchanges_.end() || !it->second->primary_head.has_value()) return;
  Exchange& e = *it->second;
  if (truncated) {
    Count(*e.state, "dropped");  // too large to compare
    Abandon(id);
    return;
  }
  absl::StatusOr<http::Response> primary = absl::CancelledError("");
  if (status.ok()) {
    http::Response whole = *e.primary_head;  // the head stays: Dispatch reads it as "primary answered"
    whole.body = std::move(body);
    primary = std::move(whole);
  } else {
    primary = std::move(status);
  }
  // May run inside the caller's stream callbacks: handed on a later loop turn, to wherever the run
  // is by then (Dispatch, posted before, may have moved it to the worker).
  PostIfAlive([this, id, primary = std::move(primary)]() mutable {
    auto found = exchanges_.find(id);
    if (found == exchanges_.end()) return;
    if (found->second->on_worker) {
      worker_->SetPrimary(id, std::move(primary));
    } else if (found->second->run != nullptr) {
      found->second->run->SetPrimary(std::move(primary));
    }
  });
}

void ShadowRuntime::Abandon(uint64_t id) {
  auto it = exchanges_.find(id);
  if (it == exchanges_.end()) return;
  Exchange& e = *it->second;
  if (e.on_worker) {
    worker_->Cancel(id);  // gives its slot back there, unless it finished already and did then
    --on_worker_;         // Collect skips a run whose exchange is gone
  } else if (e.run != nullptr) {
    e.run->Cancel();
  }
  if (e.run != nullptr) e.run->ReleaseSlot();  // a run on the worker gives it back there
  exchanges_.erase(it);
}

void ShadowRuntime::Finish(uint64_t id, std::unique_ptr<MirrorRun> run) {
  auto it = exchanges_.find(id);
  if (it == exchanges_.end() || run == nullptr || !run->comparison.has_value()) return;
  std::unique_ptr<Exchange> e = std::move(it->second);
  exchanges_.erase(it);
  RouteState& state = *e->state;
  run->ReleaseSlot();  // already given back when it ran on the worker
  Comparison& comparison = *run->comparison;
  bool matched = false;
  switch (comparison.result) {
    case Comparison::Result::kDropped: Count(state, "dropped"); return;
    case Comparison::Result::kError: Count(state, "error"); return;
    case Comparison::Result::kMatched:
      Count(state, "matched");
      matched = true;
      break;
    case Comparison::Result::kDiffed: matched = CountDiff(state, *run, comparison); break;
  }
  if (e->on_compared) e->on_compared(matched);
}

bool ShadowRuntime::CountDiff(RouteState& state, const MirrorRun& run, Comparison& comparison) {
  for (const std::string& path : comparison.noise_paths) {
    if (state.noise.size() >= options_.max_noise_paths) break;
    state.noise.insert(FoldIndices(path));
  }
  std::vector<std::string> real, noise_paths;
  for (std::string& path : comparison.paths) {
    (state.noise.count(FoldIndices(path)) > 0 ? noise_paths : real).push_back(std::move(path));
  }
  comparison.paths = std::move(real);
  comparison.noise_paths = std::move(noise_paths);  // now: this exchange's differences set apart as noise
  const bool matched = comparison.paths.empty() && comparison.more_paths == 0;
  Count(state, matched ? "matched" : "mismatched");
  if (!matched) {
    for (const std::string& path : comparison.paths) {
      std::string label = FoldIndices(path);
      if (state.paths.count(label) == 0 && state.paths.size() >= options_.max_paths_per_route) label = "other";
      ++state.paths[label];
      metrics_.shadow_mismatch_paths_total
          .Add({{"service", state.service}, {"action", state.action}, {"path", label}})
          .Increment();
    }
    Record(state, run, comparison);
  }
  return matched;
}

void ShadowRuntime::Record(RouteState& state, const MirrorRun& run, const Comparison& comparison) {
  Json headers = Json::object();
  for (const auto& [name, value] : run.mirrored.headers.entries()) {
    headers[name] = IsCredentialHeader(name) ? std::string(redact::kRedacted) : redact::Text(value);
  }
  auto side = [&](const std::string& cluster, const http::Response& r) {
    return Json{{"cluster", cluster}, {"status", Normalize(r).status}, {"body", RedactBody(r.body, options_.max_body_bytes)}};
  };
  Json entry = {
      {"time", absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone())},
      {"route", state.route},
      {"service", state.service},
      {"action", state.action},
      {"request",
       {{"method", run.mirrored.method},
        {"path", redact::Text(run.mirrored.path)},  // ?access_token=... in a query
        {"headers", std::move(headers)},
        {"body", RedactBody(run.mirrored.body, options_.max_body_bytes)}}},
      {"primary", side(run.primary_cluster, **run.primary)},
      {"shadow", side(run.shadow_cluster, **run.shadow)},
      {"paths", comparison.paths},
      {"noise_paths", comparison.noise_paths},
      {"more_paths", comparison.more_paths},
  };
  ring_.push_front(std::move(entry));
  while (ring_.size() > options_.ring_size) ring_.pop_back();
}

Json ShadowRuntime::MismatchesJson() const {
  Json out = Json::array();
  for (const Json& entry : ring_) out.push_back(entry);
  return out;
}

Json ShadowRuntime::StatsJson() const {
  Json out = Json::object();
  for (const auto& [name, state] : routes_) {
    auto count = [&](const char* result) {
      auto it = state->results.find(result);
      return it == state->results.end() ? int64_t{0} : it->second;
    };
    const int64_t matched = count("matched"), mismatched = count("mismatched");
    const int64_t compared = matched + mismatched;
    Json paths = Json::object();
    for (const auto& [path, n] : state->paths) paths[path] = n;
    out[name] = {
        {"service", state->service},
        {"action", state->action},
        {"matched", matched},
        {"mismatched", mismatched},
        {"error", count("error")},
        {"dropped", count("dropped")},
        {"paused", count("paused")},
        {"in_flight", state->in_flight->load()},
        {"match_rate", compared == 0 ? Json(nullptr) : Json(static_cast<double>(matched) / compared)},
        {"mismatch_paths", std::move(paths)},
        {"noise_paths", state->noise},
        {"noise_samples", state->noise_samples},
    };
    if (state->pause_above_cpu_pressure_bp > 0) {
      Json& pause = out[name]["cpu_pressure_pause"];
      pause = {{"above", state->pause_above_cpu_pressure_bp / 10000.0},
               {"pressure", cpu_pressure_.has_value() ? Json(*cpu_pressure_) : Json(nullptr)},
               {"admitted", state->admit.share_bp() / 10000.0}};
      if (!pressure_error_.empty()) pause["error"] = pressure_error_;
    }
  }
  return out;
}

}  // namespace sidecar::shadow
