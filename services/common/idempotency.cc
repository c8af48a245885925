#include "services/common/idempotency.h"

#include "services/common/strings_internal.h"

#include <chrono>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace sidecar::services {
namespace {

// Record: JSON {"s":"flight"|"done","fp":<hex>,"lease":<wall ms>,"resp":<base64>}. JSON rather
// than a proto so services/common needs no .proto of its own; records are tiny.
struct Record {
  bool done = false;
  std::string fingerprint;
  int64_t lease_until_ms = 0;
  std::string response;
};

std::string Encode(const Record& r) {
  nlohmann::json j = {{"s", r.done ? "done" : "flight"}, {"fp", r.fingerprint}};
  if (r.done) {
    j["resp"] = absl::Base64Escape(r.response);
  } else {
    j["lease"] = r.lease_until_ms;
  }
  return j.dump();
}

absl::StatusOr<Record> Decode(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("s") || !j.contains("fp")) {
    return absl::DataLossError("bad idempotency record");
  }
  Record r;
  r.done = j["s"] == "done";
  r.fingerprint = j["fp"].get<std::string>();
  if (r.done) {
    if (!j.contains("resp") || !absl::Base64Unescape(j["resp"].get<std::string>(), &r.response)) {
      return absl::DataLossError("bad idempotency record response");
    }
  } else {
    r.lease_until_ms = j.value("lease", int64_t{0});
  }
  return r;
}

// Segments of the store key must not contain '/': escape it (and '%') in user-chosen parts.
std::string Segment(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '/') {
      out += "%2F";
    } else if (c == '%') {
      out += "%25";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

constexpr int kBeginAttempts = 3;

}  // namespace

Idempotency::Idempotency(StateStore& store, Options options)
    : store_(store), options_(std::move(options)) {}

int64_t Idempotency::WallNowMs() const {
  if (options_.wall_clock_ms) return options_.wall_clock_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Idempotency::StoreKey(const CallContext& ctx, std::string_view action,
                                  std::string_view key) const {
  return absl::StrCat("_idem/", Segment(options_.service), "/", Segment(action), "/",
                      options_.scope_by_principal ? Segment(ctx.principal_string()) : "*", "/",
                      Segment(key));
}

void Idempotency::Begin(const CallContext& ctx, std::string_view action, std::string_view key,
                        std::string fingerprint,
                        absl::AnyInvocable<void(absl::StatusOr<BeginResult>) &&> done) {
  BeginAttempt(ctx, StoreKey(ctx, action, key), std::move(fingerprint), kBeginAttempts,
               std::move(done));
}

void Idempotency::BeginAttempt(CallContext ctx, std::string store_key, std::string fingerprint,
                               int attempts_left,
                               absl::AnyInvocable<void(absl::StatusOr<BeginResult>) &&> done) {
  const int64_t now_ms = ctx.now_ms();
  store_.Get(store_key, now_ms,
             [this, ctx, store_key, fingerprint, attempts_left,
              done = std::move(done)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
               if (!got.ok()) {
                 std::move(done)(got.status());
                 return;
               }
               uint64_t expected = 0;
               if (got->has_value()) {
                 absl::StatusOr<Record> record = Decode((*got)->value);
                 if (!record.ok()) {
                   std::move(done)(record.status());
                   return;
                 }
                 if (record->done) {
                   if (record->fingerprint == fingerprint) {
                     std::move(done)(BeginResult(Replay{std::move(record->response)}));
                   } else {
                     std::move(done)(AlreadyExists(options_.conflict_field,
                                                   "idempotency key reused with a different request"));
                   }
                   return;
                 }
                 if (record->lease_until_ms > WallNowMs()) {
                   std::move(done)(InProgress());
                   return;
                 }
                 expected = (*got)->revision;  // a dead owner's lease: take the key over
               }
               Record flight{false, fingerprint, WallNowMs() + options_.in_flight_lease_ms, ""};
               WriteOptions wo;
               if (options_.retention_ms) wo.expires_at_ms = ctx.now_ms() + *options_.retention_ms;
               store_.CompareAndSet(
                   store_key, Encode(flight), expected, ctx.now_ms(), wo,
                   [this, ctx, store_key, fingerprint, attempts_left,
                    done = std::move(done)](absl::StatusOr<uint64_t> rev) mutable {
                     if (rev.ok()) {
                       std::move(done)(BeginResult(Ticket{store_key, *rev, fingerprint}));
                       return;
                     }
                     // Someone wrote the key between our read and write: read again, which
                     // answers in_progress, a replay or a conflict.
                     if (IsConflict(rev.status()) && attempts_left > 1) {
                       BeginAttempt(ctx, store_key, fingerprint, attempts_left - 1, std::move(done));
                       return;
                     }
                     std::move(done)(IsConflict(rev.status()) ? InProgress() : rev.status());
                   });
             });
}

void Idempotency::Commit(const CallContext& ctx, const Ticket& ticket, std::string response,
                         absl::AnyInvocable<void(absl::Status) &&> done) {
  Record record{true, ticket.fingerprint, 0, std::move(response)};
  WriteOptions wo;
  if (options_.retention_ms) wo.expires_at_ms = ctx.now_ms() + *options_.retention_ms;
  store_.CompareAndSet(ticket.store_key, Encode(record), ticket.revision, ctx.now_ms(), wo,
                       [done = std::move(done)](absl::StatusOr<uint64_t> rev) mutable {
                         std::move(done)(rev.status());
                       });
}

void Idempotency::Abort(const Ticket& ticket, absl::AnyInvocable<void(absl::Status) &&> done) {
  store_.Delete(ticket.store_key, ticket.revision, std::move(done));
}

}  // namespace sidecar::services
