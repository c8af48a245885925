// sidecar-load: the bounded load tool of the benchmark suite (bench/run). Every mode targets
// loopback only and ends by itself (count, or a hard time limit).
//   http       HTTP/1.1 keep-alive load on 127.0.0.1: C connections, closed loop or open loop at a
//              fixed --rate with latency from each request's intended send time (bench/http_load.h)
//   load       NATS request/reply: N in flight, or open loop at a fixed --rate (bench/nats_load.h)
//   request    one NATS request; prints the reply's headers and body (the demo uses it)
//   responder  a raw nats.c responder (SendAsap), the floor a sidecar is compared with
//   origin     a trivial evhttp origin on 127.0.0.1 (fixed JSON body), so the sidecar's own cost is
//              measured rather than a Python stand-in's
//   sizes      JSON vs protobuf payload sizes of golden requests (bench/payload_sizes.h)
// http and load report rq/s, p50/p90/p99/p999, errors and timeouts as a table row or, with --json,
// one JSON object; --histogram-out keeps the whole latency histogram as CSV.

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "bench/http_load.h"
#include "bench/nats_load.h"
#include "bench/payload_sizes.h"
#include "bench/report.h"

namespace {

struct NatsCleanup {
  ~NatsCleanup() { nats_Close(); }
};

int RunOrigin(int port, const std::string& body, double max_seconds) {
  event_base* base = event_base_new();
  evhttp* http = evhttp_new(base);
  evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                       EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_HEAD);
  evhttp_set_gencb(
      http,
      [](evhttp_request* req, void* arg) {
        const auto* payload = static_cast<const std::string*>(arg);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json");
        evbuffer* out = evbuffer_new();
        evbuffer_add(out, payload->data(), payload->size());
        evhttp_send_reply(req, 200, "OK", out);
        evbuffer_free(out);
      },
      const_cast<std::string*>(&body));
  evhttp_bound_socket* bound =
      evhttp_bind_socket_with_handle(http, "127.0.0.1", static_cast<uint16_t>(port));
  if (bound == nullptr) {
    std::cerr << "origin: cannot bind 127.0.0.1:" << port << "\n";
    return 1;
  }
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  getsockname(evhttp_bound_socket_get_fd(bound), reinterpret_cast<sockaddr*>(&addr), &len);
  std::cout << "origin ready on 127.0.0.1:" << ntohs(addr.sin_port) << std::endl;
  // Bounded: SIGTERM/SIGINT or max_seconds end the loop.
  auto stop = [](evutil_socket_t, short, void* b) {
    event_base_loopbreak(static_cast<event_base*>(b));
  };
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
  using namespace sidecar::bench;
  // Open loop charges each request from its intended send time, so a timer that wakes the sender
  // late adds to every latency measured. Linux lets a sleep end up to the timer slack (50 us by
  // default) late; 1 ns asks for the wake-up when it is due, in every thread started from here.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  NatsCleanup cleanup;
  CLI::App app{"sidecar-load: bounded load tool for loopback targets (HTTP and NATS)"};
  app.require_subcommand(1);
  std::string url = "nats://127.0.0.1:4222";
  app.add_option("--url", url, "NATS server (load, request, responder)")->capture_default_str();

  // Output options shared by http and load.
  bool json = false, no_header = false;
  std::string histogram_out;
  auto add_output = [&](CLI::App* sub) {
    sub->add_flag("--json", json, "one JSON object per run instead of a table row");
    sub->add_flag("--no-header", no_header, "table row without the header line");
    sub->add_option("--histogram-out", histogram_out,
                    "write the latency histogram (CSV) to this file");
  };

  HttpLoadOptions h;
  auto* http =
      app.add_subcommand("http", "HTTP/1.1 keep-alive load on 127.0.0.1 (closed or open loop)");
  http->add_option("target", h.url, "http://127.0.0.1:<port>/<path>")->required();
  http->add_option("-X,--method", h.method)->capture_default_str();
  http->add_option("-H,--header", h.headers, "header 'Name: value' (repeatable)");
  http->add_option("-d,--data", h.body, "request body (Content-Type defaults to application/json)");
  http->add_option("-c,--connections", h.connections)->capture_default_str();
  http->add_option("-t,--threads", h.threads, "event loops")->capture_default_str();
  http->add_option("-R,--rate", h.rate,
                   "open loop: requests/s over all connections; 0 = closed loop")
      ->capture_default_str();
  http->add_option("-n,--count", h.count, "stop after this many measured replies (0: time only)")
      ->capture_default_str();
  http->add_option("-s,--seconds", h.seconds, "measuring time; always a hard limit")
      ->capture_default_str();
  http->add_option("-w,--warmup", h.warmup_s, "seconds of load before measuring")
      ->capture_default_str();
  http->add_option("--timeout-ms", h.timeout_ms)->capture_default_str();
  http->add_option("--label", h.label, "row label");
  add_output(http);

