#include "tests/test_common/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sidecar::test_common {
namespace {

absl::Status ErrnoStatus(absl::string_view what, int err) {
  std::string text = absl::StrCat(what, ": ", std::string(strerror(err)));
  if (err == EADDRINUSE) return absl::AlreadyExistsError(text);
  return absl::InternalError(text);
}

}  // namespace

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
}

absl::StatusOr<UniqueFd> AboveStdio(UniqueFd fd) {
  if (!fd.valid() || fd.get() > 2) return fd;
  UniqueFd moved(fcntl(fd.get(), F_DUPFD_CLOEXEC, 3));
  if (!moved.valid()) return ErrnoStatus("fcntl F_DUPFD_CLOEXEC", errno);
  return moved;
}

absl::StatusOr<UniqueFd> ListenOnLoopback(int port, int backlog) {
  auto socket_fd = AboveStdio(UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)));
  if (!socket_fd.ok()) return socket_fd.status();
  UniqueFd fd = std::move(*socket_fd);
  if (!fd.valid()) return ErrnoStatus("socket", errno);
  int one = 1;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
    return ErrnoStatus("setsockopt SO_REUSEADDR", errno);
  }
  sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoStatus(absl::StrCat("bind 127.0.0.1:", port), errno);
  }
  if (listen(fd.get(), backlog) != 0) return ErrnoStatus("listen", errno);
  return fd;
}

absl::StatusOr<int> LocalPort(int fd) {
  sockaddr_in addr;
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return ErrnoStatus("getsockname", errno);
  }
  return static_cast<int>(ntohs(addr.sin_port));
}

absl::StatusOr<int> PickUnusedPort() {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus("socket", errno);
  sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoStatus("bind 127.0.0.1:0", errno);
  }
  // Not listening and closed at once: no TIME_WAIT, so the port is immediately bindable.
  return LocalPort(fd.get());
}

std::string LoopbackAddress(int port) { return absl::StrCat("127.0.0.1:", port); }

}  // namespace sidecar::test_common
