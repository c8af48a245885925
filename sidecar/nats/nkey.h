#pragma once
// NKeys (NATS's Ed25519 identities) in their text form: a type prefix, the 32-byte key and a CRC16,
// base32 without padding. A user seed ("SU...", 58 characters) is the private half; its public key
// ("U...", 56 characters) is what a nats-server config lists (`nkey: U...`).
//
// nats.c cannot derive a public key from a seed and has no API to make keys, and its own signer
// (natsOptions_SetNKeyFromSeed, and the .creds files of natsOptions_SetUserCredentialsFromFiles) is
// not reliable: nats.c 3.4 now and then rejects a valid seed as "invalid seed" (nkeys.c:90). This
// file derives, generates and signs through OpenSSL's Ed25519, and hands nats.c a signer of its own.
//
// nats.c 3.4 also loses one signature in 256: its base64 encoder reads the raw signature as a C
// string, so one whose first byte is 0 encodes as nothing, CONNECT goes without "sig", and the
// server refuses the connect ("Signature missing", an Authorization Violation). Two in a row and
// nats.c drops the server from its pool and closes the connection for good. Ed25519 signatures are
// deterministic, so the only way past one is a fresh nonce, which takes a fresh connection: our
// signer refuses such a signature (kUnsendableSignature), which fails the attempt on our side, not
// as an authentication error. A reconnect then simply tries again, and ConnectWithNKeyRetry retries
// a first connect.

#include <nats/nats.h>

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace sidecar::nats {

// The text of the error our signer fails a connect attempt with when the nonce's signature starts
// with a zero byte (above).
inline constexpr char kUnsendableSignature[] =
    "the nonce's signature starts with a zero byte, which nats.c 3.4 cannot send; retry with a new connection";

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

// Makes every connection made from `opts` authenticate as the NKey user whose seed is in `seed_file`.
// The file is read now (a missing file, or one holding no user seed, is INVALID_ARGUMENT naming the
// file) to derive the public key, and again at every connect and reconnect to sign the server's
// nonce, so the seed is not kept in memory. Use it instead of natsOptions_SetNKeyFromSeed (above).
absl::Status SetNKeyFromSeedFile(natsOptions* opts, const std::string& seed_file);

// The user JWT of a chained .creds file (as nsc writes it: the JWT block, then the seed block): the
// first line that is neither blank nor a "-----" marker and has a JWT's three dot-separated parts.
// NOT_FOUND / INVALID_ARGUMENT naming the file otherwise.
absl::StatusOr<std::string> ReadCredsJwt(const std::string& path);

// Makes every connection made from `opts` present the user JWT of the chained .creds file and sign
// the server's nonce with its seed; the file is read at every connect, so a rotated file is picked
// up at the next reconnect. Checked now as SetNKeyFromSeedFile is. Use it instead of
// natsOptions_SetUserCredentialsFromFiles, which signs with nats.c's signer.
absl::Status SetUserCredentialsFromFile(natsOptions* opts, const std::string& creds_file);

// natsConnection_Connect, made again (up to 8 attempts in all) while an attempt failed only
// because the server's nonce had an unsendable signature (above): without it one first connect in
// 256 with NKey or .creds authentication fails. Any other failure returns at once.
natsStatus ConnectWithNKeyRetry(natsConnection** conn, natsOptions* opts);

}  // namespace sidecar::nats
