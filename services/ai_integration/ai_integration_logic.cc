#include "services/ai_integration/ai_integration_logic.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "model_management/v1/model_management.pb.h"
#include "services/common/cas_update.h"
#include "services/common/dependency_client.h"
#include "services/common/determinism.h"
#include "services/common/errors.h"
#include "sidecar/common/logging.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::ai_integration {
namespace {

using Json = nlohmann::json;
namespace mm = ::model_management::v1;

absl::StatusOr<Usage> ParseUsage(const std::optional<std::string>& value) {
  if (!value.has_value()) return Usage{};
  Json j = Json::parse(*value, nullptr, /*allow_exceptions=*/false);
  absl::StatusOr<Usage> usage = UsageFromJson(j, "usage");
  if (!usage.ok()) return Internal("stored usage does not parse");
  return usage;
}

bool IsBudgetRejection(const absl::Status& s) {
  if (!absl::IsResourceExhausted(s)) return false;
  const ErrorDetails details = DetailsOf(s);
  auto it = details.find("reason");
  return it != details.end() &&
         (it->second == "budget_exhausted" || it->second == "cost_budget_exhausted");
}

}  // namespace

std::string BudgetStoreKey(std::string_view budget_key) {
  return std::string(kStorePrefix) + "budget/" + std::string(budget_key);
}

std::string UsageStoreKey(std::string_view budget_key, std::string_view day) {
  return std::string(kStorePrefix) + "usage/" + std::string(budget_key) + "/" + std::string(day);
}

struct AiIntegrationLogic::Job {
  explicit Job(const CallContext& c) : ctx(c) {}
  CallContext ctx;
  pb::CompleteRequest rq;
  Done<pb::CompleteResponse> done;
  std::string day;             // UTC date of now
  ModelConfig model;           // resolved by get_model
  int32_t max_tokens = 0;      // effective (AI4)
  int64_t input_tokens = 0;    // simple-v1 of the request
  Budget budget;
  std::string reservation_id;  // also the events' material
};

AiIntegrationLogic::AiIntegrationLogic(const ServiceDeps& deps, LogicOptions options)
    : store_(*deps.store),
      events_(*deps.events),
      dependencies_(deps.dependencies),
      options_(std::move(options)),
      idempotency_(*deps.store, Idempotency::Options{.service = std::string(kServiceName)}),
      openai_provider_(deps.http, options_.openai) {}

int64_t AiIntegrationLogic::WallNowMs() const { return absl::ToUnixMillis(absl::Now()); }

std::string AiIntegrationLogic::NewReservationId(const CallContext& ctx) {
  // Unique per completion on this replica and, through the request id and the replica's address,
  // across replicas; it only has to name one reservation (and its events).
  const uint64_t n = reservation_counter_.fetch_add(1);
  return Hex16(absl::StrCat(ctx.request_id(), "|", ctx.now_ms(), "|", WallNowMs(), "|",
                            reinterpret_cast<uintptr_t>(this), "|", n));
}

Provider* AiIntegrationLogic::ProviderFor(const std::string& provider) {
  if (provider == "template") return &template_provider_;
  if (provider == "openai_compatible") return &openai_provider_;
  return nullptr;
}

// ---- complete ----

void AiIntegrationLogic::Complete(const CallContext& ctx, pb::CompleteRequest rq,
                                  Done<pb::CompleteResponse> done) {
  absl::Status s = CheckCompleteFields(rq);
  if (s.ok()) s = ctx.AuthorizeWrite();  // rule 1: service/admin only
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  auto body = [this, ctx, rq](Done<pb::CompleteResponse> body_done) mutable {
    auto job = std::make_shared<Job>(ctx);
    job->rq = std::move(rq);
    job->done = std::move(body_done);
    job->day = UtcDay(ctx.now_ms());
    Resolve(std::move(job));
  };
  if (rq.idempotency_key().empty()) {
    body(std::move(done));
    return;
  }
  // Rule 7 / rule 8: a replay answers here, before any dependency call, and emits nothing.
  const std::string key = rq.idempotency_key();
  idempotency_.Run<pb::CompleteResponse>(ctx, "complete", key, rq, std::move(body), nullptr,
                                         std::move(done));
}

