// event-bus (SERVICES.md §2.5) through its HandlerRegistry: the examples, every rule, bad input,
// caps, events and fixtures.
#include "services/event_bus/event_bus_service.h"

#include <atomic>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "event_bus/v1/event_bus.pb.h"
#include "gtest/gtest.h"
#include "services/event_bus/event_bus_logic.h"
#include "tests/services/common/port_harness.h"

namespace sidecar::services::testing::event_bus_port {
namespace {

constexpr std::string_view kTopic = "guild.announcements";

Headers Service(std::string_view name = "story-teller") {
  return Headers{absl::StrCat("service:", std::string(name)), std::string(kSpecTime)};
}

// The "Given" of §2.5: guild.announcements retaining 1200..1206 (1200-1202 by warden-3 at 11:58
// with payload {"n": offset}), story-teller-1 at last_seq 41, hall-board's cursor at 1195.
Json GivenTopic(int64_t high_watermark) {
  Json events = Json::array();
  for (int64_t o = 1200; o <= high_watermark; ++o) {
    bool warden = o <= 1202;
    events.push_back({{"offset", o},
                      {"producer_id", warden ? "warden-3" : "story-teller-1"},
                      {"event_type", "notice"},
                      {"payload", {{"n", o}}},
                      {"published_at", warden ? "2025-11-20T11:58:00.000Z" : "2025-11-20T11:59:00.000Z"}});
  }
  return Json{{"topics", Json::array({{{"topic", kTopic},
                                       {"first_offset", 1200},
                                       {"high_watermark", high_watermark},
                                       {"events", events},
                                       {"producers", Json::array({{{"producer_id", "story-teller-1"}, {"last_seq", 41}, {"last_offset", 1206}}})},
                                       {"consumers", Json::array({{{"consumer_id", "hall-board"}, {"cursor", 1195}}})}}})}};
}

class EventBusTest : public ::testing::Test {
 protected:
  EventBusTest() : h_("event-bus", MakeEventBusService) {}

  Reply Create(std::string_view topic, int retention = 0, int max_payload = 0, Headers headers = {}) {
    return h_.Call("create_topic",
                   Json{{"topic", topic}, {"retention_max_events", retention}, {"max_payload_bytes", max_payload}}.dump(),
                   headers);
  }
  Reply Publish(std::string_view topic, std::string_view producer, int64_t seq, Json payload = Json::object(),
                std::string_view type = "notice", Headers headers = Service()) {
    return h_.Call("publish", Json{{"topic", topic}, {"producer_id", producer}, {"producer_seq", seq},
                                   {"event_type", type}, {"payload", std::move(payload)}}.dump(),
                   headers);
  }
  Reply Fetch(Json body) { return h_.Call("fetch", body.dump()); }
  Reply Ack(std::string_view topic, std::string_view consumer, int64_t offset, Headers headers = {}) {
    return h_.Call("ack", Json{{"topic", topic}, {"consumer_id", consumer}, {"offset", offset}}.dump(), headers);
  }
  Reply GetTopic(std::string_view topic) { return h_.Call("get_topic", Json{{"topic", topic}}.dump()); }
  static Json Invalid(std::string_view field, std::string_view reason) {
    return Json{{"error", {{"code", "INVALID_ARGUMENT"}, {"details", {{"field", field}, {"reason", reason}}}}}};
  }
  void Put(std::string key, std::string value) {
    auto r = h_.loop().Await<absl::StatusOr<uint64_t>>(
        [&](auto done) { h_.store().Put(key, value, {}, std::move(done)); });
    ASSERT_TRUE(r && r->ok());
  }

