// knowledge-base (SERVICES.md §2.10, R42–R47): the tokenizer and BM25 as pure rules, then every
// action through the registry: both examples (golden files), every numbered rule, the §0.4
// check order, pagination and events.

#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/common/pagination.h"
#include "services/knowledge_base/knowledge_base_logic.h"
#include "services/knowledge_base/knowledge_base_rules.h"
#include "services/knowledge_base/knowledge_base_service.h"
#include "tests/services/common/port_harness.h"

namespace sidecar::services {
namespace {

using knowledge_base::Document;
using knowledge_base::Tokenize;
using testing::AsPlayer;
using testing::Error;
using testing::GoldenPaths;
using testing::Headers;
using testing::InvalidArg;
using testing::Json;
using testing::PortHarness;
using testing::Reply;

// The §2.10 "Given" (collection lore).
Json LoreFixture() {
  return Json::parse(R"({"documents":[
    {"collection":"lore","doc_id":"ossuary-gate","title":"The Ossuary Gate","body":"The ossuary gate of Vell opens only at dusk. Brokers pay the gatekeeper in grave moss.","tags":["location","vell"]},
    {"collection":"lore","doc_id":"grave-moss","title":"Grave Moss","body":"Grave moss grows on old stones. Apothecaries brew it into a bitter tonic.","tags":["herb"]},
    {"collection":"lore","doc_id":"broker-guild","title":"The Broker Guild","body":"The guild of brokers keeps ledgers of every contract sealed in Vell.","tags":["faction","vell"]}]})");
}

// ---- rule 2: tokenizer ----

TEST(KnowledgeBaseTokenizerTest, OneCharacterClassLowercasedAsciiOnly) {
  EXPECT_EQ(Tokenize("abc123 Café42 ÉCLAIR"),
            (std::vector<std::string>{"abc123", "café42", "Éclair"}));  // É is not ASCII
  EXPECT_EQ(Tokenize("grave-moss, Vell's"), (std::vector<std::string>{"grave", "moss", "vell"}));
}

TEST(KnowledgeBaseTokenizerTest, DropsShortTokensAndStopwords) {
  EXPECT_EQ(Tokenize("A b é éé The of AND into x1"),
            (std::vector<std::string>{"éé", "x1"}));  // lengths in code points
  EXPECT_EQ(Tokenize("brokers broker"), (std::vector<std::string>{"brokers", "broker"}));
}

TEST(KnowledgeBaseTokenizerTest, GivenTokenCounts) {
  Document gate;
  gate.set_title("The Ossuary Gate");
  gate.set_body(
      "The ossuary gate of Vell opens only at dusk. Brokers pay the gatekeeper in grave moss.");
  EXPECT_EQ(knowledge_base::IndexDocument(gate).length, 13);
}

// ---- rule 3: BM25 ----

TEST(KnowledgeBaseRankTest, ScoresMatchTheSpecWithinTolerance) {
  std::vector<Document> docs(3);
  const char* given[][3] = {
      {"ossuary-gate", "The Ossuary Gate",
       "The ossuary gate of Vell opens only at dusk. Brokers pay the gatekeeper in grave moss."},
      {"grave-moss", "Grave Moss",
       "Grave moss grows on old stones. Apothecaries brew it into a bitter tonic."},
      {"broker-guild", "The Broker Guild",
       "The guild of brokers keeps ledgers of every contract sealed in Vell."}};
  std::vector<knowledge_base::IndexedDoc> index;
  for (int i = 0; i < 3; ++i) {
    docs[i].set_doc_id(given[i][0]);
    docs[i].set_title(given[i][1]);
    docs[i].set_body(given[i][2]);
  }
  for (const Document& d : docs) index.push_back(knowledge_base::IndexDocument(d));
  auto hits = knowledge_base::Rank(index, {"broker", "grave", "moss"}, {});
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(hits[0].doc->doc_id(), "grave-moss");
  EXPECT_NEAR(hits[0].score, 1.303291, 1e-6);
  EXPECT_NEAR(hits[1].score, 1.030422, 1e-6);
  EXPECT_NEAR(hits[2].score, 0.886665, 1e-6);
  // Independent recomputation of grave-moss with the rule-3 formula (|d| = 11, avgdl = 34/3).
  const double avgdl = 34.0 / 3.0;
  auto term = [&](double n, double tf, double dl) {
    return std::log(1 + (3 - n + 0.5) / (n + 0.5)) * tf * 2.2 /
           (tf + 1.2 * (1 - 0.75 + 0.75 * dl / avgdl));
  };
  const double grave_moss = term(2, 2, 11) + term(2, 2, 11);  // "grave", "moss": twice each
  EXPECT_NEAR(hits[0].score, grave_moss, 1e-6);
}

