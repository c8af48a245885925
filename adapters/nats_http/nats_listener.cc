#include "adapters/nats_http/nats_listener.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#include <random>

#include <charconv>

#include "adapters/common/errors.h"
#include "sidecar/common/logging.h"

namespace sidecar::adapters::nats_http {
namespace {

// SERVICES.md §0.3: X-Deadline-Ms defaults to 5000.
constexpr int64_t kDefaultDeadlineMs = 5000;
constexpr size_t kMaxActionLabels = 256;
constexpr char kOtherAction[] = "_other";

// Outcome label: "ok", or the §0.4 code in lower case (bounded: ten values).
std::string OutcomeOf(const NatsReply& reply) {
  for (const auto& [k, v] : reply.headers) {
    if (k == http::headers::kServiceError) {
      std::string out = v;
      for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return out;
    }
  }
  return "ok";
}

int64_t DeadlineMs(const std::vector<std::pair<std::string, std::string>>& headers) {
  for (const auto& [k, v] : headers) {
    if (!http::HeaderMap::NameEquals(k, http::headers::kDeadlineMs)) continue;
    int64_t ms = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), ms);
    if (ec == std::errc() && ptr == v.data() + v.size() && ms > 0) return ms;
  }
  return kDefaultDeadlineMs;
}

}  // namespace

struct NatsListener::ActiveRequest {
  std::string reply;  // "" = fire-and-forget
  std::string service;
  std::string action;
  std::string trace_id;
  http::Clock::time_point start;
  std::optional<transcoding::Encoding> encoding;  // set when the payload was transcoded
  bool wants_stream = false;  // the requester sent Nats-Stream: 1
  std::unique_ptr<http::FilterManager> chain;
};

struct NatsListener::ActiveStream {
  std::unique_ptr<ActiveRequest> request;
  std::unique_ptr<StreamResponder> responder;
};

NatsListener::NatsListener(std::string name, const config::NatsListenerConfig& cfg,
                           nats::Connection& connection, stats::Metrics& metrics,
                           std::shared_ptr<const ActionRouteTable> actions,
                           std::vector<http::FilterFactory> filters)
    : name_(std::move(name)),
      cfg_(cfg),
      connection_(connection),
      dispatcher_(connection.dispatcher()),
      metrics_(metrics),
      actions_(std::move(actions)),
      filters_(std::move(filters)),
      active_gauge_(&metrics.requests_active.Add({{"listener", name_}})),
      fire_and_forget_(&metrics.fire_and_forget_total.Add({{"listener", name_}, {"service", cfg.service}})) {}

absl::StatusOr<std::unique_ptr<NatsListener>> NatsListener::Create(
    std::string name, const config::NatsListenerConfig& cfg, nats::Connection& connection,
    stats::Metrics& metrics, std::shared_ptr<const ActionRouteTable> actions,
    std::vector<http::FilterFactory> filters) {
  if (filters.empty()) return absl::InvalidArgumentError("listener " + name + ": no terminal filter");
  std::unique_ptr<NatsListener> listener(new NatsListener(std::move(name), cfg, connection, metrics,
                                                          std::move(actions), std::move(filters)));
  // A service without a schema is served as before: JSON action payloads and passthrough.
  if (auto transcoder = transcoding::Transcoder::Create(cfg.service); transcoder.ok()) {
    listener->transcoder_ = *std::move(transcoder);
  }
  return listener;
}

NatsListener::~NatsListener() {
  if (rejoin_confirm_thread_.joinable()) rejoin_confirm_thread_.join();
  subscription_.reset();  // no new messages; posted ones find the handler gone
  left_.clear();
  streams_.clear();  // cancels their upstream bodies
  control_subscription_.reset();
  active_.clear();        // cancels in-flight upstream requests through the filters' OnDestroy
}

absl::Status NatsListener::Start() {
  started_ = true;
  if (!serving_) {
    log::Warn("nats listener not joining its queue group: upstream unhealthy",
              {{"listener", name_}, {"queue", cfg_.queue}, {"why", not_serving_why_}});
    return absl::OkStatus();
  }
  return Subscribe();
}