  PortHarness h_;
};

TEST_F(EventBusTest, RegistersEveryActionOfTheSection) {
  EXPECT_TRUE(VerifyRegistry("event-bus", h_.registry()).ok()) << VerifyRegistry("event-bus", h_.registry());
}

// ---- SERVICES.md §2.5 examples ----

TEST_F(EventBusTest, Example1Publish) {
  ASSERT_TRUE(h_.Fixture(GivenTopic(1206)).ok());
  Reply r = h_.Call("publish", R"({"topic":"guild.announcements","producer_id":"story-teller-1","producer_seq":42,"event_type":"notice","payload":{"text":"The Ossuary Gate opens at dusk."}})",
                    Service());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, Json::parse(R"({"offset":1207,"duplicate":false})"));
}

TEST_F(EventBusTest, Example2FetchAcrossEvictionAfterExample1) {
  ASSERT_TRUE(h_.Fixture(GivenTopic(1206)).ok());
  ASSERT_TRUE(Publish(kTopic, "story-teller-1", 42, {{"text", "The Ossuary Gate opens at dusk."}}).ok());
  Reply r = h_.Call("fetch", R"({"topic":"guild.announcements","consumer_id":"hall-board","max_events":3})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, Json::parse(R"({"events":[{"offset":1200,"producer_id":"warden-3","event_type":"notice","payload":{"n":1200},"published_at":"2025-11-20T11:58:00.000Z"},{"offset":1201,"producer_id":"warden-3","event_type":"notice","payload":{"n":1201},"published_at":"2025-11-20T11:58:00.000Z"},{"offset":1202,"producer_id":"warden-3","event_type":"notice","payload":{"n":1202},"published_at":"2025-11-20T11:58:00.000Z"}],"next_offset":1203,"skipped":5,"high_watermark":1207})"));
}

// ---- rule 1: topics ----

TEST_F(EventBusTest, CreateTopicDefaultsIdenticalReplayAndConflict) {
  EXPECT_EQ(Create("feed").body, Json::parse(R"({"topic":"feed","created":true})"));
  // Compared after defaults (N8): explicit defaults are identical.
  EXPECT_EQ(Create("feed", 10000, 4096).body, Json::parse(R"({"topic":"feed","created":false})"));
  EXPECT_EQ(Create("feed", 100).body, Json::parse(R"({"error":{"code":"ALREADY_EXISTS","details":{"field":"topic"}}})"));
  EXPECT_EQ(GetTopic("feed").body, Json::parse(R"({"topic":"feed","retention_max_events":10000,"first_offset":1,"high_watermark":0,"consumers":[]})"));
  EXPECT_EQ(Create("x", 0, 0, AsPlayer()).code(), "PERMISSION_DENIED");
}

TEST_F(EventBusTest, CreateTopicFieldChecks) {
  EXPECT_EQ(Create("").body, Invalid("topic", "required"));
  EXPECT_EQ(Create(std::string(65, 'a')).body, Invalid("topic", "too_long"));
  EXPECT_EQ(Create("_feed").body, Invalid("topic", "pattern"));
  EXPECT_EQ(Create("Feed").body, Invalid("topic", "pattern"));
  EXPECT_EQ(Create("feed", 99).body, Invalid("retention_max_events", "out_of_range"));
  EXPECT_EQ(Create("feed", 100001).body, Invalid("retention_max_events", "out_of_range"));
  EXPECT_EQ(Create("feed", 100, 16385).body, Invalid("max_payload_bytes", "out_of_range"));
  EXPECT_EQ(Create("feed", 100, -1).body, Invalid("max_payload_bytes", "out_of_range"));
  // Field checks come before authorization.
  EXPECT_EQ(Create("feed", 5, 0, AsPlayer()).body, Invalid("retention_max_events", "out_of_range"));
}

TEST_F(EventBusTest, PayloadBoundIsTheStoredTopicsInJcsBytes) {
  ASSERT_TRUE(Create("small", 100, 20).ok());
  // {"t":"abcdefghijkl"} is exactly 20 bytes of JCS.
  EXPECT_TRUE(Publish("small", "p", 1, {{"t", "abcdefghijkl"}}).ok());
  EXPECT_EQ(Publish("small", "p", 2, {{"t", "abcdefghijklm"}}).body, Invalid("payload", "too_long"));
  // E6: unknown topic -> no payload check, NOT_FOUND.
  EXPECT_EQ(Publish("nope", "p", 1, {{"t", std::string(20000, 'x')}}).body,
            Json::parse(R"({"error":{"code":"NOT_FOUND","details":{"field":"topic"}}})"));
  // Order: fields, then PERMISSION_DENIED (E3), then NOT_FOUND.
  EXPECT_EQ(Publish("nope", "p", 1, {}, "notice", AsPlayer()).code(), "PERMISSION_DENIED");
  EXPECT_EQ(Publish("small", "p", 3, {}, "Notice", AsPlayer()).body, Invalid("event_type", "pattern"));
}

TEST_F(EventBusTest, PublishFieldChecks) {
  ASSERT_TRUE(Create("feed").ok());
  EXPECT_EQ(Publish("feed", "", 1).body, Invalid("producer_id", "required"));
  EXPECT_EQ(Publish("feed", std::string(65, 'p'), 1).body, Invalid("producer_id", "too_long"));
  EXPECT_EQ(Publish("feed", "p/1", 1).body, Invalid("producer_id", "pattern"));
  EXPECT_EQ(Publish("feed", "p", 0).body, Invalid("producer_seq", "out_of_range"));
  EXPECT_EQ(Publish("feed", "p", 1, {}, "").body, Invalid("event_type", "required"));
  EXPECT_EQ(Publish("feed", "p", 1, {}, std::string(49, 'e')).body, Invalid("event_type", "too_long"));
}

// ---- rule 2: offsets and retention ----

TEST_F(EventBusTest, OffsetsStartAtOneAndRetentionEvictsTheOldest) {
  ASSERT_TRUE(Create("feed", 100).ok());
  for (int i = 1; i <= 105; ++i) {
    Reply r = Publish("feed", "p", i, {{"i", i}});
    ASSERT_EQ(r.body["offset"], i) << r.body.dump();
  }
  Reply t = GetTopic("feed");
  EXPECT_EQ(t.body["first_offset"], 6);
  EXPECT_EQ(t.body["high_watermark"], 105);
  // E1: from_offset 0 is below first_offset and counts in skipped.
  Reply f = Fetch({{"topic", "feed"}, {"consumer_id", "c"}, {"max_events", 2}, {"from_offset", 0}});
  EXPECT_EQ(f.body["skipped"], 6);
  EXPECT_EQ(f.body["events"][0]["offset"], 6);
  EXPECT_EQ(f.body["events"][0]["payload"], Json::parse(R"({"i":6})"));
  EXPECT_EQ(f.body["next_offset"], 8);
  // Evicted events' keys are gone; retained ones (but the newest, in the head) are stored.
  auto evicted = h_.loop().Await<absl::StatusOr<std::optional<StoreEntry>>>(
      [&](auto done) { h_.store().Get(event_bus::EventKey("feed", 5), 0, std::move(done)); });
  ASSERT_TRUE(evicted && evicted->ok());
  EXPECT_FALSE((*evicted)->has_value());
  auto kept = h_.loop().Await<absl::StatusOr<std::optional<StoreEntry>>>(
      [&](auto done) { h_.store().Get(event_bus::EventKey("feed", 104), 0, std::move(done)); });
  ASSERT_TRUE(kept && kept->ok());
  EXPECT_TRUE((*kept)->has_value());
}

TEST_F(EventBusTest, ConcurrentPublishesGetDistinctConsecutiveOffsets) {
  ASSERT_TRUE(Create("feed").ok());
  constexpr int kN = 200;
  Method* m = h_.registry().Find("publish");
  CallContext ctx = PortHarness::Context(Service());
  std::set<int64_t> offsets;
  std::atomic<int> left{kN}, errors{0};
  absl::Notification done;
  h_.loop().dispatcher().Post([&] {
    for (int i = 0; i < kN; ++i) {
      auto rq = std::make_unique<::event_bus::v1::PublishRequest>();
      rq->set_topic("feed");
      rq->set_producer_id(absl::StrCat("producer-", i));
      rq->set_producer_seq(1);
      rq->set_event_type("notice");
      m->Invoke(ctx, std::move(rq), [&](absl::StatusOr<MessagePtr> r) {
        if (r.ok()) {
          offsets.insert(static_cast<::event_bus::v1::PublishResponse&>(**r).offset());
        } else {
          ++errors;
        }
        if (--left == 0) done.Notify();
      });
    }
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(errors.load(), 0);
  ASSERT_EQ(offsets.size(), static_cast<size_t>(kN));
  EXPECT_EQ(*offsets.begin(), 1);
  EXPECT_EQ(*offsets.rbegin(), kN);
  EXPECT_EQ(GetTopic("feed").body["high_watermark"], kN);
}

// ---- rule 3: producer de-duplication ----

TEST_F(EventBusTest, ProducerSequencesDeduplicateRejectRegressionAndAllowGaps) {
  ASSERT_TRUE(Create("feed").ok());
  EXPECT_EQ(Publish("feed", "p", 5, {{"a", 1}}).body["offset"], 1);
  h_.ClearEvents();
  // E4: same seq = duplicate with the earlier offset, whatever the content; nothing written.
  EXPECT_EQ(Publish("feed", "p", 5, {{"other", true}}, "other.type").body, Json::parse(R"({"offset":1,"duplicate":true})"));
  EXPECT_EQ(Publish("feed", "p", 4).body,
            Json::parse(R"({"error":{"code":"FAILED_PRECONDITION","details":{"reason":"sequence_regression"}}})"));
  EXPECT_TRUE(h_.Events().empty());
  EXPECT_EQ(Publish("feed", "q", 1).body["offset"], 2);  // producers are independent
  EXPECT_EQ(Publish("feed", "p", 9).body, Json::parse(R"({"offset":3,"duplicate":false})"));  // gap
  EXPECT_EQ(GetTopic("feed").body["high_watermark"], 3);
}

// ---- rule 4: fetch ----

TEST_F(EventBusTest, FetchStartsAtFromOffsetCursorOrFirstAndNeverMovesCursors) {
  ASSERT_TRUE(Create("feed").ok());
  for (int i = 1; i <= 15; ++i) ASSERT_TRUE(Publish("feed", "p", i, {{"i", i}}).ok());
  // New consumer: first_offset; max_events 0 -> 10.
  Reply f = Fetch({{"topic", "feed"}, {"consumer_id", "new"}});
  EXPECT_EQ(f.body["events"].size(), 10u);
  EXPECT_EQ(f.body["events"][0]["offset"], 1);
  EXPECT_EQ(f.body["next_offset"], 11);
  EXPECT_EQ(f.body["skipped"], 0);
  // At-least-once: the same fetch again returns the same events; no consumer was created.
  EXPECT_EQ(Fetch({{"topic", "feed"}, {"consumer_id", "new"}}).body, f.body);
  EXPECT_EQ(GetTopic("feed").body["consumers"], Json::array());
  ASSERT_TRUE(Ack("feed", "reader", 12).ok());
  Reply c = Fetch({{"topic", "feed"}, {"consumer_id", "reader"}, {"max_events", 100}});
  EXPECT_EQ(c.body["events"].size(), 3u);
  EXPECT_EQ(c.body["events"][0]["offset"], 13);
  EXPECT_EQ(c.body["next_offset"], 16);
  EXPECT_EQ(c.body["high_watermark"], 15);
  // from_offset wins over the cursor; beyond the end: no events, next_offset = start (E5).
  EXPECT_EQ(Fetch({{"topic", "feed"}, {"consumer_id", "reader"}, {"from_offset", 2}, {"max_events", 1}}).body["events"][0]["offset"], 2);
  EXPECT_EQ(Fetch({{"topic", "feed"}, {"consumer_id", "reader"}, {"from_offset", 99}}).body,
            Json::parse(R"({"events":[],"next_offset":99,"skipped":0,"high_watermark":15})"));
  EXPECT_EQ(Fetch({{"topic", "feed"}, {"consumer_id", "reader"}}).body["next_offset"], 16);  // cursor unchanged
}

TEST_F(EventBusTest, FetchFieldChecksAndAnyPrincipal) {
  ASSERT_TRUE(Create("feed").ok());
  EXPECT_EQ(Fetch({{"topic", "feed"}, {"consumer_id", ""}}).body, Invalid("consumer_id", "required"));
  EXPECT_EQ(Fetch({{"topic", "feed"}, {"consumer_id", "c"}, {"max_events", 101}}).body, Invalid("max_events", "out_of_range"));
  EXPECT_EQ(Fetch({{"topic", "feed"}, {"consumer_id", "c"}, {"max_events", -1}}).body, Invalid("max_events", "out_of_range"));
  EXPECT_EQ(Fetch({{"topic", "feed"}, {"consumer_id", "c"}, {"from_offset", -1}}).body, Invalid("from_offset", "out_of_range"));
  EXPECT_EQ(Fetch({{"topic", "none"}, {"consumer_id", "c"}}).body,
            Json::parse(R"({"error":{"code":"NOT_FOUND","details":{"field":"topic"}}})"));
  EXPECT_EQ(h_.Call("fetch", Json{{"topic", "feed"}, {"consumer_id", "c"}}.dump(), AsPlayer()).code(), "OK");
}

// ---- rule 5: acks, lag, get_topic ----

TEST_F(EventBusTest, AckMovesCursorsForwardOnlyAndReportsLag) {
  ASSERT_TRUE(Create("feed", 100).ok());
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(Publish("feed", "p", i).ok());
  EXPECT_EQ(Ack("feed", "zeta", 4).body, Json::parse(R"({"cursor":5})"));
  EXPECT_EQ(Ack("feed", "zeta", 2).body, Json::parse(R"({"cursor":5})"));  // lower: no-op
  EXPECT_EQ(Ack("feed", "zeta", 10).body, Json::parse(R"({"cursor":11})"));
  EXPECT_EQ(Ack("feed", "alpha", 0).body, Json::parse(R"({"cursor":1})"));
  EXPECT_EQ(Ack("feed", "alpha", 11).body,
            Json::parse(R"({"error":{"code":"FAILED_PRECONDITION","details":{"reason":"beyond_high_watermark"}}})"));
  EXPECT_EQ(Ack("feed", "alpha", -1).body, Invalid("offset", "out_of_range"));
  EXPECT_EQ(Ack("feed", "alpha", 1, AsPlayer()).code(), "PERMISSION_DENIED");
  EXPECT_EQ(Ack("nope", "alpha", 1).code(), "NOT_FOUND");
  EXPECT_EQ(GetTopic("feed").body, Json::parse(R"({"topic":"feed","retention_max_events":100,"first_offset":1,"high_watermark":10,"consumers":[{"consumer_id":"alpha","cursor":1,"lag":10},{"consumer_id":"zeta","cursor":11,"lag":0}]})"));
}

TEST_F(EventBusTest, NewConsumerCursorIsAtLeastFirstOffset) {
  ASSERT_TRUE(h_.Fixture(GivenTopic(1207)).ok());
  EXPECT_EQ(Ack(kTopic, "late", 3).body, Json::parse(R"({"cursor":1200})"));  // E2
  EXPECT_EQ(Ack(kTopic, "hall-board", 3).body, Json::parse(R"({"cursor":1195})"));  // existing: no-op
  Json consumers = GetTopic(kTopic).body["consumers"];
  EXPECT_EQ(consumers, Json::parse(R"([{"consumer_id":"hall-board","cursor":1195,"lag":13},{"consumer_id":"late","cursor":1200,"lag":8}])"));
}

TEST_F(EventBusTest, TopicAndConsumerCaps) {
  Json names = Json::array();
  for (int i = 0; i < 1000; ++i) names.push_back(absl::StrCat("t", i));
  Put(std::string(event_bus::kRegistryKey), names.dump());
  EXPECT_EQ(Create("one-more").body,
            Json::parse(R"({"error":{"code":"RESOURCE_EXHAUSTED","details":{"reason":"limit_exceeded","limit":"1000"}}})"));
  Put(std::string(event_bus::kRegistryKey), "[]");
  ASSERT_TRUE(Create("feed").ok());
  ASSERT_TRUE(Publish("feed", "p", 1).ok());
  Json consumers = Json::object();
  for (int i = 0; i < 1000; ++i) consumers[absl::StrCat("c", i)] = 1;
  Put(event_bus::ConsumersKey("feed"), consumers.dump());
  EXPECT_EQ(Ack("feed", "c-new", 1).body,
            Json::parse(R"({"error":{"code":"RESOURCE_EXHAUSTED","details":{"reason":"limit_exceeded","limit":"1000"}}})"));
  EXPECT_EQ(Ack("feed", "c7", 1).body, Json::parse(R"({"cursor":2})"));  // updating at the cap
}

// ---- events ----

TEST_F(EventBusTest, AppendEmitsEventAppended) {
  ASSERT_TRUE(h_.Fixture(GivenTopic(1206)).ok());
  ASSERT_TRUE(Publish(kTopic, "story-teller-1", 42, {{"text", "x"}}).ok());
  std::vector<Json> events = h_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], Json::parse(R"({"occurred_at":"2025-11-20T12:00:00.000Z","topic":"guild.announcements","offset":1207,"event_type":"notice","subject":"evt.event-bus.v1.event_appended"})"));
  ASSERT_TRUE(Create("quiet").ok());
  ASSERT_TRUE(Ack(kTopic, "x", 1).ok());
  EXPECT_EQ(h_.Events().size(), 1u);  // only appends emit
}

TEST_F(EventBusTest, FixturesAreGatedByConfig) {
  PortHarness disabled("event-bus", MakeEventBusService, /*fixtures_enabled=*/false);
  EXPECT_EQ(disabled.Fixture(GivenTopic(1206)).code(), "PERMISSION_DENIED");
  EXPECT_EQ(h_.Fixture(Json{{"topics", Json::array({{{"topic", "Bad"}}})}}).code(), "INVALID_ARGUMENT");
}

}  // namespace
}  // namespace sidecar::services::testing::event_bus_port
