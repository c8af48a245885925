#include "sidecar/upstream/legacy_http_cluster.h"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sidecar/common/logging.h"
#include "sidecar/http/method.h"

namespace sidecar::upstream {
namespace {

using std::chrono::milliseconds;

// Hop-by-hop headers and the ones we recompute (Host, Content-Length, X-Deadline-Ms).
bool IsDropped(std::string_view name, const std::vector<std::string>& connection_tokens) {
  if (http::HeaderMap::IsHopByHopOrFraming(name) || http::HeaderMap::NameEquals(name, "Host") ||
      http::HeaderMap::NameEquals(name, http::headers::kDeadlineMs)) {
    return true;
  }
  // "Connection: X-Foo" makes X-Foo hop-by-hop too.
  for (const std::string& token : connection_tokens) {
    if (http::HeaderMap::NameEquals(name, token)) return true;
  }
  return false;
}

// The request target goes verbatim into the request line: no spaces, no control characters.
bool ValidRequestTarget(const std::string& path) {
  if (path.empty() || path[0] != '/') return false;
  for (char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  return true;
}

// Resolves once, at creation: the pool then connects to a numeric address and never calls
// the blocking resolver on the loop thread. IPv4 is preferred for names like "localhost" that
// resolve to both families, because colocated apps usually listen on 127.0.0.1 only.
absl::Status Resolve(const config::HostPort& hp, ConnectionOptions* out) {
  std::string host = hp.host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &result);
  if (rc != 0 || result == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve upstream host '", host, "': ", gai_strerror(rc)));
  }
  const addrinfo* chosen = result;
  for (const addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET) {
      chosen = ai;
      break;
    }
  }
  char numeric[NI_MAXHOST];
  const int ni = getnameinfo(chosen->ai_addr, chosen->ai_addrlen, numeric, sizeof(numeric), nullptr,
                             0, NI_NUMERICHOST);
  out->family = chosen->ai_family;
  freeaddrinfo(result);
  if (ni != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve upstream host '", host, "': ", gai_strerror(ni)));
  }
  out->address = numeric;
  out->port = hp.port;
  return absl::OkStatus();
}

}  // namespace

struct LegacyHttpCluster::RequestTimer {
  event::TimerPtr timer;
  Request* request = nullptr;  // the request it times; null while spare
};

// One Send(): owned by exactly one of pending_, immediate_ or busy_ (or a local while completing).
class LegacyHttpCluster::Request final : public Cancellable {
 public:
  enum class State { kNew, kPending, kActive, kImmediate };

  Request(LegacyHttpCluster& cluster, ResponseCallback done)
      : cluster(cluster), done(std::move(done)) {}
  ~Request() override {
    if (timer != nullptr) cluster.ReturnTimer(std::move(timer));
  }
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  void StopTimer() {
    if (timer != nullptr) timer->timer->Disable();
  }

  void Cancel() override { cluster.CancelRequest(*this); }

  LegacyHttpCluster& cluster;
  ResponseCallback done;
  WireRequest wire;  // until handed to a connection
  http::Clock::time_point start;
  milliseconds timeout{0};
  RequestTimerPtr timer;
  State state = State::kNew;
  std::list<RequestPtr>::iterator pos;         // kPending, kImmediate
  HttpClientConnection* connection = nullptr;  // kActive
  absl::Status failure;                        // kImmediate
  bool observe_duration = true;  // local rejections (overflow, invalid) are not latency samples
  bool stream_ok = false;        // the caller takes a streamed body (http::Request::stream_ok)
};

// The body of a streamed legacy response: fed by OnBodyChunk, ended by OnComplete, owned by the
// consumer. Pausing stops reading the upstream socket (TCP then slows the legacy process);
// destroying it before the end abandons the connection.
class LegacyHttpCluster::Stream final : public http::QueuedBodyStream {
 public:
  Stream(LegacyHttpCluster& cluster, HttpClientConnection* connection)
      : QueuedBodyStream(cluster.dispatcher_),
        cluster_(&cluster),
        cluster_alive_(cluster.alive_),
        connection_(connection) {}
  ~Stream() override {
    if (Attached()) cluster_->AbandonStream(connection_);
  }