TEST(KnowledgeBaseRankTest, RoundingFollowsTheSpec) {
  EXPECT_EQ(knowledge_base::RoundTo6(0.8866654), 0.886665);
  EXPECT_EQ(knowledge_base::RoundTo6(0.8866655), 0.886666);
}

// ---- the port ----

class KnowledgeBaseTest : public ::testing::Test {
 protected:
  KnowledgeBaseTest() : h_("knowledge-base", MakeKnowledgeBaseService) {}

  void LoadLore() { h_.LoadFixture(LoreFixture()); }

  Reply Put(const std::string& doc_id, Json body, const Headers& headers = {},
            const std::string& collection = "lore") {
    body["collection"] = collection;
    body["doc_id"] = doc_id;
    return h_.Call("put_document", body.dump(), headers);
  }
  Reply PutSimple(const std::string& doc_id, const std::string& text, Json tags = Json::array()) {
    return Put(doc_id, {{"title", doc_id}, {"body", text}, {"tags", tags}});
  }
  Reply Get(const std::string& doc_id, const Headers& headers = {}) {
    return h_.Call("get_document", Json{{"collection", "lore"}, {"doc_id", doc_id}}.dump(),
                   headers);
  }
  Reply Delete(const std::string& doc_id, const Headers& headers = {}) {
    return h_.Call("delete_document", Json{{"collection", "lore"}, {"doc_id", doc_id}}.dump(),
                   headers);
  }
  Reply Search(Json body, const Headers& headers = {}) {
    body["collection"] = "lore";
    return h_.Call("search", body.dump(), headers);
  }
  Reply List(Json body) {
    body["collection"] = "lore";
    return h_.Call("list_documents", body.dump());
  }
  static std::vector<std::string> HitIds(const Reply& r) {
    std::vector<std::string> ids;
    for (const Json& hit : r.body["hits"]) ids.push_back(hit["doc_id"]);
    return ids;
  }

  PortHarness h_;
};

TEST_F(KnowledgeBaseTest, RegistersEveryActionOfTheProto) {
  EXPECT_TRUE(VerifyRegistry("knowledge-base", h_.registry()).ok());
}

TEST(KnowledgeBaseGoldenTest, EveryGoldenFileReplays) {
  const auto files = GoldenPaths("knowledge-base");
  ASSERT_EQ(files.size(), 2u);
  for (const auto& file : files) testing::RunGolden(MakeKnowledgeBaseService, file);
}

TEST_F(KnowledgeBaseTest, Example1RankedSearchOverHttp) {
  LoadLore();
  Reply r = h_.CallHttp("POST", "/api/knowledge-base/collections/lore/search",
                        R"({"query":"grave moss broker"})", AsPlayer());
  EXPECT_EQ(HitIds(r), (std::vector<std::string>{"grave-moss", "broker-guild", "ossuary-gate"}));
  EXPECT_EQ(r.body["total_hits"], 3);
}

TEST_F(KnowledgeBaseTest, Example2TagFilterKeepsCollectionStatistics) {
  LoadLore();
  Reply r = Search({{"query", "grave moss"}, {"all_tags", {"vell"}}});
  EXPECT_EQ(r.body, Json::parse(R"({"hits":[{"doc_id":"ossuary-gate","title":"The Ossuary Gate",
    "tags":["location","vell"],"score":0.886665}],"total_hits":1,"next_page_token":""})"));
}

// ---- rule 1: syntax, tags, upsert, revisions, cap ----

