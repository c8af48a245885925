#include "tests/test_common/sidecar_process.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/test_common/paths.h"

namespace sidecar::test_common {

absl::StatusOr<std::string> WriteTempFile(const std::string& prefix, const std::string& contents) {
  const char* tmp = getenv("TMPDIR");
  std::string path = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/", prefix, "XXXXXX");
  int fd = mkstemp(path.data());
  if (fd < 0) return absl::InternalError(absl::StrCat("mkstemp ", path, " failed"));
  size_t written = 0;
  while (written < contents.size()) {
    ssize_t n = write(fd, contents.data() + written, contents.size() - written);
    if (n <= 0) {
      close(fd);
      return absl::InternalError(absl::StrCat("write ", path, " failed"));
    }
    written += static_cast<size_t>(n);
  }
  close(fd);
  return path;
}

absl::StatusOr<std::unique_ptr<SidecarProcess>> SidecarProcess::Start(SidecarOptions options) {
  std::unique_ptr<SidecarProcess> sidecar(new SidecarProcess());
  auto path = WriteTempFile("sidecar-config-", options.config_yaml);
  if (!path.ok()) return path.status();
  sidecar->config_path_ = *path;

  ProcessOptions p;
  p.argv = options.command_prefix;
  p.argv.insert(p.argv.end(), {BinaryPath("nats-sidecar"), "run", "--config", sidecar->config_path_});
  p.env = options.env;
  p.name = options.name;
  auto process = Process::Spawn(std::move(p));
  if (!process.ok()) return process.status();
  sidecar->process_ = *std::move(process);

  const absl::Time deadline = absl::Now() + options.startup_timeout;
  auto port = sidecar->process_->WaitForMatch(std::regex("\"msg\":\"admin listening\"[^\\n]*\"port\":\"([0-9]+)\""),
                                              deadline);
  if (!port.ok()) return port.status();
  if (!absl::SimpleAtoi((*port)[1], &sidecar->admin_port_)) {
    return absl::InternalError("cannot parse the admin port from: " + (*port)[0]);
  }
  if (options.wait_ready) {
    if (absl::Status s = sidecar->WaitForReadiness(true, deadline); !s.ok()) return s;
  }
  return sidecar;
}

SidecarProcess::~SidecarProcess() {
  process_.reset();
  if (!config_path_.empty()) unlink(config_path_.c_str());
}

std::string SidecarProcess::admin_address() const { return absl::StrCat("127.0.0.1:", admin_port_); }

absl::StatusOr<int> SidecarProcess::HttpListenerPort(const std::string& name, absl::Time deadline) {
  auto match = process_->WaitForMatch(
      std::regex(absl::StrCat("\"msg\":\"http listener listening\",\"listener\":\"", name,
                              "\"[^\\n]*\"port\":\"([0-9]+)\"")),
      deadline);
  if (!match.ok()) return match.status();
  int port = 0;
  if (!absl::SimpleAtoi((*match)[1], &port)) return absl::InternalError("bad port in: " + (*match)[0]);
  return port;
}

absl::Status SidecarProcess::WaitForReadiness(bool ready, absl::Time deadline, size_t from) {
  std::regex re(absl::StrCat("\"msg\":\"readiness changed\"[^\\n]*\"ready\":\"", ready ? "true" : "false", "\""));
  auto match = process_->WaitForMatch(re, deadline, from);
  return match.ok() ? absl::OkStatus() : match.status();
}

absl::StatusOr<ExitStatus> SidecarProcess::Terminate(absl::Time deadline) {
  if (absl::Status s = process_->Signal(SIGTERM); !s.ok()) return s;
  return process_->Wait(deadline);
}

}  // namespace sidecar::test_common
