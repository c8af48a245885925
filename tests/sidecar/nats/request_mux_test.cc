// RequestMux against a real nats-server (label: integration).

#include "sidecar/nats/request_mux.h"

#include <map>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sidecar/nats/nats_test_util.h"

namespace sidecar::nats {
namespace {

using std::chrono::milliseconds;
using testing::Echo;
using testing::HoldOnly;
using testing::TestReply;
using testing::TestResponder;
using ::testing::Contains;
using ::testing::Pair;
using Clock = std::chrono::steady_clock;

constexpr char kSubject[] = "svc.echo.v1.call";

int64_t ElapsedMs(Clock::time_point since) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - since).count();
}

class RequestMuxTest : public testing::NatsLoopTest {
 protected:
  void SetUp() override {
    NatsLoopTest::SetUp();
    if (HasFatalFailure()) return;
    auto mux = RequestMux::Create(*connection_, {"_INBOX.test"});
    ASSERT_TRUE(mux.ok()) << mux.status();
    mux_ = *std::move(mux);
  }

  void StartResponder(TestResponder::Handler handler) {
    responder_ = TestResponder::Start(server_->url(), kSubject, std::move(handler));
    ASSERT_NE(responder_, nullptr);
  }

  absl::StatusOr<Message> RequestAndWait(const std::string& subject, const std::string& data,
                                         milliseconds timeout, milliseconds limit = milliseconds(5000)) {
    std::optional<absl::StatusOr<Message>> result;
    mux_->Request(subject, {{"X-Request-Id", data}}, data, timeout,
                  [&](absl::StatusOr<Message> r) {
                    result = std::move(r);
                    Stop();
                  });
    if (!Run(limit) || !result.has_value()) {
      return absl::InternalError("test: the callback did not run in time");
    }
    return *std::move(result);
  }

  std::unique_ptr<TestResponder> responder_;  // declared before mux_: destroyed after it
  RequestMuxPtr mux_;
};

TEST_F(RequestMuxTest, RoundTripDeliversReplyHeadersAndPayload) {
  StartResponder([](const Message& m) -> std::optional<TestReply> {
    return TestReply{{{"X-Echo-Subject", m.subject}, {"X-Reply-To", m.reply}}, "re:" + m.data};
  });

  absl::StatusOr<Message> reply = RequestAndWait(kSubject, "hello", milliseconds(2000));

  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->data, "re:hello");
  EXPECT_FALSE(reply->no_responders);
  EXPECT_THAT(reply->headers, Contains(Pair("X-Echo-Subject", kSubject)));
  // The reply subject was <prefix>.<token>.<id> under the configured prefix.
  EXPECT_THAT(reply->subject, ::testing::StartsWith(mux_->inbox() + "."));
  EXPECT_THAT(mux_->inbox(), ::testing::StartsWith("_INBOX.test."));
  EXPECT_EQ(mux_->pending(), 0u);
}

TEST_F(RequestMuxTest, NoRespondersFailsFastWithUnavailable) {
  const Clock::time_point start = Clock::now();
  absl::StatusOr<Message> reply = RequestAndWait("svc.nobody.v1.home", "x", milliseconds(3000));

  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable) << reply.status();
  EXPECT_EQ(GetRequestFailure(reply.status()), RequestFailure::kNoResponders);
  // Correctness bound, not a benchmark: the server's 503 answers it, not the 3 s timer.
  EXPECT_LT(ElapsedMs(start), 50);
}

