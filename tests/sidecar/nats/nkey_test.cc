// NKey signing (sidecar/nats/nkey.h) against nats.c's own signer, which is the independent
// implementation at hand: where nats.c signs, both must give the same Ed25519 signature, and ours
// must sign every time (nats.c's signer now and then reports "invalid seed" for a valid one: nkey.h).

#include "sidecar/nats/nkey.h"

#include <nats/nats.h>

#include <cstdlib>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "tests/integration/security_test_util.h"
#include "tests/test_common/test_util.h"

namespace sidecar::nats {
namespace {

using test_common::ValueOrDie;
using test_common::security::TempDir;

std::string RandomNonce(std::mt19937& rng) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string nonce(22, ' ');
  for (char& c : nonce) c = kAlphabet[rng() % 64];
  return nonce;
}

TEST(NKeyTest, SignsEveryNonceAsNatsCDoesWhereNatsCSigns) {
  const NKeyPair key = ValueOrDie(GenerateNKey(NKeyType::kUser));
  std::mt19937 rng(20261203);
  int compared = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::string nonce = RandomNonce(rng);
    absl::StatusOr<std::string> ours = NKeySign(key.seed, nonce);
    ASSERT_TRUE(ours.ok()) << "nonce " << i << ": " << ours.status();
    ASSERT_EQ(ours->size(), 64u);
    unsigned char* theirs = nullptr;
    int theirs_len = 0;
    if (nats_Sign(key.seed.c_str(), nonce.c_str(), &theirs, &theirs_len) != NATS_OK) continue;
    ++compared;
    EXPECT_EQ(*ours, std::string(reinterpret_cast<const char*>(theirs), theirs_len)) << "nonce " << nonce;
    free(theirs);
  }
  EXPECT_GT(compared, 990);  // nats.c refuses about one in 2,000-20,000
}

TEST(NKeyTest, ACredsFileGivesItsJwtAndItsSeed) {
  const NKeyPair key = ValueOrDie(GenerateNKey(NKeyType::kUser));
  auto dir = ValueOrDie(TempDir::Create("nkey-test"));
  const std::string jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVIn0.c2ln";
  const std::string creds = ValueOrDie(dir->Write(
      "user.creds", "-----BEGIN NATS USER JWT-----\n" + jwt +
                        "\n------END NATS USER JWT------\n\n************************* IMPORTANT "
                        "*************************\nNKEY Seed printed below can be used to sign and prove "
                        "identity.\n\n-----BEGIN USER NKEY SEED-----\n" +
                        key.seed + "\n------END USER NKEY SEED------\n"));
  EXPECT_EQ(ValueOrDie(ReadCredsJwt(creds)), jwt);
  EXPECT_EQ(ValueOrDie(ReadSeedFile(creds)), key.seed);

  const std::string no_jwt = ValueOrDie(dir->Write("seed-only.creds", key.seed + "\n"));
  EXPECT_EQ(ReadCredsJwt(no_jwt).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadCredsJwt(dir->path() + "/absent.creds").status().code(), absl::StatusCode::kNotFound);
}

TEST(NKeyTest, OptionsRefuseAFileWithoutAUsableKeyNamingTheFileNotItsContents) {
  auto dir = ValueOrDie(TempDir::Create("nkey-test"));
  natsOptions* opts = nullptr;
  ASSERT_EQ(natsOptions_Create(&opts), NATS_OK);
  const NKeyPair account = ValueOrDie(GenerateNKey(NKeyType::kAccount));
  const std::string wrong_type = ValueOrDie(dir->Write("account.nk", account.seed + "\n"));
  absl::Status s = SetNKeyFromSeedFile(opts, wrong_type);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find(wrong_type), absl::string_view::npos) << s;
  EXPECT_EQ(s.message().find(account.seed), absl::string_view::npos) << s;
  EXPECT_EQ(SetNKeyFromSeedFile(opts, dir->path() + "/absent.nk").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SetUserCredentialsFromFile(opts, wrong_type).code(), absl::StatusCode::kInvalidArgument);
  natsOptions_Destroy(opts);
}

}  // namespace
}  // namespace sidecar::nats
