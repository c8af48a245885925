#pragma once
// The process: builds every component from a validated Config, owns them, and runs the lifecycle
// INITIALIZING -> LIVE -> DRAINING on one dispatcher.

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "adapters/discovery/discovery.h"
#include "adapters/nats_http/nats_listener.h"
#include "adapters/events/events.h"
#include "nlohmann/json.hpp"
#include "sidecar/admin/admin_server.h"
#include "sidecar/config/config.h"
#include "sidecar/cutover/controller.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/http/listener.h"
#include "sidecar/nats/connection.h"
#include "sidecar/router/router.h"
#include "sidecar/shadow/shadow.h"
#include "sidecar/stats/metrics.h"
#include "sidecar/upstream/cluster_manager.h"
#include "services/common/event_publisher.h"
#include "services/common/outbound_http.h"
#include "services/common/state_store.h"

namespace sidecar::server {

enum class State { kInitializing, kLive, kDraining };
const char* StateName(State state);

// Checks that need more than the config loader: action route templates compile, etc. Used by both
// `validate` and `run`, so a config that validates also starts.
absl::Status CheckConfig(const config::Config& config);

class Server {
 public:
  struct Readiness {
    bool ready = false;
    nlohmann::json detail;  // the /ready body: state, nats, listeners, clusters
  };

  // Binds the admin port, starts connecting to NATS and subscribes. Call on the dispatcher's thread.
  static absl::StatusOr<std::unique_ptr<Server>> Create(config::Config config, event::Dispatcher& dispatcher);
  ~Server();

  // Runs the loop until SIGTERM/SIGINT (or Shutdown()) and the drain finish. Returns the exit code:
  // 0 when every accepted request was answered, 1 when the drain timeout cut it short.
  int Run();
  // Thread-safe: starts the drain as SIGTERM would.
  void Shutdown();

  Readiness CheckReadiness() const;
  State state() const { return state_; }
  uint16_t admin_port() const { return admin_->port(); }

 private:
  Server(config::Config config, event::Dispatcher& dispatcher);
  absl::Status Init();
  void InstallAdminHandlers();
  absl::Status CreateClusters();
  absl::Status CreateNativeCluster(const config::ClusterConfig& cc);
  absl::Status CreateListeners();
  std::vector<http::FilterFactory> FilterChain();
  http::Response SetRouteWeights(const admin::AdminServer::Request& request);
  void SetState(State state);
  void BeginDrain();
  void OnListenerDrained();
  // Recomputes readiness after a component changed (NATS state, upstream health, drain) and logs
  // each flip, so operators and tests see "readiness changed" lines instead of polling /ready.
  void ReevaluateReadiness();
  // A NATS listener's queue membership follows the health of the clusters its routes use: it
  // leaves the queue group while any health-checked one is unhealthy (see NatsListener::SetServing).
  void UpdateQueueMembership();
  std::vector<upstream::Cluster*> HealthGatedClusters(const std::string& service) const;

  config::Config config_;
  event::Dispatcher& dispatcher_;
  stats::Metrics metrics_;
  State state_ = State::kInitializing;
  std::unique_ptr<admin::AdminServer> admin_;
  upstream::ClusterManager clusters_;
  std::unique_ptr<nats::Connection> nats_;
  // The JetStream store and publisher block on nats.c (at startup and on their workers): they get a
  // connection of their own, off the event loop.
  nats::NatsConnectionPtr store_conn_;
  // Owned for the native clusters, which hold raw pointers: destroyed after them.
  std::vector<std::unique_ptr<services::StateStore>> stores_;
  std::vector<std::unique_ptr<services::EventPublisher>> publishers_;
  // Outbound HTTP of the ports (ai-integration's openai_compatible provider): after the clusters.
  std::unique_ptr<services::OutboundHttpClient> outbound_http_;
  std::shared_ptr<router::RouteTableHolder> routes_;
  // Shadow traffic (issue 7): mirrors, comparisons, the mismatch ring. Outlives the listeners (their
  // router filters hold mirror handles) and dies before the clusters (it may hold their requests).
  std::unique_ptr<shadow::ShadowRuntime> shadow_;
  std::vector<std::unique_ptr<http::Listener>> listeners_;
  struct QueueGate {
    adapters::nats_http::NatsListener* listener;
    std::vector<upstream::Cluster*> clusters;  // health-checked clusters of the service's routes
  };
  std::vector<QueueGate> queue_gates_;
  // JetStream consumers and the egress publisher (events:); nullptr without an events section.
  std::unique_ptr<adapters::events::EventsRuntime> events_;
  // Fleet-wide cut-over (cutover: section): KV-driven weights, guards, ramp; nullptr without it.
  // The router filters hold it as their RouteObserver: destroyed after the listeners and shadow.
  std::unique_ptr<cutover::CutoverController> cutover_;
  // ADR-32 $SRV responders, one per NATS listener; destroyed before nats_ (see ~Server).
  std::vector<std::unique_ptr<adapters::discovery::DiscoveryResponder>> discovery_;
  std::vector<event::SignalEventPtr> signals_;
  event::TimerPtr drain_timer_;
  size_t listeners_draining_ = 0;
  bool drain_timed_out_ = false;
  bool last_ready_ = false;
  // Set once a PING/PONG round trip after subscribing has come back: only then does nats-server
  // know our SUBs, so /ready must wait for it. The flush blocks until the loop reads the PONG, so it
  // runs on this thread (joined first thing in the destructor).
  bool subscriptions_confirmed_ = false;
  std::thread confirm_thread_;
};

}  // namespace sidecar::server
