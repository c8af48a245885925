#include "services/common/event_publisher.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"
#include "services/common/determinism.h"
#include "services/common/strings_internal.h"

namespace sidecar::services {

std::string EventSubject(std::string_view service, std::string_view event_name) {
  return absl::StrCat("evt.", Av(service), ".v1.", Av(event_name));
}

std::string MakeEventId(std::string_view service, std::string_view event_name,
                        std::string_view material) {
  return DerivedId("ev", absl::StrCat(Av(service), ":", Av(event_name), ":", Av(material)));
}

absl::StatusOr<Event> MakeEvent(std::string_view service, std::string_view event_name,
                                std::string event_id, int64_t occurred_at_ms,
                                google::protobuf::Message& message) {
  const auto* d = message.GetDescriptor();
  const auto* r = message.GetReflection();
  const auto* id_field = d->FindFieldByName("event_id");
  const auto* at_field = d->FindFieldByName("occurred_at");
  if (id_field == nullptr || at_field == nullptr ||
      id_field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_STRING ||
      at_field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_INT64) {
    return absl::InternalError(
        absl::StrCat(d->full_name(), " lacks string event_id / int64 occurred_at"));
  }
  r->SetString(&message, id_field, event_id);
  r->SetInt64(&message, at_field, occurred_at_ms);
  Event event;
  event.subject = EventSubject(service, event_name);
  event.event_id = std::move(event_id);
  event.data = message.SerializeAsString();
  event.headers.emplace_back("Content-Type", std::string(kEventContentType));
  return event;
}

void InMemoryEventPublisher::Publish(Event event, Done done) {
  absl::Status result = fail_with_;
  if (result.ok()) events_.push_back(std::move(event));
  if (done) {
    dispatcher_.Post([done = std::move(done), result]() mutable { std::move(done)(result); });
  }
}

}  // namespace sidecar::services
