// The thin binding of quest-system: typed handlers onto QuestSystemLogic, plus `_fixture`.
#include "services/quest_system/quest_system_service.h"

#include "services/common/fixtures.h"
#include "services/quest_system/quest_system_logic.h"
#include "services/quest_system/quest_system_store.h"

namespace sidecar::services {
namespace {

using namespace ::quest_system::v1;  // NOLINT: the message names of this service only
using quest_system::QuestSystemLogic;

class QuestSystemService final : public Service {
 public:
  explicit QuestSystemService(const ServiceDeps& deps)
      : deps_(deps), logic_(*deps.store, *deps.events) {}

  std::string_view name() const override { return quest_system::kServiceName; }

  void Register(HandlerRegistry& r) override {
    r.Add<PutQuestRequest, PutQuestResponse>(
        "put_quest",
        [this](const CallContext& ctx, PutQuestRequest rq, Done<PutQuestResponse> done) {
          logic_.PutQuest(ctx, rq, std::move(done));
        });
    r.Add<AcceptRequest, AcceptResponse>(
        "accept", [this](const CallContext& ctx, AcceptRequest rq, Done<AcceptResponse> done) {
          logic_.Accept(ctx, rq, std::move(done));
        });
    r.Add<RecordProgressRequest, RecordProgressResponse>(
        "record_progress", [this](const CallContext& ctx, RecordProgressRequest rq,
                                  Done<RecordProgressResponse> done) {
          logic_.RecordProgress(ctx, rq, std::move(done));
        });
    r.Add<CompleteRequest, CompleteResponse>(
        "complete",
        [this](const CallContext& ctx, CompleteRequest rq, Done<CompleteResponse> done) {
          logic_.Complete(ctx, rq, std::move(done));
        });
    r.Add<RevertCompletionRequest, RevertCompletionResponse>(
        "revert_completion", [this](const CallContext& ctx, RevertCompletionRequest rq,
                                    Done<RevertCompletionResponse> done) {
          logic_.RevertCompletion(ctx, rq, std::move(done));
        });
    r.Add<ListPlayerQuestsRequest, ListPlayerQuestsResponse>(
        "list_player_quests", [this](const CallContext& ctx, ListPlayerQuestsRequest rq,
                                     Done<ListPlayerQuestsResponse> done) {
          logic_.ListPlayerQuests(ctx, rq, std::move(done));
        });
    // The fixture replaces definitions, progress and the idempotency records (README.md).
    RegisterFixtureAction(r, deps_.fixtures_enabled, *deps_.store,
                          {std::string(quest_system::kStorePrefix), "_idem/quest-system/"},
                          &quest_system::MapQuestSystemFixture);
  }

 private:
  ServiceDeps deps_;
  QuestSystemLogic logic_;
};

}  // namespace

std::unique_ptr<Service> MakeQuestSystemService(const ServiceDeps& deps) {
  return std::make_unique<QuestSystemService>(deps);
}

}  // namespace sidecar::services
