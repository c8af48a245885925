#include "sidecar/nats/nkey.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sidecar/common/c_handle.h"

namespace sidecar::nats {
namespace {

using EvpPkeyPtr = CHandle<EVP_PKEY, EVP_PKEY_free>;
using EvpMdCtxPtr = CHandle<EVP_MD_CTX, EVP_MD_CTX_free>;

constexpr uint8_t kPrefixSeed = 18 << 3;  // 'S'
constexpr size_t kKeyBytes = 32;
constexpr char kBase32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

// Zeroes a buffer that held private key material when it goes out of scope.
class Wiped {
 public:
  explicit Wiped(std::string* s) : s_(s) {}
  ~Wiped() {
    if (!s_->empty()) OPENSSL_cleanse(s_->data(), s_->size());
  }

 private:
  std::string* s_;
};

// The first non-blank line of `path`, whitespace-stripped, that `wanted` accepts. The file's text
// is wiped afterwards: a seed file, and a .creds file, hold a secret. NOT_FOUND / INVALID_ARGUMENT
// name the file, never its contents.
template <typename Predicate>
absl::StatusOr<std::string> FirstLineOf(const std::string& path, absl::string_view kind, absl::string_view lacking,
                                        Predicate wanted) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read ", kind, " '", path, "'"));
  std::ostringstream content;
  content << file.rdbuf();
  std::string text = content.str();
  Wiped wipe_text(&text);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty() && wanted(line)) return std::string(line);
  }
  return absl::InvalidArgumentError(absl::StrCat(kind, " '", path, "' holds ", lacking));
}

uint8_t PrefixOf(NKeyType type) {
  switch (type) {
    case NKeyType::kOperator: return 14 << 3;  // 'O'
    case NKeyType::kAccount: return 0;         // 'A'
    case NKeyType::kUser: return 20 << 3;      // 'U'
  }
  return 20 << 3;
}

// CRC-16/XMODEM, as the nkeys library appends (little-endian) to every encoded key.
uint16_t Crc16(std::string_view data) {
  uint16_t crc = 0;
  for (unsigned char byte : data) {
    crc ^= static_cast<uint16_t>(byte) << 8;
    for (int i = 0; i < 8; ++i) crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021) : crc << 1;
  }
  return crc;
}

std::string Base32Encode(std::string_view data) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char byte : data) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kBase32[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kBase32[(buffer << (5 - bits)) & 31]);
  return out;
}

bool Base32Decode(std::string_view text, std::string* out) {
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int value = -1;
    if (c >= 'A' && c <= 'Z') value = c - 'A';
    if (c >= '2' && c <= '7') value = c - '2' + 26;
    if (value < 0) return false;
    buffer = (buffer << 5) | static_cast<uint32_t>(value);
    bits += 5;
    if (bits >= 8) {
      out->push_back(static_cast<char>((buffer >> (bits - 8)) & 0xFF));
      bits -= 8;
    }
  }
  return true;
}

std::string WithChecksum(std::string raw) {
  const uint16_t crc = Crc16(raw);
  raw.push_back(static_cast<char>(crc & 0xFF));
  raw.push_back(static_cast<char>(crc >> 8));
  std::string encoded = Base32Encode(raw);
  OPENSSL_cleanse(raw.data(), raw.size());
  return encoded;
}

std::string EncodePublic(uint8_t prefix, std::string_view key) {
  std::string raw(1, static_cast<char>(prefix));
  raw.append(key);
  return WithChecksum(std::move(raw));
}

std::string EncodeSeed(uint8_t prefix, std::string_view key) {
  std::string raw;
  raw.push_back(static_cast<char>(kPrefixSeed | (prefix >> 5)));
  raw.push_back(static_cast<char>((prefix & 31) << 3));
  raw.append(key);
  return WithChecksum(std::move(raw));
}

struct DecodedSeed {
  uint8_t prefix = 0;
  std::string key;  // 32 bytes
};

// Errors never quote the seed: they end up in logs.
absl::StatusOr<DecodedSeed> DecodeSeed(std::string_view seed) {
  std::string raw;
  Wiped wipe_raw(&raw);
  if (seed.size() < 2 || seed[0] != 'S' || !Base32Decode(seed, &raw) || raw.size() != 2 + kKeyBytes + 2) {
    return absl::InvalidArgumentError("not an NKey seed (expected 58 base32 characters starting with 'S')");
  }
  const uint16_t crc = static_cast<uint8_t>(raw[raw.size() - 2]) |
                       static_cast<uint16_t>(static_cast<uint8_t>(raw[raw.size() - 1]) << 8);
  if (Crc16(std::string_view(raw).substr(0, raw.size() - 2)) != crc) {
    return absl::InvalidArgumentError("NKey seed checksum mismatch (truncated or mistyped seed)");
  }
  const uint8_t b1 = static_cast<uint8_t>(raw[0]);
  const uint8_t b2 = static_cast<uint8_t>(raw[1]);
  if ((b1 & 0xF8) != kPrefixSeed) return absl::InvalidArgumentError("not an NKey seed");
  DecodedSeed out;
  out.prefix = static_cast<uint8_t>(((b1 & 7) << 5) | ((b2 & 0xF8) >> 3));
  out.key = raw.substr(2, kKeyBytes);
  return out;
}

