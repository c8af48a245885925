#pragma once
// The filter chain: a whole-message version of Envoy's decoder/encoder filters, which is what both of
// our listeners deliver (a NATS message, a complete evhttp request). The same filters serve every
// listener; the router is the terminal filter.

#include <memory>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/http/message.h"

namespace sidecar::http {

enum class FilterStatus { kContinue, kStopIteration };

// What the chain learned about a request, for logs, metrics and later filters.
struct StreamInfo {
  std::string listener;
  std::string route_cluster;  // cluster picked by the router, "" before routing
};

class FilterCallbacks {
 public:
  virtual ~FilterCallbacks() = default;
  virtual event::Dispatcher& dispatcher() = 0;
  virtual StreamInfo& stream_info() = 0;
  // Resumes iteration after the calling filter returned kStopIteration.
  virtual void ContinueRequest() = 0;
  // Ends the request with this response; filters after the caller never see the request.
  virtual void SendResponse(Response response) = 0;
  // Ends the request with a failure (mapped to a wire error by the listener, at the edge).
  virtual void SendError(absl::Status status) = 0;
};

class Filter {
 public:
  virtual ~Filter() = default;
  virtual void SetCallbacks(FilterCallbacks& callbacks) = 0;
  virtual FilterStatus OnRequest(Request& request) = 0;
  // Called in reverse order for responses that reached the filter (not for errors).
  virtual void OnResponse(Response& response) {}
  // Last call before destruction: cancel timers and in-flight upstream requests here.
  virtual void OnDestroy() {}
};
using FilterPtr = std::unique_ptr<Filter>;
// Builds one filter instance per request; the config behind it is built once and shared read-only.
using FilterFactory = absl::AnyInvocable<FilterPtr() const>;
// One request's filters, in order. Chains are a few filters long: inline room spares every
// request an allocation.
using FilterChain = absl::InlinedVector<FilterPtr, 4>;

// Runs one request through a chain of filters. Owned by the listener's per-request state; `on_done`
// is called exactly once, on the dispatcher thread, possibly from inside Start().
class FilterManager final : public FilterCallbacks {
 public:
  using DoneCallback = absl::AnyInvocable<void(absl::StatusOr<Response>) &&>;

  // The request lives inside the chain (no allocation of its own): filters see it by reference.
  // Rvalue references, not values: a request is a handful of strings, and taking it by value
  // would move each of them twice per request.
  FilterManager(event::Dispatcher& dispatcher, StreamInfo&& info, Request&& request,
                FilterChain&& filters, DoneCallback on_done);
  ~FilterManager() override;

  void Start();
  const Request& request() const { return request_; }

  // FilterCallbacks
  event::Dispatcher& dispatcher() override { return dispatcher_; }
  StreamInfo& stream_info() override { return info_; }
  void ContinueRequest() override;
  void SendResponse(Response response) override;
  void SendError(absl::Status status) override;

 private:
  void Iterate();
  void Finish(absl::StatusOr<Response> result);

  event::Dispatcher& dispatcher_;
  StreamInfo info_;
  Request request_;
  FilterChain filters_;
  size_t next_filter_ = 0;  // index of the filter to run next
  DoneCallback on_done_;
  bool done_ = false;
};

}  // namespace sidecar::http
