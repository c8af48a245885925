// Self-test of the real-process test environment (tests/test_common): child processes, the real
// nats-server and the legacy FastAPI stand-in, driven the way integration tests will drive them.

#include <fcntl.h>
#include <nats/nats.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <regex>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sidecar/common/c_handle.h"
#include "tests/test_common/http_client.h"
#include "tests/test_common/legacy_service.h"
#include "tests/test_common/nats_server.h"
#include "tests/test_common/net.h"
#include "tests/test_common/paths.h"
#include "tests/test_common/process.h"
#include "tests/test_common/test_util.h"

namespace sidecar::test_common {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

using NatsConnectionPtr = CHandle<natsConnection, natsConnection_Destroy>;
using NatsOptionsPtr = CHandle<natsOptions, natsOptions_Destroy>;
using NatsSubscriptionPtr = CHandle<natsSubscription, natsSubscription_Destroy>;
using NatsMsgPtr = CHandle<natsMsg, natsMsg_Destroy>;

// ---------------------------------------------------------------------------------------------
// Process

ProcessOptions Shell(const std::string& script) {
  ProcessOptions options;
  options.argv = {"/bin/sh", "-c", script};
  options.name = "sh";
  return options;
}

// A close-on-exec pipe whose ends are numbered 3 or above (the test may run with stdin closed).
void MakePipe(UniqueFd* read_end, UniqueFd* write_end) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  *read_end = ValueOrDie(AboveStdio(UniqueFd(fds[0])));
  *write_end = ValueOrDie(AboveStdio(UniqueFd(fds[1])));
}

// A shell that runs `script`, then idles without using CPU until the test lets go: it blocks
// reading a pipe whose write end `*hold` keeps open (closing it, or killing the child, ends it).
ProcessOptions IdleShell(const std::string& script, UniqueFd* hold, UniqueFd* read_end) {
  MakePipe(read_end, hold);
  ProcessOptions options =
      Shell(absl::StrCat(script, "; exec cat <&", read_end->get(), " >/dev/null"));
  options.inherit_fds = {read_end->get()};
  return options;
}

TEST(ProcessTest, CapturesStdoutAndStderrAndReportsExitCode) {
  auto process = ValueOrDie(Process::Spawn(Shell("echo to-out; echo to-err >&2; exit 3")));
  EXPECT_TRUE(process->WaitForOutput("to-out", In(absl::Seconds(10))).ok());
  EXPECT_TRUE(process->WaitForOutput("to-err", In(absl::Seconds(10))).ok());
  ExitStatus status = ValueOrDie(process->Wait(In(absl::Seconds(10))));
  EXPECT_FALSE(status.signaled);
  EXPECT_EQ(status.code, 3);
  EXPECT_FALSE(process->running());
}

TEST(ProcessTest, WaitForMatchReturnsGroups) {
  auto process = ValueOrDie(Process::Spawn(Shell("echo 'listening on port 4711'")));
  auto groups = process->WaitForMatch(std::regex("port ([0-9]+)"), In(absl::Seconds(10)));
  ASSERT_TRUE(groups.ok()) << groups.status();
  ASSERT_EQ(groups->size(), 2u);
  EXPECT_EQ((*groups)[1], "4711");
}

TEST(ProcessTest, WaitForOutputFailsFastWhenTheChildExitsWithoutTheLine) {
  auto process = ValueOrDie(Process::Spawn(Shell("echo something-else")));
  absl::Time start = absl::Now();
  absl::Status status = process->WaitForOutput("never printed", In(absl::Seconds(30)));
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("something-else"));  // output attached
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(ProcessTest, WaitForOutputTimesOutAtTheDeadline) {
  UniqueFd hold, read_end;
  auto process = ValueOrDie(Process::Spawn(IdleShell("echo started", &hold, &read_end)));
  ASSERT_TRUE(process->WaitForOutput("started", In(absl::Seconds(10))).ok());
  absl::Status status = process->WaitForOutput("never printed", In(absl::Milliseconds(100)));
  EXPECT_TRUE(absl::IsDeadlineExceeded(status)) << status;
  EXPECT_TRUE(process->running());
}

