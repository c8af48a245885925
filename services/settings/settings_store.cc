#include "services/settings/settings_store.h"

namespace sidecar::services::settings {

std::string EscapeSegment(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '%') {
      out += "%25";
    } else if (c == '/') {
      out += "%2F";
    } else {
      out += c;
    }
  }
  return out;
}

std::string PlayerKey(std::string_view player_id) {
  return std::string(kStorePrefix) + "players/" + EscapeSegment(player_id);
}

}  // namespace sidecar::services::settings
