#include "services/common/determinism.h"

#include "gtest/gtest.h"

namespace sidecar::services {
namespace {

TEST(DeterminismTest, H64MatchesSpecVector) { EXPECT_EQ(H64("abc"), 0xba7816bf8f01cfeaULL); }

TEST(DeterminismTest, SplitMix64FromStateZeroMatchesSpecVector) {
  Rng rng = Rng::FromState(0);
  EXPECT_EQ(rng.Next(), 0xe220a8397b1dcdafULL);
  // The reference SplitMix64 continues 0x6e789e6aa1b965f4, 0x06c45d188009454f.
  EXPECT_EQ(rng.Next(), 0x6e789e6aa1b965f4ULL);
  EXPECT_EQ(rng.Next(), 0x06c45d188009454fULL);
}

TEST(DeterminismTest, RngSeedsWithH64OfTheString) {
  Rng a("abc");
  EXPECT_EQ(a.state(), 0xba7816bf8f01cfeaULL);
  Rng b = Rng::FromState(0xba7816bf8f01cfeaULL);
  EXPECT_EQ(a.Next(), b.Next());
}

TEST(DeterminismTest, DerivedIdsMatchSpecExamples) {
  // §0.5 / §2.1: player_id = "pl_" + hex16("player:" + username); reference player mara_vex.
  EXPECT_EQ(DerivedId("pl", "player:mara_vex"), "pl_a8694c9d17e9b948");
  // §2.3 Example 1: tx_id = "tx_" + hex16(action ":" principal ":" idempotency_key).
  EXPECT_EQ(DerivedId("tx", "purchase:player:pl_a8694c9d17e9b948:ord-7731"), "tx_1ce5089ef0263ea7");
  EXPECT_EQ(Hex16("abc"), "ba7816bf8f01cfea");
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(DeterminismTest, UniformIsNextModN) {
  Rng a = Rng::FromState(0), b = Rng::FromState(0);
  EXPECT_EQ(a.Uniform(10), b.Next() % 10);
}

TEST(DeterminismTest, WeightedPicksFirstItemWhoseCumulativeWeightExceedsR) {
  // r = 0xe220a8397b1dcdaf mod 100 = 35.
  Rng rng = Rng::FromState(0);
  auto pick = rng.Weighted({30, 10, 60});  // cumulative 30, 40, 100: first > 35 is index 1
  ASSERT_TRUE(pick.ok());
  EXPECT_EQ(*pick, 1u);
  Rng edge = Rng::FromState(0);
  auto exact = edge.Weighted({35, 65});  // 35 is not > 35: index 1
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(*exact, 1u);
  Rng again = Rng::FromState(0);
  auto first = again.Weighted({36, 64});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, 0u);
}

TEST(DeterminismTest, WeightedRejectsZeroTotal) {
  Rng rng = Rng::FromState(0);
  EXPECT_FALSE(rng.Weighted({0, 0}).ok());
  EXPECT_FALSE(rng.Weighted({}).ok());
}

TEST(DeterminismTest, BucketIsH64Mod10000AndInt64IsTwosComplement) {
  EXPECT_EQ(Bucket("abc"), 0xba7816bf8f01cfeaULL % 10000);
  EXPECT_EQ(Int64(0xFFFFFFFFFFFFFFFFULL), -1);
  EXPECT_EQ(Int64(0xba7816bf8f01cfeaULL), static_cast<int64_t>(0xba7816bf8f01cfeaULL));
}

}  // namespace
}  // namespace sidecar::services
