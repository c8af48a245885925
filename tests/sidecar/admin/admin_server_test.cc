#include "sidecar/admin/admin_server.h"

#include <atomic>
#include <sstream>
#include <stdexcept>
#include <string>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sidecar/admin/healthcheck_client.h"
#include "tests/sidecar/admin/admin_test_util.h"

namespace sidecar::admin {
namespace {

using ::sidecar::admin::test::Body;
using ::sidecar::admin::test::RawExchange;
using ::sidecar::admin::test::RunningAdmin;
using ::testing::HasSubstr;
using ::testing::StartsWith;

http::Response Text(int status, std::string body) {
  http::Response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

std::string Get(const std::string& target) {
  return "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
}

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(admin_.server()
                    .AddHandler("/health", "liveness",
                                [](const AdminServer::Request&) { return Text(200, "OK\n"); })
                    .ok());
    ASSERT_TRUE(admin_.server()
                    .AddHandler("/ready", "readiness: 200 when LIVE, else 503",
                                [](const AdminServer::Request&) {
                                  return Text(503, R"({"state":"INITIALIZING"})");
                                })
                    .ok());
    ASSERT_TRUE(admin_.server()
                    .AddHandler("/echo", "echoes the request",
                                [](const AdminServer::Request& r) {
                                  http::Response response =
                                      Text(200, "{\"method\":\"" + r.method + "\",\"path\":\"" +
                                                    r.path + "\",\"query\":\"" + r.query + "\"}");
                                  response.headers.Set("X-Custom", "yes");
                                  return response;
                                })
                    .ok());
    ASSERT_TRUE(admin_.server()
                    .AddHandler("/typed", "sets its own content type",
                                [](const AdminServer::Request&) {
                                  http::Response response = Text(200, "a b c");
                                  response.headers.Set("Content-Type", "text/csv");
                                  return response;
                                })
                    .ok());
    ASSERT_TRUE(admin_.server()
                    .AddHandler("/throws", "always throws",
                                [](const AdminServer::Request&) -> http::Response {
                                  throw std::runtime_error("boom");
                                })
                    .ok());
    ASSERT_TRUE(admin_.server()
                    .AddPostHandler("/routes/", "changes things",
                                    [](const AdminServer::Request& r) {
                                      return Text(200, "{\"path\":\"" + r.path + "\",\"body\":" + r.body + "}");
                                    })
                    .ok());
    admin_.Start();
  }

  RunningAdmin admin_;
};

TEST_F(AdminServerTest, BindsAnEphemeralPortWhenAskedForZero) { EXPECT_NE(admin_.port(), 0); }

TEST_F(AdminServerTest, RegisteredHandlerSeesMethodPathAndQuery) {
  std::string response = RawExchange(admin_.port(), Get("/echo?verbose=1&x=y"));
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("Content-Type: application/json\r\n"));
  EXPECT_THAT(response, HasSubstr("X-Custom: yes\r\n"));
  EXPECT_THAT(response, HasSubstr("Cache-Control: no-cache"));
  EXPECT_EQ(Body(response), R"({"method":"GET","path":"/echo","query":"verbose=1&x=y"})");
}

TEST(AdminServerThreadTest, HandlersRunOnTheDispatcherThread) {
  RunningAdmin admin;
  std::atomic<bool> on_loop_thread{false};
  ASSERT_TRUE(admin.server()
                  .AddHandler("/where", "",
                              [&](const AdminServer::Request&) {
                                on_loop_thread = admin.dispatcher().IsThreadSafe();
                                return Text(200, "here");
                              })
                  .ok());
  admin.Start();
  EXPECT_THAT(RawExchange(admin.port(), Get("/where")), StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_TRUE(on_loop_thread);
  EXPECT_FALSE(admin.dispatcher().IsThreadSafe());  // this test thread is not the loop's
}

TEST_F(AdminServerTest, ContentTypeComesFromTheResponseOrDefaultsToTextPlain) {
  EXPECT_THAT(RawExchange(admin_.port(), Get("/typed")), HasSubstr("Content-Type: text/csv\r\n"));
  EXPECT_THAT(RawExchange(admin_.port(), Get("/health")),
              HasSubstr("Content-Type: text/plain; charset=utf-8\r\n"));
}

TEST_F(AdminServerTest, IndexListsEveryHandlerWithItsHelp) {
  std::string response = RawExchange(admin_.port(), Get("/"));
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("Content-Type: text/plain"));
  std::string body = Body(response);
  EXPECT_THAT(body, HasSubstr("/health"));
  EXPECT_THAT(body, HasSubstr("liveness"));
  EXPECT_THAT(body, HasSubstr("/ready"));
  EXPECT_THAT(body, HasSubstr("readiness: 200 when LIVE, else 503"));
  // Sorted by path, one per line.
  EXPECT_LT(body.find("/echo"), body.find("/health"));
  EXPECT_LT(body.find("/health"), body.find("/ready"));
}

