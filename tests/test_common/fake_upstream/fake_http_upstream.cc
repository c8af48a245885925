#include "tests/test_common/fake_upstream/fake_http_upstream.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>

#include <algorithm>

#include "absl/status/status.h"
#include "sidecar/http/method.h"

namespace sidecar::test_common {
namespace {

std::string PathOf(const std::string& uri) { return uri.substr(0, uri.find('?')); }

std::string Drain(evbuffer* buffer) {
  std::string out(evbuffer_get_length(buffer), '\0');
  if (!out.empty()) evbuffer_copyout(buffer, out.data(), out.size());
  return out;
}

}  // namespace

FakeResponse FakeResponse::Reply(int status, std::string body, FakeHeaders headers) {
  FakeResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

FakeResponse FakeResponse::Delayed(std::chrono::milliseconds delay, int status, std::string body) {
  FakeResponse r = Reply(status, std::move(body));
  r.delay = delay;
  return r;
}

FakeResponse FakeResponse::Close() {
  FakeResponse r;
  r.action = Action::kClose;
  return r;
}

FakeResponse FakeResponse::CloseMidResponse(std::string body) {
  FakeResponse r;
  r.action = Action::kCloseMidResponse;
  r.body = std::move(body);
  return r;
}

FakeResponse FakeResponse::NeverReply() {
  FakeResponse r;
  r.action = Action::kNeverReply;
  return r;
}

std::optional<std::string> RecordedRequest::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  }
  return std::nullopt;
}

struct FakeHttpUpstream::Held {
  FakeHttpUpstream* self = nullptr;
  evhttp_request* request = nullptr;
  FakeResponse response;
  std::list<std::unique_ptr<Held>>::iterator pos;
};

absl::StatusOr<std::unique_ptr<FakeHttpUpstream>> FakeHttpUpstream::Create() {
  std::unique_ptr<FakeHttpUpstream> fake(new FakeHttpUpstream());
  auto dispatcher = event::Dispatcher::Create("fake-http-upstream");
  if (!dispatcher.ok()) return dispatcher.status();
  fake->dispatcher_ = *std::move(dispatcher);
  fake->http_ = evhttp_new(fake->dispatcher_->base());
  if (fake->http_ == nullptr) return absl::InternalError("evhttp_new failed");
  evhttp_set_allowed_methods(fake->http_, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                              EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
  evhttp_set_gencb(fake->http_, &FakeHttpUpstream::OnRequest, fake.get());
  evhttp_set_bevcb(fake->http_, &FakeHttpUpstream::OnNewConnection, fake.get());
  evhttp_bound_socket* bound = evhttp_bind_socket_with_handle(fake->http_, "127.0.0.1", 0);
  if (bound == nullptr) {
    evhttp_free(fake->http_);
    fake->http_ = nullptr;
    return absl::InternalError("evhttp_bind_socket_with_handle(127.0.0.1:0) failed");
  }
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(evhttp_bound_socket_get_fd(bound), reinterpret_cast<sockaddr*>(&addr), &len) !=
      0) {
    evhttp_free(fake->http_);
    fake->http_ = nullptr;
    return absl::InternalError("getsockname failed");
  }
  fake->port_ = ntohs(addr.sin_port);
  FakeHttpUpstream* raw = fake.get();
  fake->thread_ = std::thread([raw] { raw->dispatcher_->Run(); });
  return fake;
}

FakeHttpUpstream::~FakeHttpUpstream() {
  if (thread_.joinable()) {
    dispatcher_->Exit();
    thread_.join();
  }
  // The loop is stopped: everything below is single-threaded.
  ReleaseHeld();
  if (http_ != nullptr) evhttp_free(http_);  // closes the listener and every connection
  dispatcher_.reset();                       // frees pending one-shot timers with the event_base
}

std::string FakeHttpUpstream::address() const { return "127.0.0.1:" + std::to_string(port_); }

void FakeHttpUpstream::SetResponse(const std::string& path, FakeResponse response) {
  std::lock_guard<std::mutex> lock(mu_);
  responses_[path] = std::move(response);
}

void FakeHttpUpstream::SetDefaultResponse(FakeResponse response) {
  std::lock_guard<std::mutex> lock(mu_);
  default_response_ = std::move(response);
}

int FakeHttpUpstream::request_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

int FakeHttpUpstream::request_count(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = requests_by_path_.find(path);
  return it == requests_by_path_.end() ? 0 : it->second;
}

std::optional<RecordedRequest> FakeHttpUpstream::last_request() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_;
}

int FakeHttpUpstream::connections_accepted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connections_;
}

int FakeHttpUpstream::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

int FakeHttpUpstream::max_in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_in_flight_;
}

bool FakeHttpUpstream::WaitForRequests(int count, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return requests_ >= count; });
}

// evhttp asks for a bufferevent once per accepted connection: the one hook that counts them.
bufferevent* FakeHttpUpstream::OnNewConnection(event_base* base, void* arg) noexcept {
  auto* self = static_cast<FakeHttpUpstream*>(arg);
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    ++self->connections_;
  }
  // What evhttp creates by default; it sets the socket itself.
  return bufferevent_socket_new(base, -1, 0);
}

