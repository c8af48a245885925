#pragma once
// The egress publish route: `POST <prefix><subject>` on the configured HTTP listener publishes the
// body to JetStream and answers only after the stream's PubAck:
//   200 {"stream":"ORDERS","seq":42,"duplicate":false}
//   400 bad subject / 403 subject not allowed / 405 not POST
//   503 UNAVAILABLE (no stream for the subject, NATS down, JetStream error)
//   504 DEADLINE_EXCEEDED (no PubAck within timeout_ms; the event may still be stored: retry with
//       the same Nats-Msg-Id / Idempotency-Key and JetStream drops the duplicate)
//
// It is a filter in front of the router, not a cluster kind: it answers from the request line alone
// (no route, split or fallback applies to a publish), it must only run on the egress listener (the
// edge gateway must never publish on the legacy service's behalf), and a new cluster kind would
// have meant a route entry per deployment that only ever has one valid target.
//
// Publishing is asynchronous (js_PublishMsgAsync on a blocking connection of its own) and never
// runs on the loop: js_PublishMsgAsync takes nats.c's connection lock, which nats.c's reconnect
// thread holds while it waits (up to connect_timeout_ms per server) for an unresponsive server, so
// calling it on the dispatcher froze every listener and the admin port while the events connection
// reconnected (tests/chaos/RESULTS.md, 3-node cluster). A publisher thread of its own makes the
// call; nats.c's ack handler Post()s each result back. Messages published while NATS is
// reconnecting wait in nats.c's reconnect buffer and are answered when acked, or 504 at timeout_ms;
// one still queued at its deadline is answered 504 without being published.

#include <nats/nats.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "adapters/events/jetstream.h"
#include "sidecar/config/config.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/http/filter.h"
#include "sidecar/stats/metrics.h"

namespace sidecar::adapters::events {

struct PubResult {
  std::string stream;
  uint64_t seq = 0;
  bool duplicate = false;
};

class JetStreamPublisher {
 public:
  using Done = absl::AnyInvocable<void(absl::StatusOr<PubResult>) &&>;

  // `conn` (a blocking connection) must outlive the publisher. Starts the publisher thread.
  static absl::StatusOr<std::unique_ptr<JetStreamPublisher>> Create(natsConnection* conn,
                                                                    event::Dispatcher& dispatcher);
  // Joins the publisher thread. Publishes still queued or waiting for their PubAck are dropped
  // without a callback.
  ~JetStreamPublisher();

  // Dispatcher thread; never blocks. `done` runs on the dispatcher, never inline.
  void Publish(const std::string& subject, const Headers& headers, const std::string& data,
               const std::string& msg_id, int64_t timeout_ms, Done done);

 private:
  struct Shared;  // reached by nats.c's ack handler thread
  struct Job {
    JsMsgPtr msg;
    std::string msg_id;
    std::chrono::steady_clock::time_point deadline;
    Done done;
  };
  JetStreamPublisher(event::Dispatcher& dispatcher, std::shared_ptr<Shared> shared);
  static void OnAck(jsCtx* js, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) noexcept;
  // Publisher thread: takes jobs until the destructor stops it.
  void Run();
  void PublishNow(Job job);

  event::Dispatcher& dispatcher_;
  std::shared_ptr<Shared> shared_;
  JsCtxPtr js_;
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Job> queue_;  // guarded by queue_mu_
  bool stopping_ = false;  // guarded by queue_mu_
  std::thread thread_;
};

struct PublishFilterConfig {
  config::EventPublishConfig config;
  JetStreamPublisher* publisher = nullptr;
  stats::Metrics* metrics = nullptr;
};

http::FilterFactory PublishFilterFactory(std::shared_ptr<const PublishFilterConfig> config);

// A random 128-bit id in hex, for publishes that carry neither Nats-Msg-Id nor Idempotency-Key.
std::string NewMsgId();

}  // namespace sidecar::adapters::events