void NatsListener::SetServing(bool serving, const std::string& why) {
  if (serving == serving_) return;
  serving_ = serving;
  not_serving_why_ = serving ? "" : why;
  if (!started_ || draining_) return;
  if (!serving) {
    if (subscription_ == nullptr) return;
    nats::Subscription* leaving = subscription_.get();
    left_.push_back(std::move(subscription_));
    // Readiness is already false. "left" is logged only once drained: nats.c has then flushed the
    // UNSUB (the server routes nothing more here) and the messages it delivered before were handled,
    // so whoever reads the line knows the group's work now goes to the others. Dropped on a later
    // loop iteration (not from inside its own callback); the weak token makes that a no-op if the
    // listener is gone by then.
    log::Warn("nats listener leaving its queue group: upstream unhealthy",
              {{"listener", name_}, {"queue", cfg_.queue}, {"why", why}});
    absl::Status st = leaving->Drain([this, leaving, alive = std::weak_ptr<int>(alive_)] {
      dispatcher_.Post([this, leaving, alive] {
        if (alive.expired()) return;
        left_.erase(std::remove_if(left_.begin(), left_.end(), [leaving](const auto& s) { return s.get() == leaving; }),
                    left_.end());
        // Only once no subscription is left: not after a rejoin meanwhile, nor while a later leave
        // (the health flapped) is still draining.
        if (subscription_ == nullptr && left_.empty()) {
          log::Info("nats listener left its queue group", {{"listener", name_}, {"queue", cfg_.queue}});
        }
      });
    });
    if (!st.ok()) log::Warn("leaving the queue group failed", {{"listener", name_}, {"error", st.ToString()}});
    return;
  }
  absl::Status st = Subscribe();
  if (!st.ok()) {
    log::Error("rejoining the queue group failed", {{"listener", name_}, {"error", st.ToString()}});
    return;
  }
  if (rejoin_confirm_thread_.joinable()) rejoin_confirm_thread_.join();
  rejoin_confirmed_ = false;
  rejoin_confirm_thread_ = std::thread([this, conn = connection_.raw(), alive = std::weak_ptr<int>(alive_)] {
    natsConnection_FlushTimeout(conn, 2000);
    dispatcher_.Post([this, alive] {
      if (alive.expired()) return;
      rejoin_confirmed_ = true;
      if (ready_changed_) ready_changed_();
    });
  });
  log::Info("nats listener rejoined its queue group", {{"listener", name_}, {"queue", cfg_.queue}});
}

absl::Status NatsListener::Subscribe() {
  auto sub = connection_.QueueSubscribe(cfg_.subject, cfg_.queue,
                                        [this](nats::Message m) { OnMessage(std::move(m)); });
  if (!sub.ok()) return sub.status();
  subscription_ = *std::move(sub);
  log::Info("nats listener subscribed",
            {{"listener", name_}, {"subject", cfg_.subject}, {"queue", cfg_.queue}});
  return absl::OkStatus();
}

bool NatsListener::Ready(std::string* why) const {
  if (draining_) {
    *why = "draining";
    return false;
  }
  if (!serving_) {
    *why = "left queue group: " + not_serving_why_;
    return false;
  }
  if (!rejoin_confirmed_) {
    *why = "rejoining queue group";
    return false;
  }
  if (subscription_ == nullptr) {
    *why = "not subscribed";
    return false;
  }
  return true;
}

