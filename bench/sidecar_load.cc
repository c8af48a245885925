// sidecar-load: a small, bounded NATS load tool.
//   request    one request; prints the reply's headers and body (the demo uses it)
//   load       N requests with C in flight; prints rq/s and latency percentiles
//   responder  a raw nats.c responder (SendAsap), the floor a sidecar is compared with
//   origin     a trivial evhttp origin on 127.0.0.1 (fixed JSON body), so the sidecar's own cost is
//              measured rather than a Python stand-in's
// Every run ends by itself: by count, or by --max-seconds.

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/buffer.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct NatsCleanup {
  ~NatsCleanup() { nats_Close(); }
};

natsConnection* Connect(const std::string& url) {
  natsOptions* opts = nullptr;
  natsConnection* nc = nullptr;
  natsOptions_Create(&opts);
  natsOptions_SetURL(opts, url.c_str());
  natsOptions_SetSendAsap(opts, true);
  natsStatus s = natsConnection_Connect(&nc, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    std::cerr << "connect " << url << ": " << natsStatus_GetText(s) << "\n";
    return nullptr;
  }
  return nc;
}

natsMsg* BuildRequest(const std::string& subject, const std::vector<std::string>& headers,
                      const std::string& data) {
  natsMsg* msg = nullptr;
  natsMsg_Create(&msg, subject.c_str(), nullptr, data.data(), static_cast<int>(data.size()));
  for (const auto& h : headers) {
    auto colon = h.find(':');
    if (colon == std::string::npos) continue;
    std::string key = h.substr(0, colon), value = h.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    natsMsgHeader_Add(msg, key.c_str(), value.c_str());
  }
  return msg;
}

int RunRequest(const std::string& url, const std::string& subject, const std::vector<std::string>& headers,
               const std::string& data, int timeout_ms) {
  natsConnection* nc = Connect(url);
  if (nc == nullptr) return 1;
  natsMsg* req = BuildRequest(subject, headers, data);
  natsMsg* reply = nullptr;
  natsStatus s = natsConnection_RequestMsg(&reply, nc, req, timeout_ms);
  natsMsg_Destroy(req);
  int code = 0;
  if (s != NATS_OK) {
    std::cout << subject << " -> " << natsStatus_GetText(s) << "\n";
    code = 1;
  } else {
    std::cout << subject << " ->";
    const char** keys = nullptr;
    int n = 0;
    if (natsMsgHeader_Keys(reply, &keys, &n) == NATS_OK) {
      for (int i = 0; i < n; ++i) {
        const char* v = nullptr;
        natsMsgHeader_Get(reply, keys[i], &v);
        std::cout << " " << keys[i] << "=" << (v ? v : "");
      }
      free(keys);
    }
    std::cout << "\n  " << std::string(natsMsg_GetData(reply), natsMsg_GetDataLength(reply)) << "\n";
    natsMsg_Destroy(reply);
  }
  natsConnection_Destroy(nc);
  return code;
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t idx = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(idx, sorted.size() - 1)];
}

// Every "{seq}" in the payload becomes the request's number, so requests that must differ (an
// idempotency key per purchase) can be generated from one template.
std::string WithSequence(const std::string& data, int seq) {
  static constexpr std::string_view kPlaceholder = "{seq}";
  if (data.find(kPlaceholder) == std::string::npos) return data;
  std::string out;
  size_t from = 0;
  for (size_t at = data.find(kPlaceholder); at != std::string::npos; at = data.find(kPlaceholder, from)) {
    out.append(data, from, at - from).append(std::to_string(seq));
    from = at + kPlaceholder.size();
  }
  return out.append(data, from, std::string::npos);
}