void AiIntegrationLogic::Resolve(std::shared_ptr<Job> job) {
  if (dependencies_ == nullptr) {
    std::move(job->done)(Unavailable("dependency_unavailable", {{"service", "model-management"}},
                                     "no dependency client"));
    return;
  }
  mm::GetModelRequest get;
  get.set_name(job->rq.model());
  CallDependency<mm::GetModelResponse>(
      *dependencies_, job->ctx, "model-management", "get_model", get,
      [this, job](absl::StatusOr<mm::GetModelResponse> got) mutable {
        // Rule 1 / AI3: NOT_FOUND {field: name} and transport errors pass through unchanged.
        if (!got.ok()) {
          std::move(job->done)(got.status());
          return;
        }
        job->model = got->model();
        const ModelConfig& m = job->model;
        if (m.status() == "retired") {  // AI13: deprecated models are usable
          std::move(job->done)(FailedPrecondition("model_retired", {}, "model is retired"));
          return;
        }
        // AI4: the stated value against the model's maximum.
        if (job->rq.max_tokens() > m.max_output_tokens()) {
          std::move(job->done)(InvalidArgument("max_tokens", reason::kOutOfRange,
                                               "max_tokens above the model's max_output_tokens"));
          return;
        }
        job->max_tokens = job->rq.max_tokens() == 0
                              ? std::min(kDefaultMaxTokensCap, m.max_output_tokens())
                              : job->rq.max_tokens();
        job->input_tokens = InputTokens(job->rq.messages());
        if (job->input_tokens + job->max_tokens > m.context_window()) {
          std::move(job->done)(
              FailedPrecondition("context_overflow", {}, "input plus max_tokens exceed the context"));
          return;
        }
        Reserve(std::move(job));
      });
}

void AiIntegrationLogic::ReadBudget(const CallContext& ctx, const std::string& budget_key,
                                    Done<Budget> done) {
  store_.Get(BudgetStoreKey(budget_key), ctx.now_ms(),
             [done = std::move(done)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
               if (!got.ok()) {
                 std::move(done)(got.status());
                 return;
               }
               if (!got->has_value()) {
                 std::move(done)(Budget{});
                 return;
               }
               Json j = Json::parse((*got)->value, nullptr, /*allow_exceptions=*/false);
               absl::StatusOr<Budget> budget = BudgetFromJson(j, "budget");
               if (!budget.ok()) {
                 std::move(done)(Internal("stored budget does not parse"));
                 return;
               }
               std::move(done)(*budget);
             });
}

void AiIntegrationLogic::Reserve(std::shared_ptr<Job> job) {
  ReadBudget(job->ctx, job->rq.budget_key(), [this, job](absl::StatusOr<Budget> budget) mutable {
    if (!budget.ok()) {
      std::move(job->done)(budget.status());
      return;
    }
    job->budget = *budget;
    job->reservation_id = NewReservationId(job->ctx);
    const int64_t wall_now = WallNowMs();
    Reservation reservation;
    reservation.tokens = job->input_tokens + job->max_tokens;
    reservation.cost_micro =
        CostMicro(job->input_tokens, job->max_tokens, job->model.price_in_per_1k(),
                  job->model.price_out_per_1k());
    reservation.lease_until_wall_ms = wall_now + options_.reservation_lease.count();
    // Rule 4: check and reserve in one compare-and-set, so concurrent completions on any replica
    // never overspend the day's budget together.
    CasUpdate<bool>(
        store_, usage_queue_, UsageStoreKey(job->rq.budget_key(), job->day), job->ctx.now_ms(),
        [job, reservation, wall_now](
            const std::optional<std::string>& current) -> absl::StatusOr<Planned<bool>> {
          absl::StatusOr<Usage> usage = ParseUsage(current);
          if (!usage.ok()) return usage.status();
          // Reservations of replicas that died mid-call stop counting after their lease.
          for (auto it = usage->reservations.begin(); it != usage->reservations.end();) {
            it = it->second.lease_until_wall_ms < wall_now ? usage->reservations.erase(it)
                                                            : std::next(it);
          }
          absl::Status s = CheckBudget(job->budget, *usage, job->rq.budget_key(),
                                       job->input_tokens, job->max_tokens, job->model);
          if (!s.ok()) return s;
          usage->reservations[job->reservation_id] = reservation;
          return Planned<bool>{UsageToJson(*usage).dump(), true};
        },
        [this, job](absl::StatusOr<bool> reserved) mutable {
          if (!reserved.ok()) {
            // AI9: one budget_exhausted event per request rejected by either budget check.
            if (IsBudgetRejection(reserved.status())) PublishBudgetExhausted(*job);
            std::move(job->done)(reserved.status());
            return;
          }
          CallProvider(std::move(job));
        });
  });
}

