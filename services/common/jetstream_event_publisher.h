#pragma once
// EventPublisher over JetStream: js_PublishMsg to the event's subject with Nats-Msg-Id =
// event_id, on a worker (it blocks until the stream acknowledges), result posted to the
// dispatcher. Create() makes sure the stream EVENTS (subjects evt.>) exists.

#include <nats/nats.h>

#include <memory>

#include "absl/status/statusor.h"
#include "services/common/event_publisher.h"
#include "services/common/jetstream_kv_state_store.h"
#include "services/common/worker_pool.h"

namespace sidecar::services {

class JetStreamEventPublisher final : public EventPublisher {
 public:
  struct Options {
    bool create_stream = true;  // add EVENTS (file storage, evt.>) when missing
    size_t worker_threads = 2;
    int64_t op_timeout_ms = 5000;
  };

  // Blocking (stream lookup/creation): call at startup. `conn` must outlive the publisher.
  static absl::StatusOr<std::unique_ptr<JetStreamEventPublisher>> Create(
      natsConnection* conn, event::Dispatcher& dispatcher, Options options);
  ~JetStreamEventPublisher() override;

  void Publish(Event event, Done done) override;

 private:
  JetStreamEventPublisher(event::Dispatcher& dispatcher, JsCtxPtr js, size_t threads);

  event::Dispatcher& dispatcher_;
  JsCtxPtr js_;
  std::unique_ptr<WorkerPool> workers_;  // last: stops before js_ goes
};

}  // namespace sidecar::services
