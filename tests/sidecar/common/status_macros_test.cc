#include "sidecar/common/status_macros.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace sidecar {
namespace {

absl::Status FailIf(bool fail) {
  return fail ? absl::InvalidArgumentError("failed") : absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<int>> MakeInt(bool fail, int value) {
  if (fail) return absl::NotFoundError("no int");
  return std::make_unique<int>(value);
}

absl::Status Chain(bool fail_first, bool fail_second, int* steps) {
  RETURN_IF_ERROR(FailIf(fail_first));
  ++*steps;
  RETURN_IF_ERROR(FailIf(fail_second));
  ++*steps;
  return absl::OkStatus();
}

absl::StatusOr<int> SumOfTwo(bool fail_first, bool fail_second) {
  // Two uses on different lines need distinct temporaries; move-only values are moved out.
  ASSIGN_OR_RETURN(std::unique_ptr<int> a, MakeInt(fail_first, 2));
  ASSIGN_OR_RETURN(std::unique_ptr<int> b, MakeInt(fail_second, 3));
  return *a + *b;
}

TEST(StatusMacrosTest, ReturnIfErrorStopsAtTheFirstError) {
  int steps = 0;
  EXPECT_TRUE(Chain(false, false, &steps).ok());
  EXPECT_EQ(steps, 2);
  steps = 0;
  absl::Status status = Chain(false, true, &steps);
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_EQ(steps, 1);
  steps = 0;
  EXPECT_FALSE(Chain(true, false, &steps).ok());
  EXPECT_EQ(steps, 0);
}

TEST(StatusMacrosTest, AssignOrReturnMovesValuesAndPropagatesErrors) {
  absl::StatusOr<int> sum = SumOfTwo(false, false);
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(*sum, 5);
  EXPECT_TRUE(absl::IsNotFound(SumOfTwo(false, true).status()));
  EXPECT_EQ(SumOfTwo(true, false).status().message(), "no int");
}

}  // namespace
}  // namespace sidecar