TEST(ProcessTest, TerminateDeliversSigterm) {
  UniqueFd hold, read_end;
  auto process = ValueOrDie(Process::Spawn(IdleShell("echo up", &hold, &read_end)));
  ASSERT_TRUE(process->WaitForOutput("up", In(absl::Seconds(10))).ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(process->Wait(In(absl::Milliseconds(50))).status()));
  ExitStatus status = ValueOrDie(process->Terminate(In(absl::Seconds(10))));
  EXPECT_TRUE(status.signaled);
  EXPECT_EQ(status.signal, SIGTERM);
}

TEST(ProcessTest, KillReachesTheWholeProcessGroup) {
  // The grandchild (cat) holds the output pipe too: the pipe only closes when it dies as well.
  UniqueFd read_end, hold;
  MakePipe(&read_end, &hold);
  ProcessOptions options = Shell(absl::StrCat("cat <&", read_end.get(), " & echo forked; wait"));
  options.inherit_fds = {read_end.get()};
  auto process = ValueOrDie(Process::Spawn(std::move(options)));
  ASSERT_TRUE(process->WaitForOutput("forked", In(absl::Seconds(10))).ok());
  ASSERT_TRUE(process->Kill().ok());
  EXPECT_TRUE(ValueOrDie(process->Wait(In(absl::Seconds(10)))).signaled);
  absl::Status status = process->WaitForOutput("never printed", In(absl::Seconds(10)));
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
}

TEST(ProcessTest, PassesEnvironmentAndInheritedDescriptors) {
  UniqueFd read_end, write_end;
  MakePipe(&read_end, &write_end);
  ProcessOptions options =
      Shell(absl::StrCat("echo \"$GREETING\"; echo via-fd >&", write_end.get()));
  options.env = {{"GREETING", "hello-from-env"}};
  options.inherit_fds = {write_end.get()};
  auto process = ValueOrDie(Process::Spawn(std::move(options)));
  EXPECT_TRUE(process->WaitForOutput("hello-from-env", In(absl::Seconds(10))).ok());
  EXPECT_TRUE(ValueOrDie(process->Wait(In(absl::Seconds(10)))).success());
  write_end.Reset();
  char buffer[64] = {};
  ASSERT_GT(read(read_end.get(), buffer, sizeof(buffer) - 1), 0);
  EXPECT_EQ(std::string(buffer), "via-fd\n");
}

TEST(ProcessTest, DoesNotLeakOtherDescriptorsToTheChild) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);  // deliberately NOT close-on-exec
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fcntl(fds[1], F_DUPFD, 3));  // above 0-2 even with stdin closed
  close(fds[1]);
  auto process = ValueOrDie(Process::Spawn(Shell(absl::StrCat(
      "if [ -e /proc/self/fd/", write_end.get(), " ]; then echo leaked; else echo clean; fi"))));
  EXPECT_TRUE(process->WaitForOutput("clean", In(absl::Seconds(10))).ok()) << process->output();
}

TEST(ProcessTest, SpawnReportsAMissingProgram) {
  ProcessOptions options;
  options.argv = {"/nonexistent/program"};
  EXPECT_FALSE(Process::Spawn(std::move(options)).ok());
  options.argv = {"no-such-program-in-path-sidecar"};
  EXPECT_TRUE(absl::IsNotFound(Process::Spawn(std::move(options)).status()));
}

TEST(ProcessTest, ChildDiesWithTheThreadThatSpawnedIt) {
  std::unique_ptr<Process> process;
  UniqueFd hold, read_end;
  std::thread spawner([&] {
    process = ValueOrDie(Process::Spawn(IdleShell("echo up", &hold, &read_end)));
    ASSERT_TRUE(process->WaitForOutput("up", In(absl::Seconds(10))).ok());
  });
  spawner.join();  // PR_SET_PDEATHSIG fires when the spawning thread exits
  ExitStatus status = ValueOrDie(process->Wait(In(absl::Seconds(10))));
  EXPECT_TRUE(status.signaled);
  EXPECT_EQ(status.signal, SIGKILL);
}

TEST(ProcessTest, DestructorKillsAndReaps) {
  pid_t pid;
  {
    UniqueFd hold, read_end;
    auto process = ValueOrDie(Process::Spawn(IdleShell("true", &hold, &read_end)));
    pid = process->pid();
    EXPECT_EQ(kill(pid, 0), 0);
  }
  EXPECT_NE(kill(pid, 0), 0);  // reaped: the pid no longer exists (not even as a zombie)
}

