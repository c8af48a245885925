#include "services/ai_integration/ai_integration_rules.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "services/common/errors.h"
#include "services/common/json_fields.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::ai_integration {
namespace {

using Json = nlohmann::json;

constexpr int64_t kMaxSafeInteger = 9007199254740991;  // 2^53 − 1 (§0.2)

const Pattern& ModelNamePattern() {
  static const Pattern* p = new Pattern("[a-z0-9][a-z0-9._-]{0,63}");
  return *p;
}
const Pattern& BudgetKeyPattern() {
  static const Pattern* p = new Pattern("[a-z]+:[A-Za-z0-9_.-]{1,64}");
  return *p;
}
const Pattern& DayPattern() {
  static const Pattern* p = new Pattern("[0-9]{4}-[0-9]{2}-[0-9]{2}");
  return *p;
}

bool IsAsciiAlnum(uint32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool IsSkipped(uint32_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Length of the UTF-8 sequence starting with `lead` (1 for a stray continuation byte, so a
// malformed string still advances; protobuf strings are valid UTF-8 anyway).
size_t SequenceLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;
}

// Walks the tokens of `text`, calling `on_token(end_offset)` after each; stops when it returns
// false.
template <typename F>
void ForEachToken(std::string_view text, F on_token) {
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80 && IsAsciiAlnum(c)) {
      while (i < text.size() && static_cast<unsigned char>(text[i]) < 0x80 &&
             IsAsciiAlnum(static_cast<unsigned char>(text[i]))) {
        ++i;
      }
      if (!on_token(i)) return;
      continue;
    }
    if (c < 0x80 && IsSkipped(c)) {
      ++i;
      continue;
    }
    i = std::min(text.size(), i + SequenceLength(c));
    if (!on_token(i)) return;
  }
}

}  // namespace

// ---- field checks ----

absl::Status CheckMessages(const Messages& messages) {
  RETURN_IF_ERROR(CheckCount("messages", messages.size(), {.required = true, .max = 64}));
  for (int i = 0; i < messages.size(); ++i) {
    const pb::Message& m = messages[i];
    const std::string base = IndexField("messages", i);
    RETURN_IF_ERROR(CheckString(base + ".role", m.role(),
                                {.required = true, .allowed = {"system", "user", "assistant"}}));
    RETURN_IF_ERROR(CheckString(base + ".content", m.content(), {.max_len = 32000}));
  }
  return absl::OkStatus();
}

bool IsBudgetKey(std::string_view budget_key) { return BudgetKeyPattern().Matches(budget_key); }

absl::Status CheckBudgetKey(std::string_view field, std::string_view budget_key) {
  return CheckString(field, budget_key, {.required = true, .pattern = &BudgetKeyPattern()});
}

absl::Status CheckCompleteFields(const pb::CompleteRequest& rq) {
  // AI3: model-management's id/alias syntax (1–64 chars, then the pattern).
  RETURN_IF_ERROR(CheckString("model", rq.model(),
                              {.required = true, .max_len = 64, .pattern = &ModelNamePattern()}));
  RETURN_IF_ERROR(CheckMessages(rq.messages()));
  // AI4: negative max_tokens fails here; the model's maximum is checked after get_model (rule 8).
  RETURN_IF_ERROR(CheckInt("max_tokens", rq.max_tokens(), 0, INT32_MAX));
  RETURN_IF_ERROR(CheckInt("temperature_milli", rq.temperature_milli(), 0, 2000));
  // seed: any i64 (AI4).
  RETURN_IF_ERROR(CheckBudgetKey("budget_key", rq.budget_key()));
  return CheckString("idempotency_key", rq.idempotency_key(),
                     {.max_len = 64, .char_class = "A-Za-z0-9_.:-"});
}

absl::Status CheckSetBudgetFields(const pb::SetBudgetRequest& rq) {
  RETURN_IF_ERROR(CheckBudgetKey("budget_key", rq.budget_key()));
  RETURN_IF_ERROR(CheckInt("daily_token_limit", rq.daily_token_limit(), 0, kMaxSafeInteger));
  return CheckInt("daily_cost_limit_micro", rq.daily_cost_limit_micro(), 0, kMaxSafeInteger);
}

