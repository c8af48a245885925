#include "sidecar/shadow/shadow.h"

#include <algorithm>
#include <random>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
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
  int64_t in_flight = 0;
  // Counts for /status (the Prometheus counters carry the same numbers).
  std::map<std::string, int64_t> results;
  std::map<std::string, int64_t> paths;  // folded path -> mismatches
  std::set<std::string> noise;           // folded paths learned as noise
  int64_t noise_samples = 0;
  std::map<std::string, prometheus::Counter*> counters;  // result -> cached child
};

struct ShadowRuntime::Exchange {
  uint64_t id = 0;
  RouteState* state = nullptr;
  std::shared_ptr<const ShadowPolicy> policy;
  ComparedCallback on_compared;
  bool time_pinned = false;
  http::Request original;  // what the primary got (for the noise copy's decoding and the ring)
  http::Request mirrored;  // kept alive while the shadow cluster may still read it
  http::Request noise_copy;  // likewise for the primary cluster's second answer
  std::string shadow_cluster;
  std::string primary_cluster;
  upstream::GuardedCluster* primary_target = nullptr;  // for the noise copy
  http::Clock::duration primary_budget{};               // the primary's time left at Begin, for the noise copy
  upstream::Cancellable* shadow_call = nullptr;
  upstream::Cancellable* noise_call = nullptr;
  bool want_noise = false;
  bool shadow_pending = false;  // sent and counted in the route's in_flight until the shadow answers
  std::optional<absl::StatusOr<http::Response>> primary, shadow, noise;
  std::optional<http::Response> primary_head;  // a streamed primary, until its body has ended
};

ShadowRuntime::ShadowRuntime(event::Dispatcher& dispatcher, stats::Metrics& metrics, Options options,
                             BodyDecoder decoder)
    : dispatcher_(dispatcher), metrics_(metrics), options_(options), decoder_(std::move(decoder)) {}

ShadowRuntime::~ShadowRuntime() {
  *alive_ = false;
  for (auto& [id, exchange] : exchanges_) {
    if (exchange->shadow_call != nullptr) exchange->shadow_call->Cancel();
    if (exchange->noise_call != nullptr) exchange->noise_call->Cancel();
  }
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
  if (state.in_flight >= policy->max_concurrent) {
    Count(state, "dropped");
    return {};
  }
  auto exchange = std::make_unique<Exchange>();
  Exchange& e = *exchange;
  e.id = next_id_++;
  e.state = &state;
  e.policy = std::move(policy);
  e.on_compared = std::move(on_compared);
  e.time_pinned = request.headers.Has(http::headers::kRequestTime);
  e.original = request;
  e.mirrored = e.policy->MirrorOf(request);
  e.mirrored.stream_ok = false;  // the shadow's body is compared whole
  e.shadow_cluster = e.policy->cluster->name();
  e.want_noise = e.policy->noise_bp > 0 && IsSafeMethod(request.method) &&
                 static_cast<int64_t>(RandomBasisPoint()) < e.policy->noise_bp;
  if (e.want_noise) {
    e.primary_target = &primary;
    e.primary_budget = std::max(http::Clock::duration::zero(), request.deadline - http::Clock::now());
  }
  const uint64_t id = e.id;
  exchanges_.emplace(id, std::move(exchange));
  return MirrorHandle(this, id);
}

