#include "sidecar/admin/admin_server.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <exception>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "sidecar/admin/socket_address.h"
#include "sidecar/common/logging.h"
#include "sidecar/http/method.h"

namespace sidecar::admin {
namespace {

using EvBufferPtr = CHandle<evbuffer, evbuffer_free>;

constexpr int kListenBacklog = 128;

// Every method evhttp can parse. evhttp answers methods outside its allowed set with 501; allowing
// them all lets us answer with the correct 405 and an Allow header.
constexpr ev_uint16_t kAllMethods = EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                    EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH;

http::Response ErrorResponse(int status, absl::string_view code, const std::string& message) {
  http::Response response;
  response.status = status;
  nlohmann::json body = {{"error", {{"code", std::string(code)}, {"message", message}}}};
  response.body = body.dump();
  response.headers.Set("Content-Type", "application/json");
  return response;
}

// evhttp writes these itself; a handler's copy would be duplicated or contradict the real framing.
bool IsFramingHeader(std::string_view name) {
  return http::HeaderMap::NameEquals(name, "Content-Length") ||
         http::HeaderMap::NameEquals(name, "Transfer-Encoding") ||
         http::HeaderMap::NameEquals(name, "Connection");
}

absl::Status BindError(const config::HostPort& address, absl::string_view step, int err) {
  return absl::UnavailableError(absl::StrCat("admin: cannot listen on ", address.ToString(), ": ",
                                             step, ": ", std::strerror(err)));
}

// Our own socket rather than evhttp_bind_socket_with_handle: it reports bind errors precisely and
// never resolves names.
absl::StatusOr<int> Listen(const config::HostPort& address) {
  absl::StatusOr<SocketAddress> addr = ResolveLiteral(address);
  if (!addr.ok()) return addr.status();
  int fd = ::socket(addr->family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return BindError(address, "socket", errno);
  // Restarts must not fail on TIME_WAIT leftovers. On Linux this still refuses a port another
  // socket is listening on, so a real conflict is reported.
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, addr->get(), addr->length) != 0) {
    int err = errno;
    ::close(fd);
    return BindError(address, "bind", err);
  }
  if (::listen(fd, kListenBacklog) != 0) {
    int err = errno;
    ::close(fd);
    return BindError(address, "listen", err);
  }
  return fd;
}

absl::StatusOr<uint16_t> BoundPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return absl::InternalError(absl::StrCat("admin: getsockname: ", std::strerror(errno)));
  }
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Create(const config::HostPort& address,
                                                                 event::Dispatcher& dispatcher) {
  assert(dispatcher.IsThreadSafe());
  EvHttpPtr http(evhttp_new(dispatcher.base()));
  if (http == nullptr) return absl::InternalError("admin: evhttp_new failed");
  // evhttp has no limits by default: unbounded headers and bodies, no timeouts.
  evhttp_set_max_headers_size(http.get(), kMaxHeadersBytes);
  evhttp_set_max_body_size(http.get(), kMaxBodyBytes);
  evhttp_set_timeout(http.get(), kTimeoutSeconds);
  evhttp_set_allowed_methods(http.get(), kAllMethods);

  absl::StatusOr<int> fd = Listen(address);
  if (!fd.ok()) return fd.status();
  absl::StatusOr<uint16_t> port = BoundPort(*fd);
  if (!port.ok()) {
    ::close(*fd);
    return port.status();
  }
  // From here evhttp owns the fd (LEV_OPT_CLOSE_ON_FREE): evhttp_free closes it.
  if (evhttp_accept_socket_with_handle(http.get(), *fd) == nullptr) {
    ::close(*fd);
    return absl::InternalError(absl::StrCat("admin: cannot accept on ", address.ToString()));
  }

  std::unique_ptr<AdminServer> server(new AdminServer(dispatcher, std::move(http), *port));
  evhttp_set_gencb(server->http_.get(), &AdminServer::OnRequest, server.get());
  server->handlers_.emplace("/", Entry{"this index", nullptr});
  return server;
}

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Create(const config::AdminConfig& config,
                                                                 event::Dispatcher& dispatcher) {
  absl::StatusOr<std::unique_ptr<AdminServer>> server = Create(config.address, dispatcher);
  if (server.ok()) (*server)->token_ = config.token;
  return server;
}

