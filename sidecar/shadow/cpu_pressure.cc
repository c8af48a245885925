#include "sidecar/shadow/cpu_pressure.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace sidecar::shadow {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

absl::StatusOr<uint64_t> ParsePsiSomeTotal(std::string_view text) {
  // some avg10=0.11 avg60=21.86 avg300=32.06 total=3261694420
  for (absl::string_view line : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    if (!absl::ConsumePrefix(&line, "some ")) continue;
    for (absl::string_view field : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
      uint64_t total = 0;
      if (absl::ConsumePrefix(&field, "total=") && absl::SimpleAtoi(field, &total)) return total;
    }
    break;
  }
  return absl::InvalidArgumentError("no \"some ... total=N\" line");
}

absl::StatusOr<std::string> CpuPressure::FindSource() {
  for (const char* path : {"/sys/fs/cgroup/cpu.pressure", "/proc/pressure/cpu"}) {
    absl::StatusOr<std::string> text = ReadFile(path);
    if (text.ok() && ParsePsiSomeTotal(*text).ok()) return std::string(path);
  }
  return absl::NotFoundError("no CPU pressure information (PSI): neither /sys/fs/cgroup/cpu.pressure "
                             "nor /proc/pressure/cpu can be read");
}

absl::StatusOr<std::optional<double>> CpuPressure::Sample(Clock::time_point now) {
  absl::StatusOr<std::string> text = ReadFile(path_);
  if (!text.ok()) return text.status();
  absl::StatusOr<uint64_t> stalled = ParsePsiSomeTotal(*text);
  if (!stalled.ok()) return absl::InvalidArgumentError(absl::StrCat(path_, ": ", stalled.status().message()));
  std::optional<double> share;
  if (last_.has_value() && now > last_->at && *stalled >= last_->stalled_us) {
    const double wall_us = std::chrono::duration<double, std::micro>(now - last_->at).count();
    share = std::clamp(static_cast<double>(*stalled - last_->stalled_us) / wall_us, 0.0, 1.0);
  }
  last_ = Reading{now, *stalled};
  return share;
}

}  // namespace sidecar::shadow
