#include "adapters/events/outcome.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "sidecar/upstream/cluster.h"

namespace sidecar::adapters::events {
namespace {

// Enough of an error body to say why, without copying a whole HTML error page into the DLQ.
constexpr size_t kMaxErrorBody = 200;

}  // namespace

Classification Classify(const absl::StatusOr<http::Response>& result) {
  Classification c;
  if (!result.ok()) {
    // Every transport failure (connect, reset, timeout, overflow, unhealthy) may succeed later.
    c.outcome = Outcome::kRetryable;
    const upstream::FailureKind kind = upstream::GetFailureKind(result.status());
    c.attempted = kind != upstream::FailureKind::kCircuitOpen && kind != upstream::FailureKind::kMaxRequests &&
                  kind != upstream::FailureKind::kOverflow && kind != upstream::FailureKind::kNoHealthyUpstream;
    c.error = kind == upstream::FailureKind::kNone
                  ? std::string(result.status().message())
                  : absl::StrCat(std::string(upstream::FailureKindName(kind)), ": ", result.status().message());
    return c;
  }
  const int status = result->status;
  if (status >= 200 && status < 300) return c;
  const bool retryable = status >= 500 || status == 408 || status == 429;
  c.outcome = retryable ? Outcome::kRetryable : Outcome::kPermanent;
  c.error = absl::StrCat("http ", status);
  if (!result->body.empty()) {
    absl::StrAppend(&c.error, ": ", result->body.substr(0, kMaxErrorBody));
    while (!c.error.empty() && (c.error.back() == '\n' || c.error.back() == '\r')) c.error.pop_back();
  }
  return c;
}

int64_t BackoffDelayMs(const std::vector<int64_t>& backoff_ms, uint64_t delivery) {
  if (backoff_ms.empty()) return 0;
  const size_t index = static_cast<size_t>(std::min<uint64_t>(std::max<uint64_t>(delivery, 1), backoff_ms.size())) - 1;
  return backoff_ms[index];
}

Decision Decide(const Classification& c, uint64_t attempt, int64_t max_deliver,
                const std::vector<int64_t>& backoff_ms) {
  Decision d;
  switch (c.outcome) {
    case Outcome::kSuccess:
      d.action = Action::kAck;
      return d;
    case Outcome::kPermanent:
      d.action = Action::kDeadLetter;
      d.reason = "permanent";
      return d;
    case Outcome::kRetryable:
      if (c.attempted && attempt >= static_cast<uint64_t>(max_deliver)) {
        d.action = Action::kDeadLetter;
        d.reason = "exhausted";
        return d;
      }
      d.action = Action::kNak;
      d.delay_ms = BackoffDelayMs(backoff_ms, attempt);
      return d;
  }
  return d;
}

}  // namespace sidecar::adapters::events
