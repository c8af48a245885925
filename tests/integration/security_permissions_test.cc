// Issue 9 item 2: least privilege on NATS. nats-server runs the authorization block that
// config/nats/gen_permissions.py generates from config/nats/services.json (the shipped generator,
// with NKeys made by the test), and real sidecars authenticate with NKey seed files:
//   payment       (B) serves svc.payment.v1.>            a real sidecar hosting the native port
//   settings      (A) a leaf that calls nobody           a real sidecar, plus a raw client holding A's key
//   orchestration (C) calls payment (SERVICES.md §1)    a raw client
// With A's identity nothing of B's can be received (requests, replies) or sent (requests, events,
// forged replies); the sidecars themselves run without a single permission violation.

#include <nats/nats.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sidecar/common/c_handle.h"
#include "sidecar/nats/nkey.h"
#include "tests/integration/security_test_util.h"
#include "tests/test_common/paths.h"
#include "tests/test_common/sidecar_process.h"
#include "tests/test_common/test_util.h"

namespace sidecar::test_common::security {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using NatsConnectionPtr = CHandle<natsConnection, natsConnection_Destroy>;
using NatsOptionsPtr = CHandle<natsOptions, natsOptions_Destroy>;
using NatsSubscriptionPtr = CHandle<natsSubscription, natsSubscription_Destroy>;
using NatsMsgPtr = CHandle<natsMsg, natsMsg_Destroy>;

// A raw nats.c client holding one service's identity, recording the server's async errors
// (permission violations arrive as -ERR, after the SUB/PUB that caused them).
class IdentityClient {
 public:
  static std::unique_ptr<IdentityClient> Connect(const std::string& url, const std::string& seed_file,
                                                 const std::string& inbox_prefix) {
    std::unique_ptr<IdentityClient> c(new IdentityClient());
    natsOptions* raw = nullptr;
    EXPECT_EQ(natsOptions_Create(&raw), NATS_OK);
    NatsOptionsPtr opts(raw);
    natsStatus s = natsOptions_SetURL(opts.get(), url.c_str());
    // Our signer, as the sidecar uses: nats.c's own refuses a valid seed now and then (nkey.h).
    EXPECT_TRUE(nats::SetNKeyFromSeedFile(opts.get(), seed_file).ok());
    if (s == NATS_OK) s = natsOptions_SetCustomInboxPrefix(opts.get(), inbox_prefix.c_str());
    if (s == NATS_OK) s = natsOptions_SetErrorHandler(opts.get(), &IdentityClient::OnError, c.get());
    natsConnection* conn = nullptr;
    if (s == NATS_OK) s = nats::ConnectWithNKeyRetry(&conn, opts.get());
    EXPECT_EQ(s, NATS_OK) << nats_GetLastError(nullptr);
    c->conn_.reset(conn);
    return s == NATS_OK ? std::move(c) : nullptr;
  }

  // A plain or queue subscription counting what it receives.
  void Subscribe(const std::string& subject, const std::string& queue = "") {
    natsSubscription* raw = nullptr;
    natsStatus s = queue.empty()
                       ? natsConnection_Subscribe(&raw, conn_.get(), subject.c_str(), &IdentityClient::OnMsg, this)
                       : natsConnection_QueueSubscribe(&raw, conn_.get(), subject.c_str(), queue.c_str(),
                                                       &IdentityClient::OnMsg, this);
    ASSERT_EQ(s, NATS_OK);
    subs_.emplace_back(raw);
  }
  void Publish(const std::string& subject, const std::string& reply = "") {
    if (reply.empty()) {
      natsConnection_PublishString(conn_.get(), subject.c_str(), "{}");
    } else {
      natsConnection_PublishRequestString(conn_.get(), subject.c_str(), reply.c_str(), "{}");
    }
  }
  // PING/PONG: the server has processed (and answered with -ERR) everything sent before.
  // (After a refused publish nats.c reports the refusal here too; the server has still answered.)
  void Flush() { natsConnection_FlushTimeout(conn_.get(), 5000); }

