#pragma once
// Streamed replies on NATS: one request, several reply messages. The convention (README
// "Streaming", docs/ARCHITECTURE.md):
//
//   requester  opts in with the request header `Nats-Stream: 1`. Without it the reply is one whole
//              message, as always (a streamed upstream body is then collected first).
//   responder  publishes to the request's reply subject, every message with `Nats-Stream-Seq:
//              1, 2, ...`. Seq 1 carries the reply's status and headers (X-Http-Status,
//              Content-Type, ...) plus `Nats-Stream-Cancel: <subject>`, `Nats-Stream-Ack:
//              <subject>` and `Nats-Stream-Window: <N>`; its payload is the first piece of the
//              body (often empty). The last message carries `Nats-Stream-End: true` and, when
//              the body failed midway, the §0.4 error headers (Nats-Service-Error,
//              Nats-Service-Error-Code) with the §0.4 body as payload; otherwise its payload is
//              the last piece (often empty) and `Nats-Stream-Summary: <json>` carries the body's
//              closing summary when it has one (BodyStream::summary()).
//   flow       the responder keeps at most N messages unacknowledged; the requester publishes the
//              highest seq it has received (decimal payload) to the Ack subject every N/2
//              messages, and withholds acks while its own consumer is slow. The end message needs
//              no ack.
//   cancel     any message to the Cancel subject stops the responder (and its upstream) at once;
//              nothing more is published. A responder that sees no ack progress for its ack
//              timeout cancels itself; a requester that sees no message for its idle timeout
//              fails the body with DEADLINE_EXCEEDED and cancels.
// Ack and Cancel subjects live under the responder's `_INBOX.<service>.` prefix, which its NATS
// identity may subscribe to; a requester's identity needs publish rights there.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "adapters/nats_http/nats_http.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/http/body_stream.h"
#include "sidecar/nats/connection.h"
#include "sidecar/stats/metrics.h"

namespace sidecar::adapters::nats_http {

namespace stream_headers {
inline constexpr std::string_view kStream = "Nats-Stream";
inline constexpr std::string_view kSeq = "Nats-Stream-Seq";
inline constexpr std::string_view kEnd = "Nats-Stream-End";
inline constexpr std::string_view kCancel = "Nats-Stream-Cancel";
inline constexpr std::string_view kAck = "Nats-Stream-Ack";
inline constexpr std::string_view kWindow = "Nats-Stream-Window";
inline constexpr std::string_view kSummary = "Nats-Stream-Summary";  // BodyStream::summary()
}  // namespace stream_headers

inline constexpr int kDefaultStreamWindow = 16;

using NatsHeaders = std::vector<std::pair<std::string, std::string>>;

// First value of `name` (case-insensitive), or nullopt.
std::optional<std::string_view> FindHeader(const NatsHeaders& headers, std::string_view name);
// The request asked for a streamed reply (`Nats-Stream: 1`).
bool WantsStream(const NatsHeaders& request_headers);
// A reply message that is part of a stream (has Nats-Stream-Seq).
bool IsStreamMessage(const NatsHeaders& headers);

// Counters for one side of one stream, reported when it ends.
struct StreamStats {
  uint64_t chunks = 0;
  uint64_t bytes = 0;
  std::optional<double> first_chunk_seconds;  // time to first body byte
};

// Counts one ended stream in the sidecar_stream* metrics. `side`: "responder" | "requester".
void RecordStream(stats::Metrics& metrics, std::string_view side, const std::string& name,
                  const absl::Status& outcome, const StreamStats& stats);

// The responder half: publishes `body` to `reply` under the convention above. Owned by its caller
// (the NATS listener), which routes ack and cancel messages to it and destroys it after `done`.
// Dispatcher thread only; `done` runs once, never inline from Start().
class StreamResponder final : private http::BodyStream::Sink {
 public:
  struct Options {
    int window = kDefaultStreamWindow;
    // No ack progress for this long while the window is full: the requester is gone.
    std::chrono::milliseconds ack_timeout{30000};
    http::Clock::time_point start = http::Clock::now();  // the request's arrival, for stats
    prometheus::Gauge* unacked_gauge = nullptr;  // sidecar_stream_unacked_chunks, optional
  };
  // OK after the end was published; CANCELLED when the requester cancelled or stopped acking;
  // else the body's failure (its end message was published with the error headers).
  using DoneCallback = absl::AnyInvocable<void(absl::Status outcome, const StreamStats& stats)>;