absl::Status CheckGetUsageFields(const pb::GetUsageRequest& rq) {
  RETURN_IF_ERROR(CheckBudgetKey("budget_key", rq.budget_key()));
  if (rq.day().empty()) return absl::OkStatus();
  if (!DayPattern().Matches(rq.day())) return InvalidArgument("day", reason::kPattern);
  int y = 0, m = 0, d = 0;
  std::sscanf(rq.day().c_str(), "%4d-%2d-%2d", &y, &m, &d);
  const absl::CivilDay day(y, m, d);
  if (day.year() != y || day.month() != m || day.day() != d) {
    return InvalidArgument("day", reason::kMalformed);  // AI12: an impossible date
  }
  return absl::OkStatus();
}

// ---- tokenizer ----

int64_t CountTokens(std::string_view text) {
  int64_t n = 0;
  ForEachToken(text, [&n](size_t) {
    ++n;
    return true;
  });
  return n;
}

std::optional<size_t> EndOfToken(std::string_view text, int64_t n) {
  if (n <= 0) return size_t{0};
  int64_t seen = 0;
  std::optional<size_t> end;
  ForEachToken(text, [&](size_t at) {
    if (++seen == n) {
      end = at;
      return false;
    }
    return true;
  });
  return end;
}

std::vector<std::string> SplitWords(std::string_view text) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  std::vector<std::string> pieces;
  size_t start = 0;
  size_t i = 0;
  while (i < text.size() && is_space(text[i])) ++i;  // leading whitespace joins the first word
  while (i < text.size()) {
    while (i < text.size() && !is_space(text[i])) ++i;
    while (i < text.size() && is_space(text[i])) ++i;
    pieces.emplace_back(text.substr(start, i - start));
    start = i;
  }
  if (start < text.size()) pieces.emplace_back(text.substr(start));  // whitespace only
  return pieces;
}

std::vector<int32_t> PerMessageTokens(const Messages& messages) {
  std::vector<int32_t> out;
  out.reserve(messages.size());
  for (const pb::Message& m : messages) {
    out.push_back(static_cast<int32_t>(4 + CountTokens(m.content())));
  }
  return out;
}

int64_t InputTokens(const Messages& messages) {
  int64_t total = 0;
  for (int32_t t : PerMessageTokens(messages)) total += t;
  return total;
}

// ---- template provider ----

