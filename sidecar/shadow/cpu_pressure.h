#pragma once
// How much the task's processes wait for a core, from the kernel's pressure stall information
// (PSI, Linux 4.20+): the share of wall time in which at least one runnable task waited for a CPU.
//
// Why the shadow reads it: a mirror's work (its write, its upstream's answer, the read, the diff)
// is extra CPU on the task's few cores. The mirror worker runs at SCHED_IDLE, but the shadow's
// upstream, when it shares the task (a colocated legacy service), does not. Once the cores are
// contended, every mirror lengthens the queue in front of the primary's next hop; a route can
// therefore pause its shadow above a pressure it chooses
// (ShadowConfig::pause_above_cpu_pressure_bp).

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

}  // namespace sidecar::shadow
