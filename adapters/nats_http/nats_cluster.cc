#include "adapters/nats_http/nats_cluster.h"

#include <cassert>
#include <utility>

#include "absl/strings/str_cat.h"
#include "adapters/nats_http/stream.h"
#include "sidecar/common/logging.h"

namespace sidecar::adapters::nats_http {
namespace {

using std::chrono::milliseconds;
using upstream::FailureKind;
using upstream::UpstreamFailure;

// A subject a message can be published to: dot-separated non-empty tokens, no wildcards, no
// whitespace or control characters.
bool IsPlainSubject(std::string_view subject) {
  if (subject.empty() || subject.front() == '.' || subject.back() == '.') return false;
  if (subject.find("..") != std::string_view::npos) return false;
  for (char c : subject) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '*' || c == '>') return false;
  }
  return true;
}

}  // namespace

// One Send(): owned by requests_ from Send() until it completes or is cancelled.
class NatsCluster::Request final : public upstream::Cancellable {
 public:
  Request(NatsCluster& cluster, uint64_t id, upstream::ResponseCallback done)
      : cluster(cluster), id(id), done(std::move(done)) {}

  void Cancel() override { cluster.CancelRequest(id); }

  NatsCluster& cluster;
  const uint64_t id;
  upstream::ResponseCallback done;
  http::Clock::time_point start;
  std::string subject;
  milliseconds timeout{0};
  nats::RequestMux::RequestId mux_id = 0;  // 0 until handed to the mux
  bool observe_duration = true;  // local rejections are not latency samples
};

NatsClusterOptions NatsClusterOptions::FromConfig(const config::ClusterConfig& cc) {
  NatsClusterOptions options;
  options.name = cc.name;
  options.mode = cc.nats->mode == "passthrough" ? ClientMode::kPassthrough : ClientMode::kAction;
  options.subject = cc.nats->subject;
  options.timeout = std::chrono::milliseconds(cc.nats->timeout_ms);
  if (!cc.nats->inbox_prefix.empty()) options.inbox_prefix = cc.nats->inbox_prefix;
  options.health_check = cc.nats->health_check;
  return options;
}

absl::StatusOr<std::unique_ptr<NatsCluster>> NatsCluster::Create(NatsClusterOptions options,
                                                                 nats::Connection& connection,
                                                                 stats::Metrics& metrics) {
  if (options.name.empty()) return absl::InvalidArgumentError("nats cluster: name is required");
  if (options.timeout.count() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("cluster ", options.name, ": timeout must be > 0"));
  }
  if (!options.subject.empty() && !IsPlainSubject(options.subject)) {
    return absl::InvalidArgumentError(absl::StrCat("cluster ", options.name, ": subject '",
                                                   options.subject,
                                                   "' is not a plain NATS subject"));
  }
  auto mux = nats::RequestMux::Create(connection, {options.inbox_prefix});
  if (!mux.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster ", options.name, ": ", mux.status().message()));
  }
  std::unique_ptr<NatsCluster> cluster(new NatsCluster(std::move(options), connection, metrics, *std::move(mux)));
  if (cluster->options_.health_check.has_value()) {
    const config::HealthCheckConfig& hc = *cluster->options_.health_check;
    cluster->health_.emplace(hc.healthy_threshold, hc.unhealthy_threshold);
    cluster->healthy_gauge_.Set(0);
    cluster->health_timer_ = cluster->dispatcher_.CreateTimer([c = cluster.get()] { c->RunHealthCheck(); });
    cluster->health_timer_->Enable(std::chrono::milliseconds(0));
  } else {
    cluster->healthy_gauge_.Set(1);
  }
  return cluster;
}

NatsCluster::NatsCluster(NatsClusterOptions options, nats::Connection& connection,
                         stats::Metrics& metrics, nats::RequestMuxPtr mux)
    : options_(std::move(options)),
      client_options_{options_.mode, options_.subject},
      connection_(connection),
      dispatcher_(connection.dispatcher()),
      metrics_(metrics),
      mux_(std::move(mux)),
      healthy_gauge_(metrics.upstream_healthy.Add({{"cluster", options_.name}})),
      rq_in_flight_(metrics.upstream_rq_pending.Add({{"cluster", options_.name}})),
      rq_duration_(metrics.upstream_rq_duration_seconds.Add({{"cluster", options_.name}},
                                                            stats::Metrics::LatencyBuckets())),
      rq_timeout_(metrics.upstream_rq_total.Add({{"cluster", options_.name}, {"outcome", "timeout"}})),
      rq_no_responders_(
          metrics.upstream_rq_total.Add({{"cluster", options_.name}, {"outcome", "no_responders"}})),
      rq_unavailable_(
          metrics.upstream_rq_total.Add({{"cluster", options_.name}, {"outcome", "unavailable"}})),
      rq_protocol_error_(
          metrics.upstream_rq_total.Add({{"cluster", options_.name}, {"outcome", "protocol_error"}})),
      rq_invalid_(metrics.upstream_rq_total.Add(
          {{"cluster", options_.name}, {"outcome", "invalid_request"}})),
      rq_cancelled_(
          metrics.upstream_rq_total.Add({{"cluster", options_.name}, {"outcome", "cancelled"}})) {
  for (int cls = 1; cls <= 5; ++cls) {
    rq_by_class_[cls] = &metrics.upstream_rq_total.Add(
        {{"cluster", options_.name}, {"outcome", absl::StrCat(cls, "xx")}});
  }
  state_observer_ = connection_.AddStateObserver([this](bool connected) {
    if (connected && on_recovered_) on_recovered_();
  });
}

