#include "adapters/events/publish.h"

#include <random>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "adapters/common/errors.h"
#include "adapters/events/dlq_record.h"
#include "nlohmann/json.hpp"
#include "sidecar/common/status_macros.h"

namespace sidecar::adapters::events {
namespace {

// Well above any listener's max_in_flight, so js_PublishMsgAsync never stalls the loop.
constexpr int64_t kMaxPendingPublishes = 65536;
// A PubAck that never arrives (nats.c lost the callback) still gets an answer this long after the
// publish's own MaxWait.
constexpr auto kBackstopSlack = std::chrono::milliseconds(2000);

// Request headers that describe the HTTP hop, not the event.
bool IsHopHeader(absl::string_view name) {
  static constexpr absl::string_view kHop[] = {"Host", "Content-Length", "Connection", "Keep-Alive",
                                              "Transfer-Encoding", "Expect", "Upgrade", "TE",
                                              "X-Deadline-Ms", "Idempotency-Key"};
  for (absl::string_view h : kHop) {
    if (absl::EqualsIgnoreCase(name, h)) return true;
  }
  return absl::StartsWithIgnoreCase(name, "Nats-") || absl::StartsWithIgnoreCase(name, "X-Forwarded-");
}

bool IsPublishSubject(absl::string_view s) {
  if (s.empty()) return false;
  for (absl::string_view token : absl::StrSplit(s, '.')) {
    if (token.empty() || token == "*" || token == ">") return false;
    for (char c : token) {
      if (c <= ' ' || c == 0x7f || c == '*' || c == '>' || c == '%' || c == '/' || c == '?') return false;
    }
  }
  return true;
}

}  // namespace

std::string NewMsgId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrCat(absl::Hex(rng(), absl::kZeroPad16), absl::Hex(rng(), absl::kZeroPad16));
}

// ------------------------------------------------------------------------------------------------

struct JetStreamPublisher::Shared {
  event::Dispatcher* dispatcher = nullptr;
  std::mutex mu;
  // In-flight publishes by the natsMsg nats.c hands back to the ack handler.
  std::unordered_map<natsMsg*, Done> pending;  // guarded by mu
  // The message inside js_PublishMsgAsync right now (one publisher thread: at most one). nats.c
  // starts the message's MaxWait before it takes the connection lock to send it, so when that lock
  // is held longer (a reconnect) the timeout reaches the ack handler while nats.c still encodes the
  // message: the handler must then leave it to PublishNow to destroy (a use-after-free otherwise).
  natsMsg* publishing = nullptr;  // guarded by mu
  bool publishing_acked = false;  // guarded by mu
};

JetStreamPublisher::JetStreamPublisher(event::Dispatcher& dispatcher, std::shared_ptr<Shared> shared)
    : dispatcher_(dispatcher), shared_(std::move(shared)) {}

absl::StatusOr<std::unique_ptr<JetStreamPublisher>> JetStreamPublisher::Create(natsConnection* conn,
                                                                               event::Dispatcher& dispatcher) {
  auto shared = std::make_shared<Shared>();
  shared->dispatcher = &dispatcher;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.MaxPending = kMaxPendingPublishes;
  jo.PublishAsync.AckHandler = &JetStreamPublisher::OnAck;
  jo.PublishAsync.AckHandlerClosure = shared.get();
  jsCtx* raw = nullptr;
  natsStatus s = natsConnection_JetStream(&raw, conn, &jo);
  if (s != NATS_OK) return JsError(s, static_cast<jsErrCode>(0), "natsConnection_JetStream");
  std::unique_ptr<JetStreamPublisher> p(new JetStreamPublisher(dispatcher, std::move(shared)));
  p->js_.reset(raw);
  p->thread_ = std::thread([raw_p = p.get()] { raw_p->Run(); });
  return p;
}

JetStreamPublisher::~JetStreamPublisher() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Destroying the context first ends nats.c's use of the closure (Shared outlives it here).
  js_.reset();
  std::lock_guard<std::mutex> lock(shared_->mu);
  shared_->pending.clear();
}

void JetStreamPublisher::Run() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    PublishNow(std::move(job));
  }
}

