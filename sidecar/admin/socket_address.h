#pragma once
// Address handling shared by the admin listener and the healthcheck client. Both only ever talk to
// a local admin port, so neither resolves DNS names: a lookup cannot be bounded without threads,
// and the healthcheck must finish within its deadline whatever /etc/resolv.conf says. Literal
// IPv4/IPv6 and "localhost" (which means 127.0.0.1) are accepted.

#include <sys/socket.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sidecar/config/config.h"

namespace sidecar::admin {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family() const { return storage.ss_family; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// Parses "host:port", "[v6]:port" or "http://host:port[/]". The port is required (0 is allowed).
absl::StatusOr<config::HostPort> ParseAddress(absl::string_view text);

// Literal IP or "localhost" -> socket address; anything else is InvalidArgument naming the address.
absl::StatusOr<SocketAddress> ResolveLiteral(const config::HostPort& address);

}  // namespace sidecar::admin
