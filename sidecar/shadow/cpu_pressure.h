#pragma once
// How much the task's processes wait for a core, from the kernel's pressure stall information
// (PSI, Linux 4.20+): the share of wall time in which at least one runnable task waited for a CPU.
//
// Why the shadow reads it: a mirror's work (its write, its upstream's answer, the read, the diff)
// is extra CPU on the task's few cores. The mirror worker runs at SCHED_IDLE, but the shadow's
// upstream, when it shares the task (a colocated legacy service), does not. Once the cores are
// contended, every mirror lengthens the queue in front of the primary's next hop; a route can
// therefore hold its shadow back above a pressure it chooses
// (ShadowConfig::pause_above_cpu_pressure_bp), by the share AdmitShare keeps.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace sidecar::shadow {

// The "some" line's total (microseconds stalled since boot) of a PSI file's text.
absl::StatusOr<uint64_t> ParsePsiSomeTotal(std::string_view text);

class CpuPressure {
 public:
  using Clock = std::chrono::steady_clock;

  // The task's own cgroup (v2) cpu.pressure when readable, else the host's /proc/pressure/cpu;
  // NotFound on a kernel without PSI.
  static absl::StatusOr<std::string> FindSource();

  explicit CpuPressure(std::string path) : path_(std::move(path)) {}

  // Reads the stall total at `now`: the share (0-1) of the time since the previous good sample in
  // which some task waited for a core; nullopt for the first sample (a baseline only). An error
  // when the file cannot be read or parsed.
  absl::StatusOr<std::optional<double>> Sample(Clock::time_point now);

 private:
  std::string path_;
  struct Reading {
    Clock::time_point at;
    uint64_t stalled_us;
  };
  std::optional<Reading> last_;
};

// The share of a route's mirrors let out under its CPU pressure line, kept the way TCP keeps a
// congestion window (AIMD): it halves at each sample above the line, since the primary is already
// waiting for cores, and grows by a tenth at each sample at or below it, so the shadow comes back
// gradually. An on/off pause (the first version) oscillated: each time it lifted, the whole shadow
// landed on the cores at once and pushed the pressure, and the primary's tail, straight back up.
// Kept in basis points, as the route's percentages are, so ten steps up make exactly all.
class AdmitShare {
 public:
  static constexpr int64_t kAll = 10000;
  static constexpr int64_t kGrowthBp = 1000;  // per sample at or below the line
  static constexpr int64_t kFloorBp = 300;    // halved below it, nothing goes out

  // `pressure` (0-1) as sampled; `line_bp` the route's line in basis points.
  void OnSample(double pressure, int64_t line_bp) {
    if (pressure * kAll > static_cast<double>(line_bp)) {
      share_bp_ = share_bp_ / 2 < kFloorBp ? 0 : share_bp_ / 2;
    } else {
      share_bp_ = std::min(kAll, share_bp_ + kGrowthBp);
    }
  }
  // Back to everything (a pressure that cannot be read holds nothing back).
  void Reset() { share_bp_ = kAll; }
  int64_t share_bp() const { return share_bp_; }

 private:
  int64_t share_bp_ = kAll;
};

}  // namespace sidecar::shadow
