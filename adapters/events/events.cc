#include "adapters/events/events.h"

#include "absl/strings/str_cat.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::adapters::events {

absl::StatusOr<std::unique_ptr<EventsRuntime>> EventsRuntime::Create(const config::Config& config,
                                                                     event::Dispatcher& dispatcher,
                                                                     stats::Metrics& metrics,
                                                                     const upstream::ClusterManager& clusters) {
  const config::EventsConfig& events = config.events;
  if (events.consumers.empty() && !events.publish.has_value()) return std::unique_ptr<EventsRuntime>();
  std::unique_ptr<EventsRuntime> rt(new EventsRuntime());
  ASSIGN_OR_RETURN(rt->conn_, nats::ConnectBlocking(config.nats, config.nats.name + "-events"));
  if (events.publish.has_value()) {
    ASSIGN_OR_RETURN(rt->publisher_, JetStreamPublisher::Create(rt->conn_.get(), dispatcher));
    auto pc = std::make_shared<PublishFilterConfig>();
    pc->config = *events.publish;
    pc->publisher = rt->publisher_.get();
    pc->metrics = &metrics;
    rt->publish_config_ = std::move(pc);
  }
  for (const config::EventConsumerConfig& cc : events.consumers) {
    upstream::Cluster* cluster = clusters.Get(cc.cluster);
    if (cluster == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("events.consumers '", cc.name, "': undefined cluster '", cc.cluster, "'"));
    }
    ASSIGN_OR_RETURN(auto consumer, EventConsumer::Create(cc, rt->conn_.get(), *cluster, dispatcher, metrics));
    rt->consumers_.push_back(std::move(consumer));
  }
  return rt;
}

EventsRuntime::~EventsRuntime() {
  consumers_.clear();
  publisher_.reset();
  conn_.reset();
}

void EventsRuntime::Start() {
  for (auto& c : consumers_) c->Start();
}

http::FilterFactory EventsRuntime::PublishFilter() const {
  if (publish_config_ == nullptr) return nullptr;
  return PublishFilterFactory(publish_config_);
}

void EventsRuntime::Drain(absl::AnyInvocable<void()> done) {
  drain_done_ = std::move(done);
  draining_ = consumers_.size();
  if (draining_ == 0) {
    auto d = std::move(drain_done_);
    d();
    return;
  }
  for (auto& c : consumers_) {
    c->Drain([this] {
      if (--draining_ > 0) return;
      auto d = std::move(drain_done_);
      drain_done_ = nullptr;
      d();
    });
  }
}

}  // namespace sidecar::adapters::events