void JetStreamPublisher::OnAck(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) noexcept {
  auto* shared = static_cast<Shared*>(closure);
  // With an AckHandler, nats.c hands the published message back to us to destroy (every ack,
  // error and timeout): without this every published event leaked. Destroyed only after its
  // entry left `pending`, so a new publish that reuses the address cannot be mistaken for it, and
  // not while js_PublishMsgAsync may still be sending it (Shared::publishing).
  JsMsgPtr owned(msg);
  Done done;
  {
    std::lock_guard<std::mutex> lock(shared->mu);
    if (msg == shared->publishing) {
      shared->publishing_acked = true;
      (void)owned.release();  // PublishNow destroys it once nats.c is done with it
    }
    auto it = shared->pending.find(msg);
    if (it == shared->pending.end()) return;
    done = std::move(it->second);
    shared->pending.erase(it);
  }
  absl::StatusOr<PubResult> result;
  if (pae != nullptr) {
    std::string text = pae->ErrText != nullptr ? pae->ErrText : natsStatus_GetText(pae->Err);
    if (pae->Err == NATS_TIMEOUT) {
      result = absl::DeadlineExceededError(absl::StrCat("no JetStream ack within the timeout: ", text));
    } else if (pae->Err == NATS_NO_RESPONDERS) {
      result = absl::UnavailableError("no JetStream stream stores this subject (no responders)");
    } else {
      result = absl::UnavailableError(absl::StrCat("JetStream publish failed: ", text,
                                                   pae->ErrCode != 0 ? absl::StrCat(" [jetstream error ",
                                                                                    static_cast<int>(pae->ErrCode), "]")
                                                                     : ""));
    }
  } else if (pa != nullptr) {
    PubResult r;
    r.stream = pa->Stream != nullptr ? pa->Stream : "";
    r.seq = pa->Sequence;
    r.duplicate = pa->Duplicate;
    result = std::move(r);
  } else {
    result = absl::UnavailableError("JetStream publish: no ack");
  }
  shared->dispatcher->Post([done = std::move(done), result = std::move(result)]() mutable {
    std::move(done)(std::move(result));
  });
}

void JetStreamPublisher::Publish(const std::string& subject, const Headers& headers, const std::string& data,
                                 const std::string& msg_id, int64_t timeout_ms, Done done) {
  auto msg = NewMsg(subject, headers, data);
  if (!msg.ok()) {
    dispatcher_.Post([done = std::move(done), st = msg.status()]() mutable { std::move(done)(st); });
    return;
  }
  Job job{*std::move(msg), msg_id, std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms),
          std::move(done)};
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    queue_.push_back(std::move(job));
  }
  queue_cv_.notify_one();
}

void JetStreamPublisher::PublishNow(Job job) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(job.deadline -
                                                                          std::chrono::steady_clock::now());
  if (left.count() <= 0) {
    // Queued past its deadline (the thread waited on nats.c): the caller is being answered 504 by
    // now, so publishing it would only store an event nobody was told about.
    dispatcher_.Post([done = std::move(job.done)]() mutable {
      std::move(done)(absl::DeadlineExceededError("no JetStream ack within the timeout (not published)"));
    });
    return;
  }
  natsMsg* raw = job.msg.release();
  natsMsg* const sent = raw;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->pending.emplace(raw, std::move(job.done));
    shared_->publishing = sent;
    shared_->publishing_acked = false;
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MsgId = job.msg_id.c_str();
  po.MaxWait = left.count();
  natsStatus s = js_PublishMsgAsync(js_.get(), &raw, &po);
  bool acked_meanwhile = false;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    acked_meanwhile = shared_->publishing_acked;
    shared_->publishing = nullptr;
    shared_->publishing_acked = false;
  }
  if (acked_meanwhile) {
    // OnAck already answered and left the message to us. nats.c reports success then (it found
    // the message handled), so nothing else refers to it.
    natsMsg_Destroy(sent);
    return;
  }
  if (s == NATS_OK) return;  // nats.c owns the message; OnAck answers
  absl::Status st = JsError(s, static_cast<jsErrCode>(0), "JetStream publish");
  Done failed;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    auto it = shared_->pending.find(raw);
    if (it != shared_->pending.end()) {
      failed = std::move(it->second);
      shared_->pending.erase(it);
    }
  }
  if (raw != nullptr) natsMsg_Destroy(raw);
  if (failed) {
    dispatcher_.Post([failed = std::move(failed), st]() mutable {
      std::move(failed)(absl::UnavailableError(st.message()));
    });
  }
}

// ------------------------------------------------------------------------------------------------

namespace {

class PublishFilter final : public http::Filter {
 public:
  explicit PublishFilter(std::shared_ptr<const PublishFilterConfig> config) : config_(std::move(config)) {}