int RunLoad(const std::string& url, const std::string& subject, const std::vector<std::string>& headers,
            const std::string& data, int count, int concurrency, int timeout_ms, double max_seconds,
            const std::string& label) {
  natsConnection* nc = Connect(url);
  if (nc == nullptr) return 1;
  std::atomic<int> next{0};
  std::atomic<int> errors{0}, timeouts{0};
  std::mutex mu;
  std::vector<double> latencies_ms;
  latencies_ms.reserve(count);
  const auto stop_at = Clock::now() + std::chrono::duration<double>(max_seconds);
  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < concurrency; ++w) {
    workers.emplace_back([&] {
      std::vector<double> local;
      for (int i = next.fetch_add(1); i < count && Clock::now() < stop_at; i = next.fetch_add(1)) {
        natsMsg* req = BuildRequest(subject, headers, WithSequence(data, i));
        natsMsg* reply = nullptr;
        auto t0 = Clock::now();
        natsStatus s = natsConnection_RequestMsg(&reply, nc, req, timeout_ms);
        auto t1 = Clock::now();
        natsMsg_Destroy(req);
        if (s == NATS_TIMEOUT) {
          ++timeouts;
        } else if (s != NATS_OK) {
          ++errors;
        } else {
          const char* err = nullptr;
          if (natsMsgHeader_Get(reply, "Nats-Service-Error", &err) == NATS_OK) ++errors;
          natsMsg_Destroy(reply);
        }
        local.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
      std::lock_guard<std::mutex> lock(mu);
      latencies_ms.insert(latencies_ms.end(), local.begin(), local.end());
    });
  }
  for (auto& t : workers) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  natsConnection_Destroy(nc);
  std::sort(latencies_ms.begin(), latencies_ms.end());
  std::printf("%-28s %8s %6s %10s %9s %9s %9s %9s %7s %8s\n", "run", "requests", "inflight", "rq/s",
              "p50_ms", "p90_ms", "p99_ms", "p999_ms", "errors", "timeouts");
  std::printf("%-28s %8zu %6d %10.0f %9.3f %9.3f %9.3f %9.3f %7d %8d\n", label.c_str(), latencies_ms.size(),
              concurrency, static_cast<double>(latencies_ms.size()) / elapsed, Percentile(latencies_ms, 0.50),
              Percentile(latencies_ms, 0.90), Percentile(latencies_ms, 0.99), Percentile(latencies_ms, 0.999),
              errors.load(), timeouts.load());
  return 0;
}

void OnResponderMsg(natsConnection* nc, natsSubscription*, natsMsg* msg, void* closure) {
  const std::string* body = static_cast<const std::string*>(closure);
  if (natsMsg_GetReply(msg) != nullptr) {
    natsConnection_Publish(nc, natsMsg_GetReply(msg), body->data(), static_cast<int>(body->size()));
  }
  natsMsg_Destroy(msg);
}

int RunResponder(const std::string& url, const std::string& subject, const std::string& queue,
                 const std::string& body, double max_seconds) {
  natsConnection* nc = Connect(url);
  if (nc == nullptr) return 1;
  natsSubscription* sub = nullptr;
  natsStatus s = natsConnection_QueueSubscribe(&sub, nc, subject.c_str(), queue.c_str(), OnResponderMsg,
                                               const_cast<std::string*>(&body));
  if (s == NATS_OK) s = natsConnection_Flush(nc);
  if (s != NATS_OK) {
    std::cerr << "subscribe: " << natsStatus_GetText(s) << "\n";
    return 1;
  }
  std::cout << "responder ready on " << subject << std::endl;
  // Bounded: exits on SIGTERM/SIGINT (blocked in main, so they queue here) or after max_seconds.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  timespec limit{static_cast<time_t>(max_seconds), 0};
  sigtimedwait(&stop_signals, nullptr, &limit);
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(nc);
  return 0;
}