  void Feed(std::string chunk) { Push(std::move(chunk)); }
  void Finish(absl::Status status) {
    cluster_ = nullptr;
    End(std::move(status));
  }

 private:
  bool Attached() const { return cluster_ != nullptr && *cluster_alive_; }
  void OnPause() override {
    if (Attached()) connection_->PauseReading();
  }
  void OnResume() override {
    if (Attached()) connection_->ResumeReading();
  }

  LegacyHttpCluster* cluster_;  // null once the body ended
  const std::shared_ptr<bool> cluster_alive_;
  HttpClientConnection* const connection_;
};

absl::StatusOr<std::unique_ptr<LegacyHttpCluster>> LegacyHttpCluster::Create(
    const config::ClusterConfig& cfg, event::Dispatcher& dispatcher, stats::Metrics& metrics) {
  if (!cfg.legacy_http.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("cluster ", cfg.name, " is not legacy_http"));
  }
  const config::LegacyHttpClusterConfig& http = *cfg.legacy_http;
  if (http.address.port == 0) {
    return absl::InvalidArgumentError(absl::StrCat("cluster ", cfg.name, ": address needs a port"));
  }
  if (http.max_connections < 1 || http.max_pending_requests < 0 || http.connect_timeout_ms <= 0 ||
      http.request_timeout_ms <= 0 || http.max_response_headers_bytes <= 0 ||
      http.max_response_body_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cluster ", cfg.name,
        ": max_connections >= 1, max_pending_requests >= 0, timeouts and size limits > 0"));
  }
  ConnectionOptions options;
  if (absl::Status st = Resolve(http.address, &options); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("cluster ", cfg.name, ": ", st.message()));
  }
  options.connect_timeout = milliseconds(http.connect_timeout_ms);
  // The connections' inactivity timeout: a backstop behind each request's own timer, and the idle timeout
  // of kept-alive connections.
  options.io_timeout = milliseconds(http.request_timeout_ms + http.connect_timeout_ms + 1000);
  options.max_response_headers_bytes = http.max_response_headers_bytes;
  options.max_response_body_bytes = http.max_response_body_bytes;

  std::unique_ptr<LegacyHttpCluster> cluster(
      new LegacyHttpCluster(cfg, options, http.address.ToString(), dispatcher, metrics));
  if (http.health_check.has_value()) {
    auto checker = HealthChecker::Create(*http.health_check, options, cluster->host_header_,
                                         cfg.name, dispatcher, metrics);
    if (!checker.ok()) return checker.status();
    cluster->health_checker_ = *std::move(checker);
  } else {
    metrics.upstream_healthy.Add({{"cluster", cfg.name}}).Set(1);
  }
  return cluster;
}

LegacyHttpCluster::LegacyHttpCluster(const config::ClusterConfig& cfg, ConnectionOptions options,
                                     std::string host_header, event::Dispatcher& dispatcher,
                                     stats::Metrics& metrics)
    : name_(cfg.name),
      cfg_(*cfg.legacy_http),
      options_(std::move(options)),
      host_header_(std::move(host_header)),
      dispatcher_(dispatcher),
      metrics_(metrics),
      cx_active_(metrics.upstream_cx_active.Add({{"cluster", name_}})),
      cx_busy_(metrics.upstream_cx_busy.Add({{"cluster", name_}})),
      cx_total_(metrics.upstream_cx_total.Add({{"cluster", name_}})),
      rq_pending_(metrics.upstream_rq_pending.Add({{"cluster", name_}})),
      rq_duration_(metrics.upstream_rq_duration_seconds.Add({{"cluster", name_}},
                                                            stats::Metrics::LatencyBuckets())),
      rq_cancelled_(metrics.upstream_rq_total.Add({{"cluster", name_}, {"outcome", "cancelled"}})),
      rq_invalid_(
          metrics.upstream_rq_total.Add({{"cluster", name_}, {"outcome", "invalid_request"}})) {
  for (int cls = 2; cls <= 5; ++cls) {
    rq_by_class_[cls] =
        &metrics.upstream_rq_total.Add({{"cluster", name_}, {"outcome", absl::StrCat(cls, "xx")}});
  }
  for (FailureKind kind : {FailureKind::kConnectFailure, FailureKind::kReset, FailureKind::kTimeout,
                           FailureKind::kOverflow, FailureKind::kProtocolError}) {
    rq_by_failure_[static_cast<size_t>(kind)] = &metrics.upstream_rq_total.Add(
        {{"cluster", name_}, {"outcome", std::string(FailureKindName(kind))}});
  }
}

