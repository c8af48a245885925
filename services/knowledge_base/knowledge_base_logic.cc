#include "services/knowledge_base/knowledge_base_logic.h"

#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "services/common/errors.h"
#include "services/common/pagination.h"
#include "services/common/read_modify_write.h"
#include "sidecar/common/logging.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::knowledge_base {
namespace {

absl::StatusOr<Document> ParseDocument(const StoreEntry& entry) {
  Document doc;
  if (!doc.ParseFromString(entry.value)) return Internal("stored document does not parse");
  return doc;
}

std::vector<std::string> ToVector(const google::protobuf::RepeatedPtrField<std::string>& list) {
  return std::vector<std::string>(list.begin(), list.end());
}

}  // namespace

std::string CollectionPrefix(std::string_view collection) {
  return std::string(kStorePrefix) + "docs/" + std::string(collection) + "/";
}

std::string DocumentKey(std::string_view collection, std::string_view doc_id) {
  return CollectionPrefix(collection) + std::string(doc_id);
}

void KnowledgeBaseLogic::LoadCollection(
    const CallContext& ctx, std::string_view collection,
    absl::AnyInvocable<void(absl::StatusOr<std::vector<Document>>) &&> then) {
  store_.List(CollectionPrefix(collection), ctx.now_ms(),
              [then = std::move(then)](absl::StatusOr<std::vector<StoreEntry>> listed) mutable {
                if (!listed.ok()) {
                  std::move(then)(listed.status());
                  return;
                }
                std::vector<Document> docs;
                docs.reserve(listed->size());
                for (const StoreEntry& entry : *listed) {
                  absl::StatusOr<Document> doc = ParseDocument(entry);
                  if (!doc.ok()) {
                    std::move(then)(doc.status());
                    return;
                  }
                  docs.push_back(std::move(*doc));
                }
                std::move(then)(std::move(docs));  // List is ascending by key = doc_id
              });
}

// ---- put_document ----

void KnowledgeBaseLogic::PutDocument(const CallContext& ctx, pb::PutDocumentRequest rq,
                                     Done<pb::PutDocumentResponse> done) {
  absl::Status s = CheckPutDocument(rq);
  if (s.ok()) s = ctx.AuthorizeWrite();
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  // The cap counts existing documents (§0.4): only a new doc_id needs the collection's size.
  std::string key = DocumentKey(rq.collection(), rq.doc_id());
  store_.Get(key, ctx.now_ms(), [this, ctx, rq = std::move(rq), done = std::move(done)](
                                    absl::StatusOr<std::optional<StoreEntry>> got) mutable {
    if (!got.ok()) {
      std::move(done)(got.status());
      return;
    }
    if (got->has_value()) {
      WriteDocument(ctx, std::move(rq), /*collection_full=*/false, std::move(done));
      return;
    }
    std::string prefix = CollectionPrefix(rq.collection());
    store_.List(prefix, ctx.now_ms(),
                [this, ctx, rq = std::move(rq), done = std::move(done)](
                    absl::StatusOr<std::vector<StoreEntry>> listed) mutable {
                  if (!listed.ok()) {
                    std::move(done)(listed.status());
                    return;
                  }
                  const bool full = listed->size() >= kMaxDocsPerCollection;
                  WriteDocument(ctx, std::move(rq), full, std::move(done));
                });
  });
}

