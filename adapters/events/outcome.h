#pragma once
// What to do with a JetStream event after one delivery attempt. Pure functions, so the policy is
// unit-tested without a server: the consumer only carries out the Decision.
//
//   2xx                                    -> ack
//   transport error, 5xx, 408, 429          -> retryable: nak with backoff, or DLQ on the last attempt
//   any other status (4xx, 1xx, 3xx)        -> permanent: DLQ, then term (no point retrying)
//   refused locally before reaching the     -> nak with backoff, and not counted as an attempt: an open
//   upstream (breaker open, max requests,      breaker during an outage must not use up an event's
//   pool overflow, no healthy upstream)        max_deliver and send it to the DLQ untried

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sidecar/http/message.h"

namespace sidecar::adapters::events {

enum class Outcome { kSuccess, kRetryable, kPermanent };

struct Classification {
  Outcome outcome = Outcome::kSuccess;
  // False when the sidecar refused the request itself (FailureKind circuit_open, max_requests,
  // overflow, no healthy upstream): the upstream never saw it.
  bool attempted = true;
  std::string error;  // "" on success; "http 503: <body prefix>" or the transport error
};

Classification Classify(const absl::StatusOr<http::Response>& result);

enum class Action {
  kAck,         // delivered
  kNak,         // redeliver after `delay_ms`
  kDeadLetter,  // publish to the DLQ; then ack (exhausted) or term (permanent)
};

struct Decision {
  Action action = Action::kAck;
  int64_t delay_ms = 0;  // kNak only
  // kDeadLetter: "exhausted" (max_deliver failed deliveries) or "permanent" (a 4xx).
  std::string reason;
};

// `attempt` is this delivery's attempt number (1-based): JetStream's NumDelivered minus the
// deliveries that were refused locally (see Classification::attempted).
Decision Decide(const Classification& c, uint64_t attempt, int64_t max_deliver,
                const std::vector<int64_t>& backoff_ms);

// The nak delay after failed delivery `delivery`: backoff_ms[min(delivery, size) - 1]; 0 if empty.
int64_t BackoffDelayMs(const std::vector<int64_t>& backoff_ms, uint64_t delivery);

}  // namespace sidecar::adapters::events
