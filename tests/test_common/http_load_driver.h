#pragma once
// Fixed-rate HTTP/1.1 load for chaos tests, with one record per request (bench/sidecar-load only
// reports aggregates; a chaos test must know *when* each failure happened, how long it took, and
// whether the reply belonged to its caller).
//
// C connections, one thread each, every connection keep-alive on 127.0.0.1. Connection i sends its
// k-th request when due (start + (i + k*C)/rate, recomputed when the rate changes); a connection
// stuck on a slow reply sends late, and the record keeps both the intended and the actual send time.
// Request `seq` carries the token "<tag>-<seq>" in its body ({"id":"<tag>-<seq>"}); a 2xx reply
// that does not contain that token is counted as a reply delivered to the wrong caller.
// Every read is bounded by `timeout`. Thread-safe: Snapshot/SetRate from any thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace sidecar::test_common {

struct HttpLoadSpec {
  int port = 0;
  std::string method = "POST";
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  double rate = 100;  // requests per second over all connections
  int connections = 8;
  absl::Duration timeout = absl::Seconds(5);
  std::string tag = "rq";
  // The header that also carries the token (e.g. Nats-Msg-Id for the egress publish route).
  std::string id_header = "X-Request-Id";
  // Called first on every connection's thread (e.g. to enter a network namespace); a connection
  // whose setup returns false sends nothing.
  std::function<bool()> thread_setup;
  // false: only the status is checked (the upstream does not echo bodies).
  bool check_echo = true;
  // Keep each 2xx answer's body in its outcome (e.g. the egress's PubAck, for a failure report).
  bool keep_ok_bodies = false;
};

struct HttpOutcome {
  uint64_t seq = 0;
  absl::Time intended;       // when it was due
  absl::Time sent;           // when it was written
  absl::Duration latency;    // sent -> whole reply read (or failure seen)
  int status = 0;            // HTTP status; -1 transport failure (refused/reset); 0 timed out
  bool wrong_caller = false; // 2xx whose body lacks this request's token
  std::string reason;        // X-Sidecar-Reason, if any
  std::string body;          // a 2xx answer's body, with HttpLoadSpec::keep_ok_bodies only
  bool ok() const { return status >= 200 && status < 300 && !wrong_caller; }
};

class HttpLoadDriver {
 public:
  static std::unique_ptr<HttpLoadDriver> Start(HttpLoadSpec spec);
  ~HttpLoadDriver();  // Stop()s

  // Changes the offered rate from now on (0 pauses).
  void SetRate(double rate);
  // Every outcome recorded so far (in completion order per connection, merged).
  std::vector<HttpOutcome> Snapshot() const;
  size_t completed() const;
  // Blocks until at least `n` requests have succeeded (ok()) or `deadline`; returns that count.
  size_t WaitForOk(size_t n, absl::Time deadline) const;
  // Stops sending, waits (bounded by the spec's timeout) for the requests in flight, returns all.
  std::vector<HttpOutcome> Stop();

 private:
  explicit HttpLoadDriver(HttpLoadSpec spec) : spec_(std::move(spec)) {}
  void Run(int index);
  absl::Time Due(int index, uint64_t k) const;

  const HttpLoadSpec spec_;
  absl::Time start_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> next_seq_{0};
  std::vector<std::thread> threads_;

  mutable absl::Mutex mu_;
  std::vector<HttpOutcome> outcomes_ ABSL_GUARDED_BY(mu_);
  size_t ok_ ABSL_GUARDED_BY(mu_) = 0;
  // Rate changes restart every connection's schedule at the moment of the change.
  double rate_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time epoch_ ABSL_GUARDED_BY(mu_);
  uint64_t epoch_id_ ABSL_GUARDED_BY(mu_) = 0;
};

// Summary helpers over outcomes.
struct LoadSummary {
  size_t total = 0, ok = 0, wrong_caller = 0, timeouts = 0, transport = 0;
  size_t by_5xx = 0, by_other = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;  // of every request's latency
  std::string ToString() const;
};
LoadSummary Summarize(const std::vector<HttpOutcome>& outcomes);
// The q-quantile (0..1) of `values` (copied and sorted); 0 when empty.
double Quantile(std::vector<double> values, double q);

}  // namespace sidecar::test_common
