#pragma once
// Runs the real nats-sidecar binary (build/bin/nats-sidecar) with a config written by the test, the
// way ECS runs it: a child process, JSON logs on stdout, the admin port on 127.0.0.1 port 0.
//
// Waits are event-driven: the sidecar logs "admin listening" (with the bound port) and every
// readiness flip ("readiness changed"), and tests wait for those lines instead of polling.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/test_common/process.h"

namespace sidecar::test_common {

struct SidecarOptions {
  std::string config_yaml;  // written to a temporary file and passed as --config
  std::vector<std::pair<std::string, std::string>> env;
  // Runs the binary through this command, e.g. {"ip", "netns", "exec", "<ns>"} (chaos tests).
  std::vector<std::string> command_prefix;
  std::string name = "sidecar";
  // Wait for the first "readiness changed" ready=true line before Start() returns.
  bool wait_ready = true;
  absl::Duration startup_timeout = absl::Seconds(20);
};

class SidecarProcess {
 public:
  static absl::StatusOr<std::unique_ptr<SidecarProcess>> Start(SidecarOptions options);
  ~SidecarProcess();  // SIGKILL if still running, removes the config file

  int admin_port() const { return admin_port_; }
  std::string admin_address() const;
  Process& process() { return *process_; }
  std::string output() const { return process_->output(); }

  // The port of HTTP listener `name`, from its "http listener listening" log line.
  absl::StatusOr<int> HttpListenerPort(const std::string& name, absl::Time deadline);
  // Waits for the next readiness flip to `ready` logged after output offset `from` (0: any).
  absl::Status WaitForReadiness(bool ready, absl::Time deadline, size_t from = 0);
  // SIGTERM, then waits for exit.
  absl::StatusOr<ExitStatus> Terminate(absl::Time deadline);

 private:
  SidecarProcess() = default;
  std::string config_path_;
  std::unique_ptr<Process> process_;
  int admin_port_ = 0;
};

// Writes `contents` to a new temporary file and returns its path (removed by the caller).
absl::StatusOr<std::string> WriteTempFile(const std::string& prefix, const std::string& contents);

}  // namespace sidecar::test_common
