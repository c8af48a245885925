#include "services/orchestration/orchestration_logic.h"

#include <chrono>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "services/common/dependency_client.h"
#include "services/common/errors.h"
#include "services/common/event_publisher.h"
#include "services/common/jcs.h"
#include "services/common/read_modify_write.h"
#include "services/orchestration/orchestration_store.h"

namespace sidecar::services::orchestration {

using std::chrono::milliseconds;

// Runs one saga to a final status. Owned by OrchestrationLogic::active_ while it runs and by the
// callbacks it has pending; it reaches the logic through a weak_ptr, so a callback arriving after
// the port is gone does nothing.
class SagaRunner : public std::enable_shared_from_this<SagaRunner> {
 public:
  // `reply`: the waiting request (start_saga, retry_compensation), or null for a resumed saga.
  SagaRunner(std::weak_ptr<OrchestrationLogic> logic, Saga saga, uint64_t revision, CallContext ctx,
             int64_t now_ms, Done<Saga> reply)
      : logic_(std::move(logic)),
        saga_(std::move(saga)),
        stored_(saga_),
        revision_(revision),
        ctx_(std::move(ctx)),
        now_ms_(now_ms),
        reply_(std::move(reply)) {}

  const std::string& saga_id() const { return saga_.saga_id; }

  void Start() { Advance(); }

 private:
  // The next move of the state machine (rules 3, 4, 6), persisted before any call (rule 5).
  void Advance() {
    if (stopped_) return;
    if (saga_.status == kRunning) {
      std::optional<int> next = NextPendingStep(saga_);
      if (!next.has_value()) {
        saga_.status = std::string(kCompleted);
        return Finish();
      }
      return PersistThen([self = shared_from_this(), i = *next]() { self->RunStep(i); });
    }
    if (saga_.status == kCompensating) {
      std::optional<int> next = NextCompensation(saga_);
      if (!next.has_value()) {
        FinishCompensation(saga_);
        return Finish();
      }
      saga_.cursor = *next;
      return PersistThen([self = shared_from_this(), i = *next]() { self->Compensate(i); });
    }
    // Already final (claimed while another run finished it): nothing to do, no second event.
    Reply(saga_);
    Stop();
  }

  // A final status: stored, then its event (O11: once per transition), then the answer.
  void Finish() {
    ++saga_.transitions;
    PersistThen([self = shared_from_this()]() {
      auto logic = self->logic_.lock();
      if (!logic) return;
      logic->Publish(self->saga_, self->now_ms_);
      self->Reply(self->saga_);
      self->Stop();
    });
  }

  void PersistThen(absl::AnyInvocable<void() &&> next) {
    auto logic = logic_.lock();
    if (!logic || stopped_) return;
    saga_.updated_at = now_ms_;
    saga_.touched_wall_ms = logic->WallNowMs();
    logic->deps_.store->CompareAndSet(
        SagaKey(saga_.saga_id), EncodeSaga(saga_), revision_, now_ms_, {},
        [self = shared_from_this(),
         next = std::move(next)](absl::StatusOr<uint64_t> written) mutable {
          if (self->stopped_) return;
          if (!written.ok()) {
            // A lost compare-and-set: another replica's sweeper took the saga over; it goes on
            // from what we stored last. Any other store error: stop here, the saga stays stored
            // as it was and the sweeper resumes it.
            return self->Abandon(written.status());
          }
          self->revision_ = *written;
          self->stored_ = self->saga_;
          std::move(next)();
        });
  }

