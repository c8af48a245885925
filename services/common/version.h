#pragma once
// Client and provider versions (SERVICES.md §2.6 rule 2, shared by router and capability-registry):
// MAJOR.MINOR.PATCH, each part 0–999999 written without leading zeros; no pre-release or build
// suffix. Versions compare part by part.

#include <cstdint>
#include <optional>
#include <string_view>
#include <tuple>

#include "absl/status/status.h"

namespace sidecar::services {

struct Version {
  int32_t major = 0, minor = 0, patch = 0;

  friend bool operator<(const Version& a, const Version& b) {
    return std::tie(a.major, a.minor, a.patch) < std::tie(b.major, b.minor, b.patch);
  }
  friend bool operator>(const Version& a, const Version& b) { return b < a; }
  friend bool operator==(const Version& a, const Version& b) {
    return std::tie(a.major, a.minor, a.patch) == std::tie(b.major, b.minor, b.patch);
  }
  friend bool operator!=(const Version& a, const Version& b) { return !(a == b); }
};

// The version `text` spells, or nullopt when it is not exactly MAJOR.MINOR.PATCH as above.
std::optional<Version> ParseVersion(std::string_view text);

// A version field: "" is `required` when `required`, else OK; any syntax failure is `pattern`
// (versions have no length bounds).
absl::Status CheckVersionField(std::string_view field, std::string_view value, bool required);

}  // namespace sidecar::services
