#include "services/knowledge_base/knowledge_base_service.h"

#include <string>
#include <utility>

#include "services/common/fixtures.h"
#include "services/knowledge_base/knowledge_base_fixture.h"
#include "services/knowledge_base/knowledge_base_logic.h"

namespace sidecar::services {
namespace {

namespace kb = knowledge_base;
namespace pb = ::knowledge_base::v1;

// The thin binding: one typed handler per §2.10 action, all forwarding to KnowledgeBaseLogic.
class KnowledgeBaseService final : public Service {
 public:
  explicit KnowledgeBaseService(const ServiceDeps& deps)
      : deps_(deps), logic_(*deps.store, *deps.events) {}

  std::string_view name() const override { return kb::kServiceName; }

  void Register(HandlerRegistry& r) override {
    r.Add<pb::PutDocumentRequest, pb::PutDocumentResponse>(
        "put_document", [this](const CallContext& ctx, pb::PutDocumentRequest rq,
                               Done<pb::PutDocumentResponse> done) {
          logic_.PutDocument(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::GetDocumentRequest, pb::GetDocumentResponse>(
        "get_document", [this](const CallContext& ctx, pb::GetDocumentRequest rq,
                               Done<pb::GetDocumentResponse> done) {
          logic_.GetDocument(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::DeleteDocumentRequest, pb::DeleteDocumentResponse>(
        "delete_document", [this](const CallContext& ctx, pb::DeleteDocumentRequest rq,
                                  Done<pb::DeleteDocumentResponse> done) {
          logic_.DeleteDocument(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::SearchRequest, pb::SearchResponse>(
        "search",
        [this](const CallContext& ctx, pb::SearchRequest rq, Done<pb::SearchResponse> done) {
          logic_.Search(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::ListDocumentsRequest, pb::ListDocumentsResponse>(
        "list_documents", [this](const CallContext& ctx, pb::ListDocumentsRequest rq,
                                 Done<pb::ListDocumentsResponse> done) {
          logic_.ListDocuments(ctx, std::move(rq), std::move(done));
        });
    RegisterFixtureAction(r, deps_.fixtures_enabled, *deps_.store,
                          {std::string(kb::kStorePrefix)}, kb::MapKnowledgeBaseFixture);
  }

 private:
  ServiceDeps deps_;
  kb::KnowledgeBaseLogic logic_;
};

}  // namespace

std::unique_ptr<Service> MakeKnowledgeBaseService(const ServiceDeps& deps) {
  return std::make_unique<KnowledgeBaseService>(deps);
}

}  // namespace sidecar::services