  // Waits (bounded) for an async error containing `needle`.
  bool WaitForError(const std::string& needle, absl::Duration timeout = absl::Seconds(5)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [&] {
      for (const std::string& e : errors_) {
        if (absl::StrContains(e, needle)) return true;
      }
      return false;
    });
  }
  int received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }
  std::string Errors() {
    std::lock_guard<std::mutex> lock(mu_);
    return absl::StrJoin(errors_, "\n");
  }
  absl::StatusOr<std::string> Request(const std::string& subject, const std::string& data, int timeout_ms = 5000) {
    natsMsg* reply = nullptr;
    natsStatus s = natsConnection_RequestString(&reply, conn_.get(), subject.c_str(), data.c_str(), timeout_ms);
    if (s != NATS_OK) return absl::UnavailableError(absl::StrCat(natsStatus_GetText(s), " ", nats_GetLastError(nullptr)));
    NatsMsgPtr owned(reply);
    return std::string(natsMsg_GetData(reply), natsMsg_GetDataLength(reply));
  }

  ~IdentityClient() {
    for (auto& sub : subs_) natsSubscription_Unsubscribe(sub.get());
    subs_.clear();
    if (conn_ != nullptr) natsConnection_Close(conn_.get());
  }

 private:
  IdentityClient() = default;
  static void OnError(natsConnection* nc, natsSubscription*, natsStatus err, void* closure) noexcept {
    auto* self = static_cast<IdentityClient*>(closure);
    const char* text = nullptr;
    natsConnection_GetLastError(nc, &text);
    std::lock_guard<std::mutex> lock(self->mu_);
    self->errors_.push_back(absl::StrCat(natsStatus_GetText(err), ": ", text != nullptr ? text : ""));
    self->cv_.notify_all();
  }
  static void OnMsg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) noexcept {
    NatsMsgPtr owned(msg);
    auto* self = static_cast<IdentityClient*>(closure);
    std::lock_guard<std::mutex> lock(self->mu_);
    ++self->received_;
  }

  NatsConnectionPtr conn_;
  std::vector<NatsSubscriptionPtr> subs_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> errors_;
  int received_ = 0;
};

struct Identity {
  nats::NKeyPair keys;
  std::string seed_file;
};

class SecurityPermissionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ValueOrDie(TempDir::Create("security-perm"));
    std::vector<std::string> argv = {"/usr/bin/python3", SourceDir() + "/config/nats/gen_permissions.py", "--out",
                                     dir_->File("permissions.conf")};
    for (const char* service : {"settings", "payment", "orchestration"}) {
      Identity id;
      id.keys = ValueOrDie(nats::GenerateNKey(nats::NKeyType::kUser));
      id.seed_file = ValueOrDie(dir_->Write(absl::StrCat(service, ".nk"), id.keys.seed + "\n"));
      argv.push_back("--identity");
      argv.push_back(absl::StrCat(service, "=nkey:", id.keys.public_key));
      ids_[service] = id;
    }
    ASSERT_TRUE(RunTool(argv, dir_->path()).ok());
    NatsServerOptions options;
    options.jetstream = true;  // the state store and events of a native port live in it
    options.extra_args = {"-c", dir_->File("permissions.conf")};
    nats_ = ValueOrDie(NatsServer::Start(options));
  }

  // A real sidecar for `service`, authenticated by its seed file, replies under _INBOX.<service>,
  // hosting the service's native port.
  std::unique_ptr<SidecarProcess> StartSidecar(const std::string& service, const std::string& storage = "memory") {
    SidecarOptions options;
    options.name = service + "-sidecar";
    options.config_yaml = absl::StrCat(R"(admin: {address: "127.0.0.1:0"}
nats:
  servers: [)", nats_->url(), R"(]
  name: )", service, R"(-sidecar
  inbox_prefix: _INBOX.)", service, R"(
  nkey_seed_file: )", ids_[service].seed_file, R"(
clusters:
  - name: native
    native: {services: [)", service, R"(], serve: true, store: )", storage, R"(, events: )", storage, R"(}
)");
    return ValueOrDie(SidecarProcess::Start(options));
  }

  std::unique_ptr<IdentityClient> ClientAs(const std::string& service) {
    return IdentityClient::Connect(nats_->url(), ids_[service].seed_file, "_INBOX." + service);
  }

  std::unique_ptr<TempDir> dir_;
  std::map<std::string, Identity> ids_;
  std::unique_ptr<NatsServer> nats_;
};

