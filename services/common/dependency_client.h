#pragma once
// Calls from one port to another (SERVICES.md §1 edges, §0.3 downstream rules), without the port
// knowing how the call travels:
//
//   CallDependency<payment::v1::TransferResponse>(*deps.dependencies, ctx, "payment", "transfer",
//       request, [](absl::StatusOr<payment::v1::TransferResponse> r) { ... });
//
// In the sidecar the client sends svc.<service>.v1.<action> over NATS through a `nats` cluster
// (adapters/native/nats_dependency_client.h), so the call gets that cluster's timeout and breaker
// like any other upstream request. Tests host the dependencies in process
// (tests/services/common/local_dependency_client.h). Either way a port never links another port's
// code: only the dependency's generated protobuf messages, which the spec allows (§0.1).
//
// What every implementation guarantees:
//   - headers: X-Principal service:<caller>, X-Request-Time = ctx.now (forwarded), X-Request-Id
//     forwarded, X-Deadline-Ms = min(ctx remaining - 50, options.timeout) (CallContext::
//     DownstreamHeaders);
//   - `done` runs exactly once, on the dispatcher thread, never inline from Call();
//   - the dependency's own error arrives as its §0.4 Status (code, message, details), so a port
//     passes it through unchanged or maps it as its section says;
//   - transport failures: no reply by the deadline -> DEADLINE_EXCEEDED; nobody serving the
//     subject, NATS down, breaker open -> UNAVAILABLE (details {reason: dependency_unavailable,
//     service: <service>}).

#include <chrono>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "services/common/call_context.h"
#include "services/common/service.h"

namespace sidecar::services {

struct DependencyCallOptions {
  // Upper bound for this call on top of the request's own deadline (orchestration: 2000 ms per
  // step attempt). nullopt: the request's remaining time minus 50 ms only.
  std::optional<std::chrono::milliseconds> timeout;
};

class DependencyClient {
 public:
  virtual ~DependencyClient() = default;

  // Calls svc.<service>.v1.<action> with `request`; on success `done` gets a new message of
  // `response_prototype`'s type holding the reply.
  virtual void Call(const CallContext& ctx, std::string_view service, std::string_view action,
                    const google::protobuf::Message& request,
                    const google::protobuf::Message& response_prototype, DependencyCallOptions options,
                    MessageDone done) = 0;
};

// Typed form of DependencyClient::Call.
template <typename Resp, typename Req>
void CallDependency(DependencyClient& client, const CallContext& ctx, std::string_view service,
                    std::string_view action, const Req& request, Done<Resp> done,
                    DependencyCallOptions options = {}) {
  client.Call(ctx, service, action, request, Resp::default_instance(), options,
              [done = std::move(done)](absl::StatusOr<MessagePtr> result) mutable {
                if (!result.ok()) {
                  std::move(done)(result.status());
                  return;
                }
                std::move(done)(std::move(*static_cast<Resp*>(result->get())));
              });
}

}  // namespace sidecar::services
