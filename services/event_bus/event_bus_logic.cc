#include "services/event_bus/event_bus_logic.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <memory>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "services/common/errors.h"
#include "services/common/jcs.h"
#include "services/common/strings_internal.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::event_bus {
namespace {

using nlohmann::json;

constexpr int32_t kDefaultRetention = 10000;   // rule 1: 0 -> 10000
constexpr int32_t kDefaultMaxPayload = 4096;   // rule 1: 0 -> 4096
constexpr int32_t kDefaultMaxEvents = 10;      // rule 4: 0 -> 10
constexpr std::string_view kIdClass = "A-Za-z0-9_.-";

const Pattern& TopicPattern() {
  static const Pattern* p = new Pattern("[a-z0-9][a-z0-9_.-]{0,63}");
  return *p;
}

absl::Status CheckTopic(std::string_view topic) {
  StringSpec spec;
  spec.required = true;
  spec.min_len = 1;
  spec.max_len = 64;
  spec.pattern = &TopicPattern();
  return CheckString("topic", topic, spec);
}

absl::Status CheckId(std::string_view field, std::string_view id) {
  StringSpec spec;
  spec.required = true;
  spec.min_len = 1;
  spec.max_len = 64;
  spec.char_class = kIdClass;
  return CheckString(field, id, spec);
}

absl::Status CheckEventType(std::string_view type) {
  StringSpec spec;
  spec.required = true;
  spec.min_len = 1;
  spec.max_len = 48;
  spec.char_class = "a-z0-9_.";
  return CheckString("event_type", type, spec);
}

// Rule 1 ranges after the 0 defaults.
absl::StatusOr<TopicConfig> ResolveConfig(int32_t retention, int32_t max_payload) {
  TopicConfig c;
  c.retention = retention == 0 ? kDefaultRetention : retention;
  RETURN_IF_ERROR(CheckInt("retention_max_events", c.retention, 100, 100000));
  c.max_payload = max_payload == 0 ? kDefaultMaxPayload : max_payload;
  RETURN_IF_ERROR(CheckInt("max_payload_bytes", c.max_payload, 1, 16384));
  return c;
}

absl::Status Corrupt(std::string_view what) {
  return Internal(absl::StrCat("stored event-bus ", Av(what), " does not decode"));
}

std::string EncodeConfig(const TopicConfig& c) {
  return json{{"retention", c.retention}, {"max_payload", c.max_payload}}.dump();
}

absl::StatusOr<TopicConfig> DecodeConfig(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return Corrupt("topic config");
  return TopicConfig{j.value("retention", 0), j.value("max_payload", 0)};
}

std::string EncodeHead(const Head& h) {
  json producers = json::object();
  for (const auto& [id, p] : h.producers) producers[id] = json::array({p.last_seq, p.last_offset});
  return json{{"first", h.first},
              {"hw", h.hw},
              {"producers", producers},
              {"last", h.last ? json(absl::Base64Escape(h.last->SerializeAsString()))
                              : json(nullptr)}}
      .dump();
}

absl::StatusOr<Head> DecodeHead(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return Corrupt("topic head");
  Head h;
  h.first = j.value("first", int64_t{1});
  h.hw = j.value("hw", int64_t{0});
  if (j.contains("producers") && j["producers"].is_object()) {
    for (const auto& [id, p] : j["producers"].items()) {
      if (!p.is_array() || p.size() != 2) return Corrupt("producer");
      h.producers[id] = Producer{p[0].get<int64_t>(), p[1].get<int64_t>()};
    }
  }
  if (j.contains("last") && j["last"].is_string()) {
    std::string bytes;
    v1::BusEvent e;
    if (!absl::Base64Unescape(j["last"].get<std::string>(), &bytes) || !e.ParseFromString(bytes)) {
      return Corrupt("last event");
    }
    h.last = std::move(e);
  }
  return h;
}

std::string EncodeConsumers(const std::map<std::string, int64_t>& c) {
  json j = json::object();
  for (const auto& [id, cursor] : c) j[id] = cursor;
  return j.dump();
}

absl::StatusOr<std::map<std::string, int64_t>> DecodeConsumers(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return Corrupt("consumers");
  std::map<std::string, int64_t> c;
  for (const auto& [id, cursor] : j.items()) {
    if (!cursor.is_number_integer()) return Corrupt("consumer cursor");
    c[id] = cursor.get<int64_t>();
  }
  return c;
}

using GetResult = absl::StatusOr<std::optional<StoreEntry>>;

}  // namespace

