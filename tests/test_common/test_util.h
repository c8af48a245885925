#pragma once
// The few helpers every end-to-end test wants, once: deadlines relative to now, unwrapping a
// StatusOr that must succeed (the test stops there, with the status, if it does not), and reading
// a source file such as a shipped example config.

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace sidecar::test_common {

inline absl::Time In(absl::Duration d) { return absl::Now() + d; }

template <typename T>
T ValueOrDie(absl::StatusOr<T> v) {
  EXPECT_TRUE(v.ok()) << v.status();
  if (!v.ok()) std::abort();
  return *std::move(v);
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace sidecar::test_common
