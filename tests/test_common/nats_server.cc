#include "tests/test_common/nats_server.h"

#include <stdlib.h>

#include <filesystem>
#include <regex>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace sidecar::test_common {
namespace {

// Attempts on the same port when something else holds it; each attempt is a whole process start
// (tens of milliseconds), which is all the spacing the retries get.
constexpr int kMaxLaunchAttempts = 5;

absl::StatusOr<std::string> MakeTempDir(absl::string_view prefix) {
  const char* tmp = getenv("TMPDIR");
  std::string pattern =
      absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/", prefix, "XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", pattern, " failed"));
  }
  return pattern;
}

}  // namespace

absl::StatusOr<std::unique_ptr<NatsServer>> NatsServer::Start(NatsServerOptions options) {
  std::unique_ptr<NatsServer> server(new NatsServer(std::move(options)));
  server->port_ = server->options_.port;
  if (server->options_.jetstream) {
    auto dir = MakeTempDir("sidecar-nats-js-");
    if (!dir.ok()) return dir.status();
    server->store_dir_ = *dir;
  }
  if (absl::Status s = server->Launch(absl::Now() + server->options_.startup_timeout); !s.ok()) {
    return s;
  }
  return server;
}

NatsServer::~NatsServer() {
  process_.reset();  // SIGKILL + reap
  if (!store_dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(store_dir_, ignored);
  }
}

std::string NatsServer::url() const { return absl::StrCat("nats://", options_.address, ":", port_); }

bool NatsServer::running() const { return process_ != nullptr && process_->running(); }

std::string NatsServer::output() const { return process_ != nullptr ? process_->output() : ""; }

absl::Status NatsServer::Launch(absl::Time deadline) {
  absl::Status last;
  for (int attempt = 0; attempt < kMaxLaunchAttempts; ++attempt) {
    last = LaunchOnce(deadline);
    // Only a busy port is worth another try; anything else is a real failure.
    if (last.ok() || !absl::IsAlreadyExists(last) || absl::Now() >= deadline) return last;
  }
  return last;
}

absl::Status NatsServer::LaunchOnce(absl::Time deadline) {
  ProcessOptions spawn;
  spawn.name = "nats-server";
  spawn.argv = {options_.binary, "-a", options_.address, "-p",
                port_ == 0 ? "-1" : std::to_string(port_)};
  if (options_.jetstream) {
    spawn.argv.insert(spawn.argv.end(), {"-js", "-sd", store_dir_});
  }
  spawn.argv.insert(spawn.argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  process_.reset();
  auto process = Process::Spawn(std::move(spawn));
  if (!process.ok()) return process.status();
  process_ = std::move(*process);

  const std::regex listening_re(absl::StrCat("Listening for client connections on ",
                                             absl::StrReplaceAll(options_.address, {{".", "\\."}}), ":([0-9]+)"));
  auto listening = process_->WaitForMatch(listening_re, deadline);
  absl::Status ready =
      listening.ok() ? process_->WaitForOutput("Server is ready", deadline) : listening.status();
  if (!ready.ok()) {
    // The FATAL line has no trailing newline; the whole log is searched.
    bool busy = absl::StrContains(process_->output(), "address already in use");
    process_.reset();
    if (busy) {
      return absl::AlreadyExistsError(
          absl::StrCat("nats-server: ", options_.address, ":", port_, " is in use\n", ready.message()));
    }
    return ready;
  }
  int port = 0;
  if (!absl::SimpleAtoi((*listening)[1], &port)) {
    return absl::InternalError(absl::StrCat("nats-server: bad port in log: ", (*listening)[0]));
  }
  port_ = port;
  return absl::OkStatus();
}

absl::Status NatsServer::Stop(absl::Duration timeout) {
  if (process_ == nullptr || !process_->running()) return absl::OkStatus();
  auto status = process_->Terminate(absl::Now() + timeout);
  return status.ok() ? absl::OkStatus() : status.status();
}

absl::Status NatsServer::Kill() {
  if (process_ == nullptr || !process_->running()) return absl::OkStatus();
  if (absl::Status s = process_->Kill(); !s.ok()) return s;
  auto status = process_->Wait(absl::Now() + absl::Seconds(10));
  return status.ok() ? absl::OkStatus() : status.status();
}

absl::Status NatsServer::Restart() {
  if (absl::Status s = Stop(); !s.ok()) return s;
  return Launch(absl::Now() + options_.startup_timeout);
}

}  // namespace sidecar::test_common