LegacyHttpCluster::~LegacyHttpCluster() {
  // Posted flushes still queued must find nothing to do.
  *alive_ = false;
  health_checker_.reset();
  // Requests die with their callbacks uncalled; connections go through deferred deletion because
  // this destructor may run inside a connection's callback (a user callback destroying the cluster).
  for (auto& [key, busy] : busy_) {
    if (busy.stream != nullptr) {
      busy.stream->Finish(UpstreamFailure(FailureKind::kReset, "cluster shut down mid-stream"));
    }
    Retire(std::move(busy.connection));
    cx_busy_.Decrement();
  }
  busy_.clear();
  for (ConnectionPtr& connection : idle_) Retire(std::move(connection));
  idle_.clear();
  rq_pending_.Decrement(static_cast<double>(pending_.size()));
  pending_.clear();
  immediate_.clear();
}

bool LegacyHttpCluster::Healthy() const {
  return health_checker_ == nullptr || health_checker_->healthy();
}

void LegacyHttpCluster::SetOnChange(absl::AnyInvocable<void(bool healthy)> on_change) {
  if (health_checker_ != nullptr) health_checker_->SetOnChange(std::move(on_change));
}

std::string LegacyHttpCluster::HealthDetail() const {
  return health_checker_ == nullptr ? "healthy (no health check configured)" : health_checker_->detail();
}

absl::StatusOr<WireRequest> LegacyHttpCluster::BuildWireRequest(const http::Request& request,
                                                                 milliseconds timeout) const {
  std::optional<evhttp_cmd_type> method = http::ParseMethod(request.method);
  if (!method.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported HTTP method '", request.method, "'"));
  }
  if (!ValidRequestTarget(request.path)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid request path '", request.path, "'"));
  }

  std::vector<std::string> connection_tokens;
  size_t header_bytes = host_header_.size() + 64;  // Host, Content-Length, X-Deadline-Ms
  for (const auto& [name, value] : request.headers.entries()) {
    header_bytes += name.size() + value.size() + 4;
    if (!http::HeaderMap::NameEquals(name, "Connection")) continue;
    for (absl::string_view token : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      connection_tokens.emplace_back(absl::StripAsciiWhitespace(token));
    }
  }
  WireRequest wire(*method, request.path, header_bytes);
  for (const auto& [name, value] : request.headers.entries()) {
    if (IsDropped(name, connection_tokens)) continue;
    if (absl::Status added = wire.AddHeader(name, value); !added.ok()) return added;
  }
  // Ours: constant names, digits, and the configured address (Resolve accepted it).
  wire.AddOwnHeader("Host", host_header_);
  const bool method_has_body =
      *method == EVHTTP_REQ_POST || *method == EVHTTP_REQ_PUT || *method == EVHTTP_REQ_PATCH;
  char digits[20];
  if (!request.body.empty() || method_has_body) {
    wire.AddOwnHeader("Content-Length", FormatDecimal(request.body.size(), digits));
  }
  // Deadline propagation (SERVICES.md §0.3): the legacy service learns how long the caller still
  // waits, including when the bound came from this cluster's timeout rather than the caller.
  wire.AddOwnHeader(http::headers::kDeadlineMs,
                    FormatDecimal(static_cast<uint64_t>(timeout.count()), digits));
  wire.set_body(request.body);
  return wire;
}

