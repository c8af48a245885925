#pragma once
// ai-integration (SERVICES.md §2.17, AI1–AI13): the pure rules. Field checks, the simple-v1
// tokenizer (rule 3), the template provider's rendering and cut (rule 5, AI10), the budget
// arithmetic (rule 4, AI5–AI7) and the stored documents' JSON forms. No store, no clock, no I/O.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ai_integration/v1/ai_integration.pb.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "model_management/v1/model_management.pb.h"
#include "nlohmann/json.hpp"

namespace sidecar::services::ai_integration {

namespace pb = ::ai_integration::v1;
// The model facts ai-integration gets from model-management `get_model` (the Provider's
// ModelConfig of §2.17).
using ModelConfig = ::model_management::v1::Model;
using Messages = google::protobuf::RepeatedPtrField<pb::Message>;

inline constexpr std::string_view kServiceName = "ai-integration";
inline constexpr int64_t kDefaultDailyTokenLimit = 100000;  // rule 4
inline constexpr int32_t kDefaultMaxTokensCap = 256;         // rule 2: 0 -> min(256, model max)

// ---- field checks (§0.4 reason order, table order) ----

// AI1: messages 1–64; role required enum; content 0–32000 code points.
absl::Status CheckMessages(const Messages& messages);
// Rule 2: `budget_key` required, `[a-z]+:[A-Za-z0-9_.-]{1,64}` (no finite length bound: `[a-z]+`
// is unbounded, so every mismatch is `pattern`).
absl::Status CheckBudgetKey(std::string_view field, std::string_view budget_key);
bool IsBudgetKey(std::string_view budget_key);
// complete: model, messages, max_tokens, temperature_milli, seed, budget_key, idempotency_key.
absl::Status CheckCompleteFields(const pb::CompleteRequest& rq);
// set_budget: budget_key, both limits 0..2^53−1 (AI11).
absl::Status CheckSetBudgetFields(const pb::SetBudgetRequest& rq);
// get_usage: budget_key, day "" or YYYY-MM-DD (`pattern`; impossible date `malformed`, AI12).
absl::Status CheckGetUsageFields(const pb::GetUsageRequest& rq);

// ---- tokenizer simple-v1 (rule 3) ----

// Each maximal run of ASCII letters/digits is one token; every other code point except space,
// tab, CR, LF is one token.
int64_t CountTokens(std::string_view text);
// Byte offset just after the end of the n-th token (n >= 1), or nullopt when `text` has fewer
// than n tokens.
std::optional<size_t> EndOfToken(std::string_view text, int64_t n);
// 4 + tokens(content) per message (AI2).
std::vector<int32_t> PerMessageTokens(const Messages& messages);
int64_t InputTokens(const Messages& messages);

// ---- complete_stream (issue 14) ----

// The streamed pieces of `text`: each word (a maximal run of non-whitespace, whitespace being the
// tokenizer's space, tab, CR, LF) with the whitespace after it; whitespace before the first word
// joins the first piece. The pieces concatenate to `text`; "" gives none.
std::vector<std::string> SplitWords(std::string_view text);

// ---- template provider (rule 5, AI10) ----

// One pass over `tmpl`: {last_user}, {system}, {model_id}, {n_messages} substituted, the
// substituted text never re-scanned; anything else copied as is.
std::string RenderTemplate(std::string_view tmpl, std::string_view model_id,
                           const Messages& messages);

struct TemplateOutput {
  std::string text;
  std::string finish_reason;  // stop | length
  int64_t output_tokens = 0;
};
// The rendered text cut right after its max_tokens-th token when it has more tokens than that.
TemplateOutput CutToMaxTokens(std::string rendered, int64_t max_tokens);

// ---- budgets (rule 4, AI5–AI8) ----

// ⌈(in·price_in_per_1k + out·price_out_per_1k)/1000⌉ for non-negative operands.
int64_t CostMicro(int64_t input_tokens, int64_t output_tokens, int64_t price_in_per_1k,
                  int64_t price_out_per_1k);

struct Budget {
  int64_t daily_token_limit = 0;       // 0 = default (100000)
  int64_t daily_cost_limit_micro = 0;  // 0 = no cost limit
  int64_t EffectiveTokenLimit() const {
    return daily_token_limit > 0 ? daily_token_limit : kDefaultDailyTokenLimit;
  }
};
nlohmann::json BudgetToJson(const Budget& b);
absl::StatusOr<Budget> BudgetFromJson(const nlohmann::json& j, std::string_view path);

// An estimate held between the budget check and the settlement of one completion.
struct Reservation {
  int64_t tokens = 0;
  int64_t cost_micro = 0;
  int64_t lease_until_wall_ms = 0;  // operational: a replica that died mid-call frees it later
};

// Usage{budget_key, day, tokens_in, tokens_out, cost_micro, requests, reserved} of one
// (budget_key, UTC day); `reserved` is the sum of the live reservations.
struct Usage {
  int64_t tokens_in = 0;
  int64_t tokens_out = 0;
  int64_t cost_micro = 0;
  int64_t requests = 0;
  std::map<std::string, Reservation> reservations;
  int64_t used_tokens() const { return tokens_in + tokens_out; }
  int64_t reserved_tokens() const;
  int64_t reserved_cost() const;
};
nlohmann::json UsageToJson(const Usage& u);
absl::StatusOr<Usage> UsageFromJson(const nlohmann::json& j, std::string_view path);

// Rule 4 / AI5 / AI6: the token check, then the cost check (cost limit > 0 only). OK, or
// RESOURCE_EXHAUSTED budget_exhausted / cost_budget_exhausted with the AI5/AI6 details.
absl::Status CheckBudget(const Budget& budget, const Usage& usage, std::string_view budget_key,
                         int64_t input_tokens, int64_t max_tokens, const ModelConfig& model);

// ---- days ----

// The UTC date of unix ms: "2025-11-20".
std::string UtcDay(int64_t unix_ms);

}  // namespace sidecar::services::ai_integration