std::string ConfigKey(std::string_view topic) { return absl::StrCat("eb/cfg/", Av(topic)); }
std::string HeadKey(std::string_view topic) { return absl::StrCat("eb/h/", Av(topic)); }
std::string ConsumersKey(std::string_view topic) { return absl::StrCat("eb/c/", Av(topic)); }
std::string EventKey(std::string_view topic, int64_t offset) {
  char padded[24];
  std::snprintf(padded, sizeof(padded), "%019lld", static_cast<long long>(offset));
  return absl::StrCat("eb/e/", Av(topic), "/", padded);
}

// ---- create_topic ----

void EventBusLogic::CreateTopic(const CallContext& ctx, const v1::CreateTopicRequest& rq,
                                Done<v1::CreateTopicResponse> done) {
  absl::Status s = CheckTopic(rq.topic());
  absl::StatusOr<TopicConfig> config = TopicConfig{};
  if (s.ok()) {
    config = ResolveConfig(rq.retention_max_events(), rq.max_payload_bytes());
    s = config.status();
  }
  if (s.ok()) s = ctx.AuthorizeWrite();  // E3: service/admin
  if (!s.ok()) return std::move(done)(s);
  const std::string topic = rq.topic();
  store_.Get(ConfigKey(topic), ctx.now_ms(),
             [this, ctx, topic, config = *config, done = std::move(done)](GetResult got) mutable {
               if (!got.ok()) return std::move(done)(got.status());
               if (got->has_value()) {
                 absl::StatusOr<TopicConfig> existing = DecodeConfig((*got)->value);
                 if (!existing.ok()) return std::move(done)(existing.status());
                 // Rule 1 / N8: identical after defaults -> created=false, else a conflict.
                 if (!(*existing == config)) return std::move(done)(AlreadyExists("topic"));
                 v1::CreateTopicResponse r;
                 r.set_topic(topic);
                 r.set_created(false);
                 return std::move(done)(std::move(r));
               }
               queue_.Run(std::string(kRegistryKey),
                          [this, ctx, topic, config,
                           done = std::move(done)](KeyedQueue::Release release) mutable {
                            RegisterTopic(ctx, topic, config, 1,
                                          [release = std::move(release), done = std::move(done)](
                                              absl::StatusOr<v1::CreateTopicResponse> r) mutable {
                                            std::move(release)();
                                            std::move(done)(std::move(r));
                                          });
                          });
             });
}

void EventBusLogic::RegisterTopic(CallContext ctx, std::string topic, TopicConfig config,
                                  int attempt, Done<v1::CreateTopicResponse> done) {
  store_.Get(
      std::string(kRegistryKey), ctx.now_ms(),
      [this, ctx, topic, config, attempt, done = std::move(done)](GetResult got) mutable {
        if (!got.ok()) return std::move(done)(got.status());
        json names = json::array();
        if (got->has_value()) {
          names = json::parse((*got)->value, nullptr, false);
          if (!names.is_array()) return std::move(done)(Corrupt("topic registry"));
        }
        if (std::find(names.begin(), names.end(), json(topic)) != names.end()) {
          // Registered by an earlier create that stopped before writing its config.
          return CreateConfig(ctx, topic, config, std::move(done));
        }
        if (static_cast<int64_t>(names.size()) >= kMaxTopics) {
          return std::move(done)(LimitExceeded(kMaxTopics, "topic limit reached"));
        }
        names.push_back(topic);
        const uint64_t revision = got->has_value() ? (*got)->revision : 0;
        store_.CompareAndSet(
            std::string(kRegistryKey), names.dump(), revision, ctx.now_ms(), {},
            [this, ctx, topic, config, attempt,
             done = std::move(done)](absl::StatusOr<uint64_t> w) mutable {
              if (w.ok()) return CreateConfig(ctx, topic, config, std::move(done));
              if (!IsConflict(w.status()) || attempt >= kMaxCasAttempts) {
                return std::move(done)(IsConflict(w.status()) ? Unavailable("") : w.status());
              }
              RegisterTopic(ctx, topic, config, attempt + 1, std::move(done));
            });
      });
}

