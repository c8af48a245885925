// The ADR-32 JSON builders and the metrics-backed stats provider (no NATS needed).

#include "adapters/discovery/discovery.h"

#include <regex>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sidecar::adapters::discovery {
namespace {

using Json = nlohmann::json;
using ::testing::ElementsAre;

ServiceIdentity Settings() {
  ServiceIdentity s;
  s.name = "settings";
  s.id = "abcdefghijklmnopqrstuv";
  s.version = "0.1.0";
  s.description = "settings via nats-sidecar";
  s.metadata = {{"listener", "nats-in"}};
  return s;
}

TEST(MakeEndpointsTest, OnePerAction) {
  auto eps = MakeEndpoints("settings", {"get_schema", "set_values"});
  ASSERT_EQ(eps.size(), 2u);
  EXPECT_EQ(eps[0].name, "get_schema");
  EXPECT_EQ(eps[0].subject, "svc.settings.v1.get_schema");
  EXPECT_EQ(eps[0].queue_group, "svc-settings-workers");
  EXPECT_EQ(eps[0].action, "get_schema");
  EXPECT_EQ(eps[1].subject, "svc.settings.v1.set_values");
}

TEST(MakeEndpointsTest, WildcardWithoutActions) {
  auto eps = MakeEndpoints("settings", {});
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps[0].name, "all");
  EXPECT_EQ(eps[0].subject, "svc.settings.v1.>");
  EXPECT_EQ(eps[0].queue_group, "svc-settings-workers");
  EXPECT_EQ(eps[0].action, "");

  auto custom = MakeEndpoints("settings", {}, "q", "custom.>");
  EXPECT_EQ(custom[0].subject, "custom.>");
  EXPECT_EQ(custom[0].queue_group, "q");
}

TEST(DiscoverySubjectsTest, AllNameAndId) {
  EXPECT_THAT(DiscoverySubjects("settings", "ID"),
              ElementsAre("$SRV.PING", "$SRV.PING.settings", "$SRV.PING.settings.ID", "$SRV.INFO",
                          "$SRV.INFO.settings", "$SRV.INFO.settings.ID", "$SRV.STATS", "$SRV.STATS.settings",
                          "$SRV.STATS.settings.ID"));
}

TEST(ResponsesTest, Ping) {
  EXPECT_EQ(PingResponse(Settings()), Json::parse(R"({"type":"io.nats.micro.v1.ping_response",
      "name":"settings","id":"abcdefghijklmnopqrstuv","version":"0.1.0","metadata":{"listener":"nats-in"}})"));
}

TEST(ResponsesTest, Info) {
  auto eps = MakeEndpoints("settings", {"get_schema"});
  EXPECT_EQ(InfoResponse(Settings(), eps), Json::parse(R"({"type":"io.nats.micro.v1.info_response",
      "name":"settings","id":"abcdefghijklmnopqrstuv","version":"0.1.0","metadata":{"listener":"nats-in"},
      "description":"settings via nats-sidecar",
      "endpoints":[{"name":"get_schema","subject":"svc.settings.v1.get_schema",
                    "queue_group":"svc-settings-workers","metadata":{}}]})"));
}

TEST(ResponsesTest, StatsWithProvider) {
  auto eps = MakeEndpoints("settings", {"get_schema", "set_values"});
  StatsProvider provider = [](const Endpoint& e) {
    EndpointStats s;
    if (e.action == "set_values") {
      s.num_requests = 4;
      s.num_errors = 1;
      s.processing_time_ns = 4000;
      s.last_error = "failed_precondition";
    }
    return s;
  };
  const absl::Time started = absl::FromUnixNanos(1772366400123456789);  // 2026-03-01T12:00:00.123456789Z
  Json j = StatsResponse(Settings(), eps, started, provider);
  EXPECT_EQ(j["type"], "io.nats.micro.v1.stats_response");
  EXPECT_EQ(j["started"], "2026-03-01T12:00:00.123456789Z");
  ASSERT_EQ(j["endpoints"].size(), 2u);
  EXPECT_EQ(j["endpoints"][0], Json::parse(R"({"name":"get_schema","subject":"svc.settings.v1.get_schema",
      "queue_group":"svc-settings-workers","num_requests":0,"num_errors":0,"last_error":"",
      "processing_time":0,"average_processing_time":0})"));
  EXPECT_EQ(j["endpoints"][1]["num_requests"], 4);
  EXPECT_EQ(j["endpoints"][1]["num_errors"], 1);
  EXPECT_EQ(j["endpoints"][1]["processing_time"], 4000);
  EXPECT_EQ(j["endpoints"][1]["average_processing_time"], 1000);
  EXPECT_EQ(j["endpoints"][1]["last_error"], "failed_precondition");

  Json zeros = StatsResponse(Settings(), eps, started, nullptr);
  EXPECT_EQ(zeros["endpoints"][1]["num_requests"], 0);
}

TEST(InstanceIdTest, RandomBase62) {
  const std::string a = NewInstanceId(), b = NewInstanceId();
  EXPECT_TRUE(std::regex_match(a, std::regex("^[0-9A-Za-z]{22}$"))) << a;
  EXPECT_NE(a, b);
}

TEST(MetricsStatsProviderTest, ReadsListenerFamilies) {
  stats::Metrics metrics;
  auto count = [&](const char* listener, const char* action, const char* outcome, double n) {
    metrics.requests_total
        .Add({{"listener", listener}, {"service", "settings"}, {"action", action}, {"outcome", outcome}})
        .Increment(n);
  };
  auto observe = [&](const char* listener, const char* action, double seconds) {
    metrics.request_duration_seconds
        .Add({{"listener", listener}, {"service", "settings"}, {"action", action}},
             stats::Metrics::LatencyBuckets())
        .Observe(seconds);
  };
  count("nats-in", "set_values", "ok", 3);
  count("nats-in", "set_values", "failed_precondition", 2);
  count("nats-in", "set_values", "internal", 1);
  count("nats-in", "get_schema", "ok", 1);
  count("other", "set_values", "internal", 7);  // another listener: not ours
  observe("nats-in", "set_values", 0.25);
  observe("nats-in", "set_values", 0.5);
  observe("nats-in", "get_schema", 1.0);
  observe("other", "set_values", 9.0);

  StatsProvider provider = MetricsStatsProvider(metrics, "nats-in");
  auto eps = MakeEndpoints("settings", {"get_schema", "reset", "set_values"});
  EndpointStats set = provider(eps[2]);
  EXPECT_EQ(set.num_requests, 6);
  EXPECT_EQ(set.num_errors, 3);
  EXPECT_EQ(set.processing_time_ns, 750000000);
  EXPECT_EQ(set.last_error, "failed_precondition");
  EndpointStats reset = provider(eps[1]);
  EXPECT_EQ(reset.num_requests, 0);
  EXPECT_EQ(reset.last_error, "");

  EndpointStats all = provider(MakeEndpoints("settings", {})[0]);
  EXPECT_EQ(all.num_requests, 7);
  EXPECT_EQ(all.num_errors, 3);
  EXPECT_EQ(all.processing_time_ns, 1750000000);
}

}  // namespace
}  // namespace sidecar::adapters::discovery
