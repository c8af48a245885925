#include "tests/test_common/nats_cluster.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "tests/test_common/net.h"
#include "tests/test_common/paths.h"
#include "tests/test_common/test_util.h"

namespace sidecar::test_common {
namespace {

// True when the installed nats-server is older than 2.10 (no sync_interval).
bool PredatesSyncInterval() {
  ProcessOptions po;
  po.name = "nats-server-version";
  po.argv = {"nats-server", "--version"};
  auto p = Process::Spawn(po);
  if (!p.ok()) return true;
  (*p)->Wait(absl::Now() + absl::Seconds(10)).IgnoreError();
  std::smatch m;
  const std::string out = (*p)->output();
  static const std::regex kVersion(R"(v(\d+)\.(\d+)\.)");
  if (!std::regex_search(out, m, kVersion)) return true;
  const int major = std::stoi(m[1]), minor = std::stoi(m[2]);
  return major < 2 || (major == 2 && minor < 10);
}

}  // namespace

absl::StatusOr<std::unique_ptr<NatsCluster>> NatsCluster::Start(int nodes, absl::Duration timeout) {
  if (nodes != 3) return absl::InvalidArgumentError("only the shipped 3-node config is rendered");
  std::unique_ptr<NatsCluster> c(new NatsCluster());
  char tmpl[] = "/tmp/nats-cluster-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp");
  c->work_dir_ = tmpl;
  const std::string conf_dir = SourceDir() + "/config/nats";
  std::string conf = ReadFile(conf_dir + "/cluster-3.conf");
  if (PredatesSyncInterval()) conf = absl::StrReplaceAll(conf, {{"\n  sync_interval: always\n", "\n"}});
  c->config_path_ = c->work_dir_ + "/cluster-3.conf";
  std::ofstream(c->config_path_) << conf;
  std::ofstream(c->work_dir_ + "/cluster-common.conf") << ReadFile(conf_dir + "/cluster-common.conf");
  for (int i = 0; i < nodes; ++i) {
    for (std::vector<int>* ports : {&c->client_ports_, &c->cluster_ports_, &c->monitor_ports_}) {
      auto port = PickUnusedPort();
      if (!port.ok()) return port.status();
      ports->push_back(*port);
    }
  }
  c->nodes_.resize(nodes);
  const absl::Time deadline = absl::Now() + timeout;
  for (int i = 0; i < nodes; ++i) {
    if (absl::Status s = c->Launch(i, deadline); !s.ok()) return s;
  }
  for (int i = 0; i < nodes; ++i) {
    if (absl::Status s = c->nodes_[i]->WaitForOutput("Server is ready", deadline); !s.ok()) return s;
  }
  // JetStream is usable once a meta leader is elected (any node logs it).
  for (int i = 0; i < nodes; ++i) {
    if (c->nodes_[i]->WaitForOutput("JetStream cluster new metadata leader", absl::Now() + absl::Seconds(1)).ok()) {
      return c;
    }
  }
  if (absl::Status s = c->nodes_[0]->WaitForOutput("metadata leader", deadline); !s.ok()) return s;
  return c;
}

NatsCluster::~NatsCluster() {
  nodes_.clear();
  std::error_code ignored;
  if (!work_dir_.empty()) std::filesystem::remove_all(work_dir_, ignored);
}

absl::Status NatsCluster::Launch(int node, absl::Time deadline) {
  ProcessOptions po;
  po.name = absl::StrCat("nats-", node + 1);
  po.argv = {"nats-server", "-c", config_path_};
  po.working_dir = work_dir_;
  po.env = {{"NATS_SERVER_NAME", absl::StrCat("nats-", node + 1)},
            {"NATS_HOST", "127.0.0.1"},
            {"NATS_CLIENT_PORT", absl::StrCat(client_ports_[node])},
            {"NATS_CLUSTER_PORT", absl::StrCat(cluster_ports_[node])},
            {"NATS_MONITOR_LISTEN", absl::StrCat("127.0.0.1:", monitor_ports_[node])},
            {"NATS_STORE_DIR", absl::StrCat(work_dir_, "/store-", node + 1)}};
  for (size_t i = 0; i < cluster_ports_.size(); ++i) {
    po.env.emplace_back(absl::StrCat("NATS_ROUTE_", i + 1), absl::StrCat("nats-route://127.0.0.1:", cluster_ports_[i]));
  }
  nodes_[node].reset();
  auto p = Process::Spawn(std::move(po));
  if (!p.ok()) return p.status();
  nodes_[node] = std::move(*p);
  // "Server is ready" is awaited by the caller (Start waits for all nodes at once: a node alone
  // may wait for its routes before it says so).
  return nodes_[node]->WaitForOutput("Listening for client connections", deadline);
}

std::string NatsCluster::url(int node) const { return absl::StrCat("nats://127.0.0.1:", client_ports_[node]); }

std::string NatsCluster::monitor_address(int node) const {
  return absl::StrCat("127.0.0.1:", monitor_ports_[node]);
}

std::string NatsCluster::urls() const {
  std::vector<std::string> all;
  for (int i = 0; i < size(); ++i) all.push_back(url(i));
  return absl::StrJoin(all, ",");
}

bool NatsCluster::running(int node) const { return nodes_[node] != nullptr && nodes_[node]->running(); }

std::string NatsCluster::output(int node) const { return nodes_[node] ? nodes_[node]->output() : ""; }

absl::Status NatsCluster::Kill(int node) {
  if (!running(node)) return absl::OkStatus();
  if (absl::Status s = nodes_[node]->Kill(); !s.ok()) return s;
  auto st = nodes_[node]->Wait(absl::Now() + absl::Seconds(10));
  return st.ok() ? absl::OkStatus() : st.status();
}

absl::Status NatsCluster::Restart(int node, absl::Duration timeout) {
  if (absl::Status s = Kill(node); !s.ok()) return s;
  const absl::Time deadline = absl::Now() + timeout;
  if (absl::Status s = Launch(node, deadline); !s.ok()) return s;
  return nodes_[node]->WaitForOutput("Server is ready", deadline);
}

}  // namespace sidecar::test_common