Cancellable* LegacyHttpCluster::Send(const http::Request& request, ResponseCallback done) {
  assert(dispatcher_.IsThreadSafe());
  auto owned = std::make_unique<Request>(*this, std::move(done));
  Request* handle = owned.get();
  const http::Clock::time_point now = http::Clock::now();
  owned->start = now;

  http::Clock::time_point deadline = now + milliseconds(cfg_.request_timeout_ms);
  if (request.deadline < deadline) deadline = request.deadline;
  owned->timeout = std::max(milliseconds(0), std::chrono::ceil<milliseconds>(deadline - now));

  absl::StatusOr<WireRequest> wire = BuildWireRequest(request, owned->timeout);
  if (!wire.ok()) {
    owned->observe_duration = false;
    CompleteLater(std::move(owned), wire.status());
    return handle;
  }
  owned->wire = *std::move(wire);
  owned->stream_ok = request.stream_ok;

  if (deadline <= now) {
    CompleteLater(std::move(owned),
                  UpstreamFailure(FailureKind::kTimeout, "request deadline already passed"));
    return handle;
  }

  // FIFO: while others wait, a new request queues behind them even if a connection frees up.
  ConnectionPtr connection = pending_.empty() ? AcquireConnection() : nullptr;
  if (connection == nullptr && pending_.size() >= static_cast<size_t>(cfg_.max_pending_requests)) {
    owned->observe_duration = false;
    CompleteLater(std::move(owned),
                  UpstreamFailure(FailureKind::kOverflow,
                                  absl::StrCat("cluster ", name_, ": all ", cfg_.max_connections,
                                               " connections busy and ", pending_.size(),
                                               " requests pending")));
    return handle;
  }

  owned->timer = TakeTimer(*owned);
  owned->timer->timer->Enable(owned->timeout);
  if (connection != nullptr) {
    Dispatch(std::move(owned), std::move(connection));
  } else {
    owned->state = Request::State::kPending;
    pending_.push_back(std::move(owned));
    handle->pos = std::prev(pending_.end());
    rq_pending_.Increment();
  }
  return handle;
}

LegacyHttpCluster::ConnectionPtr LegacyHttpCluster::AcquireConnection() {
  while (!idle_.empty()) {
    ConnectionPtr connection = std::move(idle_.back());
    idle_.pop_back();
    if (connection->usable() && connection->open()) return connection;
    Retire(std::move(connection));
  }
  if (busy_.size() >= static_cast<size_t>(cfg_.max_connections)) return nullptr;
  auto created = HttpClientConnection::Create(dispatcher_, options_, *this,
                                              ConnectionStats{&cx_active_, &cx_total_});
  if (!created.ok()) {
    log::Error("upstream connection not created",
               {{"cluster", name_}, {"error", created.status().ToString()}});
    return nullptr;
  }
  return *std::move(created);
}

void LegacyHttpCluster::Dispatch(RequestPtr request, ConnectionPtr connection) {
  absl::Status started = connection->Start(request->wire, request->stream_ok);
  if (!started.ok()) {
    Retire(std::move(connection));
    CompleteLater(std::move(request), std::move(started));
    return;
  }
  request->wire = WireRequest();  // the connection has serialised it
  request->state = Request::State::kActive;
  request->connection = connection.get();
  cx_busy_.Increment();
  HttpClientConnection* key = connection.get();
  busy_.emplace(key, Busy{std::move(connection), std::move(request)});
}

void LegacyHttpCluster::ProcessPending() {
  while (!pending_.empty()) {
    ConnectionPtr connection = AcquireConnection();
    if (connection == nullptr) return;
    RequestPtr request = std::move(pending_.front());
    pending_.pop_front();
    rq_pending_.Decrement();
    Dispatch(std::move(request), std::move(connection));
  }
}

