#include "adapters/events/consumer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "adapters/events/dlq_record.h"
#include "sidecar/common/logging.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::adapters::events {
namespace {

// One fetch asks for at most this many events; more are fetched as deliveries settle.
constexpr int kMaxBatch = 64;
// How long one Fetch waits on the server for events. Bounds how late a drain sees the fetch stop.
constexpr int64_t kFetchWaitMs = 500;
// After a fetch error (NATS down, consumer deleted): wait this long, or until stopped, then retry.
constexpr auto kFetchErrorBackoff = std::chrono::milliseconds(500);
// Bound on each JetStream API call and DLQ publish on the settle thread.
constexpr int64_t kJsWaitMs = 5000;
constexpr auto kDepthRefresh = std::chrono::seconds(5);

constexpr int64_t kNanosPerMs = 1000 * 1000;

}  // namespace

http::Request DeliveryRequest(const config::EventConsumerConfig& config, const std::string& subject,
                              const Headers& headers, const std::string& data, uint64_t stream_seq,
                              uint64_t delivery) {
  http::Request request;
  request.method = "POST";
  request.path = config.path;
  for (const auto& [name, value] : headers) {
    if (!absl::StartsWithIgnoreCase(name, "Nats-")) request.headers.Add(name, value);
  }
  if (!request.headers.Has("Content-Type")) request.headers.Set("Content-Type", "application/json");
  request.headers.Set("Nats-Subject", subject);
  for (const auto& [name, value] : headers) {
    if (absl::EqualsIgnoreCase(name, "Nats-Msg-Id")) request.headers.Set("Nats-Msg-Id", value);
  }
  request.headers.Set("Nats-Stream", config.stream);
  request.headers.Set("Nats-Stream-Seq", absl::StrCat(stream_seq));
  request.headers.Set("Nats-Delivery-Count", absl::StrCat(delivery));
  request.body = data;
  request.deadline = http::Clock::now() + std::chrono::milliseconds(config.timeout_ms);
  return request;
}

EventConsumer::EventConsumer(const config::EventConsumerConfig& config, upstream::Cluster& cluster,
                             event::Dispatcher& dispatcher, stats::Metrics& metrics)
    : config_(config),
      cluster_(cluster),
      dispatcher_(dispatcher),
      dlq_subjects_(absl::StrCat(kDlqSubjectPrefix, ".>")),
      acked_(metrics.event_deliveries_total.Add({{"consumer", config.name}, {"outcome", "acked"}})),
      nacked_(metrics.event_deliveries_total.Add({{"consumer", config.name}, {"outcome", "nacked"}})),
      termed_(metrics.event_deliveries_total.Add({{"consumer", config.name}, {"outcome", "termed"}})),
      dead_lettered_(metrics.event_deliveries_total.Add({{"consumer", config.name}, {"outcome", "dead_lettered"}})),
      dlq_failed_(metrics.event_deliveries_total.Add({{"consumer", config.name}, {"outcome", "dlq_failed"}})),
      active_(metrics.event_deliveries_active.Add({{"consumer", config.name}})),
      dlq_depth_(metrics.dlq_depth.Add({{"stream", config.dlq_stream}})),
      self_(std::make_shared<EventConsumer*>(this)) {}

absl::StatusOr<std::unique_ptr<EventConsumer>> EventConsumer::Create(const config::EventConsumerConfig& config,
                                                                     natsConnection* conn,
                                                                     upstream::Cluster& cluster,
                                                                     event::Dispatcher& dispatcher,
                                                                     stats::Metrics& metrics) {
  std::unique_ptr<EventConsumer> consumer(new EventConsumer(config, cluster, dispatcher, metrics));
  RETURN_IF_ERROR(consumer->Init(conn));
  return consumer;
}

