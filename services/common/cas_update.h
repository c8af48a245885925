#pragma once
// Read-plan-compare-and-set on one store key, retried on a lost race, with writers of one key on
// this replica queued (KeyedQueue) so that only other replicas can conflict. Used by world-state,
// quest-system and npc-behavior; read_modify_write.h's UpdateKey is the same loop without the
// queue and with deletes (model-management, knowledge-base, weather-manager).
//
//   CasUpdate<Resp>(store, queue, key, now_ms,
//       [](const std::optional<std::string>& current) -> absl::StatusOr<Planned<Resp>> {...},
//       std::move(done));
//
// `plan` sees the current value (nullopt: absent) and returns the value to write (nullopt: write
// nothing, e.g. an error-free no-op) plus the result to answer; it is called again on the re-read
// value after every lost race, so it must be a pure function of its input. Writers of the same
// key on this replica run one after another (KeyedQueue), so only other replicas can conflict.

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "services/common/async_util.h"
#include "services/common/errors.h"
#include "services/common/service.h"
#include "services/common/state_store.h"

namespace sidecar::services {

inline constexpr int kMaxCasAttempts = 32;

template <typename R>
struct Planned {
  std::optional<std::string> new_value;  // nullopt: nothing to write
  R result;
};

template <typename R>
using PlanFn =
    absl::AnyInvocable<absl::StatusOr<Planned<R>>(const std::optional<std::string>& current)>;

namespace cas_internal {

template <typename R>
struct Op {
  StateStore* store;
  std::string key;
  int64_t now_ms;
  PlanFn<R> plan;
  Done<R> done;
  KeyedQueue::Release release;
  int attempts = 0;

  void Finish(absl::StatusOr<R> result) {
    std::move(release)();
    std::move(done)(std::move(result));
  }
};

template <typename R>
void Attempt(std::shared_ptr<Op<R>> op) {
  ++op->attempts;
  op->store->Get(op->key, op->now_ms, [op](absl::StatusOr<std::optional<StoreEntry>> got) {
    if (!got.ok()) return op->Finish(got.status());
    std::optional<std::string> current;
    uint64_t revision = 0;
    if (got->has_value()) {
      current = (*got)->value;
      revision = (*got)->revision;
    }
    absl::StatusOr<Planned<R>> planned = op->plan(current);
    if (!planned.ok()) return op->Finish(planned.status());
    if (!planned->new_value.has_value()) return op->Finish(std::move(planned->result));
    auto result = std::make_shared<R>(std::move(planned->result));
    op->store->CompareAndSet(
        op->key, std::move(*planned->new_value), revision, op->now_ms, {},
        [op, result](absl::StatusOr<uint64_t> written) {
          if (written.ok()) return op->Finish(std::move(*result));
          if (!IsConflict(written.status())) return op->Finish(written.status());
          if (op->attempts >= kMaxCasAttempts) {
            return op->Finish(Unavailable("", {}, "too much contention, retry"));
          }
          Attempt(op);  // another replica wrote first: re-read and re-plan
        });
  });
}

}  // namespace cas_internal

template <typename R>
void CasUpdate(StateStore& store, KeyedQueue& queue, std::string key, int64_t now_ms,
               PlanFn<R> plan, Done<R> done) {
  auto op = std::make_shared<cas_internal::Op<R>>();
  op->store = &store;
  op->key = key;
  op->now_ms = now_ms;
  op->plan = std::move(plan);
  op->done = std::move(done);
  queue.Run(key, [op](KeyedQueue::Release release) mutable {
    op->release = std::move(release);
    cas_internal::Attempt(op);
  });
}

// Reads one key's value (nullopt: absent).
inline void ReadValue(StateStore& store, std::string key, int64_t now_ms,
                      Done<std::optional<std::string>> done) {
  store.Get(std::move(key), now_ms,
            [done = std::move(done)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
              if (!got.ok()) return std::move(done)(got.status());
              if (!got->has_value()) return std::move(done)(std::optional<std::string>());
              std::move(done)(std::optional<std::string>((*got)->value));
            });
}

}  // namespace sidecar::services
