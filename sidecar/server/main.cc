// nats-sidecar: run | validate | healthcheck | --version. Only argument handling lives here.

#include <chrono>
#include <csignal>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "gperftools/tcmalloc.h"
#include "adapters/events/dlq_tool.h"
#include "sidecar/admin/healthcheck_client.h"
#include "sidecar/common/build_info.h"
#include "sidecar/common/logging.h"
#include "sidecar/config/loader.h"
#include "sidecar/cutover/cli.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/server/effective_config.h"
#include "sidecar/server/server.h"

namespace {

using sidecar::config::Config;

// The process allocates with gperftools' tcmalloc, linked in (Envoy links its own tcmalloc for the
// same reason): glibc's malloc and free were a quarter of the native host's instructions per
// request. Named by tcmalloc itself, so a build that lost the link cannot claim it.
std::string Allocator() { return std::string("tcmalloc, ") + tc_version(nullptr, nullptr, nullptr); }

absl::StatusOr<Config> LoadAndCheck(const std::string& path) {
  auto config = sidecar::config::LoadFromFile(path, sidecar::config::ProcessEnv());
  if (!config.ok()) return config.status();
  absl::Status st = sidecar::server::ExpandConfig(*config);
  if (st.ok()) st = sidecar::server::CheckConfig(*config);
  if (!st.ok()) return st;
  return config;
}

int Validate(const std::string& path) {
  auto config = LoadAndCheck(path);
  if (!config.ok()) {
    std::cout << config.status().message() << "\n";
    return 1;
  }
  std::cout << "OK\n";
  return 0;
}

int Run(const std::string& path) {
  auto config = LoadAndCheck(path);
  if (!config.ok()) {
    std::cerr << path << ": invalid configuration\n" << config.status().message() << "\n";
    return 1;
  }
  sidecar::log::Level level;
  if (sidecar::log::ParseLevel(config->server.log_level, &level)) sidecar::log::SetLevel(level);
  auto dispatcher = sidecar::event::Dispatcher::Create("main");
  if (!dispatcher.ok()) {
    sidecar::log::Error("cannot create event loop", {{"error", dispatcher.status().ToString()}});
    return 1;
  }
  auto server = sidecar::server::Server::Create(*std::move(config), **dispatcher);
  if (!server.ok()) {
    sidecar::log::Error("cannot start", {{"error", server.status().ToString()}});
    return 1;
  }
  sidecar::log::Info("started", {{"version", SIDECAR_VERSION},
                                 {"git_sha", std::string(sidecar::BuildGitSha())},
                                 {"allocator", Allocator()}});
  int code = (*server)->Run();
  server->reset();  // close subscriptions and the NATS connection before the loop goes away
  sidecar::log::Info("stopped", {{"exit_code", std::to_string(code)}});
  return code;
}

int Dlq(const std::string& path, const sidecar::adapters::events::DlqCommand& command) {
  auto config = LoadAndCheck(path);
  if (!config.ok()) {
    std::cerr << path << ": invalid configuration\n" << config.status().message() << "\n";
    return 1;
  }
  return sidecar::adapters::events::RunDlqCommand(*config, command, std::cout, std::cerr);
}

// cutover / status (issue 7): the implementation is sidecar/cutover/cli.h.
int Cutover(const std::string& path, const sidecar::cutover::CutoverCommand* command, const std::string& target) {
  auto config = LoadAndCheck(path);
  if (!config.ok()) {
    std::cerr << path << ": invalid configuration\n" << config.status().message() << "\n";
    return 1;
  }
  return command != nullptr ? sidecar::cutover::RunCutover(*config, *command, std::cout, std::cerr)
                            : sidecar::cutover::RunStatus(*config, target, std::cout, std::cerr);
}

int Healthcheck(std::string admin, const std::string& config_path, bool ready) {
  if (!config_path.empty()) {
    auto config = sidecar::config::LoadFromFile(config_path, sidecar::config::ProcessEnv());
    if (!config.ok()) {
      std::cout << "config: " << config.status().message() << "\n";
      return 1;
    }
    admin = config->admin.address.ToString();
  }
  // ECS kills a health check that overruns its timeout; answer well inside 2 s in every case.
  return sidecar::admin::RunHealthcheck(admin, ready, sidecar::admin::kDefaultHealthcheckDeadline, std::cout);
}

}  // namespace

