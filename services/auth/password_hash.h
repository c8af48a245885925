#pragma once
// Credentials of auth (SERVICES.md §2.1 rules 3 and 5): PBKDF2-HMAC-SHA256 password hashes with a
// 16-byte CSPRNG salt and 100000 iterations, compared in constant time, and opaque session tokens
// "bbs_" + unpadded base64url(32 CSPRNG bytes). This is the only randomness of any port (§0.5).
//
// Encoded hash: "pbkdf2_sha256$<iterations>$<salt b64url>$<derived key b64url>" (unpadded), so a
// stored hash carries its own parameters.
//
// Cost: one hash is ~100000 HMAC-SHA256 pairs, tens of ms of CPU (see README.md for the measured
// figure); it runs on the caller's thread.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace sidecar::services::auth {

inline constexpr int kPbkdf2Iterations = 100000;
inline constexpr size_t kSaltBytes = 16;
inline constexpr size_t kDerivedKeyBytes = 32;
inline constexpr size_t kTokenRandomBytes = 32;
inline constexpr std::string_view kTokenPrefix = "bbs_";

// Unpadded base64url (RFC 4648 §5).
std::string Base64UrlNoPad(std::string_view bytes);

// A well-formed hash (production parameters) that matches no password. Login verifies against it
// when the username names no account, so that costs what a real check costs and timing does not
// reveal which usernames exist (rule 4: no enumeration).
inline constexpr std::string_view kUnknownAccountHash =
    "pbkdf2_sha256$100000$ZHVtbXktc2FsdC1hdXRo$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

// A fresh random salt, then HashPasswordWithSalt. INTERNAL if the CSPRNG fails.
absl::StatusOr<std::string> HashPassword(std::string_view password);
// Deterministic form (tests, fixtures): the encoded hash of `password` with these parameters.
absl::StatusOr<std::string> HashPasswordWithSalt(std::string_view password, std::string_view salt,
                                                 int iterations);
// True iff `encoded` is a well-formed hash of `password`; the derived keys are compared in
// constant time. A malformed `encoded` is false (never matches).
bool VerifyPassword(std::string_view password, std::string_view encoded);
// True iff `encoded` has the form above (fixtures reject anything else).
bool IsEncodedHash(std::string_view encoded);

// "bbs_" + 43 base64url chars. INTERNAL if the CSPRNG fails.
absl::StatusOr<std::string> NewSessionToken();
// What is stored instead of the token: lowercase hex SHA-256 of the token's UTF-8.
std::string TokenSha256(std::string_view token);

}  // namespace sidecar::services::auth