  void RunStep(int i) {
    const Step& step = saga_.steps[i];
    const CallTarget target = StepCall(step.kind);
    if (step.kind == kQuestComplete) {
      CallWithRetry<::quest_system::v1::CompleteResponse>(
          target, CompleteRequestOf(step), 1,
          [self = shared_from_this(), i](absl::StatusOr<::quest_system::v1::CompleteResponse> r) {
            if (!r.ok()) return self->StepFailed(i, r.status());
            MarkStepDone(self->saga_, i, Json{{"completions", r->completions()}}, &*r);
            self->Advance();
          });
    } else if (step.kind == kPaymentCredit) {
      CallWithRetry<::payment::v1::CreditResponse>(
          target, CreditRequestOf(saga_, step), 1,
          [self = shared_from_this(), i](absl::StatusOr<::payment::v1::CreditResponse> r) {
            if (!r.ok()) return self->StepFailed(i, r.status());
            MarkStepDone(self->saga_, i,
                         Json{{"tx_id", r->tx_id()}, {"balance_minor", r->balance_minor()}},
                         nullptr);
            self->Advance();
          });
    } else if (step.kind == kPaymentTransfer) {
      CallWithRetry<::payment::v1::TransferResponse>(
          target, TransferRequestOf(saga_, step), 1,
          [self = shared_from_this(), i](absl::StatusOr<::payment::v1::TransferResponse> r) {
            if (!r.ok()) return self->StepFailed(i, r.status());
            MarkStepDone(self->saga_, i, Json{{"tx_id", r->tx_id()}}, nullptr);
            self->Advance();
          });
    } else {
      absl::StatusOr<::world_state::v1::ApplyDeltaRequest> rq = ApplyDeltaRequestOf(saga_, step);
      if (!rq.ok()) return StepFailed(i, rq.status());  // what world-state would answer (O2)
      CallWithRetry<::world_state::v1::ApplyDeltaResponse>(
          target, std::move(*rq), 1,
          [self = shared_from_this(), i](absl::StatusOr<::world_state::v1::ApplyDeltaResponse> r) {
            if (!r.ok()) return self->StepFailed(i, r.status());
            MarkStepDone(self->saga_, i, Json{{"delta_id", r->delta_id()}}, nullptr);
            self->Advance();
          });
    }
  }

  void StepFailed(int i, const absl::Status& error) {
    MarkStepFailed(saga_, i, error);
    Advance();
  }

  void Compensate(int i) {
    const Step& step = saga_.steps[i];
    const CallTarget target = CompensationCall(step.kind);
    auto finish = [self = shared_from_this(), i](const absl::Status& error, std::string tx_id) {
      Step& s = self->saga_.steps[i];
      if (error.ok()) {
        MarkCompensated(self->saga_, i, tx_id, /*undone=*/true);
      } else if (IsNothingToUndo(self->saga_, s, error)) {
        MarkCompensated(self->saga_, i, "", /*undone=*/false);
      } else {
        MarkCompensationFailed(self->saga_, i);  // O4: error fields unchanged, go on below
      }
      self->Advance();
    };
    if (step.kind == kQuestComplete) {
      CallWithRetry<::quest_system::v1::RevertCompletionResponse>(
          target, RevertCompletionRequestOf(step), 1,
          [finish](absl::StatusOr<::quest_system::v1::RevertCompletionResponse> r) {
            finish(r.status(), "");
          });
    } else if (step.kind == kPaymentCredit || step.kind == kPaymentTransfer) {
      CallWithRetry<::payment::v1::RefundResponse>(
          target, RefundRequestOf(saga_, step), 1,
          [finish](absl::StatusOr<::payment::v1::RefundResponse> r) {
            finish(r.status(), r.ok() ? r->refund_tx_id() : "");
          });
    } else {
      // World-state conflicts do not fail a compensation (rule 3, O7): any answer is success.
      CallWithRetry<::world_state::v1::RevertDeltaResponse>(
          target, RevertDeltaRequestOf(saga_, step), 1,
          [finish](absl::StatusOr<::world_state::v1::RevertDeltaResponse> r) {
            finish(r.status(), "");
          });
    }
  }

