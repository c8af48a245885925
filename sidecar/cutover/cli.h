#pragma once
// `nats-sidecar cutover` and `nats-sidecar status`: blocking commands over the cut-over KV bucket
// (main.cc only parses arguments). Both read the sidecar config for NATS, the bucket and the routes.
//
//   cutover <route|service> --to native=25        set weights (ends a running ramp)
//   cutover <route|service> --ramp [--steps 1,5,25,50,100] [--hold-ms N]
//                                                  start the stepped ramp (config's cutover.routes[].ramp)
//   status [route|service]                         one JSON document: per route the weights in force
//                                                  (KV or config), ramp, last rollback and the history
// Every write is a CAS on the key's revision with who (--by, default $USER@host) and when.

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "sidecar/config/config.h"

namespace sidecar::cutover {

struct CutoverCommand {
  std::string target;  // a route name, or a service (every split route of it)
  std::string to;      // "native=25" or "legacy=75,native=25"
  bool ramp = false;
  std::vector<double> steps;  // percent; empty: the config's ramp steps
  int64_t hold_ms = 0;        // 0: the config's hold
  std::string by;             // empty: $USER@hostname
  std::string reason;
};

// Exit codes: 0 written, 1 failure (printed on `err`), 2 usage (unknown target, bad --to).
int RunCutover(const config::Config& config, const CutoverCommand& command, std::ostream& out, std::ostream& err);
int RunStatus(const config::Config& config, const std::string& target, std::ostream& out, std::ostream& err);

}  // namespace sidecar::cutover
