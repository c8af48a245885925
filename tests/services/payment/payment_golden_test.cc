// Replays tests/golden/payment/*.json (tests/golden/README.md) against the port in process,
// through the legacy HTTP form (the Transcoder maps method + path + body to the action).
#include "gtest/gtest.h"
#include "services/payment/payment_service.h"
#include "tests/services/common/port_harness.h"

namespace sidecar::services::testing::payment_port {
namespace {

TEST(PaymentGoldenTest, EveryGoldenFileReplays) {
  auto files = PortHarness::GoldenFiles("payment");
  ASSERT_EQ(files.size(), 2u);
  for (const auto& [name, golden] : files) {
    PortHarness h("payment", MakePaymentService);
    EXPECT_EQ(h.ReplayGolden(golden), "") << name;
  }
}

}  // namespace
}  // namespace sidecar::services::testing::payment_port
