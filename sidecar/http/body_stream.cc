#include "sidecar/http/body_stream.h"

#include <utility>

namespace sidecar::http {

void QueuedBodyStream::Start(Sink& sink) {
  sink_ = &sink;
  ScheduleFlush();
}

void QueuedBodyStream::Pause() {
  if (paused_) return;
  paused_ = true;
  OnPause();
}

void QueuedBodyStream::Resume() {
  if (!paused_) return;
  paused_ = false;
  OnResume();
}

void QueuedBodyStream::Push(std::string chunk) {
  if (end_.has_value() || chunk.empty()) return;
  queued_bytes_ += chunk.size();
  queue_.push_back(std::move(chunk));
  ScheduleFlush();
}

void QueuedBodyStream::End(absl::Status status, std::string summary) {
  if (end_.has_value()) return;
  end_ = std::move(status);
  summary_ = std::move(summary);
  ScheduleFlush();
}

void QueuedBodyStream::ScheduleFlush() {
  if (sink_ == nullptr || flush_posted_ || end_delivered_) return;
  flush_posted_ = true;
  dispatcher_.Post([this, alive = alive_] {
    if (*alive) Flush();
  });
}

void QueuedBodyStream::Flush() {
  flush_posted_ = false;
  // The sink may destroy this stream from any callback: check the token after each one.
  std::weak_ptr<bool> alive = alive_;
  while (!queue_.empty()) {
    std::string chunk = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= chunk.size();
    sink_->OnChunk(std::move(chunk));
    if (alive.expired() || !*alive.lock()) return;
  }
  if (end_.has_value() && !end_delivered_) {
    end_delivered_ = true;
    sink_->OnEnd(*end_);
  }
}

}  // namespace sidecar::http
