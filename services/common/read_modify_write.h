#pragma once
// One compare-and-set update of one store key, retried on a lost race: read the entry, let a pure
// `decide` function choose the write (or none, or a delete) and the response, write it with the
// read revision, and on a conflict start over from a fresh read (at most kMaxUpdateAttempts times, then
// UNAVAILABLE {}: retryable contention, §0.4). `decide` may fail with the rule's error; nothing
// is written then.
//
// Used by ports whose actions are a read-decide-write of one key (model-management,
// knowledge-base, weather-manager, router, capability-registry, performance-mode).

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "services/common/errors.h"
#include "services/common/state_store.h"

namespace sidecar::services {

inline constexpr int kMaxUpdateAttempts = 8;

template <typename Result>
struct Write {
  enum class Op { kNone, kPut, kDelete };
  Op op = Op::kNone;
  std::string value;  // for kPut
  Result result;
  WriteOptions options;  // for kPut (e.g. the entry's expiry)
};

template <typename Result>
struct Committed {
  Result result;
  bool wrote = false;
  uint64_t store_revision = 0;  // of the write (kPut), else of the read
};

template <typename Result>
using Decide = absl::AnyInvocable<absl::StatusOr<Write<Result>>(const std::optional<StoreEntry>&)>;
template <typename Result>
using Finish = absl::AnyInvocable<void(absl::StatusOr<Committed<Result>>) &&>;

namespace internal {

template <typename Result>
struct UpdateOp {
  StateStore& store;
  std::string key;
  int64_t now_ms;
  Decide<Result> decide;
  Finish<Result> finish;
  int attempts = 0;
};

inline absl::Status ContentionError() {
  return Unavailable("", {}, "too much contention on the store");
}

template <typename Result>
void RunUpdate(std::unique_ptr<UpdateOp<Result>> op);

template <typename Result>
void AfterWrite(std::unique_ptr<UpdateOp<Result>> op, absl::Status status, Result result,
                uint64_t revision) {
  if (IsConflict(status)) {
    if (op->attempts < kMaxUpdateAttempts) {
      RunUpdate(std::move(op));
    } else {
      std::move(op->finish)(ContentionError());
    }
    return;
  }
  if (!status.ok()) {
    std::move(op->finish)(status);
    return;
  }
  std::move(op->finish)(Committed<Result>{std::move(result), true, revision});
}

template <typename Result>
void RunUpdate(std::unique_ptr<UpdateOp<Result>> op) {
  ++op->attempts;
  StateStore& store = op->store;
  std::string key = op->key;
  const int64_t now = op->now_ms;
  store.Get(key, now, [op = std::move(op)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
    if (!got.ok()) {
      std::move(op->finish)(got.status());
      return;
    }
    const uint64_t read_revision = got->has_value() ? (*got)->revision : 0;
    absl::StatusOr<Write<Result>> write = op->decide(*got);
    if (!write.ok()) {
      std::move(op->finish)(write.status());
      return;
    }
    switch (write->op) {
      case Write<Result>::Op::kNone:
        std::move(op->finish)(Committed<Result>{std::move(write->result), false, read_revision});
        return;
      case Write<Result>::Op::kPut: {
        StateStore& s = op->store;
        std::string k = op->key;
        const int64_t n = op->now_ms;
        const WriteOptions options = write->options;
        s.CompareAndSet(std::move(k), std::move(write->value), read_revision, n, options,
                        [op = std::move(op), result = std::move(write->result)](
                            absl::StatusOr<uint64_t> written) mutable {
                          const uint64_t rev = written.ok() ? *written : 0;
                          AfterWrite(std::move(op), written.status(), std::move(result), rev);
                        });
        return;
      }
      case Write<Result>::Op::kDelete: {
        StateStore& s = op->store;
        std::string k = op->key;
        // A delete of an absent entry has nothing to guard; otherwise name the read revision.
        s.Delete(std::move(k), read_revision,
                 [op = std::move(op), result = std::move(write->result),
                  read_revision](absl::Status deleted) mutable {
                   AfterWrite(std::move(op), deleted, std::move(result), read_revision);
                 });
        return;
      }
    }
  });
}

}  // namespace internal

// Runs the update; `finish` is called exactly once, on the store's callback thread.
template <typename Result>
void UpdateKey(StateStore& store, std::string key, int64_t now_ms, Decide<Result> decide,
               Finish<Result> finish) {
  internal::RunUpdate(std::make_unique<internal::UpdateOp<Result>>(internal::UpdateOp<Result>{
      store, std::move(key), now_ms, std::move(decide), std::move(finish)}));
}

}  // namespace sidecar::services