TEST_F(KnowledgeBaseTest, Rule1FieldSyntax) {
  Json ok = {{"title", "T"}, {"body", ""}};
  EXPECT_TRUE(Put("Doc_1.v-2", ok).ok());
  EXPECT_EQ(Put("doc", ok, {}, "Lore").body, InvalidArg("collection", "pattern"));
  EXPECT_EQ(Put("doc", ok, {}, "").body, InvalidArg("collection", "required"));
  EXPECT_EQ(Put("doc", ok, {}, std::string(33, 'a')).body, InvalidArg("collection", "too_long"));
  EXPECT_EQ(Put("doc/1", ok).body, InvalidArg("doc_id", "pattern"));
  EXPECT_EQ(Put(std::string(65, 'd'), ok).body, InvalidArg("doc_id", "too_long"));
  EXPECT_EQ(Put("doc", {{"title", ""}}).body, InvalidArg("title", "required"));
  EXPECT_EQ(Put("doc", {{"title", std::string(201, 't')}}).body, InvalidArg("title", "too_long"));
  EXPECT_TRUE(Put("doc", {{"title", "T"}, {"body", std::string(65536, 'b')}}).ok());
  EXPECT_EQ(Put("doc", {{"title", "T"}, {"body", std::string(65537, 'b')}}).body,
            InvalidArg("body", "too_long"));
  // Bytes, not code points: 32769 two-byte characters are 65538 bytes.
  std::string wide;
  for (int i = 0; i < 32769; ++i) wide += "é";
  EXPECT_EQ(Put("doc", {{"title", "T"}, {"body", wide}}).body, InvalidArg("body", "too_long"));
}

TEST_F(KnowledgeBaseTest, Rule1TagsCountedAsSentThenDeduplicatedAndSorted) {
  Json tags = Json::array();
  for (int i = 0; i < 21; ++i) tags.push_back("same");
  EXPECT_EQ(Put("doc", {{"title", "T"}, {"tags", tags}}).body, InvalidArg("tags", "too_long"));
  EXPECT_EQ(Put("doc", {{"title", "T"}, {"tags", {"ok", ""}}}).body,
            InvalidArg("tags[1]", "too_short"));
  EXPECT_EQ(Put("doc", {{"title", "T"}, {"tags", {"ok", "Bad"}}}).body,
            InvalidArg("tags[1]", "pattern"));
  EXPECT_EQ(Put("doc", {{"title", "T"}, {"tags", {std::string(33, 't')}}}).body,
            InvalidArg("tags[0]", "too_long"));
  ASSERT_TRUE(Put("doc", {{"title", "T"}, {"tags", {"vell", "herb", "vell", "a-1"}}}).ok());
  EXPECT_EQ(Get("doc").body["tags"], Json({"a-1", "herb", "vell"}));
}

TEST_F(KnowledgeBaseTest, Rule1PutUpsertsAndRevisionRestartsAfterDelete) {
  EXPECT_EQ(PutSimple("doc", "one").body, Json::parse(R"({"doc_id":"doc","revision":1})"));
  EXPECT_EQ(PutSimple("doc", "two").body, Json::parse(R"({"doc_id":"doc","revision":2})"));
  Reply got = Get("doc", AsPlayer());
  EXPECT_EQ(got.body, Json::parse(R"({"collection":"lore","doc_id":"doc","title":"doc",
    "body":"two","tags":[],"revision":2,"updated_at":"2025-11-20T12:00:00.000Z"})"));
  EXPECT_EQ(Delete("doc").body, Json::parse(R"({"deleted":true})"));
  EXPECT_EQ(Get("doc").body, Error("NOT_FOUND", {{"field", "doc_id"}}));
  EXPECT_EQ(Delete("doc").body, Error("NOT_FOUND", {{"field", "doc_id"}}));
  EXPECT_EQ(PutSimple("doc", "three").body["revision"], 1);  // R46
}

TEST_F(KnowledgeBaseTest, Rule1CollectionCapCountsExistingDocuments) {
  Document doc;
  doc.set_collection("lore");
  doc.set_title("t");
  doc.set_revision(1);
  for (size_t i = 0; i < knowledge_base::kMaxDocsPerCollection; ++i) {
    doc.set_doc_id("d" + std::to_string(i));
    h_.Put(knowledge_base::DocumentKey("lore", doc.doc_id()), doc.SerializeAsString());
  }
  EXPECT_EQ(PutSimple("one-more", "x").body,
            Error("RESOURCE_EXHAUSTED", {{"reason", "limit_exceeded"}, {"limit", "50000"}}));
  EXPECT_EQ(PutSimple("d7", "replace at the cap").body["revision"], 2);
  Json other = {{"title", "T"}};
  EXPECT_TRUE(Put("first", other, {}, "other").ok());  // the cap is per collection
}

