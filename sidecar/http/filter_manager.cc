#include "sidecar/http/filter.h"

namespace sidecar::http {

FilterManager::FilterManager(event::Dispatcher& dispatcher, StreamInfo&& info, Request&& request,
                             FilterChain&& filters, DoneCallback on_done)
    : dispatcher_(dispatcher),
      info_(std::move(info)),
      request_(std::move(request)),
      filters_(std::move(filters)),
      on_done_(std::move(on_done)) {
  for (auto& f : filters_) f->SetCallbacks(*this);
}

FilterManager::~FilterManager() {
  for (auto& f : filters_) f->OnDestroy();
}

void FilterManager::Start() { Iterate(); }

void FilterManager::ContinueRequest() {
  if (!done_) Iterate();
}

void FilterManager::Iterate() {
  while (!done_ && next_filter_ < filters_.size()) {
    Filter& filter = *filters_[next_filter_++];
    if (filter.OnRequest(request_) == FilterStatus::kStopIteration) return;
  }
  if (!done_ && next_filter_ == filters_.size()) {
    // No terminal filter answered: a wiring bug, not a client error.
    Finish(absl::InternalError("filter chain ended without a response"));
  }
}

void FilterManager::SendResponse(Response response) {
  if (done_) return;
  // Only filters that saw the request see the response, innermost first.
  for (size_t i = next_filter_; i-- > 0;) filters_[i]->OnResponse(response);
  Finish(std::move(response));
}

void FilterManager::SendError(absl::Status status) {
  if (done_) return;
  Finish(std::move(status));
}

void FilterManager::Finish(absl::StatusOr<Response> result) {
  done_ = true;
  auto cb = std::move(on_done_);
  std::move(cb)(std::move(result));  // may destroy *this: touch nothing after
}

}  // namespace sidecar::http
