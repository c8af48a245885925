#include "services/ai_router/ai_router_logic.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "ai_integration/v1/ai_integration.pb.h"
#include "services/common/dependency_client.h"
#include "services/common/determinism.h"
#include "services/common/errors.h"
#include "services/common/read_modify_write.h"
#include "sidecar/common/logging.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::ai_router {
namespace {

using Json = nlohmann::json;
namespace ai = ::ai_integration::v1;

absl::StatusOr<RouteTable> ParseTable(const std::optional<StoreEntry>& entry) {
  if (!entry.has_value()) return RouteTable{};
  Json json = Json::parse(entry->value, nullptr, /*allow_exceptions=*/false);
  absl::StatusOr<RouteTable> table = RouteTableFromJson(json);
  if (!table.ok()) return Internal("stored route table does not parse");
  return table;
}

pb::Attempt MakeAttempt(const std::string& model, std::string_view outcome) {
  pb::Attempt a;
  a.set_model(model);
  a.set_outcome(std::string(outcome));
  return a;
}

}  // namespace

struct AiRouterLogic::Job {
  Job(const CallContext& c, pb::RouteRequest r, Done<pb::RouteResponse> d)
      : ctx(c), rq(std::move(r)), done(std::move(d)) {}
  CallContext ctx;
  pb::RouteRequest rq;
  Done<pb::RouteResponse> done;
  pb::GetRouteResponse route;
  std::vector<pb::Attempt> attempts;  // skips and tries so far, in route order
  int next = 0;                       // the next candidate's index
  bool tried = false;                 // some candidate was eligible (rule 4)
  std::string nonce;                  // names this request's events
};

AiRouterLogic::AiRouterLogic(const ServiceDeps& deps)
    : store_(*deps.store), events_(*deps.events), dependencies_(deps.dependencies) {}

// ---- put_route ----

void AiRouterLogic::PutRoute(const CallContext& ctx, pb::PutRouteRequest rq,
                             Done<pb::PutRouteResponse> done) {
  absl::Status s = CheckPutRouteFields(rq);
  if (s.ok()) s = ctx.AuthorizeWrite();  // AR11: service/admin
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  UpdateKey<pb::PutRouteResponse>(
      store_, std::string(kRoutesKey), ctx.now_ms(),
      [rq = std::move(rq)](const std::optional<StoreEntry>& entry)
          -> absl::StatusOr<Write<pb::PutRouteResponse>> {
        ASSIGN_OR_RETURN(RouteTable table, ParseTable(entry));
        auto existing = table.routes.find(rq.task());
        // AR4: the 201st distinct task; replacing one at the cap succeeds.
        if (existing == table.routes.end() &&
            table.routes.size() >= static_cast<size_t>(kMaxRoutes)) {
          return LimitExceeded(kMaxRoutes, "at most 200 routes");
        }
        pb::GetRouteResponse route;
        route.set_task(rq.task());
        for (const pb::Candidate& c : rq.candidates()) {
          pb::Candidate* stored = route.add_candidates();
          *stored = c;
          if (!c.has_rollout_bp()) stored->set_rollout_bp(kDefaultRolloutBp);  // AR3
        }
        route.set_budget_key_template(rq.budget_key_template());
        // AR4: every successful put adds 1, even an identical one.
        route.set_revision(existing == table.routes.end() ? 1 : existing->second.revision() + 1);
        Write<pb::PutRouteResponse> write;
        write.result.set_task(rq.task());
        write.result.set_revision(route.revision());
        table.routes[rq.task()] = std::move(route);
        write.op = Write<pb::PutRouteResponse>::Op::kPut;
        write.value = RouteTableToJson(table).dump();
        return write;
      },
      [done = std::move(done)](
          absl::StatusOr<Committed<pb::PutRouteResponse>> committed) mutable {
        if (!committed.ok()) {
          std::move(done)(committed.status());
          return;
        }
        std::move(done)(std::move(committed->result));  // no event (AR4)
      });
}

