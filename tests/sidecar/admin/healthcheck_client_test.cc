#include "sidecar/admin/healthcheck_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sidecar/admin/admin_test_util.h"

namespace sidecar::admin {
namespace {

using ::sidecar::admin::test::BoundSocket;
using ::sidecar::admin::test::RunningAdmin;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// ECS allows the command 2 s; the assertion leaves room for a loaded CI machine.
constexpr milliseconds kMustFinishWithin{2500};

struct Outcome {
  int rc;
  std::string line;
  milliseconds took;
};

Outcome Check(const std::string& address, bool ready,
              milliseconds deadline = kDefaultHealthcheckDeadline) {
  std::ostringstream out;
  const auto start = Clock::now();
  int rc = RunHealthcheck(address, ready, deadline, out);
  return Outcome{rc, out.str(), std::chrono::duration_cast<milliseconds>(Clock::now() - start)};
}

std::string Loopback(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

class HealthcheckClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto respond = [](int status, std::string body) {
      return [status, body](const AdminServer::Request&) {
        http::Response response;
        response.status = status;
        response.body = body;
        return response;
      };
    };
    ASSERT_TRUE(admin_.server().AddHandler("/health", "", respond(200, "LIVE\n")).ok());
    ASSERT_TRUE(admin_.server().AddHandler("/ready", "", respond(503, "DRAINING\n")).ok());
    admin_.Start();
  }

  RunningAdmin admin_;
};

TEST_F(HealthcheckClientTest, Returns0On200) {
  Outcome o = Check(admin_.address(), /*ready=*/false);
  EXPECT_EQ(o.rc, 0) << o.line;
  EXPECT_THAT(o.line, StartsWith("healthy: GET /health on " + admin_.address() + ": 200 OK"));
  EXPECT_EQ(o.line.back(), '\n');
  EXPECT_EQ(o.line.find('\n'), o.line.size() - 1) << "one line";
}

TEST_F(HealthcheckClientTest, Returns1On503AndShowsTheBody) {
  Outcome o = Check(admin_.address(), /*ready=*/true);
  EXPECT_EQ(o.rc, 1);
  EXPECT_THAT(o.line, StartsWith("unhealthy: GET /ready on "));
  EXPECT_THAT(o.line, HasSubstr("503 Service Unavailable: DRAINING"));
  EXPECT_EQ(o.line.find('\n'), o.line.size() - 1) << "one line";
}

TEST_F(HealthcheckClientTest, AcceptsHttpUrlForm) {
  EXPECT_EQ(Check("http://" + admin_.address() + "/", false).rc, 0);
  EXPECT_EQ(Check("localhost:" + std::to_string(admin_.port()), false).rc, 0);
}

TEST(HealthcheckClientFailureTest, ClosedPortFailsFast) {
  BoundSocket not_listening(/*listen_backlog=*/0);  // holds the port so nobody else takes it
  Outcome o = Check(Loopback(not_listening.port()), false);
  EXPECT_EQ(o.rc, 1);
  EXPECT_THAT(o.line, HasSubstr("Connection refused"));
  EXPECT_LT(o.took, kMustFinishWithin);
}

TEST(HealthcheckClientFailureTest, ListenerThatNeverAnswersTimesOutWithinTheDeadline) {
  // The kernel completes the handshake from the backlog; nobody ever accepts, reads or replies.
  BoundSocket silent(/*listen_backlog=*/4);
  Outcome o = Check(Loopback(silent.port()), /*ready=*/true);
  EXPECT_EQ(o.rc, 1);
  EXPECT_THAT(o.line, HasSubstr("timed out waiting for the response"));
  EXPECT_GE(o.took, kDefaultHealthcheckDeadline - milliseconds(5));
  EXPECT_LT(o.took, kMustFinishWithin);
}

TEST(HealthcheckClientFailureTest, PeerThatClosesWithoutAnsweringFails) {
  BoundSocket listener(/*listen_backlog=*/4);
  std::thread closer([&] {
    pollfd p{listener.fd(), POLLIN, 0};
    if (::poll(&p, 1, 2000) == 1) ::close(::accept(listener.fd(), nullptr, nullptr));
  });
  Outcome o = Check(Loopback(listener.port()), false);
  closer.join();
  EXPECT_EQ(o.rc, 1);
  EXPECT_THAT(o.line, ::testing::AnyOf(HasSubstr("closed without a response"),
                                       HasSubstr("Connection reset")));
  EXPECT_LT(o.took, kMustFinishWithin);
}

TEST(HealthcheckClientFailureTest, NonHttpAnswerFails) {
  BoundSocket listener(/*listen_backlog=*/4);
  std::thread answerer([&] {
    pollfd p{listener.fd(), POLLIN, 0};
    if (::poll(&p, 1, 2000) != 1) return;
    int fd = ::accept(listener.fd(), nullptr, nullptr);
    const char kGarbage[] = "SSH-2.0-OpenSSH\r\n";
    ::send(fd, kGarbage, sizeof(kGarbage) - 1, MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    char buf[512];
    p = pollfd{fd, POLLIN, 0};
    while (::poll(&p, 1, 2000) == 1 && ::recv(fd, buf, sizeof(buf), 0) > 0) {
    }
    ::close(fd);
  });
  Outcome o = Check(Loopback(listener.port()), false);
  answerer.join();
  EXPECT_EQ(o.rc, 1);
  EXPECT_THAT(o.line, HasSubstr("malformed HTTP status line"));
}

TEST(HealthcheckClientFailureTest, ShortDeadlineIsHonoured) {
  BoundSocket silent(/*listen_backlog=*/4);
  Outcome o = Check(Loopback(silent.port()), false, milliseconds(100));
  EXPECT_EQ(o.rc, 1);
  EXPECT_LT(o.took, milliseconds(1000));
}

TEST(HealthcheckClientFailureTest, DnsNamesAreRejectedWithoutALookup) {
  Outcome o = Check("admin.example.invalid:9901", false);
  EXPECT_EQ(o.rc, 1);
  EXPECT_THAT(o.line, HasSubstr("literal IP address or localhost"));
  EXPECT_LT(o.took, milliseconds(100));
}

TEST(HealthcheckClientFailureTest, MalformedAddressesFail) {
  for (const char* address : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", ":9901", "::1:9901",
                              "[::1", "127.0.0.1:http"}) {
    Outcome o = Check(address, false);
    EXPECT_EQ(o.rc, 1) << address;
    EXPECT_THAT(o.line, HasSubstr("invalid admin address")) << address;
  }
}

}  // namespace
}  // namespace sidecar::admin