void NatsListener::OnMessage(nats::Message message) {
  const auto received = http::Clock::now();
  const bool fire_and_forget = message.reply.empty();
  if (fire_and_forget) fire_and_forget_->Increment();

  std::string service = cfg_.service, action;
  if (auto subject = ParseSubject(message.subject); subject.ok()) action = subject->action;

  if (static_cast<int64_t>(message.data.size()) > cfg_.max_payload_bytes) {
    Reject(message, service, action,
           InvalidArgument("body", "too_long",
                           "payload of " + std::to_string(message.data.size()) + " bytes exceeds " +
                               std::to_string(cfg_.max_payload_bytes)),
           "payload_too_large");
    return;
  }
  if (static_cast<int64_t>(active_.size()) >= cfg_.max_in_flight) {
    Reject(message, service, action,
           ErrorStatus(absl::StatusCode::kUnavailable, "too many requests in flight", {{"reason", "overloaded"}}),
           "overloaded");
    return;
  }

  std::optional<transcoding::Encoding> encoding;
  if (absl::Status st = TranscodeRequest(message, action, &encoding); !st.ok()) {
    Reject(message, service, action, st, "malformed", encoding.value_or(transcoding::Encoding::kProtobuf));
    return;
  }

  NatsMessageView view{message.subject, message.reply, message.headers, message.data};
  absl::StatusOr<http::Request> request = MessageToRequest(view, actions_.get());
  if (!request.ok()) {
    Reject(message, service, action, request.status(), "malformed", encoding);
    return;
  }
  request->deadline = received + std::chrono::milliseconds(DeadlineMs(message.headers));
  // A protobuf reply is one message by nature; a fire-and-forget has nobody to stream to.
  const bool wants_stream = WantsStream(message.headers) && !fire_and_forget &&
                            encoding.value_or(transcoding::Encoding::kJson) == transcoding::Encoding::kJson;
  request->stream_ok = wants_stream;

  const uint64_t id = next_id_++;
  auto active = std::make_unique<ActiveRequest>();
  active->reply = std::move(message.reply);
  active->service = request->service;
  active->action = request->action;
  active->trace_id = request->TraceId();
  active->start = received;
  active->encoding = encoding;
  active->wants_stream = wants_stream;
  http::FilterChain filters;
  filters.reserve(filters_.size());
  for (const auto& factory : filters_) filters.push_back(factory());
  http::StreamInfo info;
  info.listener = name_;
  active->chain = std::make_unique<http::FilterManager>(
      dispatcher_, std::move(info), *std::move(request),
      std::move(filters), [this, id](absl::StatusOr<http::Response> result) { Complete(id, std::move(result)); });
  http::FilterManager* chain = active->chain.get();
  active_.emplace(id, std::move(active));
  active_gauge_->Increment();
  chain->Start();
}

absl::Status NatsListener::TranscodeRequest(nats::Message& message, const std::string& action,
                                            std::optional<transcoding::Encoding>* encoding) {
  // Passthrough messages are arbitrary HTTP requests, and `_` actions (fixtures) take JSON only.
  if (transcoder_ == nullptr || action.empty() || action[0] == '_') return absl::OkStatus();
  for (const auto& [name, value] : message.headers) {
    if (http::HeaderMap::NameEquals(name, http::headers::kHttpMethod)) return absl::OkStatus();
  }
  absl::StatusOr<transcoding::Encoding> enc = transcoding::RequestEncoding(message.headers);
  if (!enc.ok()) return enc.status();
  *encoding = *enc;
  absl::StatusOr<std::string> json = transcoder_->RequestToLegacyJson(action, *enc, message.data);
  if (!json.ok()) return json.status();
  message.data = *std::move(json);
  // The payload is JSON from here on, whatever the caller sent.
  for (auto& [name, value] : message.headers) {
    if (absl::EqualsIgnoreCase(name, "Content-Type")) value = "application/json";
  }
  return absl::OkStatus();
}

void NatsListener::Reject(const nats::Message& message, const std::string& service, const std::string& action,
                          const absl::Status& status, const char* reason,
                          std::optional<transcoding::Encoding> encoding) {
  metrics_.requests_rejected_total.Add({{"listener", name_}, {"reason", reason}}).Increment();
  NatsReply reply = EncodeError(status);
  if (encoding.has_value() && transcoder_ != nullptr) transcoder_->EncodeReplyAs(action, *encoding, reply);
  Record(service, action, OutcomeOf(reply), http::Clock::now());
  if (!message.reply.empty()) Reply(message.reply, reply, "");
}