TEST_F(AdminServerTest, UnknownPathIs404WithJsonError) {
  std::string response = RawExchange(admin_.port(), Get("/nope?x=1"));
  EXPECT_THAT(response, StartsWith("HTTP/1.1 404 "));
  EXPECT_THAT(response, HasSubstr("Content-Type: application/json\r\n"));
  EXPECT_THAT(Body(response),
              StartsWith(R"({"error":{"code":"NOT_FOUND","message":"no admin handler for /nope)"));
}

TEST_F(AdminServerTest, PathMatchIsExact) {
  EXPECT_THAT(RawExchange(admin_.port(), Get("/health/")), StartsWith("HTTP/1.1 404 "));
  EXPECT_THAT(RawExchange(admin_.port(), Get("/healthz")), StartsWith("HTTP/1.1 404 "));
}

TEST_F(AdminServerTest, PostIs405WithAllowHeader) {
  std::string response = RawExchange(
      admin_.port(),
      "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 405 "));
  EXPECT_THAT(response, HasSubstr("Allow: GET, HEAD\r\n"));
  EXPECT_THAT(Body(response), HasSubstr(R"("code":"METHOD_NOT_ALLOWED")"));
}

TEST_F(AdminServerTest, PostUnderARegisteredPrefixReachesItsHandlerWithTheBody) {
  std::string response = RawExchange(admin_.port(),
                                     "POST /routes/r1/weights HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                     "Content-Length: 8\r\nConnection: close\r\n\r\n{\"a\":10}");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 "));
  EXPECT_EQ(Body(response), R"({"path":"/routes/r1/weights","body":{"a":10}})");
}

TEST_F(AdminServerTest, PostWithoutJsonContentTypeIs415) {
  // A browser form can POST text/plain cross-origin without a preflight; it must not reach the handler.
  std::string response = RawExchange(admin_.port(),
                                     "POST /routes/r1/weights HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                                     "Content-Length: 2\r\nConnection: close\r\n\r\n{}");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 415 "));
}

