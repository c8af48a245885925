#include "adapters/native/native_cluster.h"

#include <cassert>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "adapters/common/errors.h"
#include "adapters/transcoding/json_codec.h"
#include "google/protobuf/util/json_util.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::adapters::native {
namespace {

http::Response JsonResponse(std::string body) {
  http::Response response;
  response.status = 200;
  response.headers.Set("Content-Type", "application/json");
  response.body = std::move(body);
  return response;
}

std::string_view PathOnly(std::string_view path) { return path.substr(0, path.find('?')); }

// The body of a streamed port answer: a few pieces per loop turn while the consumer takes them
// (its Pause() stops the pump), then the end with the summary. The pieces exist already, so this
// bounds what waits in the consumer, not what the port produced.
class PieceStream final : public http::QueuedBodyStream {
 public:
  static constexpr size_t kPiecesPerTurn = 8;

  PieceStream(event::Dispatcher& dispatcher, std::vector<std::string> pieces, std::string summary)
      : QueuedBodyStream(dispatcher), dispatcher_(dispatcher), pieces_(std::move(pieces)),
        summary_(std::move(summary)) {
    SchedulePump();
  }
  ~PieceStream() override { *alive_ = false; }

 private:
  void OnPause() override {}
  void OnResume() override { SchedulePump(); }

  void SchedulePump() {
    if (pump_posted_) return;
    pump_posted_ = true;
    dispatcher_.Post([this, alive = alive_] {
      if (!*alive) return;
      pump_posted_ = false;
      Pump();
    });
  }
  void Pump() {
    for (size_t n = 0; n < kPiecesPerTurn && next_ < pieces_.size() && !paused(); ++n) {
      Push(std::move(pieces_[next_++]));
    }
    if (next_ == pieces_.size()) {
      End(absl::OkStatus(), std::move(summary_));
    } else if (!paused()) {
      SchedulePump();
    }
  }

  event::Dispatcher& dispatcher_;
  std::vector<std::string> pieces_;
  std::string summary_;
  size_t next_ = 0;
  bool pump_posted_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// A streaming action's answer: streamed when the caller can take a stream, else `whole` as JSON
// with the summary as a header too (so both kinds of caller see the same accounting).
absl::StatusOr<http::Response> StreamedResponse(event::Dispatcher& dispatcher, bool stream_ok,
                                                services::StreamedReply reply) {
  ASSIGN_OR_RETURN(std::string summary, transcoding::MessageToJsonText(*reply.summary));
  if (!stream_ok) {
    ASSIGN_OR_RETURN(std::string whole, transcoding::MessageToJsonText(*reply.whole));
    http::Response response = JsonResponse(std::move(whole));
    response.headers.Set(std::string(http::headers::kStreamSummary), summary);
    return response;
  }
  http::Response response;
  response.status = 200;
  response.headers.Set("Content-Type", "text/plain; charset=utf-8");
  response.stream = std::make_shared<PieceStream>(dispatcher, std::move(reply.pieces), std::move(summary));
  return response;
}

}  // namespace

// One in-flight call: lets Cancel() drop the port's eventual answer.
class NativeCluster::Call final : public upstream::Cancellable {
 public:
  Call(NativeCluster& cluster, uint64_t id, upstream::ResponseCallback done)
      : cluster_(cluster), id_(id), done_(std::move(done)), start_(http::Clock::now()) {}
  void Cancel() override { cluster_.calls_.erase(id_); }  // destroys this; `done` never runs
  void Finish(absl::StatusOr<http::Response> result) { std::move(done_)(std::move(result)); }
  http::Clock::time_point start() const { return start_; }

 private:
  NativeCluster& cluster_;
  uint64_t id_;
  upstream::ResponseCallback done_;
  http::Clock::time_point start_;
};

NativeCluster::NativeCluster(std::string name, event::Dispatcher& dispatcher, stats::Metrics& metrics)
    : name_(std::move(name)),
      dispatcher_(dispatcher),
      rq_total_(metrics.upstream_rq_total),
      rq_duration_(&metrics.upstream_rq_duration_seconds.Add({{"cluster", name_}},
                                                             stats::Metrics::LatencyBuckets())) {}

NativeCluster::~NativeCluster() { *alive_ = false; }

absl::StatusOr<std::unique_ptr<NativeCluster>> NativeCluster::Create(NativeClusterOptions options,
                                                                     event::Dispatcher& dispatcher,
                                                                     stats::Metrics& metrics,
                                                                     ServiceFactory factory) {
  if (options.deps.store == nullptr || options.deps.events == nullptr) {
    return absl::InvalidArgumentError("native cluster needs a state store and an event publisher");
  }
  if (options.services.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("native cluster '", options.name, "' hosts no service"));
  }
  std::unique_ptr<NativeCluster> cluster(new NativeCluster(options.name, dispatcher, metrics));
  cluster->timers_ = std::make_unique<services::DispatcherTimers>(dispatcher);
  for (const std::string& name : options.services) {
    auto hosted = std::make_unique<Hosted>();
    hosted->dependencies = std::make_unique<NatsDependencyClient>(name, options.dependencies_cluster, dispatcher);
    services::ServiceDeps deps = options.deps;
    deps.dependencies = hosted->dependencies.get();
    deps.timers = cluster->timers_.get();
    auto service = factory(name, deps);
    if (!service.ok()) return service.status();
    hosted->service = *std::move(service);
    hosted->service->Register(hosted->registry);
    if (!hosted->registry.status().ok()) return hosted->registry.status();
    auto transcoder = transcoding::Transcoder::Create(name);
    if (!transcoder.ok()) return transcoder.status();
    hosted->transcoder = *std::move(transcoder);
    cluster->hosted_.emplace(name, std::move(hosted));
    cluster->service_names_.push_back(name);
  }
  return cluster;
}