NatsCluster::~NatsCluster() {
  connection_.RemoveStateObserver(state_observer_);
  *alive_ = false;
  // The mux drops its callbacks uncalled (they point at this cluster); so do we.
  mux_.reset();
  rq_in_flight_.Decrement(static_cast<double>(requests_.size()));
  requests_.clear();
}

bool NatsCluster::Healthy() const {
  return connection_.connected() && (!health_.has_value() || health_->healthy());
}

std::string NatsCluster::HealthDetail() const {
  if (!connection_.connected()) return "nats not connected";
  if (!health_.has_value()) return "nats connected";
  return absl::StrCat(health_->healthy() ? "healthy" : "unhealthy", ": ", options_.health_check->subject, " ",
                      health_detail_);
}

void NatsCluster::RunHealthCheck() {
  const config::HealthCheckConfig& hc = *options_.health_check;
  // The mux drops this callback if the cluster goes first, so `this` is safe in it.
  mux_->Request(hc.subject, {}, "", std::chrono::milliseconds(hc.timeout_ms),
                [this](absl::StatusOr<nats::Message> result) { OnHealthCheck(std::move(result)); });
}

void NatsCluster::OnHealthCheck(absl::StatusOr<nats::Message> result) {
  health_timer_->Enable(std::chrono::milliseconds(options_.health_check->interval_ms));
  const bool passed = result.ok();
  if (passed) {
    health_detail_ = "answered";
  } else {
    switch (nats::GetRequestFailure(result.status())) {
      case nats::RequestFailure::kNoResponders: health_detail_ = "no responders"; break;
      case nats::RequestFailure::kTimeout: health_detail_ = "timeout"; break;
      case nats::RequestFailure::kNotConnected: health_detail_ = "nats not connected"; break;
      default: health_detail_ = std::string(result.status().message()); break;
    }
  }
  if (!health_->Record(passed)) return;
  healthy_gauge_.Set(health_->healthy() ? 1 : 0);
  log::Info(health_->healthy() ? "upstream healthy" : "upstream unhealthy",
            {{"cluster", options_.name}, {"subject", options_.health_check->subject}, {"detail", health_detail_}});
  if (on_change_) on_change_(health_->healthy());
}

upstream::Cancellable* NatsCluster::Send(const http::Request& request,
                                         upstream::ResponseCallback done) {
  assert(dispatcher_.IsThreadSafe());
  const uint64_t id = ++next_id_;
  auto owned = std::make_unique<Request>(*this, id, std::move(done));
  Request& handle = *owned;
  const http::Clock::time_point now = http::Clock::now();
  handle.start = now;
  requests_.emplace(id, std::move(owned));
  rq_in_flight_.Increment();

  http::Clock::time_point deadline = now + options_.timeout;
  if (request.deadline < deadline) deadline = request.deadline;
  if (deadline <= now) {
    CompleteLater(id, UpstreamFailure(FailureKind::kTimeout, "request deadline already passed"));
    return &handle;
  }
  handle.timeout = std::chrono::ceil<milliseconds>(deadline - now);

  absl::StatusOr<NatsRequest> encoded = EncodeRequest(request, client_options_, handle.timeout);
  if (!encoded.ok()) {
    handle.observe_duration = false;
    CompleteLater(id, encoded.status());
    return &handle;
  }
  handle.subject = encoded->subject;
  if (request.stream_ok) {
    // Our caller can take the body in pieces: let a streaming responder send it so.
    encoded->headers.emplace_back(std::string(stream_headers::kStream), "1");
  }
  // The mux never calls back inline and never after it is destroyed (with this cluster).
  handle.mux_id = mux_->Request(encoded->subject, encoded->headers, encoded->data, handle.timeout,
                                [this, id](absl::StatusOr<nats::Message> result) {
                                  OnMuxResult(id, std::move(result));
                                });
  return &handle;
}

void NatsCluster::CompleteLater(uint64_t id, absl::Status failure) {
  dispatcher_.Post([this, alive = alive_, id, failure = std::move(failure)]() mutable {
    if (*alive) Complete(id, std::move(failure));
  });
}