void ShadowRuntime::Dispatch(uint64_t id) {
  auto it = exchanges_.find(id);
  if (it == exchanges_.end()) return;
  Exchange& e = *it->second;
  if (!e.primary_head.has_value() && !(e.primary.has_value() && e.primary->ok())) {
    // A failed primary leaves nothing to compare: asking the shadow would only load it.
    Count(*e.state, "error");
    Abandon(id);
    return;
  }
  // The cap counts mirrors at the shadow cluster. Begin checked it too, to spare the copy when it
  // was full already; mirrors waiting for their primary do not hold a slot.
  if (e.state->in_flight >= e.policy->max_concurrent) {
    Count(*e.state, "dropped");
    Abandon(id);
    return;
  }
  ++e.state->in_flight;
  e.shadow_pending = true;
  const http::Clock::time_point now = http::Clock::now();
  e.mirrored.deadline = now + e.policy->timeout;
  // The inner cluster: shadow failures must not trip a breaker or spend a budget that primary
  // traffic shares. Callbacks never run inline from Send().
  e.shadow_call = e.policy->cluster->inner().Send(
      e.mirrored, [this, id](absl::StatusOr<http::Response> result) { OnShadow(id, std::move(result)); });
  if (e.want_noise) {
    ++e.state->noise_samples;
    e.noise_copy = e.policy->MirrorOf(e.original);  // marked too: the primary can tell the copy apart
    e.noise_copy.stream_ok = false;
    e.noise_copy.deadline = now + e.primary_budget;
    e.noise_call = e.primary_target->inner().Send(
        e.noise_copy, [this, id](absl::StatusOr<http::Response> result) { OnNoise(id, std::move(result)); });
  }
}

void ShadowRuntime::OnPrimary(uint64_t id, absl::StatusOr<http::Response>& result,
                              const std::string& primary_cluster) {
  auto it = exchanges_.find(id);
  if (it == exchanges_.end()) return;
  it->second->primary_cluster = primary_cluster;
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
    it->second->primary = result;
  }
  // Called just before the primary's reply is handed on: the mirror (and the noise copy) leave on
  // a later loop turn, after the reply was written, so neither this process nor the shadow's
  // upstream competes with the primary's own exchange for the cores.
  dispatcher_.Post([this, id, alive = std::weak_ptr<bool>(alive_)]() {
    if (auto a = alive.lock(); a && *a) Dispatch(id);
  });
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
  if (status.ok()) {
    http::Response whole = std::move(*e.primary_head);
    whole.body = std::move(body);
    e.primary = std::move(whole);
  } else {
    e.primary = std::move(status);
  }
  // May run inside the caller's stream callbacks: compare on a later loop turn.
  dispatcher_.Post([this, id, alive = std::weak_ptr<bool>(alive_)]() {
    if (auto a = alive.lock(); a && *a) MaybeComplete(id);
  });
}

void ShadowRuntime::Abandon(uint64_t id) {
  auto it = exchanges_.find(id);
  if (it == exchanges_.end()) return;
  Exchange& e = *it->second;
  if (e.shadow_pending) {
    if (e.shadow_call != nullptr) e.shadow_call->Cancel();
    --e.state->in_flight;
  }
  if (e.noise_call != nullptr) e.noise_call->Cancel();
  exchanges_.erase(it);
}

void ShadowRuntime::OnShadow(uint64_t id, absl::StatusOr<http::Response> result) {
  auto it = exchanges_.find(id);
  if (it == exchanges_.end()) return;
  it->second->shadow_call = nullptr;
  it->second->shadow_pending = false;
  --it->second->state->in_flight;
  it->second->shadow = std::move(result);
  MaybeComplete(id);
}

void ShadowRuntime::OnNoise(uint64_t id, absl::StatusOr<http::Response> result) {
  auto it = exchanges_.find(id);
  if (it == exchanges_.end()) return;
  it->second->noise_call = nullptr;
  it->second->noise = std::move(result);
  MaybeComplete(id);
}

void ShadowRuntime::MaybeComplete(uint64_t id) {
  auto it = exchanges_.find(id);
  if (it == exchanges_.end()) return;
  Exchange& e = *it->second;
  if (!e.primary.has_value() || !e.shadow.has_value() || (e.want_noise && !e.noise.has_value())) return;
  std::unique_ptr<Exchange> done = std::move(it->second);
  exchanges_.erase(it);
  Complete(*done);
}

std::optional<std::string> ShadowRuntime::DecodeBody(const http::Request& request,
                                                     const http::Response& response) {
  if (!decoder_) return std::nullopt;
  return decoder_(request, response);
}

