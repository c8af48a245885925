#include "sidecar/http/path_template.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sidecar::http {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

PathTemplate MustParse(std::string_view text) {
  absl::StatusOr<PathTemplate> t = PathTemplate::Parse(text);
  EXPECT_TRUE(t.ok()) << t.status();
  return *std::move(t);
}

std::string ParseError(std::string_view text) {
  absl::StatusOr<PathTemplate> t = PathTemplate::Parse(text);
  EXPECT_FALSE(t.ok()) << text;
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(t.status().message());
}

TEST(PathTemplateTest, ParsesLiteralsAndVariables) {
  PathTemplate t = MustParse("/api/settings/players/{player_id}/keys/{key}");
  EXPECT_EQ(t.text(), "/api/settings/players/{player_id}/keys/{key}");
  EXPECT_THAT(t.variables(), ElementsAre("player_id", "key"));
  ASSERT_EQ(t.segments().size(), 6u);
  EXPECT_FALSE(t.segments()[0].is_variable);
  EXPECT_EQ(t.segments()[0].text, "api");
  EXPECT_TRUE(t.segments()[3].is_variable);
  EXPECT_EQ(t.segments()[3].text, "player_id");
  EXPECT_EQ(t.literal_count(), 4);
  EXPECT_TRUE(t.HasVariable("key"));
  EXPECT_FALSE(t.HasVariable("keys"));
}

TEST(PathTemplateTest, AcceptsRootAndTrailingSlash) {
  EXPECT_EQ(MustParse("/").segments().size(), 1u);
  PathTemplate t = MustParse("/api/x/");
  EXPECT_TRUE(t.Match("/api/x/").has_value());
  EXPECT_FALSE(t.Match("/api/x").has_value());
}

TEST(PathTemplateTest, RejectsMalformedTemplatesWithClearMessages) {
  EXPECT_EQ(ParseError(""), "path template is empty");
  EXPECT_THAT(ParseError("api/x"), HasSubstr("must start with '/'"));
  EXPECT_THAT(ParseError("/api/x?a=1"), HasSubstr("must not contain a query"));
  EXPECT_THAT(ParseError("/api/{id"), HasSubstr("segment \"{id\": unbalanced braces"));
  EXPECT_THAT(ParseError("/api/id}"), HasSubstr("unbalanced braces"));
  EXPECT_THAT(ParseError("/api/}id{"), HasSubstr("unbalanced braces"));
  EXPECT_THAT(ParseError("/api/{a/b}"), HasSubstr("unbalanced braces"));
  EXPECT_THAT(ParseError("/api/{}"), HasSubstr("empty variable name"));
  EXPECT_THAT(ParseError("/api/{Id}"), HasSubstr("must match [a-z][a-z0-9_]*"));
  EXPECT_THAT(ParseError("/api/{1d}"), HasSubstr("must match"));
  EXPECT_THAT(ParseError("/api/{id}/x/{id}"), HasSubstr("duplicate variable \"id\""));
  EXPECT_THAT(ParseError("/api/v{id}"), HasSubstr("a variable must be a whole segment"));
  EXPECT_THAT(ParseError("/api/{a}{b}"), HasSubstr("a variable must be a whole segment"));
  EXPECT_THAT(ParseError("/api//x"), HasSubstr("empty segment"));
  EXPECT_THAT(ParseError("/api/a b"), HasSubstr("character '0x20' is not allowed"));
  EXPECT_THAT(ParseError("/api/a%20b"), HasSubstr("percent-escapes"));
}

TEST(PathTemplateTest, ExpandPercentEncodesValues) {
  PathTemplate t = MustParse("/api/kb/{space}/docs/{doc_id}");
  absl::StatusOr<std::string> path =
      t.Expand({{"space", "a b/c?d"}, {"doc_id", "x-y_z.~9"}, {"unused", "ignored"}});
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, "/api/kb/a%20b%2Fc%3Fd/docs/x-y_z.~9");
  // UTF-8 bytes are encoded one by one, upper-case hex.
  EXPECT_EQ(*t.Expand({{"space", "\xC3\xA9"}, {"doc_id", "%"}}), "/api/kb/%C3%A9/docs/%25");
}

TEST(PathTemplateTest, ExpandRejectsMissingOrEmptyValues) {
  PathTemplate t = MustParse("/api/x/{id}");
  EXPECT_THAT(std::string(t.Expand({}).status().message()),
              HasSubstr("no value for variable \"id\""));
  EXPECT_THAT(std::string(t.Expand({{"id", ""}}).status().message()),
              HasSubstr("empty value for variable \"id\""));
}

TEST(PathTemplateTest, MatchDecodesSegmentsAndIgnoresQuery) {
  PathTemplate t = MustParse("/api/settings/players/{player_id}/keys/{key}");
  auto vars = t.Match("/api/settings/players/pl%5F1/keys/a%2Fb%20c?x=1#frag");
  ASSERT_TRUE(vars.has_value());
  EXPECT_THAT(*vars, ElementsAre(Pair("key", "a/b c"), Pair("player_id", "pl_1")));
  // '+' is literal in a path.
  EXPECT_EQ(t.Match("/api/settings/players/a+b/keys/k")->at("player_id"), "a+b");
}

TEST(PathTemplateTest, MatchRejectsMismatches) {
  PathTemplate t = MustParse("/api/x/{id}");
  EXPECT_FALSE(t.Match("/api/y/1").has_value());
  EXPECT_FALSE(t.Match("/api/x").has_value());
  EXPECT_FALSE(t.Match("/api/x/1/2").has_value());
  EXPECT_FALSE(t.Match("/api/x/").has_value());     // empty variable
  EXPECT_FALSE(t.Match("/api/x/%zz").has_value());  // malformed escape
  EXPECT_FALSE(t.Match("/api/x/%4").has_value());   // truncated escape
  EXPECT_FALSE(t.Match("api/x/1").has_value());
  // Literals compare against decoded text.
  EXPECT_TRUE(MustParse("/api/x").Match("/api/%78").has_value());
}

