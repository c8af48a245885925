#include "adapters/events/dlq_record.h"

#include <algorithm>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sidecar::adapters::events {
namespace {

using ::testing::Contains;
using ::testing::Not;
using ::testing::Pair;

DlqRecord Sample() {
  DlqRecord r;
  r.subject = "orders.created";
  r.headers = {{"Content-Type", "application/json"}, {"X-Trace", "t-1"}, {"Nats-Msg-Id", "evt-1"},
               {"Nats-Expected-Stream", "ORDERS"}};
  r.payload = std::string("{\"id\":1}\0binary", 15);
  r.stream = "ORDERS";
  r.stream_seq = 42;
  r.consumer = "orders";
  r.attempts = 5;
  r.reason = "exhausted";
  r.last_error = "http 503: down\r\nfor maintenance";
  r.original_msg_id = "evt-1";
  r.published = absl::FromUnixNanos(1767225600123456789);
  r.first_attempt = absl::FromUnixNanos(1767225600223456789);
  r.last_attempt = absl::FromUnixNanos(1767225622000000001);
  return r;
}

std::string HeaderValue(const Headers& headers, absl::string_view name) {
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return "<absent>";
}

TEST(DlqRecordTest, SubjectKeepsTheOriginalSubjectUnderTheConsumer) {
  EXPECT_EQ(DlqSubject("orders", "orders.created"), "dlq.orders.orders.created");
}

TEST(DlqRecordTest, MsgIdIsStablePerOriginalEventSoARetriedDlqPublishDedupes) {
  EXPECT_EQ(DlqMsgId(Sample()), "dlq-ORDERS-42");
}

TEST(DlqRecordTest, EncodesEveryFieldAsHeadersAndDropsJetStreamHeaders) {
  Headers h = EncodeDlqHeaders(Sample());
  EXPECT_EQ(HeaderValue(h, "X-Trace"), "t-1");
  EXPECT_EQ(HeaderValue(h, "Content-Type"), "application/json");
  EXPECT_THAT(h, Not(Contains(Pair("Nats-Msg-Id", "evt-1"))));
  EXPECT_THAT(h, Not(Contains(Pair("Nats-Expected-Stream", "ORDERS"))));
  EXPECT_EQ(HeaderValue(h, "Sidecar-Dlq-Subject"), "orders.created");
  EXPECT_EQ(HeaderValue(h, "Sidecar-Dlq-Stream"), "ORDERS");
  EXPECT_EQ(HeaderValue(h, "Sidecar-Dlq-Stream-Seq"), "42");
  EXPECT_EQ(HeaderValue(h, "Sidecar-Dlq-Consumer"), "orders");
  EXPECT_EQ(HeaderValue(h, "Sidecar-Dlq-Attempts"), "5");
  EXPECT_EQ(HeaderValue(h, "Sidecar-Dlq-Reason"), "exhausted");
  EXPECT_EQ(HeaderValue(h, "Sidecar-Dlq-Last-Error"), "http 503: down  for maintenance");  // no line breaks
  EXPECT_EQ(HeaderValue(h, "Sidecar-Dlq-Published"), "2026-01-01T00:00:00.123456789Z");
  EXPECT_EQ(HeaderValue(h, "Sidecar-Dlq-First-Attempt"), "2026-01-01T00:00:00.223456789Z");
  EXPECT_EQ(HeaderValue(h, "Sidecar-Dlq-Last-Attempt"), "2026-01-01T00:00:22.000000001Z");
  EXPECT_EQ(HeaderValue(h, "Sidecar-Dlq-Msg-Id"), "evt-1");
}

TEST(DlqRecordTest, DecodeRoundTripsEncode) {
  const DlqRecord in = Sample();
  Headers wire = EncodeDlqHeaders(in);
  wire.emplace_back("Nats-Msg-Id", DlqMsgId(in));  // added by the publish
  absl::StatusOr<DlqRecord> out = DecodeDlqRecord(wire, in.payload);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->subject, in.subject);
  EXPECT_EQ(out->payload, in.payload);
  EXPECT_EQ(out->stream, in.stream);
  EXPECT_EQ(out->stream_seq, in.stream_seq);
  EXPECT_EQ(out->consumer, in.consumer);
  EXPECT_EQ(out->attempts, in.attempts);
  EXPECT_EQ(out->reason, in.reason);
  EXPECT_EQ(out->last_error, "http 503: down  for maintenance");
  EXPECT_EQ(out->original_msg_id, "evt-1");
  EXPECT_EQ(out->published, in.published);
  EXPECT_EQ(out->first_attempt, in.first_attempt);
  EXPECT_EQ(out->last_attempt, in.last_attempt);
  // Only the original, non-JetStream headers come back.
  EXPECT_EQ(out->headers, (Headers{{"Content-Type", "application/json"}, {"X-Trace", "t-1"}}));
}

TEST(DlqRecordTest, DecodeRejectsAMessageThatIsNotADlqRecord) {
  EXPECT_FALSE(DecodeDlqRecord({{"Content-Type", "text/plain"}}, "x").ok());
  Headers bad = EncodeDlqHeaders(Sample());
  for (auto& [n, v] : bad) {
    if (n == "Sidecar-Dlq-Attempts") v = "many";
  }
  EXPECT_FALSE(DecodeDlqRecord(bad, "x").ok());
}

TEST(DlqRecordTest, ReplayGetsAFreshMsgIdPerDlqEntry) {
  Headers h = ReplayHeaders(Sample(), 7);
  EXPECT_EQ(HeaderValue(h, "Nats-Msg-Id"), "evt-1-replay-7");
  DlqRecord no_id = Sample();
  no_id.original_msg_id.clear();
  EXPECT_EQ(HeaderValue(ReplayHeaders(no_id, 7), "Nats-Msg-Id"), "dlq-ORDERS-42-replay-7");
}

TEST(SubjectMatchesTest, FollowsNatsWildcards) {
  EXPECT_TRUE(SubjectMatches("orders.>", "orders.created"));
  EXPECT_TRUE(SubjectMatches("orders.>", "orders.eu.created"));
  EXPECT_FALSE(SubjectMatches("orders.>", "orders"));
  EXPECT_TRUE(SubjectMatches("orders.*", "orders.created"));
  EXPECT_FALSE(SubjectMatches("orders.*", "orders.eu.created"));
  EXPECT_TRUE(SubjectMatches("orders.created", "orders.created"));
  EXPECT_FALSE(SubjectMatches("orders.created", "orders.deleted"));
  EXPECT_TRUE(SubjectMatches(">", "a.b"));
}

}  // namespace
}  // namespace sidecar::adapters::events