void EventBusLogic::CreateConfig(CallContext ctx, std::string topic, TopicConfig config,
                                 Done<v1::CreateTopicResponse> done) {
  store_.CompareAndSet(
      ConfigKey(topic), EncodeConfig(config), 0, ctx.now_ms(), {},
      [this, ctx, topic, config, done = std::move(done)](absl::StatusOr<uint64_t> w) mutable {
        v1::CreateTopicResponse r;
        r.set_topic(topic);
        if (w.ok()) {
          r.set_created(true);
          return std::move(done)(std::move(r));
        }
        if (!IsConflict(w.status())) return std::move(done)(w.status());
        // Another replica created it meanwhile: answer as if it had been there.
        store_.Get(ConfigKey(topic), ctx.now_ms(),
                   [config, r = std::move(r), done = std::move(done)](GetResult got) mutable {
                     if (!got.ok()) return std::move(done)(got.status());
                     if (!got->has_value()) return std::move(done)(Unavailable(""));
                     absl::StatusOr<TopicConfig> existing = DecodeConfig((*got)->value);
                     if (!existing.ok()) return std::move(done)(existing.status());
                     if (!(*existing == config)) return std::move(done)(AlreadyExists("topic"));
                     r.set_created(false);
                     std::move(done)(std::move(r));
                   });
      });
}

// ---- reads shared by the actions ----

void EventBusLogic::ReadTopic(const CallContext& ctx, const std::string& topic,
                              bool with_consumers, Done<TopicState> done) {
  struct Reads {
    GetResult config = absl::UnknownError("unset");
    GetResult head = absl::UnknownError("unset");
    GetResult consumers = GetResult(std::optional<StoreEntry>());
  };
  auto reads = std::make_shared<Reads>();
  auto barrier = Barrier::Create(with_consumers ? 3 : 2, [reads, done = std::move(done)](
                                                             absl::Status) mutable {
    for (GetResult* r : {&reads->config, &reads->head, &reads->consumers}) {
      if (!r->ok()) return std::move(done)(r->status());
    }
    TopicState state;
    if (reads->config->has_value()) {
      absl::StatusOr<TopicConfig> c = DecodeConfig((*reads->config)->value);
      if (!c.ok()) return std::move(done)(c.status());
      state.config = *c;
    }
    if (reads->head->has_value()) {
      absl::StatusOr<Head> h = DecodeHead((*reads->head)->value);
      if (!h.ok()) return std::move(done)(h.status());
      state.head = std::move(*h);
      state.head_revision = (*reads->head)->revision;
    }
    if (reads->consumers->has_value()) {
      absl::StatusOr<std::map<std::string, int64_t>> c =
          DecodeConsumers((*reads->consumers)->value);
      if (!c.ok()) return std::move(done)(c.status());
      state.consumers = std::move(*c);
      state.consumers_revision = (*reads->consumers)->revision;
    }
    std::move(done)(std::move(state));
  });
  store_.Get(ConfigKey(topic), ctx.now_ms(), [reads, barrier](GetResult r) {
    reads->config = std::move(r);
    barrier->Arrive(absl::OkStatus());
  });
  store_.Get(HeadKey(topic), ctx.now_ms(), [reads, barrier](GetResult r) {
    reads->head = std::move(r);
    barrier->Arrive(absl::OkStatus());
  });
  if (with_consumers) {
    store_.Get(ConsumersKey(topic), ctx.now_ms(), [reads, barrier](GetResult r) {
      reads->consumers = std::move(r);
      barrier->Arrive(absl::OkStatus());
    });
  }
}

// ---- publish ----

