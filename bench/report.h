#pragma once
// The result of one load run, whatever drove it (HTTP closed/open loop, NATS request/reply), and
// its three renderings: a table row for people, one JSON object per line for bench/run, and the
// histogram as CSV.

#include <cstdint>
#include <map>
#include <string>

#include "bench/histogram.h"

namespace sidecar::bench {

struct RunResult {
  std::string label;
  std::string mode;        // http-closed | http-open | nats | nats-open
  int concurrency = 0;     // HTTP connections, or NATS requests in flight (open loop: the peak)
  double target_rate = 0;  // open loop: requests per second asked for; 0 for closed loop
  double elapsed_s = 0;    // measured part only (after warm-up)
  uint64_t responses = 0;  // answered, whatever the status
  uint64_t errors =
      0;  // non-2xx HTTP, NATS service errors / no responders, connect failures, resets
  uint64_t timeouts = 0;  // no answer within the timeout
  std::map<std::string, uint64_t>
      statuses;              // "200", "503", "connect", "reset", "no_responders" ...
  LatencyHistogram latency;  // ns; open loop: from each request's intended send time
};

void PrintHeader();
void PrintRow(const RunResult& result);
// One line: {"label":..,"mode":..,"rps":..,"p50_ms":..,...}
std::string ToJson(const RunResult& result);
// Writes the histogram CSV; false (with a message on stderr) when the file cannot be written.
bool WriteHistogram(const RunResult& result, const std::string& path);
// Prints the row or the JSON line, and the histogram file when `histogram_out` is set. Returns the
// process exit code: 0, or 3 when the histogram could not be written.
int Emit(const RunResult& result, bool json, bool header, const std::string& histogram_out);

}  // namespace sidecar::bench
