// Issue 9 item 1: the sidecar's NATS connections over TLS and mTLS, and every way to authenticate
// (user/password, token, NKey seed file), against a real nats-server configured by the test with a
// PKI that openssl makes for the test. Config goes through the real loader (env references and
// *_file secrets), connections through the real nats::BaseOptions / ConnectBlocking /
// Connection::Create.

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sidecar/config/loader.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/nats/connection.h"
#include "sidecar/nats/nkey.h"
#include "sidecar/stats/metrics.h"
#include "tests/integration/security_test_util.h"
#include "tests/test_common/test_util.h"

namespace sidecar::test_common::security {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;


// A signed NATS JWT (the format nsc writes): base64url(header).base64url(claims).base64url(sig),
// signed by the issuer's seed. Enough of the schema for nats-server 2.9's operator mode.
std::string Base64Url(const std::string& data) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : data) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      out.push_back(kAlphabet[(buffer >> (bits - 6)) & 63]);
      bits -= 6;
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 63]);
  return out;
}

std::string Jwt(const nats::NKeyPair& issuer, const std::string& subject, const std::string& name,
                const nlohmann::json& nats_claims) {
  const nlohmann::json claims = {{"jti", absl::StrCat("JTI", subject.substr(0, 20))},
                                 {"iat", absl::ToUnixSeconds(absl::Now())},
                                 {"iss", issuer.public_key},
                                 {"name", name},
                                 {"sub", subject},
                                 {"nats", nats_claims}};
  const std::string signing_input = Base64Url(R"({"typ":"JWT","alg":"ed25519-nkey"})") + "." + Base64Url(claims.dump());
  return signing_input + "." + Base64Url(ValueOrDie(nats::NKeySign(issuer.seed, signing_input)));
}

class SecurityNatsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = ValueOrDie(TempDir::Create("security-nats")).release();
    pki_ = new Pki(ValueOrDie(MakePki(*dir_)));
  }
  static void TearDownTestSuite() {
    delete pki_;
    delete dir_;
  }

  // A nats-server with TLS; `verify` asks for client certificates (mTLS). `extra` is appended.
  static std::unique_ptr<NatsServer> TlsServer(bool verify, const std::string& extra = "") {
    return ValueOrDie(StartNatsWithConfig(
        *dir_, absl::StrCat("tls-", verify, ".conf"),
        absl::StrCat("tls {\n  cert_file: \"", pki_->server_cert, "\"\n  key_file: \"", pki_->server_key,
                     "\"\n  ca_file: \"", pki_->ca_cert, "\"\n  verify: ", verify ? "true" : "false",
                     "\n  timeout: 5\n}\n", extra)));
  }

  // The nats: section of a sidecar config through the real loader; env references resolve from
  // `env` only.
  static absl::StatusOr<config::NatsConfig> Nats(const std::string& nats_yaml,
                                                 std::map<std::string, std::string> env = {}) {
    auto lookup = [env](const std::string& name) -> std::optional<std::string> {
      auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
    absl::StatusOr<config::Config> config = config::LoadFromString("nats:\n" + nats_yaml, lookup);
    if (!config.ok()) return config.status();
    config->nats.connect_timeout_ms = 5000;
    return config->nats;
  }

  static std::string TlsUrl(const NatsServer& server) { return absl::StrCat("tls://localhost:", server.port()); }

  static TempDir* dir_;
  static Pki* pki_;
};
TempDir* SecurityNatsTest::dir_ = nullptr;
Pki* SecurityNatsTest::pki_ = nullptr;

TEST_F(SecurityNatsTest, TlsConnectsWhenTheServerCertificateChainsToTheConfiguredCa) {
  auto server = TlsServer(/*verify=*/false);
  auto cfg = ValueOrDie(Nats(absl::StrCat("  servers: [", TlsUrl(*server), "]\n  tls: {ca_file: ", pki_->ca_cert, "}\n")));
  absl::StatusOr<nats::NatsConnectionPtr> conn = nats::ConnectBlocking(cfg, "tls-test");
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_EQ(natsConnection_Status(conn->get()), NATS_CONN_STATUS_CONNECTED);
}

TEST_F(SecurityNatsTest, TlsSectionMakesANatsUrlSecureToo) {
  auto server = TlsServer(/*verify=*/false);
  auto cfg = ValueOrDie(Nats(absl::StrCat("  servers: [nats://localhost:", server->port(), "]\n  tls: {ca_file: ",
                                          pki_->ca_cert, "}\n")));
  absl::StatusOr<nats::NatsConnectionPtr> conn = nats::ConnectBlocking(cfg, "tls-test");
  ASSERT_TRUE(conn.ok()) << conn.status();
}