void EventBusLogic::Publish(const CallContext& ctx, const v1::PublishRequest& rq,
                            Done<v1::PublishResponse> done) {
  absl::Status s = CheckTopic(rq.topic());
  if (!s.ok()) return std::move(done)(s);
  // E6: the payload bound is the stored topic's, checked among the fields; so read it first.
  store_.Get(ConfigKey(rq.topic()), ctx.now_ms(),
             [this, ctx, rq, done = std::move(done)](GetResult got) mutable {
               if (!got.ok()) return std::move(done)(got.status());
               std::optional<TopicConfig> config;
               if (got->has_value()) {
                 absl::StatusOr<TopicConfig> c = DecodeConfig((*got)->value);
                 if (!c.ok()) return std::move(done)(c.status());
                 config = *c;
               }
               absl::Status s = CheckId("producer_id", rq.producer_id());
               if (s.ok()) {
                 s = CheckInt("producer_seq", rq.producer_seq(), 1,
                              std::numeric_limits<int64_t>::max());  // rule 3
               }
               if (s.ok()) s = CheckEventType(rq.event_type());
               if (s.ok() && config) {
                 absl::StatusOr<size_t> size = JcsSize(rq.payload());
                 if (!size.ok()) {
                   s = InvalidArgument("payload", reason::kType);
                 } else if (*size > static_cast<size_t>(config->max_payload)) {
                   s = InvalidArgument("payload", reason::kTooLong);  // N9
                 }
               }
               if (s.ok()) s = ctx.AuthorizeWrite();  // E3
               if (s.ok() && !config) s = NotFound("topic", "topic not found");
               if (!s.ok()) return std::move(done)(s);
               queue_.Run(HeadKey(rq.topic()),
                          [this, ctx, rq, done = std::move(done)](
                              KeyedQueue::Release release) mutable {
                            AppendAttempt(ctx, std::move(rq), 1,
                                          [release = std::move(release), done = std::move(done)](
                                              absl::StatusOr<v1::PublishResponse> r) mutable {
                                            std::move(release)();
                                            std::move(done)(std::move(r));
                                          });
                          });
             });
}

void EventBusLogic::AppendAttempt(CallContext ctx, v1::PublishRequest rq, int attempt,
                                  Done<v1::PublishResponse> done) {
  const std::string topic = rq.topic();
  ReadTopic(ctx, topic, /*with_consumers=*/false,
            [this, ctx, rq = std::move(rq), attempt,
             done = std::move(done)](absl::StatusOr<TopicState> state) mutable {
              if (!state.ok()) return std::move(done)(state.status());
              if (!state->config) return std::move(done)(NotFound("topic", "topic not found"));
              Head& head = state->head;
              auto producer = head.producers.find(rq.producer_id());
              if (producer != head.producers.end()) {
                // Rule 3 / E4: a resend of the last seq is a duplicate, whatever its content.
                if (rq.producer_seq() == producer->second.last_seq) {
                  v1::PublishResponse r;
                  r.set_offset(producer->second.last_offset);
                  r.set_duplicate(true);
                  return std::move(done)(std::move(r));
                }
                if (rq.producer_seq() < producer->second.last_seq) {
                  return std::move(done)(FailedPrecondition("sequence_regression", {},
                                                            "producer_seq went backwards"));
                }
              }
              const int64_t old_first = head.first;
              std::optional<v1::BusEvent> previous = head.last;
              v1::BusEvent event;
              event.set_offset(head.hw + 1);  // rule 2
              event.set_producer_id(rq.producer_id());
              event.set_event_type(rq.event_type());
              *event.mutable_payload() = rq.payload();
              event.set_published_at(ctx.now_ms());
              head.hw = event.offset();
              head.first = std::max(head.first, head.hw - state->config->retention + 1);
              head.producers[rq.producer_id()] = Producer{rq.producer_seq(), event.offset()};
              head.last = event;
              auto write_head = [this, ctx, rq, attempt, old_first, new_first = head.first,
                                 value = EncodeHead(head), revision = state->head_revision,
                                 event = std::move(event),
                                 done = std::move(done)](absl::Status materialized) mutable {
                if (!materialized.ok()) return std::move(done)(materialized);
                store_.CompareAndSet(
                    HeadKey(rq.topic()), std::move(value), revision, ctx.now_ms(), {},
                    [this, ctx, rq, attempt, old_first, new_first, event = std::move(event),
                     done = std::move(done)](absl::StatusOr<uint64_t> w) mutable {
                      if (!w.ok()) {
                        if (!IsConflict(w.status())) return std::move(done)(w.status());
                        if (attempt >= kMaxCasAttempts) {
                          return std::move(done)(Unavailable("", {}, "topic contention, retry"));
                        }
                        return AppendAttempt(ctx, std::move(rq), attempt + 1, std::move(done));
                      }
                      // Evicted events are unreachable now (reads start at first_offset);
                      // deleting their keys only reclaims space, so errors are ignored.
                      for (int64_t o = old_first; o < new_first; ++o) {
                        store_.Delete(EventKey(rq.topic(), o), 0, [](absl::Status) {});
                      }
                      v1::EventAppendedEvent appended;
                      appended.set_topic(rq.topic());
                      appended.set_offset(event.offset());
                      appended.set_event_type(event.event_type());
                      absl::StatusOr<Event> e = MakeEvent(
                          kServiceName, "event_appended",
                          MakeEventId(kServiceName, "event_appended",
                                      absl::StrCat(rq.topic(), ":", event.offset())),
                          ctx.now_ms(), appended);
                      if (e.ok()) events_.Publish(std::move(*e), nullptr);
                      v1::PublishResponse r;
                      r.set_offset(event.offset());
                      r.set_duplicate(false);
                      std::move(done)(std::move(r));
                    });
              };
              // The previous newest event leaves the head with this write: persist it first.
              if (previous && previous->offset() >= head.first) {
                store_.Put(EventKey(rq.topic(), previous->offset()), previous->SerializeAsString(),
                           {}, [write_head = std::move(write_head)](
                                   absl::StatusOr<uint64_t> w) mutable {
                             std::move(write_head)(w.status());
                           });
              } else {
                write_head(absl::OkStatus());
              }
            });
}