AdminServer::AdminServer(event::Dispatcher& dispatcher, EvHttpPtr http, uint16_t port)
    : dispatcher_(dispatcher), http_(std::move(http)), port_(port) {}

// evhttp_free (through http_) closes the listener and every open connection, so no callback can
// reach a destroyed server.
AdminServer::~AdminServer() = default;

absl::Status AdminServer::AddHandler(std::string path, std::string help, Handler handler) {
  assert(dispatcher_.IsThreadSafe());
  if (path.empty() || path.front() != '/' || path.find_first_of("?#") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin: handler path \"", path, "\" must start with '/' and have no query"));
  }
  if (handler == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("admin: null handler for ", path));
  }
  auto [it, inserted] = handlers_.try_emplace(path, Entry{std::move(help), std::move(handler)});
  if (!inserted) {
    return absl::AlreadyExistsError(absl::StrCat("admin: a handler for ", path, " already exists"));
  }
  return absl::OkStatus();
}

absl::Status AdminServer::AddPostHandler(std::string prefix, std::string help, Handler handler) {
  assert(dispatcher_.IsThreadSafe());
  if (prefix.size() < 2 || prefix.front() != '/' || prefix.back() != '/' ||
      prefix.find_first_of("?#") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin: POST prefix \"", prefix, "\" must start and end with '/'"));
  }
  if (handler == nullptr) return absl::InvalidArgumentError(absl::StrCat("admin: null handler for ", prefix));
  auto [it, inserted] = post_handlers_.try_emplace(prefix, Entry{std::move(help), std::move(handler)});
  if (!inserted) {
    return absl::AlreadyExistsError(absl::StrCat("admin: a POST handler for ", prefix, " already exists"));
  }
  return absl::OkStatus();
}

void AdminServer::OnRequest(evhttp_request* req, void* arg) noexcept {
  static_cast<AdminServer*>(arg)->HandleRequest(req);
}

void AdminServer::HandleRequest(evhttp_request* req) {
  const evhttp_cmd_type cmd = evhttp_request_get_command(req);
  Request request;
  request.method = http::MethodName(cmd);
  if (const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req); uri != nullptr) {
    const char* path = evhttp_uri_get_path(uri);
    const char* query = evhttp_uri_get_query(uri);
    request.path = (path != nullptr && *path != '\0') ? path : "/";
    if (query != nullptr) request.query = query;
  } else {
    request.path = "/";
  }

  http::Response response;
  if (cmd == EVHTTP_REQ_POST) {
    response = DispatchPost(request, req);
  } else if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
    response = ErrorResponse(405, "METHOD_NOT_ALLOWED",
                             absl::StrCat("admin accepts only GET, HEAD and POST, not ", request.method));
    response.headers.Set("Allow", "GET, HEAD, POST");
  } else {
    response = Dispatch(request);
  }

  evkeyvalq* out = evhttp_request_get_output_headers(req);
  for (const auto& [name, value] : response.headers.entries()) {
    if (IsFramingHeader(name)) continue;
    if (evhttp_add_header(out, name.c_str(), value.c_str()) != 0) {
      log::Warn("admin: dropped invalid response header",
                {{"path", request.path}, {"header", name}});
    }
  }
  if (!response.headers.Has("Content-Type")) {
    const bool json = !response.body.empty() && response.body.front() == '{';
    evhttp_add_header(out, "Content-Type", json ? "application/json" : "text/plain; charset=utf-8");
  }
  // Operators and scripts read these; a cached /ready is worse than none.
  if (!response.headers.Has("Cache-Control"))
    evhttp_add_header(out, "Cache-Control", "no-cache, max-age=0");
  if (!response.headers.Has("X-Content-Type-Options")) {
    evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
  }

  EvBufferPtr body(evbuffer_new());
  if (cmd == EVHTTP_REQ_HEAD) {
    // evhttp would send a HEAD body as-is; send none, but tell the length a GET would have.
    evhttp_add_header(out, "Content-Length", std::to_string(response.body.size()).c_str());
  } else if (body != nullptr) {
    evbuffer_add(body.get(), response.body.data(), response.body.size());
  }
  evhttp_send_reply(req, response.status, nullptr, body.get());
}