  // Rule 3 / O8: up to 3 calls with the same request (same key), 100 then 200 ms apart; only
  // UNAVAILABLE and DEADLINE_EXCEEDED are retried; `done` gets the last attempt's answer.
  template <typename Resp, typename Req>
  void CallWithRetry(CallTarget target, Req request, int attempt, Done<Resp> done) {
    auto logic = logic_.lock();
    if (!logic || stopped_) return;
    CallContext ctx = AttemptContext();
    DependencyCallOptions options;
    options.timeout = milliseconds(kAttemptTimeoutMs);  // X-Deadline-Ms = min(2000, remaining - 50)
    CallDependency<Resp>(
        *logic->deps_.dependencies, ctx, target.service, target.action, request,
        [self = shared_from_this(), target, request, attempt,
         done = std::move(done)](absl::StatusOr<Resp> result) mutable {
          if (self->stopped_) return;
          if (result.ok() || !IsRetryable(result.status()) || attempt >= kMaxAttempts) {
            return std::move(done)(std::move(result));
          }
          auto logic = self->logic_.lock();
          if (!logic) return;
          const milliseconds backoff(kBackoffMs[attempt - 1]);
          if (self->reply_ &&
              self->ctx_.Remaining() <= backoff + milliseconds(kDownstreamMarginMs)) {
            // The wait would outlast the caller's budget: answer now with the saga as stored.
            self->ReplyWithStored();
          }
          auto retry = [self, target, request = std::move(request), attempt,
                        done = std::move(done)]() mutable {
            self->CallWithRetry<Resp>(target, std::move(request), attempt + 1, std::move(done));
          };
          if (logic->deps_.timers == nullptr) return retry();  // a host without timers: no wait
          logic->deps_.timers->After(backoff, std::move(retry));
        },
        options);
  }

  // The context of one attempt: the request's while it still has budget (O8), else (the request
  // was answered, or this is a resumed saga) a fresh 2000 ms one with the same *now*.
  CallContext AttemptContext() {
    if (reply_) {
      if (ctx_.Remaining() > milliseconds(kDownstreamMarginMs)) return ctx_;
      ReplyWithStored();  // no budget left for the caller: answer with the saga as stored
    }
    return CallContext::Make(
        now_ms_, ctx_.principal(), ctx_.request_id(),
        http::Clock::now() + milliseconds(kAttemptTimeoutMs + kDownstreamMarginMs));
  }

  void Reply(absl::StatusOr<Saga> result) {
    if (!reply_) return;
    Done<Saga> reply = std::move(reply_);
    reply_ = nullptr;
    std::move(reply)(std::move(result));
  }
  void ReplyWithStored() { Reply(stored_); }

  // The saga is no longer ours (or the store failed): stop; a waiting request gets the stored saga
  // as it is now (or the store's error).
  void Abandon(const absl::Status& error) {
    auto logic = logic_.lock();
    Stop();
    if (!reply_ || !logic) return;
    if (!IsConflict(error)) return Reply(error);
    logic->deps_.store->Get(
        SagaKey(saga_.saga_id), now_ms_,
        [self = shared_from_this()](absl::StatusOr<std::optional<StoreEntry>> got) {
          if (!got.ok()) return self->Reply(got.status());
          if (!got->has_value()) return self->Reply(Unavailable("", {}, "saga vanished"));
          self->Reply(DecodeSaga((*got)->value));
        });
  }

  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    if (auto logic = logic_.lock()) logic->Forget(saga_.saga_id, this);
  }

  std::weak_ptr<OrchestrationLogic> logic_;
  Saga saga_;
  Saga stored_;  // as last written
  uint64_t revision_;
  CallContext ctx_;
  int64_t now_ms_;
  Done<Saga> reply_;
  bool stopped_ = false;
};

namespace {

absl::Status ReplayOrConflict(const Saga& stored, const std::string& fingerprint) {
  // O9: same fingerprint -> the stored saga as is; different -> ALREADY_EXISTS saga_id.
  if (stored.fingerprint != fingerprint)
    return AlreadyExists("saga_id", "saga_id used by another saga");
  return absl::OkStatus();
}

}  // namespace

