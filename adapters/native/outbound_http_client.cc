#include "adapters/native/outbound_http_client.h"

#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>

#include "sidecar/common/logging.h"
#include "sidecar/http/message.h"
#include "sidecar/http/method.h"
#include "sidecar/upstream/cluster.h"
#include "sidecar/upstream/http_client_connection.h"

namespace sidecar::adapters::native {
namespace {

using services::OutboundHttpDone;
using services::OutboundHttpRequest;
using services::OutboundHttpResponse;

bool StartsWithNoCase(const std::string& s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

// Transport failures of one exchange, as OutboundHttpClient promises them.
absl::Status MapFailure(const absl::Status& status) {
  if (upstream::GetFailureKind(status) == upstream::FailureKind::kTimeout) {
    return absl::DeadlineExceededError(status.message());
  }
  if (absl::IsInvalidArgument(status)) return status;  // a header evhttp cannot send
  return absl::UnavailableError(status.message());
}

// Numeric address family of `host`, or nullopt for a name.
std::optional<int> NumericFamily(const std::string& host) {
  in_addr v4;
  if (evutil_inet_pton(AF_INET, host.c_str(), &v4) == 1) return AF_INET;
  in6_addr v6;
  if (evutil_inet_pton(AF_INET6, host.c_str(), &v6) == 1) return AF_INET6;
  return std::nullopt;
}

}  // namespace

absl::StatusOr<ParsedHttpUrl> ParseHttpUrl(const std::string& url) {
  if (StartsWithNoCase(url, "https://")) {
    return absl::InvalidArgumentError("https:// is not supported by the outbound HTTP client");
  }
  if (!StartsWithNoCase(url, "http://")) {
    return absl::InvalidArgumentError("outbound URL must start with http://");
  }
  const std::string rest = url.substr(7);
  const size_t end = rest.find_first_of("/?#");
  const std::string authority = rest.substr(0, end);
  std::string target = end == std::string::npos ? "" : rest.substr(end);
  if (const size_t hash = target.find('#'); hash != std::string::npos) target.resize(hash);
  if (target.empty() || target[0] != '/') target.insert(0, "/");
  if (authority.empty() || authority.find('@') != std::string::npos) {
    return absl::InvalidArgumentError("outbound URL has no usable host");
  }
  ParsedHttpUrl out;
  out.target = std::move(target);
  out.host_header = authority;
  std::string port_text;
  if (authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) return absl::InvalidArgumentError("bad IPv6 host in URL");
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return absl::InvalidArgumentError("bad host in URL");
      port_text = authority.substr(close + 2);
    }
  } else {
    const size_t colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) return absl::InvalidArgumentError("outbound URL has no host");
  if (!port_text.empty()) {
    if (port_text.size() > 5 ||
        !std::all_of(port_text.begin(), port_text.end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
      return absl::InvalidArgumentError("bad port in URL");
    }
    const int port = std::stoi(port_text);
    if (port < 1 || port > 65535) return absl::InvalidArgumentError("bad port in URL");
    out.port = static_cast<uint16_t>(port);
  }
  return out;
}

// One Send(): timer, optional DNS lookup, one connection.
class EvOutboundHttpClient::Exchange final : public upstream::HttpClientConnection::Callbacks {
 public:
  // The evdns callback's argument: outlives a cancelled exchange (evdns calls back once, maybe
  // after the exchange is gone), so it carries a pointer that Finish() clears.
  struct DnsBridge {
    Exchange* target;
  };

  Exchange(EvOutboundHttpClient& client, OutboundHttpRequest request, ParsedHttpUrl url,
           OutboundHttpDone done)
      : client_(client), request_(std::move(request)), url_(std::move(url)), done_(std::move(done)) {}