void AiIntegrationLogic::CallProvider(std::shared_ptr<Job> job) {
  Provider* provider = ProviderFor(job->model.provider());
  if (provider == nullptr) {
    // Only a fixture can store another provider (put_model validates it).
    Release(std::move(job), FailedPrecondition("provider_rejected", {},
                                               "unknown provider " + job->model.provider()));
    return;
  }
  provider->Complete(job->model, job->rq.messages(), job->max_tokens,
                     job->rq.temperature_milli(), job->rq.seed(), job->ctx.Remaining(),
                     [this, job](absl::StatusOr<ProviderResult> result) mutable {
                       if (!result.ok()) {
                         Release(std::move(job), result.status());  // charges nothing (AI8)
                         return;
                       }
                       Settle(std::move(job), std::move(*result));
                     });
}

void AiIntegrationLogic::Release(std::shared_ptr<Job> job, absl::Status error) {
  CasUpdate<bool>(
      store_, usage_queue_, UsageStoreKey(job->rq.budget_key(), job->day), job->ctx.now_ms(),
      [id = job->reservation_id](
          const std::optional<std::string>& current) -> absl::StatusOr<Planned<bool>> {
        absl::StatusOr<Usage> usage = ParseUsage(current);
        if (!usage.ok()) return usage.status();
        if (usage->reservations.erase(id) == 0) return Planned<bool>{std::nullopt, false};
        return Planned<bool>{UsageToJson(*usage).dump(), true};
      },
      [job, error = std::move(error)](absl::StatusOr<bool> released) mutable {
        // The provider's error is the answer; a failed release only leaves the reservation to
        // its lease.
        if (!released.ok()) {
          log::Warn("ai-integration: reservation not released", {{"budget_key", job->rq.budget_key()}});
        }
        std::move(job->done)(std::move(error));
      });
}

void AiIntegrationLogic::Settle(std::shared_ptr<Job> job, ProviderResult result) {
  pb::CompleteResponse response;
  const int64_t in = result.input_tokens.value_or(job->input_tokens);
  const int64_t out = result.output_tokens.value_or(ai_integration::CountTokens(result.text));
  response.set_text(std::move(result.text));
  response.set_finish_reason(result.finish_reason.empty() ? "stop" : result.finish_reason);
  response.set_model_id(job->model.model_id());
  response.set_provider(job->model.provider());
  response.set_input_tokens(static_cast<int32_t>(in));
  response.set_output_tokens(static_cast<int32_t>(out));
  response.set_cost_micro(
      CostMicro(in, out, job->model.price_in_per_1k(), job->model.price_out_per_1k()));
  const int64_t limit = job->budget.EffectiveTokenLimit();
  const int64_t cost = response.cost_micro();  // captured before `response` moves below
  CasUpdate<int64_t>(
      store_, usage_queue_, UsageStoreKey(job->rq.budget_key(), job->day), job->ctx.now_ms(),
      [id = job->reservation_id, in, out, cost, limit](
          const std::optional<std::string>& current) -> absl::StatusOr<Planned<int64_t>> {
        absl::StatusOr<Usage> usage = ParseUsage(current);
        if (!usage.ok()) return usage.status();
        usage->reservations.erase(id);
        usage->tokens_in += in;
        usage->tokens_out += out;
        usage->cost_micro += cost;
        usage->requests += 1;
        // AI7: after this settlement, ignoring other callers' reservations.
        const int64_t remaining = std::max<int64_t>(0, limit - usage->used_tokens());
        return Planned<int64_t>{UsageToJson(*usage).dump(), remaining};
      },
      [this, job, response = std::move(response)](absl::StatusOr<int64_t> remaining) mutable {
        if (!remaining.ok()) {
          std::move(job->done)(remaining.status());
          return;
        }
        response.set_budget_remaining_tokens(*remaining);
        PublishUsageRecorded(*job, response);
        std::move(job->done)(std::move(response));
      });
}

// ---- count_tokens ----

absl::StatusOr<pb::CountTokensResponse> AiIntegrationLogic::CountTokens(
    const CallContext& ctx, const pb::CountTokensRequest& rq) {
  RETURN_IF_ERROR(CheckMessages(rq.messages()));
  RETURN_IF_ERROR(ctx.AuthorizeRead());  // AI2: a read, any principal
  pb::CountTokensResponse response;
  int64_t total = 0;
  for (int32_t t : PerMessageTokens(rq.messages())) {
    response.add_per_message(t);
    total += t;
  }
  response.set_input_tokens(static_cast<int32_t>(total));
  return response;
}

