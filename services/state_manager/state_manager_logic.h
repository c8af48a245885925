#pragma once
// state-manager (SERVICES.md §2.4): the actions over the shared StateStore, in the §0.4 check
// order. Handlers never block: each action reads the document, decides with
// state_manager_rules.h, writes with compare-and-set (the spec's versions are judged against what
// the store really holds) and answers from the store's callback. A lost compare-and-set re-runs
// the action on fresh state, at most kMaxAttempts times, then UNAVAILABLE (retryable).
//
// Known limit: the 64-keys-per-owner cap (rule 1) is counted with a List before the create's
// compare-and-set; the store has no multi-key transactions, so two replicas creating different
// keys of one owner at the same instant could both pass at 63. Single-key consistency (versions)
// is exact.

#include <memory>
#include <string>
#include <string_view>

#include "services/common/call_context.h"
#include "services/common/event_publisher.h"
#include "services/common/service.h"
#include "services/common/state_store.h"
#include "services/state_manager/state_manager_rules.h"
#include "services/state_manager/state_manager_store.h"

namespace sidecar::services::state_manager {

inline constexpr std::string_view kServiceName = "state-manager";
inline constexpr int kMaxAttempts = 8;

class StateManagerLogic {
 public:
  // Both must outlive the logic and every call in flight.
  StateManagerLogic(StateStore& store, EventPublisher& events) : store_(store), events_(events) {}

  void Get(const CallContext& ctx, pb::GetRequest rq, Done<pb::GetResponse> done);
  void Put(const CallContext& ctx, pb::PutRequest rq, Done<pb::PutResponse> done);
  void Patch(const CallContext& ctx, pb::PatchRequest rq, Done<pb::PatchResponse> done);
  void Delete(const CallContext& ctx, pb::DeleteRequest rq, Done<pb::DeleteResponse> done);
  void ListKeys(const CallContext& ctx, pb::ListKeysRequest rq, Done<pb::ListKeysResponse> done);

 private:
  struct PutOp;
  struct PatchOp;
  struct DeleteOp;

  void PutAttempt(std::unique_ptr<PutOp> op);
  // Rule 1 cap before a create in save/session.
  void PutCheckCap(std::unique_ptr<PutOp> op);
  void PutWrite(std::unique_ptr<PutOp> op, uint64_t store_revision, int64_t version);
  void PatchAttempt(std::unique_ptr<PatchOp> op);
  void DeleteAttempt(std::unique_ptr<DeleteOp> op);

  // doc_changed after a commit; a publish failure is logged, the change stands (§0.1).
  void PublishDocChanged(const CallContext& ctx, const std::string& ns, const std::string& key,
                         int64_t version, std::string_view op, uint64_t store_revision);

  StateStore& store_;
  EventPublisher& events_;
};

}  // namespace sidecar::services::state_manager
