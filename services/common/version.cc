#include "services/common/version.h"

#include "services/common/errors.h"
#include "services/common/validation.h"

namespace sidecar::services {
namespace {

constexpr size_t kMaxVersionPartDigits = 6;  // 0–999999

std::optional<int32_t> ParseVersionPart(std::string_view digits) {
  if (digits.empty() || digits.size() > kMaxVersionPartDigits) return std::nullopt;
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;  // no leading zeros
  int32_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace

std::optional<Version> ParseVersion(std::string_view text) {
  const size_t first = text.find('.');
  if (first == std::string_view::npos) return std::nullopt;
  const size_t second = text.find('.', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  std::optional<int32_t> major = ParseVersionPart(text.substr(0, first));
  std::optional<int32_t> minor = ParseVersionPart(text.substr(first + 1, second - first - 1));
  // A fourth part fails here: the patch would hold a '.'.
  std::optional<int32_t> patch = ParseVersionPart(text.substr(second + 1));
  if (!major || !minor || !patch) return std::nullopt;
  return Version{*major, *minor, *patch};
}

absl::Status CheckVersionField(std::string_view field, std::string_view value, bool required) {
  if (value.empty()) {
    return required ? InvalidArgument(field, reason::kRequired) : absl::OkStatus();
  }
  if (!ParseVersion(value)) return InvalidArgument(field, reason::kPattern);
  return absl::OkStatus();
}

}  // namespace sidecar::services
