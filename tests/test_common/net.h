#pragma once
// Loopback sockets for tests: listening sockets the test owns (and can hand to a child process)
// and, when a port number must be chosen before a server starts, an unused-port picker.

#include <string>

#include "absl/status/statusor.h"

namespace sidecar::test_common {

// Owns one file descriptor; closes it on destruction. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = other.Release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// `fd` itself, or a close-on-exec duplicate numbered 3 or above when `fd` is 0-2 (which happens
// when the test runs with stdin or stdout closed). Process::Spawn only hands such fds to children.
absl::StatusOr<UniqueFd> AboveStdio(UniqueFd fd);

// A TCP socket bound to 127.0.0.1:`port` (0 = the kernel picks) and listening, close-on-exec,
// with SO_REUSEADDR so a port freed by a killed server can be bound again at once. Its number is
// never 0-2, so it can be inherited by a child process.
absl::StatusOr<UniqueFd> ListenOnLoopback(int port, int backlog = 128);

// The local port a socket is bound to.
absl::StatusOr<int> LocalPort(int fd);

// A port that was free a moment ago: binds 127.0.0.1:0, reads the port, closes the socket.
// RACY by nature: another process may take the port before the caller binds it. Prefer letting
// the server bind port 0 (nats-server -p -1) or handing it a pre-bound socket; callers that must
// use this retry with a new port when the server reports "address already in use".
absl::StatusOr<int> PickUnusedPort();

// "127.0.0.1:<port>".
std::string LoopbackAddress(int port);

}  // namespace sidecar::test_common