TEST_F(RequestMuxTest, TimesOutAtTheDeadlineAndCountsTheLateReply) {
  StartResponder(HoldOnly("slow"));

  const Clock::time_point start = Clock::now();
  absl::StatusOr<Message> reply = RequestAndWait(kSubject, "slow", milliseconds(200));
  const int64_t elapsed = ElapsedMs(start);

  EXPECT_EQ(reply.status().code(), absl::StatusCode::kDeadlineExceeded) << reply.status();
  EXPECT_EQ(GetRequestFailure(reply.status()), RequestFailure::kTimeout);
  EXPECT_GE(elapsed, 195);
  EXPECT_LT(elapsed, 200 + 150);

  // The answer arrives after all: dropped and counted. The next request's reply comes after it
  // on the same inbox (one subscription, delivered in order), so by then it was processed.
  ASSERT_EQ(responder_->Held().size(), 1u);
  responder_->Answer(responder_->Held()[0], TestReply{{}, "too late"});
  absl::StatusOr<Message> next = RequestAndWait(kSubject, "on time", milliseconds(2000));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->data, "on time");
  EXPECT_EQ(mux_->late_replies(), 1u);
}

TEST_F(RequestMuxTest, CancelledRequestNeverCallsBack) {
  StartResponder(HoldOnly("cancel-me"));
  bool cancelled_called = false;
  RequestMux::RequestId id =
      mux_->Request(kSubject, {}, "cancel-me", milliseconds(200),
                    [&](absl::StatusOr<Message>) { cancelled_called = true; });
  mux_->Cancel(id);
  EXPECT_EQ(mux_->pending(), 0u);
  ASSERT_TRUE(RequestAndWait(kSubject, "barrier", milliseconds(2000)).ok());
  ASSERT_EQ(responder_->Held().size(), 1u);

  // Its reply arrives, and its deadline passes: neither may reach the callback.
  responder_->Answer(responder_->Held()[0], TestReply{{}, "ignored"});
  EXPECT_FALSE(Run(milliseconds(300)));  // nothing stops the loop: the guard ends it
  ASSERT_TRUE(RequestAndWait(kSubject, "barrier", milliseconds(2000)).ok());

  EXPECT_FALSE(cancelled_called);
  EXPECT_EQ(mux_->late_replies(), 1u);
}

TEST_F(RequestMuxTest, CancelBeforeALocalFailureIsDeliveredWins) {
  bool called = false;
  RequestMux::RequestId id = mux_->Request(kSubject, {}, "x", milliseconds(0),
                                           [&](absl::StatusOr<Message>) { called = true; });
  mux_->Cancel(id);
  EXPECT_FALSE(Run(milliseconds(50)));
  EXPECT_FALSE(called);
}

TEST_F(RequestMuxTest, ZeroTimeoutFailsWithoutPublishingAndNeverInline) {
  StartResponder(Echo());
  bool called = false;
  absl::Status status;
  mux_->Request(kSubject, {}, "x", milliseconds(0), [&](absl::StatusOr<Message> r) {
    called = true;
    status = r.status();
    Stop();
  });
  EXPECT_FALSE(called);  // not inline
  ASSERT_TRUE(Run(milliseconds(1000)));
  EXPECT_EQ(GetRequestFailure(status), RequestFailure::kTimeout);
  EXPECT_EQ(responder_->received(), 0);
}

TEST_F(RequestMuxTest, FiveHundredConcurrentRequestsEachGetTheirOwnReply) {
  StartResponder(Echo());
  constexpr int kRequests = 500;
  std::map<int, int> calls;
  std::map<int, std::string> replies;
  int done = 0;
  for (int i = 0; i < kRequests; ++i) {
    const std::string tag = absl::StrCat("req-", i);
    mux_->Request(kSubject, {{"X-Request-Id", tag}}, tag, milliseconds(10000),
                  [&, i](absl::StatusOr<Message> r) {
                    ++calls[i];
                    if (r.ok()) {
                      std::string header;
                      for (const auto& [k, v] : r->headers) {
                        if (k == "X-Request-Id") header = v;
                      }
                      replies[i] = r->data + "|" + header;
                    } else {
                      replies[i] = std::string(r.status().message());
                    }
                    if (++done == kRequests) Stop();
                  });
  }
  EXPECT_EQ(mux_->pending(), static_cast<size_t>(kRequests));
  ASSERT_TRUE(Run(milliseconds(15000))) << done << " of " << kRequests;

  ASSERT_EQ(calls.size(), static_cast<size_t>(kRequests));
  for (int i = 0; i < kRequests; ++i) {
    EXPECT_EQ(calls[i], 1) << i;
    const std::string tag = absl::StrCat("req-", i);
    EXPECT_EQ(replies[i], tag + "|" + tag);
  }
  EXPECT_EQ(mux_->pending(), 0u);
  EXPECT_EQ(mux_->late_replies(), 0u);
}