// ---------------------------------------------------------------------------------------------
// nats-server

class NatsClient {
 public:
  // Connects with fast reconnects so tests can observe a restarted server.
  static absl::StatusOr<std::unique_ptr<NatsClient>> Connect(const std::string& url) {
    auto client = std::unique_ptr<NatsClient>(new NatsClient());
    natsOptions* raw_options = nullptr;
    if (natsOptions_Create(&raw_options) != NATS_OK) return absl::InternalError("options");
    NatsOptionsPtr options(raw_options);
    natsOptions_SetURL(options.get(), url.c_str());
    natsOptions_SetMaxReconnect(options.get(), -1);
    natsOptions_SetReconnectWait(options.get(), 20);
    natsOptions_SetReconnectedCB(options.get(), &NatsClient::OnReconnected, client.get());
    natsConnection* conn = nullptr;
    natsStatus s = natsConnection_Connect(&conn, options.get());
    if (s != NATS_OK) {
      return absl::UnavailableError(absl::StrCat("connect ", url, ": ", natsStatus_GetText(s)));
    }
    client->conn_.reset(conn);
    return client;
  }

  natsConnection* get() { return conn_.get(); }
  absl::Notification& reconnected() { return reconnected_; }

  // Answers every request on `subject` with "echo:" + payload.
  absl::Status ServeEcho(const std::string& subject) {
    natsSubscription* sub = nullptr;
    natsStatus s = natsConnection_Subscribe(&sub, conn_.get(), subject.c_str(),
                                            &NatsClient::OnEchoRequest, nullptr);
    if (s != NATS_OK) return absl::InternalError(natsStatus_GetText(s));
    subscription_.reset(sub);
    if (natsConnection_Flush(conn_.get()) != NATS_OK) return absl::InternalError("flush");
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Request(const std::string& subject, const std::string& payload) {
    natsMsg* reply = nullptr;
    natsStatus s =
        natsConnection_RequestString(&reply, conn_.get(), subject.c_str(), payload.c_str(), 5000);
    if (s != NATS_OK) return absl::UnavailableError(natsStatus_GetText(s));
    NatsMsgPtr owned(reply);
    return std::string(natsMsg_GetData(reply), static_cast<size_t>(natsMsg_GetDataLength(reply)));
  }

  ~NatsClient() {
    subscription_.reset();
    conn_.reset();
  }

 private:
  NatsClient() = default;

  static void OnReconnected(natsConnection*, void* closure) noexcept {
    auto* client = static_cast<NatsClient*>(closure);
    if (!client->reconnected_.HasBeenNotified()) client->reconnected_.Notify();
  }

  static void OnEchoRequest(natsConnection* conn, natsSubscription*, natsMsg* msg, void*) noexcept {
    NatsMsgPtr owned(msg);
    std::string reply = absl::StrCat(
        "echo:",
        absl::string_view(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg))));
    if (natsMsg_GetReply(msg) != nullptr) {
      natsConnection_PublishString(conn, natsMsg_GetReply(msg), reply.c_str());
    }
  }

  NatsConnectionPtr conn_;
  NatsSubscriptionPtr subscription_;
  absl::Notification reconnected_;
};

TEST(NatsServerTest, ServesRequestReplyOnLoopback) {
  auto server = ValueOrDie(NatsServer::Start());
  EXPECT_GT(server->port(), 0);
  EXPECT_EQ(server->url(), absl::StrCat("nats://127.0.0.1:", server->port()));
  auto client = ValueOrDie(NatsClient::Connect(server->url()));
  ASSERT_TRUE(client->ServeEcho("svc.test.v1.echo").ok());
  EXPECT_EQ(ValueOrDie(client->Request("svc.test.v1.echo", "ping")), "echo:ping");
}

TEST(NatsServerTest, KillThenRestartKeepsThePortAndClientsReconnect) {
  auto server = ValueOrDie(NatsServer::Start());
  const int port = server->port();
  auto client = ValueOrDie(NatsClient::Connect(server->url()));
  ASSERT_TRUE(client->ServeEcho("svc.test.v1.echo").ok());

  ASSERT_TRUE(server->Kill().ok());
  EXPECT_FALSE(server->running());
  EXPECT_FALSE(NatsClient::Connect(server->url()).ok());  // nothing listens any more

  ASSERT_TRUE(server->Restart().ok()) << server->output();
  EXPECT_EQ(server->port(), port);
  ASSERT_TRUE(client->reconnected().WaitForNotificationWithTimeout(absl::Seconds(20)));
  // The subscription is replayed on reconnect.
  EXPECT_EQ(ValueOrDie(client->Request("svc.test.v1.echo", "again")), "echo:again");
}

