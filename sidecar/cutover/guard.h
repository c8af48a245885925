#pragma once
// Guard rules over sliding windows of one route's requests on its new side (pure logic; the
// controller feeds it from the RouteObserver and evaluates it on a timer).
//
//   error_rate     failed requests / requests, in percent           (breach: observed > max)
//   p99_latency    99th percentile latency of the requests, in ms   (breach: observed > max)
//   mismatch_rate  mismatched shadow comparisons / comparisons, in %  (breach: observed > max)
// A rule is judged only once its window holds at least min_requests samples, so a handful of
// early failures cannot roll a route back.
//
// Samples are kept individually (time, ok, latency) and trimmed to the longest window, with a cap
// (max_samples per kind) so memory stays bounded under load: past the cap the oldest go first and
// the window is effectively shorter. Exact p99 is computed on evaluation, not per request.

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace sidecar::cutover {

using Clock = std::chrono::steady_clock;

struct GuardRule {
  enum class Kind { kErrorRate, kP99Latency, kMismatchRate };
  Kind kind = Kind::kErrorRate;
  double max = 0;  // percent for the rates, milliseconds for p99
  int64_t min_requests = 1;
  std::chrono::milliseconds window{60000};

  const char* name() const;
};

struct Breach {
  std::string rule;  // error_rate | p99_latency | mismatch_rate
  double observed = 0;
  double threshold = 0;
  int64_t requests = 0;

  std::string ToString() const;  // "error_rate 50% > 10% over 40 requests"
};

class RouteGuard {
 public:
  explicit RouteGuard(std::vector<GuardRule> rules, size_t max_samples = 100000);

  void RecordRequest(Clock::time_point now, bool ok, std::chrono::microseconds latency);
  void RecordShadow(Clock::time_point now, bool matched);
  // The first rule in breach (in config order), or nullopt while every rule holds or lacks data.
  std::optional<Breach> Evaluate(Clock::time_point now);
  // Forgets every sample: a new weight starts a new judgement.
  void Reset();

  const std::vector<GuardRule>& rules() const { return rules_; }
  size_t request_samples() const { return requests_.size(); }

 private:
  struct RequestSample {
    Clock::time_point at;
    bool ok;
    std::chrono::microseconds latency;
  };
  struct ShadowSample {
    Clock::time_point at;
    bool matched;
  };
  void Trim(Clock::time_point now);

  std::vector<GuardRule> rules_;
  size_t max_samples_;
  std::chrono::milliseconds longest_{0};
  std::deque<RequestSample> requests_;
  std::deque<ShadowSample> shadows_;
};

}  // namespace sidecar::cutover
