#pragma once
// knowledge-base (SERVICES.md §2.10): the five actions over the shared StateStore in the §0.4
// check order: field checks (knowledge_base_rules.h) -> authorization -> store -> events.
//
// Documents are strong state, one store entry each:
//   knowledge-base/docs/<collection>/<doc_id>   Document (knowledge_base.v1.GetDocumentResponse)
// Collection and doc_id syntaxes exclude '/', so a collection's documents are exactly the keys
// under "knowledge-base/docs/<collection>/", in doc_id order.

#include <string>
#include <string_view>

#include "services/common/call_context.h"
#include "services/common/event_publisher.h"
#include "services/common/service.h"
#include "services/common/state_store.h"
#include "services/knowledge_base/knowledge_base_rules.h"

namespace sidecar::services::knowledge_base {

inline constexpr std::string_view kStorePrefix = "knowledge-base/";

std::string CollectionPrefix(std::string_view collection);
std::string DocumentKey(std::string_view collection, std::string_view doc_id);

class KnowledgeBaseLogic {
 public:
  // Both must outlive the logic and every call in flight.
  KnowledgeBaseLogic(StateStore& store, EventPublisher& events) : store_(store), events_(events) {}

  void PutDocument(const CallContext& ctx, pb::PutDocumentRequest rq,
                   Done<pb::PutDocumentResponse> done);
  void GetDocument(const CallContext& ctx, pb::GetDocumentRequest rq,
                   Done<pb::GetDocumentResponse> done);
  void DeleteDocument(const CallContext& ctx, pb::DeleteDocumentRequest rq,
                      Done<pb::DeleteDocumentResponse> done);
  void Search(const CallContext& ctx, pb::SearchRequest rq, Done<pb::SearchResponse> done);
  void ListDocuments(const CallContext& ctx, pb::ListDocumentsRequest rq,
                     Done<pb::ListDocumentsResponse> done);

 private:
  // Every document of `collection`, in doc_id order.
  void LoadCollection(const CallContext& ctx, std::string_view collection,
                      absl::AnyInvocable<void(absl::StatusOr<std::vector<Document>>) &&> then);
  // Writes the document (create or replace) after the cap decision of the caller.
  void WriteDocument(const CallContext& ctx, pb::PutDocumentRequest rq, bool collection_full,
                     Done<pb::PutDocumentResponse> done);

  void Publish(const CallContext& ctx, std::string_view event_name, const std::string& material,
               google::protobuf::Message& event);

  StateStore& store_;
  EventPublisher& events_;
};

}  // namespace sidecar::services::knowledge_base