std::shared_ptr<OrchestrationLogic> OrchestrationLogic::Create(const ServiceDeps& deps,
                                                               Options options) {
  return std::shared_ptr<OrchestrationLogic>(new OrchestrationLogic(deps, std::move(options)));
}

OrchestrationLogic::OrchestrationLogic(const ServiceDeps& deps, Options options)
    : deps_(deps), options_(std::move(options)) {}

int64_t OrchestrationLogic::WallNowMs() const {
  if (options_.wall_clock_ms) return options_.wall_clock_ms();
  return absl::ToUnixMillis(absl::Now());
}

// ---- start_saga ----

void OrchestrationLogic::StartSaga(const CallContext& ctx, const pb::StartSagaRequest& rq,
                                   Done<pb::StartSagaResponse> done) {
  absl::Status s = CheckStartSaga(rq);  // rule 1, O1, O2
  if (s.ok()) {
    // Rule 1: templates for the named player, service or admin; explicit steps service/admin.
    s = IsTemplate(rq)
            ? ctx.AuthorizePlayer(rq.template_params().at("player_id"), /*is_write=*/true)
            : ctx.AuthorizeWrite();
  }
  if (!s.ok()) return std::move(done)(s);
  // O9: §0.5 fingerprint over saga_id, template, template_params, steps as sent.
  absl::StatusOr<std::string> fingerprint = RequestFingerprint(rq, {});
  if (!fingerprint.ok())
    return std::move(done)(Internal(std::string(fingerprint.status().message())));
  LookupOrCreate(ctx, rq, std::move(*fingerprint), 2,
                 [done = std::move(done)](absl::StatusOr<Saga> saga) mutable {
                   if (!saga.ok()) return std::move(done)(saga.status());
                   std::move(done)(SagaResponseOf<pb::StartSagaResponse>(*saga));
                 });
}

void OrchestrationLogic::LookupOrCreate(const CallContext& ctx, const pb::StartSagaRequest& rq,
                                        std::string fingerprint, int attempts_left,
                                        Done<Saga> done) {
  const std::string key = SagaKey(rq.saga_id());
  deps_.store->Get(
      key, ctx.now_ms(),
      [self = shared_from_this(), ctx, rq, key, fingerprint = std::move(fingerprint), attempts_left,
       done = std::move(done)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
        if (!got.ok()) return std::move(done)(got.status());
        if (got->has_value()) {
          absl::StatusOr<Saga> stored = DecodeSaga((*got)->value);
          if (!stored.ok()) return std::move(done)(stored.status());
          if (absl::Status s = ReplayOrConflict(*stored, fingerprint); !s.ok())
            return std::move(done)(s);
          return std::move(done)(std::move(*stored));  // rule 5: whatever its status, no re-run
        }
        Saga saga = NewSaga(rq, fingerprint);
        saga.updated_at = ctx.now_ms();
        saga.touched_wall_ms = self->WallNowMs();
        std::string value = EncodeSaga(saga);
        // Write-ahead: the saga exists in the store before its first call (rule 5).
        self->deps_.store->CompareAndSet(
            key, std::move(value), 0, ctx.now_ms(), {},
            [self, ctx, rq, fingerprint, attempts_left, saga = std::move(saga),
             done = std::move(done)](absl::StatusOr<uint64_t> written) mutable {
              if (!written.ok()) {
                if (IsConflict(written.status()) && attempts_left > 1) {
                  // Created by a concurrent request meanwhile: answer as its replay or conflict.
                  return self->LookupOrCreate(ctx, rq, std::move(fingerprint), attempts_left - 1,
                                              std::move(done));
                }
                return std::move(done)(IsConflict(written.status())
                                           ? Unavailable("", {}, "contention")
                                           : written.status());
              }
              auto runner = std::make_shared<SagaRunner>(self, std::move(saga), *written, ctx,
                                                         ctx.now_ms(), std::move(done));
              self->Run(std::move(runner));
            });
      });
}

