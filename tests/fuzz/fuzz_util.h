#pragma once
// Helpers shared by the fuzz targets: a reader that slices the fuzzer's bytes into fields, and the
// invariant check. Targets are built twice: with libFuzzer (SIDECAR_FUZZ, clang, ASan+UBSan) and,
// in the normal build, with replay_main.cc, which runs the seed corpus under ctest.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace sidecar::fuzz {

// Consumes the input front to back. Missing bytes read as zero / empty, so every input is valid.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}

  uint8_t Byte() {
    if (rest_.empty()) return 0;
    const auto b = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }
  // Up to the next `delimiter` (consumed, not returned), or everything left.
  std::string_view Until(char delimiter) {
    const size_t at = rest_.find(delimiter);
    std::string_view out = rest_.substr(0, at);
    rest_.remove_prefix(at == std::string_view::npos ? rest_.size() : at + 1);
    return out;
  }
  std::string_view Rest() {
    std::string_view out = rest_;
    rest_ = {};
    return out;
  }
  bool empty() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

// A violated invariant is a finding: abort, so libFuzzer saves the input and the replay test fails.
[[noreturn]] inline void Fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz invariant violated: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}
#define FUZZ_CHECK(cond, detail) \
  do {                           \
    if (!(cond)) ::sidecar::fuzz::Fail(#cond, (detail)); \
  } while (0)

// Header lines "name:value" separated by '\n' until an empty line; the rest is the payload. Names
// and values are raw (may hold CR, NUL, anything but '\n').
template <typename Headers>
std::string_view ReadHeaders(Input& in, Headers* headers) {
  for (;;) {
    if (in.empty()) return {};
    std::string_view line = in.Until('\n');
    if (line.empty()) break;
    const size_t colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    headers->emplace_back(std::string(name), std::string(value));
  }
  return in.Rest();
}

inline bool HasCtl(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return true;
  }
  return false;
}

}  // namespace sidecar::fuzz