http::Response AdminServer::Dispatch(const Request& request) {
  auto it = handlers_.find(request.path);
  if (it == handlers_.end()) {
    return ErrorResponse(
        404, "NOT_FOUND",
        absl::StrCat("no admin handler for ", request.path, "; GET / lists the handlers"));
  }
  if (request.path == "/") return RenderIndex();
  return Invoke(request, it->second.handler);
}

http::Response AdminServer::DispatchPost(const Request& request, evhttp_request* req) {
  const Entry* entry = nullptr;
  for (const auto& [prefix, e] : post_handlers_) {
    if (absl::StartsWith(request.path, prefix)) entry = &e;  // map order: the longest match wins last
  }
  if (entry == nullptr) {
    http::Response r = ErrorResponse(405, "METHOD_NOT_ALLOWED", absl::StrCat("no POST handler for ", request.path));
    r.headers.Set("Allow", "GET, HEAD");
    return r;
  }
  if (!token_.empty() && !Authorized(evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization"))) {
    log::Warn("admin: rejected an unauthenticated POST (admin token missing or wrong)", {{"path", request.path}});
    http::Response r = ErrorResponse(401, "UNAUTHENTICATED",
                                     "this admin endpoint needs Authorization: Bearer <admin token>");
    r.headers.Set("WWW-Authenticate", "Bearer realm=\"nats-sidecar admin\"");
    return r;
  }
  const char* type = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
  if (type == nullptr || !absl::StartsWithIgnoreCase(type, "application/json")) {
    return ErrorResponse(415, "INVALID_ARGUMENT", "admin POST bodies must be Content-Type: application/json");
  }
  Request with_body = request;
  evbuffer* in = evhttp_request_get_input_buffer(req);
  const size_t length = evbuffer_get_length(in);
  with_body.body.resize(length);
  evbuffer_copyout(in, with_body.body.data(), length);
  return Invoke(with_body, const_cast<Entry*>(entry)->handler);
}

bool AdminServer::Authorized(const char* authorization) const {
  if (authorization == nullptr) return false;
  absl::string_view value(authorization);
  if (!absl::StartsWithIgnoreCase(value, "Bearer ")) return false;
  value.remove_prefix(7);
  // Constant time in the token's contents, so response timing does not reveal a prefix.
  if (value.size() != token_.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < value.size(); ++i) diff |= static_cast<unsigned char>(value[i] ^ token_[i]);
  return diff == 0;
}

http::Response AdminServer::Invoke(const Request& request, Handler& handler) {
  // The boundary with arbitrary handler code (which may use nlohmann, yaml-cpp...): nothing may
  // unwind through evhttp's C frames.
  try {
    return handler(request);
  } catch (const std::exception& e) {
    log::Error("admin handler threw", {{"path", request.path}, {"what", e.what()}});
    return ErrorResponse(500, "INTERNAL", absl::StrCat("handler for ", request.path, " failed"));
  } catch (...) {
    log::Error("admin handler threw", {{"path", request.path}});
    return ErrorResponse(500, "INTERNAL", absl::StrCat("handler for ", request.path, " failed"));
  }
}

http::Response AdminServer::RenderIndex() const {
  http::Response response;
  response.headers.Set("Content-Type", "text/plain; charset=utf-8");
  size_t width = 0;
  for (const auto& [path, entry] : handlers_) width = std::max(width, path.size());
  for (const auto& [path, entry] : handlers_) {
    absl::StrAppend(&response.body, path, std::string(width - path.size() + 2, ' '), entry.help,
                    "\n");
  }
  for (const auto& [prefix, entry] : post_handlers_) {
    absl::StrAppend(&response.body, "POST ", prefix, "...  ", entry.help, "\n");
  }
  return response;
}

}  // namespace sidecar::admin
