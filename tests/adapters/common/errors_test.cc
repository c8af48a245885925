#include "adapters/common/errors.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sidecar/upstream/cluster.h"

namespace sidecar::adapters {
namespace {

struct Row {
  std::string_view code;
  int status;
  absl::StatusCode status_code;
};

constexpr Row kTable[] = {
    {"INVALID_ARGUMENT", 400, absl::StatusCode::kInvalidArgument},
    {"UNAUTHENTICATED", 401, absl::StatusCode::kUnauthenticated},
    {"PERMISSION_DENIED", 403, absl::StatusCode::kPermissionDenied},
    {"NOT_FOUND", 404, absl::StatusCode::kNotFound},
    {"ALREADY_EXISTS", 409, absl::StatusCode::kAlreadyExists},
    {"FAILED_PRECONDITION", 422, absl::StatusCode::kFailedPrecondition},
    {"RESOURCE_EXHAUSTED", 429, absl::StatusCode::kResourceExhausted},
    {"INTERNAL", 500, absl::StatusCode::kInternal},
    {"UNAVAILABLE", 503, absl::StatusCode::kUnavailable},
    {"DEADLINE_EXCEEDED", 504, absl::StatusCode::kDeadlineExceeded},
};

TEST(ErrorsTest, TableMapsEveryCodeBothWays) {
  for (const Row& row : kTable) {
    SCOPED_TRACE(row.code);
    EXPECT_TRUE(IsKnownCode(row.code));
    EXPECT_EQ(HttpStatusForCode(row.code), row.status);
    EXPECT_EQ(CodeForHttpStatus(row.status), row.code);
    EXPECT_EQ(CodeForStatusCode(row.status_code), row.code);
    EXPECT_EQ(StatusCodeForCode(row.code), row.status_code);
  }
}

TEST(ErrorsTest, UnknownCodesAreServerFaults) {
  EXPECT_FALSE(IsKnownCode("not_found"));
  EXPECT_FALSE(IsKnownCode("BOGUS"));
  EXPECT_EQ(HttpStatusForCode("BOGUS"), 500);
  EXPECT_EQ(StatusCodeForCode("BOGUS"), absl::StatusCode::kInternal);
}

TEST(ErrorsTest, OtherHttpStatusesMapToSensibleCodes) {
  EXPECT_EQ(CodeForHttpStatus(200), "");
  EXPECT_EQ(CodeForHttpStatus(204), "");
  EXPECT_EQ(CodeForHttpStatus(302), "");
  EXPECT_EQ(CodeForHttpStatus(405), "INVALID_ARGUMENT");
  EXPECT_EQ(CodeForHttpStatus(406), "INVALID_ARGUMENT");
  EXPECT_EQ(CodeForHttpStatus(413), "INVALID_ARGUMENT");
  EXPECT_EQ(CodeForHttpStatus(415), "INVALID_ARGUMENT");
  EXPECT_EQ(CodeForHttpStatus(408), "DEADLINE_EXCEEDED");
  EXPECT_EQ(CodeForHttpStatus(410), "NOT_FOUND");
  EXPECT_EQ(CodeForHttpStatus(412), "FAILED_PRECONDITION");
  EXPECT_EQ(CodeForHttpStatus(501), "INTERNAL");
  EXPECT_EQ(CodeForHttpStatus(502), "UNAVAILABLE");
  EXPECT_EQ(CodeForHttpStatus(599), "INTERNAL");
  EXPECT_EQ(CodeForHttpStatus(0), "INTERNAL");
  EXPECT_EQ(CodeForHttpStatus(700), "INTERNAL");
}

TEST(ErrorsTest, OtherAbslCodesMapToSensibleCodes) {
  EXPECT_EQ(CodeForStatusCode(absl::StatusCode::kOutOfRange), "INVALID_ARGUMENT");
  EXPECT_EQ(CodeForStatusCode(absl::StatusCode::kAborted), "FAILED_PRECONDITION");
  EXPECT_EQ(CodeForStatusCode(absl::StatusCode::kCancelled), "UNAVAILABLE");
  EXPECT_EQ(CodeForStatusCode(absl::StatusCode::kUnknown), "INTERNAL");
  EXPECT_EQ(CodeForStatusCode(absl::StatusCode::kUnimplemented), "INTERNAL");
  EXPECT_EQ(CodeForStatusCode(absl::StatusCode::kDataLoss), "INTERNAL");
}

TEST(ErrorsTest, ErrorResponseHasSpecBodyStatusAndContentType) {
  http::Response r = ErrorResponse("NOT_FOUND", "quest not found", {{"field", "quest_id"}});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.headers.GetOr("content-type", ""), "application/json");
  EXPECT_EQ(
      r.body,
      R"({"error":{"code":"NOT_FOUND","message":"quest not found","details":{"field":"quest_id"}}})");
}

TEST(ErrorsTest, ErrorResponseWithoutDetailsHasEmptyObject) {
  http::Response r = ErrorResponse("PERMISSION_DENIED", "no");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, R"({"error":{"code":"PERMISSION_DENIED","message":"no","details":{}}})");
}

