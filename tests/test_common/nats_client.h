#pragma once
// A blocking NATS client for tests (nats.c's synchronous API): one request, many requests in flight
// at once, and plain publishes. Tests use it as "any NATS client" calling a service.

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

typedef struct __natsConnection natsConnection;
typedef struct __natsSubscription natsSubscription;

namespace sidecar::test_common {

using NatsHeaders = std::vector<std::pair<std::string, std::string>>;

struct NatsRequestSpec {
  std::string subject;
  NatsHeaders headers;
  std::string data;
};

struct NatsReplyMessage {
  std::string subject;
  NatsHeaders headers;
  std::string data;
  bool no_responders = false;  // the server's 503 status: nobody is subscribed
  // First value of header `name` (exact spelling, as NATS headers are case-sensitive), or "".
  std::string Header(absl::string_view name) const;
};

class NatsTestClient {
 public:
  static absl::StatusOr<std::unique_ptr<NatsTestClient>> Connect(const std::string& url);
  ~NatsTestClient();

  absl::StatusOr<NatsReplyMessage> Request(const NatsRequestSpec& request, absl::Duration timeout);
  // Publishes every request at once, each with its own reply subject, then collects replies until
  // all arrived or `timeout` passed. Result[i] is request i's reply; nullopt if none came. A reply
  // arriving twice for one request is an error (kInternal), since the sidecar must answer once.
  // `published`, when given, is notified once the server has received every request (after a
  // flush round trip), before the replies are collected.
  absl::StatusOr<std::vector<std::optional<NatsReplyMessage>>> RequestMany(
      const std::vector<NatsRequestSpec>& requests, absl::Duration timeout,
      absl::Notification* published = nullptr);
  absl::Status Publish(const NatsRequestSpec& message);
  absl::Status Flush();
  // Joins `queue` on `subject` and never answers: a dependency that hangs (its callers see their
  // deadline pass). Held until the client is destroyed; confirmed by a flush before returning.
  absl::Status SubscribeWithoutReplying(const std::string& subject, const std::string& queue);
  // Messages those subscriptions received so far (they stay pending: nobody answers them).
  int HeldMessages() const;

 private:
  NatsTestClient() = default;
  natsConnection* conn_ = nullptr;
  std::vector<natsSubscription*> silent_;
};

}  // namespace sidecar::test_common