void NatsListener::Complete(uint64_t id, absl::StatusOr<http::Response> result) {
  auto it = active_.find(id);
  if (it == active_.end()) return;
  std::unique_ptr<ActiveRequest> active = std::move(it->second);
  active_.erase(it);
  if (result.ok() && result->stream != nullptr && active->wants_stream && !active->reply.empty()) {
    StartStream(id, std::move(active), *std::move(result));
    return;
  }
  active_gauge_->Decrement();
  if (result.ok() && result->stream != nullptr) {
    // Only a requester that opted in is ever given a stream; never send half a body.
    result = absl::InternalError("streamed body for a requester that did not ask for one");
  }

  NatsReply reply = result.ok() ? EncodeReply(*result) : EncodeError(result.status());
  if (active->encoding.has_value()) transcoder_->EncodeReplyAs(active->action, *active->encoding, reply);
  if (!result.ok()) {
    log::Debug("upstream failed", {{"listener", name_}, {"action", active->action},
                                   {"error", std::string(result.status().message())},
                                   {"trace_id", active->trace_id}});
  }
  if (!active->reply.empty()) Reply(active->reply, reply, active->trace_id);
  Record(active->service, active->action, OutcomeOf(reply), active->start);
  // We are inside the chain's own callback stack: destroy it on a later loop turn (deferred delete).
  dispatcher_.Post([doomed = std::move(active)]() mutable { doomed.reset(); });
  MaybeFinishDrain();
}

void NatsListener::Reply(const std::string& reply_subject, const NatsReply& reply, const std::string& trace_id) {
  absl::Status st = connection_.Publish(reply_subject, reply.headers, reply.data);
  if (!st.ok()) {
    metrics_.requests_rejected_total.Add({{"listener", name_}, {"reason", "reply_failed"}}).Increment();
    log::Warn("reply not published", {{"listener", name_}, {"error", st.ToString()}, {"trace_id", trace_id}});
  }
}

void NatsListener::StartStream(uint64_t id, std::unique_ptr<ActiveRequest> active,
                               http::Response response) {
  // The chain is done; destroy it on a later loop turn (we are inside its callback stack).
  dispatcher_.Post([doomed = std::move(active->chain)]() mutable { doomed.reset(); });
  if (control_subscription_ == nullptr) {
    // Under the service's inbox prefix, which its NATS identity may subscribe to.
    std::random_device random;
    control_prefix_ = absl::StrCat("_INBOX.", cfg_.service, ".stream.", absl::Hex(random()),
                                   absl::Hex(random()));
    auto sub = connection_.Subscribe(control_prefix_ + ".*.*",
                                     [this](nats::Message m) { OnStreamControl(std::move(m)); });
    if (sub.ok()) control_subscription_ = *std::move(sub);
    if (!sub.ok()) {
      log::Warn("stream control subscription failed", {{"listener", name_}, {"error", sub.status().ToString()}});
    }
  }
  http::BodyStreamPtr body = std::move(response.stream);
  NatsReply head = EncodeReply(response);
  StreamResponder::Options options;
  options.window = static_cast<int>(cfg_.stream_window);
  options.start = active->start;
  options.unacked_gauge = &metrics_.stream_unacked_chunks.Add({{"name", name_}});
  auto stream = std::make_unique<ActiveStream>();
  const std::string reply = active->reply;
  stream->request = std::move(active);
  stream->responder = std::make_unique<StreamResponder>(
      connection_, reply, control_prefix_ + "." + std::to_string(id), options, std::move(head),
      std::move(body), [this, id](absl::Status outcome, const StreamStats& stats) {
        EndStream(id, outcome, stats);
      });
  StreamResponder* responder = stream->responder.get();
  streams_.emplace(id, std::move(stream));
  responder->Start();
}

