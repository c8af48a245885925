#pragma once

// The character classes of RFC 9110 header fields, as 256-entry tables.
//
// Every header byte of every hop is checked: by the edge parser, by the upstream client on the
// request it writes and the response it reads, and by the NATS bridge. The checks used to be a
// branch chain per byte, or a memchr over a set of specials per byte (string_view::find,
// find_first_of), which was about a tenth of the pass-through's instructions under callgrind.
// A table lookup is one load per byte, and there is now one definition instead of three.

#include <array>
#include <cstdint>
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

inline bool All(std::string_view s, uint8_t bit) {
  for (char c : s) {
    if (!Has(c, bit)) return false;
  }
  return true;
}

}  // namespace header_chars_internal

inline bool IsTchar(char c) { return header_chars_internal::Has(c, header_chars_internal::kTcharBit); }

// A non-empty run of tchar: a header name or a method.
inline bool IsToken(std::string_view s) {
  return !s.empty() && header_chars_internal::All(s, header_chars_internal::kTcharBit);
}

inline bool IsFieldValueChar(char c) {
  return header_chars_internal::Has(c, header_chars_internal::kFieldValueBit);
}

// A value with no control character but HTAB, and no DEL (obs-text is allowed).
inline bool IsFieldValue(std::string_view s) {
  return header_chars_internal::All(s, header_chars_internal::kFieldValueBit);
}

// Whether `s` holds CR, LF or NUL, the bytes that would end a header line early. The upstream
// client passes any other byte a legacy service sent as it is.
inline bool HasLineBreakOrNul(std::string_view s) {
  for (char c : s) {
    if (header_chars_internal::Has(c, header_chars_internal::kLineBreakOrNulBit)) return true;
  }
  return false;
}

}  // namespace sidecar::http