absl::Status EventConsumer::Init(natsConnection* conn) {
  ASSIGN_OR_RETURN(js_, NewJetStream(conn, kJsWaitMs));
  const std::string where = absl::StrCat("events.consumers '", config_.name, "'");
  // The event stream belongs to whoever publishes into it (retention, replicas, subjects): the
  // sidecar does not guess them. The DLQ is ours, so it is created.
  if (auto info = GetStream(js_.get(), config_.stream); !info.ok()) {
    return absl::Status(info.status().code(), absl::StrCat(where, ": ", info.status().message(),
                                                           " (create it before starting the sidecar)"));
  }
  if (absl::Status st = EnsureStream(js_.get(), config_.dlq_stream, dlq_subjects_); !st.ok()) {
    return absl::Status(st.code(), absl::StrCat(where, ": dead-letter stream: ", st.message()));
  }

  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = config_.durable.c_str();
  cc.FilterSubject = config_.filter_subject.c_str();
  cc.AckPolicy = js_AckExplicit;
  cc.DeliverPolicy = js_DeliverAll;
  cc.AckWait = config_.ack_wait_ms * kNanosPerMs;
  cc.MaxDeliver = -1;  // counted by the sidecar; see consumer.h
  cc.MaxAckPending = config_.max_ack_pending;
  jsConsumerInfo* raw_ci = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetConsumerInfo(&raw_ci, js_.get(), config_.stream.c_str(), config_.durable.c_str(), nullptr,
                                    &jerr);
  JsConsumerInfoPtr existing(raw_ci);
  JsConsumerInfoPtr result;
  if (s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr) {
    raw_ci = nullptr;
    s = js_AddConsumer(&raw_ci, js_.get(), config_.stream.c_str(), &cc, nullptr, &jerr);
    result.reset(raw_ci);
    if (s != NATS_OK) return JsError(s, jerr, absl::StrCat(where, ": creating durable '", config_.durable, "'"));
  } else if (s == NATS_OK) {
    // Config changes (max_ack_pending, ack_wait) apply on restart; a changed filter_subject is
    // refused by the server with a clear error.
    raw_ci = nullptr;
    s = js_UpdateConsumer(&raw_ci, js_.get(), config_.stream.c_str(), &cc, nullptr, &jerr);
    result.reset(raw_ci);
    if (s != NATS_OK) return JsError(s, jerr, absl::StrCat(where, ": updating durable '", config_.durable, "'"));
  } else {
    return JsError(s, jerr, absl::StrCat(where, ": looking up durable '", config_.durable, "'"));
  }

  // Bound to the existing consumer: nats.c then never deletes it on unsubscribe.
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = config_.stream.c_str();
  so.Consumer = config_.durable.c_str();
  so.ManualAck = true;
  natsSubscription* raw_sub = nullptr;
  s = js_PullSubscribe(&raw_sub, js_.get(), config_.filter_subject.c_str(), config_.durable.c_str(), nullptr, &so,
                       &jerr);
  sub_.reset(raw_sub);
  if (s != NATS_OK) return JsError(s, jerr, absl::StrCat(where, ": pull subscribe"));
  return absl::OkStatus();
}

void EventConsumer::Start() {
  fetch_thread_ = std::thread([this] { FetchLoop(); });
  settle_thread_ = std::thread([this] { SettleLoop(); });
  depth_timer_ = dispatcher_.CreateTimer([this] {
    RunOnSettleThread([this] { RefreshDlqDepth(); });
    depth_timer_->Enable(kDepthRefresh);
  });
  depth_timer_->Enable(std::chrono::milliseconds(0));
  log::Info("event consumer started", {{"consumer", config_.name}, {"stream", config_.stream},
                                       {"durable", config_.durable}, {"cluster", config_.cluster}});
}

EventConsumer::~EventConsumer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (fetch_thread_.joinable()) fetch_thread_.join();
  depth_timer_.reset();
  // Deliveries still at the cluster are abandoned unacked: JetStream redelivers them after ack_wait.
  for (auto& [id, handle] : sending_) handle->Cancel();
  sending_.clear();
  {
    std::lock_guard<std::mutex> lock(mu_);
    settle_stopping_ = true;
  }
  cv_.notify_all();
  if (settle_thread_.joinable()) settle_thread_.join();
  self_.reset();
  {
    std::lock_guard<std::mutex> lock(mu_);
    deliveries_.clear();  // before sub_
  }
}

size_t EventConsumer::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return deliveries_.size();
}

void EventConsumer::Post(absl::AnyInvocable<void(EventConsumer&) &&> work) {
  dispatcher_.Post([weak = std::weak_ptr<EventConsumer*>(self_), work = std::move(work)]() mutable {
    if (auto self = weak.lock()) std::move(work)(**self);
  });
}

void EventConsumer::RunOnSettleThread(absl::AnyInvocable<void() &&> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    settle_tasks_.push_back(std::move(task));
  }
  cv_.notify_all();
}