  void Start() {
    timer_ = client_.dispatcher_.CreateTimer([this] {
      client_.Finish(this, absl::DeadlineExceededError("outbound HTTP request timed out"));
    });
    timer_->Enable(std::max(request_.timeout, std::chrono::milliseconds(1)));
    std::string host = url_.host;
    if (host == "localhost") host = "127.0.0.1";
    if (std::optional<int> family = NumericFamily(host)) {
      Connect(host, *family);
      return;
    }
    evdns_base* dns = client_.Dns();
    if (dns == nullptr) {
      client_.Finish(this, absl::UnavailableError("no DNS resolver"));
      return;
    }
    evutil_addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    dns_ = new DnsBridge{this};
    // May call back before returning (then dns_ is already cleared and the result is null).
    evdns_getaddrinfo_request* pending =
        evdns_getaddrinfo(dns, host.c_str(), nullptr, &hints, &Exchange::OnResolved, dns_);
    if (dns_ != nullptr) dns_request_ = pending;
  }

  // Called by Finish(): nothing of this exchange may call back any more.
  void Stop() {
    if (timer_ != nullptr) timer_->Disable();
    if (dns_ != nullptr) {
      dns_->target = nullptr;  // the bridge is freed by the (cancelled) callback
      dns_ = nullptr;
      if (dns_request_ != nullptr) evdns_getaddrinfo_cancel(dns_request_);
      dns_request_ = nullptr;
    }
  }

  std::unique_ptr<upstream::HttpClientConnection> TakeConnection() {
    return std::move(connection_);
  }
  OutboundHttpDone TakeDone() { return std::move(done_); }
  bool finished = false;

  void OnComplete(upstream::HttpClientConnection&,
                  absl::StatusOr<http::Response> result) override {
    if (!result.ok()) {
      client_.Finish(this, MapFailure(result.status()));
      return;
    }
    OutboundHttpResponse response;
    response.status = result->status;
    for (const auto& entry : result->headers.entries()) {
      response.headers.emplace_back(entry.first, entry.second);
    }
    response.body = std::move(result->body);
    client_.Finish(this, std::move(response));
  }
  void OnIdleClose(upstream::HttpClientConnection&) override {}

 private:
  static void OnResolved(int error, evutil_addrinfo* result, void* arg) noexcept {
    auto* bridge = static_cast<DnsBridge*>(arg);
    Exchange* self = bridge->target;
    delete bridge;
    if (self == nullptr) {  // cancelled: the exchange already finished
      if (result != nullptr) evutil_freeaddrinfo(result);
      return;
    }
    self->dns_ = nullptr;
    self->dns_request_ = nullptr;
    if (error != 0 || result == nullptr) {
      if (result != nullptr) evutil_freeaddrinfo(result);
      self->client_.Finish(self, absl::UnavailableError("cannot resolve " + self->url_.host));
      return;
    }
    char text[INET6_ADDRSTRLEN] = {0};
    const int family = result->ai_family;
    const void* addr =
        family == AF_INET6
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(result->ai_addr)->sin6_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(result->ai_addr)->sin_addr);
    const bool ok = evutil_inet_ntop(family, addr, text, sizeof(text)) != nullptr;
    evutil_freeaddrinfo(result);
    if (!ok) {
      self->client_.Finish(self, absl::UnavailableError("cannot resolve " + self->url_.host));
      return;
    }
    self->Connect(text, family);
  }

