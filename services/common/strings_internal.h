#pragma once
// Debian's Abseil 20220623 is built with its own absl::string_view (not std::string_view), so
// absl::StrCat & co. do not take std::string_view. Av() bridges at the call site.

#include <string_view>

#include "absl/strings/string_view.h"

namespace sidecar::services {

inline absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace sidecar::services