int main(int argc, char** argv) {
  // A peer closing a keep-alive socket mid-write must be an EPIPE error on that connection, not the
  // end of the process.
  std::signal(SIGPIPE, SIG_IGN);
  // Debian builds Abseil without NDEBUG, so every absl::Mutex lock would also run the deadlock
  // detector (a cycle-graph lookup under a global lock): about 370 instructions per request on the
  // pass-through, for the route table's snapshot alone. Tests keep it on; the binary runs without.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{"nats-sidecar: NATS <-> legacy HTTP sidecar proxy"};
  app.set_version_flag("--version", std::string("nats-sidecar ") + SIDECAR_VERSION + " (" +
                                        std::string(sidecar::BuildGitSha()) + ", " + Allocator() +
                                        ")");
  std::string config_path;
  app.add_option("-c,--config", config_path, "configuration file (YAML) for the default verb, run");

  auto* run = app.add_subcommand("run", "run the sidecar (the default verb)");
  run->add_option("-c,--config", config_path, "configuration file (YAML)")->required();

  auto* validate = app.add_subcommand("validate", "check a configuration file; prints OK or every error");
  validate->add_option("-c,--config", config_path, "configuration file (YAML)")->required();

  std::string admin = "127.0.0.1:9901";
  std::string hc_config;
  bool ready = false;
  auto* healthcheck = app.add_subcommand("healthcheck", "exit 0 if the admin port says healthy (ECS healthCheck)");
  healthcheck->add_option("--admin", admin, "admin address host:port")->capture_default_str();
  healthcheck->add_option("-c,--config", hc_config, "read the admin address from this configuration");
  healthcheck->add_flag("--ready", ready, "check /ready instead of /health");

  // dlq list|show|replay: the dead-letter stream of the events consumers (adapters/events/dlq_tool.h).
  sidecar::adapters::events::DlqCommand dlq_command;
  bool replay_all = false;
  auto* dlq = app.add_subcommand("dlq", "inspect and replay dead-lettered JetStream events");
  dlq->require_subcommand(1);
  auto dlq_verb = [&](const char* name, const char* help) {
    auto* verb = dlq->add_subcommand(name, help);
    verb->add_option("-c,--config", config_path, "configuration file (YAML), as for run")->required();
    verb->add_option("--stream", dlq_command.stream, "DLQ stream (default: the consumers' dlq_stream)");
    verb->add_option("--filter", dlq_command.filter, "only entries whose original subject matches (wildcards ok)");
    return verb;
  };
  auto* dlq_list = dlq_verb("list", "one JSON line per entry: seq, subject, attempts, reason, last error, times");
  dlq_list->add_option("--limit", dlq_command.limit, "at most this many entries")->capture_default_str();
  auto* dlq_show = dlq_verb("show", "one entry with its headers, payload and reason");
  dlq_show->add_option("seq", dlq_command.seqs, "DLQ sequence number")->required()->expected(1);
  auto* dlq_replay = dlq_verb("replay", "re-publish to the original subject (or deliver --to a cluster), then "
                                        "remove the entry");
  dlq_replay->add_option("seq", dlq_command.seqs, "DLQ sequence numbers (or --filter / --all)");
  dlq_replay->add_option("--to", dlq_command.to, "deliver straight to a cluster of this kind instead")
      ->check(CLI::IsMember({"legacy", "native"}));
  dlq_replay->add_flag("--all", replay_all, "replay every entry (matching --filter, if given)");

  // cutover <route|service> --to SIDE=PERCENT | --ramp; status [route|service] (sidecar/cutover/cli.h).
  sidecar::cutover::CutoverCommand cutover_command;
  auto* cutover = app.add_subcommand("cutover", "set a route's (or a service's routes') weights fleet-wide through "
                                                "the KV bucket, or start the stepped ramp");
  cutover->add_option("-c,--config", config_path, "configuration file (YAML), as for run")->required();
  cutover->add_option("target", cutover_command.target, "route name, or a service (all its split routes)")
      ->required();
  cutover->add_option("--to", cutover_command.to, "SIDE=PERCENT[,SIDE=PERCENT]; side = cluster name or kind, "
                                                  "e.g. native=25");
  cutover->add_flag("--ramp", cutover_command.ramp, "start the stepped ramp toward the route's new side");
  cutover->add_option("--steps", cutover_command.steps, "ramp steps in percent (default: config), e.g. 1,5,25,50,100")
      ->delimiter(',');
  cutover->add_option("--hold-ms", cutover_command.hold_ms, "hold per ramp step (default: config)");
  cutover->add_option("--by", cutover_command.by, "who makes the change (default: $USER@host)");
  cutover->add_option("--reason", cutover_command.reason, "why, recorded with the revision");
  std::string status_target;
  auto* status = app.add_subcommand("status", "print the cut-over state (weights, ramp, rollbacks, history) as JSON");
  status->add_option("-c,--config", config_path, "configuration file (YAML), as for run")->required();
  status->add_option("target", status_target, "route name or service (default: every split route)");

  app.require_subcommand(0, 1);
  CLI11_PARSE(app, argc, argv);

  if (*validate) return Validate(config_path);
  if (*dlq) {
    dlq_command.verb = *dlq_list ? "list" : *dlq_show ? "show" : "replay";
    if (*dlq_replay && dlq_command.seqs.empty() && dlq_command.filter.empty() && !replay_all) {
      std::cerr << "dlq replay: name DLQ sequence numbers, --filter SUBJECT or --all\n";
      return 2;
    }
    return Dlq(config_path, dlq_command);
  }
  if (*cutover) return Cutover(config_path, &cutover_command, "");
  if (*status) return Cutover(config_path, nullptr, status_target);
  if (*healthcheck) return Healthcheck(admin, hc_config, ready);
  if (config_path.empty()) {
    std::cerr << "--config is required\n" << app.help();
    return 2;
  }
  return Run(config_path);
}
