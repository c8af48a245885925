#pragma once
// The admin HTTP endpoint (127.0.0.1:9901 by default): /health, /ready, /metrics, /config_dump...
// Each concern registers its own handler here, the way Envoy's admin does; this class owns only the
// listener, exact-path routing, the index page and the hardening evhttp lacks by default (header,
// body and time limits; GET/HEAD only).
//
// Threading: handlers run on the dispatcher's thread. Create(), AddHandler() and destruction happen
// on that thread too, or before its Run() starts / after it returns. Destroy the server before the
// dispatcher: evhttp holds events on the dispatcher's event_base.

#include <event2/http.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sidecar/common/c_handle.h"
#include "sidecar/config/config.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/http/message.h"

namespace sidecar::admin {

class AdminServer {
 public:
  struct Request {
    std::string method;  // "GET" or "HEAD"
    std::string path;    // without the query string, not percent-decoded
    std::string query;   // raw, without '?'; "" when absent
    std::string body;    // POST only
  };
  // A handler's exceptions are caught at the C boundary and answered with 500.
  using Handler = absl::AnyInvocable<http::Response(const Request&)>;

  // Limits applied to every admin connection.
  static constexpr int kMaxHeadersBytes = 8 * 1024;
  static constexpr int kMaxBodyBytes =
      1024;  // only GET/HEAD are served; a small body still gets a 405
  static constexpr int kTimeoutSeconds =
      5;  // idle/read/write, so a slow client cannot pin a connection

  // Binds and listens on `address` (a literal IP or "localhost"; port 0 picks an ephemeral port).
  // A bind failure is UNAVAILABLE and a malformed address INVALID_ARGUMENT; both name the address.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Create(const config::HostPort& address,
                                                             event::Dispatcher& dispatcher);
  // As above, on config.address; with a non-empty config.token every POST (the mutating
  // endpoints) must carry "Authorization: Bearer <token>", else 401 and nothing changes. Reads
  // stay open: /ready and /metrics are scraped by load balancers and Prometheus.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Create(const config::AdminConfig& config,
                                                             event::Dispatcher& dispatcher);
  ~AdminServer();

  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Exact-path match; `path` must start with '/' and carry no query. `help` is shown on the index
  // page
  // "/". ALREADY_EXISTS on a duplicate path ("/" itself is the index and taken).
  absl::Status AddHandler(std::string path, std::string help, Handler handler);
  // A POST handler for every path under `prefix` (which ends with '/'), e.g. "/routes/" serves
  // POST /routes/<name>/weights. The body must be JSON (Content-Type: application/json), which a
  // browser cannot send cross-origin without a preflight, so a web page cannot change the sidecar.
  absl::Status AddPostHandler(std::string prefix, std::string help, Handler handler);

  // The bound port (the ephemeral one when created with port 0).
  uint16_t port() const { return port_; }

 private:
  using EvHttpPtr = CHandle<evhttp, evhttp_free>;
  struct Entry {
    std::string help;
    Handler handler;
  };

  AdminServer(event::Dispatcher& dispatcher, EvHttpPtr http, uint16_t port);
  static void OnRequest(evhttp_request* req, void* arg) noexcept;
  void HandleRequest(evhttp_request* req);
  http::Response Dispatch(const Request& request);
  http::Response DispatchPost(const Request& request, evhttp_request* req);
  static http::Response Invoke(const Request& request, Handler& handler);
  bool Authorized(const char* authorization) const;
  http::Response RenderIndex() const;

  event::Dispatcher& dispatcher_;
  EvHttpPtr http_;
  uint16_t port_;
  std::string token_;  // "" -> POSTs need no token (loopback only; the loader enforces that)
  std::map<std::string, Entry> handlers_;
  std::map<std::string, Entry> post_handlers_;  // by prefix  // sorted, so the index page is stable
};
using AdminServerPtr = std::unique_ptr<AdminServer>;

}  // namespace sidecar::admin