TEST(NatsServerTest, GracefulStopAndRestart) {
  auto server = ValueOrDie(NatsServer::Start());
  const int port = server->port();
  ASSERT_TRUE(server->Stop().ok());
  EXPECT_FALSE(server->running());
  ASSERT_TRUE(server->Restart().ok()) << server->output();
  EXPECT_EQ(server->port(), port);
  auto client = ValueOrDie(NatsClient::Connect(server->url()));
  ASSERT_TRUE(client->ServeEcho("svc.test.v1.echo").ok());
  EXPECT_EQ(ValueOrDie(client->Request("svc.test.v1.echo", "x")), "echo:x");
}

TEST(NatsServerTest, JetStreamUsesAPrivateStoreThatIsRemovedAfterwards) {
  std::string store;
  {
    NatsServerOptions options;
    options.jetstream = true;
    auto server = ValueOrDie(NatsServer::Start(options));
    store = server->store_dir();
    ASSERT_FALSE(store.empty());
    struct stat st;
    EXPECT_EQ(stat(store.c_str(), &st), 0);
    auto client = ValueOrDie(NatsClient::Connect(server->url()));
    std::string info = ValueOrDie(client->Request("$JS.API.INFO", ""));
    EXPECT_THAT(info, HasSubstr("account_info_response"));
    ASSERT_TRUE(server->Restart().ok());
    EXPECT_EQ(server->store_dir(), store);
  }
  struct stat st;
  EXPECT_NE(stat(store.c_str(), &st), 0);
}

TEST(NatsServerTest, RestartRetriesThenFailsWhenThePortStaysTaken) {
  auto server = ValueOrDie(NatsServer::Start());
  ASSERT_TRUE(server->Kill().ok());
  // Another process grabs the port while the server is down.
  auto squatter = ListenOnLoopback(server->port());
  ASSERT_TRUE(squatter.ok()) << squatter.status();
  absl::Status status = server->Restart();
  EXPECT_TRUE(absl::IsAlreadyExists(status)) << status;
  squatter->Reset();
  ASSERT_TRUE(server->Restart().ok()) << server->output();
}

TEST(NatsServerTest, TwoServersGetDifferentPorts) {
  auto a = ValueOrDie(NatsServer::Start());
  auto b = ValueOrDie(NatsServer::Start());
  EXPECT_NE(a->port(), b->port());
}

// ---------------------------------------------------------------------------------------------
// Legacy FastAPI stand-in

Json ParseJson(const std::string& text) {
  Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(json.is_discarded()) << text;
  return json;
}

