#include "tests/test_common/legacy_service.h"

#include "absl/strings/str_cat.h"
#include "tests/test_common/paths.h"

namespace sidecar::test_common {
namespace {

// Immediate re-binds of the same port when it is momentarily taken (see the header).
constexpr int kMaxBindAttempts = 5;

// uvicorn logs this (at info level) once the server accepts on the socket.
constexpr char kReadyLine[] = "Uvicorn running on";

}  // namespace

absl::StatusOr<std::unique_ptr<LegacyService>> LegacyService::Start(LegacyServiceOptions options) {
  if (options.app_dir.empty()) options.app_dir = absl::StrCat(SourceDir(), "/tests/legacy");
  std::unique_ptr<LegacyService> service(new LegacyService(std::move(options)));
  if (absl::Status s = service->Launch(absl::Now() + service->options_.startup_timeout); !s.ok()) {
    return s;
  }
  return service;
}

LegacyService::~LegacyService() = default;  // the Process kills and reaps the app

std::string LegacyService::address() const { return LoopbackAddress(port_); }

std::string LegacyService::base_url() const { return absl::StrCat("http://", address()); }

bool LegacyService::running() const { return process_ != nullptr && process_->running(); }

std::string LegacyService::output() const { return process_ != nullptr ? process_->output() : ""; }

absl::StatusOr<UniqueFd> LegacyService::Bind(absl::Time deadline) {
  absl::StatusOr<UniqueFd> listener = absl::UnknownError("not bound");
  for (int attempt = 0; attempt < kMaxBindAttempts; ++attempt) {
    listener = ListenOnLoopback(port_);
    if (listener.ok() || !absl::IsAlreadyExists(listener.status()) || absl::Now() >= deadline) {
      break;
    }
  }
  return listener;
}

absl::Status LegacyService::Launch(absl::Time deadline) {
  auto listener = Bind(deadline);
  if (!listener.ok()) return listener.status();
  auto port = LocalPort(listener->get());
  if (!port.ok()) return port.status();
  port_ = *port;

  ProcessOptions spawn;
  spawn.name = absl::StrCat("legacy-app:", port_);
  // serve_fd.py is `uvicorn --fd` without its TCP_NODELAY loss (see the script); it logs the
  // same "Uvicorn running on" line, the readiness signal.
  spawn.argv = {options_.python, absl::StrCat(SourceDir(), "/tests/legacy/serve_fd.py"),
                std::to_string(listener->get()), options_.app_dir, options_.app};
  spawn.inherit_fds = {listener->get()};
  spawn.unset_env = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"};
  spawn.env = {
      {"PYTHONUNBUFFERED", "1"}, {"PYTHONDONTWRITEBYTECODE", "1"}, {"PYTHONNOUSERSITE", "1"}};
  spawn.env.insert(spawn.env.end(), options_.env.begin(), options_.env.end());
  process_.reset();
  auto process = Process::Spawn(std::move(spawn));
  // The child owns the socket now; dropping ours makes a dead app refuse connections.
  listener->Reset();
  if (!process.ok()) return process.status();
  process_ = std::move(*process);
  return process_->WaitForOutput(kReadyLine, deadline);
}

absl::Status LegacyService::Stop(absl::Duration timeout) {
  if (process_ == nullptr || !process_->running()) return absl::OkStatus();
  auto status = process_->Terminate(absl::Now() + timeout);
  return status.ok() ? absl::OkStatus() : status.status();
}

absl::Status LegacyService::Kill() {
  if (process_ == nullptr || !process_->running()) return absl::OkStatus();
  if (absl::Status s = process_->Kill(); !s.ok()) return s;
  auto status = process_->Wait(absl::Now() + absl::Seconds(10));
  return status.ok() ? absl::OkStatus() : status.status();
}

absl::Status LegacyService::Restart() {
  if (absl::Status s = Stop(); !s.ok()) return s;
  return Launch(absl::Now() + options_.startup_timeout);
}

}  // namespace sidecar::test_common

namespace sidecar::test_common {

absl::Status LegacyService::WaitForOutput(const std::string& needle, absl::Time deadline, size_t from) {
  if (process_ == nullptr) return absl::FailedPreconditionError("legacy service not running");
  return process_->WaitForOutput(needle, deadline, from);
}

}  // namespace sidecar::test_common
