#include "sidecar/http/message.h"

#include <algorithm>

namespace sidecar::http {

bool HeaderMap::IsHopByHopOrFraming(std::string_view name) {
  // Checked for every header of every message on every hop: the length picks the candidates.
  switch (name.size()) {
    case 2: return NameEquals(name, "TE");
    case 7: return NameEquals(name, "Upgrade") || NameEquals(name, "Trailer");
    case 10: return NameEquals(name, "Connection") || NameEquals(name, "Keep-Alive");
    case 14: return NameEquals(name, "Content-Length");
    case 16: return NameEquals(name, "Proxy-Connection");
    case 17: return NameEquals(name, "Transfer-Encoding");
    default: return false;
  }
}

void HeaderMap::Add(std::string name, std::string value) {
  // Room for a typical message's headers at once: growing 1 -> 2 -> 4 -> 8 cost the pass-through
  // four allocations and moves per header map, and every request and response builds two or three.
  constexpr size_t kInitialCapacity = 8;
  if (entries_.capacity() == 0) entries_.reserve(kInitialCapacity);
  entries_.emplace_back(std::move(name), std::move(value));
}

void HeaderMap::Set(std::string name, std::string value) {
  Remove(name);
  Add(std::move(name), std::move(value));
}

void HeaderMap::Remove(std::string_view name) { Remove({name}); }

void HeaderMap::Remove(std::initializer_list<std::string_view> names) {
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [&](const Entry& e) {
                                  for (std::string_view name : names) {
                                    if (NameEquals(e.first, name)) return true;
                                  }
                                  return false;
                                }),
                 entries_.end());
}

std::optional<std::string_view> HeaderMap::Get(std::string_view name) const {
  for (const auto& e : entries_) {
    if (NameEquals(e.first, name)) return std::string_view(e.second);
  }
  return std::nullopt;
}

std::string HeaderMap::GetOr(std::string_view name, std::string_view fallback) const {
  auto v = Get(name);
  return std::string(v ? *v : fallback);
}

std::string Request::TraceId() const {
  if (auto id = headers.Get(headers::kRequestId); id && !id->empty()) return std::string(*id);
  // traceparent: version-traceid-parentid-flags
  if (auto tp = headers.Get(headers::kTraceparent); tp && tp->size() >= 35 && (*tp)[2] == '-') {
    return std::string(tp->substr(3, 32));
  }
  return "";
}

}  // namespace sidecar::http
