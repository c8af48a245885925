#include "services/common/validation.h"

#include "services/common/strings_internal.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "services/common/errors.h"

namespace sidecar::services {

size_t CodePoints(std::string_view utf8) {
  // Count every byte that is not a UTF-8 continuation byte (10xxxxxx).
  return static_cast<size_t>(std::count_if(utf8.begin(), utf8.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

bool AllCharsIn(std::string_view s, std::string_view char_class) {
  bool allowed[256] = {};
  for (size_t i = 0; i < char_class.size(); ++i) {
    unsigned char lo = static_cast<unsigned char>(char_class[i]);
    if (i + 2 < char_class.size() && char_class[i + 1] == '-') {
      unsigned char hi = static_cast<unsigned char>(char_class[i + 2]);
      for (unsigned c = lo; c <= hi; ++c) allowed[c] = true;
      i += 2;
    } else {
      allowed[lo] = true;
    }
  }
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return allowed[static_cast<unsigned char>(c)]; });
}

absl::Status CheckString(std::string_view field, std::string_view value, const StringSpec& spec) {
  if (value.empty()) {
    return spec.required ? InvalidArgument(field, reason::kRequired) : absl::OkStatus();
  }
  const size_t len = CodePoints(value);
  if (len < spec.min_len) return InvalidArgument(field, reason::kTooShort);
  if (len > spec.max_len) return InvalidArgument(field, reason::kTooLong);
  if (spec.pattern != nullptr && !spec.pattern->Matches(value)) {
    return InvalidArgument(field, reason::kPattern);
  }
  if (!spec.char_class.empty() && !AllCharsIn(value, spec.char_class)) {
    return InvalidArgument(field, reason::kPattern);
  }
  if (!spec.allowed.empty() &&
      std::find(spec.allowed.begin(), spec.allowed.end(), value) == spec.allowed.end()) {
    return InvalidArgument(field, reason::kUnknownValue);
  }
  return absl::OkStatus();
}

absl::Status CheckInt(std::string_view field, int64_t value, int64_t min, int64_t max) {
  if (value < min || value > max) return InvalidArgument(field, reason::kOutOfRange);
  return absl::OkStatus();
}

absl::Status CheckCount(std::string_view field, size_t count, const CountSpec& spec) {
  if (count == 0 && spec.required) return InvalidArgument(field, reason::kRequired);
  if (count < spec.min && count != 0) return InvalidArgument(field, reason::kTooShort);
  if (count > spec.max) return InvalidArgument(field, reason::kTooLong);
  return absl::OkStatus();
}

std::string IndexField(std::string_view list, size_t index) {
  return absl::StrCat(Av(list), "[", index, "]");
}

std::string KeyField(std::string_view map, std::string_view key) {
  return absl::StrCat(Av(map), ".", Av(key));
}

absl::Status FirstError(std::initializer_list<absl::Status> checks) {
  for (const absl::Status& s : checks) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace sidecar::services
