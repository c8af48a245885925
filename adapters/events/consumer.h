#pragma once
// A durable JetStream pull consumer that delivers each event to a cluster (legacy HTTP or a native
// port) as POST <path>, and settles it by the outcome (outcome.h): ack, nak with backoff, or the
// dead-letter stream followed by ack/term.
//
// Threads:
//   fetch thread   natsSubscription_Fetch (blocking) while fewer than max_ack_pending events are
//                  in flight; each message is parked in `deliveries_` and its id Post()ed.
//   dispatcher     Cluster::Send and its callback; the decision (pure, outcome.h).
//   settle thread  ack / nak / term and the DLQ publish (js_PublishMsg blocks for its PubAck), so
//                  neither the loop nor nats.c's threads ever wait on the server.
//
// Delivery counting is ours, not the server's: the consumer is created with MaxDeliver unlimited
// and the sidecar dead-letters on attempt == max_deliver, where attempt = NumDelivered minus the
// deliveries this process refused locally (an open breaker: outcome.h). After a restart the refused
// count is lost and attempts are counted from NumDelivered, i.e. conservatively. With a server-side MaxDeliver the last
// nak after a failed DLQ publish would never be redelivered, and the event would be stranded.
// For the same reason the consumer has no server-side BackOff: BackOff replaces AckWait as the
// redelivery timer, so a delivery slower than backoff[0] would be redelivered while in flight.
// Retry delays are NakWithDelay; AckWait only covers a sidecar that died mid-event.

#include <nats/nats.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "adapters/events/jetstream.h"
#include "adapters/events/outcome.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "sidecar/config/config.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/stats/metrics.h"
#include "sidecar/upstream/cluster.h"

namespace sidecar::adapters::events {

// The request an event is delivered as: POST <path>, the event's headers (minus JetStream's own
// Nats-*), Content-Type application/json unless given, and Nats-Subject, Nats-Msg-Id (when the
// event has one), Nats-Stream, Nats-Stream-Seq and Nats-Delivery-Count. Used by the dlq tool too.
http::Request DeliveryRequest(const config::EventConsumerConfig& config, const std::string& subject,
                              const Headers& headers, const std::string& data, uint64_t stream_seq,
                              uint64_t delivery);

class EventConsumer {
 public:
  // Blocking (stream lookup, consumer create/update, subscribe): call at startup on the dispatcher
  // thread. The stream must exist; the DLQ stream is created when absent. `conn` (a blocking
  // connection) and `cluster` must outlive the consumer.
  static absl::StatusOr<std::unique_ptr<EventConsumer>> Create(const config::EventConsumerConfig& config,
                                                               natsConnection* conn, upstream::Cluster& cluster,
                                                               event::Dispatcher& dispatcher,
                                                               stats::Metrics& metrics);
  // Dispatcher thread. Stops fetching, cancels deliveries in flight (they are redelivered after
  // ack_wait), finishes queued settles and joins the threads.
  ~EventConsumer();

  // Starts the fetch and settle threads.
  void Start();
  // Dispatcher thread. Stops fetching; `done` runs on the dispatcher once every event already
  // fetched has been delivered and settled (acked, nacked or dead-lettered): no half-acked events.
  void Drain(absl::AnyInvocable<void()> done);

  const std::string& name() const { return config_.name; }
  size_t in_flight() const;

 private:
  struct Delivery {
    JsMsgPtr msg;
    std::string subject;
    Headers headers;
    std::string data;
    uint64_t stream_seq = 0;
    uint64_t delivered = 0;  // JetStream NumDelivered, 1-based
    absl::Time published;
  };
  // Per stream sequence, across redeliveries in this process (lost on restart; the DLQ record then
  // reports the publish time as the first attempt).
  struct History {
    absl::Time first_attempt;
    std::string last_error;
    uint64_t refused = 0;  // deliveries refused locally (breaker open...): not attempts
  };

  EventConsumer(const config::EventConsumerConfig& config, upstream::Cluster& cluster,
                event::Dispatcher& dispatcher, stats::Metrics& metrics);
  absl::Status Init(natsConnection* conn);

  void FetchLoop();
  void SettleLoop();
  void RunOnSettleThread(absl::AnyInvocable<void() &&> task);
  void Post(absl::AnyInvocable<void(EventConsumer&) &&> work);

  // Dispatcher thread.
  void Deliver(uint64_t id);
  void OnResult(uint64_t id, absl::StatusOr<http::Response> result);
  void CheckDrained();

  // Settle thread.
  void Settle(uint64_t id, Decision decision, History history, absl::Time last_attempt);
  absl::Status PublishToDlq(const Delivery& d, const Decision& decision, const History& history,
                            absl::Time last_attempt);
  void RefreshDlqDepth();
  void Finish(uint64_t id, const char* outcome);

  const config::EventConsumerConfig config_;
  upstream::Cluster& cluster_;
  event::Dispatcher& dispatcher_;
  std::string dlq_subjects_;  // "dlq.>"
  prometheus::Counter& acked_;
  prometheus::Counter& nacked_;
  prometheus::Counter& termed_;
  prometheus::Counter& dead_lettered_;
  prometheus::Counter& dlq_failed_;
  prometheus::Gauge& active_;
  prometheus::Gauge& dlq_depth_;

  JsCtxPtr js_;
  JsSubPtr sub_;  // outlives every message in deliveries_ (acks go through it)

  mutable std::mutex mu_;
  std::condition_variable cv_;  // fetch thread: room in flight or stopping; settle thread: tasks
  std::map<uint64_t, std::unique_ptr<Delivery>> deliveries_;  // guarded by mu_; fetched, not settled
  std::deque<absl::AnyInvocable<void() &&>> settle_tasks_;   // guarded by mu_
  uint64_t next_id_ = 1;                                       // guarded by mu_
  bool stopping_ = false;                                      // guarded by mu_: no more fetches
  bool settle_stopping_ = false;                               // guarded by mu_
  bool depth_refresh_queued_ = false;                          // guarded by mu_

  // Dispatcher thread only.
  std::map<uint64_t, upstream::Cancellable*> sending_;
  std::map<uint64_t, History> history_;
  bool fetch_stopped_ = false;
  absl::AnyInvocable<void()> drain_done_;
  event::TimerPtr depth_timer_;

  // Posted work reaches the consumer only while this is alive (weak_ptr checked on the loop).
  std::shared_ptr<EventConsumer*> self_;
  std::thread fetch_thread_;
  std::thread settle_thread_;
};

}  // namespace sidecar::adapters::events