void KnowledgeBaseLogic::WriteDocument(const CallContext& ctx, pb::PutDocumentRequest rq,
                                       bool collection_full, Done<pb::PutDocumentResponse> done) {
  std::string key = DocumentKey(rq.collection(), rq.doc_id());
  const int64_t now = ctx.now_ms();
  UpdateKey<Document>(
      store_, std::move(key), now,
      [rq, now, collection_full](
          const std::optional<StoreEntry>& entry) -> absl::StatusOr<Write<Document>> {
        int64_t revision = 1;  // rule 1 / R46: also after a delete
        if (entry.has_value()) {
          ASSIGN_OR_RETURN(Document old, ParseDocument(*entry));
          revision = old.revision() + 1;
        } else if (collection_full) {
          return LimitExceeded(kMaxDocsPerCollection, "collection holds 50000 documents");
        }
        Write<Document> write;
        write.op = Write<Document>::Op::kPut;
        Document& doc = write.result;
        doc.set_collection(rq.collection());
        doc.set_doc_id(rq.doc_id());
        doc.set_title(rq.title());
        doc.set_body(rq.body());
        for (std::string& tag : NormalisedTags(rq.tags())) doc.add_tags(std::move(tag));
        doc.set_revision(revision);
        doc.set_updated_at(now);
        write.value = doc.SerializeAsString();
        return write;
      },
      [this, ctx, done = std::move(done)](absl::StatusOr<Committed<Document>> committed) mutable {
        if (!committed.ok()) {
          std::move(done)(committed.status());
          return;
        }
        const Document& doc = committed->result;
        pb::DocumentUpsertedEvent event;
        event.set_collection(doc.collection());
        event.set_doc_id(doc.doc_id());
        event.set_revision(doc.revision());
        Publish(ctx, "document_upserted",
                doc.collection() + "/" + doc.doc_id() + ":" + std::to_string(doc.revision()) + ":" +
                    std::to_string(committed->store_revision),
                event);
        pb::PutDocumentResponse response;
        response.set_doc_id(doc.doc_id());
        response.set_revision(doc.revision());
        std::move(done)(std::move(response));
      });
}

// ---- get_document ----

void KnowledgeBaseLogic::GetDocument(const CallContext& ctx, pb::GetDocumentRequest rq,
                                     Done<pb::GetDocumentResponse> done) {
  absl::Status s = CheckCollection(rq.collection());
  if (s.ok()) s = CheckDocId(rq.doc_id());
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  store_.Get(DocumentKey(rq.collection(), rq.doc_id()), ctx.now_ms(),
             [done = std::move(done)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
               if (!got.ok()) {
                 std::move(done)(got.status());
                 return;
               }
               if (!got->has_value()) {
                 std::move(done)(NotFound("doc_id", "no such document"));
                 return;
               }
               std::move(done)(ParseDocument(**got));
             });
}

// ---- delete_document ----

void KnowledgeBaseLogic::DeleteDocument(const CallContext& ctx, pb::DeleteDocumentRequest rq,
                                        Done<pb::DeleteDocumentResponse> done) {
  absl::Status s = CheckCollection(rq.collection());
  if (s.ok()) s = CheckDocId(rq.doc_id());
  if (s.ok()) s = ctx.AuthorizeWrite();
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  std::string key = DocumentKey(rq.collection(), rq.doc_id());  // before `rq` is moved below
  UpdateKey<bool>(
      store_, std::move(key), ctx.now_ms(),
      [](const std::optional<StoreEntry>& entry) -> absl::StatusOr<Write<bool>> {
        if (!entry.has_value()) return NotFound("doc_id", "no such document");
        Write<bool> write;
        write.op = Write<bool>::Op::kDelete;
        write.result = true;
        return write;
      },
      [this, ctx, rq = std::move(rq), done = std::move(done)](
          absl::StatusOr<Committed<bool>> committed) mutable {
        if (!committed.ok()) {
          std::move(done)(committed.status());
          return;
        }
        pb::DocumentDeletedEvent event;
        event.set_collection(rq.collection());
        event.set_doc_id(rq.doc_id());
        // The deleted entry's store revision names this deletion uniquely.
        Publish(ctx, "document_deleted",
                rq.collection() + "/" + rq.doc_id() + ":" +
                    std::to_string(committed->store_revision),
                event);
        pb::DeleteDocumentResponse response;
        response.set_deleted(true);
        std::move(done)(std::move(response));
      });
}

// ---- search ----

