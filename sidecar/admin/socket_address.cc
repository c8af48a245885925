#include "sidecar/admin/socket_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sidecar::admin {

absl::StatusOr<config::HostPort> ParseAddress(absl::string_view text) {
  absl::string_view rest = text;
  if (absl::StartsWith(rest, "http://")) rest.remove_prefix(7);
  if (absl::EndsWith(rest, "/")) rest.remove_suffix(1);
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid admin address \"", text, "\": ", why, " (want host:port)"));
  };
  std::string host;
  absl::string_view port_text;
  if (absl::StartsWith(rest, "[")) {
    size_t close = rest.find("]:");
    if (close == absl::string_view::npos)
      return invalid("unterminated IPv6 literal or missing port");
    host = std::string(rest.substr(1, close - 1));
    port_text = rest.substr(close + 2);
  } else {
    size_t colon = rest.rfind(':');
    if (colon == absl::string_view::npos) return invalid("missing port");
    host = std::string(rest.substr(0, colon));
    if (host.find(':') != std::string::npos) return invalid("IPv6 literals need brackets");
    port_text = rest.substr(colon + 1);
  }
  if (host.empty()) return invalid("empty host");
  uint32_t port = 0;
  if (port_text.empty() || !absl::SimpleAtoi(port_text, &port) || port > 65535) {
    return invalid("bad port");
  }
  config::HostPort out;
  out.host = std::move(host);
  out.port = static_cast<uint16_t>(port);
  return out;
}

absl::StatusOr<SocketAddress> ResolveLiteral(const config::HostPort& address) {
  std::string host = address.host;
  // Tolerate a bracketed IPv6 host as written in URLs.
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";

  SocketAddress out;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(address.port);
    out.length = sizeof(sockaddr_in);
    return out;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(address.port);
    out.length = sizeof(sockaddr_in6);
    return out;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "admin address ", address.ToString(), ": host must be a literal IP address or localhost"));
}

}  // namespace sidecar::admin
