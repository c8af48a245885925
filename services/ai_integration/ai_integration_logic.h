#pragma once
// ai-integration (SERVICES.md §2.17): the four actions over the shared StateStore.
//
// complete, in rule 8's order: fields -> authorization (service/admin) -> idempotency (a replay
// answers before any dependency call) -> model-management `get_model` (NOT_FOUND passes through,
// retired -> model_retired) -> max_tokens against the model -> context_overflow -> token budget ->
// cost budget (both checked and the estimate reserved in ONE compare-and-set of the day's Usage)
// -> the provider -> settle (one compare-and-set: reservation out, actual counts in) -> event.
// A provider failure releases the reservation and charges nothing (AI8).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "services/ai_integration/ai_integration_rules.h"
#include "services/ai_integration/openai_compatible_provider.h"
#include "services/ai_integration/template_provider.h"
#include "services/common/async_util.h"
#include "services/common/call_context.h"
#include "services/common/event_publisher.h"
#include "services/common/idempotency.h"
#include "services/common/service.h"
#include "services/common/service_deps.h"
#include "services/common/state_store.h"

namespace sidecar::services::ai_integration {

inline constexpr std::string_view kStorePrefix = "ai-integration/";
// "ai-integration/budget/<budget_key>"  -> Budget JSON (config of the key, all days)
std::string BudgetStoreKey(std::string_view budget_key);
// "ai-integration/usage/<budget_key>/<YYYY-MM-DD>" -> Usage JSON (strong counters of one day)
std::string UsageStoreKey(std::string_view budget_key, std::string_view day);

struct LogicOptions {
  OpenAiCompatibleProvider::Options openai;
  // How long a reservation survives a replica that died between reserve and settle.
  std::chrono::milliseconds reservation_lease{60000};
};

class AiIntegrationLogic {
 public:
  // Everything in `deps` must outlive the logic and every call in flight.
  AiIntegrationLogic(const ServiceDeps& deps, LogicOptions options);

  void Complete(const CallContext& ctx, pb::CompleteRequest rq, Done<pb::CompleteResponse> done);
  absl::StatusOr<pb::CountTokensResponse> CountTokens(const CallContext& ctx,
                                                      const pb::CountTokensRequest& rq);
  void SetBudget(const CallContext& ctx, pb::SetBudgetRequest rq,
                 Done<pb::SetBudgetResponse> done);
  void GetUsage(const CallContext& ctx, pb::GetUsageRequest rq, Done<pb::GetUsageResponse> done);

 private:
  // The state one completion carries from step to step.
  struct Job;

  void Resolve(std::shared_ptr<Job> job);
  void Reserve(std::shared_ptr<Job> job);
  void CallProvider(std::shared_ptr<Job> job);
  void Settle(std::shared_ptr<Job> job, ProviderResult result);
  void Release(std::shared_ptr<Job> job, absl::Status error);
  Provider* ProviderFor(const std::string& provider);

  void ReadBudget(const CallContext& ctx, const std::string& budget_key,
                  Done<Budget> done);
  void PublishUsageRecorded(const Job& job, const pb::CompleteResponse& r);
  void PublishBudgetExhausted(const Job& job);
  void Publish(const CallContext& ctx, std::string_view event_name, const std::string& material,
               google::protobuf::Message& event);
  std::string NewReservationId(const CallContext& ctx);
  int64_t WallNowMs() const;

  StateStore& store_;
  EventPublisher& events_;
  DependencyClient* dependencies_;
  LogicOptions options_;
  Idempotency idempotency_;
  KeyedQueue usage_queue_;  // this replica's writers of one Usage key, one after another
  TemplateProvider template_provider_;
  OpenAiCompatibleProvider openai_provider_;
  std::atomic<uint64_t> reservation_counter_{0};
};

}  // namespace sidecar::services::ai_integration