TEST_F(SecurityNatsTest, WrongCaFailsWithAnErrorNamingTlsVerification) {
  auto server = TlsServer(/*verify=*/false);
  auto cfg = ValueOrDie(
      Nats(absl::StrCat("  servers: [", TlsUrl(*server), "]\n  tls: {ca_file: ", pki_->other_ca_cert, "}\n")));
  absl::StatusOr<nats::NatsConnectionPtr> conn = nats::ConnectBlocking(cfg, "tls-test");
  ASSERT_FALSE(conn.ok());
  EXPECT_THAT(std::string(conn.status().message()), HasSubstr("TLS verification failed"));

  // The sidecar's own loop connection retries a server that is down, but fails its start on this.
  auto dispatcher = ValueOrDie(event::Dispatcher::Create("tls-test"));
  stats::Metrics metrics;
  auto loop_conn = nats::Connection::Create(cfg, *dispatcher, metrics);
  ASSERT_FALSE(loop_conn.ok());
  EXPECT_THAT(std::string(loop_conn.status().message()), HasSubstr("TLS verification failed"));
}

TEST_F(SecurityNatsTest, HostnameIsVerifiedByDefault) {
  auto server = TlsServer(/*verify=*/false);
  // The certificate names localhost and 127.0.0.1, not this.
  auto cfg = ValueOrDie(Nats(absl::StrCat("  servers: [", TlsUrl(*server), "]\n  tls: {ca_file: ", pki_->ca_cert,
                                          ", server_name: nats.example.com}\n")));
  absl::StatusOr<nats::NatsConnectionPtr> conn = nats::ConnectBlocking(cfg, "tls-test");
  ASSERT_FALSE(conn.ok());
  EXPECT_THAT(std::string(conn.status().message()), HasSubstr("TLS verification failed"));
}

TEST_F(SecurityNatsTest, InsecureSkipVerifyIsTheOnlyWayAroundVerification) {
  auto server = TlsServer(/*verify=*/false);
  auto cfg = ValueOrDie(Nats(absl::StrCat("  servers: [", TlsUrl(*server), "]\n  tls: {ca_file: ", pki_->other_ca_cert,
                                          ", insecure_skip_verify_dangerous: true}\n")));
  ::testing::internal::CaptureStderr();  // where the JSON log lines go
  absl::StatusOr<nats::NatsConnectionPtr> conn = nats::ConnectBlocking(cfg, "tls-test");
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_THAT(log, HasSubstr("DANGER: NATS TLS certificate verification is OFF"));
}

TEST_F(SecurityNatsTest, MutualTlsNeedsTheClientCertificate) {
  auto server = TlsServer(/*verify=*/true);
  auto without = ValueOrDie(
      Nats(absl::StrCat("  servers: [", TlsUrl(*server), "]\n  tls: {ca_file: ", pki_->ca_cert, "}\n")));
  absl::StatusOr<nats::NatsConnectionPtr> refused = nats::ConnectBlocking(without, "mtls-test");
  EXPECT_FALSE(refused.ok());

  auto intruder = ValueOrDie(Nats(absl::StrCat("  servers: [", TlsUrl(*server), "]\n  tls: {ca_file: ", pki_->ca_cert,
                                               ", cert_file: ", pki_->other_client_cert,
                                               ", key_file: ", pki_->other_client_key, "}\n")));
  EXPECT_FALSE(nats::ConnectBlocking(intruder, "mtls-test").ok());

  auto with = ValueOrDie(Nats(absl::StrCat("  servers: [", TlsUrl(*server), "]\n  tls: {ca_file: ", pki_->ca_cert,
                                           ", cert_file: ", pki_->client_cert, ", key_file: ", pki_->client_key,
                                           "}\n")));
  absl::StatusOr<nats::NatsConnectionPtr> conn = nats::ConnectBlocking(with, "mtls-test");
  ASSERT_TRUE(conn.ok()) << conn.status();
}

TEST_F(SecurityNatsTest, MutualTlsFromPemInEnvironmentVariables) {
  // ECS hands SSM SecureString parameters (PEM text) to the container as environment variables.
  auto server = TlsServer(/*verify=*/true);
  auto cfg = ValueOrDie(Nats(absl::StrCat("  servers: [", TlsUrl(*server), "]\n",
                                          "  tls: {ca_pem: '${env:CA}', cert_pem: '${env:CERT}', key_pem: '${env:KEY}'}\n"),
                             {{"CA", ReadFile(pki_->ca_cert)},
                              {"CERT", ReadFile(pki_->client_cert)},
                              {"KEY", ReadFile(pki_->client_key)}}));
  absl::StatusOr<nats::NatsConnectionPtr> conn = nats::ConnectBlocking(cfg, "mtls-env-test");
  ASSERT_TRUE(conn.ok()) << conn.status();
}

