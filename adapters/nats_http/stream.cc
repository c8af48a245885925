#include "adapters/nats_http/stream.h"

#include <algorithm>
#include <charconv>
#include <map>

#include "absl/strings/str_cat.h"
#include "adapters/common/errors.h"
#include "sidecar/common/logging.h"
#include "sidecar/upstream/cluster.h"

namespace sidecar::adapters::nats_http {
namespace {

std::optional<uint64_t> ParseSeq(std::string_view text) {
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

double SecondsSince(http::Clock::time_point start) {
  return std::chrono::duration<double>(http::Clock::now() - start).count();
}

}  // namespace

std::optional<std::string_view> FindHeader(const NatsHeaders& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (http::HeaderMap::NameEquals(k, name)) return std::string_view(v);
  }
  return std::nullopt;
}

bool WantsStream(const NatsHeaders& request_headers) {
  std::optional<std::string_view> v = FindHeader(request_headers, stream_headers::kStream);
  return v.has_value() && (*v == "1" || *v == "true");
}

bool IsStreamMessage(const NatsHeaders& headers) {
  return FindHeader(headers, stream_headers::kSeq).has_value();
}

void RecordStream(stats::Metrics& metrics, std::string_view side, const std::string& name,
                  const absl::Status& outcome, const StreamStats& stats) {
  const std::map<std::string, std::string> labels = {{"side", std::string(side)}, {"name", name}};
  metrics.stream_chunks_total.Add(labels).Increment(static_cast<double>(stats.chunks));
  metrics.stream_bytes_total.Add(labels).Increment(static_cast<double>(stats.bytes));
  if (stats.first_chunk_seconds) {
    metrics.stream_first_chunk_seconds.Add(labels, stats::Metrics::LatencyBuckets())
        .Observe(*stats.first_chunk_seconds);
  }
  std::string result = outcome.ok() ? "ok"
                       : outcome.code() == absl::StatusCode::kCancelled ? "cancelled"
                                                                         : "error";
  metrics.streams_total.Add({{"side", std::string(side)}, {"name", name}, {"outcome", result}})
      .Increment();
}

// ---- responder ------------------------------------------------------------------------------

StreamResponder::StreamResponder(nats::Connection& connection, std::string reply,
                                 std::string control_subject, Options options, NatsReply head,
                                 http::BodyStreamPtr body, DoneCallback done)
    : connection_(connection),
      dispatcher_(connection.dispatcher()),
      reply_(std::move(reply)),
      control_(std::move(control_subject)),
      options_(options),
      head_(std::move(head)),
      body_(std::move(body)),
      done_(std::move(done)),
      ack_timer_(dispatcher_.CreateTimer([this] {
        Finish(absl::CancelledError("the requester stopped acknowledging the stream"));
      })) {}

StreamResponder::~StreamResponder() = default;

void StreamResponder::Start() {
  NatsHeaders headers = std::move(head_.headers);
  headers.emplace_back(std::string(stream_headers::kSeq), "1");
  headers.emplace_back(std::string(stream_headers::kCancel), CancelSubject(control_));
  headers.emplace_back(std::string(stream_headers::kAck), AckSubject(control_));
  headers.emplace_back(std::string(stream_headers::kWindow), std::to_string(options_.window));
  if (!head_.data.empty()) {
    stats_.chunks = 1;
    stats_.bytes = head_.data.size();
    stats_.first_chunk_seconds = SecondsSince(options_.start);
  }
  Publish(std::move(headers), head_.data);
  head_.data.clear();
  sent_ = 1;
  ReportUnacked();
  body_->Start(*this);
}

void StreamResponder::OnChunk(std::string data) {
  if (finished_) return;
  ++stats_.chunks;
  stats_.bytes += data.size();
  if (!stats_.first_chunk_seconds) stats_.first_chunk_seconds = SecondsSince(options_.start);
  queued_.push_back(std::move(data));
  Pump();
}

void StreamResponder::OnEnd(absl::Status status) {
  if (finished_) return;
  if (status.ok()) end_summary_ = body_->summary();
  end_ = std::move(status);
  Pump();
}

void StreamResponder::OnAck(std::string_view payload) {
  if (finished_) return;
  std::optional<uint64_t> seq = ParseSeq(payload);
  if (!seq || *seq <= acked_ || *seq > sent_) return;  // stale or bogus: ignore
  acked_ = *seq;
  ack_timer_->Disable();
  Pump();
  ReportUnacked();
}

void StreamResponder::OnCancel() {
  if (finished_) return;
  Finish(absl::CancelledError("cancelled by the requester"));
}

void StreamResponder::Pump() {
  const uint64_t window = static_cast<uint64_t>(options_.window);
  while (!queued_.empty() && unacked() < window) {
    ++sent_;
    Publish({{std::string(stream_headers::kSeq), std::to_string(sent_)}}, queued_.front());
    queued_.pop_front();
  }
  ReportUnacked();
  if (!queued_.empty()) {
    // Window full: stop the producer; what it already read waits here (one socket read at most).
    body_->Pause();
    if (!ack_timer_->Enabled()) ack_timer_->Enable(options_.ack_timeout);
    return;
  }
  if (!end_.has_value()) {
    body_->Resume();
    if (unacked() >= window) {
      if (!ack_timer_->Enabled()) ack_timer_->Enable(options_.ack_timeout);
    }
    return;
  }
  // Everything before the end is out: the end itself needs no window space.
  absl::Status status = *end_;
  NatsHeaders headers;
  std::string data;
  if (!status.ok()) {
    NatsReply error = EncodeError(status);
    for (auto& header : error.headers) {
      if (http::HeaderMap::NameEquals(header.first, http::headers::kServiceError) ||
          http::HeaderMap::NameEquals(header.first, http::headers::kServiceErrorCode)) {
        headers.push_back(std::move(header));
      }
    }
    data = std::move(error.data);
  }
  ++sent_;
  headers.emplace_back(std::string(stream_headers::kSeq), std::to_string(sent_));
  headers.emplace_back(std::string(stream_headers::kEnd), "true");
  if (!end_summary_.empty()) headers.emplace_back(std::string(stream_headers::kSummary), end_summary_);
  Publish(std::move(headers), data);
  Finish(std::move(status));
}

void StreamResponder::ReportUnacked() {
  if (options_.unacked_gauge == nullptr) return;
  const uint64_t now = unacked();
  options_.unacked_gauge->Increment(static_cast<double>(now) - static_cast<double>(reported_unacked_));
  reported_unacked_ = now;
}

void StreamResponder::Publish(NatsHeaders headers, const std::string& data) {
  absl::Status st = connection_.Publish(reply_, headers, data);
  if (!st.ok()) log::Warn("stream message not published", {{"reply", reply_}, {"error", st.ToString()}});
}

void StreamResponder::Finish(absl::Status outcome) {
  if (finished_) return;
  finished_ = true;
  ack_timer_->Disable();
  queued_.clear();
  acked_ = sent_;
  ReportUnacked();
  // Dropping the body cancels the upstream when it has not ended; do it from a later loop turn,
  // since this may run inside the body's own callback.
  dispatcher_.Post([body = std::move(body_)]() mutable { body.reset(); });
  if (done_) {
    DoneCallback done = std::move(done_);
    std::move(done)(std::move(outcome), stats_);
  }
}

// ---- requester ------------------------------------------------------------------------------

std::shared_ptr<NatsReplyStream> NatsReplyStream::Create(nats::Connection& connection,
                                                         std::shared_ptr<bool> connection_alive,
                                                         const nats::Message& first,
                                                         Options options, DoneCallback done) {
  std::shared_ptr<NatsReplyStream> stream(
      new NatsReplyStream(connection, std::move(connection_alive), options, std::move(done)));
  NatsReplyStream& s = *stream;
  s.ack_subject_ = std::string(FindHeader(first.headers, stream_headers::kAck).value_or(""));
  s.cancel_subject_ = std::string(FindHeader(first.headers, stream_headers::kCancel).value_or(""));
  if (auto window = ParseSeq(FindHeader(first.headers, stream_headers::kWindow).value_or(""));
      window && *window > 0) {
    s.window_ = *window;
  }
  s.received_ = 1;
  if (!first.data.empty()) {
    s.stats_.chunks = 1;
    s.stats_.bytes = first.data.size();
    s.stats_.first_chunk_seconds = SecondsSince(options.start);
    s.Push(first.data);
  }
  s.idle_timer_ = connection.dispatcher().CreateTimer([raw = &s] {
    raw->Fail(upstream::UpstreamFailure(
        upstream::FailureKind::kTimeout,
        absl::StrCat("no stream message within ", raw->options_.idle_timeout.count(), " ms")));
  });
  s.idle_timer_->Enable(options.idle_timeout);
  s.MaybeAck(/*force=*/false);
  return stream;
}

NatsReplyStream::NatsReplyStream(nats::Connection& connection,
                                 std::shared_ptr<bool> connection_alive, Options options,
                                 DoneCallback done)
    : QueuedBodyStream(connection.dispatcher()),
      connection_(connection),
      connection_alive_(std::move(connection_alive)),
      options_(options),
      done_(std::move(done)),
      start_(options.start) {}

NatsReplyStream::~NatsReplyStream() {
  if (finished_) return;
  // The consumer went away before the end (an HTTP client disconnected): stop the responder.
  if (ConnectionAlive() && !cancel_subject_.empty()) {
    (void)connection_.Publish(cancel_subject_, {}, "");
  }
  Finish(absl::CancelledError("the consumer dropped the stream"));
}

bool NatsReplyStream::OnMessage(nats::Message message) {
  if (finished_) return false;
  idle_timer_->Enable(options_.idle_timeout);
  return Accept(message);
}

bool NatsReplyStream::Accept(nats::Message& message) {
  std::optional<uint64_t> seq = ParseSeq(FindHeader(message.headers, stream_headers::kSeq).value_or(""));
  if (!seq || *seq != received_ + 1) {
    Fail(upstream::UpstreamFailure(
        upstream::FailureKind::kProtocolError,
        absl::StrCat("stream message out of order: expected seq ", received_ + 1)));
    return false;
  }
  received_ = *seq;
  const bool end = FindHeader(message.headers, stream_headers::kEnd).value_or("") == "true";
  std::optional<std::string_view> code = FindHeader(message.headers, http::headers::kServiceError);
  if (end && code.has_value()) {
    // A failure after the head: the body is cut short with the responder's §0.4 status.
    End(absl::Status(StatusCodeForCode(*code),
                     absl::string_view(message.data.data(), message.data.size())));
    Finish(absl::Status(StatusCodeForCode(*code), "stream ended with an error"));
    return false;
  }
  if (!message.data.empty()) {
    ++stats_.chunks;
    stats_.bytes += message.data.size();
    if (!stats_.first_chunk_seconds) stats_.first_chunk_seconds = SecondsSince(start_);
    Push(std::move(message.data));
  }
  if (end) {
    End(absl::OkStatus(), std::string(FindHeader(message.headers, stream_headers::kSummary).value_or("")));
    Finish(absl::OkStatus());
    return false;
  }
  MaybeAck(/*force=*/false);
  return true;
}

void NatsReplyStream::MaybeAck(bool force) {
  if (finished_ || paused() || received_ <= acked_ || ack_subject_.empty()) return;
  const uint64_t every = std::max<uint64_t>(1, window_ / 2);
  if (!force && received_ - acked_ < every) return;
  if (!ConnectionAlive()) return;
  (void)connection_.Publish(ack_subject_, {}, std::to_string(received_));
  acked_ = received_;
}

void NatsReplyStream::Fail(absl::Status status) {
  if (finished_) return;
  if (ConnectionAlive() && !cancel_subject_.empty()) {
    (void)connection_.Publish(cancel_subject_, {}, "");
  }
  End(status);
  Finish(std::move(status));
}

void NatsReplyStream::Finish(absl::Status outcome) {
  if (finished_) return;
  finished_ = true;
  if (idle_timer_ != nullptr) idle_timer_->Disable();
  if (done_) {
    DoneCallback done = std::move(done_);
    std::move(done)(std::move(outcome), stats_);
  }
}

}  // namespace sidecar::adapters::nats_http
