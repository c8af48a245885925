#pragma once
// A 3-node nats-server cluster with JetStream on 127.0.0.1, from the shipped config
// (config/nats/cluster-3.conf + cluster-common.conf, node values through the environment exactly as
// in production; see tests/ecs/nats_cluster_test.py). On nats-server < 2.10 (Debian's 2.9.10) the
// `sync_interval: always` line is dropped, as that option does not exist there yet.
//
//   auto cluster = NatsCluster::Start();      // all 3 "Server is ready", a JetStream meta leader
//   cluster->Kill(1); cluster->Restart(1);    // same ports, same store: the node rejoins
//   cluster->urls();                          // "nats://127.0.0.1:a,nats://127.0.0.1:b,..."
//
// Ports are picked free just before the first start (PickUnusedPort: racy by nature; a start that
// finds its port taken fails with the server's message).

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/test_common/process.h"

namespace sidecar::test_common {

class NatsCluster {
 public:
  static absl::StatusOr<std::unique_ptr<NatsCluster>> Start(int nodes = 3,
                                                           absl::Duration timeout = absl::Seconds(30));
  ~NatsCluster();  // SIGKILLs every node, removes the stores and the rendered config

  int size() const { return static_cast<int>(client_ports_.size()); }
  // Comma-separated client URLs of every node (the NATS_URL convention).
  std::string urls() const;
  std::string url(int node) const;
  // "127.0.0.1:<port>" of node `node`'s monitoring endpoint (/varz, /connz, /jsz...).
  std::string monitor_address(int node) const;
  bool running(int node) const;
  std::string output(int node) const;

  // SIGKILL node `node` (0-based) and reap it.
  absl::Status Kill(int node);
  // Starts node `node` again (same ports, same store) and waits for "Server is ready".
  absl::Status Restart(int node, absl::Duration timeout = absl::Seconds(20));

 private:
  NatsCluster() = default;
  absl::Status Launch(int node, absl::Time deadline);

  std::string work_dir_;
  std::string config_path_;
  std::vector<int> client_ports_, cluster_ports_, monitor_ports_;
  std::vector<std::unique_ptr<Process>> nodes_;
};

}  // namespace sidecar::test_common