// ---- fetch ----

void EventBusLogic::Fetch(const CallContext& ctx, const v1::FetchRequest& rq,
                          Done<v1::FetchResponse> done) {
  absl::Status s = CheckTopic(rq.topic());
  if (s.ok()) s = CheckId("consumer_id", rq.consumer_id());
  if (s.ok()) s = CheckInt("max_events", rq.max_events(), 0, 100);  // rule 4
  if (s.ok() && rq.has_from_offset()) {
    s = CheckInt("from_offset", rq.from_offset(), 0, std::numeric_limits<int64_t>::max());  // E1
  }
  // E3: any principal (presence was step 1).
  if (!s.ok()) return std::move(done)(s);
  ReadTopic(ctx, rq.topic(), /*with_consumers=*/true,
            [this, ctx, rq, done = std::move(done)](absl::StatusOr<TopicState> state) mutable {
              if (!state.ok()) return std::move(done)(state.status());
              if (!state->config) return std::move(done)(NotFound("topic", "topic not found"));
              const Head& head = state->head;
              // Rule 4: from_offset, else the cursor, else first_offset; never moves a cursor.
              int64_t start = head.first;
              if (rq.has_from_offset()) {
                start = rq.from_offset();
              } else if (auto c = state->consumers.find(rq.consumer_id());
                         c != state->consumers.end()) {
                start = c->second;
              }
              int64_t skipped = 0;
              if (start < head.first) {
                skipped = head.first - start;
                start = head.first;
              }
              const int64_t max = rq.max_events() == 0 ? kDefaultMaxEvents : rq.max_events();
              const int64_t end = std::min(head.hw, start + max - 1);
              struct Collected {
                std::map<int64_t, v1::BusEvent> events;
                absl::Status error;
              };
              auto collected = std::make_shared<Collected>();
              std::vector<int64_t> to_read;
              for (int64_t o = start; o <= end; ++o) {
                if (head.last && head.last->offset() == o) {
                  collected->events[o] = *head.last;
                } else {
                  to_read.push_back(o);
                }
              }
              auto barrier = Barrier::Create(
                  static_cast<int>(to_read.size()),
                  [collected, start, hw = head.hw, skipped,
                   done = std::move(done)](absl::Status error) mutable {
                    if (!error.ok()) return std::move(done)(error);
                    if (!collected->error.ok()) return std::move(done)(collected->error);
                    v1::FetchResponse r;
                    for (auto& [offset, e] : collected->events) *r.add_events() = std::move(e);
                    // Rule 4 / E5: last returned + 1, or the (adjusted) start.
                    r.set_next_offset(r.events_size() == 0
                                          ? start
                                          : r.events(r.events_size() - 1).offset() + 1);
                    r.set_skipped(skipped);
                    r.set_high_watermark(hw);
                    std::move(done)(std::move(r));
                  });
              for (int64_t o : to_read) {
                store_.Get(EventKey(rq.topic(), o), ctx.now_ms(),
                           [collected, barrier, o](GetResult got) {
                             if (!got.ok()) return barrier->Arrive(got.status());
                             // A retained offset without a key only arises from a fixture that
                             // left gaps; it is skipped.
                             if (got->has_value()) {
                               v1::BusEvent e;
                               if (!e.ParseFromString((*got)->value)) {
                                 collected->error = Corrupt("event");
                               } else {
                                 collected->events[o] = std::move(e);
                               }
                             }
                             barrier->Arrive(absl::OkStatus());
                           });
              }
            });
}

