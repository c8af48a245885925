#pragma once
// The few helpers every end-to-end test wants, once: deadlines relative to now, unwrapping a
// StatusOr that must succeed (the test stops there, with the status, if it does not), polling for
// state nothing announces, and reading a source file such as a shipped example config.

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

// Checks `done` until it holds or `deadline` has passed, and says whether it held. Only for state
// that nothing announces (a counter on /metrics); wait for a log line or a reply where there is
// one. It pauses between checks: a poll that never rests keeps a core busy, and on two shared
// cores that starves what it waits for (the shadow's mirrors run on a SCHED_IDLE thread).
template <typename Predicate>
bool PollUntil(Predicate done, absl::Time deadline, absl::Duration pause = absl::Milliseconds(10)) {
  while (!done()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(pause);
  }
  return true;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace sidecar::test_common
