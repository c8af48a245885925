#pragma once
// The healthy/unhealthy decision of an active health check, apart from how a check is made (HTTP
// GET for legacy_http, a NATS request for nats clusters). Envoy's rules: it starts unhealthy; the
// first pass ever marks it healthy at once (a sidecar is ready as soon as its upstream answers);
// afterwards `unhealthy_threshold` failures in a row mark it unhealthy and `healthy_threshold`
// passes in a row healthy again.

#include <cstdint>

namespace sidecar::upstream {

class HealthState {
 public:
  HealthState(int64_t healthy_threshold, int64_t unhealthy_threshold)
      : healthy_threshold_(healthy_threshold), unhealthy_threshold_(unhealthy_threshold) {}

  // Records one check; true when the state flipped.
  bool Record(bool passed) {
    if (passed) {
      consecutive_failures_ = 0;
      ++consecutive_passes_;
      if (!healthy_ && (!ever_healthy_ || consecutive_passes_ >= healthy_threshold_)) {
        healthy_ = ever_healthy_ = true;
        return true;
      }
      return false;
    }
    consecutive_passes_ = 0;
    ++consecutive_failures_;
    if (healthy_ && consecutive_failures_ >= unhealthy_threshold_) {
      healthy_ = false;
      return true;
    }
    return false;
  }
  bool healthy() const { return healthy_; }
  // Unhealthy after having been healthy, with passes accumulating toward healthy_threshold.
  bool recovering() const { return !healthy_ && ever_healthy_ && consecutive_passes_ > 0; }
  int64_t consecutive_passes() const { return consecutive_passes_; }

 private:
  const int64_t healthy_threshold_;
  const int64_t unhealthy_threshold_;
  bool healthy_ = false;
  bool ever_healthy_ = false;
  int64_t consecutive_passes_ = 0;
  int64_t consecutive_failures_ = 0;
};

}  // namespace sidecar::upstream
