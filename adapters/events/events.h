#pragma once
// The JetStream event path as one component for the server: a blocking NATS connection of its own
// (JetStream calls block; the loop's connection must not), one EventConsumer per configured consumer,
// and the egress publisher behind the publish filter.

#include <memory>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "adapters/events/consumer.h"
#include "adapters/events/publish.h"
#include "sidecar/config/config.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/http/filter.h"
#include "sidecar/nats/connection.h"
#include "sidecar/stats/metrics.h"
#include "sidecar/upstream/cluster_manager.h"

namespace sidecar::adapters::events {

class EventsRuntime {
 public:
  // nullptr when the config has no events section. Blocking (connect, stream and consumer setup):
  // call at startup, after the clusters exist. Fails with the consumer's name when its stream is
  // missing, so a misconfigured task stops at once instead of consuming nothing.
  static absl::StatusOr<std::unique_ptr<EventsRuntime>> Create(const config::Config& config,
                                                               event::Dispatcher& dispatcher,
                                                               stats::Metrics& metrics,
                                                               const upstream::ClusterManager& clusters);
  // Dispatcher thread: consumers first (they ack through the connection), then the connection.
  ~EventsRuntime();

  // Starts fetching.
  void Start();
  // The egress publish filter, or nullptr when `events.publish` is not configured. The filter only
  // acts on requests of the configured listener.
  http::FilterFactory PublishFilter() const;
  // Stops fetching; `done` (dispatcher) once every fetched event is settled.
  void Drain(absl::AnyInvocable<void()> done);

 private:
  EventsRuntime() = default;

  nats::NatsConnectionPtr conn_;
  std::unique_ptr<JetStreamPublisher> publisher_;
  std::shared_ptr<const PublishFilterConfig> publish_config_;
  std::vector<std::unique_ptr<EventConsumer>> consumers_;
  size_t draining_ = 0;
  absl::AnyInvocable<void()> drain_done_;
};

}  // namespace sidecar::adapters::events
