#pragma once
// settings (SERVICES.md §2.2): the actions over the shared StateStore, in the §0.4 check order.
// Handlers never block: each action reads its documents, decides with settings_rules.h, writes
// with compare-and-set and answers from the store's callback. A lost compare-and-set re-runs the
// whole action on fresh state (so expected_revision is judged against what is really current),
// at most kMaxAttempts times, then UNAVAILABLE (retryable).

#include <string>
#include <string_view>
#include <vector>

#include "services/common/call_context.h"
#include "services/common/event_publisher.h"
#include "services/common/service.h"
#include "services/common/state_store.h"
#include "services/settings/settings_rules.h"

namespace sidecar::services::settings {

inline constexpr std::string_view kServiceName = "settings";
inline constexpr int kMaxAttempts = 8;

class SettingsLogic {
 public:
  // Both must outlive the logic and every call in flight.
  SettingsLogic(StateStore& store, EventPublisher& events) : store_(store), events_(events) {}

  void PutSchema(const CallContext& ctx, pb::PutSchemaRequest rq, Done<pb::PutSchemaResponse> done);
  void GetSchema(const CallContext& ctx, pb::GetSchemaRequest rq, Done<pb::GetSchemaResponse> done);
  void GetEffective(const CallContext& ctx, pb::GetEffectiveRequest rq,
                    Done<pb::GetEffectiveResponse> done);
  void SetValues(const CallContext& ctx, pb::SetValuesRequest rq, Done<pb::SetValuesResponse> done);
  void Reset(const CallContext& ctx, pb::ResetRequest rq, Done<pb::ResetResponse> done);

 private:
  struct PutSchemaOp;
  struct SetValuesOp;
  struct ResetOp;

  void PutSchemaAttempt(std::unique_ptr<PutSchemaOp> op);
  void SetValuesAttempt(std::unique_ptr<SetValuesOp> op);
  void SetValuesWrite(std::unique_ptr<SetValuesOp> op, SchemaDoc schema);
  void ResetAttempt(std::unique_ptr<ResetOp> op);

  // After a commit: player_settings_changed / schema_changed. A publish failure does not fail
  // the request (the change stands, §0.1 "after commit"); it is logged.
  void PublishPlayerChanged(const CallContext& ctx, const std::string& player_id, int64_t revision,
                            const std::vector<std::string>& keys, uint64_t store_revision);
  void PublishSchemaChanged(const CallContext& ctx, const std::string& key,
                            int64_t schema_revision, uint64_t store_revision);
  void Publish(const CallContext& ctx, std::string_view event_name, std::string material,
               google::protobuf::Message& event);

  StateStore& store_;
  EventPublisher& events_;
};

}  // namespace sidecar::services::settings
