#pragma once
// The dead-letter record. The payload is the original payload, byte for byte, so a replay publishes
// exactly what was received; everything else travels in headers (NATS headers are strings, which
// keeps `nats stream view` and `nats-sidecar dlq show` readable without a decoder):
//
//   subject           dlq.<consumer>.<original subject>   (so --filter can match on the subject)
//   original headers  copied, except Nats-* (JetStream's own; the original Nats-Msg-Id is kept in
//                     Sidecar-Dlq-Msg-Id so a replay does not collide with the dedupe window)
//   Sidecar-Dlq-*     see kHeader* below
//   Nats-Msg-Id       dlq-<stream>-<stream seq>: a DLQ publish retried after a lost ack is stored once

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sidecar::adapters::events {

using Headers = std::vector<std::pair<std::string, std::string>>;

inline constexpr absl::string_view kDlqSubjectPrefix = "dlq";
inline constexpr absl::string_view kHeaderSubject = "Sidecar-Dlq-Subject";
inline constexpr absl::string_view kHeaderStream = "Sidecar-Dlq-Stream";
inline constexpr absl::string_view kHeaderStreamSeq = "Sidecar-Dlq-Stream-Seq";
inline constexpr absl::string_view kHeaderConsumer = "Sidecar-Dlq-Consumer";
inline constexpr absl::string_view kHeaderAttempts = "Sidecar-Dlq-Attempts";
inline constexpr absl::string_view kHeaderReason = "Sidecar-Dlq-Reason";  // exhausted | permanent
inline constexpr absl::string_view kHeaderLastError = "Sidecar-Dlq-Last-Error";
inline constexpr absl::string_view kHeaderPublished = "Sidecar-Dlq-Published";  // original stream time
inline constexpr absl::string_view kHeaderFirstAttempt = "Sidecar-Dlq-First-Attempt";
inline constexpr absl::string_view kHeaderLastAttempt = "Sidecar-Dlq-Last-Attempt";
inline constexpr absl::string_view kHeaderMsgId = "Sidecar-Dlq-Msg-Id";

struct DlqRecord {
  std::string subject;  // the original subject
  Headers headers;      // the original headers (without Nats-*)
  std::string payload;
  std::string stream;
  uint64_t stream_seq = 0;
  std::string consumer;
  uint64_t attempts = 0;
  std::string reason;
  std::string last_error;
  std::string original_msg_id;  // "" when the original had none
  absl::Time published = absl::UnixEpoch();
  absl::Time first_attempt = absl::UnixEpoch();
  absl::Time last_attempt = absl::UnixEpoch();
};

// dlq.<consumer>.<subject>
std::string DlqSubject(absl::string_view consumer, absl::string_view subject);
// Nats-Msg-Id of the DLQ publish: dlq-<stream>-<seq>.
std::string DlqMsgId(const DlqRecord& record);
// Headers for the DLQ message: the original ones (minus Nats-*) then Sidecar-Dlq-*.
Headers EncodeDlqHeaders(const DlqRecord& record);
// Reads a DLQ message back. kInvalidArgument when a Sidecar-Dlq-* header is missing or malformed.
absl::StatusOr<DlqRecord> DecodeDlqRecord(const Headers& headers, std::string payload);

// Headers for a replay to the original subject: the original ones plus a fresh Nats-Msg-Id
// (<original id or dlq-<stream>-<seq>>-replay-<dlq seq>): unique per DLQ entry, so a replay retried
// after a lost ack is still stored once, and never swallowed by the original's dedupe entry.
Headers ReplayHeaders(const DlqRecord& record, uint64_t dlq_seq);

// NATS subject matching with * and > (for --filter).
bool SubjectMatches(absl::string_view pattern, absl::string_view subject);

// RFC 3339 with nanoseconds, UTC.
std::string FormatRfc3339(absl::Time t);

}  // namespace sidecar::adapters::events