void ShadowRuntime::Complete(Exchange& e) {
  RouteState& state = *e.state;
  if (!e.shadow->ok()) {
    // The shadow's own pool refusing (overflow) is a drop: the mirror was never sent.
    const bool overflow = upstream::GetFailureKind(e.shadow->status()) == upstream::FailureKind::kOverflow;
    Count(state, overflow ? "dropped" : "error");
    return;
  }
  if (!e.primary->ok()) {
    Count(state, "error");  // nothing to compare against
    return;
  }
  const std::optional<std::string> primary_json = DecodeBody(e.original, **e.primary);
  const std::optional<std::string> shadow_json = DecodeBody(e.mirrored, **e.shadow);
  const std::string& primary_body = primary_json.has_value() ? *primary_json : (*e.primary)->body;
  const std::string& shadow_body = shadow_json.has_value() ? *shadow_json : (*e.shadow)->body;
  // A healthy shadow answers with the same bytes, and equal inputs normalise and compare equal:
  // the common case parses neither body (each parse builds a tree of allocated nodes). An
  // exchange that also asked the primary twice still learns its noise below.
  if (!e.want_noise && primary_body == shadow_body &&
      ComparedStatus(**e.primary) == ComparedStatus(**e.shadow)) {
    Count(state, "matched");
    if (e.on_compared) e.on_compared(true);
    return;
  }
  const Normalized primary = Normalize(**e.primary, &primary_body);
  const Normalized shadow = Normalize(**e.shadow, &shadow_body);
  DiffResult diff = Diff(primary, shadow, e.policy->diff, e.time_pinned);

  if (e.noise.has_value() && e.noise->ok()) {
    const std::optional<std::string> noise_json = DecodeBody(e.original, **e.noise);
    DiffResult noise = Diff(primary, Normalize(**e.noise, noise_json ? &*noise_json : nullptr),
                            e.policy->diff, e.time_pinned);
    for (const std::string& path : noise.paths) {
      if (state.noise.size() >= options_.max_noise_paths) break;
      state.noise.insert(FoldIndices(path));
    }
  }
  std::vector<std::string> real, noise_paths;
  for (std::string& path : diff.paths) {
    (state.noise.count(FoldIndices(path)) > 0 ? noise_paths : real).push_back(std::move(path));
  }
  diff.paths = std::move(real);
  const bool matched = diff.matched();
  Count(state, matched ? "matched" : "mismatched");
  if (!matched) {
    for (const std::string& path : diff.paths) {
      std::string label = FoldIndices(path);
      if (state.paths.count(label) == 0 && state.paths.size() >= options_.max_paths_per_route) label = "other";
      ++state.paths[label];
      metrics_.shadow_mismatch_paths_total
          .Add({{"service", state.service}, {"action", state.action}, {"path", label}})
          .Increment();
    }
    Record(e, diff, noise_paths);
  }
  if (e.on_compared) e.on_compared(matched);
}

void ShadowRuntime::Record(const Exchange& e, const DiffResult& diff, const std::vector<std::string>& noise) {
  Json headers = Json::object();
  for (const auto& [name, value] : e.mirrored.headers.entries()) {
    headers[name] = IsCredentialHeader(name) ? std::string(redact::kRedacted) : redact::Text(value);
  }
  auto side = [&](const std::string& cluster, const http::Response& r) {
    return Json{{"cluster", cluster}, {"status", Normalize(r).status}, {"body", RedactBody(r.body, options_.max_body_bytes)}};
  };
  Json entry = {
      {"time", absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone())},
      {"route", e.state->route},
      {"service", e.state->service},
      {"action", e.state->action},
      {"request",
       {{"method", e.mirrored.method},
        {"path", redact::Text(e.mirrored.path)},  // ?access_token=... in a query
        {"headers", std::move(headers)},
        {"body", RedactBody(e.mirrored.body, options_.max_body_bytes)}}},
      {"primary", side(e.primary_cluster, **e.primary)},
      {"shadow", side(e.shadow_cluster, **e.shadow)},
      {"paths", diff.paths},
      {"noise_paths", noise},
      {"more_paths", diff.truncated},
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
        {"in_flight", state->in_flight},
        {"match_rate", compared == 0 ? Json(nullptr) : Json(static_cast<double>(matched) / compared)},
        {"mismatch_paths", std::move(paths)},
        {"noise_paths", state->noise},
        {"noise_samples", state->noise_samples},
    };
  }
  return out;
}

}  // namespace sidecar::shadow
