// The thin binding of event-bus: typed handlers onto EventBusLogic, plus `_fixture`.
#include "services/event_bus/event_bus_service.h"

#include "services/common/fixtures.h"
#include "services/event_bus/event_bus_logic.h"

namespace sidecar::services {
namespace {

using namespace ::event_bus::v1;  // NOLINT: the message names of this service only
using event_bus::EventBusLogic;

class EventBusService final : public Service {
 public:
  explicit EventBusService(const ServiceDeps& deps)
      : deps_(deps), logic_(*deps.store, *deps.events) {}

  std::string_view name() const override { return event_bus::kServiceName; }

  void Register(HandlerRegistry& r) override {
    r.Add<CreateTopicRequest, CreateTopicResponse>(
        "create_topic",
        [this](const CallContext& ctx, CreateTopicRequest rq, Done<CreateTopicResponse> done) {
          logic_.CreateTopic(ctx, rq, std::move(done));
        });
    r.Add<PublishRequest, PublishResponse>(
        "publish", [this](const CallContext& ctx, PublishRequest rq, Done<PublishResponse> done) {
          logic_.Publish(ctx, rq, std::move(done));
        });
    r.Add<FetchRequest, FetchResponse>(
        "fetch", [this](const CallContext& ctx, FetchRequest rq, Done<FetchResponse> done) {
          logic_.Fetch(ctx, rq, std::move(done));
        });
    r.Add<AckRequest, AckResponse>(
        "ack", [this](const CallContext& ctx, AckRequest rq, Done<AckResponse> done) {
          logic_.Ack(ctx, rq, std::move(done));
        });
    r.Add<GetTopicRequest, GetTopicResponse>(
        "get_topic",
        [this](const CallContext& ctx, GetTopicRequest rq, Done<GetTopicResponse> done) {
          logic_.GetTopic(ctx, rq, std::move(done));
        });
    RegisterFixtureAction(r, deps_.fixtures_enabled, *deps_.store, {"eb/"},
                          &EventBusLogic::FixtureEntries);
  }

 private:
  ServiceDeps deps_;
  EventBusLogic logic_;
};

}  // namespace

std::unique_ptr<Service> MakeEventBusService(const ServiceDeps& deps) {
  return std::make_unique<EventBusService>(deps);
}

}  // namespace sidecar::services