int RunOrigin(int port, const std::string& body, double max_seconds) {
  event_base* base = event_base_new();
  evhttp* http = evhttp_new(base);
  evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                       EVHTTP_REQ_PATCH | EVHTTP_REQ_HEAD);
  evhttp_set_gencb(
      http,
      [](evhttp_request* req, void* arg) {
        const auto* payload = static_cast<const std::string*>(arg);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
        evbuffer* out = evbuffer_new();
        evbuffer_add(out, payload->data(), payload->size());
        evhttp_send_reply(req, 200, "OK", out);
        evbuffer_free(out);
      },
      const_cast<std::string*>(&body));
  evhttp_bound_socket* bound = evhttp_bind_socket_with_handle(http, "127.0.0.1", static_cast<uint16_t>(port));
  if (bound == nullptr) {
    std::cerr << "origin: cannot bind 127.0.0.1:" << port << "\n";
    return 1;
  }
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  getsockname(evhttp_bound_socket_get_fd(bound), reinterpret_cast<sockaddr*>(&addr), &len);
  std::cout << "origin ready on 127.0.0.1:" << ntohs(addr.sin_port) << std::endl;
  // Bounded: SIGTERM/SIGINT or max_seconds end the loop.
  auto stop = [](evutil_socket_t, short, void* b) { event_base_loopbreak(static_cast<event_base*>(b)); };
  event* term = evsignal_new(base, SIGTERM, stop, base);
  event* intr = evsignal_new(base, SIGINT, stop, base);
  event* limit = evtimer_new(base, stop, base);
  timeval tv{static_cast<time_t>(max_seconds), 0};
  event_add(term, nullptr);
  event_add(intr, nullptr);
  event_add(limit, &tv);
  event_base_dispatch(base);
  event_free(term);
  event_free(intr);
  event_free(limit);
  evhttp_free(http);
  event_base_free(base);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  NatsCleanup cleanup;
  CLI::App app{"sidecar-load: bounded NATS request/reply load tool"};
  std::string url = "nats://127.0.0.1:4222", subject, data, queue = "bench", label;
  std::vector<std::string> headers;
  int count = 1000, concurrency = 1, timeout_ms = 5000;
  double max_seconds = 60;
  app.add_option("--url", url, "NATS server")->capture_default_str();
  app.require_subcommand(1);

  auto* request = app.add_subcommand("request", "send one request and print the reply");
  request->add_option("--subject", subject)->required();
  request->add_option("--data", data, "payload");
  request->add_option("-H,--header", headers, "header 'Name: value' (repeatable)");
  request->add_option("--timeout-ms", timeout_ms)->capture_default_str();

  auto* load = app.add_subcommand("load", "N requests with C in flight; prints a table row");
  load->add_option("--subject", subject)->required();
  load->add_option("--data", data, "payload; every {seq} becomes the request's number (0, 1, ...)");
  load->add_option("-H,--header", headers, "header 'Name: value' (repeatable)");
  load->add_option("-n,--count", count)->capture_default_str();
  load->add_option("-c,--concurrency", concurrency)->capture_default_str();
  load->add_option("--timeout-ms", timeout_ms)->capture_default_str();
  load->add_option("--max-seconds", max_seconds, "hard stop")->capture_default_str();
  load->add_option("--label", label, "row label");

  auto* responder = app.add_subcommand("responder", "raw nats.c responder (the floor)");
  responder->add_option("--subject", subject)->required();
  responder->add_option("--queue", queue)->capture_default_str();
  responder->add_option("--data", data, "reply payload");
  responder->add_option("--max-seconds", max_seconds, "hard stop")->capture_default_str();

  int port = 0;
  auto* origin = app.add_subcommand("origin", "trivial evhttp origin on 127.0.0.1 (prints its port)");
  origin->add_option("--port", port, "0 picks a free port")->capture_default_str();
  origin->add_option("--data", data, "response body")->capture_default_str();
  origin->add_option("--max-seconds", max_seconds, "hard stop")->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  if (*origin) return RunOrigin(port, data.empty() ? R"({"ok":true})" : data, max_seconds);
  // Block the stop signals before nats.c starts threads, so every thread inherits the mask and the
  // responder can wait for them with sigtimedwait instead of polling.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  if (*responder) pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  if (url.rfind("nats://127.", 0) != 0 && url.rfind("nats://localhost", 0) != 0) {
    std::cerr << "sidecar-load only targets loopback (nats://127.x.x.x or nats://localhost)\n";
    return 2;
  }
  if (*request) return RunRequest(url, subject, headers, data, timeout_ms);
  if (*load) return RunLoad(url, subject, headers, data, count, concurrency, timeout_ms, max_seconds,
                            label.empty() ? subject : label);
  return RunResponder(url, subject, queue, data, max_seconds);
}
