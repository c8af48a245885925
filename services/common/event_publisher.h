#pragma once
// Events (SERVICES.md §0.1): evt.<service>.v1.<event>, published after commit to the JetStream
// stream EVENTS (subjects evt.>), Nats-Msg-Id = event_id, so a retried publish is de-duplicated
// by the stream. Every event carries event_id and occurred_at besides its listed fields.
// Events are notifications: no service changes state on receiving one (§0.6).
//
// Implementations: InMemoryEventPublisher (below; tests, dev) and JetStreamEventPublisher
// (services/common/jetstream_event_publisher.h). Callbacks are delivered on the dispatcher,
// never inside Publish().

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "sidecar/event/dispatcher.h"

namespace sidecar::services {

inline constexpr std::string_view kEventsStream = "EVENTS";
inline constexpr std::string_view kEventsSubjects = "evt.>";
inline constexpr std::string_view kEventContentType = "application/protobuf";

struct Event {
  std::string subject;   // evt.<service>.v1.<event>
  std::string event_id;  // also the Nats-Msg-Id header
  std::string data;      // the serialized <Event>Event
  std::vector<std::pair<std::string, std::string>> headers;  // Content-Type etc. (not Nats-Msg-Id)
};

// "evt.<service>.v1.<event>".
std::string EventSubject(std::string_view service, std::string_view event_name);

// A deterministic event id: "ev_" + hex16(service ":" event ":" material). `material` must name
// the occurrence uniquely (a tx_id, "<key>:<version>", ...): then a retried publish of the same
// occurrence carries the same Nats-Msg-Id and the stream drops the duplicate, and no clock or
// random source is needed (§0.6).
std::string MakeEventId(std::string_view service, std::string_view event_name,
                        std::string_view material);

// Fills `message`'s event_id and occurred_at (unix ms) fields and wraps it as an Event with
// Content-Type: application/protobuf. INTERNAL if the message lacks those fields (a proto bug).
absl::StatusOr<Event> MakeEvent(std::string_view service, std::string_view event_name,
                                std::string event_id, int64_t occurred_at_ms,
                                google::protobuf::Message& message);

class EventPublisher {
 public:
  using Done = absl::AnyInvocable<void(absl::Status) &&>;
  virtual ~EventPublisher() = default;
  // Publishes after the caller's commit. `done` (may be null) gets the stream's answer; a port
  // does not fail its request on a publish error (the state change already happened), it counts
  // and logs it.
  virtual void Publish(Event event, Done done) = 0;
};

// Keeps events in order; optionally fails every publish (to test the ports' error path).
class InMemoryEventPublisher final : public EventPublisher {
 public:
  explicit InMemoryEventPublisher(event::Dispatcher& dispatcher) : dispatcher_(dispatcher) {}

  void Publish(Event event, Done done) override;

  const std::vector<Event>& events() const { return events_; }
  void Clear() { events_.clear(); }
  void FailWith(absl::Status status) { fail_with_ = std::move(status); }

 private:
  event::Dispatcher& dispatcher_;
  std::vector<Event> events_;
  absl::Status fail_with_;
};

}  // namespace sidecar::services
