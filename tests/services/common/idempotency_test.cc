#include "services/common/idempotency.h"

#include "gtest/gtest.h"
#include "payment/v1/payment.pb.h"
#include "services/common/in_memory_state_store.h"
#include "tests/services/common/loop_thread.h"

namespace sidecar::services {
namespace {

using payment::v1::PurchaseRequest;
using payment::v1::PurchaseResponse;
using testing::LoopThread;

constexpr int64_t kNow = 1763640000000;

class IdempotencyTest : public ::testing::Test {
 protected:
  IdempotencyTest() : store_(loop_.dispatcher()) {
    Idempotency::Options o;
    o.service = "payment";
    o.wall_clock_ms = [this] { return wall_ms_.load(); };
    idem_ = std::make_unique<Idempotency>(store_, std::move(o));
  }

  static PurchaseRequest Request(int64_t amount) {
    PurchaseRequest rq;
    rq.set_idempotency_key("ord-7731");
    rq.set_account_id("pl_a8694c9d17e9b948");
    rq.set_currency("GLD");
    rq.set_amount_minor(amount);
    rq.set_sku("tonic.grave_moss");
    return rq;
  }
  static CallContext Ctx(int64_t now = kNow, std::string player = "pl_a8694c9d17e9b948") {
    return CallContext::Make(now, Principal{Principal::Kind::kPlayer, player});
  }

  // Runs one purchase through Idempotency::Run; `body_result` is what the "logic" answers.
  absl::StatusOr<PurchaseResponse> Run(const CallContext& ctx, const PurchaseRequest& rq,
                                       absl::StatusOr<PurchaseResponse> body_result) {
    auto out = loop_.Await<absl::StatusOr<PurchaseResponse>>([&](auto cb) {
      idem_->Run<PurchaseResponse>(
          ctx, "purchase", rq.idempotency_key(), rq,
          [this, body_result](Done<PurchaseResponse> done) mutable {
            ++body_runs_;
            std::move(done)(body_result);
          },
          [](PurchaseResponse& r) { r.set_replayed(true); }, std::move(cb));
    });
    return out.value_or(absl::UnknownError("no answer"));
  }
  static PurchaseResponse Ok(int64_t balance) {
    PurchaseResponse r;
    r.set_tx_id("tx_1ce5089ef0263ea7");
    r.set_balance_minor(balance);
    return r;
  }

  LoopThread loop_;
  InMemoryStateStore store_;
  std::unique_ptr<Idempotency> idem_;
  std::atomic<int64_t> wall_ms_{1'000'000};
  int body_runs_ = 0;
};

TEST_F(IdempotencyTest, FirstCallRunsAndReplayReturnsStoredResponse) {
  auto first = Run(Ctx(), Request(1200), Ok(3800));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->replayed());
  auto again = Run(Ctx(), Request(1200), Ok(1));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed());
  EXPECT_EQ(again->balance_minor(), 3800);  // the stored response, not a new run
  EXPECT_EQ(body_runs_, 1);
}

TEST_F(IdempotencyTest, SameKeyDifferentRequestIsAlreadyExists) {
  ASSERT_TRUE(Run(Ctx(), Request(1200), Ok(3800)).ok());
  auto other = Run(Ctx(), Request(1300), Ok(3700));
  EXPECT_EQ(other.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(DetailsOf(other.status()), (ErrorDetails{{"field", "idempotency_key"}}));
}

TEST_F(IdempotencyTest, KeysAreScopedByPrincipal) {
  ASSERT_TRUE(Run(Ctx(), Request(1200), Ok(3800)).ok());
  auto other_principal = Run(Ctx(kNow, "pl_0000000000000000"), Request(1300), Ok(1));
  ASSERT_TRUE(other_principal.ok());
  EXPECT_FALSE(other_principal->replayed());
  EXPECT_EQ(body_runs_, 2);
}

TEST_F(IdempotencyTest, FailedRequestLeavesNoRecord) {
  auto failed = Run(Ctx(), Request(9000), FailedPrecondition("insufficient_funds"));
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kFailedPrecondition);
  // The key can be retried, even with a different request.
  auto retried = Run(Ctx(), Request(1200), Ok(3800));
  ASSERT_TRUE(retried.ok());
  EXPECT_FALSE(retried->replayed());
  EXPECT_EQ(body_runs_, 2);
}

