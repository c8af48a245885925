// Routes derived from the service protos equal the spec's action tables, and feed
// ActionRouteTable::Create unchanged.

#include "adapters/transcoding/schema_routes.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "adapters/nats_http/nats_http.h"
#include "gtest/gtest.h"
#include "services/proto/descriptors.h"
#include "tests/services/proto/extension_actions.h"
#include "tests/services/proto/spec_tables.h"

namespace sidecar::adapters::transcoding {
namespace {

using services::spec::kExtensionActions;
using services::spec::kSpecActions;
using services::spec::kSpecServices;

// The spec table of one service as the config model (sorted by action, as the YAML loader does).
config::ServiceConfig SpecConfig(std::string_view service) {
  config::ServiceConfig cfg;
  cfg.name = std::string(service);
  auto add = [&](const auto& table) {
    for (const auto& row : table) {
      if (row.service != service) continue;
      cfg.actions.push_back(
          {std::string(row.action), std::string(row.method), std::string(row.path)});
    }
  };
  add(kSpecActions);
  add(kExtensionActions);
  std::sort(cfg.actions.begin(), cfg.actions.end(),
            [](const auto& a, const auto& b) { return a.action < b.action; });
  return cfg;
}

void ExpectSameConfig(const config::ServiceConfig& got, const config::ServiceConfig& want) {
  EXPECT_EQ(got.name, want.name);
  ASSERT_EQ(got.actions.size(), want.actions.size()) << want.name;
  for (size_t i = 0; i < want.actions.size(); ++i) {
    SCOPED_TRACE(want.name + " " + want.actions[i].action);
    EXPECT_EQ(got.actions[i].action, want.actions[i].action);
    EXPECT_EQ(got.actions[i].method, want.actions[i].method);
    EXPECT_EQ(got.actions[i].path_template, want.actions[i].path_template);
  }
}

TEST(SchemaRoutesTest, EveryServiceEqualsItsSpecTable) {
  size_t actions = 0;
  for (std::string_view service : kSpecServices) {
    SCOPED_TRACE(std::string(service));
    absl::StatusOr<config::ServiceConfig> cfg = ServiceConfigFromSchema(service);
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    ExpectSameConfig(*cfg, SpecConfig(service));
    actions += cfg->actions.size();
  }
  EXPECT_EQ(actions, 106u + std::size(kExtensionActions));
}

TEST(SchemaRoutesTest, AllServicesComeInSpecOrder) {
  absl::StatusOr<std::vector<config::ServiceConfig>> all = ServiceConfigsFromSchemas();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), std::size(kSpecServices));
  for (size_t i = 0; i < all->size(); ++i) {
    ExpectSameConfig((*all)[i], SpecConfig(kSpecServices[i]));
  }
}

TEST(SchemaRoutesTest, DerivedConfigBuildsAnActionRouteTable) {
  absl::StatusOr<std::vector<config::ServiceConfig>> all = ServiceConfigsFromSchemas();
  ASSERT_TRUE(all.ok()) << all.status();
  for (size_t i = 0; i < all->size(); ++i) {
    absl::StatusOr<nats_http::ActionRouteTable> table =
        nats_http::ActionRouteTable::Create((*all)[i], i);
    ASSERT_TRUE(table.ok()) << table.status();
    EXPECT_EQ(table->service(), (*all)[i].name);
    EXPECT_EQ(table->routes().size(), (*all)[i].actions.size());
  }
}

TEST(SchemaRoutesTest, UnknownServiceIsNotFound) {
  absl::StatusOr<config::ServiceConfig> cfg = ServiceConfigFromSchema("no-such-service");
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace sidecar::adapters::transcoding
