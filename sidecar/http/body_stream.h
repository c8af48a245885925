#pragma once
// A response body that arrives in pieces (HTTP chunked / SSE from a legacy service, a streamed NATS
// reply). It is an optional extension of the whole-message model, not a second model: a Response
// with `stream` set carries its status and headers as usual, and its body (after `body`, which is
// normally empty) comes through the stream. Only a caller that set Request::stream_ok ever gets
// one; whole-message clusters never produce one, and filters that only look at status and headers
// keep working unchanged.
//
// Ownership: whoever holds the Response at the edge (a listener) consumes the stream. Destroying
// the stream before its end cancels the producer (the legacy connection is closed, a NATS responder
// gets the cancel message). The Response is copyable, so the handle is a shared_ptr; only one copy
// may call Start().
//
// Flow control is the consumer's: Pause() asks the producer to stop (stop reading the upstream
// socket, stop acking the NATS responder); chunks already on their way may still arrive, bounded by
// one socket read or one NATS window. Resume() undoes it.
//
// Dispatcher thread only. The sink is never called inline from Start(), Pause() or Resume().

#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "sidecar/event/dispatcher.h"

namespace sidecar::http {

class BodyStream {
 public:
  class Sink {
   public:
    virtual ~Sink() = default;
    // The next piece of the body, in order.
    virtual void OnChunk(std::string data) = 0;
    // Exactly once, last: OK after the final chunk, or the failure that cut the body short (an
    // upstream::FailureKind payload for transport failures, a §0.4 status for an error end).
    virtual void OnEnd(absl::Status status) = 0;
  };

  virtual ~BodyStream() = default;
  // Starts delivery to `sink`, which must outlive the stream (or destroy it first).
  virtual void Start(Sink& sink) = 0;
  virtual void Pause() = 0;
  virtual void Resume() = 0;
  // The stream's closing summary, set by the time OnEnd(OK) runs: a one-line JSON document known
  // only at the end (ai-integration complete_stream: the token accounting), empty for most bodies.
  // Each transport carries it after the last piece (README "Streaming"): the HTTP chunked trailer
  // X-Stream-Summary, the SSE event `summary`, the NATS end header Nats-Stream-Summary.
  virtual const std::string& summary() const = 0;
};
using BodyStreamPtr = std::shared_ptr<BodyStream>;

// The common half of every producer: queues what arrives before Start(), delivers later pieces
// from a posted task (so a producer callback never re-enters the consumer), and remembers the end.
// A producer calls Push()/End() and implements OnPause()/OnResume(); its destructor cancels.
class QueuedBodyStream : public BodyStream {
 public:
  explicit QueuedBodyStream(event::Dispatcher& dispatcher) : dispatcher_(dispatcher) {}
  ~QueuedBodyStream() override { *alive_ = false; }

  void Start(Sink& sink) final;
  void Pause() final;
  void Resume() final;

  bool paused() const { return paused_; }
  bool ended() const { return end_.has_value(); }
  // Chunks received and not yet handed to the sink (bounded by the producer's pausing).
  size_t queued_bytes() const { return queued_bytes_; }
  const std::string& summary() const final { return summary_; }

 protected:
  void Push(std::string chunk);
  // After End() the producer must not push again. `summary`: see BodyStream::summary().
  void End(absl::Status status, std::string summary = {});
  virtual void OnPause() = 0;
  virtual void OnResume() = 0;

 private:
  void ScheduleFlush();
  void Flush();

  event::Dispatcher& dispatcher_;
  Sink* sink_ = nullptr;
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;
  std::optional<absl::Status> end_;
  std::string summary_;
  bool end_delivered_ = false;
  bool flush_posted_ = false;
  bool paused_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sidecar::http
