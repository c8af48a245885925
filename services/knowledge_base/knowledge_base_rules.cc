#include "services/knowledge_base/knowledge_base_rules.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "services/common/errors.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::knowledge_base {
namespace {

constexpr size_t kMaxCollectionLength = 32;
constexpr size_t kMaxDocIdLength = 64;
constexpr size_t kMaxTagLength = 32;
constexpr size_t kMaxTitleLength = 200;
constexpr size_t kMaxBodyBytes = 65536;
constexpr size_t kMaxQueryLength = 256;

constexpr std::string_view kStopwords[] = {
    "a",  "an",   "and",  "are", "as",   "at",  "be",   "by", "for",  "from",  "in",   "into",
    "is", "it",   "its",  "of",  "on",   "or",  "that", "the", "to",  "was",   "were", "with"};

// Rule 2's one character class: ASCII letters and digits, and every byte of a code point >= U+0080
// (in UTF-8 all bytes of such a code point are >= 0x80).
bool IsTokenByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

bool IsStopword(std::string_view token) {
  return std::find(std::begin(kStopwords), std::end(kStopwords), token) != std::end(kStopwords);
}

bool HasTag(const Document& doc, const std::string& tag) {
  return std::find(doc.tags().begin(), doc.tags().end(), tag) != doc.tags().end();
}

bool PassesTagFilter(const Document& doc, const SearchFilter& filter) {
  for (const std::string& tag : filter.all_tags) {
    if (!HasTag(doc, tag)) return false;
  }
  if (filter.any_tags.empty()) return true;
  return std::any_of(filter.any_tags.begin(), filter.any_tags.end(),
                     [&](const std::string& tag) { return HasTag(doc, tag); });
}

}  // namespace

// ---- field checks ----

absl::Status CheckCollection(std::string_view collection) {
  return CheckString("collection", collection,
                     {.required = true, .min_len = 1, .max_len = kMaxCollectionLength,
                      .char_class = "a-z0-9_-"});
}

absl::Status CheckDocId(std::string_view doc_id) {
  return CheckString("doc_id", doc_id,
                     {.required = true, .min_len = 1, .max_len = kMaxDocIdLength,
                      .char_class = "A-Za-z0-9_.-"});
}

absl::Status CheckTag(std::string_view field, std::string_view tag, bool required) {
  // §0.4: an empty list element is too_short; an empty required scalar is required.
  if (tag.empty() && !required) return InvalidArgument(field, reason::kTooShort);
  return CheckString(field, tag,
                     {.required = true, .min_len = 1, .max_len = kMaxTagLength,
                      .char_class = "a-z0-9-"});
}

absl::Status CheckTagList(std::string_view field,
                          const google::protobuf::RepeatedPtrField<std::string>& tags) {
  RETURN_IF_ERROR(CheckCount(field, tags.size(), {.max = kMaxTags}));
  for (int i = 0; i < tags.size(); ++i) {
    RETURN_IF_ERROR(CheckTag(IndexField(field, i), tags[i], /*required=*/false));
  }
  return absl::OkStatus();
}

absl::Status CheckPutDocument(const pb::PutDocumentRequest& rq) {
  RETURN_IF_ERROR(CheckCollection(rq.collection()));
  RETURN_IF_ERROR(CheckDocId(rq.doc_id()));
  RETURN_IF_ERROR(CheckString("title", rq.title(),
                              {.required = true, .min_len = 1, .max_len = kMaxTitleLength}));
  // Rule 1: body is measured in bytes and may be empty.
  if (rq.body().size() > kMaxBodyBytes) return InvalidArgument("body", reason::kTooLong);
  return CheckTagList("tags", rq.tags());
}

absl::StatusOr<std::vector<std::string>> QueryTerms(std::string_view query) {
  RETURN_IF_ERROR(CheckString("query", query,
                              {.required = true, .min_len = 1, .max_len = kMaxQueryLength}));
  std::vector<std::string> tokens = Tokenize(query);
  std::set<std::string> distinct(tokens.begin(), tokens.end());  // ascending (code point order)
  if (distinct.empty()) return InvalidArgument("query", "no_terms");
  if (distinct.size() > kMaxQueryTerms) return InvalidArgument("query", reason::kTooLong);
  return std::vector<std::string>(distinct.begin(), distinct.end());
}

std::vector<std::string> NormalisedTags(
    const google::protobuf::RepeatedPtrField<std::string>& tags) {
  std::set<std::string> sorted(tags.begin(), tags.end());
  return std::vector<std::string>(sorted.begin(), sorted.end());
}

// ---- tokenizer ----

std::vector<std::string> Tokenize(std::string_view text) {
  std::vector<std::string> tokens;
  size_t i = 0;
  while (i < text.size()) {
    if (!IsTokenByte(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    std::string token;
    while (i < text.size() && IsTokenByte(static_cast<unsigned char>(text[i]))) {
      char c = text[i++];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');  // ASCII-only (§0.2)
      token += c;
    }
    if (CodePoints(token) < 2 || IsStopword(token)) continue;
    tokens.push_back(std::move(token));
  }
  return tokens;
}

// ---- ranking ----

IndexedDoc IndexDocument(const Document& doc) {
  IndexedDoc indexed;
  indexed.doc = &doc;
  for (std::string& token : Tokenize(doc.title() + " " + doc.body())) {
    ++indexed.term_frequency[std::move(token)];
    ++indexed.length;
  }
  return indexed;
}

double RoundTo6(double x) { return std::floor(x * 1e6 + 0.5) / 1e6; }

std::vector<RankedHit> Rank(const std::vector<IndexedDoc>& collection,
                            const std::vector<std::string>& terms, const SearchFilter& filter) {
  std::vector<RankedHit> hits;
  if (collection.empty()) return hits;
  // Rule 3: statistics over the whole collection, before the tag filters.
  const double n_docs = static_cast<double>(collection.size());
  int64_t total_length = 0;
  for (const IndexedDoc& d : collection) total_length += d.length;
  const double avgdl = static_cast<double>(total_length) / n_docs;
  std::vector<double> idf;
  for (const std::string& term : terms) {
    const auto containing = std::count_if(collection.begin(), collection.end(), [&](const auto& d) {
      return d.term_frequency.count(term) > 0;
    });
    const double n = static_cast<double>(containing);
    idf.push_back(std::log(1.0 + (n_docs - n + 0.5) / (n + 0.5)));
  }

  for (const IndexedDoc& d : collection) {
    bool matched = false;
    double score = 0.0;
    for (size_t i = 0; i < terms.size(); ++i) {  // distinct terms, ascending (rule 3)
      auto tf_it = d.term_frequency.find(terms[i]);
      if (tf_it == d.term_frequency.end()) continue;
      matched = true;
      const double tf = static_cast<double>(tf_it->second);
      score += idf[i] * tf * (kK1 + 1) /
               (tf + kK1 * (1 - kB + kB * static_cast<double>(d.length) / avgdl));
    }
    if (!matched || !PassesTagFilter(*d.doc, filter)) continue;
    hits.push_back({d.doc, RoundTo6(score)});
  }
  // Rule 4 / R45: the emitted (rounded) score desc, then doc_id asc.
  std::sort(hits.begin(), hits.end(), [](const RankedHit& a, const RankedHit& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.doc->doc_id() < b.doc->doc_id();
  });
  return hits;
}

}  // namespace sidecar::services::knowledge_base