// ---- set_budget ----

void AiIntegrationLogic::SetBudget(const CallContext& ctx, pb::SetBudgetRequest rq,
                                   Done<pb::SetBudgetResponse> done) {
  absl::Status s = CheckSetBudgetFields(rq);
  if (s.ok()) s = ctx.AuthorizeWrite();  // AI11: service/admin
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  Budget budget{rq.daily_token_limit(), rq.daily_cost_limit_micro()};
  // Config: one document per key, replaced whole; applies to today and later days (AI11).
  store_.Put(BudgetStoreKey(rq.budget_key()), BudgetToJson(budget).dump(), {},
             [key = rq.budget_key(), done = std::move(done)](absl::StatusOr<uint64_t> put) mutable {
               if (!put.ok()) {
                 std::move(done)(put.status());
                 return;
               }
               pb::SetBudgetResponse response;
               response.set_budget_key(key);
               std::move(done)(std::move(response));
             });
}

// ---- get_usage ----

void AiIntegrationLogic::GetUsage(const CallContext& ctx, pb::GetUsageRequest rq,
                                  Done<pb::GetUsageResponse> done) {
  absl::Status s = CheckGetUsageFields(rq);
  if (s.ok()) s = ctx.AuthorizeRead();  // AI12: any principal, not player-scoped
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  const std::string day = rq.day().empty() ? UtcDay(ctx.now_ms()) : rq.day();
  ReadBudget(ctx, rq.budget_key(),
             [this, ctx, key = rq.budget_key(), day,
              done = std::move(done)](absl::StatusOr<Budget> budget) mutable {
               if (!budget.ok()) {
                 std::move(done)(budget.status());
                 return;
               }
               ReadValue(store_, UsageStoreKey(key, day), ctx.now_ms(),
                         [limit = budget->EffectiveTokenLimit(), day, done = std::move(done)](
                             absl::StatusOr<std::optional<std::string>> got) mutable {
                           if (!got.ok()) {
                             std::move(done)(got.status());
                             return;
                           }
                           absl::StatusOr<Usage> usage = ParseUsage(*got);
                           if (!usage.ok()) {
                             std::move(done)(usage.status());
                             return;
                           }
                           pb::GetUsageResponse r;
                           r.set_day(day);
                           r.set_tokens_in(usage->tokens_in);
                           r.set_tokens_out(usage->tokens_out);
                           r.set_cost_micro(usage->cost_micro);
                           r.set_requests(usage->requests);
                           r.set_daily_token_limit(limit);
                           r.set_remaining_tokens(std::max<int64_t>(0, limit - usage->used_tokens()));
                           std::move(done)(std::move(r));
                         });
             });
}

// ---- events ----

void AiIntegrationLogic::PublishUsageRecorded(const Job& job, const pb::CompleteResponse& r) {
  pb::UsageRecordedEvent event;
  event.set_budget_key(job.rq.budget_key());
  event.set_model_id(r.model_id());  // AI9: the resolved id
  event.set_input_tokens(r.input_tokens());
  event.set_output_tokens(r.output_tokens());
  event.set_cost_micro(r.cost_micro());
  Publish(job.ctx, "usage_recorded",
          absl::StrCat(job.rq.budget_key(), ":", job.day, ":", job.reservation_id), event);
}

void AiIntegrationLogic::PublishBudgetExhausted(const Job& job) {
  pb::BudgetExhaustedEvent event;
  event.set_budget_key(job.rq.budget_key());
  event.set_day(job.day);
  Publish(job.ctx, "budget_exhausted",
          absl::StrCat(job.rq.budget_key(), ":", job.day, ":", job.reservation_id), event);
}

void AiIntegrationLogic::Publish(const CallContext& ctx, std::string_view event_name,
                                 const std::string& material, google::protobuf::Message& event) {
  absl::StatusOr<Event> built = MakeEvent(kServiceName, event_name,
                                          MakeEventId(kServiceName, event_name, material),
                                          ctx.now_ms(), event);
  if (!built.ok()) {
    log::Error("ai-integration: cannot build event", {{"event", event_name}});
    return;
  }
  // After the commit: a publish failure does not fail the request (§0.1), it is logged.
  events_.Publish(std::move(*built), [name = std::string(event_name)](absl::Status s) {
    if (!s.ok()) log::Warn("ai-integration: event publish failed", {{"event", name}});
  });
}

}  // namespace sidecar::services::ai_integration
