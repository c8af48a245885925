#pragma once
// HTTP method names and libevent's evhttp_cmd_type, both ways. The enum is only a name for the
// method here: the upstream client, the admin server and the test upstream share it.

#include <event2/http.h>

#include <optional>
#include <string_view>

namespace sidecar::http {

// "GET" -> EVHTTP_REQ_GET, ...; nullopt for a method none of our clients send.
std::optional<evhttp_cmd_type> ParseMethod(std::string_view method);
// The inverse of ParseMethod; "UNKNOWN" for a value outside the enum.
std::string_view MethodName(evhttp_cmd_type method);

}  // namespace sidecar::http