TEST_F(AdminServerTest, DeleteIs405) {
  EXPECT_THAT(
      RawExchange(admin_.port(), "DELETE /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
      StartsWith("HTTP/1.1 405 "));
}

TEST_F(AdminServerTest, HeadSendsHeadersAndLengthButNoBody) {
  std::string response =
      RawExchange(admin_.port(), "HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("Content-Length: 3\r\n"));
  EXPECT_EQ(Body(response), "");
}

TEST_F(AdminServerTest, OversizedHeadersAreRejected) {
  std::string request = "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " +
                        std::string(2 * AdminServer::kMaxHeadersBytes, 'a') +
                        "\r\nConnection: close\r\n\r\n";
  std::string response = RawExchange(admin_.port(), request);
  // evhttp 2.1 answers 400 (some versions 413) or just drops the connection; never the handler's
  // 200.
  EXPECT_THAT(response, ::testing::AnyOf(StartsWith("HTTP/1.1 400 "), StartsWith("HTTP/1.1 413 "),
                                         ::testing::IsEmpty()));
  // The server is still serving afterwards.
  EXPECT_THAT(RawExchange(admin_.port(), Get("/health")), StartsWith("HTTP/1.1 200 OK\r\n"));
}

TEST_F(AdminServerTest, OversizedBodyIsRejected) {
  std::string request = "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                        std::to_string(4 * AdminServer::kMaxBodyBytes) +
                        "\r\nConnection: close\r\n\r\n" +
                        std::string(4 * AdminServer::kMaxBodyBytes, 'b');
  EXPECT_THAT(RawExchange(admin_.port(), request),
              ::testing::AnyOf(StartsWith("HTTP/1.1 413 "), ::testing::IsEmpty()));
}

TEST_F(AdminServerTest, HandlerExceptionBecomes500) {
  std::string response = RawExchange(admin_.port(), Get("/throws"));
  EXPECT_THAT(response, StartsWith("HTTP/1.1 500 "));
  EXPECT_THAT(Body(response), HasSubstr(R"("code":"INTERNAL")"));
}

TEST_F(AdminServerTest, HealthcheckClientSeesHealthAndReadiness) {
  std::ostringstream out;
  EXPECT_EQ(RunHealthcheck(admin_.address(), /*ready=*/false, kDefaultHealthcheckDeadline, out), 0)
      << out.str();
  EXPECT_THAT(out.str(), StartsWith("healthy: GET /health"));
  std::ostringstream ready_out;
  EXPECT_EQ(
      RunHealthcheck(admin_.address(), /*ready=*/true, kDefaultHealthcheckDeadline, ready_out), 1);
  EXPECT_THAT(ready_out.str(), HasSubstr("503"));
  EXPECT_THAT(ready_out.str(), HasSubstr("INITIALIZING"));
}

// Registration tests run without a loop thread: AddHandler belongs to the dispatcher's thread.
class AdminServerRegistrationTest : public ::testing::Test {
 protected:
  RunningAdmin admin_;  // never started
};

TEST_F(AdminServerRegistrationTest, DuplicatePathFails) {
  auto ok = [](const AdminServer::Request&) { return Text(200, "ok"); };
  EXPECT_TRUE(admin_.server().AddHandler("/stats", "first", ok).ok());
  absl::Status dup = admin_.server().AddHandler("/stats", "second", ok);
  EXPECT_EQ(dup.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(dup.message()), HasSubstr("/stats"));
}

TEST_F(AdminServerRegistrationTest, IndexPathIsTaken) {
  EXPECT_EQ(admin_.server()
                .AddHandler("/", "mine", [](const AdminServer::Request&) { return Text(200, ""); })
                .code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(AdminServerRegistrationTest, MalformedPathsAreRejected) {
  auto ok = [](const AdminServer::Request&) { return Text(200, "ok"); };
  EXPECT_EQ(admin_.server().AddHandler("stats", "", ok).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(admin_.server().AddHandler("/stats?x", "", ok).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(admin_.server().AddHandler("", "", ok).code(), absl::StatusCode::kInvalidArgument);
}

TEST(AdminServerCreateTest, PortInUseGivesAnErrorNamingTheAddress) {
  auto dispatcher = event::Dispatcher::Create("admin-test");
  ASSERT_TRUE(dispatcher.ok());
  auto first = AdminServer::Create(config::HostPort{"127.0.0.1", 0}, **dispatcher);
  ASSERT_TRUE(first.ok()) << first.status();
  const uint16_t port = (*first)->port();
  auto second = AdminServer::Create(config::HostPort{"127.0.0.1", port}, **dispatcher);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr("127.0.0.1:" + std::to_string(port)));
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("in use"));
}

TEST(AdminServerCreateTest, BadAddressGivesAnErrorNamingTheAddress) {
  auto dispatcher = event::Dispatcher::Create("admin-test");
  ASSERT_TRUE(dispatcher.ok());
  auto server = AdminServer::Create(config::HostPort{"admin.example.invalid", 9901}, **dispatcher);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("admin.example.invalid:9901"));
}

TEST(AdminServerCreateTest, UnassignedAddressGivesAnErrorNamingTheAddress) {
  auto dispatcher = event::Dispatcher::Create("admin-test");
  ASSERT_TRUE(dispatcher.ok());
  // TEST-NET-1 (RFC 5737) is never a local interface address.
  auto server = AdminServer::Create(config::HostPort{"192.0.2.1", 0}, **dispatcher);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("192.0.2.1:0"));
}

TEST(AdminServerCreateTest, LocalhostAndIpv6LoopbackAreAccepted) {
  auto dispatcher = event::Dispatcher::Create("admin-test");
  ASSERT_TRUE(dispatcher.ok());
  auto v4 = AdminServer::Create(config::HostPort{"localhost", 0}, **dispatcher);
  EXPECT_TRUE(v4.ok()) << v4.status();
  auto v6 = AdminServer::Create(config::HostPort{"::1", 0}, **dispatcher);
  // Containers without IPv6 cannot bind ::1; that must still be a clean error, not a crash.
  if (!v6.ok()) {
    EXPECT_THAT(std::string(v6.status().message()), HasSubstr("[::1]:0"));
  }
}

}  // namespace
}  // namespace sidecar::admin