void LegacyHttpCluster::Retire(ConnectionPtr connection) {
  HttpClientConnection::DeferredDestroy(dispatcher_, std::move(connection));
}

void LegacyHttpCluster::CompleteLater(RequestPtr request, absl::Status failure) {
  request->StopTimer();
  if (failure.ok()) failure = absl::InternalError("request ended without a response");
  request->state = Request::State::kImmediate;
  request->failure = std::move(failure);
  immediate_.push_back(std::move(request));
  immediate_.back()->pos = std::prev(immediate_.end());
  if (flush_posted_) return;
  flush_posted_ = true;
  dispatcher_.Post([this, alive = alive_] {
    if (*alive) FlushImmediate();
  });
}

void LegacyHttpCluster::FlushImmediate() {
  flush_posted_ = false;
  const std::shared_ptr<bool> alive = alive_;
  // Only what was queued before this flush: a callback that keeps failing and re-sending must not
  // spin here without returning to the loop. Later arrivals got their own posted flush.
  size_t budget = immediate_.size();
  while (budget-- > 0 && !immediate_.empty()) {
    RequestPtr request = std::move(immediate_.front());
    immediate_.pop_front();
    absl::Status failure = std::move(request->failure);
    Complete(std::move(request), std::move(failure));
    if (!*alive) return;  // a callback destroyed the cluster
  }
}

prometheus::Counter& LegacyHttpCluster::OutcomeCounter(
    const absl::StatusOr<http::Response>& result) {
  if (result.ok()) {
    const int cls = result->status / 100;
    if (cls >= 2 && cls <= 5) return *rq_by_class_[cls];
    return metrics_.upstream_rq_total.Add(
        {{"cluster", name_}, {"outcome", absl::StrCat(cls, "xx")}});
  }
  const FailureKind kind = GetFailureKind(result.status());
  if (kind == FailureKind::kNone) return rq_invalid_;
  prometheus::Counter*& slot = rq_by_failure_[static_cast<size_t>(kind)];
  if (slot == nullptr) {
    slot = &metrics_.upstream_rq_total.Add(
        {{"cluster", name_}, {"outcome", std::string(FailureKindName(kind))}});
  }
  return *slot;
}

void LegacyHttpCluster::Complete(RequestPtr request, absl::StatusOr<http::Response> result) {
  OutcomeCounter(result).Increment();
  if (request->observe_duration) {
    rq_duration_.Observe(
        std::chrono::duration<double>(http::Clock::now() - request->start).count());
  }
  ResponseCallback done = std::move(request->done);
  request.reset();
  std::move(done)(std::move(result));
}

void LegacyHttpCluster::OnRequestTimeout(Request& request) {
  RequestPtr owned;
  const char* where = "";
  switch (request.state) {
    case Request::State::kPending:
      owned = std::move(*request.pos);
      pending_.erase(request.pos);
      rq_pending_.Decrement();
      where = " waiting for a connection";
      break;
    case Request::State::kActive: {
      auto it = busy_.find(request.connection);
      if (it == busy_.end()) return;
      owned = std::move(it->second.request);
      Retire(std::move(it->second.connection));
      busy_.erase(it);
      cx_busy_.Decrement();
      break;
    }
    case Request::State::kNew:
    case Request::State::kImmediate: return;
  }
  const milliseconds timeout = owned->timeout;
  // Through the posted queue: this runs inside the request's own timer, which must outlive it.
  CompleteLater(std::move(owned), UpstreamFailure(FailureKind::kTimeout,
                                                  absl::StrCat("upstream request timed out after ",
                                                               timeout.count(), " ms", where)));
  ProcessPending();
}

LegacyHttpCluster::RequestTimerPtr LegacyHttpCluster::TakeTimer(Request& request) {
  RequestTimerPtr timer;
  if (!spare_timers_.empty()) {
    timer = std::move(spare_timers_.back());
    spare_timers_.pop_back();
  } else {
    timer = std::make_unique<RequestTimer>();
    RequestTimer* slot = timer.get();
    timer->timer = dispatcher_.CreateTimer([this, slot] {
      if (slot->request != nullptr) OnRequestTimeout(*slot->request);
    });
  }
  timer->request = &request;
  return timer;
}

