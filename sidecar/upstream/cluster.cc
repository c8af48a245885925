#include "sidecar/upstream/cluster.h"

#include "absl/strings/cord.h"

namespace sidecar::upstream {
namespace {
constexpr absl::string_view kFailureKindUrl = "type.sidecar/upstream.FailureKind";
}

std::string_view FailureKindName(FailureKind kind) {
  switch (kind) {
    case FailureKind::kNone: return "none";
    case FailureKind::kConnectFailure: return "connect_failure";
    case FailureKind::kReset: return "reset";
    case FailureKind::kTimeout: return "timeout";
    case FailureKind::kNoResponders: return "no_responders";
    case FailureKind::kOverflow: return "overflow";
    case FailureKind::kProtocolError: return "protocol_error";
    case FailureKind::kNoHealthyUpstream: return "no_healthy_upstream";
    case FailureKind::kCircuitOpen: return "circuit_open";
    case FailureKind::kMaxRequests: return "max_requests";
  }
  return "none";
}

absl::Status UpstreamFailure(FailureKind kind, std::string_view detail) {
  absl::Status status(kind == FailureKind::kTimeout ? absl::StatusCode::kDeadlineExceeded
                                                    : absl::StatusCode::kUnavailable,
                      absl::string_view(detail.data(), detail.size()));
  status.SetPayload(kFailureKindUrl, absl::Cord(std::string(1, static_cast<char>(kind))));
  return status;
}

FailureKind GetFailureKind(const absl::Status& status) {
  if (status.ok()) return FailureKind::kNone;
  auto payload = status.GetPayload(kFailureKindUrl);
  if (!payload || payload->size() != 1) return FailureKind::kNone;
  return static_cast<FailureKind>(std::string(*payload)[0]);
}

}  // namespace sidecar::upstream
