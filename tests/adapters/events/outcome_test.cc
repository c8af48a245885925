#include "adapters/events/outcome.h"

#include "gtest/gtest.h"
#include "sidecar/upstream/cluster.h"

namespace sidecar::adapters::events {
namespace {

http::Response WithStatus(int status, std::string body = "") {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

const std::vector<int64_t> kBackoff = {1000, 5000, 10000};

TEST(ClassifyTest, TwoHundredsAreSuccess) {
  for (int status : {200, 201, 202, 204, 299}) {
    EXPECT_EQ(Classify(WithStatus(status)).outcome, Outcome::kSuccess) << status;
    EXPECT_EQ(Classify(WithStatus(status)).error, "");
  }
}

TEST(ClassifyTest, ServerErrorsTimeoutAndTooManyRequestsAreRetryable) {
  for (int status : {500, 502, 503, 504, 599, 408, 429}) {
    EXPECT_EQ(Classify(WithStatus(status)).outcome, Outcome::kRetryable) << status;
  }
}

TEST(ClassifyTest, OtherFourHundredsArePermanent) {
  for (int status : {400, 401, 403, 404, 409, 413, 422, 451}) {
    EXPECT_EQ(Classify(WithStatus(status)).outcome, Outcome::kPermanent) << status;
  }
}

TEST(ClassifyTest, TransportFailuresAreRetryableAndNamed) {
  Classification c = Classify(upstream::UpstreamFailure(upstream::FailureKind::kConnectFailure, "refused"));
  EXPECT_EQ(c.outcome, Outcome::kRetryable);
  EXPECT_NE(c.error.find("refused"), std::string::npos);
  EXPECT_NE(c.error.find(std::string(upstream::FailureKindName(upstream::FailureKind::kConnectFailure))),
            std::string::npos);
  EXPECT_EQ(Classify(absl::DeadlineExceededError("late")).outcome, Outcome::kRetryable);
}

TEST(ClassifyTest, ErrorCarriesStatusAndABoundedBodyPrefixWithoutTrailingNewline) {
  Classification c = Classify(WithStatus(503, "down for maintenance\n"));
  EXPECT_EQ(c.error, "http 503: down for maintenance");
  Classification big = Classify(WithStatus(500, std::string(10000, 'x')));
  EXPECT_LT(big.error.size(), 300u);
}

TEST(DecideTest, SuccessAcks) {
  EXPECT_EQ(Decide(Classify(WithStatus(200)), 1, 5, kBackoff).action, Action::kAck);
  // Even on the last allowed delivery.
  EXPECT_EQ(Decide(Classify(WithStatus(200)), 5, 5, kBackoff).action, Action::kAck);
}

TEST(DecideTest, RetryableNaksWithTheBackoffOfThatAttempt) {
  Decision d1 = Decide(Classify(WithStatus(503)), 1, 5, kBackoff);
  EXPECT_EQ(d1.action, Action::kNak);
  EXPECT_EQ(d1.delay_ms, 1000);
  EXPECT_EQ(Decide(Classify(WithStatus(503)), 2, 5, kBackoff).delay_ms, 5000);
  EXPECT_EQ(Decide(Classify(WithStatus(503)), 3, 5, kBackoff).delay_ms, 10000);
  // Past the list, the last delay repeats.
  EXPECT_EQ(Decide(Classify(WithStatus(503)), 4, 5, kBackoff).delay_ms, 10000);
}

TEST(DecideTest, LastRetryableFailureDeadLettersAsExhausted) {
  Decision d = Decide(Classify(WithStatus(503)), 5, 5, kBackoff);
  EXPECT_EQ(d.action, Action::kDeadLetter);
  EXPECT_EQ(d.reason, "exhausted");
  // A redelivery beyond max_deliver (after a failed DLQ publish) also goes to the DLQ.
  EXPECT_EQ(Decide(Classify(WithStatus(503)), 7, 5, kBackoff).action, Action::kDeadLetter);
}

TEST(DecideTest, PermanentFailureDeadLettersAtOnce) {
  Decision d = Decide(Classify(WithStatus(404)), 1, 5, kBackoff);
  EXPECT_EQ(d.action, Action::kDeadLetter);
  EXPECT_EQ(d.reason, "permanent");
}

TEST(DecideTest, MaxDeliverOneNeverNaks) {
  EXPECT_EQ(Decide(Classify(WithStatus(500)), 1, 1, kBackoff).action, Action::kDeadLetter);
}

TEST(DecideTest, LocallyRefusedDeliveriesNakButNeverDeadLetter) {
  for (auto kind : {upstream::FailureKind::kCircuitOpen, upstream::FailureKind::kMaxRequests,
                    upstream::FailureKind::kOverflow, upstream::FailureKind::kNoHealthyUpstream}) {
    Classification c = Classify(upstream::UpstreamFailure(kind, "refused"));
    EXPECT_FALSE(c.attempted);
    Decision d = Decide(c, 5, 5, kBackoff);
    EXPECT_EQ(d.action, Action::kNak) << upstream::FailureKindName(kind);
    EXPECT_EQ(d.delay_ms, 10000);
  }
  EXPECT_TRUE(Classify(upstream::UpstreamFailure(upstream::FailureKind::kConnectFailure, "x")).attempted);
  EXPECT_TRUE(Classify(WithStatus(503)).attempted);
}

TEST(BackoffDelayTest, EmptyListMeansImmediateRedelivery) {
  EXPECT_EQ(BackoffDelayMs({}, 3), 0);
  EXPECT_EQ(BackoffDelayMs({250}, 0), 250);
}

}  // namespace
}  // namespace sidecar::adapters::events
