#pragma once
// The DependencyClient of ports hosted in the sidecar (services/common/dependency_client.h): a call
// to svc.<service>.v1.<action> goes out through a `nats` cluster in action mode, named by the native
// cluster's `dependencies:` key. It is the same cluster object routes use, wrapped by the cluster
// manager's GuardedCluster, so dependency calls get that cluster's timeout, circuit breaker and
// metrics like any other upstream request.
//
//   request message -> spec JSON (json_codec) -> Request{service, action, §0.3 downstream headers,
//   deadline = now + min(remaining - 50, options.timeout)} -> cluster
//   200 reply        -> JSON -> the caller's response message
//   error reply      -> its §0.4 code, message and details as the Status (passed through or mapped by
//                       the port)
//   no reply in time -> DEADLINE_EXCEEDED; no responders, NATS down, breaker open -> UNAVAILABLE
//                       {reason: dependency_unavailable, service}
//
// Dispatcher thread only. Calls still in flight when the client is destroyed are cancelled: their
// callbacks never run.

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "services/common/dependency_client.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/upstream/cluster.h"

namespace sidecar::adapters::native {

class NatsDependencyClient final : public services::DependencyClient {
 public:
  // `cluster` may be null: a host without a route to other services; every call then answers
  // UNAVAILABLE dependency_unavailable (on a later loop turn), so a leaf-only config needs nothing.
  NatsDependencyClient(std::string caller, upstream::Cluster* cluster, event::Dispatcher& dispatcher);
  ~NatsDependencyClient() override;

  void Call(const services::CallContext& ctx, std::string_view service, std::string_view action,
            const google::protobuf::Message& request, const google::protobuf::Message& response_prototype,
            services::DependencyCallOptions options, services::MessageDone done) override;

  size_t in_flight() const { return in_flight_.size(); }

 private:
  void Finish(uint64_t id, std::string service, absl::StatusOr<http::Response> result,
              services::MessagePtr response, services::MessageDone done);

  std::string caller_;
  upstream::Cluster* cluster_;
  event::Dispatcher& dispatcher_;
  std::map<uint64_t, upstream::Cancellable*> in_flight_;
  uint64_t next_id_ = 1;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// The §0.4 error body of a reply ({"error":{"code","message","details"}}) as a Status; a body that
// is not one gets the code of the HTTP status (adapters/common/errors.h) and the body as message.
absl::Status StatusFromErrorReply(const http::Response& response);

}  // namespace sidecar::adapters::native
