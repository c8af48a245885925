#pragma once
// SERVICES.md §0.5 derived ids and §0.6 seeded randomness, written once for all 22 ports.
//
//   hex16(m)     first 16 lowercase hex chars of SHA-256(UTF-8 m)        (ids: "tx_" + hex16(...))
//   h64(s)       first 8 bytes of SHA-256(UTF-8 s) as big-endian uint64  (h64("abc") = 0xba7816bf8f01cfea)
//   Rng(seed)    SplitMix64 with state h64(seed); Next(): state 0 -> 0xe220a8397b1dcdaf
//   Uniform(n)   Next() mod n;  Weighted(w): r = Uniform(Σw), first item whose cumulative weight > r
//   Bucket(s)    h64(s) mod 10000;  Int64(h) reinterprets as two's complement
//
// Nothing here reads a clock or an OS random source: every port stays a pure function of
// (state, request, headers) (§0.6).

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace sidecar::services {

std::array<uint8_t, 32> Sha256(std::string_view data);
// Lowercase hex of the whole SHA-256 (64 chars).
std::string Sha256Hex(std::string_view data);
// The first 16 lowercase hex chars of SHA-256(material) (§0.5).
std::string Hex16(std::string_view material);
// prefix + "_" + hex16(material): DerivedId("pl", "player:mara_vex") == "pl_a8694c9d17e9b948".
std::string DerivedId(std::string_view prefix, std::string_view material);

uint64_t H64(std::string_view s);
// bucket(s) = h64(s) mod 10000 (rollouts in basis points).
inline uint32_t Bucket(std::string_view s) { return static_cast<uint32_t>(H64(s) % 10000); }
// int64(h): two's complement reinterpretation (N7).
inline int64_t Int64(uint64_t h) { return static_cast<int64_t>(h); }

// SplitMix64 exactly as §0.6 writes it; all arithmetic mod 2^64.
class Rng {
 public:
  // rng(s): state = h64(s).
  explicit Rng(std::string_view seed) : state_(H64(seed)) {}
  static Rng FromState(uint64_t state) { return Rng(state, 0); }

  uint64_t Next();
  // next() mod n. n must be > 0 (a port's bug otherwise; returns 0 rather than dividing by zero).
  uint64_t Uniform(uint64_t n);
  // Index of the first item, in the given order, whose cumulative weight exceeds
  // r = Uniform(Σweights). Weights must be non-negative with a positive sum, else
  // INVALID_ARGUMENT (a port's bug: the spec always gives positive weights). Consumes exactly one
  // Next() on success.
  absl::StatusOr<size_t> Weighted(const std::vector<uint64_t>& weights);

  uint64_t state() const { return state_; }

 private:
  Rng(uint64_t state, int) : state_(state) {}
  uint64_t state_;
};

}  // namespace sidecar::services
