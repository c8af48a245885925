#pragma once
// HTTP/1.1 keep-alive load against 127.0.0.1 only: C connections over T libevent loops.
//   closed loop (rate 0): each connection sends its next request when the reply arrives;
//   open loop (rate R):   request k of connection i is due at start + (i + k*C)/R; latency runs
//   from
//                         that intended time, not from the actual send (wrk2's correction for
//                         coordinated omission: a stall shows as the latency every caller would
//                         have seen, not as one slow sample).
// A run ends after `count` measured replies or `seconds` of measuring, whichever comes first; the
// time limit always applies.

#include <cstdint>
#include <string>
#include <vector>

#include "bench/report.h"

namespace sidecar::bench {

struct HttpLoadOptions {
  std::string url;  // http://127.0.0.1:<port>/<path>; any other host is refused
  std::string method = "GET";
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  int connections = 1;
  int threads = 1;
  double rate = 0;      // requests per second over all connections; 0 = closed loop
  uint64_t count = 0;   // measured replies to stop after; 0 = time only
  double seconds = 10;  // measuring time, hard limit
  double warmup_s = 0;  // before measuring: same load, results dropped
  int timeout_ms = 5000;
  std::string label;
};

// False with `error` set when the options are unusable (bad URL, non-loopback host...).
bool RunHttpLoad(const HttpLoadOptions& options, RunResult& result, std::string& error);

}  // namespace sidecar::bench