// ---- get_route ----

void AiRouterLogic::ReadRoute(const CallContext& ctx, const std::string& task,
                              Done<pb::GetRouteResponse> done) {
  store_.Get(std::string(kRoutesKey), ctx.now_ms(),
             [task, done = std::move(done)](
                 absl::StatusOr<std::optional<StoreEntry>> got) mutable {
               if (!got.ok()) {
                 std::move(done)(got.status());
                 return;
               }
               absl::StatusOr<RouteTable> table = ParseTable(*got);
               if (!table.ok()) {
                 std::move(done)(table.status());
                 return;
               }
               auto it = table->routes.find(task);
               if (it == table->routes.end()) {
                 std::move(done)(NotFound("task", "no route for this task"));
                 return;
               }
               std::move(done)(std::move(it->second));
             });
}

void AiRouterLogic::GetRoute(const CallContext& ctx, pb::GetRouteRequest rq,
                             Done<pb::GetRouteResponse> done) {
  absl::Status s = CheckTask(rq.task());
  if (s.ok()) s = ctx.AuthorizeRead();  // AR11: any principal
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  ReadRoute(ctx, rq.task(), std::move(done));
}

// ---- explain ----

void AiRouterLogic::Explain(const CallContext& ctx, pb::ExplainRequest rq,
                            Done<pb::ExplainResponse> done) {
  absl::Status s = CheckExplainFields(rq);
  if (s.ok()) s = ctx.AuthorizePlayer(rq.player_id(), /*is_write=*/false);  // AR11
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  const std::string task = rq.task();
  ReadRoute(ctx, task,
            [rq = std::move(rq), done = std::move(done)](
                absl::StatusOr<pb::GetRouteResponse> route) mutable {
              if (!route.ok()) {
                std::move(done)(route.status());
                return;
              }
              // Rule 4: explain applies rule 2 only.
              pb::ExplainResponse response;
              response.set_task(rq.task());
              for (const pb::Candidate& c : route->candidates()) {
                Eligibility e = Evaluate(c, rq.task(), rq.player_id(), rq.perf_mode());
                if (e.eligible) {
                  response.add_eligible(c.model());
                } else {
                  *response.add_skipped() = MakeAttempt(c.model(), e.outcome);
                }
              }
              std::move(done)(std::move(response));
            });
}

// ---- route ----

void AiRouterLogic::Route(const CallContext& ctx, pb::RouteRequest rq,
                          Done<pb::RouteResponse> done) {
  absl::Status s = CheckRouteFields(rq);
  // AR11: player-scoped (that player, service, admin); player_id is required, so never empty.
  if (s.ok()) s = ctx.AuthorizePlayer(rq.player_id(), /*is_write=*/true);
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  auto job = std::make_shared<Job>(ctx, std::move(rq), std::move(done));
  job->nonce = Hex16(absl::StrCat(ctx.request_id(), "|", ctx.now_ms(), "|",
                                  absl::ToUnixMillis(absl::Now()), "|",
                                  reinterpret_cast<uintptr_t>(this), "|",
                                  request_counter_.fetch_add(1)));
  const std::string task = job->rq.task();
  ReadRoute(ctx, task, [this, job](absl::StatusOr<pb::GetRouteResponse> route) mutable {
    if (!route.ok()) {
      std::move(job->done)(route.status());
      return;
    }
    job->route = std::move(*route);
    Next(std::move(job));
  });
}