  void Connect(const std::string& address, int family) {
    std::optional<evhttp_cmd_type> method = http::ParseMethod(request_.method);
    if (!method.has_value()) {
      client_.Finish(this, absl::InvalidArgumentError("unsupported method " + request_.method));
      return;
    }
    upstream::ConnectionOptions options;
    options.address = address;
    options.port = url_.port;
    options.family = family;
    // The exchange's own timer is the deadline (DEADLINE_EXCEEDED); evhttp's timeouts are only a
    // backstop behind it.
    options.connect_timeout = request_.timeout + std::chrono::seconds(1);
    options.io_timeout = request_.timeout + std::chrono::seconds(1);
    options.max_response_body_bytes = client_.options_.max_response_body_bytes;
    options.max_response_headers_bytes = client_.options_.max_response_headers_bytes;
    auto connection = upstream::HttpClientConnection::Create(client_.dispatcher_, options, *this);
    if (!connection.ok()) {
      client_.Finish(this, absl::UnavailableError(connection.status().message()));
      return;
    }
    connection_ = std::move(*connection);
    upstream::WireRequest wire(*method, url_.target);
    absl::Status built = wire.AddHeader("Host", url_.host_header);
    for (const auto& [name, value] : request_.headers) {
      if (!built.ok()) break;
      if (http::HeaderMap::NameEquals(name, "Host") ||
          http::HeaderMap::NameEquals(name, "Content-Length") ||
          http::HeaderMap::NameEquals(name, "Connection")) {
        continue;  // framing is ours
      }
      built = wire.AddHeader(name, value);
    }
    if (built.ok()) built = wire.AddHeader("Content-Length", std::to_string(request_.body.size()));
    if (built.ok()) built = wire.AddHeader("Connection", "close");
    wire.set_body(request_.body);
    if (!built.ok()) {
      client_.Finish(this, MapFailure(built));
      return;
    }
    if (absl::Status s = connection_->Start(wire); !s.ok()) {
      client_.Finish(this, MapFailure(s));
    }
  }

  EvOutboundHttpClient& client_;
  OutboundHttpRequest request_;
  ParsedHttpUrl url_;
  OutboundHttpDone done_;
  event::TimerPtr timer_;
  DnsBridge* dns_ = nullptr;
  evdns_getaddrinfo_request* dns_request_ = nullptr;
  std::unique_ptr<upstream::HttpClientConnection> connection_;
};

EvOutboundHttpClient::EvOutboundHttpClient(event::Dispatcher& dispatcher, Options options)
    : dispatcher_(dispatcher), options_(options) {}

EvOutboundHttpClient::~EvOutboundHttpClient() {
  for (auto& [raw, exchange] : exchanges_) {
    exchange->Stop();
    std::unique_ptr<upstream::HttpClientConnection> connection = exchange->TakeConnection();
    if (connection != nullptr) connection->Detach();
  }
  exchanges_.clear();
  if (dns_ != nullptr) evdns_base_free(dns_, /*fail_requests=*/1);
}

evdns_base* EvOutboundHttpClient::Dns() {
  if (dns_ == nullptr) {
    // Reads resolv.conf once; lookups themselves are asynchronous on the loop.
    dns_ = evdns_base_new(dispatcher_.base(),
                          EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
  }
  return dns_;
}

void EvOutboundHttpClient::Send(OutboundHttpRequest request, OutboundHttpDone done) {
  absl::StatusOr<ParsedHttpUrl> url = ParseHttpUrl(request.url);
  if (!url.ok()) {
    dispatcher_.Post([done = std::move(done), status = url.status()]() mutable {
      std::move(done)(status);
    });
    return;
  }
  auto exchange = std::make_unique<Exchange>(*this, std::move(request), std::move(*url),
                                             std::move(done));
  Exchange* raw = exchange.get();
  exchanges_[raw] = std::move(exchange);
  raw->Start();
}

void EvOutboundHttpClient::Finish(Exchange* exchange,
                                  absl::StatusOr<OutboundHttpResponse> result) {
  if (exchange->finished) return;
  exchange->finished = true;
  exchange->Stop();
  // Possibly called from inside an evhttp callback: the connection and the exchange are freed
  // from posted tasks, and `done` runs from one too (never inline from Send()).
  upstream::HttpClientConnection::DeferredDestroy(dispatcher_, exchange->TakeConnection());
  dispatcher_.Post([done = exchange->TakeDone(), result = std::move(result)]() mutable {
    std::move(done)(std::move(result));
  });
  auto it = exchanges_.find(exchange);
  if (it != exchanges_.end()) {
    dispatcher_.Post([owned = std::move(it->second)]() mutable { owned.reset(); });
    exchanges_.erase(it);
  }
}

}  // namespace sidecar::adapters::native