// ---- ack ----

void EventBusLogic::Ack(const CallContext& ctx, const v1::AckRequest& rq,
                        Done<v1::AckResponse> done) {
  absl::Status s = CheckTopic(rq.topic());
  if (s.ok()) s = CheckId("consumer_id", rq.consumer_id());
  if (s.ok()) s = CheckInt("offset", rq.offset(), 0, std::numeric_limits<int64_t>::max());  // E2
  if (s.ok()) s = ctx.AuthorizeWrite();  // E3
  if (!s.ok()) return std::move(done)(s);
  queue_.Run(ConsumersKey(rq.topic()),
             [this, ctx, rq, done = std::move(done)](KeyedQueue::Release release) mutable {
               AckAttempt(ctx, rq, 1,
                          [release = std::move(release), done = std::move(done)](
                              absl::StatusOr<v1::AckResponse> r) mutable {
                            std::move(release)();
                            std::move(done)(std::move(r));
                          });
             });
}

void EventBusLogic::AckAttempt(CallContext ctx, v1::AckRequest rq, int attempt,
                               Done<v1::AckResponse> done) {
  const std::string topic = rq.topic();
  ReadTopic(
      ctx, topic, /*with_consumers=*/true,
      [this, ctx, rq = std::move(rq), attempt,
       done = std::move(done)](absl::StatusOr<TopicState> state) mutable {
        if (!state.ok()) return std::move(done)(state.status());
        if (!state->config) return std::move(done)(NotFound("topic", "topic not found"));
        if (rq.offset() > state->head.hw) {
          return std::move(done)(FailedPrecondition("beyond_high_watermark", {},
                                                    "offset beyond the high watermark"));
        }
        auto& consumers = state->consumers;
        auto it = consumers.find(rq.consumer_id());
        int64_t cursor = 0;
        if (it != consumers.end()) {
          // Rule 5: never backwards; a lower ack is a no-op.
          cursor = std::max(it->second, rq.offset() + 1);
          if (cursor == it->second) {
            v1::AckResponse r;
            r.set_cursor(cursor);
            return std::move(done)(std::move(r));
          }
        } else {
          if (static_cast<int64_t>(consumers.size()) >= kMaxConsumersPerTopic) {
            return std::move(done)(LimitExceeded(kMaxConsumersPerTopic, "consumer limit reached"));
          }
          cursor = std::max(state->head.first, rq.offset() + 1);  // E2
        }
        consumers[rq.consumer_id()] = cursor;
        store_.CompareAndSet(
            ConsumersKey(rq.topic()), EncodeConsumers(consumers), state->consumers_revision,
            ctx.now_ms(), {},
            [this, ctx, rq, attempt, cursor,
             done = std::move(done)](absl::StatusOr<uint64_t> w) mutable {
              if (w.ok()) {
                v1::AckResponse r;
                r.set_cursor(cursor);
                return std::move(done)(std::move(r));
              }
              if (!IsConflict(w.status())) return std::move(done)(w.status());
              if (attempt >= kMaxCasAttempts) {
                return std::move(done)(Unavailable("", {}, "consumer contention, retry"));
              }
              AckAttempt(ctx, std::move(rq), attempt + 1, std::move(done));
            });
      });
}

// ---- get_topic ----

void EventBusLogic::GetTopic(const CallContext& ctx, const v1::GetTopicRequest& rq,
                             Done<v1::GetTopicResponse> done) {
  absl::Status s = CheckTopic(rq.topic());
  if (!s.ok()) return std::move(done)(s);
  ReadTopic(ctx, rq.topic(), /*with_consumers=*/true,
            [rq, done = std::move(done)](absl::StatusOr<TopicState> state) mutable {
              if (!state.ok()) return std::move(done)(state.status());
              if (!state->config) return std::move(done)(NotFound("topic", "topic not found"));
              v1::GetTopicResponse r;
              r.set_topic(rq.topic());
              r.set_retention_max_events(state->config->retention);
              r.set_first_offset(state->head.first);
              r.set_high_watermark(state->head.hw);
              // Rule 5 / N10: by consumer_id (std::map order = byte = code point order).
              for (const auto& [id, cursor] : state->consumers) {
                v1::ConsumerInfo* c = r.add_consumers();
                c->set_consumer_id(id);
                c->set_cursor(cursor);
                c->set_lag(std::max<int64_t>(0, state->head.hw - cursor + 1));
              }
              std::move(done)(std::move(r));
            });
}