TEST_F(SecurityNatsTest, UserAndPasswordFromTheEnvironment) {
  auto server = TlsServer(/*verify=*/false, "authorization { user: svc, password: \"s3cret-pw\" }\n");
  const std::string base = absl::StrCat("  servers: [", TlsUrl(*server), "]\n  tls: {ca_file: ", pki_->ca_cert, "}\n");
  auto good = ValueOrDie(Nats(base + "  user: svc\n  password: ${env:PW}\n", {{"PW", "s3cret-pw"}}));
  absl::StatusOr<nats::NatsConnectionPtr> conn = nats::ConnectBlocking(good, "auth-test");
  ASSERT_TRUE(conn.ok()) << conn.status();

  auto bad = ValueOrDie(Nats(base + "  user: svc\n  password: ${env:PW}\n", {{"PW", "wrong"}}));
  absl::StatusOr<nats::NatsConnectionPtr> refused = nats::ConnectBlocking(bad, "auth-test");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("Authorization"));
  EXPECT_THAT(std::string(refused.status().message()), Not(HasSubstr("wrong")));
}

TEST_F(SecurityNatsTest, TokenFromAFile) {
  auto server = TlsServer(/*verify=*/false, "authorization { token: \"tok-123456\" }\n");
  const std::string token_file = ValueOrDie(dir_->Write("token", "tok-123456\n"));
  auto cfg = ValueOrDie(Nats(absl::StrCat("  servers: [", TlsUrl(*server), "]\n  tls: {ca_file: ", pki_->ca_cert,
                                          "}\n  token_file: ", token_file, "\n")));
  EXPECT_EQ(cfg.token, "tok-123456");  // the trailing newline is not part of it
  absl::StatusOr<nats::NatsConnectionPtr> conn = nats::ConnectBlocking(cfg, "token-test");
  ASSERT_TRUE(conn.ok()) << conn.status();
}

TEST_F(SecurityNatsTest, NKeySeedFileAuthenticatesAndAnotherSeedDoesNot) {
  nats::NKeyPair allowed = ValueOrDie(nats::GenerateNKey(nats::NKeyType::kUser));
  nats::NKeyPair other = ValueOrDie(nats::GenerateNKey(nats::NKeyType::kUser));
  auto server = TlsServer(/*verify=*/false,
                          absl::StrCat("authorization { users = [ { nkey: ", allowed.public_key, " } ] }\n"));
  const std::string base = absl::StrCat("  servers: [", TlsUrl(*server), "]\n  tls: {ca_file: ", pki_->ca_cert, "}\n");

  const std::string seed_file = ValueOrDie(dir_->Write("allowed.nk", allowed.seed + "\n"));
  auto cfg = ValueOrDie(Nats(base + "  nkey_seed_file: " + seed_file + "\n"));
  absl::StatusOr<nats::NatsConnectionPtr> conn = nats::ConnectBlocking(cfg, "nkey-test");
  ASSERT_TRUE(conn.ok()) << conn.status();

  const std::string other_file = ValueOrDie(dir_->Write("other.nk", other.seed + "\n"));
  auto wrong = ValueOrDie(Nats(base + "  nkey_seed_file: " + other_file + "\n"));
  absl::StatusOr<nats::NatsConnectionPtr> refused = nats::ConnectBlocking(wrong, "nkey-test");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), Not(HasSubstr(other.seed)));
}

// nats.c 3.4 sends no signature when the nonce's signature starts with a zero byte, one nonce in
// 256 (nkey.h). A thousand connects in a row, each signing a fresh nonce, meet about four such
// nonces; every connect must still succeed (before the fix all thousand did about once in 50 runs).
TEST_F(SecurityNatsTest, AThousandNKeyConnectsInARowAllSucceed) {
  nats::NKeyPair key = ValueOrDie(nats::GenerateNKey(nats::NKeyType::kUser));
  auto server = ValueOrDie(StartNatsWithConfig(
      *dir_, "nkey-plain.conf", absl::StrCat("authorization { users = [ { nkey: ", key.public_key, " } ] }\n")));
  const std::string seed_file = ValueOrDie(dir_->Write("thousand.nk", key.seed + "\n"));
  auto cfg = ValueOrDie(Nats(absl::StrCat("  servers: [", server->url(), "]\n  nkey_seed_file: ", seed_file, "\n")));
  for (int i = 0; i < 1000; ++i) {
    absl::StatusOr<nats::NatsConnectionPtr> conn = nats::ConnectBlocking(cfg, "nkey-many");
    ASSERT_TRUE(conn.ok()) << "connect " << i << ": " << conn.status();
  }
}