void AiRouterLogic::Next(std::shared_ptr<Job> job) {
  const auto& candidates = job->route.candidates();
  while (job->next < candidates.size()) {
    const int index = job->next++;
    const pb::Candidate& c = candidates[index];
    Eligibility e = Evaluate(c, job->rq.task(), job->rq.player_id(), job->rq.perf_mode());
    if (!e.eligible) {
      job->attempts.push_back(MakeAttempt(c.model(), e.outcome));  // skips emit nothing (AR10)
      continue;
    }
    job->tried = true;
    // Rule 3 / AR8: too little time left to start a call: a tried candidate, no call.
    if (job->ctx.Remaining() < std::chrono::milliseconds(kMinStartBudgetMs)) {
      job->attempts.push_back(MakeAttempt(c.model(), kDeadlineExceeded));
      PublishFallback(*job, index, c.model(), kDeadlineExceeded);
      continue;
    }
    if (dependencies_ == nullptr) {
      std::move(job->done)(Unavailable("dependency_unavailable", {{"service", "ai-integration"}},
                                       "no dependency client"));
      return;
    }
    ai::CompleteRequest call;
    call.set_model(c.model());
    *call.mutable_messages() = job->rq.messages();
    call.set_max_tokens(c.max_tokens());
    call.set_temperature_milli(job->rq.has_temperature_milli() ? job->rq.temperature_milli()
                                                               : kDefaultTemperatureMilli);
    call.set_seed(job->rq.seed());
    call.set_budget_key(
        RenderBudgetKey(job->route.budget_key_template(), job->rq.task(), job->rq.player_id()));
    if (!job->rq.idempotency_key().empty()) {
      // AR6 / N29: the candidate's 0-based position in the route.
      call.set_idempotency_key(job->rq.idempotency_key() + ":" + std::to_string(index));
    }
    CallDependency<ai::CompleteResponse>(
        *dependencies_, job->ctx, "ai-integration", "complete", call,
        [this, job, index](absl::StatusOr<ai::CompleteResponse> got) mutable {
          const std::string& model = job->route.candidates(index).model();
          if (got.ok()) {
            // AR12: copied from ai-integration; attempts up to and including this one.
            job->attempts.push_back(MakeAttempt(model, kOk));
            pb::RouteResponse r;
            r.set_text(got->text());
            r.set_model_id(got->model_id());
            r.set_provider(got->provider());
            r.set_finish_reason(got->finish_reason());
            r.set_input_tokens(got->input_tokens());
            r.set_output_tokens(got->output_tokens());
            for (pb::Attempt& a : job->attempts) *r.add_attempts() = std::move(a);
            std::move(job->done)(std::move(r));
            return;
          }
          std::optional<std::string_view> outcome = OutcomeOf(got.status());
          if (!outcome.has_value()) {
            std::move(job->done)(got.status());  // AR7: unchanged, no further candidates
            return;
          }
          job->attempts.push_back(MakeAttempt(model, *outcome));
          PublishFallback(*job, index, model, *outcome);
          Next(std::move(job));
        });
    return;
  }
  // Rule 4 / AR9.
  if (!job->tried) {
    std::move(job->done)(
        FailedPrecondition("no_eligible_candidate", {}, "no candidate is eligible"));
    return;
  }
  std::move(job->done)(Unavailable("all_candidates_failed",
                                   {{"attempts", JoinAttempts(job->attempts)}},
                                   "every candidate failed"));
}

// ---- events ----

void AiRouterLogic::PublishFallback(const Job& job, size_t index, const std::string& model,
                                    std::string_view outcome) {
  pb::RouteFallbackEvent event;
  event.set_task(job.rq.task());
  event.set_model(model);
  event.set_outcome(std::string(outcome));
  const std::string material =
      absl::StrCat(job.rq.task(), ":", index, ":", job.nonce);
  absl::StatusOr<Event> built =
      MakeEvent(kServiceName, "route_fallback",
                MakeEventId(kServiceName, "route_fallback", material), job.ctx.now_ms(), event);
  if (!built.ok()) {
    log::Error("ai-router: cannot build event", {{"event", "route_fallback"}});
    return;
  }
  // A publish failure does not fail the request (§0.1), it is logged.
  events_.Publish(std::move(*built), [](absl::Status s) {
    if (!s.ok()) log::Warn("ai-router: event publish failed", {{"event", "route_fallback"}});
  });
}

}  // namespace sidecar::services::ai_router