void EventConsumer::FetchLoop() {
  const size_t max_in_flight = static_cast<size_t>(config_.max_ack_pending);
  while (true) {
    int want = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || deliveries_.size() < max_in_flight; });
      if (stopping_) break;
      want = static_cast<int>(std::min<size_t>(max_in_flight - deliveries_.size(), kMaxBatch));
    }
    natsMsgList list{};
    natsStatus s = natsSubscription_Fetch(&list, sub_.get(), want, kFetchWaitMs, nullptr);
    if (s != NATS_OK && s != NATS_TIMEOUT && list.Count == 0) {
      log::Debug("event fetch failed", {{"consumer", config_.name}, {"error", natsStatus_GetText(s)}});
      // Not a sleep: the wait ends at once when the consumer stops.
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, kFetchErrorBackoff, [&] { return stopping_; });
      continue;
    }
    for (int i = 0; i < list.Count; ++i) {
      auto d = std::make_unique<Delivery>();
      d->msg.reset(list.Msgs[i]);
      list.Msgs[i] = nullptr;
      natsMsg* m = d->msg.get();
      d->subject = natsMsg_GetSubject(m);
      d->headers = MsgHeaders(m);
      d->data = MsgData(m);
      jsMsgMetaData* raw_meta = nullptr;
      if (natsMsg_GetMetaData(&raw_meta, m) == NATS_OK) {
        JsMetaPtr meta(raw_meta);
        d->stream_seq = meta->Sequence.Stream;
        d->delivered = meta->NumDelivered;
        d->published = absl::FromUnixNanos(meta->Timestamp);
      }
      uint64_t id = 0;
      {
        std::lock_guard<std::mutex> lock(mu_);
        id = next_id_++;
        deliveries_.emplace(id, std::move(d));
        active_.Set(static_cast<double>(deliveries_.size()));
      }
      Post([id](EventConsumer& self) { self.Deliver(id); });
    }
    natsMsgList_Destroy(&list);
  }
  Post([](EventConsumer& self) {
    self.fetch_stopped_ = true;
    self.CheckDrained();
  });
}

void EventConsumer::Deliver(uint64_t id) {
  Delivery* d = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = deliveries_.find(id);
    if (it == deliveries_.end()) return;
    d = it->second.get();
  }
  History& history = history_[d->stream_seq];
  if (history.first_attempt == absl::Time()) {
    // Not seen by this process: the first attempt may have been another task's; the publish time
    // is the earliest it can have been.
    history.first_attempt = d->delivered <= 1 ? absl::Now() : d->published;
  }
  const uint64_t attempt = d->delivered > history.refused ? d->delivered - history.refused : 1;
  if (attempt > static_cast<uint64_t>(config_.max_deliver)) {
    // Redelivered after the last attempt (the DLQ publish failed, or a sidecar died between the last
    // attempt and its settle): the upstream has had its max_deliver attempts; only the DLQ is left.
    Decision decision{Action::kDeadLetter, 0, "exhausted"};
    if (history.last_error.empty()) history.last_error = "redelivered after the last attempt; last error unknown";
    RunOnSettleThread([this, id, decision, history, now = absl::Now()]() mutable {
      Settle(id, decision, history, now);
    });
    return;
  }
  http::Request request = DeliveryRequest(config_, d->subject, d->headers, d->data, d->stream_seq, d->delivered);
  upstream::Cancellable* handle = cluster_.Send(
      request, [weak = std::weak_ptr<EventConsumer*>(self_), id](absl::StatusOr<http::Response> result) mutable {
        if (auto self = weak.lock()) (*self)->OnResult(id, std::move(result));
      });
  if (handle != nullptr) sending_[id] = handle;
}

void EventConsumer::OnResult(uint64_t id, absl::StatusOr<http::Response> result) {
  sending_.erase(id);
  uint64_t delivered = 0, seq = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = deliveries_.find(id);
    if (it == deliveries_.end()) return;
    delivered = it->second->delivered;
    seq = it->second->stream_seq;
  }
  const Classification c = Classify(result);
  History& history = history_[seq];
  const uint64_t attempt = delivered > history.refused ? delivered - history.refused : 1;
  const Decision decision = Decide(c, attempt, config_.max_deliver, config_.backoff_ms);
  if (!c.attempted) {
    ++history.refused;
  } else if (!c.error.empty()) {
    history.last_error = c.error;
  }
  if (decision.action != Action::kAck) {
    log::Debug("event delivery failed", {{"consumer", config_.name}, {"seq", absl::StrCat(seq)},
                                         {"attempt", absl::StrCat(attempt)}, {"error", c.error}});
  }
  RunOnSettleThread([this, id, decision, history, now = absl::Now()]() mutable {
    Settle(id, decision, history, now);
  });
}

void EventConsumer::SettleLoop() {
  while (true) {
    absl::AnyInvocable<void() &&> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return settle_stopping_ || !settle_tasks_.empty(); });
      if (settle_tasks_.empty()) return;  // stopping, and everything queued has run
      task = std::move(settle_tasks_.front());
      settle_tasks_.pop_front();
    }
    std::move(task)();
  }
}

