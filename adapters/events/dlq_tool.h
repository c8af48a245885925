#pragma once
// `nats-sidecar dlq list|show|replay`: inspects and replays dead-lettered events. main.cc only parses
// arguments; everything else is here. Uses the config's NATS settings and consumers (for the DLQ
// stream name and, with --to, the path and cluster an event is delivered to).

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "sidecar/config/config.h"

namespace sidecar::adapters::events {

struct DlqCommand {
  std::string verb;          // list | show | replay
  std::string stream;        // "" -> the consumers' dlq_stream (one DLQ) or "DLQ"
  std::string filter;        // original-subject pattern (wildcards allowed); "" = every entry
  std::vector<uint64_t> seqs;  // DLQ sequences; show needs one; replay: empty = every matching entry
  // replay: "" re-publishes to the original subject (the running consumers deliver it again);
  // "legacy" delivers straight to a legacy_http cluster (the consumer's own if it is one);
  // "native" sends it over NATS to the action of the native port serving the consumer's path.
  std::string to;
  size_t limit = 1000;  // list: at most this many entries
};

// Returns the process exit code: 0 success, 1 failure (with the reason on `err`).
int RunDlqCommand(const config::Config& config, const DlqCommand& command, std::ostream& out, std::ostream& err);

}  // namespace sidecar::adapters::events
