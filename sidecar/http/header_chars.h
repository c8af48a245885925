#pragma once

// The character classes of RFC 9110 header fields, as 256-entry tables.
//
// Every header byte of every hop is checked: by the edge parser, by the upstream client on the
// request it writes and the response it reads, and by the NATS bridge. The checks used to be a
// branch chain per byte, or a memchr over a set of specials per byte (string_view::find,
// find_first_of), which was about a tenth of the pass-through's instructions under callgrind.
// A table lookup is one load per byte, and there is now one definition instead of three.
//
// Values are longer than names and almost never hold a control byte, so the value checks first
// look at eight bytes at a time (a few integer operations per word), and look bytes up in the
// table only from the first word that might hold one. Names keep the table: the tchar set has
// too many holes for word arithmetic, so that loop only avoids a branch per byte.

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace sidecar::http {
namespace header_chars_internal {

enum : uint8_t {
  kTcharBit = 1,        // RFC 9110 §5.6.2 tchar: a token's characters (header names, methods)
  kFieldValueBit = 2,   // field-vchar, SP, HTAB, obs-text: everything but CTLs and DEL
  kLineBreakOrNulBit = 4,  // CR, LF, NUL: what would split a header line in two
};

constexpr std::array<uint8_t, 256> MakeTable() {
  std::array<uint8_t, 256> table{};
  for (int c = 0; c < 256; ++c) {
    uint8_t bits = 0;
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    const std::string_view specials = "!#$%&'*+-.^_`|~";
    bool special = false;
    for (char s : specials) special = special || static_cast<unsigned char>(s) == c;
    if (alnum || special) bits |= kTcharBit;
    if ((c >= 0x20 && c != 0x7f) || c == '\t') bits |= kFieldValueBit;
    if (c == '\r' || c == '\n' || c == '\0') bits |= kLineBreakOrNulBit;
    table[static_cast<size_t>(c)] = bits;
  }
  return table;
}

inline constexpr std::array<uint8_t, 256> kTable = MakeTable();

inline bool Has(char c, uint8_t bit) { return (kTable[static_cast<unsigned char>(c)] & bit) != 0; }

// Whether every byte has `bit`: the table entries are and-ed with no exit on the way, which
// leaves the loop one load and one `and` per byte.
inline bool All(std::string_view s, uint8_t bit) {
  uint8_t all = bit;
  for (char c : s) all &= kTable[static_cast<unsigned char>(c)];
  return all != 0;
}

constexpr uint64_t kEveryByte = 0x0101010101010101ULL;
constexpr uint64_t kEveryHighBit = 0x8080808080808080ULL;

// Non-zero iff some byte of `word` is below `n` (n <= 128). Exact as a yes/no answer: the lowest
// such byte borrows into its high bit, and no byte at or above `n` can set one.
constexpr uint64_t AnyByteBelow(uint64_t word, uint8_t n) {
  return (word - kEveryByte * n) & ~word & kEveryHighBit;
}
constexpr uint64_t AnyByteEquals(uint64_t word, uint8_t b) {
  return AnyByteBelow(word ^ (kEveryByte * b), 1);
}

inline uint64_t LoadWord(const char* p) {
  uint64_t word;
  std::memcpy(&word, p, sizeof(word));
  return word;
}

// Where the per-byte look has to start: the offset of the first 8-byte word of `s` that
// `suspect` flags, or s.size() when none does. A tail shorter than a word is checked as the last
// eight bytes of `s`, overlapping bytes already seen; a value shorter than a word gets 0.
template <typename Suspect>
size_t SkipCleanWords(std::string_view s, Suspect suspect) {
  constexpr size_t kWord = sizeof(uint64_t);
  if (s.size() < kWord) return 0;
  size_t i = 0;
  for (; i + kWord <= s.size(); i += kWord) {
    if (suspect(LoadWord(s.data() + i))) return i;
  }
  if (i < s.size() && suspect(LoadWord(s.data() + s.size() - kWord))) return i;
  return s.size();
}

}  // namespace header_chars_internal

inline bool IsTchar(char c) { return header_chars_internal::Has(c, header_chars_internal::kTcharBit); }

// A non-empty run of tchar: a header name or a method.
inline bool IsToken(std::string_view s) {
  return !s.empty() && header_chars_internal::All(s, header_chars_internal::kTcharBit);
}

// A value with no control character but HTAB, and no DEL (obs-text is allowed).
inline bool IsFieldValue(std::string_view s) {
  using namespace header_chars_internal;
  const size_t clean = SkipCleanWords(
      s, [](uint64_t w) { return (AnyByteBelow(w, 0x20) | AnyByteEquals(w, 0x7f)) != 0; });
  return All(s.substr(clean), kFieldValueBit);
}

// Whether `s` holds CR, LF or NUL, the bytes that would end a header line early. The upstream
// client passes any other byte a legacy service sent as it is.
inline bool HasLineBreakOrNul(std::string_view s) {
  using namespace header_chars_internal;
  // CR (0x0d) is the largest of the three: a word with no byte below 0x0e holds none of them.
  const size_t clean = SkipCleanWords(s, [](uint64_t w) { return AnyByteBelow(w, '\r' + 1) != 0; });
  for (char c : s.substr(clean)) {
    if (Has(c, kLineBreakOrNulBit)) return true;
  }
  return false;
}

}  // namespace sidecar::http