void NatsListener::OnStreamControl(nats::Message message) {
  // <control_prefix_>.<id>.<ack|cancel>
  std::string_view rest = message.subject;
  if (rest.size() <= control_prefix_.size() + 1) return;
  rest.remove_prefix(control_prefix_.size() + 1);
  const size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return;
  uint64_t id = 0;
  auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + dot, id);
  if (ec != std::errc() || ptr != rest.data() + dot) return;
  auto it = streams_.find(id);
  if (it == streams_.end()) return;  // ended already
  const std::string_view kind = rest.substr(dot + 1);
  if (kind == "ack") {
    it->second->responder->OnAck(message.data);
  } else if (kind == "cancel") {
    it->second->responder->OnCancel();
  }
}

void NatsListener::EndStream(uint64_t id, const absl::Status& outcome, const StreamStats& stats) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  std::unique_ptr<ActiveStream> stream = std::move(it->second);
  streams_.erase(it);
  active_gauge_->Decrement();
  RecordStream(metrics_, "responder", name_, outcome, stats);
  const ActiveRequest& request = *stream->request;
  std::string outcome_label = "ok";
  if (outcome.code() == absl::StatusCode::kCancelled) {
    outcome_label = "cancelled";
  } else if (!outcome.ok()) {
    outcome_label = OutcomeOf(EncodeError(outcome));
  }
  Record(request.service, request.action, outcome_label, request.start);
  // We may be inside the responder's own call stack: destroy it on a later loop turn.
  dispatcher_.Post([doomed = std::move(stream)]() mutable { doomed.reset(); });
  MaybeFinishDrain();
}

NatsListener::ActionStats& NatsListener::StatsFor(const std::string& service, const std::string& action) {
  auto key = std::make_pair(service, action);
  auto it = action_stats_.find(key);
  if (it != action_stats_.end()) return it->second;
  if (action_stats_.size() >= kMaxActionLabels) key.second = kOtherAction;
  auto [slot, inserted] = action_stats_.try_emplace(key);
  if (inserted) {
    slot->second.action_label = key.second;
    slot->second.duration = &metrics_.request_duration_seconds.Add(
        {{"listener", name_}, {"service", key.first}, {"action", key.second}}, stats::Metrics::LatencyBuckets());
  }
  return slot->second;
}

void NatsListener::Record(const std::string& service, const std::string& action, const std::string& outcome,
                          http::Clock::time_point start) {
  const std::string& label = action.empty() ? std::string(kOtherAction) : action;
  ActionStats& stats = StatsFor(service, label);
  prometheus::Counter*& counter = stats.by_outcome[outcome];
  if (counter == nullptr) {
    counter = &metrics_.requests_total.Add(
        {{"listener", name_}, {"service", service}, {"action", stats.action_label}, {"outcome", outcome}});
  }
  counter->Increment();
  stats.duration->Observe(std::chrono::duration<double>(http::Clock::now() - start).count());
}

void NatsListener::Drain(absl::AnyInvocable<void()> done) {
  on_drained_ = std::move(done);
  draining_ = true;
  if (subscription_ == nullptr) {
    subscription_drained_ = true;
  } else {
    absl::Status st = subscription_->Drain([this] {
      subscription_drained_ = true;
      MaybeFinishDrain();
    });
    if (!st.ok()) {
      // Closed connection: nothing more can arrive.
      log::Warn("subscription drain failed; treating as drained", {{"listener", name_}, {"error", st.ToString()}});
      subscription_drained_ = true;
    }
  }
  log::Info("nats listener draining", {{"listener", name_}, {"active_requests", std::to_string(active_.size())}});
  MaybeFinishDrain();
}

void NatsListener::MaybeFinishDrain() {
  if (!draining_ || !subscription_drained_ || !active_.empty() || !streams_.empty() || !on_drained_) return;
  auto done = std::move(on_drained_);
  on_drained_ = nullptr;
  done();
}

}  // namespace sidecar::adapters::nats_http
