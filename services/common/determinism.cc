#include "services/common/determinism.h"

#include <openssl/sha.h>

#include "absl/status/status.h"

namespace sidecar::services {
namespace {
constexpr char kHex[] = "0123456789abcdef";
}  // namespace

std::array<uint8_t, 32> Sha256(std::string_view data) {
  std::array<uint8_t, 32> out;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

std::string Sha256Hex(std::string_view data) {
  auto digest = Sha256(data);
  std::string hex;
  hex.reserve(64);
  for (uint8_t b : digest) {
    hex.push_back(kHex[b >> 4]);
    hex.push_back(kHex[b & 0xF]);
  }
  return hex;
}

std::string Hex16(std::string_view material) { return Sha256Hex(material).substr(0, 16); }

std::string DerivedId(std::string_view prefix, std::string_view material) {
  std::string id(prefix);
  id.push_back('_');
  id += Hex16(material);
  return id;
}

uint64_t H64(std::string_view s) {
  auto digest = Sha256(s);
  uint64_t h = 0;
  for (int i = 0; i < 8; ++i) h = (h << 8) | digest[i];
  return h;
}

uint64_t Rng::Next() {
  state_ += 0x9E3779B97F4A7C15ULL;
  uint64_t z = state_;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t Rng::Uniform(uint64_t n) {
  uint64_t v = Next();
  return n == 0 ? 0 : v % n;
}

absl::StatusOr<size_t> Rng::Weighted(const std::vector<uint64_t>& weights) {
  uint64_t total = 0;
  for (uint64_t w : weights) {
    if (total + w < total) return absl::InvalidArgumentError("weights overflow uint64");
    total += w;
  }
  if (total == 0) return absl::InvalidArgumentError("weighted() needs a positive total weight");
  uint64_t r = Uniform(total);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    cumulative += weights[i];
    if (cumulative > r) return i;
  }
  return absl::InternalError("unreachable: r < total");
}

}  // namespace sidecar::services
