#pragma once
// A real nats-server (Debian's binary) for integration tests, bound to 127.0.0.1.
//
//   NatsServerOptions options;
//   options.jetstream = true;
//   absl::StatusOr<std::unique_ptr<NatsServer>> nats = NatsServer::Start(options);
//   natsConnection_ConnectTo(&conn, (*nats)->url().c_str());
//   (*nats)->Kill();      // crash: clients see the connection drop
//   (*nats)->Restart();   // same port and JetStream store: clients reconnect
//
// Port choice: by default the server binds port 0 itself ("-p -1") and the test reads the port
// from its log, so the first start has no race. Restart() must reuse that port; if another
// process grabbed it meanwhile, the server fails with "address already in use" and Restart()
// retries on the same port a few times within its deadline. With an explicit `port`, Start()
// does the same.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/test_common/process.h"

namespace sidecar::test_common {

struct NatsServerOptions {
  // Enables JetStream with a private temporary store directory (kept across Restart(), removed
  // when the NatsServer is destroyed).
  bool jetstream = false;
  // 0: let the server pick a free port.
  int port = 0;
  // The address to listen on (an IPv4 literal): loopback, or e.g. a veth address a chaos test made.
  std::string address = "127.0.0.1";
  // Appended to the command line (e.g. {"--max_payload", "1MB"} or {"-DV"} for traces).
  std::vector<std::string> extra_args;
  // The binary; found in PATH when not absolute (Debian installs /usr/sbin/nats-server).
  std::string binary = "nats-server";
  // Bound for each start: spawn until "Server is ready".
  absl::Duration startup_timeout = absl::Seconds(15);
};

class NatsServer {
 public:
  static absl::StatusOr<std::unique_ptr<NatsServer>> Start(NatsServerOptions options = {});

  // Kills the server (SIGKILL) if running and removes the JetStream store.
  ~NatsServer();

  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  int port() const { return port_; }
  // "nats://127.0.0.1:<port>".
  std::string url() const;
  // Empty unless JetStream is enabled.
  const std::string& store_dir() const { return store_dir_; }
  bool running() const;
  // The current (or last) server process's log, for diagnostics.
  std::string output() const;

  // Graceful: SIGTERM, then wait for the exit (SIGKILL if it takes longer than `timeout`).
  absl::Status Stop(absl::Duration timeout = absl::Seconds(10));
  // Crash: SIGKILL and reap.
  absl::Status Kill();
  // Stops the server if it is running, then starts it again on the same port with the same
  // options and store directory.
  absl::Status Restart();

 private:
  explicit NatsServer(NatsServerOptions options) : options_(std::move(options)) {}
  // Spawns and waits for readiness, retrying on "address already in use" until `deadline`.
  absl::Status Launch(absl::Time deadline);
  absl::Status LaunchOnce(absl::Time deadline);

  NatsServerOptions options_;
  int port_ = 0;
  std::string store_dir_;
  std::unique_ptr<Process> process_;
};

}  // namespace sidecar::test_common