  void SetCallbacks(http::FilterCallbacks& callbacks) override { callbacks_ = &callbacks; }

  http::FilterStatus OnRequest(http::Request& request) override {
    const config::EventPublishConfig& cfg = config_->config;
    if (callbacks_->stream_info().listener != cfg.listener) return http::FilterStatus::kContinue;
    absl::string_view path = request.path;
    path = path.substr(0, path.find('?'));
    if (!absl::StartsWith(path, cfg.prefix)) return http::FilterStatus::kContinue;
    const std::string subject(path.substr(cfg.prefix.size()));
    if (request.method != "POST") {
      return Reject("rejected", ErrorResponse(codes::kInvalidArgument, "publish with POST " + cfg.prefix + "<subject>"),
                    405);
    }
    if (!IsPublishSubject(subject)) {
      return Reject("rejected",
                    ErrorResponse(codes::kInvalidArgument, "'" + subject + "' is not a NATS subject (no wildcards)"));
    }
    bool allowed = false;
    for (const std::string& pattern : cfg.allowed_subjects) allowed = allowed || SubjectMatches(pattern, subject);
    if (!allowed) {
      return Reject("rejected", ErrorResponse(codes::kPermissionDenied, "publishing to '" + subject + "' is not allowed"));
    }
    std::string msg_id(request.headers.GetOr("Nats-Msg-Id", ""));
    if (msg_id.empty()) msg_id = std::string(request.headers.GetOr("Idempotency-Key", ""));
    if (msg_id.empty()) msg_id = NewMsgId();
    Headers headers;
    for (const auto& [name, value] : request.headers.entries()) {
      if (!IsHopHeader(name)) headers.emplace_back(name, value);
    }
    // The caller's deadline wins when it is shorter.
    int64_t timeout_ms = cfg.timeout_ms;
    if (request.deadline != http::Clock::time_point::max()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(request.deadline - http::Clock::now());
      timeout_ms = std::max<int64_t>(1, std::min<int64_t>(timeout_ms, left.count()));
    }
    alive_ = std::make_shared<bool>(true);
    backstop_ = callbacks_->dispatcher().CreateTimer([this] {
      Answer(absl::DeadlineExceededError("no JetStream ack within the timeout"));
    });
    backstop_->Enable(std::chrono::milliseconds(timeout_ms) + kBackstopSlack);
    config_->publisher->Publish(subject, headers, request.body, msg_id, timeout_ms,
                                [weak = std::weak_ptr<bool>(alive_), this](absl::StatusOr<PubResult> r) mutable {
                                  if (weak.lock()) Answer(std::move(r));
                                });
    return http::FilterStatus::kStopIteration;
  }

  void OnDestroy() override {
    alive_.reset();
    backstop_.reset();
  }

 private:
  http::FilterStatus Reject(const char* outcome, http::Response response, int status = 0) {
    if (status != 0) response.status = status;
    Count(outcome);
    callbacks_->SendResponse(std::move(response));
    return http::FilterStatus::kStopIteration;
  }

  void Count(const char* outcome) {
    if (config_->metrics != nullptr) config_->metrics->event_publishes_total.Add({{"outcome", outcome}}).Increment();
  }

  void Answer(absl::StatusOr<PubResult> result) {
    if (answered_) return;
    answered_ = true;
    backstop_.reset();
    if (!result.ok()) {
      Count(absl::IsDeadlineExceeded(result.status()) ? "timeout" : "unavailable");
      callbacks_->SendResponse(ErrorResponseFromStatus(result.status()));
      return;
    }
    Count(result->duplicate ? "duplicate" : "ok");
    http::Response response;
    response.status = 200;
    response.headers.Set("Content-Type", "application/json");
    response.body =
        nlohmann::json{{"stream", result->stream}, {"seq", result->seq}, {"duplicate", result->duplicate}}.dump() + "\n";
    callbacks_->SendResponse(std::move(response));
  }

  std::shared_ptr<const PublishFilterConfig> config_;
  http::FilterCallbacks* callbacks_ = nullptr;
  std::shared_ptr<bool> alive_;
  event::TimerPtr backstop_;
  bool answered_ = false;
};

}  // namespace

http::FilterFactory PublishFilterFactory(std::shared_ptr<const PublishFilterConfig> config) {
  return [config = std::move(config)]() -> http::FilterPtr { return std::make_unique<PublishFilter>(config); };
}

}  // namespace sidecar::adapters::events
