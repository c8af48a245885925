#pragma once
// §0.5 pagination: page_size (0 -> 20, 1-100, else out_of_range) and page tokens that both
// implementations emit identically: canonical unpadded base64url of the UTF-8 of the last item's
// sort key (strings as they are, integers in decimal without leading zeros, R12). A token resumes
// strictly after its key, whatever the other filters. next_page_token is non-empty iff more items
// follow (R9).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace sidecar::services {

inline constexpr int32_t kDefaultPageSize = 20;
inline constexpr int32_t kMaxPageSize = 100;

// 0 -> 20; 1..100 as is; else INVALID_ARGUMENT {field: page_size, reason: out_of_range}.
absl::StatusOr<int32_t> ResolvePageSize(int32_t page_size);

std::string EncodePageToken(std::string_view key);
std::string EncodePageToken(int64_t key);

// "" -> nullopt (first page). A token that is not canonical unpadded base64url, or whose bytes are
// not a value of the key's type (valid UTF-8 / canonical decimal int64) -> INVALID_ARGUMENT
// {field: page_token, reason: malformed}.
absl::StatusOr<std::optional<std::string>> DecodeStringPageToken(std::string_view token);
absl::StatusOr<std::optional<int64_t>> DecodeIntPageToken(std::string_view token);

bool IsValidUtf8(std::string_view s);

template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_page_token;
};

// Cuts one page from `items`, which are already filtered and in list order. `after_token` is
// true for items strictly after the request's token in list order (pass nullptr for the first
// page); `token_of` gives an item's token (EncodePageToken of its sort key).
template <typename T>
Page<T> Paginate(std::vector<T> items, int32_t page_size,
                 const std::function<bool(const T&)>& after_token,
                 const std::function<std::string(const T&)>& token_of) {
  Page<T> page;
  size_t i = 0;
  if (after_token) {
    while (i < items.size() && !after_token(items[i])) ++i;
  }
  for (; i < items.size() && page.items.size() < static_cast<size_t>(page_size); ++i) {
    page.items.push_back(std::move(items[i]));
  }
  if (i < items.size() && !page.items.empty()) page.next_page_token = token_of(page.items.back());
  return page;
}

}  // namespace sidecar::services