std::string NativeCluster::HealthDetail() const {
  return absl::StrCat("hosting ", absl::StrJoin(service_names_, ", "));
}

upstream::Cancellable* NativeCluster::Send(const http::Request& request, upstream::ResponseCallback done) {
  const uint64_t id = next_id_++;
  auto call = std::make_unique<Call>(*this, id, std::move(done));
  Call* handle = call.get();
  calls_.emplace(id, std::move(call));

  // Every outcome completes from a posted task: a cluster never answers inside Send().
  auto fail = [this, id](absl::Status status) {
    dispatcher_.Post([this, id, status, alive = std::weak_ptr<bool>(alive_)]() mutable {
      if (alive.expired()) return;
      Complete(id, ErrorResponseFromStatus(status));
    });
  };

  auto it = hosted_.find(request.service);
  if (it == hosted_.end()) {
    fail(absl::NotFoundError(absl::StrCat("service '", request.service, "' is not hosted by native cluster '",
                                          name_, "'")));
    return handle;
  }
  Hosted& hosted = *it->second;

  // HTTP form -> action + binary request; `_fixture` has no schema route.
  const std::string fixture_path = absl::StrCat("/api/", request.service, "/_fixture");
  std::string action;
  std::string json_payload;
  std::string proto_payload;
  bool is_fixture = PathOnly(request.path) == fixture_path;
  if (is_fixture) {
    action = "_fixture";
    json_payload = request.body.empty() ? "{}" : request.body;
  } else {
    auto decoded = hosted.transcoder->DecodeHttpRequest(request.method, request.path, request.body);
    if (!decoded.ok()) {
      fail(decoded.status());
      return handle;
    }
    action = decoded->action;
    proto_payload = std::move(decoded->proto);
  }

  services::Method* method = hosted.registry.Find(action);
  if (method == nullptr) {
    fail(absl::NotFoundError(absl::StrCat("action '", action, "' is not implemented by the native port")));
    return handle;
  }
  auto ctx = std::make_shared<services::CallContext>(
      services::CallContext::FromHeaders(request.headers, absl::Now(), request.deadline));
  if (absl::Status st = method->Preflight(*ctx); !st.ok()) {
    fail(st);
    return handle;
  }
  services::MessagePtr message = method->NewRequest();
  if (is_fixture) {
    // The fixture document is a google.protobuf.Struct, which the spec-convention codec does not
    // parse at the top level; protobuf's own JSON parser maps a JSON object onto it exactly.
    if (!google::protobuf::util::JsonStringToMessage(json_payload, message.get()).ok()) {
      fail(adapters::InvalidArgument("body", "malformed", "the fixture document must be a JSON object"));
      return handle;
    }
  } else if (!message->ParseFromString(proto_payload)) {
    fail(absl::InternalError("transcoded request does not parse as " + method->request_descriptor().full_name()));
    return handle;
  }

  if (method->server_streaming()) {
    method->InvokeStream(
        *ctx, std::move(message),
        [this, id, ctx, stream_ok = request.stream_ok,
         alive = std::weak_ptr<bool>(alive_)](absl::StatusOr<services::StreamedReply> result) mutable {
          dispatcher_.Post([this, id, stream_ok, result = std::move(result), alive]() mutable {
            if (alive.expired()) return;
            if (!result.ok()) {
              Complete(id, ErrorResponseFromStatus(result.status()));
              return;
            }
            absl::StatusOr<http::Response> response = StreamedResponse(dispatcher_, stream_ok, *std::move(result));
            Complete(id, response.ok() ? *std::move(response) : ErrorResponseFromStatus(response.status()));
          });
        });
    return handle;
  }
  method->Invoke(*ctx, std::move(message),
                 [this, id, ctx, alive = std::weak_ptr<bool>(alive_)](absl::StatusOr<services::MessagePtr> result) {
                   // Invoke may answer inline; the cluster contract says never inside Send().
                   dispatcher_.Post([this, id, result = std::move(result), alive]() mutable {
                     if (alive.expired()) return;
                     if (!result.ok()) {
                       Complete(id, ErrorResponseFromStatus(result.status()));
                       return;
                     }
                     auto json = transcoding::MessageToJsonText(**result);
                     if (!json.ok()) {
                       Complete(id, ErrorResponseFromStatus(json.status()));
                       return;
                     }
                     Complete(id, JsonResponse(*std::move(json)));
                   });
                 });
  return handle;
}

void NativeCluster::Complete(uint64_t id, absl::StatusOr<http::Response> result) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;  // cancelled
  std::unique_ptr<Call> call = std::move(it->second);
  calls_.erase(it);
  const int status = result.ok() ? result->status : 500;
  const int cls = status / 100;
  auto resolve = [&] { return &rq_total_.Add({{"cluster", name_}, {"outcome", absl::StrCat(cls, "xx")}}); };
  if (cls >= 0 && cls < static_cast<int>(rq_by_class_.size())) {
    prometheus::Counter*& counter = rq_by_class_[cls];
    if (counter == nullptr) counter = resolve();
    counter->Increment();
  } else {
    resolve()->Increment();
  }
  rq_duration_->Observe(std::chrono::duration<double>(http::Clock::now() - call->start()).count());
  call->Finish(std::move(result));
}

}  // namespace sidecar::adapters::native
