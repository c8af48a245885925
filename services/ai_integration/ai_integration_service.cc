#include "services/ai_integration/ai_integration_service.h"

#include <string>
#include <utility>
#include <vector>

#include "services/ai_integration/ai_integration_logic.h"
#include "services/common/fixtures.h"
#include "services/common/jcs.h"
#include "services/common/json_fields.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services {
namespace {

namespace ai = ai_integration;
namespace pb = ::ai_integration::v1;
using Json = nlohmann::json;

// `_fixture` (README.md): {"budgets": {key: Budget}, "usage": {key: {day: Usage}}}. Keys and days
// are checked (a bad one could never be read back); counters are loaded as given.
absl::StatusOr<std::vector<StoreEntry>> MapFixture(const google::protobuf::Struct& document,
                                                   const CallContext&) {
  const Json doc = StructToJson(document);
  std::vector<StoreEntry> entries;
  if (doc.contains("budgets") && !doc["budgets"].is_null()) {
    if (!doc["budgets"].is_object()) return InvalidArgument("budgets", reason::kType);
    for (auto it = doc["budgets"].begin(); it != doc["budgets"].end(); ++it) {
      const std::string path = MemberPath("budgets", it.key());
      if (!ai::IsBudgetKey(it.key())) return InvalidArgument(path, reason::kPattern);
      ASSIGN_OR_RETURN(ai::Budget budget, ai::BudgetFromJson(it.value(), path));
      entries.push_back({ai::BudgetStoreKey(it.key()), ai::BudgetToJson(budget).dump(), 0, 0});
    }
  }
  if (doc.contains("usage") && !doc["usage"].is_null()) {
    if (!doc["usage"].is_object()) return InvalidArgument("usage", reason::kType);
    for (auto it = doc["usage"].begin(); it != doc["usage"].end(); ++it) {
      const std::string path = MemberPath("usage", it.key());
      if (!ai::IsBudgetKey(it.key())) return InvalidArgument(path, reason::kPattern);
      if (!it.value().is_object()) return InvalidArgument(path, reason::kType);
      for (auto day = it.value().begin(); day != it.value().end(); ++day) {
        const std::string day_path = MemberPath(path, day.key());
        pb::GetUsageRequest probe;
        probe.set_budget_key(it.key());
        probe.set_day(day.key());
        if (day.key().empty() || !ai::CheckGetUsageFields(probe).ok()) {
          return InvalidArgument(day_path, reason::kPattern);
        }
        ASSIGN_OR_RETURN(ai::Usage usage, ai::UsageFromJson(day.value(), day_path));
        usage.reservations.clear();  // a Given has no completions in flight
        entries.push_back(
            {ai::UsageStoreKey(it.key(), day.key()), ai::UsageToJson(usage).dump(), 0, 0});
      }
    }
  }
  return entries;
}

// The thin binding: one typed handler per §2.17 action, all forwarding to AiIntegrationLogic.
class AiIntegrationService final : public Service {
 public:
  AiIntegrationService(const ServiceDeps& deps, ai::LogicOptions options)
      : deps_(deps), logic_(deps, std::move(options)) {}

  std::string_view name() const override { return ai::kServiceName; }

  void Register(HandlerRegistry& r) override {
    r.Add<pb::CompleteRequest, pb::CompleteResponse>(
        "complete", [this](const CallContext& ctx, pb::CompleteRequest rq,
                           Done<pb::CompleteResponse> done) {
          logic_.Complete(ctx, std::move(rq), std::move(done));
        });
    // Issue 14: the completion of `complete` (same checks, budget, idempotency record and
    // events), streamed one word per piece, the accounting last.
    r.AddStream<pb::CompleteRequest, pb::CompleteResponse>(
        "complete_stream", [this](const CallContext& ctx, pb::CompleteRequest rq,
                                  Done<Streamed<pb::CompleteResponse>> done) {
          logic_.Complete(ctx, std::move(rq),
                          [done = std::move(done)](absl::StatusOr<pb::CompleteResponse> r) mutable {
                            if (!r.ok()) {
                              std::move(done)(r.status());
                              return;
                            }
                            Streamed<pb::CompleteResponse> streamed;
                            streamed.pieces = ai::SplitWords(r->text());
                            streamed.summary = *r;
                            streamed.summary.clear_text();
                            streamed.whole = *std::move(r);
                            std::move(done)(std::move(streamed));
                          });
        });
    r.AddSync<pb::CountTokensRequest, pb::CountTokensResponse>(
        "count_tokens", [this](const CallContext& ctx, const pb::CountTokensRequest& rq) {
          return logic_.CountTokens(ctx, rq);
        });
    r.Add<pb::SetBudgetRequest, pb::SetBudgetResponse>(
        "set_budget", [this](const CallContext& ctx, pb::SetBudgetRequest rq,
                             Done<pb::SetBudgetResponse> done) {
          logic_.SetBudget(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::GetUsageRequest, pb::GetUsageResponse>(
        "get_usage", [this](const CallContext& ctx, pb::GetUsageRequest rq,
                            Done<pb::GetUsageResponse> done) {
          logic_.GetUsage(ctx, std::move(rq), std::move(done));
        });
    RegisterFixtureAction(r, deps_.fixtures_enabled, *deps_.store,
                          {std::string(ai::kStorePrefix), "_idem/ai-integration/"}, MapFixture);
  }

 private:
  ServiceDeps deps_;
  ai::AiIntegrationLogic logic_;
};

}  // namespace

std::unique_ptr<Service> MakeAiIntegrationService(const ServiceDeps& deps) {
  return MakeAiIntegrationService(deps, AiIntegrationOptions{});
}

std::unique_ptr<Service> MakeAiIntegrationService(const ServiceDeps& deps,
                                                  AiIntegrationOptions options) {
  ai::LogicOptions logic;
  logic.openai.timeout = options.provider_timeout;
  logic.openai.read_env = std::move(options.read_env);
  return std::make_unique<AiIntegrationService>(deps, std::move(logic));
}

}  // namespace sidecar::services
