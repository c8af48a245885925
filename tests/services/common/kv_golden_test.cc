// Every hostable port (services/registry) replays every one of its golden files on JetStream KV
// (a fresh bucket per file on a real nats-server -js), the store production uses, so a port that
// passes in memory but leans on in-memory-only behaviour (ordering, revisions, expiry) fails here.
// Ports added to the registry are covered without touching this file.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/registry/registry.h"
#include "tests/services/common/kv_store_maker.h"
#include "tests/services/common/port_harness.h"

namespace sidecar::services::testing {
namespace {

class KvGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(KvGoldenTest, EveryGoldenFileReplaysOnJetStreamKv) {
  const std::string service = GetParam();
  auto make = [&service](const ServiceDeps& deps) -> std::unique_ptr<Service> {
    auto made = MakeService(service, deps);
    EXPECT_TRUE(made.ok()) << made.status();
    return made.ok() ? *std::move(made) : nullptr;
  };
  // Ports that call others (SERVICES.md §1) find every other hostable port in process, on the same
  // bucket; leaves never call them.
  std::vector<PortHarness::Factory> others;
  for (const std::string& name : HostableServices()) {
    if (name == service) continue;
    others.push_back([name](const ServiceDeps& deps) -> std::unique_ptr<Service> {
      auto made = MakeService(name, deps);
      EXPECT_TRUE(made.ok()) << made.status();
      return made.ok() ? *std::move(made) : nullptr;
    });
  }
  const auto files = GoldenPaths(service);
  ASSERT_FALSE(files.empty()) << "no tests/golden/" << service;
  for (const auto& file : files) RunGolden(make, file, KvStoreMaker(), others);
}

INSTANTIATE_TEST_SUITE_P(HostablePorts, KvGoldenTest, ::testing::ValuesIn(HostableServices()),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

}  // namespace
}  // namespace sidecar::services::testing
