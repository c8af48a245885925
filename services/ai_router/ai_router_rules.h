#pragma once
// ai-router (SERVICES.md §2.20, AR1–AR12): the pure rules. Field checks, the budget-key template
// (AR2), eligibility (rule 2), the mapping of ai-integration's codes to outcomes (rule 3, AR7) and
// the route table's JSON form. No store, no clock, no I/O.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ai_router/v1/ai_router.pb.h"
#include "nlohmann/json.hpp"

namespace sidecar::services::ai_router {

namespace pb = ::ai_router::v1;

inline constexpr std::string_view kServiceName = "ai-router";
inline constexpr int kMaxRoutes = 200;             // rule 1 / AR4
inline constexpr int32_t kDefaultRolloutBp = 10000;  // rule 1 / AR3
inline constexpr int32_t kDefaultTemperatureMilli = 700;  // rule 3
inline constexpr int64_t kMinStartBudgetMs = 250;  // rule 3: no candidate with less left

// Outcomes (rule 2–3).
inline constexpr std::string_view kOk = "ok";
inline constexpr std::string_view kSkippedMode = "skipped_mode";
inline constexpr std::string_view kSkippedRollout = "skipped_rollout";
inline constexpr std::string_view kBudgetExhausted = "budget_exhausted";
inline constexpr std::string_view kUnavailable = "unavailable";
inline constexpr std::string_view kDeadlineExceeded = "deadline_exceeded";
inline constexpr std::string_view kModelUnusable = "model_unusable";

// The stored route (= get_route's response: rollout_bp always present, AR3).
using Route = pb::GetRouteResponse;

// All routes of the service, by task: one config document, so the 200-route cap and the revision
// are exact under concurrent puts (one compare-and-set per put).
struct RouteTable {
  std::map<std::string, Route> routes;
};
nlohmann::json RouteTableToJson(const RouteTable& table);
// Also the `_fixture` document's shape (README.md); absent rollout_bp -> 10000, revision -> 1.
absl::StatusOr<RouteTable> RouteTableFromJson(const nlohmann::json& json);

// ---- field checks (§0.4 reason order, table order) ----

absl::Status CheckTask(std::string_view task);
// put_route: task, candidates (AR1), budget_key_template (AR2).
absl::Status CheckPutRouteFields(const pb::PutRouteRequest& rq);
// route: task, messages (AR5, §2.17 r2 / AI1), player_id, perf_mode, temperature_milli, seed,
// idempotency_key (AR6).
absl::Status CheckRouteFields(const pb::RouteRequest& rq);
// explain: task, player_id, perf_mode.
absl::Status CheckExplainFields(const pb::ExplainRequest& rq);

// ---- templates and eligibility ----

// {task} and {player_id} substituted in one pass.
std::string RenderBudgetKey(std::string_view tmpl, std::string_view task,
                            std::string_view player_id);

struct Eligibility {
  bool eligible = false;
  std::string_view outcome;  // skipped_mode / skipped_rollout when not eligible
};
// Rule 2: mode, then bucket(task:model:player_id) < rollout_bp.
Eligibility Evaluate(const pb::Candidate& candidate, std::string_view task,
                     std::string_view player_id, std::string_view perf_mode);

// Rule 3 / AR7: the outcome of a failed ai-integration call, or nullopt when the error must be
// returned at once (INVALID_ARGUMENT, ALREADY_EXISTS, PERMISSION_DENIED, UNAUTHENTICATED,
// INTERNAL and anything else unlisted).
std::optional<std::string_view> OutcomeOf(const absl::Status& status);

// AR9: "model:outcome,model:outcome".
std::string JoinAttempts(const std::vector<pb::Attempt>& attempts);

}  // namespace sidecar::services::ai_router
