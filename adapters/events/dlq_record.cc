#include "adapters/events/dlq_record.h"

#include <charconv>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace sidecar::adapters::events {
namespace {

constexpr char kTimeFormat[] = "%Y-%m-%dT%H:%M:%E9SZ";

bool IsJetStreamHeader(absl::string_view name) { return absl::StartsWithIgnoreCase(name, "Nats-"); }
bool IsDlqHeader(absl::string_view name) { return absl::StartsWithIgnoreCase(name, "Sidecar-Dlq-"); }

bool ParseU64(absl::string_view text, uint64_t* out) {
  if (text.empty()) return false;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

}  // namespace

std::string DlqSubject(absl::string_view consumer, absl::string_view subject) {
  return absl::StrCat(kDlqSubjectPrefix, ".", consumer, ".", subject);
}

std::string DlqMsgId(const DlqRecord& record) { return absl::StrCat("dlq-", record.stream, "-", record.stream_seq); }

std::string FormatRfc3339(absl::Time t) { return absl::FormatTime(kTimeFormat, t, absl::UTCTimeZone()); }

Headers EncodeDlqHeaders(const DlqRecord& record) {
  Headers out;
  for (const auto& [name, value] : record.headers) {
    if (!IsJetStreamHeader(name) && !IsDlqHeader(name)) out.emplace_back(name, value);
  }
  out.emplace_back(kHeaderSubject, record.subject);
  out.emplace_back(kHeaderStream, record.stream);
  out.emplace_back(kHeaderStreamSeq, absl::StrCat(record.stream_seq));
  out.emplace_back(kHeaderConsumer, record.consumer);
  out.emplace_back(kHeaderAttempts, absl::StrCat(record.attempts));
  out.emplace_back(kHeaderReason, record.reason);
  // A header value cannot carry a line break.
  std::string error = record.last_error;
  for (char& c : error) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  out.emplace_back(kHeaderLastError, error);
  out.emplace_back(kHeaderPublished, FormatRfc3339(record.published));
  out.emplace_back(kHeaderFirstAttempt, FormatRfc3339(record.first_attempt));
  out.emplace_back(kHeaderLastAttempt, FormatRfc3339(record.last_attempt));
  if (!record.original_msg_id.empty()) out.emplace_back(kHeaderMsgId, record.original_msg_id);
  return out;
}

absl::StatusOr<DlqRecord> DecodeDlqRecord(const Headers& headers, std::string payload) {
  DlqRecord r;
  r.payload = std::move(payload);
  bool has_subject = false, has_stream = false, has_seq = false, has_attempts = false;
  std::string error;
  auto time_header = [&error](absl::string_view name, const std::string& value, absl::Time* out) {
    std::string parse_error;
    if (!absl::ParseTime(kTimeFormat, value, absl::UTCTimeZone(), out, &parse_error)) {
      error = absl::StrCat(name, ": ", parse_error);
    }
  };
  for (const auto& [name, value] : headers) {
    if (!IsDlqHeader(name)) {
      if (!IsJetStreamHeader(name)) r.headers.emplace_back(name, value);
      continue;
    }
    if (absl::EqualsIgnoreCase(name, kHeaderSubject)) {
      r.subject = value;
      has_subject = true;
    } else if (absl::EqualsIgnoreCase(name, kHeaderStream)) {
      r.stream = value;
      has_stream = true;
    } else if (absl::EqualsIgnoreCase(name, kHeaderStreamSeq)) {
      has_seq = ParseU64(value, &r.stream_seq);
      if (!has_seq) error = absl::StrCat(name, ": expected a sequence number, got '", value, "'");
    } else if (absl::EqualsIgnoreCase(name, kHeaderConsumer)) {
      r.consumer = value;
    } else if (absl::EqualsIgnoreCase(name, kHeaderAttempts)) {
      has_attempts = ParseU64(value, &r.attempts);
      if (!has_attempts) error = absl::StrCat(name, ": expected a count, got '", value, "'");
    } else if (absl::EqualsIgnoreCase(name, kHeaderReason)) {
      r.reason = value;
    } else if (absl::EqualsIgnoreCase(name, kHeaderLastError)) {
      r.last_error = value;
    } else if (absl::EqualsIgnoreCase(name, kHeaderMsgId)) {
      r.original_msg_id = value;
    } else if (absl::EqualsIgnoreCase(name, kHeaderPublished)) {
      time_header(name, value, &r.published);
    } else if (absl::EqualsIgnoreCase(name, kHeaderFirstAttempt)) {
      time_header(name, value, &r.first_attempt);
    } else if (absl::EqualsIgnoreCase(name, kHeaderLastAttempt)) {
      time_header(name, value, &r.last_attempt);
    }
  }
  if (!error.empty()) return absl::InvalidArgumentError(error);
  if (!has_subject || !has_stream || !has_seq || !has_attempts) {
    return absl::InvalidArgumentError(
        "not a sidecar DLQ record (missing Sidecar-Dlq-Subject, -Stream, -Stream-Seq or -Attempts)");
  }
  return r;
}

Headers ReplayHeaders(const DlqRecord& record, uint64_t dlq_seq) {
  Headers out;
  for (const auto& [name, value] : record.headers) {
    if (!IsJetStreamHeader(name) && !IsDlqHeader(name)) out.emplace_back(name, value);
  }
  const std::string base = record.original_msg_id.empty() ? DlqMsgId(record) : record.original_msg_id;
  out.emplace_back("Nats-Msg-Id", absl::StrCat(base, "-replay-", dlq_seq));
  return out;
}

bool SubjectMatches(absl::string_view pattern, absl::string_view subject) {
  const std::vector<absl::string_view> p = absl::StrSplit(pattern, '.');
  const std::vector<absl::string_view> s = absl::StrSplit(subject, '.');
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == ">") return i < s.size();
    if (i >= s.size()) return false;
    if (p[i] != "*" && p[i] != s[i]) return false;
  }
  return p.size() == s.size();
}

}  // namespace sidecar::adapters::events
