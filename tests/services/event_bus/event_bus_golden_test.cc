// Replays tests/golden/event-bus/*.json (tests/golden/README.md) against the port in process,
// through the legacy HTTP form (the Transcoder maps method + path + body to the action).
#include "gtest/gtest.h"
#include "services/event_bus/event_bus_service.h"
#include "tests/services/common/port_harness.h"

namespace sidecar::services::testing::event_bus_port {
namespace {

TEST(EventBusGoldenTest, EveryGoldenFileReplays) {
  auto files = PortHarness::GoldenFiles("event-bus");
  ASSERT_EQ(files.size(), 2u);
  for (const auto& [name, golden] : files) {
    PortHarness h("event-bus", MakeEventBusService);
    EXPECT_EQ(h.ReplayGolden(golden), "") << name;
  }
}

}  // namespace
}  // namespace sidecar::services::testing::event_bus_port