void OrchestrationLogic::Run(std::shared_ptr<SagaRunner> runner) {
  active_[runner->saga_id()] = runner;
  runner->Start();
}

void OrchestrationLogic::Forget(const std::string& saga_id, const SagaRunner* runner) {
  auto it = active_.find(saga_id);
  if (it != active_.end() && it->second.get() == runner) active_.erase(it);
}

// ---- get_saga ----

void OrchestrationLogic::GetSaga(const CallContext& ctx, const pb::GetSagaRequest& rq,
                                 Done<pb::GetSagaResponse> done) {
  absl::Status s = CheckSagaId(rq.saga_id());
  if (s.ok()) s = ctx.AuthorizeRead();  // O12: any principal
  if (!s.ok()) return std::move(done)(s);
  deps_.store->Get(SagaKey(rq.saga_id()), ctx.now_ms(),
                   [done = std::move(done)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
                     if (!got.ok()) return std::move(done)(got.status());
                     if (!got->has_value())
                       return std::move(done)(NotFound("saga_id", "unknown saga"));
                     absl::StatusOr<Saga> saga = DecodeSaga((*got)->value);
                     if (!saga.ok()) return std::move(done)(saga.status());
                     std::move(done)(SagaResponseOf<pb::GetSagaResponse>(*saga));
                   });
}

// ---- retry_compensation ----

void OrchestrationLogic::RetryCompensation(const CallContext& ctx,
                                           const pb::RetryCompensationRequest& rq,
                                           Done<pb::RetryCompensationResponse> done) {
  absl::Status s = CheckSagaId(rq.saga_id());
  if (s.ok()) s = ctx.AuthorizeWrite();  // O10: service/admin
  if (!s.ok()) return std::move(done)(s);
  const int64_t wall = WallNowMs();
  // Claim the saga: compensation_failed -> compensating in one compare-and-set, so two retries
  // cannot both run (the loser sees not_compensation_failed).
  UpdateKey<Saga>(
      *deps_.store, SagaKey(rq.saga_id()), ctx.now_ms(),
      [now = ctx.now_ms(),
       wall](const std::optional<StoreEntry>& entry) -> absl::StatusOr<Write<Saga>> {
        if (!entry.has_value()) return NotFound("saga_id", "unknown saga");
        absl::StatusOr<Saga> saga = DecodeSaga(entry->value);
        if (!saga.ok()) return saga.status();
        if (absl::Status s = BeginRetryCompensation(*saga); !s.ok()) return s;
        saga->updated_at = now;
        saga->touched_wall_ms = wall;
        Write<Saga> write;
        write.op = Write<Saga>::Op::kPut;
        write.value = EncodeSaga(*saga);
        write.result = std::move(*saga);
        return write;
      },
      [self = shared_from_this(), ctx,
       done = std::move(done)](absl::StatusOr<Committed<Saga>> committed) mutable {
        if (!committed.ok()) return std::move(done)(committed.status());
        auto runner = std::make_shared<SagaRunner>(
            self, std::move(committed->result), committed->store_revision, ctx, ctx.now_ms(),
            [done = std::move(done)](absl::StatusOr<Saga> saga) mutable {
              if (!saga.ok()) return std::move(done)(saga.status());
              std::move(done)(SagaResponseOf<pb::RetryCompensationResponse>(*saga));
            });
        self->Run(std::move(runner));
      });
}

// ---- the sweeper (rule 5) ----

