#pragma once
// A programmable HTTP/1.1 server for tests: evhttp on 127.0.0.1:0, on its own thread with its own
// Dispatcher. Per path it replies with a status/headers/body, after a delay, or misbehaves (closes
// without replying, closes mid-body, never replies). It records what it received and counts the
// TCP connections it accepted, so tests can prove keep-alive reuse. Every accessor is thread-safe.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "sidecar/event/dispatcher.h"

struct evhttp;
struct evhttp_request;
struct evhttp_connection;
struct bufferevent;
struct event_base;

namespace sidecar::test_common {

using FakeHeaders = std::vector<std::pair<std::string, std::string>>;

struct FakeResponse {
  enum class Action {
    kReply,             // status, headers, body
    kClose,             // close the connection without replying
    kCloseMidResponse,  // headers with the full Content-Length, half the body, then close
    kNeverReply,        // hold the request until shutdown
  };
  Action action = Action::kReply;
  int status = 200;
  FakeHeaders headers;
  std::string body;
  std::chrono::milliseconds delay{0};  // before acting (any action but kNeverReply)

  static FakeResponse Reply(int status, std::string body = "", FakeHeaders headers = {});
  static FakeResponse Delayed(std::chrono::milliseconds delay, int status = 200,
                              std::string body = "");
  static FakeResponse Close();
  static FakeResponse CloseMidResponse(std::string body = "0123456789abcdefghij");
  static FakeResponse NeverReply();
};

struct RecordedRequest {
  std::string method;
  std::string uri;  // path plus query, as received
  FakeHeaders headers;
  std::string body;

  // First value of `name` (case-insensitive), or nullopt.
  std::optional<std::string> Header(const std::string& name) const;
};

class FakeHttpUpstream {
 public:
  // Binds 127.0.0.1:0 and starts serving. Unprogrammed paths answer 200 "ok".
  static absl::StatusOr<std::unique_ptr<FakeHttpUpstream>> Create();
  // Stops the thread, then frees every held request and connection.
  ~FakeHttpUpstream();

  FakeHttpUpstream(const FakeHttpUpstream&) = delete;
  FakeHttpUpstream& operator=(const FakeHttpUpstream&) = delete;

  uint16_t port() const { return port_; }
  std::string address() const;  // "127.0.0.1:<port>"

  // `path` excludes the query string. Applies to requests received from now on.
  void SetResponse(const std::string& path, FakeResponse response);
  void SetDefaultResponse(FakeResponse response);

  int request_count() const;
  int request_count(const std::string& path) const;
  std::optional<RecordedRequest> last_request() const;
  // Distinct TCP connections accepted so far.
  int connections_accepted() const;
  // Requests received and not yet answered (or dropped), now and at the peak.
  int in_flight() const;
  int max_in_flight() const;

  // Keeps the body of every request to `path` received from now on (at-least-once delivery tests
  // count what arrived, duplicates included). Off by default: a long run would hold every body.
  void KeepBodies(const std::string& path);
  // The bodies kept so far for `path`, in arrival order.
  std::vector<std::string> kept_bodies(const std::string& path) const;

  // Blocks the caller (not the server) until `count` requests arrived in total, or `timeout`.
  bool WaitForRequests(int count, std::chrono::milliseconds timeout) const;

 private:
  struct Held;  // a request waiting for its delayed action, or never answered

  FakeHttpUpstream() = default;

  static void OnRequest(evhttp_request* request, void* arg) noexcept;
  static bufferevent* OnNewConnection(event_base* base, void* arg) noexcept;
  static void OnHeldTimer(int fd, short what, void* arg) noexcept;
  static void OnPartialBodySent(evhttp_connection* connection, void* arg) noexcept;

  void Handle(evhttp_request* request);
  void Act(evhttp_request* request, const FakeResponse& response);
  void ReleaseHeld();

  event::DispatcherPtr dispatcher_;
  evhttp* http_ = nullptr;
  uint16_t port_ = 0;
  std::thread thread_;
  std::list<std::unique_ptr<Held>> held_;  // server thread only (and the destructor, after join)

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::map<std::string, FakeResponse> responses_;  // guarded by mu_
  FakeResponse default_response_ = FakeResponse::Reply(200, "ok");
  int requests_ = 0;
  std::map<std::string, int> requests_by_path_;
  std::optional<RecordedRequest> last_;
  int connections_ = 0;
  int in_flight_ = 0;
  int max_in_flight_ = 0;
  std::map<std::string, std::vector<std::string>> kept_;  // paths given to KeepBodies
};

}  // namespace sidecar::test_common
