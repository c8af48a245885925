#pragma once
// knowledge-base (SERVICES.md §2.10, R42–R47): the pure rules — field checks, the tokenizer and
// BM25 ranking. No store, no loop.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "knowledge_base/v1/knowledge_base.pb.h"

namespace sidecar::services::knowledge_base {

namespace pb = ::knowledge_base::v1;

// The stored record (State: Document) is exactly get_document's response.
using Document = pb::GetDocumentResponse;

inline constexpr std::string_view kServiceName = "knowledge-base";
inline constexpr size_t kMaxDocsPerCollection = 50000;  // rule 1
inline constexpr size_t kMaxTags = 20;                   // rule 1 (R44: counted as sent), R47
inline constexpr size_t kMaxQueryTerms = 32;             // rule 5
inline constexpr double kK1 = 1.2;                       // rule 3
inline constexpr double kB = 0.75;

// ---- field checks (rule 1, 4, 5, 6) ----

absl::Status CheckCollection(std::string_view collection);
absl::Status CheckDocId(std::string_view doc_id);
// One tag in tag syntax `[a-z0-9-]{1,32}` on `field` ("" -> too_short as a list entry, or
// required when `required`).
absl::Status CheckTag(std::string_view field, std::string_view tag, bool required);
// A tag list: <=20 entries as sent (too_long), then each entry.
absl::Status CheckTagList(std::string_view field,
                          const google::protobuf::RepeatedPtrField<std::string>& tags);
// put_document fields in table order.
absl::Status CheckPutDocument(const pb::PutDocumentRequest& request);
// Rule 5: query 1–256 chars, then 1–32 distinct terms (INVALID_ARGUMENT query no_terms /
// too_long). Returns the distinct terms in ascending order.
absl::StatusOr<std::vector<std::string>> QueryTerms(std::string_view query);

// Rule 1: tags de-duplicated and sorted.
std::vector<std::string> NormalisedTags(const google::protobuf::RepeatedPtrField<std::string>& tags);

// ---- tokenizer (rule 2, R43) ----

// Maximal runs of ASCII letters, ASCII digits and code points >= U+0080 (one class), ASCII
// letters lowercased, tokens shorter than 2 code points and stopwords dropped.
std::vector<std::string> Tokenize(std::string_view text);

// ---- ranking (rules 3–4) ----

// A document as the index sees it: its indexed text (title + " " + body) tokenized.
struct IndexedDoc {
  const Document* doc = nullptr;
  std::map<std::string, int64_t, std::less<>> term_frequency;
  int64_t length = 0;  // token count |d|
};
IndexedDoc IndexDocument(const Document& doc);

struct RankedHit {
  const Document* doc = nullptr;
  double score = 0;  // rounded to 6 decimals (§0.2, R45)
};

struct SearchFilter {
  std::vector<std::string> all_tags;
  std::vector<std::string> any_tags;
};

// BM25 over the whole collection (statistics before tag filters); the matching documents
// ordered by rounded score desc, doc_id asc.
std::vector<RankedHit> Rank(const std::vector<IndexedDoc>& collection,
                            const std::vector<std::string>& terms, const SearchFilter& filter);

// ⌊x·10⁶ + 0.5⌋ / 10⁶ (§0.2).
double RoundTo6(double x);

}  // namespace sidecar::services::knowledge_base