TEST(ErrorsTest, ErrorBodyEscapesAndSurvivesInvalidUtf8) {
  EXPECT_EQ(ErrorBody("INTERNAL", "say \"hi\"\n"),
            R"({"error":{"code":"INTERNAL","message":"say \"hi\"\n","details":{}}})");
  std::string body = ErrorBody("INTERNAL", "bad \xFF byte");
  EXPECT_THAT(body, ::testing::HasSubstr("bad \xEF\xBF\xBD byte"));  // U+FFFD
}

TEST(ErrorsTest, StatusCarriesDetails) {
  absl::Status s = InvalidArgument("body", "malformed", "payload must be a JSON object");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetErrorDetails(s), (ErrorDetails{{"field", "body"}, {"reason", "malformed"}}));
  EXPECT_TRUE(GetErrorDetails(absl::NotFoundError("x")).empty());

  http::Response r = ErrorResponseFromStatus(s);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body,
            R"({"error":{"code":"INVALID_ARGUMENT","message":"payload must be a JSON object",)"
            R"("details":{"field":"body","reason":"malformed"}}})");
}

TEST(ErrorsTest, UpstreamConnectFailureIs503WithReason) {
  http::Response r = ErrorResponseFromStatus(
      upstream::UpstreamFailure(upstream::FailureKind::kConnectFailure, "connection refused"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, R"({"error":{"code":"UNAVAILABLE","message":"connection refused",)"
                    R"("details":{"reason":"connect_failure"}}})");
}

TEST(ErrorsTest, UpstreamTimeoutIs504WithReason) {
  http::Response r = ErrorResponseFromStatus(
      upstream::UpstreamFailure(upstream::FailureKind::kTimeout, "deadline reached"));
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(r.body, R"({"error":{"code":"DEADLINE_EXCEEDED","message":"deadline reached",)"
                    R"("details":{"reason":"timeout"}}})");
}

TEST(ErrorsTest, PlainStatusHasNoReason) {
  http::Response r = ErrorResponseFromStatus(absl::UnavailableError("store down"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, R"({"error":{"code":"UNAVAILABLE","message":"store down","details":{}}})");
}

TEST(ErrorsTest, OkStatusRendersAsInternal) {
  EXPECT_EQ(ErrorResponseFromStatus(absl::OkStatus()).status, 500);
}

TEST(ErrorsTest, ReasonPhrases) {
  EXPECT_EQ(ReasonPhrase(404), "Not Found");
  EXPECT_EQ(ReasonPhrase(503), "Service Unavailable");
  EXPECT_EQ(ReasonPhrase(299), "");
}

}  // namespace
}  // namespace sidecar::adapters
