#pragma once
// Per-request context of a native port (SERVICES.md §0.3): *now*, the principal, the request id
// and the deadline, plus the §0.3 authorization defaults. The logic gets everything time- and
// caller-dependent from here, never from a clock or a connection.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sidecar/http/message.h"

namespace sidecar::services {

// ---- time (§0.2 ts, §0.3 X-Request-Time) ----

// RFC 3339 date-time as §0.3 accepts it: YYYY-MM-DDTHH:MM:SS[.f+](Z|±HH:MM), 'T'/'Z' in either case
// (RFC 3339 §5.6), seconds 00-59, any number of fractional digits truncated to milliseconds, a
// real calendar date. Returns unix ms (UTC). Anything else -> INVALID_ARGUMENT
// field=X-Request-Time reason=malformed (callers reuse it for other ts inputs by re-labelling).
absl::StatusOr<int64_t> ParseRequestTime(std::string_view text);
// JSON form of a ts: "2025-11-20T12:00:00.000Z"; 0 (unset, §0.2) -> "".
std::string FormatTs(int64_t unix_ms);

// ---- principals (§0.3, R1) ----

struct Principal {
  enum class Kind { kPlayer, kService, kAdmin };
  Kind kind;
  std::string id;  // non-empty

  bool is_player() const { return kind == Kind::kPlayer; }
  // service: or admin: (the "trusted" principals of the authorization defaults).
  bool is_privileged() const { return kind != Kind::kPlayer; }
  // "player:<id>", "service:<name>", "admin:<name>": the form used in scopes and derived ids.
  std::string ToString() const;
  bool operator==(const Principal& o) const { return kind == o.kind && id == o.id; }
};
// nullopt for anything but player:/service:/admin: followed by a non-empty id (R1: counts as
// missing).
std::optional<Principal> ParsePrincipal(std::string_view header);

// ---- the context ----

inline constexpr int64_t kDefaultDeadlineMs = 5000;  // §0.3 X-Deadline-Ms default
inline constexpr int64_t kDownstreamMarginMs = 50;   // §0.3: downstream gets remaining - 50

// Copyable and small: an asynchronous handler copies it into its continuation.
class CallContext {
 public:
  // Builds the context from the §0.3 headers. Never fails: a malformed X-Request-Time is kept and
  // reported by CheckEnvelope(), after CheckAuthenticated(), as the §0.4 order wants; meanwhile
  // now() is the receipt time. `receipt` is the clock read once on receipt (absent header).
  // `deadline`: the request model's absolute deadline (the listener derives it from
  // X-Deadline-Ms); max() means "X-Deadline-Ms default from receipt".
  static CallContext FromHeaders(const http::HeaderMap& headers, absl::Time receipt,
                                 http::Clock::time_point deadline = http::Clock::time_point::max());
  // A context with the given values (tests, fixtures, calls the framework makes itself).
  static CallContext Make(int64_t now_ms, std::optional<Principal> principal,
                          std::string request_id = "",
                          http::Clock::time_point deadline = http::Clock::time_point::max());

  // *now* in unix ms (§0.3).
  int64_t now_ms() const { return now_ms_; }
  const std::optional<Principal>& principal() const { return principal_; }
  // "" when there is no principal.
  std::string principal_string() const { return principal_ ? principal_->ToString() : ""; }
  const std::string& request_id() const { return request_id_; }
  http::Clock::time_point deadline() const { return deadline_; }
  // Time left until the deadline (never negative).
  std::chrono::milliseconds Remaining(http::Clock::time_point at = http::Clock::now()) const;

  // §0.4 step 1: UNAUTHENTICATED {} when there is no (well-formed) principal, unless the action is
  // public.
  absl::Status CheckAuthenticated(bool is_public) const;
  // §0.4 step 2, envelope part owned here: X-Request-Time malformed.
  absl::Status CheckEnvelope() const { return envelope_error_; }

  // §0.3 authorization defaults (step 3; services may tighten). All PERMISSION_DENIED {}.
  // Other reads: any principal (presence is step 1's job; a public action passes too).
  absl::Status AuthorizeRead() const { return absl::OkStatus(); }
  // Other writes (any action that can change state): service:/admin: only.
  absl::Status AuthorizeWrite() const;
  // Player-scoped (a non-empty player_id, or an account_id naming a player): that player,
  // service: or admin:. With an empty `player_id` the action is not player-scoped and falls back
  // to AuthorizeRead / AuthorizeWrite according to `is_write`.
  absl::Status AuthorizePlayer(std::string_view player_id, bool is_write) const;

  // Headers for a call to another service (§0.3): X-Principal service:<caller>, X-Request-Time =
  // this request's now (so the callee sees the same instant even when the caller read its clock),
  // X-Request-Id forwarded, X-Deadline-Ms = remaining - 50 (min 0).
  http::HeaderMap DownstreamHeaders(std::string_view caller_service,
                                    http::Clock::time_point at = http::Clock::now()) const;

 private:
  CallContext() = default;

  int64_t now_ms_ = 0;
  std::optional<Principal> principal_;
  std::string request_id_;
  http::Clock::time_point deadline_ = http::Clock::time_point::max();
  absl::Status envelope_error_;
};

}  // namespace sidecar::services