absl::StatusOr<EvpPkeyPtr> PrivateKey(const std::string& key) {
  EvpPkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                               reinterpret_cast<const unsigned char*>(key.data()), key.size()));
  if (pkey == nullptr) return absl::InternalError("OpenSSL: cannot load an Ed25519 key");
  return pkey;
}

absl::StatusOr<std::string> PublicOf(const std::string& key) {
  auto pkey = PrivateKey(key);
  if (!pkey.ok()) return pkey.status();
  std::string pub(kKeyBytes, '\0');
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(pkey->get(), reinterpret_cast<unsigned char*>(pub.data()), &len) != 1 ||
      len != kKeyBytes) {
    return absl::InternalError("OpenSSL: cannot derive an Ed25519 public key");
  }
  return pub;
}

}  // namespace

absl::StatusOr<std::string> NKeyPublicFromSeed(std::string_view seed, NKeyType expected) {
  absl::StatusOr<DecodedSeed> decoded = DecodeSeed(seed);
  if (!decoded.ok()) return decoded.status();
  Wiped wipe_key(&decoded->key);
  if (decoded->prefix != PrefixOf(expected)) {
    return absl::InvalidArgumentError(absl::StrCat("NKey seed of the wrong type: expected a ",
                                                   expected == NKeyType::kUser      ? "user (SU...)"
                                                   : expected == NKeyType::kAccount ? "account (SA...)"
                                                                                    : "operator (SO...)",
                                                   " seed"));
  }
  absl::StatusOr<std::string> pub = PublicOf(decoded->key);
  if (!pub.ok()) return pub.status();
  return EncodePublic(decoded->prefix, *pub);
}

absl::StatusOr<NKeyPair> GenerateNKey(NKeyType type) {
  std::string key(kKeyBytes, '\0');
  Wiped wipe_key(&key);
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
    return absl::InternalError("OpenSSL: RAND_bytes failed");
  }
  absl::StatusOr<std::string> pub = PublicOf(key);
  if (!pub.ok()) return pub.status();
  return NKeyPair{EncodeSeed(PrefixOf(type), key), EncodePublic(PrefixOf(type), *pub)};
}

absl::StatusOr<std::string> NKeySign(std::string_view seed, std::string_view data) {
  absl::StatusOr<DecodedSeed> decoded = DecodeSeed(seed);
  if (!decoded.ok()) return decoded.status();
  Wiped wipe_key(&decoded->key);
  auto pkey = PrivateKey(decoded->key);
  if (!pkey.ok()) return pkey.status();
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  std::string signature(64, '\0');
  size_t len = signature.size();
  if (ctx == nullptr || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey->get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return absl::InternalError("OpenSSL: Ed25519 signing failed");
  }
  signature.resize(len);
  return signature;
}

absl::StatusOr<std::string> ReadSeedFile(const std::string& path) {
  return FirstLineOf(path, "NKey seed file", "no seed (a line SU...)",
                     [](absl::string_view line) { return line.size() == 58 && line[0] == 'S'; });
}