TEST(LegacyServiceTest, ServesHealthEchoAndStatusRoutes) {
  auto legacy = ValueOrDie(LegacyService::Start());
  EXPECT_EQ(legacy->address(), absl::StrCat("127.0.0.1:", legacy->port()));

  HttpResponse health = ValueOrDie(HttpGet(legacy->address(), "/health", In(absl::Seconds(10))));
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(ParseJson(health.body),
            Json::parse(R"({"status":"ok","service":"legacy","version":"1.0.0"})"));
  HttpResponse service_health =
      ValueOrDie(HttpGet(legacy->address(), "/api/settings/health", In(absl::Seconds(10))));
  EXPECT_EQ(ParseJson(service_health.body)["service"], "settings");

  HttpResponse echo =
      ValueOrDie(HttpRequest(legacy->address(), "PUT", "/echo/a/b%20c?x=1&y=2",
                             {{"X-Custom", "v1"}}, "payload", In(absl::Seconds(10))));
  ASSERT_EQ(echo.status, 200);
  Json echoed = ParseJson(echo.body);
  EXPECT_EQ(echoed["method"], "PUT");
  EXPECT_EQ(echoed["path"], "/echo/a/b%20c");
  EXPECT_EQ(echoed["query"], "x=1&y=2");
  EXPECT_EQ(echoed["headers"]["x-custom"], "v1");
  EXPECT_EQ(echoed["body"], "payload");

  HttpResponse not_found =
      ValueOrDie(HttpGet(legacy->address(), "/status/404", In(absl::Seconds(10))));
  EXPECT_EQ(not_found.status, 404);
  EXPECT_EQ(ParseJson(not_found.body),
            Json::parse(R"({"error":{"code":"NOT_FOUND","message":"status 404","details":{}}})"));
  HttpResponse plain =
      ValueOrDie(HttpGet(legacy->address(), "/status/503?plain=1", In(absl::Seconds(10))));
  EXPECT_EQ(plain.status, 503);
  EXPECT_EQ(plain.body, "boom");
  EXPECT_THAT(plain.Header("content-type"), HasSubstr("text/plain"));

  HttpResponse slow = ValueOrDie(HttpGet(legacy->address(), "/slow/20", In(absl::Seconds(10))));
  EXPECT_EQ(slow.status, 200);
  // A deadline shorter than the upstream's delay is reported as such.
  EXPECT_TRUE(absl::IsDeadlineExceeded(
      HttpGet(legacy->address(), "/slow/5000", In(absl::Milliseconds(100))).status()));

  // Health checks and /admin are not counted; everything else above is (5 requests).
  HttpResponse counter = ValueOrDie(HttpGet(legacy->address(), "/counter", In(absl::Seconds(10))));
  Json counted = ParseJson(counter.body);
  EXPECT_EQ(counted["count"], 5);
  EXPECT_GT(counted["pid"].get<int>(), 0);
}

TEST(LegacyServiceTest, HealthCanBeForcedToFail) {
  auto legacy = ValueOrDie(LegacyService::Start());
  auto post = [&](const std::string& path) {
    return ValueOrDie(HttpPostJson(legacy->address(), path, "", In(absl::Seconds(10)))).status;
  };
  EXPECT_EQ(post("/admin/health/fail"), 200);
  HttpResponse failing = ValueOrDie(HttpGet(legacy->address(), "/health", In(absl::Seconds(10))));
  EXPECT_EQ(failing.status, 503);
  EXPECT_EQ(ParseJson(failing.body)["error"]["code"], "UNAVAILABLE");
  EXPECT_EQ(post("/admin/health/ok"), 200);
  EXPECT_EQ(ValueOrDie(HttpGet(legacy->address(), "/health", In(absl::Seconds(10)))).status, 200);
}

TEST(LegacyServiceTest, KillRefusesConnectionsAndRestartKeepsThePort) {
  auto legacy = ValueOrDie(LegacyService::Start());
  const int port = legacy->port();
  ASSERT_TRUE(legacy->Kill().ok());
  EXPECT_FALSE(legacy->running());
  auto refused = HttpGet(legacy->address(), "/health", In(absl::Seconds(10)));
  EXPECT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();

  ASSERT_TRUE(legacy->Restart().ok()) << legacy->output();
  EXPECT_EQ(legacy->port(), port);
  EXPECT_EQ(ValueOrDie(HttpGet(legacy->address(), "/health", In(absl::Seconds(10)))).status, 200);
  ASSERT_TRUE(legacy->Stop().ok());
  EXPECT_FALSE(legacy->running());
}

