// nats-sidecar: run | validate | healthcheck | --version. Only argument handling lives here.

#include <chrono>
#include <csignal>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "sidecar/admin/healthcheck_client.h"
#include "sidecar/common/logging.h"
#include "sidecar/config/loader.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/server/effective_config.h"
#include "sidecar/server/server.h"

namespace {

using sidecar::config::Config;

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
  sidecar::log::Info("started", {{"version", SIDECAR_VERSION}, {"git_sha", SIDECAR_GIT_SHA}});
  int code = (*server)->Run();
  server->reset();  // close subscriptions and the NATS connection before the loop goes away
  sidecar::log::Info("stopped", {{"exit_code", std::to_string(code)}});
  return code;
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
  CLI::App app{"nats-sidecar: NATS <-> legacy HTTP sidecar proxy"};
  app.set_version_flag("--version", std::string("nats-sidecar ") + SIDECAR_VERSION + " (" + SIDECAR_GIT_SHA + ")");
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

  app.require_subcommand(0, 1);
  CLI11_PARSE(app, argc, argv);

  if (*validate) return Validate(config_path);
  if (*healthcheck) return Healthcheck(admin, hc_config, ready);
  if (config_path.empty()) {
    std::cerr << "--config is required\n" << app.help();
    return 2;
  }
  return Run(config_path);
}
