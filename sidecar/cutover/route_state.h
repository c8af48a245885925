#pragma once
// The run-time state of one route as it lives in the JetStream KV bucket (default sidecar-routes):
// one key per route, one JSON document per value, one KV revision per change.
//
//   key    "route." + the route name with every byte outside [A-Za-z0-9_-] written as "=XX"
//          (route names contain '/', '*' and '.', which KV keys cannot hold as-is)
//   value  {"weights": {"legacy": 75, "native": 25},       percent per cluster, adding up to 100
//           "last_safe": {"legacy": 100, "native": 0},     where a rollback goes
//           "shadow_percent": 10,                          optional
//           "ramp": {"side": "native", "steps": [1,5,25,50,100], "index": 2, "hold_ms": 60000,
//                    "state": "running|done|halted"},      optional
//           "rollback": {"rule": "error_rate", "observed": 50, "threshold": 10, "requests": 40,
//                        "from": {...weights}, "by": ..., "at_ms": ...},  the latest one, if any
//           "by": "alice@host" | "guard@<sidecar>" | "ramp@<sidecar>",  who wrote this revision
//           "at_ms": 1700000000000,                        when (writer's wall clock)
//           "reason": "free text"}
// The KV revision is the change record: `nats-sidecar status` lists a key's history.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace sidecar::cutover {

// cluster name -> basis points (1 % = 100); a complete split adds up to 10000.
using Weights = std::map<std::string, int64_t>;

struct RampState {
  std::string side;              // the cluster being ramped up
  std::vector<int64_t> steps_bp;  // ascending, last is usually 10000
  size_t index = 0;              // the step in effect
  int64_t hold_ms = 0;
  std::string state = "running";  // running | done | halted

  bool running() const { return state == "running"; }
};

struct RollbackRecord {
  std::string rule;  // error_rate | p99_latency | mismatch_rate
  double observed = 0;
  double threshold = 0;
  int64_t requests = 0;
  Weights from;
  std::string by;
  int64_t at_ms = 0;
};

struct RouteState {
  Weights weights;
  Weights last_safe;
  std::optional<double> shadow_percent;
  std::optional<RampState> ramp;
  std::optional<RollbackRecord> rollback;
  std::string by;
  int64_t at_ms = 0;
  std::string reason;

  nlohmann::json ToJson() const;
  static absl::StatusOr<RouteState> FromJson(std::string_view text);
};

// KV key <-> route name.
std::string RouteKey(std::string_view route);
absl::StatusOr<std::string> RouteFromKey(std::string_view key);

// Percent (0-100, two decimals) <-> basis points.
int64_t PercentToBp(double percent);
double BpToPercent(int64_t bp);

// One side of a route's split, as the CLI and the ramp know it.
struct SplitSide {
  std::string cluster;
  std::string kind;  // legacy | nats | native ("" when unknown)
  int64_t base_bp = 0;  // its weight in the static config
};

// The cluster of `split` named `side` (a cluster name, or else a cluster kind); "" when none.
std::string ResolveSide(const std::vector<SplitSide>& split, std::string_view side);

// `side` gets `side_bp`; the other clusters share the rest in proportion to `base` (their current
// weights), falling back to equal shares when they all have 0. Rounding leftovers go to the first.
Weights WeightsWithSide(const std::vector<SplitSide>& split, const std::string& side, int64_t side_bp,
                        const Weights& base);

// Parses "--to" text: "native=25" or "legacy=75,native=25" (cluster names or kinds, percent).
// One entry sets that side and spreads the rest (WeightsWithSide); several must cover the split
// and add up to 100.
absl::StatusOr<Weights> ParseTo(std::string_view text, const std::vector<SplitSide>& split, const Weights& base);

// The share of `side` in `w` (0 when absent).
inline int64_t SideBp(const Weights& w, const std::string& side) {
  auto it = w.find(side);
  return it == w.end() ? 0 : it->second;
}

std::string WeightsToString(const Weights& w);  // "legacy=75%,native=25%"

}  // namespace sidecar::cutover