void LegacyHttpCluster::ReturnTimer(RequestTimerPtr timer) {
  timer->timer->Disable();
  timer->request = nullptr;
  // As many as can be in use at once; a burst beyond that frees its extra timers.
  const size_t keep = static_cast<size_t>(cfg_.max_connections) + static_cast<size_t>(cfg_.max_pending_requests);
  if (spare_timers_.size() < keep) spare_timers_.push_back(std::move(timer));
}

void LegacyHttpCluster::CancelRequest(Request& request) {
  RequestPtr owned;
  switch (request.state) {
    case Request::State::kImmediate:
      owned = std::move(*request.pos);
      immediate_.erase(request.pos);
      break;
    case Request::State::kPending:
      owned = std::move(*request.pos);
      pending_.erase(request.pos);
      rq_pending_.Decrement();
      break;
    case Request::State::kActive: {
      auto it = busy_.find(request.connection);
      if (it == busy_.end()) return;
      owned = std::move(it->second.request);
      // The exchange is half done; nothing else may use this socket.
      Retire(std::move(it->second.connection));
      busy_.erase(it);
      cx_busy_.Decrement();
      break;
    }
    case Request::State::kNew: return;
  }
  rq_cancelled_.Increment();
  owned.reset();  // `request` is gone; Cancel() returns without touching it
  ProcessPending();
}

void LegacyHttpCluster::OnComplete(HttpClientConnection& connection,
                                   absl::StatusOr<http::Response> result) {
  auto it = busy_.find(&connection);
  if (it == busy_.end()) return;
  Busy busy = std::move(it->second);
  busy_.erase(it);
  cx_busy_.Decrement();
  if (busy.connection->usable() && busy.connection->open()) {
    idle_.push_back(std::move(busy.connection));
  } else {
    Retire(std::move(busy.connection));
  }
  ProcessPending();
  if (busy.request == nullptr) {
    // The end of a streamed body; its head already completed the request.
    if (busy.stream != nullptr) busy.stream->Finish(result.ok() ? absl::OkStatus() : result.status());
    return;
  }
  Complete(std::move(busy.request), std::move(result));  // last: may destroy `this`
}

void LegacyHttpCluster::OnStreamHead(HttpClientConnection& connection, http::Response head) {
  auto it = busy_.find(&connection);
  if (it == busy_.end() || it->second.request == nullptr) return;
  RequestPtr request = std::move(it->second.request);
  request->StopTimer();
  // The request's timeout covered the wait for the head; from here the consumer's flow control
  // and the connection's inactivity timeout bound the body.
  auto stream = std::make_shared<Stream>(*this, &connection);
  it->second.stream = stream.get();
  head.stream = std::move(stream);
  Complete(std::move(request), std::move(head));  // last: may destroy `this`
}

void LegacyHttpCluster::OnBodyChunk(HttpClientConnection& connection, std::string chunk) {
  auto it = busy_.find(&connection);
  if (it == busy_.end() || it->second.stream == nullptr) return;
  it->second.stream->Feed(std::move(chunk));
}

void LegacyHttpCluster::AbandonStream(HttpClientConnection* connection) {
  auto it = busy_.find(connection);
  if (it == busy_.end()) return;
  Retire(std::move(it->second.connection));
  busy_.erase(it);
  cx_busy_.Decrement();
  ProcessPending();
}

void LegacyHttpCluster::OnIdleClose(HttpClientConnection& connection) {
  for (auto it = idle_.begin(); it != idle_.end(); ++it) {
    if (it->get() == &connection) {
      ConnectionPtr closed = std::move(*it);
      idle_.erase(it);
      Retire(std::move(closed));
      return;
    }
  }
}

}  // namespace sidecar::upstream