TEST_F(RequestMuxTest, FailsFastWhileDisconnectedAndWorksAfterRestart) {
  StartResponder(HoldOnly("pending"));
  // Pending when the server dies: no reply can come back, so it fails at the disconnect, well
  // before its deadline (FailRequestsOnDisconnect behaviour).
  std::optional<absl::Status> pending_status;
  bool stop_on_pending = false;
  mux_->Request(kSubject, {}, "pending", milliseconds(500), [&](absl::StatusOr<Message> r) {
    pending_status = r.status();
    if (stop_on_pending) Stop();
  });
  ASSERT_TRUE(RequestAndWait(kSubject, "barrier", milliseconds(2000)).ok());
  ASSERT_TRUE(server_->Kill().ok());
  ASSERT_TRUE(WaitConnection(false, milliseconds(5000)));

  const Clock::time_point start = Clock::now();
  absl::StatusOr<Message> fast = RequestAndWait(kSubject, "while-down", milliseconds(3000));
  EXPECT_EQ(fast.status().code(), absl::StatusCode::kUnavailable) << fast.status();
  EXPECT_EQ(GetRequestFailure(fast.status()), RequestFailure::kNotConnected);
  EXPECT_LT(ElapsedMs(start), 50);

  if (!pending_status.has_value()) {
    stop_on_pending = true;
    ASSERT_TRUE(Run(milliseconds(2000)));
  }
  ASSERT_TRUE(pending_status.has_value());
  EXPECT_EQ(pending_status->code(), absl::StatusCode::kUnavailable) << *pending_status;
  EXPECT_EQ(GetRequestFailure(*pending_status), RequestFailure::kNotConnected);

  ASSERT_TRUE(server_->Restart().ok());
  ASSERT_TRUE(responder_->WaitReconnected(absl::Seconds(10)));
  ASSERT_TRUE(WaitConnection(true, milliseconds(10000)));
  absl::StatusOr<Message> again = RequestAndWait(kSubject, "after-restart", milliseconds(3000));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->data, "after-restart");
}

TEST_F(RequestMuxTest, DestroyWithPendingRequestsDropsTheirCallbacks) {
  StartResponder(HoldOnly("x"));
  int called = 0;
  for (int i = 0; i < 10; ++i) {
    mux_->Request(kSubject, {}, "x", milliseconds(100), [&](absl::StatusOr<Message>) { ++called; });
  }
  ASSERT_TRUE(RequestAndWait(kSubject, "barrier", milliseconds(2000)).ok());
  ASSERT_EQ(responder_->Held().size(), 10u);
  // A local failure already posted when the mux dies must not run either.
  mux_->Request(kSubject, {}, "x", milliseconds(0), [&](absl::StatusOr<Message>) { ++called; });

  mux_.reset();
  for (const std::string& reply : responder_->Held()) responder_->Answer(reply, TestReply{{}, "x"});
  EXPECT_FALSE(Run(milliseconds(200)));  // past every deadline; nothing stops the loop
  EXPECT_EQ(called, 0);
}

TEST_F(RequestMuxTest, RejectsInboxPrefixThatIsNotAPlainSubject) {
  for (const char* prefix : {"", ".x", "x.", "a..b", "_INBOX.*", "_INBOX.>", "has space"}) {
    SCOPED_TRACE(prefix);
    EXPECT_EQ(RequestMux::Create(*connection_, {prefix}).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace sidecar::nats
