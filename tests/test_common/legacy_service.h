#pragma once
// The legacy FastAPI stand-in (tests/legacy/app.py) as a child process, for integration tests and
// the demo.
//
// The test binds and listens on 127.0.0.1:0 itself and hands the socket to uvicorn (tests/legacy/serve_fd.py), so the
// port is known before the child starts and there is no port race. The test closes its own copy
// once the child holds the socket: when the app dies (Kill(), Stop() or a crash) the port refuses
// connections as a dead service's would, instead of queueing them unanswered. Restart() binds the
// same port again (SO_REUSEADDR; a few immediate retries within its deadline if another process
// took the port meanwhile).
//
// Runs /usr/bin/python3 explicitly: the python3 first on PATH may be a different interpreter that
// lacks Debian's python3-fastapi and python3-uvicorn.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/test_common/net.h"
#include "tests/test_common/paths.h"
#include "tests/test_common/process.h"

namespace sidecar::test_common {

struct LegacyServiceOptions {
  // Directory holding the app module; empty = <source dir>/tests/legacy, where <source dir> is
  // $SIDECAR_SOURCE_DIR (set by ctest) or the CMake source dir this library was built from.
  std::string app_dir;
  // "module:attribute" for uvicorn.
  std::string app = "app:app";
  // Extra environment for the app, e.g. {"LEGACY_SERVICE_NAME", "settings"} or
  // {"LEGACY_SETTINGS_PRESET", "spec_example"} (see tests/legacy/app.py).
  std::vector<std::pair<std::string, std::string>> env;
  std::string python = "/usr/bin/python3";
  // Bound for each start: spawn until uvicorn serves (importing FastAPI takes most of it).
  absl::Duration startup_timeout = absl::Seconds(30);
};

class LegacyService {
 public:
  static absl::StatusOr<std::unique_ptr<LegacyService>> Start(LegacyServiceOptions options = {});

  ~LegacyService();

  LegacyService(const LegacyService&) = delete;
  LegacyService& operator=(const LegacyService&) = delete;

  int port() const { return port_; }
  // "127.0.0.1:<port>".
  std::string address() const;
  // "http://127.0.0.1:<port>".
  std::string base_url() const;
  bool running() const;
  // The current (or last) app process's log.
  std::string output() const;
  // Waits for `needle` in the app's output (stdout + stderr) after offset `from`.
  absl::Status WaitForOutput(const std::string& needle, absl::Time deadline, size_t from = 0);
  // The directory app.py is loaded from.
  const std::string& app_dir() const { return options_.app_dir; }

  // Graceful: SIGTERM and wait (SIGKILL after `timeout`). The port then refuses connections.
  absl::Status Stop(absl::Duration timeout = absl::Seconds(10));
  // Crash: SIGKILL and reap. The port then refuses connections.
  absl::Status Kill();
  // Stops the app if running, then starts it again on the same port. In-memory state is lost.
  absl::Status Restart();

 private:
  explicit LegacyService(LegacyServiceOptions options) : options_(std::move(options)) {}
  absl::Status Launch(absl::Time deadline);
  absl::StatusOr<UniqueFd> Bind(absl::Time deadline);

  LegacyServiceOptions options_;
  int port_ = 0;
  std::unique_ptr<Process> process_;
};

}  // namespace sidecar::test_common
