#include "sidecar/http/method.h"

#include <utility>

#include "sidecar/http/message.h"

namespace sidecar::http {

std::optional<evhttp_cmd_type> ParseMethod(std::string_view method) {
  static constexpr std::pair<std::string_view, evhttp_cmd_type> kMethods[] = {
      {"GET", EVHTTP_REQ_GET},         {"POST", EVHTTP_REQ_POST},   {"PUT", EVHTTP_REQ_PUT},
      {"DELETE", EVHTTP_REQ_DELETE},   {"PATCH", EVHTTP_REQ_PATCH}, {"HEAD", EVHTTP_REQ_HEAD},
      {"OPTIONS", EVHTTP_REQ_OPTIONS}, {"TRACE", EVHTTP_REQ_TRACE}, {"CONNECT", EVHTTP_REQ_CONNECT},
  };
  for (const auto& [name, type] : kMethods) {
    if (HeaderMap::NameEquals(name, method)) return type;
  }
  return std::nullopt;
}

std::string_view MethodName(evhttp_cmd_type method) {
  switch (method) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
  }
  return "UNKNOWN";
}

}  // namespace sidecar::http
