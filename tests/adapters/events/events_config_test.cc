// The events: section of the loader: defaults, strict keys and references, path-qualified errors.

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sidecar/config/loader.h"

namespace sidecar::config {
namespace {

using ::testing::HasSubstr;

EnvLookup NoEnv() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

constexpr char kBase[] = R"(
nats:
  servers: ["nats://127.0.0.1:4222"]
clusters:
  - name: legacy
    legacy_http:
      address: "127.0.0.1:8000"
  - name: other
    nats:
      mode: passthrough
      subject: svc.other.v1.http
listeners:
  - name: egress
    http:
      address: "127.0.0.1:0"
)";

absl::StatusOr<Config> Load(const std::string& events) { return LoadFromString(kBase + events, NoEnv()); }

TEST(EventsConfigTest, ConsumerDefaultsAndPublish) {
  auto config = Load(R"(
events:
  consumers:
    - name: orders
      stream: ORDERS
      filter_subject: orders.>
      cluster: legacy
      path: /events/orders
  publish:
    listener: egress
    allowed_subjects: [orders.>]
)");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->events.consumers.size(), 1u);
  const EventConsumerConfig& c = config->events.consumers[0];
  EXPECT_EQ(c.durable, "sidecar-orders");
  EXPECT_EQ(c.max_deliver, 5);
  EXPECT_EQ(c.backoff_ms, (std::vector<int64_t>{1000, 5000, 10000, 30000}));
  EXPECT_EQ(c.dlq_stream, "DLQ");
  ASSERT_TRUE(config->events.publish.has_value());
  EXPECT_EQ(config->events.publish->prefix, "/events/");
  EXPECT_EQ(config->events.publish->timeout_ms, 5000);
  nlohmann::json dump = ToJson(*config);
  EXPECT_EQ(dump["events"]["consumers"][0]["durable"], "sidecar-orders");
  EXPECT_EQ(dump["events"]["publish"]["allowed_subjects"][0], "orders.>");
}

TEST(EventsConfigTest, ReportsEveryErrorWithItsPath) {
  auto config = Load(R"(
events:
  consumers:
    - name: orders
      stream: OR.DERS
      filter_subject: "orders..x"
      cluster: nowhere
      path: events
      backoff_ms: [100, -1]
      timeout_ms: 40000
      max_delivr: 3
    - name: orders
      stream: ORDERS
      filter_subject: orders.>
      cluster: other
      path: /e
  publish:
    listener: nope
    prefix: events
)");
  ASSERT_FALSE(config.ok());
  const std::string m(config.status().message());
  EXPECT_THAT(m, HasSubstr("events.consumers[0].stream: expected a stream name"));
  EXPECT_THAT(m, HasSubstr("events.consumers[0].filter_subject: expected a NATS subject"));
  EXPECT_THAT(m, HasSubstr("events.consumers[0].cluster: undefined cluster 'nowhere'"));
  EXPECT_THAT(m, HasSubstr("events.consumers[0].path: expected a path"));
  EXPECT_THAT(m, HasSubstr("events.consumers[0].backoff_ms[1]: expected milliseconds >= 0"));
  EXPECT_THAT(m, HasSubstr("events.consumers[0].timeout_ms: must be less than ack_wait_ms"));
  EXPECT_THAT(m, HasSubstr("events.consumers[0].max_delivr: unknown key (did you mean 'max_deliver'?)"));
  EXPECT_THAT(m, HasSubstr("events.consumers[1].name: duplicate consumer name 'orders'"));
  EXPECT_THAT(m, HasSubstr("events.consumers[1].cluster: cluster 'other' is a nats cluster"));
  EXPECT_THAT(m, HasSubstr("events.publish.listener: undefined listener 'nope'"));
  EXPECT_THAT(m, HasSubstr("events.publish.prefix: expected a path like /events/"));
  EXPECT_THAT(m, HasSubstr("events.publish.allowed_subjects: required"));
}

TEST(EventsConfigTest, NoEventsSectionMeansNothingToRun) {
  auto config = Load("");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->events.consumers.empty());
  EXPECT_FALSE(config->events.publish.has_value());
}

}  // namespace
}  // namespace sidecar::config