namespace {

// Fails a nats.c callback with `status`'s text (nats.c frees the text with free()).
natsStatus FailCallback(char** error_text, const absl::Status& status) {
  *error_text = strdup(std::string(status.message()).c_str());
  return NATS_ERR;
}

// nats.c's signature callback. `closure` is the seed or .creds file's path (see InternedPath). Runs on the
// connecting thread (the caller's, or nats.c's reconnect thread); no exception may leave it.
natsStatus SignNonce(char** error_text, unsigned char** signature, int* signature_length, const char* nonce,
                     void* closure) noexcept {
  absl::StatusOr<std::string> seed = ReadSeedFile(*static_cast<const std::string*>(closure));
  if (!seed.ok()) return FailCallback(error_text, seed.status());
  Wiped wipe_seed(&*seed);
  absl::StatusOr<std::string> signed_nonce = NKeySign(*seed, nonce);
  if (!signed_nonce.ok()) return FailCallback(error_text, signed_nonce.status());
  if ((*signed_nonce)[0] == '\0') {  // nats.c would send no signature at all (nkey.h)
    return FailCallback(error_text, absl::UnavailableError(kUnsendableSignature));
  }
  *signature = static_cast<unsigned char*>(malloc(signed_nonce->size()));
  if (*signature == nullptr) return NATS_NO_MEMORY;
  memcpy(*signature, signed_nonce->data(), signed_nonce->size());
  *signature_length = static_cast<int>(signed_nonce->size());
  return NATS_OK;
}

// nats.c's user JWT callback; `closure` is the .creds file's path (see InternedPath).
natsStatus ReadJwt(char** jwt, char** error_text, void* closure) noexcept {
  absl::StatusOr<std::string> read = ReadCredsJwt(*static_cast<const std::string*>(closure));
  if (!read.ok()) return FailCallback(error_text, read.status());
  *jwt = strdup(read->c_str());
  return *jwt == nullptr ? NATS_NO_MEMORY : NATS_OK;
}

// The public key of the user seed in `file` (a seed or .creds file), checked when the options are
// set so a bad file is a config error, not a refused connect. INVALID_ARGUMENT names the file.
absl::StatusOr<std::string> PublicKeyOfSeedIn(const std::string& file, absl::string_view kind) {
  absl::StatusOr<std::string> seed = ReadSeedFile(file);
  if (!seed.ok()) return absl::InvalidArgumentError(seed.status().message());
  Wiped wipe_seed(&*seed);
  absl::StatusOr<std::string> public_key = NKeyPublicFromSeed(*seed);
  if (!public_key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(kind, " '", file, "': ", public_key.status().message()));
  }
  return public_key;
}

// A copy of `path` that lives as long as the process. nats.c copies the callback's closure pointer
// into every connection made from the options and has no hook to free it, so the closure cannot be
// owned by anything shorter-lived; a process names a handful of seed files, so keeping each once
// is bounded.
const std::string* InternedPath(const std::string& path) {
  static std::mutex mu;
  static auto* paths = new std::set<std::string>();  // never destroyed: connections may outlive main
  std::lock_guard<std::mutex> lock(mu);
  return &*paths->insert(path).first;
}

}  // namespace

absl::StatusOr<std::string> ReadCredsJwt(const std::string& path) {
  return FirstLineOf(path, "credentials file", "no user JWT", [](absl::string_view line) {
    if (line[0] == '-') return false;  // a "-----BEGIN ...-----" marker
    std::vector<absl::string_view> parts = absl::StrSplit(line, '.');
    return parts.size() == 3 && !parts[0].empty() && !parts[1].empty() && !parts[2].empty();
  });
}

absl::Status SetUserCredentialsFromFile(natsOptions* opts, const std::string& creds_file) {
  absl::StatusOr<std::string> jwt = ReadCredsJwt(creds_file);
  if (!jwt.ok()) return absl::InvalidArgumentError(jwt.status().message());
  if (absl::StatusOr<std::string> key = PublicKeyOfSeedIn(creds_file, "credentials file"); !key.ok()) {
    return key.status();
  }
  void* path = const_cast<std::string*>(InternedPath(creds_file));
  const natsStatus s = natsOptions_SetUserCredentialsCallbacks(opts, &ReadJwt, path, &SignNonce, path);
  if (s != NATS_OK) {
    return absl::InternalError(absl::StrCat("natsOptions_SetUserCredentialsCallbacks: ", natsStatus_GetText(s)));
  }
  return absl::OkStatus();
}

natsStatus ConnectWithNKeyRetry(natsConnection** conn, natsOptions* opts) {
  constexpr int kAttempts = 8;  // all eight fail by chance once in 2^64
  natsStatus s = NATS_OK;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    s = natsConnection_Connect(conn, opts);
    if (s == NATS_OK || std::strstr(nats_GetLastError(nullptr), kUnsendableSignature) == nullptr) break;
  }
  return s;
}

absl::Status SetNKeyFromSeedFile(natsOptions* opts, const std::string& seed_file) {
  absl::StatusOr<std::string> public_key = PublicKeyOfSeedIn(seed_file, "NKey seed file");
  if (!public_key.ok()) return public_key.status();
  const natsStatus s = natsOptions_SetNKey(opts, public_key->c_str(), &SignNonce,
                                           const_cast<std::string*>(InternedPath(seed_file)));
  if (s != NATS_OK) {
    return absl::InternalError(absl::StrCat("natsOptions_SetNKey: ", natsStatus_GetText(s)));
  }
  return absl::OkStatus();
}

}  // namespace sidecar::nats
