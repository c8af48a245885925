#pragma once
// A child process for integration tests (nats-server, the FastAPI stand-ins, the sidecar binary).
//
// The child runs in its own process group with stdin on /dev/null and stdout+stderr captured
// through one pipe. A reader thread drains that pipe into a buffer, so a chatty child can never
// block on a full pipe, and waiters block on a condition with a deadline: nothing here sleeps.
// The child gets SIGKILL when the thread that spawned it dies (PR_SET_PDEATHSIG), so a crashed or
// killed test leaves no orphan servers behind; spawn from a long-lived thread (the test's own).
//
// Not thread-safe except where noted: one test thread drives a Process.

#include <sys/types.h>

#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace sidecar::test_common {

struct ProcessOptions {
  // argv[0] is the program: an absolute path, or a name looked up in PATH (execvp rules).
  std::vector<std::string> argv;
  // Added to (or overriding) the test process's environment.
  std::vector<std::pair<std::string, std::string>> env;
  // Removed from the environment (applied before `env`).
  std::vector<std::string> unset_env;
  // File descriptors the child inherits under the same numbers (e.g. a pre-bound listening
  // socket). Every other descriptor above 2 is closed in the child. Must be >= 3.
  std::vector<int> inherit_fds;
  // Working directory for the child; empty = the test's.
  std::string working_dir;
  // Used in error messages and logs ("nats-server", "legacy-app").
  std::string name;
};

// How a child ended.
struct ExitStatus {
  bool signaled = false;  // true: killed by `signal`; false: exited with `code`
  int code = 0;
  int signal = 0;

  bool success() const { return !signaled && code == 0; }
  std::string ToString() const;
};

class Process {
 public:
  static absl::StatusOr<std::unique_ptr<Process>> Spawn(ProcessOptions options);

  // Kills the whole process group with SIGKILL (if still running) and reaps the child.
  ~Process();

  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& name() const { return options_.name; }

  // Waits until the captured output, from byte offset `from` on, contains `needle`.
  // kDeadlineExceeded when the deadline passes, kUnavailable when the child closed its output
  // (exited) first; both messages carry the output captured so far.
  absl::Status WaitForOutput(absl::string_view needle, absl::Time deadline, size_t from = 0);

  // Same for a regular expression (ECMAScript). On success returns the match and its groups
  // (element 0 is the whole match).
  absl::StatusOr<std::vector<std::string>> WaitForMatch(const std::regex& re, absl::Time deadline,
                                                        size_t from = 0);

  // Everything captured so far (thread-safe). output_size() is a cheap mark for `from`.
  std::string output() const;
  size_t output_size() const;

  // Sends `sig` to the child's process group. No-op once the child has been reaped.
  absl::Status Signal(int sig);
  // SIGKILL to the process group.
  absl::Status Kill();

  // Waits for the child to exit and reaps it, then for its output to be drained, so output()
  // holds all of it. kDeadlineExceeded if it is still running at the deadline (it is left
  // running). Idempotent: returns the same status once reaped.
  absl::StatusOr<ExitStatus> Wait(absl::Time deadline);

  // Signal(SIGTERM), then Wait(deadline); SIGKILL if the deadline passes.
  absl::StatusOr<ExitStatus> Terminate(absl::Time deadline);

  // True until the child has been reaped or seen to exit.
  bool running();

 private:
  explicit Process(ProcessOptions options) : options_(std::move(options)) {}

  void ReadLoop();
  // After the reap: waits (bounded) until the reader thread has seen EOF on the output pipe.
  void AwaitOutputDrained(absl::Time deadline);
  // Tries a non-blocking reap; returns true once the child is reaped.
  bool TryReap();
  std::string OutputTail() const;
  absl::Status ErrorWithOutput(absl::StatusCode code, absl::string_view what) const;

  ProcessOptions options_;
  pid_t pid_ = -1;
  int pidfd_ = -1;      // readable when the child exits; -1 if pidfd_open is unavailable
  int output_fd_ = -1;  // read end of the stdout+stderr pipe, owned by the reader thread
  int wake_fd_ = -1;    // eventfd that tells the reader thread to stop
  std::thread reader_;
  bool reaped_ = false;
  ExitStatus exit_status_;

  mutable absl::Mutex mu_;
  std::string output_ ABSL_GUARDED_BY(mu_);
  bool output_closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace sidecar::test_common
