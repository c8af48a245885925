#pragma once
// Helpers shared by the admin tests: an AdminServer running on its own dispatcher thread, and raw
// loopback sockets for the cases a well-behaved client cannot produce. Every wait is bounded by
// poll().

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "sidecar/admin/admin_server.h"
#include "sidecar/event/dispatcher.h"

namespace sidecar::admin::test {

// Owns a dispatcher, an AdminServer on 127.0.0.1:0 and the thread running the loop. Register
// handlers with server() before Start(); the destructor stops the loop and joins.
class RunningAdmin {
 public:
  RunningAdmin() {
    auto dispatcher = event::Dispatcher::Create("admin-test");
    EXPECT_TRUE(dispatcher.ok()) << dispatcher.status();
    dispatcher_ = std::move(*dispatcher);
    auto server = AdminServer::Create(config::HostPort{"127.0.0.1", 0}, *dispatcher_);
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  ~RunningAdmin() {
    if (thread_.joinable()) {
      dispatcher_->Exit();
      thread_.join();
    }
    server_.reset();  // before the dispatcher: evhttp's events live on its base
  }

  void Start() {
    thread_ = std::thread([this] { dispatcher_->Run(); });
  }
  AdminServer& server() { return *server_; }
  event::Dispatcher& dispatcher() { return *dispatcher_; }
  uint16_t port() const { return server_->port(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port()); }

 private:
  event::DispatcherPtr dispatcher_;
  AdminServerPtr server_;
  std::thread thread_;
};

inline sockaddr_in Loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

inline uint16_t LocalPort(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

// A socket bound to 127.0.0.1:<ephemeral>; listening (but never accepting) when `listen_backlog` >
// 0.
class BoundSocket {
 public:
  explicit BoundSocket(int listen_backlog) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = Loopback(0);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    if (listen_backlog > 0) {
      EXPECT_EQ(::listen(fd_, listen_backlog), 0);
    }
    port_ = LocalPort(fd_);
  }
  ~BoundSocket() { ::close(fd_); }
  BoundSocket(const BoundSocket&) = delete;
  BoundSocket& operator=(const BoundSocket&) = delete;

  int fd() const { return fd_; }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// Sends `request` to 127.0.0.1:port and returns everything read until EOF or `timeout`.
inline std::string RawExchange(
    uint16_t port, const std::string& request,
    std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = Loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    ADD_FAILURE() << "connect to port " << port << " failed";
    return "";
  }
  // The server may answer (413) and close before reading everything; ignore send errors then.
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ADD_FAILURE() << "no EOF from port " << port << " within " << timeout.count() << " ms";
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;  // EOF, or a reset after an early error reply
    response.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return response;
}

inline std::string Body(const std::string& response) {
  size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

}  // namespace sidecar::admin::test