TEST_F(SecurityNatsTest, CredsFileWithAUserJwtAuthenticates) {
  // An operator, an account and a user, as nsc would make them; the server trusts the operator and
  // has the account preloaded (resolver MEMORY).
  const nats::NKeyPair op = ValueOrDie(nats::GenerateNKey(nats::NKeyType::kOperator));
  const nats::NKeyPair account = ValueOrDie(nats::GenerateNKey(nats::NKeyType::kAccount));
  const nats::NKeyPair user = ValueOrDie(nats::GenerateNKey(nats::NKeyType::kUser));
  const nlohmann::json unlimited = {{"subs", -1}, {"data", -1}, {"payload", -1}};
  const std::string operator_jwt = Jwt(op, op.public_key, "op", {{"type", "operator"}, {"version", 2}});
  nlohmann::json account_claims = {{"type", "account"}, {"version", 2}, {"limits", unlimited}};
  account_claims["limits"]["imports"] = -1;
  account_claims["limits"]["exports"] = -1;
  account_claims["limits"]["wildcards"] = true;
  account_claims["limits"]["conn"] = -1;
  account_claims["limits"]["leaf"] = -1;
  const std::string account_jwt = Jwt(op, account.public_key, "fleet", account_claims);
  nlohmann::json user_claims = unlimited;
  user_claims["type"] = "user";
  user_claims["version"] = 2;
  user_claims["pub"] = nlohmann::json::object();
  user_claims["sub"] = nlohmann::json::object();
  const std::string user_jwt = Jwt(account, user.public_key, "settings", user_claims);

  auto server = TlsServer(/*verify=*/false, absl::StrCat("operator: ", operator_jwt, "\nresolver: MEMORY\n",
                                                          "resolver_preload: {\n  ", account.public_key, ": ",
                                                          account_jwt, "\n}\n"));
  const std::string creds = ValueOrDie(dir_->Write(
      "settings.creds", absl::StrCat("-----BEGIN NATS USER JWT-----\n", user_jwt,
                                     "\n------END NATS USER JWT------\n\n"
                                     "************************* IMPORTANT *************************\n"
                                     "NKEY Seed printed below can be used to sign and prove identity.\n\n"
                                     "-----BEGIN USER NKEY SEED-----\n",
                                     user.seed, "\n------END USER NKEY SEED------\n")));
  const std::string base = absl::StrCat("  servers: [", TlsUrl(*server), "]\n  tls: {ca_file: ", pki_->ca_cert, "}\n");
  auto cfg = ValueOrDie(Nats(base + "  credentials_file: " + creds + "\n"));
  absl::StatusOr<nats::NatsConnectionPtr> conn = nats::ConnectBlocking(cfg, "creds-test");
  ASSERT_TRUE(conn.ok()) << conn.status() << "\n" << server->output();

  // The same JWT with another user's seed cannot sign the server's nonce.
  const nats::NKeyPair thief = ValueOrDie(nats::GenerateNKey(nats::NKeyType::kUser));
  const std::string stolen = ValueOrDie(dir_->Write(
      "stolen.creds", absl::StrCat("-----BEGIN NATS USER JWT-----\n", user_jwt, "\n------END NATS USER JWT------\n\n",
                                   "-----BEGIN USER NKEY SEED-----\n", thief.seed, "\n------END USER NKEY SEED------\n")));
  auto wrong = ValueOrDie(Nats(base + "  credentials_file: " + stolen + "\n"));
  EXPECT_FALSE(nats::ConnectBlocking(wrong, "creds-test").ok());
}

TEST_F(SecurityNatsTest, NKeyCodecDerivesThePublicKeyOfItsOwnSeeds) {
  nats::NKeyPair pair = ValueOrDie(nats::GenerateNKey(nats::NKeyType::kUser));
  EXPECT_EQ(pair.seed.size(), 58u);
  EXPECT_EQ(pair.seed.substr(0, 2), "SU");
  EXPECT_EQ(pair.public_key.size(), 56u);
  EXPECT_EQ(pair.public_key[0], 'U');
  EXPECT_EQ(ValueOrDie(nats::NKeyPublicFromSeed(pair.seed)), pair.public_key);
  std::string broken = pair.seed;
  broken[10] = broken[10] == 'A' ? 'B' : 'A';
  absl::StatusOr<std::string> bad = nats::NKeyPublicFromSeed(broken);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), Not(HasSubstr(broken)));
}

}  // namespace
}  // namespace sidecar::test_common::security