void KnowledgeBaseLogic::Search(const CallContext& ctx, pb::SearchRequest rq,
                                Done<pb::SearchResponse> done) {
  // Table order: collection, query, all_tags, any_tags, page_size, page_token.
  absl::Status s = CheckCollection(rq.collection());
  absl::StatusOr<std::vector<std::string>> terms = std::vector<std::string>{};
  if (s.ok()) {
    terms = QueryTerms(rq.query());
    s = terms.status();
  }
  if (s.ok()) s = CheckTagList("all_tags", rq.all_tags());
  if (s.ok()) s = CheckTagList("any_tags", rq.any_tags());
  absl::StatusOr<int32_t> page_size = ResolvePageSize(rq.page_size());
  if (s.ok()) s = page_size.status();
  absl::StatusOr<std::optional<int64_t>> offset = DecodeIntPageToken(rq.page_token());
  if (s.ok()) s = offset.status();
  if (s.ok() && offset->value_or(0) < 0) {
    s = InvalidArgument("page_token", reason::kMalformed);  // a rank offset is never negative
  }
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  SearchFilter filter{ToVector(rq.all_tags()), ToVector(rq.any_tags())};
  LoadCollection(
      ctx, rq.collection(),
      [terms = std::move(*terms), filter = std::move(filter), size = *page_size,
       start = offset->value_or(0),
       done = std::move(done)](absl::StatusOr<std::vector<Document>> docs) mutable {
        if (!docs.ok()) {
          std::move(done)(docs.status());
          return;
        }
        std::vector<IndexedDoc> index;
        index.reserve(docs->size());
        for (const Document& doc : *docs) index.push_back(IndexDocument(doc));
        std::vector<RankedHit> hits = Rank(index, terms, filter);
        pb::SearchResponse response;
        response.set_total_hits(static_cast<int32_t>(hits.size()));
        // Rule 4: the page token is the decimal rank offset of the next page's first hit.
        const int64_t end = std::min<int64_t>(start + size, static_cast<int64_t>(hits.size()));
        for (int64_t i = start; i < end; ++i) {
          pb::Hit* hit = response.add_hits();
          hit->set_doc_id(hits[i].doc->doc_id());
          hit->set_title(hits[i].doc->title());
          *hit->mutable_tags() = hits[i].doc->tags();
          hit->set_score(hits[i].score);
        }
        if (end < static_cast<int64_t>(hits.size())) {
          response.set_next_page_token(EncodePageToken(end));
        }
        std::move(done)(std::move(response));
      });
}

// ---- list_documents ----

void KnowledgeBaseLogic::ListDocuments(const CallContext& ctx, pb::ListDocumentsRequest rq,
                                       Done<pb::ListDocumentsResponse> done) {
  absl::Status s = CheckCollection(rq.collection());
  if (s.ok() && !rq.tag().empty()) s = CheckTag("tag", rq.tag(), /*required=*/true);
  absl::StatusOr<int32_t> page_size = ResolvePageSize(rq.page_size());
  if (s.ok()) s = page_size.status();
  absl::StatusOr<std::optional<std::string>> after = DecodeStringPageToken(rq.page_token());
  if (s.ok()) s = after.status();
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  LoadCollection(
      ctx, rq.collection(),
      [tag = rq.tag(), size = *page_size, after = std::move(*after),
       done = std::move(done)](absl::StatusOr<std::vector<Document>> docs) mutable {
        if (!docs.ok()) {
          std::move(done)(docs.status());
          return;
        }
        std::vector<Document> matching;
        for (Document& doc : *docs) {
          if (tag.empty() ||
              std::find(doc.tags().begin(), doc.tags().end(), tag) != doc.tags().end()) {
            matching.push_back(std::move(doc));
          }
        }
        std::function<bool(const Document&)> after_token;
        if (after.has_value()) {
          after_token = [key = *after](const Document& d) { return d.doc_id() > key; };
        }
        Page<Document> page = Paginate<Document>(
            std::move(matching), size, after_token,
            [](const Document& d) { return EncodePageToken(d.doc_id()); });
        pb::ListDocumentsResponse response;
        for (const Document& doc : page.items) {
          pb::DocumentSummary* summary = response.add_docs();
          summary->set_doc_id(doc.doc_id());
          summary->set_title(doc.title());
          *summary->mutable_tags() = doc.tags();
          summary->set_revision(doc.revision());
        }
        response.set_next_page_token(page.next_page_token);
        std::move(done)(std::move(response));
      });
}

// ---- events ----

void KnowledgeBaseLogic::Publish(const CallContext& ctx, std::string_view event_name,
                                 const std::string& material, google::protobuf::Message& event) {
  absl::StatusOr<Event> built = MakeEvent(kServiceName, event_name,
                                          MakeEventId(kServiceName, event_name, material),
                                          ctx.now_ms(), event);
  if (!built.ok()) {
    log::Error("knowledge-base: cannot build event", {{"event", event_name}});
    return;
  }
  // After the commit: a publish failure does not fail the request (§0.1), it is logged.
  events_.Publish(std::move(*built), [name = std::string(event_name)](absl::Status s) {
    if (!s.ok()) log::Warn("knowledge-base: event publish failed", {{"event", name}});
  });
}

}  // namespace sidecar::services::knowledge_base
