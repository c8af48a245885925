#include "services/knowledge_base/knowledge_base_fixture.h"

#include <string>

#include "nlohmann/json.hpp"
#include "services/common/errors.h"
#include "services/common/jcs.h"
#include "services/common/json_fields.h"
#include "services/common/validation.h"
#include "services/knowledge_base/knowledge_base_logic.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::knowledge_base {
namespace {

using Json = nlohmann::json;

absl::StatusOr<Document> DocumentFromJson(const Json& j, const std::string& path) {
  if (!j.is_object()) return InvalidArgument(path, reason::kType);
  Document doc;
  ASSIGN_OR_RETURN(*doc.mutable_collection(), StringAt(j, "collection", path));
  ASSIGN_OR_RETURN(*doc.mutable_doc_id(), StringAt(j, "doc_id", path));
  // The key is built from these two, so they must be valid ids (a '/' would escape the prefix).
  if (absl::Status s = CheckCollection(doc.collection()); !s.ok()) {
    return InvalidArgument(KeyField(path, "collection"), DetailsOf(s)["reason"]);
  }
  if (absl::Status s = CheckDocId(doc.doc_id()); !s.ok()) {
    return InvalidArgument(KeyField(path, "doc_id"), DetailsOf(s)["reason"]);
  }
  ASSIGN_OR_RETURN(*doc.mutable_title(), StringAt(j, "title", path));
  ASSIGN_OR_RETURN(*doc.mutable_body(), StringAt(j, "body", path));
  if (auto tags = j.find("tags"); tags != j.end() && !tags->is_null()) {
    if (!tags->is_array()) return InvalidArgument(KeyField(path, "tags"), reason::kType);
    google::protobuf::RepeatedPtrField<std::string> given;
    for (const Json& tag : *tags) {
      if (!tag.is_string()) return InvalidArgument(KeyField(path, "tags"), reason::kType);
      given.Add(tag.get<std::string>());
    }
    for (std::string& tag : NormalisedTags(given)) doc.add_tags(std::move(tag));
  }
  ASSIGN_OR_RETURN(int64_t revision, IntAt(j, "revision", path, 1));
  doc.set_revision(revision);
  ASSIGN_OR_RETURN(std::string updated_at, StringAt(j, "updated_at", path));
  if (!updated_at.empty()) {
    absl::StatusOr<int64_t> ms = ParseRequestTime(updated_at);
    if (!ms.ok()) return InvalidArgument(KeyField(path, "updated_at"), reason::kMalformed);
    doc.set_updated_at(*ms);
  }
  return doc;
}

}  // namespace

absl::StatusOr<std::vector<StoreEntry>> MapKnowledgeBaseFixture(
    const google::protobuf::Struct& document, const CallContext&) {
  const Json json = StructToJson(document);
  std::vector<StoreEntry> entries;
  auto docs = json.find("documents");
  if (docs == json.end() || docs->is_null()) return entries;
  if (!docs->is_array()) return InvalidArgument("documents", reason::kType);
  for (size_t i = 0; i < docs->size(); ++i) {
    ASSIGN_OR_RETURN(Document doc, DocumentFromJson((*docs)[i], IndexField("documents", i)));
    entries.push_back({DocumentKey(doc.collection(), doc.doc_id()), doc.SerializeAsString(), 0, 0});
  }
  return entries;
}

}  // namespace sidecar::services::knowledge_base
