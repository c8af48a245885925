#include "sidecar/upstream/guarded_cluster.h"

#include "absl/strings/str_cat.h"
#include "sidecar/common/logging.h"

namespace sidecar::upstream {
namespace {

using resilience::Admission;
using resilience::BreakerState;
using resilience::BreakerTicket;
using Clock = std::chrono::steady_clock;

resilience::CircuitBreakerConfig BreakerConfig(const config::CircuitBreakersConfig& c) {
  return {.max_requests = c.max_requests,
          .max_retries = c.max_retries,
          .consecutive_failures = c.consecutive_failures,
          .open_interval = std::chrono::milliseconds(c.open_interval_ms)};
}

resilience::RetryBudgetConfig BudgetConfig(const config::RetryBudgetConfig& c) {
  return {.ratio = static_cast<double>(c.budget_percent) / 100.0,
          .min_per_second = static_cast<double>(c.min_retries_per_second)};
}

}  // namespace

bool IsUpstreamFailure(const absl::StatusOr<http::Response>& result) {
  if (result.ok()) return result->status >= 500;
  switch (GetFailureKind(result.status())) {
    case FailureKind::kConnectFailure:
    case FailureKind::kReset:
    case FailureKind::kTimeout:
    case FailureKind::kNoResponders:
    case FailureKind::kProtocolError:
      return true;
    default:
      // Local refusals (overflow, breaker) and cancellations say nothing about the upstream.
      return false;
  }
}

// One admitted request: releases its breaker slot exactly once, on completion or cancellation.
class GuardedCluster::Attempt final : public Cancellable {
 public:
  Attempt(GuardedCluster& owner, BreakerTicket ticket, ResponseCallback done)
      : owner_(owner), ticket_(ticket), done_(std::move(done)) {}

  void Start(const http::Request& request) {
    inner_ = owner_.inner_->Send(request, [this](absl::StatusOr<http::Response> result) {
      inner_ = nullptr;
      Finish(std::move(result));
    });
  }
  void Cancel() override {
    if (inner_ != nullptr) inner_->Cancel();
    owner_.OnAttemptCancelled(ticket_);
    delete this;
  }

 private:
  void Finish(absl::StatusOr<http::Response> result) {
    owner_.OnAttemptDone(ticket_, IsUpstreamFailure(result));
    ResponseCallback done = std::move(done_);
    delete this;
    std::move(done)(std::move(result));
  }

  GuardedCluster& owner_;
  const BreakerTicket ticket_;
  ResponseCallback done_;
  Cancellable* inner_ = nullptr;
};

// A refused first attempt: its failure is delivered on the next loop iteration (never inline from
// Send), unless cancelled first.
class GuardedCluster::Refusal final : public Cancellable {
 public:
  Refusal(ResponseCallback done, absl::Status status) : done_(std::move(done)), status_(std::move(status)) {}
  void Cancel() override { cancelled_ = true; }
  void Run() {
    if (!cancelled_) std::move(done_)(status_);
    delete this;
  }

 private:
  ResponseCallback done_;
  absl::Status status_;
  bool cancelled_ = false;
};

GuardedCluster::GuardedCluster(ClusterPtr inner, const config::CircuitBreakersConfig& breaker,
                               const config::RetryBudgetConfig& budget, event::Dispatcher& dispatcher,
                               stats::Metrics& metrics)
    : inner_(std::move(inner)),
      dispatcher_(dispatcher),
      breaker_(BreakerConfig(breaker)),
      budget_(BudgetConfig(budget)),
      metrics_(metrics),
      open_gauge_(metrics.breaker_open.Add({{"cluster", inner_->name()}})) {
  open_gauge_.Set(0);
  // A NATS outage of a second must not cost open_interval_ms (60 s by default) of refusals.
  inner_->SetOnRecovered([this] {
    const Clock::time_point now = Clock::now();
    breaker_.ProbeNow(now);
    SyncState(now);
  });
  for (Admission why : {Admission::kCircuitOpen, Admission::kMaxRequests, Admission::kMaxRetries}) {
    metrics_.breaker_rejections_total.Add({{"cluster", name()}, {"reason", std::string(AdmissionName(why))}});
  }
}

GuardedCluster::~GuardedCluster() { inner_->SetOnRecovered(nullptr); }

std::string GuardedCluster::HealthDetail() const {
  std::string detail = inner_->HealthDetail();
  const BreakerState state = breaker_state();
  if (state != BreakerState::kClosed) detail += "; breaker " + std::string(BreakerStateName(state));
  return detail;
}

BreakerState GuardedCluster::breaker_state() const { return breaker_.state(Clock::now()); }

Cancellable* GuardedCluster::Send(const http::Request& request, ResponseCallback done) {
  const Clock::time_point now = Clock::now();
  budget_.RecordRequest(now);
  return Admit(request, std::move(done), now);
}

bool GuardedCluster::TryReserveRetry() { return budget_.TryWithdrawRetry(Clock::now()); }

Cancellable* GuardedCluster::SendRetry(const http::Request& request, ResponseCallback done,
                                       std::string_view* refused) {
  BreakerTicket ticket;
  const Clock::time_point now = Clock::now();
  const Admission admission = breaker_.TryAdmit(now, /*is_retry=*/true, &ticket);
  SyncState(now);
  if (admission != Admission::kAdmitted) {
    Refuse(admission);
    *refused = AdmissionName(admission);
    return nullptr;
  }
  auto* attempt = new Attempt(*this, ticket, std::move(done));
  attempt->Start(request);
  return attempt;
}

Cancellable* GuardedCluster::Admit(const http::Request& request, ResponseCallback done,
                                   Clock::time_point now) {
  BreakerTicket ticket;
  const Admission admission = breaker_.TryAdmit(now, /*is_retry=*/false, &ticket);
  SyncState(now);
  if (admission == Admission::kAdmitted) {
    auto* attempt = new Attempt(*this, ticket, std::move(done));
    attempt->Start(request);
    return attempt;
  }
  Refuse(admission);
  const FailureKind kind =
      admission == Admission::kCircuitOpen ? FailureKind::kCircuitOpen : FailureKind::kMaxRequests;
  auto* refusal = new Refusal(std::move(done), UpstreamFailure(kind, "cluster '" + name() + "': " +
                                                                        std::string(AdmissionName(admission))));
  dispatcher_.Post([refusal] { refusal->Run(); });
  return refusal;
}

void GuardedCluster::Refuse(Admission why) {
  metrics_.breaker_rejections_total.Add({{"cluster", name()}, {"reason", std::string(AdmissionName(why))}})
      .Increment();
}

void GuardedCluster::OnAttemptDone(const BreakerTicket& ticket, bool failure) {
  const Clock::time_point now = Clock::now();
  breaker_.OnComplete(now, ticket, failure);
  SyncState(now);
}

void GuardedCluster::OnAttemptCancelled(const BreakerTicket& ticket) {
  breaker_.OnCancelled(ticket);
  SyncState(Clock::now());
}

void GuardedCluster::SyncState(Clock::time_point now) {
  const BreakerState state = breaker_.state(now);
  if (state == last_state_) return;
  last_state_ = state;
  open_gauge_.Set(state == BreakerState::kClosed ? 0 : 1);
  metrics_.breaker_transitions_total.Add({{"cluster", name()}, {"to", std::string(BreakerStateName(state))}})
      .Increment();
  log::Info("circuit breaker changed",
            {{"cluster", name()},
             {"state", std::string(BreakerStateName(state))},
             {"consecutive_failures", std::to_string(breaker_.consecutive_failures())}});
}

}  // namespace sidecar::upstream
