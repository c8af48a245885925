#pragma once
// event-bus (SERVICES.md §2.5): durable, ordered, bounded topics with producer de-duplication and
// consumer cursors. Pure logic over the StateStore; *now* from the CallContext; never blocks.
//
// Storage layout (keys under "eb/"):
//   eb/reg                  JSON array of topic names: the <=1000-topics cap (E8), one CAS key.
//   eb/cfg/<topic>          {"retention":N,"max_payload":M}: the topic exists iff this key does;
//                           written once (create-only CAS), never changed.
//   eb/h/<topic>            Head {first, hw, producers{id:[last_seq,last_offset]}, last}: the ONE
//                           key a publish writes (CAS), so offset assignment, de-dup and eviction
//                           are atomic across replicas. Absent = empty topic (first 1, hw 0).
//   eb/e/<topic>/<offset>   a serialized event_bus.v1.BusEvent (offset zero-padded to 19 digits).
//   eb/c/<topic>            {"consumer_id": cursor, ...}: the <=1000-consumers cap (E8), one key.
// As in payment, the newest event lives in the head's `last` and is written to its own key by the
// next publisher before that publisher's CAS replaces it, so a replica dying at any point never
// loses an appended event.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "event_bus/v1/event_bus.pb.h"
#include "google/protobuf/struct.pb.h"
#include "services/common/call_context.h"
#include "services/common/event_publisher.h"
#include "services/common/service.h"
#include "services/common/state_store.h"
#include "services/common/async_util.h"

namespace sidecar::services::event_bus {

// The proto package (event_bus.v1) is shadowed by this namespace.
namespace v1 = ::event_bus::v1;

inline constexpr std::string_view kServiceName = "event-bus";
inline constexpr int64_t kMaxTopics = 1000;             // E8
inline constexpr int64_t kMaxConsumersPerTopic = 1000;  // E8

struct TopicConfig {
  int32_t retention = 0;
  int32_t max_payload = 0;
  bool operator==(const TopicConfig& o) const {
    return retention == o.retention && max_payload == o.max_payload;
  }
};

struct Producer {
  int64_t last_seq = 0;
  int64_t last_offset = 0;
};

struct Head {
  int64_t first = 1;  // rule 2: oldest retained offset
  int64_t hw = 0;     // rule 2: last offset, 0 if none
  std::map<std::string, Producer> producers;
  std::optional<v1::BusEvent> last;
};

class EventBusLogic {
 public:
  EventBusLogic(StateStore& store, EventPublisher& events) : store_(store), events_(events) {}

  void CreateTopic(const CallContext& ctx, const v1::CreateTopicRequest& rq,
                   Done<v1::CreateTopicResponse> done);
  void Publish(const CallContext& ctx, const v1::PublishRequest& rq,
               Done<v1::PublishResponse> done);
  void Fetch(const CallContext& ctx, const v1::FetchRequest& rq, Done<v1::FetchResponse> done);
  void Ack(const CallContext& ctx, const v1::AckRequest& rq, Done<v1::AckResponse> done);
  void GetTopic(const CallContext& ctx, const v1::GetTopicRequest& rq,
                Done<v1::GetTopicResponse> done);

  // The `_fixture` document (README.md) -> store entries.
  static absl::StatusOr<std::vector<StoreEntry>> FixtureEntries(
      const google::protobuf::Struct& document, const CallContext& ctx);

  static constexpr int kMaxCasAttempts = 64;

 private:
  // What most actions read first: the config (existence), the head and the consumers.
  struct TopicState {
    std::optional<TopicConfig> config;
    Head head;
    uint64_t head_revision = 0;
    std::map<std::string, int64_t> consumers;
    uint64_t consumers_revision = 0;
  };
  void ReadTopic(const CallContext& ctx, const std::string& topic, bool with_consumers,
                 Done<TopicState> done);

  void RegisterTopic(CallContext ctx, std::string topic, TopicConfig config, int attempt,
                     Done<v1::CreateTopicResponse> done);
  void CreateConfig(CallContext ctx, std::string topic, TopicConfig config,
                    Done<v1::CreateTopicResponse> done);
  void AppendAttempt(CallContext ctx, v1::PublishRequest rq, int attempt,
                     Done<v1::PublishResponse> done);
  void AckAttempt(CallContext ctx, v1::AckRequest rq, int attempt, Done<v1::AckResponse> done);

  StateStore& store_;
  EventPublisher& events_;
  KeyedQueue queue_;
};

// Exposed for tests.
std::string ConfigKey(std::string_view topic);
std::string HeadKey(std::string_view topic);
std::string EventKey(std::string_view topic, int64_t offset);
std::string ConsumersKey(std::string_view topic);
inline constexpr std::string_view kRegistryKey = "eb/reg";

}  // namespace sidecar::services::event_bus
