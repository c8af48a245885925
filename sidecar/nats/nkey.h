#pragma once
// NKeys (NATS's Ed25519 identities) in their text form: a type prefix, the 32-byte key and a CRC16,
// base32 without padding. A user seed ("SU...", 58 characters) is the private half; its public key
// ("U...", 56 characters) is what a nats-server config lists (`nkey: U...`).
//
// nats.c can sign with a seed file (natsOptions_SetNKeyFromSeed) but wants the public key next to
// it and cannot derive one, and it has no API to make keys. This file derives (so a config names the
// seed file only) and, for tests and tooling, generates and signs, through OpenSSL's Ed25519.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace sidecar::nats {

enum class NKeyType { kOperator, kAccount, kUser };

struct NKeyPair {
  std::string seed;        // "SU..." / "SA..." / "SO..."; a secret
  std::string public_key;  // "U..." / "A..." / "O..."
};

// The public key of a seed. INVALID_ARGUMENT (never quoting the seed) when `seed` is not a seed,
// its checksum is wrong, or its type differs from `expected`.
absl::StatusOr<std::string> NKeyPublicFromSeed(std::string_view seed, NKeyType expected = NKeyType::kUser);

// A fresh key pair from the system's CSPRNG.
absl::StatusOr<NKeyPair> GenerateNKey(NKeyType type);

// The raw 64-byte Ed25519 signature of `data` by `seed` (any type).
absl::StatusOr<std::string> NKeySign(std::string_view seed, std::string_view data);

// The first non-blank line of a seed file that looks like a seed ("S" + type letter), as nats.c
// reads .nk files; NOT_FOUND / INVALID_ARGUMENT naming the file (not its contents) otherwise.
absl::StatusOr<std::string> ReadSeedFile(const std::string& path);

}  // namespace sidecar::nats