std::string RenderTemplate(std::string_view tmpl, std::string_view model_id,
                           const Messages& messages) {
  // AI10: last user message, first system message, or "".
  std::string_view last_user;
  std::string_view system;
  bool have_system = false;
  for (const pb::Message& m : messages) {
    if (m.role() == "user") last_user = m.content();
    if (m.role() == "system" && !have_system) {
      system = m.content();
      have_system = true;
    }
  }
  const std::string n_messages = std::to_string(messages.size());
  const std::pair<std::string_view, std::string_view> kPlaceholders[] = {
      {"{last_user}", last_user},
      {"{system}", system},
      {"{model_id}", model_id},
      {"{n_messages}", n_messages},
  };
  std::string out;
  out.reserve(tmpl.size());
  size_t i = 0;
  while (i < tmpl.size()) {
    bool replaced = false;
    if (tmpl[i] == '{') {
      for (const auto& [name, value] : kPlaceholders) {
        if (tmpl.substr(i, name.size()) == name) {
          out.append(value);
          i += name.size();
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out.push_back(tmpl[i++]);
  }
  return out;
}

TemplateOutput CutToMaxTokens(std::string rendered, int64_t max_tokens) {
  TemplateOutput out;
  const int64_t tokens = CountTokens(rendered);
  if (tokens > max_tokens) {
    // Rule 5: cut right after the end of the max_tokens-th token.
    rendered.resize(EndOfToken(rendered, max_tokens).value_or(rendered.size()));
    out.finish_reason = "length";
    out.output_tokens = max_tokens;
  } else {
    out.finish_reason = "stop";
    out.output_tokens = tokens;
  }
  out.text = std::move(rendered);
  return out;
}

// ---- budgets ----

int64_t CostMicro(int64_t input_tokens, int64_t output_tokens, int64_t price_in_per_1k,
                  int64_t price_out_per_1k) {
  const int64_t numerator = input_tokens * price_in_per_1k + output_tokens * price_out_per_1k;
  if (numerator <= 0) return 0;
  return (numerator + 999) / 1000;
}

Json BudgetToJson(const Budget& b) {
  return Json{{"daily_token_limit", b.daily_token_limit},
              {"daily_cost_limit_micro", b.daily_cost_limit_micro}};
}

absl::StatusOr<Budget> BudgetFromJson(const Json& j, std::string_view path) {
  if (!j.is_object()) return InvalidArgument(path, reason::kType);
  Budget b;
  ASSIGN_OR_RETURN(b.daily_token_limit, IntAt(j, "daily_token_limit", path));
  ASSIGN_OR_RETURN(b.daily_cost_limit_micro, IntAt(j, "daily_cost_limit_micro", path));
  return b;
}

int64_t Usage::reserved_tokens() const {
  int64_t total = 0;
  for (const auto& [id, r] : reservations) total += r.tokens;
  return total;
}

int64_t Usage::reserved_cost() const {
  int64_t total = 0;
  for (const auto& [id, r] : reservations) total += r.cost_micro;
  return total;
}

Json UsageToJson(const Usage& u) {
  Json reservations = Json::object();
  for (const auto& [id, r] : u.reservations) {
    reservations[id] = Json{{"tokens", r.tokens},
                            {"cost_micro", r.cost_micro},
                            {"lease_until_wall_ms", r.lease_until_wall_ms}};
  }
  return Json{{"tokens_in", u.tokens_in},   {"tokens_out", u.tokens_out},
              {"cost_micro", u.cost_micro}, {"requests", u.requests},
              {"reservations", reservations}};
}

absl::StatusOr<Usage> UsageFromJson(const Json& j, std::string_view path) {
  if (!j.is_object()) return InvalidArgument(path, reason::kType);
  Usage u;
  ASSIGN_OR_RETURN(u.tokens_in, IntAt(j, "tokens_in", path));
  ASSIGN_OR_RETURN(u.tokens_out, IntAt(j, "tokens_out", path));
  ASSIGN_OR_RETURN(u.cost_micro, IntAt(j, "cost_micro", path));
  ASSIGN_OR_RETURN(u.requests, IntAt(j, "requests", path));
  if (j.contains("reservations") && !j["reservations"].is_null()) {
    const Json& rs = j["reservations"];
    const std::string rs_path = MemberPath(path, "reservations");
    if (!rs.is_object()) return InvalidArgument(rs_path, reason::kType);
    for (auto it = rs.begin(); it != rs.end(); ++it) {
      const std::string r_path = MemberPath(rs_path, it.key());
      if (!it.value().is_object()) return InvalidArgument(r_path, reason::kType);
      Reservation r;
      ASSIGN_OR_RETURN(r.tokens, IntAt(it.value(), "tokens", r_path));
      ASSIGN_OR_RETURN(r.cost_micro, IntAt(it.value(), "cost_micro", r_path));
      ASSIGN_OR_RETURN(r.lease_until_wall_ms, IntAt(it.value(), "lease_until_wall_ms", r_path));
      u.reservations[it.key()] = r;
    }
  }
  return u;
}

absl::Status CheckBudget(const Budget& budget, const Usage& usage, std::string_view budget_key,
                         int64_t input_tokens, int64_t max_tokens, const ModelConfig& model) {
  // AI5.
  const int64_t limit = budget.EffectiveTokenLimit();
  const int64_t required = input_tokens + max_tokens;
  if (usage.used_tokens() + usage.reserved_tokens() + required > limit) {
    const int64_t remaining =
        std::max<int64_t>(0, limit - usage.used_tokens() - usage.reserved_tokens());
    return ResourceExhausted({{"reason", "budget_exhausted"},
                              {"budget_key", std::string(budget_key)},
                              {"remaining_tokens", std::to_string(remaining)},
                              {"required_tokens", std::to_string(required)}},
                             "token budget exhausted");
  }
  // AI6: only with a cost limit; equal passes.
  if (budget.daily_cost_limit_micro > 0) {
    const int64_t worst = CostMicro(input_tokens, max_tokens, model.price_in_per_1k(),
                                    model.price_out_per_1k());
    const int64_t remaining = std::max<int64_t>(
        0, budget.daily_cost_limit_micro - usage.cost_micro - usage.reserved_cost());
    if (worst > remaining) {
      return ResourceExhausted({{"reason", "cost_budget_exhausted"},
                                {"budget_key", std::string(budget_key)},
                                {"remaining_cost_micro", std::to_string(remaining)},
                                {"required_cost_micro", std::to_string(worst)}},
                               "cost budget exhausted");
    }
  }
  return absl::OkStatus();
}

std::string UtcDay(int64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%d", absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

}  // namespace sidecar::services::ai_integration
