#include "services/common/pagination.h"

#include "services/common/strings_internal.h"

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "services/common/errors.h"

namespace sidecar::services {
namespace {

absl::Status MalformedToken() {
  return InvalidArgument("page_token", reason::kMalformed, "page_token does not decode");
}

// The bytes of a canonical token, or nullopt. absl's decoder is lenient (padding, non-zero
// trailing bits), so canonical form is checked by re-encoding: one key, one token.
std::optional<std::string> DecodeCanonical(std::string_view token) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(Av(token), &raw)) return std::nullopt;
  if (absl::WebSafeBase64Escape(raw) != Av(token)) return std::nullopt;
  return raw;
}

}  // namespace

absl::StatusOr<int32_t> ResolvePageSize(int32_t page_size) {
  if (page_size == 0) return kDefaultPageSize;
  if (page_size < 1 || page_size > kMaxPageSize) {
    return InvalidArgument("page_size", reason::kOutOfRange);
  }
  return page_size;
}

std::string EncodePageToken(std::string_view key) { return absl::WebSafeBase64Escape(Av(key)); }

std::string EncodePageToken(int64_t key) { return EncodePageToken(std::to_string(key)); }

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += len;
  }
  return true;
}

absl::StatusOr<std::optional<std::string>> DecodeStringPageToken(std::string_view token) {
  if (token.empty()) return std::optional<std::string>();
  std::optional<std::string> raw = DecodeCanonical(token);
  if (!raw || !IsValidUtf8(*raw)) return MalformedToken();
  return raw;
}

absl::StatusOr<std::optional<int64_t>> DecodeIntPageToken(std::string_view token) {
  if (token.empty()) return std::optional<int64_t>();
  std::optional<std::string> raw = DecodeCanonical(token);
  if (!raw || raw->empty()) return MalformedToken();
  int64_t value;
  // Canonical decimal only: SimpleAtoi also takes "+5", " 5" and "007", re-printing rejects them.
  if (!absl::SimpleAtoi(*raw, &value) || std::to_string(value) != *raw) return MalformedToken();
  return std::optional<int64_t>(value);
}

}  // namespace sidecar::services