TEST(PathTemplateTest, ARequestPathParsedOnceMatchesEveryTemplateAsTheTextDoes) {
  // A long segment (past std::string's inline size) and an escaped slash that stays one segment.
  const std::string path = "/api/settings/players/pl_a8694c9d17e9b948%2Fx/keys/audio%20volume?a=1";
  std::optional<RequestPath> parsed = RequestPath::Parse(path);
  ASSERT_TRUE(parsed.has_value());
  ASSERT_EQ(parsed->size(), 6u);
  EXPECT_EQ(parsed->segment(3), "pl_a8694c9d17e9b948/x");
  EXPECT_EQ(parsed->segment(5), "audio volume");
  const RequestPath moved = std::move(*parsed);  // segments are offsets: a move keeps them
  EXPECT_EQ(moved.segment(0), "api");
  for (const char* text : {"/api/settings/players/{player_id}/keys/{key}", "/api/settings/players/{player_id}",
                           "/api/settings/{section}/{id}/keys/{key}", "/api/settings/schema/{a}/keys/{b}"}) {
    SCOPED_TRACE(text);
    const PathTemplate t = MustParse(text);
    EXPECT_EQ(t.Match(moved), t.Match(path));
  }
  EXPECT_EQ(MustParse("/api/settings/players/{player_id}/keys/{key}").Match(moved)->at("player_id"),
            "pl_a8694c9d17e9b948/x");
  EXPECT_EQ(RequestPath::Parse("/")->size(), 1u);  // the root: one empty segment
  EXPECT_EQ(RequestPath::Parse("/a/")->segment(1), "");
  EXPECT_FALSE(RequestPath::Parse("/a/%zz").has_value());
  EXPECT_FALSE(RequestPath::Parse("/a/%4").has_value());
  EXPECT_FALSE(RequestPath::Parse("a/b").has_value());
  EXPECT_FALSE(RequestPath::Parse("").has_value());
  EXPECT_FALSE(RequestPath::Parse("?q=1").has_value());
}

TEST(PathTemplateTest, LiteralBeatsVariableInRanking) {
  PathTemplate by_key = MustParse("/api/settings/schema/{key}");
  PathTemplate schema = MustParse("/api/settings/{section}/{key}");
  PathTemplate all_literal = MustParse("/api/settings/schema/list");
  EXPECT_TRUE(PathTemplate::MoreSpecific(by_key, schema));
  EXPECT_FALSE(PathTemplate::MoreSpecific(schema, by_key));
  EXPECT_TRUE(PathTemplate::MoreSpecific(all_literal, by_key));

  // Leftmost difference decides: /a/b/{x} beats /a/{y}/c for /a/b/c.
  PathTemplate left = MustParse("/a/b/{x}");
  PathTemplate right = MustParse("/a/{y}/c");
  EXPECT_TRUE(PathTemplate::MoreSpecific(left, right));
  EXPECT_FALSE(PathTemplate::MoreSpecific(right, left));

  // Usable as a sort order: the first matching template after sorting is the most specific.
  std::vector<PathTemplate> all = {schema, by_key, all_literal};
  std::sort(all.begin(), all.end(), PathTemplate::MoreSpecific);
  EXPECT_EQ(all[0].text(), "/api/settings/schema/list");
  EXPECT_EQ(all[1].text(), "/api/settings/schema/{key}");
  EXPECT_EQ(all[2].text(), "/api/settings/{section}/{key}");
}

TEST(PathTemplateTest, SameShapeIgnoresVariableNames) {
  EXPECT_TRUE(PathTemplate::SameShape(MustParse("/a/{x}"), MustParse("/a/{y}")));
  EXPECT_FALSE(PathTemplate::SameShape(MustParse("/a/{x}"), MustParse("/b/{x}")));
  EXPECT_FALSE(PathTemplate::SameShape(MustParse("/a/{x}"), MustParse("/a/x")));
  EXPECT_FALSE(PathTemplate::SameShape(MustParse("/a/{x}"), MustParse("/a/{x}/c")));
}

TEST(PercentCodingTest, RoundTripsAndDecodesPlusOnlyInQueries) {
  std::string raw = "a b+c/d%e\xE2\x82\xAC";
  EXPECT_EQ(PercentEncode(raw), "a%20b%2Bc%2Fd%25e%E2%82%AC");
  EXPECT_EQ(*PercentDecode(PercentEncode(raw)), raw);
  EXPECT_EQ(*PercentDecode("a+b"), "a+b");
  EXPECT_EQ(*PercentDecode("a+b", /*plus_as_space=*/true), "a b");
  EXPECT_FALSE(PercentDecode("%G1").has_value());
  EXPECT_FALSE(PercentDecode("abc%").has_value());
  // Escapes back to back, at either end, among runs of plain text and pluses.
  EXPECT_EQ(*PercentDecode("%41%42"), "AB");
  EXPECT_EQ(*PercentDecode("ab%41"), "abA");
  EXPECT_EQ(*PercentDecode("+%2B++x", /*plus_as_space=*/true), " +  x");
  EXPECT_EQ(*PercentDecode(""), "");
  EXPECT_FALSE(PercentDecode("ab%4").has_value());
  EXPECT_FALSE(PercentDecode("%%41").has_value());
  EXPECT_FALSE(PercentDecode("a+%4g", /*plus_as_space=*/true).has_value());
}

}  // namespace
}  // namespace sidecar::http