void NatsCluster::OnMuxResult(uint64_t id, absl::StatusOr<nats::Message> result) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;  // cannot happen: Cancel() cancels the mux request too
  const Request& request = *it->second;
  if (result.ok() && IsStreamMessage(result->headers) &&
      FindHeader(result->headers, stream_headers::kEnd).value_or("") != "true") {
    OnStreamHead(id, *std::move(result));
    return;
  }
  if (result.ok()) {
    absl::StatusOr<http::Response> response =
        DecodeReply(NatsReply{std::move(result->headers), std::move(result->data)});
    if (!response.ok()) {
      response = UpstreamFailure(FailureKind::kProtocolError,
                                 absl::StrCat("reply from ", request.subject, ": ",
                                              response.status().message()));
    }
    Complete(id, std::move(response));
    return;
  }
  const absl::Status& status = result.status();
  absl::Status failure;
  switch (nats::GetRequestFailure(status)) {
    case nats::RequestFailure::kTimeout:
      failure = UpstreamFailure(FailureKind::kTimeout,
                                absl::StrCat("no reply from ", request.subject, " within ",
                                             request.timeout.count(), " ms"));
      break;
    case nats::RequestFailure::kNoResponders:
      failure = UpstreamFailure(FailureKind::kNoResponders,
                                absl::StrCat("no responders on ", request.subject));
      break;
    case nats::RequestFailure::kPublishFailed:
      // nats.c rejected the message itself (e.g. over max_payload): not a transport failure.
      if (status.code() == absl::StatusCode::kInvalidArgument) {
        failure = status;
        break;
      }
      [[fallthrough]];
    case nats::RequestFailure::kNotConnected:
    case nats::RequestFailure::kNone:
      failure = UpstreamFailure(FailureKind::kConnectFailure, std::string(status.message()));
      break;
  }
  Complete(id, std::move(failure));
}

void NatsCluster::OnStreamHead(uint64_t id, nats::Message first) {
  const Request& request = *requests_.find(id)->second;
  absl::StatusOr<http::Response> head = DecodeReply(NatsReply{first.headers, ""});
  if (!head.ok()) {
    Complete(id, UpstreamFailure(FailureKind::kProtocolError,
                                 absl::StrCat("stream head from ", request.subject, ": ",
                                              head.status().message())));
    return;
  }
  const nats::RequestMux::RequestId mux_id = request.mux_id;
  NatsReplyStream::Options options;
  options.idle_timeout = options_.timeout;  // the same bound as for a whole reply, per message
  options.start = request.start;
  auto stream = NatsReplyStream::Create(
      connection_, alive_, first, options,
      [this, alive = alive_, mux_id](absl::Status outcome, const StreamStats& stats) {
        if (!*alive) return;
        RecordStream(metrics_, "requester", options_.name, outcome, stats);
        // This may run inside the mux's follower call: unfollow from a later loop turn.
        dispatcher_.Post([this, alive, mux_id] {
          if (*alive) mux_->Unfollow(mux_id);
        });
      });
  mux_->Follow(mux_id, [weak = std::weak_ptr<NatsReplyStream>(stream)](nats::Message message) {
    std::shared_ptr<NatsReplyStream> s = weak.lock();
    return s != nullptr && s->OnMessage(std::move(message));
  });
  head->stream = std::move(stream);
  Complete(id, std::move(head));
}

prometheus::Counter& NatsCluster::OutcomeCounter(const absl::StatusOr<http::Response>& result) {
  if (result.ok()) {
    const int cls = result->status / 100;
    if (cls >= 1 && cls <= 5) return *rq_by_class_[cls];
    return *rq_by_class_[5];  // DecodeReply only yields 100..599
  }
  switch (upstream::GetFailureKind(result.status())) {
    case FailureKind::kTimeout: return rq_timeout_;
    case FailureKind::kNoResponders: return rq_no_responders_;
    case FailureKind::kProtocolError: return rq_protocol_error_;
    case FailureKind::kNone: return rq_invalid_;
    default: return rq_unavailable_;
  }
}

void NatsCluster::Complete(uint64_t id, absl::StatusOr<http::Response> result) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;  // cancelled while its completion was posted
  std::unique_ptr<Request> request = std::move(it->second);
  requests_.erase(it);
  rq_in_flight_.Decrement();
  OutcomeCounter(result).Increment();
  if (request->observe_duration) {
    rq_duration_.Observe(
        std::chrono::duration<double>(http::Clock::now() - request->start).count());
  }
  upstream::ResponseCallback done = std::move(request->done);
  request.reset();
  std::move(done)(std::move(result));  // last: may destroy `this`
}

void NatsCluster::CancelRequest(uint64_t id) {
  assert(dispatcher_.IsThreadSafe());
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  if (it->second->mux_id != 0) mux_->Cancel(it->second->mux_id);
  requests_.erase(it);  // the Request (and `this` of Cancel()) is gone: return without touching it
  rq_in_flight_.Decrement();
  rq_cancelled_.Increment();
}

}  // namespace sidecar::adapters::nats_http