TEST_F(KnowledgeBaseTest, WritesAreServiceOrAdminOnly) {
  EXPECT_EQ(Put("doc", {{"title", "T"}}, AsPlayer()).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(Delete("doc", AsPlayer()).body, Error("PERMISSION_DENIED"));
  EXPECT_EQ(Put("doc", {{"title", ""}}, AsPlayer()).body, InvalidArg("title", "required"));
  EXPECT_EQ(Put("doc", {{"title", "T"}}, {"", testing::kDefaultTime}).body,
            Error("UNAUTHENTICATED"));
  EXPECT_TRUE(Put("doc", {{"title", "T"}}, {"service:story-teller"}).ok());
}

// ---- rule 3: statistics over the whole collection ----

TEST_F(KnowledgeBaseTest, Rule3StatisticsIgnoreTheTagFilter) {
  LoadLore();
  Reply unfiltered = Search({{"query", "grave moss"}});
  Reply filtered = Search({{"query", "grave moss"}, {"any_tags", {"location"}}});
  ASSERT_EQ(filtered.body["hits"].size(), 1u);
  EXPECT_EQ(filtered.body["hits"][0]["score"], unfiltered.body["hits"][1]["score"]);
}

// ---- rule 4: matching and order ----

TEST_F(KnowledgeBaseTest, Rule4MatchingNeedsATermAndTheTags) {
  LoadLore();
  EXPECT_EQ(HitIds(Search({{"query", "vell"}})),
            (std::vector<std::string>{"broker-guild", "ossuary-gate"}));
  EXPECT_EQ(HitIds(Search({{"query", "vell"}, {"all_tags", {"vell", "faction"}}})),
            (std::vector<std::string>{"broker-guild"}));
  EXPECT_EQ(HitIds(Search({{"query", "vell moss"}, {"any_tags", {"herb", "location"}}})),
            (std::vector<std::string>{"ossuary-gate", "grave-moss"}));  // by score
  EXPECT_EQ(HitIds(Search({{"query", "dragon"}})), std::vector<std::string>{});
  EXPECT_EQ(Search({{"query", "dragon"}}).body["total_hits"], 0);
}

TEST_F(KnowledgeBaseTest, Rule4EqualScoresOrderByDocId) {
  ASSERT_TRUE(PutSimple("b", "ember ash").ok());
  ASSERT_TRUE(PutSimple("a", "ember ash").ok());
  ASSERT_TRUE(PutSimple("c", "ember ash").ok());
  Reply r = Search({{"query", "ember"}});
  EXPECT_EQ(HitIds(r), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(r.body["hits"][0]["score"], r.body["hits"][2]["score"]);
}

TEST_F(KnowledgeBaseTest, Rule4PageTokenIsTheRankOffset) {
  LoadLore();
  Reply first = Search({{"query", "grave moss broker"}, {"page_size", 2}});
  EXPECT_EQ(HitIds(first), (std::vector<std::string>{"grave-moss", "broker-guild"}));
  EXPECT_EQ(first.body["next_page_token"], EncodePageToken(2));
  EXPECT_EQ(first.body["total_hits"], 3);
  Reply second = Search(
      {{"query", "grave moss broker"}, {"page_size", 2}, {"page_token", EncodePageToken(2)}});
  EXPECT_EQ(HitIds(second), (std::vector<std::string>{"ossuary-gate"}));
  EXPECT_EQ(second.body["next_page_token"], "");
  Reply exact = Search({{"query", "grave moss broker"}, {"page_size", 3}});
  EXPECT_EQ(exact.body["next_page_token"], "");  // R9
  EXPECT_EQ(Search({{"query", "moss"}, {"page_token", EncodePageToken("x")}}).body,
            InvalidArg("page_token", "malformed"));
  EXPECT_EQ(Search({{"query", "moss"}, {"page_token", EncodePageToken(-1)}}).body,
            InvalidArg("page_token", "malformed"));
  EXPECT_EQ(Search({{"query", "moss"}, {"page_size", 0}}).body["hits"].size(), 2u);
  EXPECT_EQ(Search({{"query", "moss"}, {"page_size", 101}}).body,
            InvalidArg("page_size", "out_of_range"));
}

TEST_F(KnowledgeBaseTest, Rule4TagListChecks) {
  Json many = Json::array();
  for (int i = 0; i < 21; ++i) many.push_back("t" + std::to_string(i));
  EXPECT_EQ(Search({{"query", "moss"}, {"all_tags", many}}).body, InvalidArg("all_tags", "too_long"));
  EXPECT_EQ(Search({{"query", "moss"}, {"any_tags", {"ok", "NO"}}}).body,
            InvalidArg("any_tags[1]", "pattern"));
}

// ---- rule 5: query ----

TEST_F(KnowledgeBaseTest, Rule5QueryLengthAndTerms) {
  EXPECT_EQ(Search({{"query", ""}}).body, InvalidArg("query", "required"));
  EXPECT_EQ(Search({{"query", std::string(257, 'q')}}).body, InvalidArg("query", "too_long"));
  EXPECT_EQ(Search({{"query", "the of a ! x"}}).body, InvalidArg("query", "no_terms"));
  std::string terms;
  for (int i = 0; i < 32; ++i) terms += "t" + std::to_string(i) + " t" + std::to_string(i) + " ";
  EXPECT_TRUE(Search({{"query", terms}}).ok());  // 32 distinct terms (duplicates ignored)
  EXPECT_EQ(Search({{"query", terms + "t99"}}).body, InvalidArg("query", "too_long"));
  EXPECT_EQ(Search({{"query", "moss"}}, AsPlayer()).status, 200);  // a read
}

// ---- rule 6: list_documents ----

TEST_F(KnowledgeBaseTest, Rule6ListByDocIdWithTagFilterAndPages) {
  LoadLore();
  Reply all = List(Json::object());
  ASSERT_EQ(all.body["docs"].size(), 3u);
  EXPECT_EQ(all.body["docs"][0], Json::parse(R"({"doc_id":"broker-guild","title":"The Broker Guild",
    "tags":["faction","vell"],"revision":1})"));
  EXPECT_EQ(all.body["docs"][2]["doc_id"], "ossuary-gate");
  Reply vell = List({{"tag", "vell"}, {"page_size", 1}});
  ASSERT_EQ(vell.body["docs"].size(), 1u);
  EXPECT_EQ(vell.body["next_page_token"], EncodePageToken("broker-guild"));
  Reply rest = List({{"tag", "vell"}, {"page_token", vell.body["next_page_token"]}});
  ASSERT_EQ(rest.body["docs"].size(), 1u);
  EXPECT_EQ(rest.body["docs"][0]["doc_id"], "ossuary-gate");
  EXPECT_EQ(rest.body["next_page_token"], "");
  EXPECT_EQ(List({{"tag", "Vell"}}).body, InvalidArg("tag", "pattern"));
  EXPECT_EQ(h_.Call("list_documents", R"({"collection":"other"})").body["docs"], Json::array());
}

// ---- events ----

TEST_F(KnowledgeBaseTest, EventsAfterPutAndDelete) {
  ASSERT_TRUE(PutSimple("doc", "x").ok());
  ASSERT_TRUE(PutSimple("doc", "y").ok());
  ASSERT_TRUE(Delete("doc").ok());
  EXPECT_FALSE(Delete("doc").ok());
  std::vector<Json> events = h_.Events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0]["subject"], "evt.knowledge-base.v1.document_upserted");
  EXPECT_EQ(events[0]["collection"], "lore");
  EXPECT_EQ(events[0]["doc_id"], "doc");
  EXPECT_EQ(events[0]["revision"], 1);
  EXPECT_EQ(events[1]["revision"], 2);
  EXPECT_EQ(events[2]["subject"], "evt.knowledge-base.v1.document_deleted");
  EXPECT_EQ(events[2]["doc_id"], "doc");
  auto raw = h_.RawEvents();
  EXPECT_NE(raw[0].event_id, raw[1].event_id);
}

}  // namespace
}  // namespace sidecar::services