  NatsLoadOptions n;
  auto* load = app.add_subcommand(
      "load", "NATS request/reply: N in flight (closed loop) or a fixed rate (open loop)");
  load->add_option("--subject", n.subject)->required();
  load->add_option("--data", n.data,
                   "payload; every {seq} becomes the request's number (0, 1, ...)");
  load->add_option("-H,--header", n.headers, "header 'Name: value' (repeatable)");
  load->add_option("-c,--inflight,--concurrency", n.inflight, "closed loop: requests in flight")
      ->capture_default_str();
  load->add_option("-R,--rate", n.rate,
                   "open loop: requests/s, latency from each request's intended send time; "
                   "0 = closed loop")
      ->capture_default_str();
  load->add_option("-n,--count", n.count, "stop after this many measured replies (0: time only)")
      ->capture_default_str();
  load->add_option("-s,--seconds,--max-seconds", n.seconds, "measuring time; always a hard limit")
      ->capture_default_str();
  load->add_option("-w,--warmup", n.warmup_s, "seconds of load before measuring")
      ->capture_default_str();
  load->add_option("--timeout-ms", n.timeout_ms)->capture_default_str();
  load->add_option("--label", n.label, "row label");
  add_output(load);

  std::string subject, data, queue = "bench";
  std::vector<std::string> headers;
  int timeout_ms = 5000;
  double max_seconds = 60;
  auto* request = app.add_subcommand("request", "send one NATS request and print the reply");
  request->add_option("--subject", subject)->required();
  request->add_option("--data", data, "payload");
  request->add_option("-H,--header", headers, "header 'Name: value' (repeatable)");
  request->add_option("--timeout-ms", timeout_ms)->capture_default_str();

  auto* responder = app.add_subcommand("responder", "raw nats.c responder (the floor)");
  responder->add_option("--subject", subject)->required();
  responder->add_option("--queue", queue)->capture_default_str();
  responder->add_option("--data", data, "reply payload");
  responder->add_option("--max-seconds", max_seconds, "hard stop")->capture_default_str();

  int port = 0;
  auto* origin =
      app.add_subcommand("origin", "trivial evhttp origin on 127.0.0.1 (prints its port)");
  origin->add_option("--port", port, "0 picks a free port")->capture_default_str();
  origin->add_option("--data", data, "response body")->capture_default_str();
  origin->add_option("--max-seconds", max_seconds, "hard stop")->capture_default_str();

  std::vector<std::string> golden;
  auto* sizes = app.add_subcommand("sizes", "JSON vs protobuf payload sizes of golden requests");
  sizes->add_option("golden", golden, "tests/golden/<service>/<file>.json ...")->required();
  sizes->add_flag("--json", json, "one JSON object per line");

  CLI11_PARSE(app, argc, argv);
  if (*origin) return RunOrigin(port, data.empty() ? R"({"ok":true})" : data, max_seconds);
  if (*sizes) return RunPayloadSizes(golden, json);
  if (*http) {
    RunResult result;
    std::string error;
    if (!RunHttpLoad(h, result, error)) {
      std::cerr << "sidecar-load http: " << error << "\n";
      return 2;
    }
    return Emit(result, json, !no_header, histogram_out);
  }
  // Block the stop signals before nats.c starts threads, so every thread inherits the mask and the
  // responder can wait for them with sigtimedwait instead of polling.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  if (*responder) pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  if (!IsLoopbackNatsUrl(url)) {
    std::cerr << "sidecar-load only targets loopback (nats://127.x.x.x or nats://localhost)\n";
    return 2;
  }
  if (*request) return RunRequest(url, subject, headers, data, timeout_ms);
  if (*load) {
    n.url = url;
    RunResult result;
    std::string error;
    if (!RunNatsLoad(n, result, error)) {
      std::cerr << "sidecar-load load: " << error << "\n";
      return 2;
    }
    return Emit(result, json, !no_header, histogram_out);
  }
  return RunResponder(url, subject, queue, data, max_seconds);
}
