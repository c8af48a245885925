// EvOutboundHttpClient (adapters/native/outbound_http_client.h) against FakeHttpUpstream on
// 127.0.0.1:0: responses of any status are values, the timeout is DEADLINE_EXCEEDED, transport
// failures UNAVAILABLE, https/malformed URLs INVALID_ARGUMENT, and `done` never runs inline.

#include "adapters/native/outbound_http_client.h"

#include <memory>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "tests/services/common/loop_thread.h"
#include "tests/test_common/fake_upstream/fake_http_upstream.h"

namespace sidecar::adapters::native {
namespace {

using services::OutboundHttpRequest;
using services::OutboundHttpResponse;
using test_common::FakeHttpUpstream;
using test_common::FakeResponse;

class OutboundHttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto upstream = FakeHttpUpstream::Create();
    ASSERT_TRUE(upstream.ok()) << upstream.status();
    upstream_ = std::move(*upstream);
    loop_.Await<bool>([this](auto done) {
      client_ = std::make_unique<EvOutboundHttpClient>(loop_.dispatcher());
      std::move(done)(true);
    });
  }
  void TearDown() override {
    loop_.Await<bool>([this](auto done) {
      client_.reset();
      std::move(done)(true);
    });
  }

  struct Result {
    absl::StatusOr<OutboundHttpResponse> response;
    bool inline_call = false;
  };
  Result Send(OutboundHttpRequest request) {
    auto out = loop_.Await<Result>([&](auto done) {
      auto returned = std::make_shared<bool>(false);
      client_->Send(std::move(request),
                    [returned, done = std::move(done)](
                        absl::StatusOr<OutboundHttpResponse> r) mutable {
                      std::move(done)(Result{std::move(r), !*returned});
                    });
      *returned = true;
    });
    return std::move(*out);
  }
  OutboundHttpRequest Post(const std::string& path, std::string body = "{}") {
    OutboundHttpRequest r;
    r.url = "http://" + upstream_->address() + path;
    r.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer k"}};
    r.body = std::move(body);
    r.timeout = std::chrono::milliseconds(2000);
    return r;
  }

  services::testing::LoopThread loop_;
  std::unique_ptr<FakeHttpUpstream> upstream_;
  std::unique_ptr<EvOutboundHttpClient> client_;
};

TEST(ParseHttpUrlTest, SplitsHostPortAndTarget) {
  auto u = ParseHttpUrl("http://127.0.0.1:8080/v1/chat/completions?x=1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->target, "/v1/chat/completions?x=1");
  EXPECT_EQ(u->host_header, "127.0.0.1:8080");
  auto v6 = ParseHttpUrl("HTTP://[::1]/");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 80);
  auto bare = ParseHttpUrl("http://llm.internal");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->target, "/");
  EXPECT_TRUE(absl::IsInvalidArgument(ParseHttpUrl("https://api.example.com/v1").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseHttpUrl("ftp://x").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseHttpUrl("http://:80/").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseHttpUrl("http://h:99999/").status()));
}

TEST_F(OutboundHttpClientTest, DeliversAResponseWithHeadersAndBody) {
  upstream_->SetResponse("/v1/chat/completions",
                         FakeResponse::Reply(200, R"({"ok":true})", {{"X-Test", "yes"}}));
  Result r = Send(Post("/v1/chat/completions", R"({"a":1})"));
  ASSERT_TRUE(r.response.ok()) << r.response.status();
  EXPECT_FALSE(r.inline_call);
  EXPECT_EQ(r.response->status, 200);
  EXPECT_EQ(r.response->body, R"({"ok":true})");
  bool saw = false;
  for (const auto& [k, v] : r.response->headers) saw |= (k == "X-Test" && v == "yes");
  EXPECT_TRUE(saw);
  auto last = upstream_->last_request();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->method, "POST");
  EXPECT_EQ(last->uri, "/v1/chat/completions");
  EXPECT_EQ(last->body, R"({"a":1})");
  EXPECT_EQ(last->Header("Authorization").value_or(""), "Bearer k");
  EXPECT_EQ(last->Header("Host").value_or(""), upstream_->address());
}

TEST_F(OutboundHttpClientTest, ErrorStatusesAreValues) {
  upstream_->SetResponse("/e", FakeResponse::Reply(503, "down"));
  Result r = Send(Post("/e"));
  ASSERT_TRUE(r.response.ok());
  EXPECT_EQ(r.response->status, 503);
  EXPECT_EQ(r.response->body, "down");
}

TEST_F(OutboundHttpClientTest, TimeoutIsDeadlineExceeded) {
  upstream_->SetResponse("/slow", FakeResponse::NeverReply());
  OutboundHttpRequest req = Post("/slow");
  req.timeout = std::chrono::milliseconds(200);
  const auto start = std::chrono::steady_clock::now();
  Result r = Send(std::move(req));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.response.status())) << r.response.status();
  EXPECT_LT(took, std::chrono::milliseconds(1500));
}

TEST_F(OutboundHttpClientTest, RefusedConnectionIsUnavailable) {
  const std::string address = upstream_->address();
  upstream_.reset();  // nobody listens on that port any more
  OutboundHttpRequest req;
  req.url = "http://" + address + "/x";
  Result r = Send(std::move(req));
  EXPECT_TRUE(absl::IsUnavailable(r.response.status())) << r.response.status();
  EXPECT_FALSE(r.inline_call);
}

TEST_F(OutboundHttpClientTest, ClosedWithoutReplyIsUnavailable) {
  upstream_->SetResponse("/close", FakeResponse::Close());
  Result r = Send(Post("/close"));
  EXPECT_TRUE(absl::IsUnavailable(r.response.status())) << r.response.status();
}

TEST_F(OutboundHttpClientTest, HttpsIsRejectedWithoutConnectingAndNeverInline) {
  OutboundHttpRequest req;
  req.url = "https://api.example.com/v1/chat/completions";
  Result r = Send(std::move(req));
  EXPECT_TRUE(absl::IsInvalidArgument(r.response.status()));
  EXPECT_FALSE(r.inline_call);
}

TEST_F(OutboundHttpClientTest, LocalhostNameConnects) {
  upstream_->SetResponse("/h", FakeResponse::Reply(200, "hi"));
  OutboundHttpRequest req = Post("/h");
  req.url = "http://localhost:" + std::to_string(upstream_->port()) + "/h";
  Result r = Send(std::move(req));
  ASSERT_TRUE(r.response.ok()) << r.response.status();
  EXPECT_EQ(r.response->body, "hi");
}

TEST_F(OutboundHttpClientTest, DestroyingTheClientDropsExchangesInFlight) {
  upstream_->SetResponse("/hang", FakeResponse::NeverReply());
  auto called = std::make_shared<std::atomic<bool>>(false);
  loop_.Await<bool>([&](auto done) {
    client_->Send(Post("/hang"), [called](absl::StatusOr<OutboundHttpResponse>) { *called = true; });
    std::move(done)(true);
  });
  ASSERT_TRUE(upstream_->WaitForRequests(1, std::chrono::seconds(5)));
  loop_.Await<bool>([&](auto done) {
    EXPECT_EQ(client_->in_flight(), 1u);
    client_.reset();
    client_ = std::make_unique<EvOutboundHttpClient>(loop_.dispatcher());
    std::move(done)(true);
  });
  EXPECT_FALSE(*called);
}

}  // namespace
}  // namespace sidecar::adapters::native
