#include "gtest/gtest.h"
#include "services/common/errors.h"
#include "services/common/pagination.h"
#include "services/common/validation.h"

namespace sidecar::services {
namespace {

ErrorDetails FieldReason(std::string f, std::string r) { return {{"field", f}, {"reason", r}}; }

TEST(ErrorsTest, BuildersCarryExactlyTheListedDetails) {
  EXPECT_EQ(DetailsOf(NotFound("quest_id")), (ErrorDetails{{"field", "quest_id"}}));
  EXPECT_EQ(DetailsOf(AlreadyExists("idempotency_key")), (ErrorDetails{{"field", "idempotency_key"}}));
  EXPECT_EQ(DetailsOf(PermissionDenied()), ErrorDetails{});
  EXPECT_EQ(DetailsOf(LimitExceeded(256)),
            (ErrorDetails{{"reason", "limit_exceeded"}, {"limit", "256"}}));
  EXPECT_EQ(DetailsOf(RetryAfter(720000)), (ErrorDetails{{"retry_after_ms", "720000"}}));
  EXPECT_EQ(DetailsOf(InProgress()), (ErrorDetails{{"reason", "in_progress"}}));
  EXPECT_EQ(DetailsOf(FailedPrecondition("insufficient_funds",
                                         {{"balance_minor", "3800"}, {"required_minor", "9000"}})),
            (ErrorDetails{{"reason", "insufficient_funds"},
                          {"balance_minor", "3800"},
                          {"required_minor", "9000"}}));
  EXPECT_EQ(DetailsOf(Unavailable("")), ErrorDetails{});
  EXPECT_EQ(FailedPrecondition("x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(RetryAfter(1).code(), absl::StatusCode::kResourceExhausted);
}

TEST(ErrorsTest, ConvertsToAndFromCommonV1Error) {
  // §2.3 Example 2.
  absl::Status s = FailedPrecondition(
      "insufficient_funds", {{"balance_minor", "3800"}, {"required_minor", "9000"}},
      "insufficient funds");
  ::common::v1::Error e = ToErrorProto(s);
  EXPECT_EQ(e.code(), "FAILED_PRECONDITION");
  EXPECT_EQ(e.message(), "insufficient funds");
  EXPECT_EQ(e.details().at("reason"), "insufficient_funds");
  EXPECT_EQ(e.details().at("balance_minor"), "3800");
  absl::Status back = FromErrorProto(e);
  EXPECT_EQ(back.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(DetailsOf(back), DetailsOf(s));
  EXPECT_EQ(ToErrorProto(InvalidArgument("username", "too_short")).code(), "INVALID_ARGUMENT");
  EXPECT_EQ(ToErrorProto(absl::OkStatus()).code(), "INTERNAL");
}

TEST(ValidationTest, ReasonsComeInSpecOrder) {
  Pattern user("[A-Za-z][A-Za-z0-9_]*");
  StringSpec username{.required = true, .min_len = 3, .max_len = 24, .pattern = &user};
  EXPECT_EQ(DetailsOf(CheckString("username", "", username)), FieldReason("username", "required"));
  // Too short wins over pattern: "1" fails both.
  EXPECT_EQ(DetailsOf(CheckString("username", "1", username)), FieldReason("username", "too_short"));
  EXPECT_EQ(DetailsOf(CheckString("username", std::string(25, 'a'), username)),
            FieldReason("username", "too_long"));
  EXPECT_EQ(DetailsOf(CheckString("username", "1abc", username)), FieldReason("username", "pattern"));
  EXPECT_TRUE(CheckString("username", "Mara_Vex", username).ok());
  StringSpec platform{.allowed = {"pc", "console", "mobile"}};
  EXPECT_TRUE(CheckString("platform", "", platform).ok());  // may be "": checked only when non-empty
  EXPECT_EQ(DetailsOf(CheckString("platform", "switch", platform)),
            FieldReason("platform", "unknown_value"));
  EXPECT_EQ(DetailsOf(CheckInt("amount_minor", 0, 1, 1'000'000'000'000)),
            FieldReason("amount_minor", "out_of_range"));
}

TEST(ValidationTest, LengthsCountCodePoints) {
  EXPECT_EQ(CodePoints("h\xC3\xA9llo"), 5u);     // é
  EXPECT_EQ(CodePoints("\xF0\x9F\x98\x80"), 1u);  // one emoji
  StringSpec reason{.max_len = 3};
  EXPECT_TRUE(CheckString("reason", "\xC3\xA9\xC3\xA9\xC3\xA9", reason).ok());
  EXPECT_EQ(DetailsOf(CheckString("reason", "abcd", reason)), FieldReason("reason", "too_long"));
}

TEST(ValidationTest, CharClassesAndListsAndFieldPaths) {
  StringSpec key{.required = true, .min_len = 1, .max_len = 64, .char_class = "A-Za-z0-9_.:-"};
  EXPECT_TRUE(CheckString("idempotency_key", "ord-7731:a.b_C", key).ok());
  EXPECT_EQ(DetailsOf(CheckString("idempotency_key", "ord 7731", key)),
            FieldReason("idempotency_key", "pattern"));
  EXPECT_EQ(DetailsOf(CheckCount("tags", 0, {.required = true})), FieldReason("tags", "required"));
  EXPECT_EQ(DetailsOf(CheckCount("tags", 21, {.max = 20})), FieldReason("tags", "too_long"));
  EXPECT_TRUE(CheckCount("tags", 0, {.max = 20}).ok());
  EXPECT_EQ(IndexField("tags", 2), "tags[2]");
  EXPECT_EQ(KeyField("values", "audio.master_volume"), "values.audio.master_volume");
  EXPECT_EQ(DetailsOf(FirstError({absl::OkStatus(), InvalidArgument("a", "type"),
                                  InvalidArgument("b", "required")})),
            FieldReason("a", "type"));
}

TEST(PaginationTest, PageSizeDefaultsAndRange) {
  EXPECT_EQ(ResolvePageSize(0).value(), 20);
  EXPECT_EQ(ResolvePageSize(1).value(), 1);
  EXPECT_EQ(ResolvePageSize(100).value(), 100);
  EXPECT_EQ(DetailsOf(ResolvePageSize(101).status()), FieldReason("page_size", "out_of_range"));
  EXPECT_EQ(DetailsOf(ResolvePageSize(-1).status()), FieldReason("page_size", "out_of_range"));
}

TEST(PaginationTest, TokensAreCanonicalUnpaddedBase64UrlOfTheKey) {
  EXPECT_EQ(EncodePageToken(int64_t{1202}), "MTIwMg");  // "1202"
  EXPECT_EQ(EncodePageToken("pl_a8694c9d17e9b948:slot1"), "cGxfYTg2OTRjOWQxN2U5Yjk0ODpzbG90MQ");
  EXPECT_EQ(EncodePageToken("\xFF\xFE?"), "__4_");       // url alphabet, no padding
  EXPECT_EQ(DecodeIntPageToken("MTIwMg").value(), std::optional<int64_t>(1202));
  EXPECT_EQ(DecodeStringPageToken("cGxfYTg2OTRjOWQxN2U5Yjk0ODpzbG90MQ").value(),
            std::optional<std::string>("pl_a8694c9d17e9b948:slot1"));
  EXPECT_EQ(DecodeStringPageToken("").value(), std::nullopt);
  EXPECT_EQ(DecodeIntPageToken("").value(), std::nullopt);
}

TEST(PaginationTest, RejectsTokensThatAreNotCanonicalOrNotOfTheKeyType) {
  const ErrorDetails malformed = FieldReason("page_token", "malformed");
  EXPECT_EQ(DetailsOf(DecodeIntPageToken("MTIwMg==").status()), malformed);  // padded
  EXPECT_EQ(DetailsOf(DecodeIntPageToken("MTIwMh").status()), malformed);    // non-zero tail bits
  EXPECT_EQ(DetailsOf(DecodeIntPageToken("YWJj").status()), malformed);      // "abc"
  EXPECT_EQ(DetailsOf(DecodeIntPageToken("MDEy").status()), malformed);      // "012"
  EXPECT_EQ(DetailsOf(DecodeIntPageToken("KzEy").status()), malformed);      // "+12"
  EXPECT_EQ(DetailsOf(DecodeStringPageToken("a+b/").status()), malformed);   // std alphabet
  EXPECT_EQ(DetailsOf(DecodeStringPageToken("_w").status()), malformed);     // 0xFF: not UTF-8
}

TEST(PaginationTest, NextTokenIsEmptyWhenThePageEndsAtTheLastItem) {
  std::vector<int64_t> seqs = {5, 4, 3, 2, 1};  // descending, like payment list_entries
  auto token_of = [](const int64_t& s) { return EncodePageToken(s); };
  Page<int64_t> first = Paginate<int64_t>(seqs, 2, nullptr, token_of);
  EXPECT_EQ(first.items, (std::vector<int64_t>{5, 4}));
  EXPECT_EQ(first.next_page_token, EncodePageToken(int64_t{4}));
  int64_t after = DecodeIntPageToken(first.next_page_token).value().value();
  Page<int64_t> second = Paginate<int64_t>(
      seqs, 3, [after](const int64_t& s) { return s < after; }, token_of);
  EXPECT_EQ(second.items, (std::vector<int64_t>{3, 2, 1}));
  EXPECT_EQ(second.next_page_token, "");  // exactly full last page (R9)
  Page<int64_t> all = Paginate<int64_t>(seqs, 20, nullptr, token_of);
  EXPECT_EQ(all.next_page_token, "");
}

}  // namespace
}  // namespace sidecar::services