// ---- fixtures ----

absl::StatusOr<std::vector<StoreEntry>> EventBusLogic::FixtureEntries(
    const google::protobuf::Struct& document, const CallContext& ctx) {
  std::vector<StoreEntry> entries;
  auto add = [&entries](std::string key, std::string value) {
    StoreEntry e;
    e.key = std::move(key);
    e.value = std::move(value);
    entries.push_back(std::move(e));
  };
  auto number = [](const google::protobuf::Struct& s, const std::string& name) -> int64_t {
    auto it = s.fields().find(name);
    return it == s.fields().end() ? 0 : static_cast<int64_t>(it->second.number_value());
  };
  auto string = [](const google::protobuf::Struct& s, const std::string& name) -> std::string {
    auto it = s.fields().find(name);
    return it == s.fields().end() ? "" : it->second.string_value();
  };
  json names = json::array();
  auto topics_it = document.fields().find("topics");
  if (topics_it != document.fields().end()) {
    const auto& topics = topics_it->second.list_value().values();
    for (int i = 0; i < topics.size(); ++i) {
      const std::string field = IndexField("topics", i);
      if (!topics[i].has_struct_value()) return InvalidArgument(field, reason::kType);
      const google::protobuf::Struct& t = topics[i].struct_value();
      const std::string topic = string(t, "topic");
      RETURN_IF_ERROR(CheckTopic(topic));
      ASSIGN_OR_RETURN(TopicConfig config,
                       ResolveConfig(static_cast<int32_t>(number(t, "retention_max_events")),
                                     static_cast<int32_t>(number(t, "max_payload_bytes"))));
      names.push_back(topic);
      add(ConfigKey(topic), EncodeConfig(config));
      Head head;
      head.first = t.fields().count("first_offset") ? number(t, "first_offset") : 1;
      head.hw = std::max<int64_t>(head.first - 1, number(t, "high_watermark"));
      if (auto it = t.fields().find("events"); it != t.fields().end()) {
        for (const auto& ev : it->second.list_value().values()) {
          const google::protobuf::Struct& e = ev.struct_value();
          v1::BusEvent event;
          event.set_offset(number(e, "offset"));
          event.set_producer_id(string(e, "producer_id"));
          event.set_event_type(string(e, "event_type"));
          if (auto p = e.fields().find("payload"); p != e.fields().end()) {
            *event.mutable_payload() = p->second.struct_value();
          }
          const std::string at = string(e, "published_at");
          if (!at.empty()) {
            absl::StatusOr<int64_t> ms = ParseRequestTime(at);
            if (!ms.ok()) return InvalidArgument(field + ".events.published_at", reason::kMalformed);
            event.set_published_at(*ms);
          }
          head.hw = std::max(head.hw, event.offset());
          add(EventKey(topic, event.offset()), event.SerializeAsString());
        }
      }
      if (auto it = t.fields().find("producers"); it != t.fields().end()) {
        for (const auto& pv : it->second.list_value().values()) {
          const google::protobuf::Struct& p = pv.struct_value();
          head.producers[string(p, "producer_id")] =
              Producer{number(p, "last_seq"), number(p, "last_offset")};
        }
      }
      add(HeadKey(topic), EncodeHead(head));
      if (auto it = t.fields().find("consumers"); it != t.fields().end()) {
        std::map<std::string, int64_t> consumers;
        for (const auto& cv : it->second.list_value().values()) {
          const google::protobuf::Struct& c = cv.struct_value();
          consumers[string(c, "consumer_id")] = number(c, "cursor");
        }
        add(ConsumersKey(topic), EncodeConsumers(consumers));
      }
    }
  }
  add(std::string(kRegistryKey), names.dump());
  return entries;
}

}  // namespace sidecar::services::event_bus