TEST_F(IdempotencyTest, ConcurrentDuplicateWhileInFlightIsUnavailableInProgress) {
  PurchaseRequest rq = Request(1200);
  Done<PurchaseResponse> parked;
  std::optional<absl::StatusOr<PurchaseResponse>> first, second;
  absl::Notification first_parked;
  loop_.dispatcher().Post([&] {
    idem_->Run<PurchaseResponse>(
        Ctx(), "purchase", rq.idempotency_key(), rq,
        [&](Done<PurchaseResponse> done) {
          parked = std::move(done);  // still running (e.g. waiting on the store)
          first_parked.Notify();
        },
        nullptr, [&](absl::StatusOr<PurchaseResponse> r) { first = std::move(r); });
  });
  ASSERT_TRUE(first_parked.WaitForNotificationWithTimeout(absl::Seconds(10)));
  auto dup = Run(Ctx(), rq, Ok(1));
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(DetailsOf(dup.status()), (ErrorDetails{{"reason", "in_progress"}}));
  // In flight wins over a fingerprint mismatch: the first may still fail and free the key.
  EXPECT_EQ(Run(Ctx(), Request(5), Ok(1)).status().code(), absl::StatusCode::kUnavailable);
  // The first finishes; now the duplicate is a replay.
  auto finished = loop_.Await<bool>([&](auto cb) {
    std::move(parked)(Ok(3800));
    std::move(cb)(true);
  });
  auto replay = Run(Ctx(), rq, Ok(1));
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->replayed());
  ASSERT_TRUE(first.has_value() && first->ok());
}

TEST_F(IdempotencyTest, AbandonedInFlightKeyIsTakenOverAfterItsLease) {
  PurchaseRequest rq = Request(1200);
  auto begun = loop_.Await<absl::StatusOr<Idempotency::BeginResult>>([&](auto cb) {
    idem_->Begin(Ctx(), "purchase", "ord-7731", "fp", std::move(cb));
  });
  ASSERT_TRUE(begun && begun->ok());  // ... and the owner dies without Commit/Abort
  EXPECT_EQ(Run(Ctx(), rq, Ok(1)).status().code(), absl::StatusCode::kUnavailable);
  wall_ms_ += 30001;
  auto taken = Run(Ctx(), rq, Ok(3800));
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_FALSE(taken->replayed());
}

TEST_F(IdempotencyTest, RecordsExpireAfterRetentionOnTheRequestClock) {
  ASSERT_TRUE(Run(Ctx(kNow), Request(1200), Ok(3800)).ok());
  const int64_t day = 24LL * 3600 * 1000;
  EXPECT_TRUE(Run(Ctx(kNow + day - 1), Request(1200), Ok(1))->replayed());
  auto after = Run(Ctx(kNow + day), Request(1300), Ok(3700));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_FALSE(after->replayed());
}

TEST_F(IdempotencyTest, NeverExpiringRecordsAndCustomConflictField) {
  Idempotency::Options o;
  o.service = "world-state";
  o.retention_ms = std::nullopt;
  o.conflict_field = "delta_id";
  o.scope_by_principal = false;
  Idempotency global(store_, std::move(o));
  auto begin = [&](const CallContext& ctx, std::string fp) {
    return *loop_.Await<absl::StatusOr<Idempotency::BeginResult>>(
        [&](auto cb) { global.Begin(ctx, "apply_delta", "d-1", fp, std::move(cb)); });
  };
  auto t = begin(Ctx(), "fp1");
  ASSERT_TRUE(t.ok());
  auto ticket = std::get<Idempotency::Ticket>(*t);
  auto committed = loop_.Await<absl::Status>([&](auto cb) {
    global.Commit(Ctx(), ticket, "resp", std::move(cb));
  });
  ASSERT_TRUE(committed && committed->ok());
  // Another principal, years later: still the same record (global scope, no expiry).
  auto later = begin(Ctx(kNow + 1000LL * 24 * 3600 * 1000, "pl_0000000000000000"), "fp2");
  EXPECT_EQ(DetailsOf(later.status()), (ErrorDetails{{"field", "delta_id"}}));
  auto replay = begin(Ctx(kNow + 1, "pl_0000000000000000"), "fp1");
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(std::get<Idempotency::Replay>(*replay).response, "resp");
}

}  // namespace
}  // namespace sidecar::services