TEST_F(SecurityPermissionsTest, ServiceACannotReceiveReadOrSendAsServiceB) {
  auto payment = StartSidecar("payment");    // B
  auto settings = StartSidecar("settings");  // A, a well-behaved sidecar
  auto caller = ClientAs("orchestration");   // C calls B
  ASSERT_NE(caller, nullptr);
  auto a = ClientAs("settings");             // A's identity, misbehaving
  ASSERT_NE(a, nullptr);

  // nats.c keeps one error text per connection, so each forbidden step runs on its own connection
  // and its refusal is read back exactly.
  auto expect_denied = [&](const std::function<void(IdentityClient&)>& step, const std::string& refusal) {
    auto probe = ClientAs("settings");
    ASSERT_NE(probe, nullptr);
    step(*probe);
    probe->Flush();
    EXPECT_TRUE(probe->WaitForError(refusal)) << "expected: " << refusal << "\ngot: " << probe->Errors();
  };
  // Cannot receive B's requests: neither by joining B's queue group nor by listening beside it.
  expect_denied([](IdentityClient& c) { c.Subscribe("svc.payment.v1.>", "svc-payment-workers"); },
                "Permissions Violation for Subscription to \"svc.payment.v1.>\" using queue \"svc-payment-workers\"");
  expect_denied([](IdentityClient& c) { c.Subscribe("svc.payment.v1.>"); },
                "Permissions Violation for Subscription to \"svc.payment.v1.>\"");
  // Cannot read B's replies, nor those of B's caller.
  expect_denied([](IdentityClient& c) { c.Subscribe("_INBOX.payment.>"); },
                "Permissions Violation for Subscription to \"_INBOX.payment.>\"");
  expect_denied([](IdentityClient& c) { c.Subscribe("_INBOX.orchestration.>"); },
                "Permissions Violation for Subscription to \"_INBOX.orchestration.>\"");
  // Cannot publish as B: B's requests (A calls nobody), B's events, a forged reply to B's caller.
  expect_denied([](IdentityClient& c) { c.Publish("svc.payment.v1.health", "_INBOX.settings.x"); },
                "Permissions Violation for Publish to \"svc.payment.v1.health\"");
  expect_denied([](IdentityClient& c) { c.Publish("evt.payment.v1.wallet_credited"); },
                "Permissions Violation for Publish to \"evt.payment.v1.wallet_credited\"");
  expect_denied([](IdentityClient& c) { c.Publish("_INBOX.orchestration.forged"); },
                "Permissions Violation for Publish to \"_INBOX.orchestration.forged\"");

  // And it gets nothing while C and B talk: A listens everywhere it might.
  for (const char* subject : {"svc.>", "svc.payment.v1.>", "_INBOX.>", "_INBOX.payment.>", "_INBOX.orchestration.>"}) {
    a->Subscribe(subject);
  }
  a->Subscribe("svc.payment.v1.>", "svc-payment-workers");
  a->Flush();
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<std::string> reply = caller->Request("svc.payment.v1.health", "{}");
    ASSERT_TRUE(reply.ok()) << reply.status() << "\n" << payment->output();
    EXPECT_THAT(*reply, HasSubstr("service payment"));  // B's own answer (health is not an action of it)
  }
  a->Flush();
  EXPECT_EQ(a->received(), 0);

  // The generated permissions fit what the sidecars really do: no violation in their logs.
  EXPECT_THAT(payment->output(), Not(HasSubstr("Permissions Violation")));
  EXPECT_THAT(settings->output(), Not(HasSubstr("Permissions Violation")));
  EXPECT_THAT(payment->output(), Not(HasSubstr("nats async error")));
}

TEST_F(SecurityPermissionsTest, ACallerReachesOnlyTheServicesItCalls) {
  auto payment = StartSidecar("payment");
  auto settings = StartSidecar("settings");
  auto caller = ClientAs("orchestration");
  ASSERT_NE(caller, nullptr);
  ASSERT_TRUE(caller->Request("svc.payment.v1.health", "{}").ok());
  // orchestration does not call settings (SERVICES.md §1): the request never leaves.
  absl::StatusOr<std::string> refused = caller->Request("svc.settings.v1.health", "{}", /*timeout_ms=*/500);
  EXPECT_FALSE(refused.ok());
  EXPECT_TRUE(caller->WaitForError("Permissions Violation for Publish to \"svc.settings.v1.health\"")) << caller->Errors();
}

TEST_F(SecurityPermissionsTest, JetStreamStateAndEventsWorkWithinTheGrants) {
  // The KV bucket svc-state and the EVENTS stream are created, read and watched through the
  // JetStream API grants of the generated block (the sidecar fails its start if one is refused).
  auto payment = StartSidecar("payment", "jetstream");
  auto caller = ClientAs("orchestration");
  ASSERT_NE(caller, nullptr);
  ASSERT_TRUE(caller->Request("svc.payment.v1.health", "{}").ok());
  EXPECT_THAT(payment->output(), Not(HasSubstr("Permissions Violation")));
  EXPECT_THAT(payment->output(), Not(HasSubstr("nats async error")));
}

}  // namespace
}  // namespace sidecar::test_common::security