void FakeHttpUpstream::KeepBodies(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  kept_[path];
}

std::vector<std::string> FakeHttpUpstream::kept_bodies(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = kept_.find(path);
  return it == kept_.end() ? std::vector<std::string>{} : it->second;
}

void FakeHttpUpstream::OnRequest(evhttp_request* request, void* arg) noexcept {
  static_cast<FakeHttpUpstream*>(arg)->Handle(request);
}

void FakeHttpUpstream::Handle(evhttp_request* request) {
  RecordedRequest recorded;
  recorded.method = http::MethodName(evhttp_request_get_command(request));
  recorded.uri = evhttp_request_get_uri(request);
  const evkeyvalq* headers = evhttp_request_get_input_headers(request);
  for (const evkeyval* h = headers->tqh_first; h != nullptr; h = h->next.tqe_next) {
    recorded.headers.emplace_back(h->key, h->value);
  }
  recorded.body = Drain(evhttp_request_get_input_buffer(request));
  const std::string path = PathOf(recorded.uri);

  FakeResponse response;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++requests_;
    ++requests_by_path_[path];
    if (auto kept = kept_.find(path); kept != kept_.end()) kept->second.push_back(recorded.body);
    last_ = std::move(recorded);
    ++in_flight_;
    max_in_flight_ = std::max(max_in_flight_, in_flight_);
    auto it = responses_.find(path);
    response = it != responses_.end() ? it->second : default_response_;
  }
  cv_.notify_all();

  if (response.action != FakeResponse::Action::kNeverReply && response.delay.count() <= 0) {
    Act(request, response);
    return;
  }
  auto held = std::make_unique<Held>();
  held->self = this;
  held->request = request;
  held->response = std::move(response);
  Held* raw = held.get();
  held_.push_back(std::move(held));
  raw->pos = std::prev(held_.end());
  if (raw->response.action == FakeResponse::Action::kNeverReply) return;
  timeval tv;
  tv.tv_sec = static_cast<time_t>(raw->response.delay.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((raw->response.delay.count() % 1000) * 1000);
  // libevent owns a one-shot event; it is freed after firing, or with the base at shutdown.
  event_base_once(dispatcher_->base(), -1, EV_TIMEOUT, &FakeHttpUpstream::OnHeldTimer, raw, &tv);
}

void FakeHttpUpstream::OnHeldTimer(int, short, void* arg) noexcept {
  auto* held = static_cast<Held*>(arg);
  FakeHttpUpstream* self = held->self;
  std::unique_ptr<Held> owned = std::move(*held->pos);
  self->held_.erase(owned->pos);
  self->Act(owned->request, owned->response);
}

void FakeHttpUpstream::Act(evhttp_request* request, const FakeResponse& response) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
  }
  evhttp_connection* connection = evhttp_request_get_connection(request);
  if (connection == nullptr) {
    // The client went away while we held the request; evhttp left it to us.
    evhttp_request_free(request);
    return;
  }
  switch (response.action) {
    case FakeResponse::Action::kReply: {
      evkeyvalq* out = evhttp_request_get_output_headers(request);
      for (const auto& [k, v] : response.headers) evhttp_add_header(out, k.c_str(), v.c_str());
      evbuffer* body = evbuffer_new();
      evbuffer_add(body, response.body.data(), response.body.size());
      evhttp_send_reply(request, response.status, nullptr, body);
      evbuffer_free(body);
      return;
    }
    case FakeResponse::Action::kClose:
      // Frees the request too. Safe inside evhttp's request callback: evhttp touches neither
      // again once the callback returns.
      evhttp_connection_free(connection);
      return;
    case FakeResponse::Action::kCloseMidResponse: {
      // At least one byte must go out, or the write callback that closes never runs.
      const std::string full = response.body.size() >= 2 ? response.body : "0123456789";
      evkeyvalq* out = evhttp_request_get_output_headers(request);
      for (const auto& [k, v] : response.headers) evhttp_add_header(out, k.c_str(), v.c_str());
      evhttp_add_header(out, "Content-Length", std::to_string(full.size()).c_str());
      evhttp_send_reply_start(request, response.status, nullptr);
      evbuffer* part = evbuffer_new();
      evbuffer_add(part, full.data(), full.size() / 2);
      evhttp_send_reply_chunk_with_cb(request, part, &FakeHttpUpstream::OnPartialBodySent, this);
      evbuffer_free(part);
      return;
    }
    case FakeResponse::Action::kNeverReply: return;
  }
}

// Called once the partial body reached the socket.
void FakeHttpUpstream::OnPartialBodySent(evhttp_connection* connection, void*) noexcept {
  evhttp_connection_free(connection);
}

void FakeHttpUpstream::ReleaseHeld() {
  for (auto& held : held_) {
    // Still attached: evhttp_free() frees it with its connection. Detached: ours to free.
    if (evhttp_request_get_connection(held->request) == nullptr) {
      evhttp_request_free(held->request);
    }
  }
  held_.clear();
}

}  // namespace sidecar::test_common