void EventConsumer::Settle(uint64_t id, Decision decision, History history, absl::Time last_attempt) {
  Delivery* d = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = deliveries_.find(id);
    if (it == deliveries_.end()) return;
    d = it->second.get();
  }
  natsMsg* m = d->msg.get();
  switch (decision.action) {
    case Action::kAck:
      natsMsg_Ack(m, nullptr);
      acked_.Increment();
      Finish(id, "acked");
      return;
    case Action::kNak:
      natsMsg_NakWithDelay(m, decision.delay_ms, nullptr);
      nacked_.Increment();
      Finish(id, nullptr);  // keeps its history: it comes back
      return;
    case Action::kDeadLetter: {
      absl::Status st = PublishToDlq(*d, decision, history, last_attempt);
      if (!st.ok()) {
        // The event stays in its stream: redelivered after the longest backoff, it goes straight to
        // the DLQ again (delivery > max_deliver), without another upstream attempt.
        log::Error("dead-letter publish failed; event nacked", {{"consumer", config_.name},
                                                                {"seq", absl::StrCat(d->stream_seq)},
                                                                {"error", st.ToString()}});
        natsMsg_NakWithDelay(m, BackoffDelayMs(config_.backoff_ms, config_.backoff_ms.size()), nullptr);
        dlq_failed_.Increment();
        Finish(id, nullptr);
        return;
      }
      // Only now, with the DLQ copy acknowledged, does the original leave its stream's pending set.
      if (decision.reason == "permanent") {
        natsMsg_Term(m, nullptr);
        termed_.Increment();
      } else {
        natsMsg_Ack(m, nullptr);
      }
      dead_lettered_.Increment();
      log::Warn("event dead-lettered", {{"consumer", config_.name}, {"subject", d->subject},
                                        {"seq", absl::StrCat(d->stream_seq)}, {"reason", decision.reason},
                                        {"last_error", history.last_error}});
      Finish(id, "dead_lettered");
      RefreshDlqDepth();
      return;
    }
  }
}

absl::Status EventConsumer::PublishToDlq(const Delivery& d, const Decision& decision, const History& history,
                                         absl::Time last_attempt) {
  DlqRecord r;
  r.subject = d.subject;
  r.headers = d.headers;
  for (const auto& [name, value] : d.headers) {
    if (absl::EqualsIgnoreCase(name, "Nats-Msg-Id")) r.original_msg_id = value;
  }
  r.stream = config_.stream;
  r.stream_seq = d.stream_seq;
  r.consumer = config_.name;
  r.attempts = std::min<uint64_t>(d.delivered > history.refused ? d.delivered - history.refused : 1,
                                  static_cast<uint64_t>(config_.max_deliver));
  r.reason = decision.reason;
  r.last_error = history.last_error;
  r.published = d.published;
  r.first_attempt = history.first_attempt == absl::Time() ? d.published : history.first_attempt;
  r.last_attempt = last_attempt;
  ASSIGN_OR_RETURN(JsMsgPtr msg, NewMsg(DlqSubject(config_.name, d.subject), EncodeDlqHeaders(r), d.data));
  const std::string msg_id = DlqMsgId(r);
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MsgId = msg_id.c_str();
  po.ExpectStream = config_.dlq_stream.c_str();
  po.MaxWait = kJsWaitMs;
  jsPubAck* raw_ack = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_PublishMsg(&raw_ack, js_.get(), msg.get(), &po, &jerr);
  JsPubAckPtr ack(raw_ack);
  if (s != NATS_OK) return JsError(s, jerr, absl::StrCat("publishing to ", config_.dlq_stream));
  return absl::OkStatus();
}

void EventConsumer::RefreshDlqDepth() {
  auto info = GetStream(js_.get(), config_.dlq_stream);
  if (info.ok()) dlq_depth_.Set(static_cast<double>((*info)->State.Msgs));
}

void EventConsumer::Finish(uint64_t id, const char* final_outcome) {
  uint64_t seq = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = deliveries_.find(id);
    if (it != deliveries_.end()) {
      seq = it->second->stream_seq;
      deliveries_.erase(it);
    }
    active_.Set(static_cast<double>(deliveries_.size()));
  }
  cv_.notify_all();
  Post([seq, final = final_outcome != nullptr](EventConsumer& self) {
    if (final) self.history_.erase(seq);
    self.CheckDrained();
  });
}

void EventConsumer::Drain(absl::AnyInvocable<void()> done) {
  drain_done_ = std::move(done);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  CheckDrained();
}

void EventConsumer::CheckDrained() {
  if (!drain_done_ || !fetch_stopped_ || in_flight() > 0) return;
  log::Info("event consumer drained", {{"consumer", config_.name}});
  auto done = std::move(drain_done_);
  drain_done_ = nullptr;
  done();
}

}  // namespace sidecar::adapters::events