// SERVICES.md §2.2 examples 1 and 2, against the "Given" fixture.
TEST(LegacyServiceTest, SettingsMatchesTheSpecExamples) {
  LegacyServiceOptions options;
  options.env = {{"LEGACY_SETTINGS_PRESET", "spec_example"}};
  auto legacy = ValueOrDie(LegacyService::Start(options));
  const HttpHeaders headers = {{"X-Principal", "player:pl_a8694c9d17e9b948"},
                               {"X-Request-Time", "2025-11-20T12:00:00.000Z"},
                               {"Content-Type", "application/json"}};

  HttpResponse layered = ValueOrDie(HttpRequest(legacy->address(), "GET",
                                                "/api/settings/players/pl_a8694c9d17e9b948"
                                                "?platform=mobile",
                                                headers, "", In(absl::Seconds(10))));
  EXPECT_EQ(layered.status, 200);
  // Byte for byte, as the spec prints it.
  EXPECT_EQ(layered.body,
            R"({"player_id":"pl_a8694c9d17e9b948","platform":"mobile","values":)"
            R"({"audio.master_volume":55,"gameplay.subtitles":false,"graphics.quality":"low"},)"
            R"("sources":{"audio.master_volume":"player","gameplay.subtitles":"default",)"
            R"("graphics.quality":"platform"},"revision":3})");

  HttpResponse set = ValueOrDie(HttpRequest(
      legacy->address(), "POST", "/api/settings/players/pl_a8694c9d17e9b948/values", headers,
      R"({"platform":"pc","expected_revision":3,)"
      R"("values":{"audio.master_volume":80,"gameplay.subtitles":true}})",
      In(absl::Seconds(10))));
  EXPECT_EQ(set.status, 200);
  EXPECT_EQ(set.body, R"({"revision":4,"stored":{"gameplay.subtitles":true}})");

  // Replaying the same write now fails the revision check (§2.2 rule 5).
  HttpResponse stale = ValueOrDie(HttpRequest(
      legacy->address(), "POST", "/api/settings/players/pl_a8694c9d17e9b948/values", headers,
      R"({"expected_revision":3,"values":{"gameplay.subtitles":true}})", In(absl::Seconds(10))));
  EXPECT_EQ(stale.status, 422);
  EXPECT_EQ(ParseJson(stale.body),
            Json::parse(R"({"error":{"code":"FAILED_PRECONDITION","message":"revision mismatch",
                "details":{"reason":"revision_mismatch","current_revision":"4"}}})"));

  // Another player's settings are off limits; no principal at all is UNAUTHENTICATED.
  HttpResponse denied =
      ValueOrDie(HttpRequest(legacy->address(), "GET", "/api/settings/players/pl_0000000000000000",
                             headers, "", In(absl::Seconds(10))));
  EXPECT_EQ(denied.status, 403);
  HttpResponse anonymous = ValueOrDie(HttpGet(
      legacy->address(), "/api/settings/players/pl_a8694c9d17e9b948", In(absl::Seconds(10))));
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(ParseJson(anonymous.body)["error"]["code"], "UNAUTHENTICATED");
}

TEST(LegacyServiceTest, TwoInstancesAreIndependent) {
  auto a = ValueOrDie(LegacyService::Start());
  auto b = ValueOrDie(LegacyService::Start());
  EXPECT_NE(a->port(), b->port());
  Json pid_a = ParseJson(ValueOrDie(HttpGet(a->address(), "/counter", In(absl::Seconds(10)))).body);
  Json pid_b = ParseJson(ValueOrDie(HttpGet(b->address(), "/counter", In(absl::Seconds(10)))).body);
  EXPECT_NE(pid_a["pid"], pid_b["pid"]);
}

TEST(LegacyServiceTest, StartFailsWithTheAppOutputWhenTheAppIsBroken) {
  LegacyServiceOptions options;
  options.app = "no_such_module:app";
  options.startup_timeout = absl::Seconds(20);
  auto legacy = LegacyService::Start(options);
  ASSERT_FALSE(legacy.ok());
  EXPECT_TRUE(absl::IsUnavailable(legacy.status())) << legacy.status();
  EXPECT_THAT(std::string(legacy.status().message()), HasSubstr("no_such_module"));
}

// ---------------------------------------------------------------------------------------------
// Helpers

TEST(PathsTest, FindTheSourceTreeAndTheBuiltBinaries) {
  struct stat st;
  EXPECT_EQ(stat((SourceDir() + "/tests/legacy/app.py").c_str(), &st), 0) << SourceDir();
  EXPECT_EQ(stat(BinaryPath("test_env_test").c_str(), &st), 0) << BinaryDir();
}

TEST(NetTest, PickUnusedPortReturnsABindablePort) {
  int port = ValueOrDie(PickUnusedPort());
  EXPECT_GT(port, 0);
  auto listener = ListenOnLoopback(port);
  EXPECT_TRUE(listener.ok()) << listener.status();
}

TEST(HttpClientTest, ReportsRefusedConnectionsAndBadAddresses) {
  int port = ValueOrDie(PickUnusedPort());
  EXPECT_TRUE(
      absl::IsUnavailable(HttpGet(LoopbackAddress(port), "/", In(absl::Seconds(5))).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(HttpGet("nonsense", "/", In(absl::Seconds(5))).status()));
}

}  // namespace
}  // namespace sidecar::test_common
