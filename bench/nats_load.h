#pragma once
// NATS request/reply against a loopback server (nats.c, SendAsap on):
//   RunNatsLoad   closed loop (rate 0): N requests in flight, every reply (or timeout) sends the
//                 next one; open loop (rate R): request k is sent at start + k/R, latency from that
//                 intended time. One connection, one wildcard reply subscription, no thread per
//                 request, so the driver costs about what a raw nats.c requester costs.
//   RunRequest    one request; prints the reply's headers and body
//   RunResponder  a raw nats.c responder (the floor a sidecar is compared with)

#include <cstdint>
#include <string>
#include <vector>

#include "bench/report.h"

namespace sidecar::bench {

struct NatsLoadOptions {
  std::string url = "nats://127.0.0.1:4222";
  std::string subject;
  std::vector<std::string> headers;  // "Name: value"
  std::string data;                  // every "{seq}" becomes the request's number (0, 1, ...)
  int inflight = 1;  // closed loop: requests in flight
  double rate = 0;   // open loop: requests per second; 0 = closed loop with `inflight`
  uint64_t count = 0;   // measured replies to stop after; 0 = time only
  double seconds = 60;  // measuring time, hard limit
  double warmup_s = 0;
  int timeout_ms = 5000;
  std::string label;
};

// True when `url` is nats://127.x.x.x:port or nats://localhost:port.
bool IsLoopbackNatsUrl(const std::string& url);

bool RunNatsLoad(const NatsLoadOptions& options, RunResult& result, std::string& error);
int RunRequest(const std::string& url, const std::string& subject,
               const std::vector<std::string>& headers, const std::string& data, int timeout_ms);
// Answers every request on `subject` (queue `queue`) with `body` until SIGTERM/SIGINT (which the
// caller must have blocked in every thread) or max_seconds.
int RunResponder(const std::string& url, const std::string& subject, const std::string& queue,
                 const std::string& body, double max_seconds);

}  // namespace sidecar::bench