void OrchestrationLogic::ResumeStale(int64_t wall_now_ms, Done<int> done) {
  deps_.store->List(
      std::string(kSagaPrefix), 0,
      [self = shared_from_this(), wall_now_ms,
       done = std::move(done)](absl::StatusOr<std::vector<StoreEntry>> listed) mutable {
        if (!listed.ok()) {
          if (done) std::move(done)(listed.status());
          return;
        }
        struct Claims {
          int pending = 0;
          int claimed = 0;
          Done<int> done;
        };
        auto claims = std::make_shared<Claims>();
        claims->done = std::move(done);
        claims->pending = 1;  // released after the loop
        auto arrive = [claims]() {
          if (--claims->pending == 0 && claims->done) std::move(claims->done)(claims->claimed);
        };
        for (const StoreEntry& entry : *listed) {
          absl::StatusOr<Saga> saga = DecodeSaga(entry.value);
          if (!saga.ok()) continue;
          if (saga->status != kRunning && saga->status != kCompensating) continue;
          if (wall_now_ms - saga->touched_wall_ms <= kStaleAfterMs) continue;
          if (self->active_.count(saga->saga_id) > 0) continue;
          // Claim it with a compare-and-set on the listed revision: of several sweepers exactly
          // one wins; the winner's write is also the first "persist before the next step".
          saga->touched_wall_ms = wall_now_ms;
          saga->updated_at = wall_now_ms;
          ++claims->pending;
          std::string key = entry.key;
          self->deps_.store->CompareAndSet(
              key, EncodeSaga(*saga), entry.revision, wall_now_ms, {},
              [self, claims, arrive, saga = std::move(*saga),
               wall_now_ms](absl::StatusOr<uint64_t> written) mutable {
                if (written.ok() && self->active_.count(saga.saga_id) == 0) {
                  ++claims->claimed;
                  CallContext ctx = CallContext::Make(
                      wall_now_ms, Principal{Principal::Kind::kService, std::string(kServiceName)});
                  auto runner = std::make_shared<SagaRunner>(self, std::move(saga), *written, ctx,
                                                             wall_now_ms, nullptr);
                  self->Run(std::move(runner));
                }
                arrive();
              });
        }
        arrive();
      });
}

void OrchestrationLogic::EnsureSweeper() {
  if (sweeper_armed_ || deps_.timers == nullptr) return;
  sweeper_armed_ = true;
  ScheduleSweep();
}

void OrchestrationLogic::ScheduleSweep() {
  deps_.timers->After(options_.sweep_interval, [weak = weak_from_this()]() {
    auto self = weak.lock();
    if (!self) return;
    self->ResumeStale(self->WallNowMs(), nullptr);
    self->ScheduleSweep();
  });
}

// ---- events (O11) ----

void OrchestrationLogic::Publish(const Saga& saga, int64_t now_ms) {
  std::string name;
  std::unique_ptr<google::protobuf::Message> event;
  if (saga.status == kCompleted) {
    auto e = std::make_unique<pb::SagaCompletedEvent>();
    e->set_saga_id(saga.saga_id);
    name = "saga_completed";
    event = std::move(e);
  } else if (saga.status == kCompensated) {
    auto e = std::make_unique<pb::SagaCompensatedEvent>();
    e->set_saga_id(saga.saga_id);
    e->set_failed_step(saga.failed_step);
    name = "saga_compensated";
    event = std::move(e);
  } else if (saga.status == kCompensationFailed) {
    auto e = std::make_unique<pb::SagaCompensationFailedEvent>();
    e->set_saga_id(saga.saga_id);
    name = "saga_compensation_failed";
    event = std::move(e);
  } else {
    return;
  }
  // One id per transition: a retried publish of the same one is de-duplicated by the stream.
  const std::string material = absl::StrCat(saga.saga_id, ":", saga.transitions);
  absl::StatusOr<Event> built =
      MakeEvent(kServiceName, name, MakeEventId(kServiceName, name, material), now_ms, *event);
  if (built.ok()) deps_.events->Publish(std::move(*built), nullptr);
}

}  // namespace sidecar::services::orchestration
