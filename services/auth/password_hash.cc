#include "services/auth/password_hash.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/common/determinism.h"
#include "services/common/errors.h"

namespace sidecar::services::auth {
namespace {

constexpr std::string_view kScheme = "pbkdf2_sha256";

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::StatusOr<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return Internal("CSPRNG failure");
  }
  return out;
}

bool DerivedKey(std::string_view password, std::string_view salt, int iterations,
                std::string& out) {
  out.assign(kDerivedKeyBytes, '\0');
  return PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                           reinterpret_cast<const unsigned char*>(salt.data()),
                           static_cast<int>(salt.size()), iterations, EVP_sha256(),
                           static_cast<int>(out.size()),
                           reinterpret_cast<unsigned char*>(out.data())) == 1;
}

struct ParsedHash {
  int iterations = 0;
  std::string salt;
  std::string key;
};

bool ParseHash(std::string_view encoded, ParsedHash& out) {
  std::vector<absl::string_view> parts = absl::StrSplit(Av(encoded), '$');
  if (parts.size() != 4 || parts[0] != Av(kScheme)) return false;
  if (!absl::SimpleAtoi(parts[1], &out.iterations) || out.iterations < 1) return false;
  if (!absl::WebSafeBase64Unescape(parts[2], &out.salt) || out.salt.empty()) return false;
  if (!absl::WebSafeBase64Unescape(parts[3], &out.key) || out.key.size() != kDerivedKeyBytes) {
    return false;
  }
  return true;
}

}  // namespace

std::string Base64UrlNoPad(std::string_view bytes) {
  // absl's web-safe alphabet is RFC 4648 §5 and it never pads.
  return absl::WebSafeBase64Escape(Av(bytes));
}

absl::StatusOr<std::string> HashPassword(std::string_view password) {
  absl::StatusOr<std::string> salt = RandomBytes(kSaltBytes);
  if (!salt.ok()) return salt.status();
  return HashPasswordWithSalt(password, *salt, kPbkdf2Iterations);
}

absl::StatusOr<std::string> HashPasswordWithSalt(std::string_view password, std::string_view salt,
                                                 int iterations) {
  std::string key;
  if (iterations < 1 || salt.empty() || !DerivedKey(password, salt, iterations, key)) {
    return Internal("PBKDF2 failed");
  }
  return absl::StrCat(Av(kScheme), "$", iterations, "$", Base64UrlNoPad(salt), "$",
                      Base64UrlNoPad(key));
}

bool VerifyPassword(std::string_view password, std::string_view encoded) {
  ParsedHash parsed;
  if (!ParseHash(encoded, parsed)) return false;
  std::string key;
  if (!DerivedKey(password, parsed.salt, parsed.iterations, key)) return false;
  // Constant time: the comparison must not reveal how many leading bytes matched.
  return CRYPTO_memcmp(key.data(), parsed.key.data(), kDerivedKeyBytes) == 0;
}

bool IsEncodedHash(std::string_view encoded) {
  ParsedHash parsed;
  return ParseHash(encoded, parsed);
}

absl::StatusOr<std::string> NewSessionToken() {
  absl::StatusOr<std::string> bytes = RandomBytes(kTokenRandomBytes);
  if (!bytes.ok()) return bytes.status();
  return absl::StrCat(Av(kTokenPrefix), Base64UrlNoPad(*bytes));
}

std::string TokenSha256(std::string_view token) { return Sha256Hex(token); }

}  // namespace sidecar::services::auth