  StreamResponder(nats::Connection& connection, std::string reply, std::string control_subject,
                  Options options, NatsReply head, http::BodyStreamPtr body, DoneCallback done);
  ~StreamResponder() override;

  // Publishes seq 1 (status, headers, control subjects) and starts taking the body.
  void Start();
  // `<control_subject>.ack` / `.cancel` messages.
  void OnAck(std::string_view payload);
  void OnCancel();

  uint64_t unacked() const { return sent_ - acked_; }
  static std::string AckSubject(std::string_view control) { return std::string(control) + ".ack"; }
  static std::string CancelSubject(std::string_view control) {
    return std::string(control) + ".cancel";
  }

 private:
  // BodyStream::Sink
  void OnChunk(std::string data) override;
  void OnEnd(absl::Status status) override;

  void Publish(NatsHeaders headers, const std::string& data);
  // Sends queued chunks the window allows, then the end once everything before it is out.
  void Pump();
  void Finish(absl::Status outcome);
  void ReportUnacked();

  nats::Connection& connection_;
  event::Dispatcher& dispatcher_;
  const std::string reply_;
  const std::string control_;
  const Options options_;
  NatsReply head_;
  http::BodyStreamPtr body_;
  DoneCallback done_;
  event::TimerPtr ack_timer_;
  http::Clock::time_point start_;

  std::deque<std::string> queued_;  // chunks waiting for window space (at most one socket read)
  std::optional<absl::Status> end_;  // the body ended; published after the queue
  std::string end_summary_;          // the body's summary, for the end message
  uint64_t sent_ = 0;                // highest seq published
  uint64_t acked_ = 0;
  uint64_t reported_unacked_ = 0;
  bool finished_ = false;
  StreamStats stats_;
};

// The requester half: the body of a streamed reply, fed message by message by the NATS cluster.
// Acks every window/2 messages unless paused; destroying it before the end publishes the cancel.
class NatsReplyStream final : public http::QueuedBodyStream {
 public:
  struct Options {
    // No message for this long: the body fails with DEADLINE_EXCEEDED (and is cancelled).
    std::chrono::milliseconds idle_timeout{30000};
    http::Clock::time_point start = http::Clock::now();  // the request's start, for stats
  };
  using DoneCallback = absl::AnyInvocable<void(absl::Status outcome, const StreamStats& stats)>;

  // `first` is seq 1 (its control headers are read here); `connection_alive` guards the connection
  // (the owning cluster's liveness), since the consumer may hold the stream longer.
  static std::shared_ptr<NatsReplyStream> Create(nats::Connection& connection,
                                                 std::shared_ptr<bool> connection_alive,
                                                 const nats::Message& first, Options options,
                                                 DoneCallback done);
  ~NatsReplyStream() override;

  // Later messages of the stream, in order. False once the stream needs no more (end, error).
  bool OnMessage(nats::Message message);

 private:
  NatsReplyStream(nats::Connection& connection, std::shared_ptr<bool> connection_alive,
                  Options options, DoneCallback done);
  bool Accept(nats::Message& message);
  void MaybeAck(bool force);
  void Fail(absl::Status status);
  void Finish(absl::Status outcome);
  bool ConnectionAlive() const { return *connection_alive_; }
  void OnPause() override {}
  void OnResume() override { MaybeAck(/*force=*/true); }

  nats::Connection& connection_;
  const std::shared_ptr<bool> connection_alive_;
  const Options options_;
  DoneCallback done_;
  event::TimerPtr idle_timer_;
  http::Clock::time_point start_;
  std::string ack_subject_;
  std::string cancel_subject_;
  uint64_t window_ = kDefaultStreamWindow;
  uint64_t received_ = 0;  // highest seq received
  uint64_t acked_ = 0;     // highest seq acked
  bool finished_ = false;
  StreamStats stats_;
};

}  // namespace sidecar::adapters::nats_http
