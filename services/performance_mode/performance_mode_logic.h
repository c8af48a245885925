#pragma once
// performance-mode (SERVICES.md §2.8): the four actions over the shared store, in the §0.4 check
// order (fields -> PERMISSION_DENIED -> NOT_FOUND; PM3). Handlers never block.

#include <string>
#include <string_view>

#include "google/protobuf/message.h"
#include "services/common/call_context.h"
#include "services/common/event_publisher.h"
#include "services/common/service.h"
#include "services/common/state_store.h"
#include "services/performance_mode/performance_mode_rules.h"

namespace sidecar::services::performance_mode {

inline constexpr std::string_view kServiceName = "performance-mode";

class PerformanceModeLogic {
 public:
  // Both must outlive the logic and every call in flight.
  PerformanceModeLogic(StateStore& store, EventPublisher& events) : store_(store), events_(events) {}

  void Evaluate(const CallContext& ctx, pb::EvaluateRequest rq, Done<pb::EvaluateResponse> done);
  void ReportFrameStats(const CallContext& ctx, pb::ReportFrameStatsRequest rq,
                        Done<pb::ReportFrameStatsResponse> done);
  void GetPlayerMode(const CallContext& ctx, pb::GetPlayerModeRequest rq,
                     Done<pb::GetPlayerModeResponse> done);
  void SetServerMode(const CallContext& ctx, pb::SetServerModeRequest rq,
                     Done<pb::SetServerModeResponse> done);

 private:
  // After a committed change; a publish failure is logged, never fails the request.
  void Publish(const CallContext& ctx, std::string_view event_name, const std::string& material,
               google::protobuf::Message& event);

  StateStore& store_;
  EventPublisher& events_;
};

}  // namespace sidecar::services::performance_mode
