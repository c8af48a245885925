#include "sidecar/nats/connection.h"

#include <dlfcn.h>
#include <event2/event.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "sidecar/common/logging.h"
#include "sidecar/common/status_macros.h"
#include "sidecar/nats/nkey.h"

namespace sidecar::nats {
namespace {

// How long a destructor waits for nats.c's final callback before giving up (and leaking the bridge
// rather than risking a use-after-free).
constexpr auto kCallbackDrainWait = std::chrono::seconds(5);
// How often a draining synchronous subscription is asked for its next message (shutdown only).
constexpr auto kDrainPollInterval = std::chrono::milliseconds(5);

}  // namespace

absl::Status FromNats(natsStatus s, std::string_view what) {
  if (s == NATS_OK) return absl::OkStatus();
  std::string msg = std::string(what) + ": " + natsStatus_GetText(s);
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0') msg += std::string(" (") + last + ")";
  switch (s) {
    case NATS_TIMEOUT: return absl::DeadlineExceededError(msg);
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT: return absl::InvalidArgumentError(msg);
    case NATS_NOT_PERMITTED: return absl::PermissionDeniedError(msg);
    case NATS_NO_SERVER:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NO_RESPONDERS: return absl::UnavailableError(msg);
    default: return absl::InternalError(msg);
  }
}

// nats.c's natsMsg_Destroy does not free: it hands the message to nats.c's garbage-collector
// thread and, when that thread is idle, wakes it (a futex wake and a context switch per message:
// two per request on each side of a NATS hop, on a VM where a wake is dear). A natsMsg starts with
// nats.c's GC hook, {next, freeCb}; with freeCb cleared, natsMsg_Destroy frees the message inline
// (natsGC_collect declines objects without a callback). That layout is nats.c's, not its API, so
// it is checked once on a probe message: the hook must be unlinked and its callback must point
// into libnats. If not, messages go to the GC thread as before.
struct GcHook {
  void* next;
  void (*free_cb)(void*);
};

bool ProbeInlineFree() {
  // The library must be open: natsMsg_Destroy uses its GC state. (A no-op once a connection exists.)
  if (nats_Open(-1) != NATS_OK) return false;
  natsMsg* probe = nullptr;
  if (natsMsg_Create(&probe, "probe", nullptr, nullptr, 0) != NATS_OK || probe == nullptr) return false;
  const auto* hook = reinterpret_cast<const GcHook*>(probe);
  bool ok = hook->next == nullptr && hook->free_cb != nullptr;
  Dl_info info{};
  if (ok) ok = dladdr(reinterpret_cast<void*>(hook->free_cb), &info) != 0 && info.dli_fname != nullptr &&
               std::string_view(info.dli_fname).find("libnats") != std::string_view::npos;
  natsMsg_Destroy(probe);
  return ok;
}

void DestroyNow(natsMsg* msg) {
  if (msg == nullptr) return;
  if (MessagesFreeInline()) reinterpret_cast<GcHook*>(msg)->free_cb = nullptr;
  natsMsg_Destroy(msg);
}

struct DestroyNowDeleter {
  void operator()(natsMsg* msg) const { DestroyNow(msg); }
};
using InlineMsgPtr = std::unique_ptr<natsMsg, DestroyNowDeleter>;

Message ToMessage(natsMsg* msg) {
  Message out;
  out.subject = natsMsg_GetSubject(msg);
  if (const char* reply = natsMsg_GetReply(msg)) out.reply = reply;
  if (const char* data = natsMsg_GetData(msg)) out.data.assign(data, natsMsg_GetDataLength(msg));
  out.no_responders = natsMsg_IsNoResponders(msg);
  const char** keys = nullptr;
  int key_count = 0;
  if (natsMsgHeader_Keys(msg, &keys, &key_count) == NATS_OK) {
    for (int i = 0; i < key_count; ++i) {
      const char** values = nullptr;
      int value_count = 0;
      if (natsMsgHeader_Values(msg, keys[i], &values, &value_count) != NATS_OK) continue;
      for (int j = 0; j < value_count; ++j) out.headers.emplace_back(keys[i], values[j]);
      free(values);
    }
    free(keys);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Connection

struct Connection::Shared {
  event::Dispatcher* dispatcher = nullptr;
  std::string name;
  std::shared_ptr<std::atomic<bool>> connected = std::make_shared<std::atomic<bool>>(false);
  // False once the Connection is being destroyed: callbacks then stop posting.
  std::atomic<bool> alive{true};
  // Only touched on the dispatcher thread; posted work reaches it through a weak_ptr.
  struct StateObservers {
    StateCallback primary;
    std::map<int, StateCallback> others;
    int next_id = 0;
  };
  std::shared_ptr<StateObservers> on_state = std::make_shared<StateObservers>();
  std::promise<void> closed;
  // Set by DrainAndClose before the drain starts; posted to the dispatcher by OnClosed.
  std::shared_ptr<absl::AnyInvocable<void()>> on_closed;
  prometheus::Gauge* connected_gauge = nullptr;
  prometheus::Counter* disconnects = nullptr;
  prometheus::Counter* reconnects = nullptr;
  prometheus::Family<prometheus::Counter>* errors = nullptr;

  void SetConnected(bool up) {
    connected->store(up);
    connected_gauge->Set(up ? 1 : 0);
    if (!alive.load()) return;
    dispatcher->Post([weak = std::weak_ptr<StateObservers>(on_state), up]() {
      auto observers = weak.lock();
      if (observers == nullptr) return;
      // Observers first (e.g. request muxes failing their in-flight requests), then the owner's.
      std::vector<int> ids;
      for (const auto& [id, cb] : observers->others) ids.push_back(id);
      for (int id : ids) {
        auto it = observers->others.find(id);  // an earlier observer may have removed it
        if (it != observers->others.end() && it->second) it->second(up);
      }
      if (observers->primary) observers->primary(up);
    });
  }

  static Shared* From(void* closure) { return static_cast<Shared*>(closure); }

  // Our own event-loop adapter for nats.c (instead of nats/adapters/libevent.h), for two reasons:
  //  - Delivery on the loop. nats.c parses messages inside natsConnection_ProcessReadEvent, which
  //    runs here on the dispatcher thread. Subscriptions are synchronous ones, and right after each
  //    read the loop takes what it parsed (natsSubscription_NextMsg with no wait) and runs the
  //    handlers. No nats.c delivery thread, no condition-variable wake, no Post() per message:
  //    those hand-offs were a third of the gateway path's CPU (bench/RESULTS.md, profile h).
  //  - A safe detach. nats.c calls Detach on whichever of its threads closes the connection (a
  //    drain ends on a nats.c thread), and only *after* it has posted the closed callback. So
  //    "closed" does not yet mean "off the loop": freeing the event_base then let the late
  //    event_free write into freed memory (heap corruption at exit). Attach/Detach record the
  //    attachment, and ~Connection waits for the detach before the loop may go away.
  std::mutex attach_mu;
  std::condition_variable attach_cv;
  natsConnection* nc = nullptr;        // set by the first Attach; guarded by attach_mu
  ::event* read_event = nullptr;       // guarded by attach_mu
  ::event* write_event = nullptr;      // guarded by attach_mu
  bool attached = false;
  // nats.c has bytes to send (it asked for write interest). Set under nats.c's connection lock.
  std::atomic<bool> write_wanted{false};
  // Called on the dispatcher thread after every read: hands parsed messages to their handlers.
  absl::AnyInvocable<void()> deliver;
  // The subscriptions the loop delivers for (dispatcher thread only), the last to get a message
  // first. `subscriptions_changed` counts additions and removals, so a delivery round notices
  // that a handler changed the list under it.
  std::vector<Subscription*> subscriptions;
  uint64_t subscriptions_changed = 0;
  // nats.c's count of messages received, as of the last delivery round (dispatcher thread only).
  NatsStatisticsPtr stats;
  uint64_t in_msgs_seen = 0;
  // Repeats while DrainAndClose runs: see Subscription::drain_poll_.
  event::TimerPtr drain_poll;

  static void OnSocketEvent(evutil_socket_t, short what, void* arg) noexcept {
    auto* self = From(arg);
    if (what & EV_READ) natsConnection_ProcessReadEvent(self->nc);
    if (what & EV_WRITE) natsConnection_ProcessWriteEvent(self->nc);
    if ((what & EV_READ) && self->deliver) self->deliver();
  }
  // Never event_free here. Attach and Detach run on nats.c's reconnect or closing thread while it
  // holds nats.c's connection lock, and event_free, called off the loop thread while the loop is
  // running that event's callback, waits for the callback to return. That callback waits for the
  // same lock in natsConnection_ProcessReadEvent: a deadlock, which is how we read a CI run where
  // the loop froze for good as a cluster node restarted (ChaosClusterNodeKill, 2026-12-03).
  // event_free_finalize returns at once; the loop frees the event after any running callback
  // returns, or event_base_free does.
  static void EventFinalized(::event*, void*) noexcept {}
  void FreeEventsLocked() {
    if (read_event != nullptr) event_free_finalize(0, read_event, &Shared::EventFinalized);
    if (write_event != nullptr) event_free_finalize(0, write_event, &Shared::EventFinalized);
    read_event = write_event = nullptr;
  }

  // nats.c passes back the `loop` given to natsOptions_SetEventLoop, which is this Shared. Runs on
  // the connecting thread (the caller of Create, or nats.c's reconnect thread).
  static natsStatus Attach(void** user_data, void* loop, natsConnection* conn, natsSock socket) noexcept {
    auto* self = From(loop);
    std::lock_guard<std::mutex> lock(self->attach_mu);
    self->nc = conn;
    self->FreeEventsLocked();  // a reconnect: the old socket's events
    event_base* base = self->dispatcher->base();
    self->read_event = event_new(base, socket, EV_READ | EV_PERSIST, &Shared::OnSocketEvent, self);
    self->write_event = event_new(base, socket, EV_WRITE | EV_PERSIST, &Shared::OnSocketEvent, self);
    if (self->read_event == nullptr || self->write_event == nullptr || event_add(self->read_event, nullptr) != 0) {
      self->FreeEventsLocked();
      self->attached = false;
      self->attach_cv.notify_all();
      return NATS_NO_MEMORY;
    }
    self->attached = true;
    *user_data = self;
    return NATS_OK;
  }
  static natsStatus Poll(::event* ev, bool add) {
    if (ev == nullptr) return NATS_ERR;
    return (add ? event_add(ev, nullptr) : event_del_noblock(ev)) == 0 ? NATS_OK : NATS_ERR;
  }
  static natsStatus Read(void* user_data, bool add) noexcept { return Poll(From(user_data)->read_event, add); }
  static natsStatus Write(void* user_data, bool add) noexcept {
    Shared* self = From(user_data);
    self->write_wanted.store(add, std::memory_order_relaxed);
    return Poll(self->write_event, add);
  }
  static natsStatus Detach(void* user_data) noexcept {
    auto* self = From(user_data);
    std::lock_guard<std::mutex> lock(self->attach_mu);
    self->FreeEventsLocked();
    self->attached = false;
    self->attach_cv.notify_all();
    return NATS_OK;
  }
  // After the closed callback no new attach can start (nats.c joined its reconnect thread first).
  bool WaitDetached(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(attach_mu);
    return attach_cv.wait_for(lock, timeout, [this] { return !attached; });
  }

  // nats.c callbacks: run on nats.c threads; noexcept so nothing unwinds into C.
  // "Connected" must mean "the server has our subscriptions": nats.c re-sends SUBs on (re)connect
  // but reports before the server has processed them, and a request in that window would get "no
  // responders" although /ready already said yes. A PING/PONG round trip closes the window. This
  // runs on nats.c's callback thread; the PONG is read by the loop thread, so it cannot deadlock.
  static void ConfirmSubscriptions(natsConnection* nc, Shared* self) {
    natsStatus s = natsConnection_FlushTimeout(nc, 2000);
    if (s != NATS_OK) {
      log::Warn("nats flush after connect failed; reporting connected anyway",
                {{"connection", self->name}, {"error", natsStatus_GetText(s)}});
    }
  }

  static void OnConnected(natsConnection* nc, void* closure) noexcept {
    auto* self = From(closure);
    ConfirmSubscriptions(nc, self);
    log::Info("nats connected", {{"connection", self->name}});
    self->SetConnected(true);
  }
  static void OnDisconnected(natsConnection*, void* closure) noexcept {
    auto* self = From(closure);
    self->disconnects->Increment();
    log::Warn("nats disconnected", {{"connection", self->name}});
    self->SetConnected(false);
  }
  static void OnReconnected(natsConnection* nc, void* closure) noexcept {
    auto* self = From(closure);
    self->reconnects->Increment();
    ConfirmSubscriptions(nc, self);
    log::Info("nats reconnected", {{"connection", self->name}});
    self->SetConnected(true);
  }
  static void OnClosed(natsConnection*, void* closure) noexcept {
    auto* self = From(closure);
    self->connected->store(false);
    self->connected_gauge->Set(0);
    if (self->on_closed != nullptr) {
      self->dispatcher->Post([cb = self->on_closed]() mutable { (*cb)(); });
    }
    self->closed.set_value();  // the last callback nats.c makes for this connection
  }
  static void OnError(natsConnection*, natsSubscription*, natsStatus err, void* closure) noexcept {
    auto* self = From(closure);
    self->errors->Add({{"connection", self->name}, {"error", natsStatus_GetText(err)}}).Increment();
    log::Warn("nats async error", {{"connection", self->name}, {"error", natsStatus_GetText(err)}});
  }
};

Connection::Connection(event::Dispatcher& dispatcher, std::shared_ptr<Shared> shared)
    : dispatcher_(dispatcher), shared_(std::move(shared)), connected_(shared_->connected) {}

namespace {

// The host part of nats://[user@]host:port or tls://[user@][::1]:port.
std::string UrlHost(absl::string_view url) {
  if (const size_t scheme = url.find("://"); scheme != absl::string_view::npos) url.remove_prefix(scheme + 3);
  if (const size_t at = url.rfind('@'); at != absl::string_view::npos) url.remove_prefix(at + 1);
  if (!url.empty() && url[0] == '[') return std::string(url.substr(1, url.find(']') - 1));
  return std::string(url.substr(0, url.rfind(':')));
}

// TLS: the server's certificate is verified (chain against the CA, and its name) unless the config
// says insecure_skip_verify_dangerous. nats.c checks a name only when given one, so the name is
// always given: tls.server_name, or the host every server URL shares.
absl::Status ConfigureTls(const config::NatsConfig& cfg, const std::string& name, natsOptions* opts) {
  const bool tls_url = std::any_of(cfg.servers.begin(), cfg.servers.end(),
                                   [](const std::string& url) { return absl::StartsWith(url, "tls://"); });
  if (!cfg.tls.has_value() && !tls_url) return absl::OkStatus();
  const config::NatsTlsConfig tls = cfg.tls.value_or(config::NatsTlsConfig{});
  natsStatus s = natsOptions_SetSecure(opts, true);
  RETURN_IF_ERROR(FromNats(s, "enabling TLS"));
  if (!tls.ca_file.empty()) {
    RETURN_IF_ERROR(FromNats(natsOptions_LoadCATrustedCertificates(opts, tls.ca_file.c_str()),
                             "nats.tls.ca_file: loading CA certificates from '" + tls.ca_file + "'"));
  } else if (!tls.ca_pem.empty()) {
    RETURN_IF_ERROR(FromNats(natsOptions_SetCATrustedCertificates(opts, tls.ca_pem.c_str()),
                             "nats.tls.ca_pem: loading CA certificates"));
  }
  if (!tls.cert_file.empty() && !tls.key_file.empty()) {
    RETURN_IF_ERROR(FromNats(natsOptions_LoadCertificatesChain(opts, tls.cert_file.c_str(), tls.key_file.c_str()),
                             "nats.tls.cert_file/key_file: loading the client certificate '" + tls.cert_file +
                                 "' and its key"));
  } else if (!tls.cert_pem.empty() || !tls.key_pem.empty()) {
    // Mixed file and PEM forms are rare; read the file side into memory so one call takes both.
    auto read = [](const std::string& file, const std::string& pem) -> std::string {
      if (!pem.empty()) return pem;
      std::ifstream in(file, std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      return text.str();
    };
    std::string cert = read(tls.cert_file, tls.cert_pem);
    std::string key = read(tls.key_file, tls.key_pem);
    s = natsOptions_SetCertificatesChain(opts, cert.c_str(), key.c_str());
    std::fill(key.begin(), key.end(), '\0');
    RETURN_IF_ERROR(FromNats(s, "nats.tls: loading the client certificate and its key"));
  }
  if (tls.insecure_skip_verify_dangerous) {
    // Logged at every start on purpose: a lab setting that reaches production must be noticed.
    log::Warn("DANGER: NATS TLS certificate verification is OFF (nats.tls.insecure_skip_verify_dangerous): "
              "anyone on the network path can impersonate the NATS server and read every request",
              {{"connection", name}});
    return FromNats(natsOptions_SkipServerVerification(opts, true), "nats.tls.insecure_skip_verify_dangerous");
  }
  std::string expected = tls.server_name;
  if (expected.empty()) {
    for (const std::string& url : cfg.servers) {
      const std::string host = UrlHost(url);
      if (expected.empty()) {
        expected = host;
      } else if (host != expected) {
        return absl::InvalidArgumentError(absl::StrCat(
            "nats.tls.server_name: required when the server URLs name different hosts ('", expected, "', '", host,
            "'): the certificate name to verify must be one name"));
      }
    }
  }
  return FromNats(natsOptions_SetExpectedHostname(opts, expected.c_str()), "nats.tls.server_name");
}

absl::Status ConfigureAuth(const config::NatsConfig& cfg, natsOptions* opts) {
  natsStatus s = NATS_OK;
  if (!cfg.user.empty()) s = natsOptions_SetUserInfo(opts, cfg.user.c_str(), cfg.password.c_str());
  if (s == NATS_OK && !cfg.token.empty()) s = natsOptions_SetToken(opts, cfg.token.c_str());
  RETURN_IF_ERROR(FromNats(s, "nats: setting user/password or token"));
  if (!cfg.credentials_file.empty()) {
    // One chained .creds file holds both the user JWT and the seed; it is read at every connect,
    // so a rotated file is picked up at the next reconnect.
    absl::Status creds = SetUserCredentialsFromFile(opts, cfg.credentials_file);
    if (!creds.ok()) return absl::InvalidArgumentError(absl::StrCat("nats.credentials_file: ", creds.message()));
  }
  if (!cfg.nkey_seed_file.empty()) {
    absl::Status nkey = SetNKeyFromSeedFile(opts, cfg.nkey_seed_file);
    if (!nkey.ok()) return absl::InvalidArgumentError(absl::StrCat("nats.nkey_seed_file: ", nkey.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<NatsOptionsPtr> BaseOptions(const config::NatsConfig& cfg, const std::string& name) {
  natsOptions* raw_opts = nullptr;
  RETURN_IF_ERROR(FromNats(natsOptions_Create(&raw_opts), "natsOptions_Create"));
  NatsOptionsPtr opts(raw_opts);
  std::vector<const char*> servers;
  for (const auto& s : cfg.servers) servers.push_back(s.c_str());
  natsStatus s = natsOptions_SetServers(opts.get(), servers.data(), static_cast<int>(servers.size()));
  if (s == NATS_OK) s = natsOptions_SetName(opts.get(), name.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts.get(), cfg.connect_timeout_ms);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts.get(), cfg.reconnect_wait_ms);
  // Jitter, so a fleet that lost the same server does not reconnect in lockstep.
  if (s == NATS_OK) s = natsOptions_SetReconnectJitter(opts.get(), cfg.reconnect_jitter_ms, cfg.reconnect_jitter_ms);
  // Blocking requests (JetStream calls on the store connection) fail at once on a disconnect
  // instead of waiting out their timeout; the loop's RequestMux does the same by itself.
  if (s == NATS_OK) s = natsOptions_SetFailRequestsOnDisconnect(opts.get(), true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts.get(), static_cast<int>(cfg.max_reconnect_attempts));
  if (s == NATS_OK) s = natsOptions_SetPingInterval(opts.get(), cfg.ping_interval_ms);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts.get(), static_cast<int>(cfg.max_pings_out));
  // nats.c otherwise buffers outgoing messages for its flusher thread, adding ~1 ms to every reply.
  if (s == NATS_OK) s = natsOptions_SetSendAsap(opts.get(), true);
  if (s == NATS_OK && !cfg.inbox_prefix.empty()) {
    s = natsOptions_SetCustomInboxPrefix(opts.get(), cfg.inbox_prefix.c_str());
  }
  RETURN_IF_ERROR(FromNats(s, "configuring NATS options"));
  RETURN_IF_ERROR(ConfigureTls(cfg, name, opts.get()));
  RETURN_IF_ERROR(ConfigureAuth(cfg, opts.get()));
  return opts;
}

namespace {

// A failed connect that OpenSSL refused (unknown CA, wrong name, expired, no client certificate)
// says so first: "SSL error" alone sends an operator looking at the network.
absl::Status ConnectError(natsStatus s, const std::string& what) {
  absl::Status status = FromNats(s, what);
  const std::string text(status.message());
  if (s == NATS_SSL_ERROR || absl::StrContains(text, "SSL") || absl::StrContains(text, "certificate")) {
    return absl::UnavailableError(absl::StrCat(
        "TLS verification failed (check nats.tls.ca_file, server_name and the client certificate): ", text));
  }
  return status;
}

}  // namespace

absl::StatusOr<NatsConnectionPtr> ConnectBlocking(const config::NatsConfig& cfg, const std::string& name) {
  ASSIGN_OR_RETURN(NatsOptionsPtr opts, BaseOptions(cfg, name));
  // Without a write deadline nats.c puts this connection's socket in blocking mode: a server that
  // stops reading would hold nats.c's connection lock in send() for good, and with it every
  // publish, the pinger that would notice the dead link, and so the reconnect. A write that makes
  // no progress for as long as the ping check takes to call a link dead now fails and reconnects.
  RETURN_IF_ERROR(FromNats(natsOptions_SetWriteDeadline(opts.get(), cfg.ping_interval_ms * (cfg.max_pings_out + 1)),
                           "configuring NATS options"));
  natsConnection* raw = nullptr;
  RETURN_IF_ERROR(ConnectError(ConnectWithNKeyRetry(&raw, opts.get()), "connecting to NATS (" + name + ")"));
  return NatsConnectionPtr(raw);
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Create(const config::NatsConfig& cfg,
                                                               event::Dispatcher& dispatcher,
                                                               stats::Metrics& metrics) {
  auto shared = std::make_shared<Shared>();
  shared->dispatcher = &dispatcher;
  shared->name = cfg.name;
  const prometheus::Labels labels{{"connection", cfg.name}};
  shared->connected_gauge = &metrics.nats_connected.Add(labels);
  shared->connected_gauge->Set(0);
  shared->disconnects = &metrics.nats_disconnects_total.Add(labels);
  shared->reconnects = &metrics.nats_reconnects_total.Add(labels);
  shared->errors = &metrics.nats_errors_total;

  // nats.c's retrying connect (below) forgets why an attempt failed, so a server that rejects our
  // TLS or credentials would look exactly like one that is down: retried quietly forever. When
  // either is configured, one plain connect first turns those into a start error with the reason.
  // (A server that is merely down still is not an error: the sidecar waits for it.)
  const bool tls = cfg.tls.has_value() || std::any_of(cfg.servers.begin(), cfg.servers.end(), [](const std::string& u) {
                     return absl::StartsWith(u, "tls://");
                   });
  const bool auth = !cfg.user.empty() || !cfg.token.empty() || !cfg.nkey_seed_file.empty() ||
                    !cfg.credentials_file.empty();
  if (tls || auth) {
    absl::StatusOr<NatsConnectionPtr> probe = ConnectBlocking(cfg, cfg.name + "-probe");
    if (!probe.ok()) {
      const std::string why(probe.status().message());
      if (absl::StrContains(why, "TLS verification failed") || absl::StrContains(why, "Authorization") ||
          absl::StrContains(why, "Authentication") || absl::StrContains(why, "nats.")) {
        return probe.status();
      }
    }
  }

  ASSIGN_OR_RETURN(NatsOptionsPtr opts, BaseOptions(cfg, cfg.name));
  natsStatus s = NATS_OK;
  if (s == NATS_OK) {
    s = natsOptions_SetRetryOnFailedConnect(opts.get(), true, &Shared::OnConnected, shared.get());
  }
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts.get(), &Shared::OnDisconnected, shared.get());
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts.get(), &Shared::OnReconnected, shared.get());
  if (s == NATS_OK) s = natsOptions_SetClosedCB(opts.get(), &Shared::OnClosed, shared.get());
  if (s == NATS_OK) s = natsOptions_SetErrorHandler(opts.get(), &Shared::OnError, shared.get());
  if (s == NATS_OK) {
    s = natsOptions_SetEventLoop(opts.get(), shared.get(), &Shared::Attach, &Shared::Read, &Shared::Write,
                                 &Shared::Detach);
  }
  RETURN_IF_ERROR(FromNats(s, "configuring NATS options"));

  shared->deliver = [raw = shared.get()] { DeliverAll(*raw, /*everyone=*/false); };
  std::unique_ptr<Connection> conn(new Connection(dispatcher, shared));
  conn->flush_ = dispatcher.CreateSchedulableCallback([c = conn.get()] { c->FlushPublished(); });
  natsConnection* raw_conn = nullptr;
  s = natsConnection_Connect(&raw_conn, opts.get());
  conn->conn_.reset(raw_conn);
  if (s == NATS_OK) {
    shared->connected->store(true);
    shared->connected_gauge->Set(1);
    log::Info("nats connected", {{"connection", cfg.name}});
  } else if (s == NATS_NOT_YET_CONNECTED) {
    // A server that is down is worth waiting for; one that fails our TLS checks is a config error
    // that retrying will not fix quietly, so it fails the start with the reason.
    absl::Status why = ConnectError(NATS_NOT_YET_CONNECTED, "connecting to NATS");
    if (absl::StrContains(why.message(), "TLS verification failed")) return why;
    log::Warn("nats not reachable yet; retrying in the background",
              {{"connection", cfg.name}, {"error", std::string(why.message())}});
  } else {
    return ConnectError(s, "connecting to NATS");
  }
  return conn;
}

Connection::~Connection() {
  flush_.reset();  // it would write to the natsConnection closed below
  shared_->alive.store(false);
  if (conn_ == nullptr) return;
  natsConnection_Close(conn_.get());
  // Both the closed callback and the detach from the loop (see Shared::Attach): a drain that ended
  // on a nats.c thread may still be freeing its loop events when the closed callback has run.
  const bool closed = shared_->closed.get_future().wait_for(kCallbackDrainWait) == std::future_status::ready;
  if (!closed || !shared_->WaitDetached(kCallbackDrainWait)) {
    // nats.c may still call into Shared: keep it alive for the rest of the process.
    log::Error("nats close callback or loop detach did not arrive; leaking callback state",
               {{"connection", shared_->name}});
    new std::shared_ptr<Shared>(shared_);
  }
  conn_.reset();
}

void Connection::SetStateCallback(StateCallback cb) { shared_->on_state->primary = std::move(cb); }

int Connection::AddStateObserver(StateCallback cb) {
  const int id = ++shared_->on_state->next_id;
  shared_->on_state->others.emplace(id, std::move(cb));
  return id;
}

void Connection::RemoveStateObserver(int id) { shared_->on_state->others.erase(id); }

void Connection::DeliverAll(Shared& shared, bool everyone) {
  // Asking a subscription is a lock, and an empty one makes nats.c format an error text. A host
  // with every port has a hundred subscriptions on one connection, and asking them all after each
  // read was a fifth of its CPU (bench/RESULTS.md). nats.c counts every message it parses, so a
  // round stops once it handed over as many as arrived since the last one; a larger count (a
  // message for a thread-delivered subscription) only makes it ask everyone. A subscription that
  // got messages moves to the front, where the next round asks first.
  uint64_t arrived = std::numeric_limits<uint64_t>::max();
  uint64_t in_msgs = 0;
  if (shared.stats == nullptr) {
    natsStatistics* raw = nullptr;
    if (natsStatistics_Create(&raw) == NATS_OK) shared.stats.reset(raw);
  }
  if (shared.stats != nullptr && natsConnection_GetStats(shared.nc, shared.stats.get()) == NATS_OK &&
      natsStatistics_GetCounts(shared.stats.get(), &in_msgs, nullptr, nullptr, nullptr, nullptr) == NATS_OK) {
    if (!everyone) arrived = in_msgs - shared.in_msgs_seen;
    shared.in_msgs_seen = in_msgs;
  }
  std::vector<Subscription*>& subs = shared.subscriptions;
  for (size_t i = 0; i < subs.size() && arrived > 0;) {
    const uint64_t changed = shared.subscriptions_changed;
    const size_t delivered = subs[i]->DeliverPending();
    arrived -= std::min<uint64_t>(arrived, delivered);
    if (shared.subscriptions_changed != changed) {
      i = 0;  // a handler subscribed or unsubscribed (perhaps itself): the positions moved
      continue;
    }
    if (delivered > 0 && i > 0) std::rotate(subs.begin(), subs.begin() + static_cast<std::ptrdiff_t>(i), subs.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    ++i;
  }
}

void Connection::DrainAndClose(std::chrono::milliseconds timeout, absl::AnyInvocable<void()> on_closed) {
  // nats.c's connection drain waits for every subscription to drain, and a synchronous one finishes
  // only when asked for its next message (Subscription::CheckDrained): keep asking until closed.
  shared_->drain_poll = dispatcher_.CreateTimer([raw = shared_.get()] {
    DeliverAll(*raw, /*everyone=*/true);
    if (raw->drain_poll != nullptr) raw->drain_poll->Enable(kDrainPollInterval);
  });
  shared_->drain_poll->Enable(kDrainPollInterval);
  for (Subscription* sub : shared_->subscriptions) sub->draining_ = true;
  on_closed = [weak = std::weak_ptr<Shared>(shared_), done = std::move(on_closed)]() mutable {
    if (auto shared = weak.lock()) shared->drain_poll.reset();
    done();
  };
  shared_->on_closed = std::make_shared<absl::AnyInvocable<void()>>(std::move(on_closed));
  natsStatus s = natsConnection_DrainTimeout(conn_.get(), timeout.count());
  if (s != NATS_OK) {
    // Not connected (nothing can be flushed) or already closing: finish now instead of waiting for
    // a callback that may never come.
    log::Warn("nats drain not possible; closing", {{"connection", shared_->name},
                                                  {"error", natsStatus_GetText(s)}});
    auto cb = std::move(shared_->on_closed);
    dispatcher_.Post([cb]() mutable { (*cb)(); });
  }
}

natsConnStatus Connection::status() const {
  return conn_ == nullptr ? NATS_CONN_STATUS_CLOSED : natsConnection_Status(conn_.get());
}

absl::Status Connection::Publish(const std::string& subject,
                                 const std::vector<std::pair<std::string, std::string>>& headers,
                                 const std::string& data) {
  return Publish(subject, std::string(), headers, data);
}

absl::Status Connection::Publish(const std::string& subject, const std::string& reply,
                                 const std::vector<std::pair<std::string, std::string>>& headers,
                                 const std::string& data) {
  natsMsg* raw = nullptr;
  RETURN_IF_ERROR(FromNats(natsMsg_Create(&raw, subject.c_str(), reply.empty() ? nullptr : reply.c_str(),
                                          data.data(), static_cast<int>(data.size())),
                           "natsMsg_Create"));
  InlineMsgPtr msg(raw);
  for (const auto& [k, v] : headers) {
    RETURN_IF_ERROR(FromNats(natsMsgHeader_Add(msg.get(), k.c_str(), v.c_str()), "natsMsgHeader_Add"));
  }
  RETURN_IF_ERROR(FromNats(natsConnection_PublishMsg(conn_.get(), msg.get()), "publish"));
  if (flush_ != nullptr && dispatcher_.IsThreadSafe()) flush_->Schedule();
  return absl::OkStatus();
}

void Connection::FlushPublished() {
  // With an event loop attached nats.c never writes in place, even with SendAsap: it asks for
  // write interest and sends when the loop reports the socket writable. That cost every publish
  // an epoll_ctl to add the interest, an epoll_wait, and an epoll_ctl to drop it, plus a loop
  // turn of latency. Instead, what this loop pass published goes out at the end of the pass, in
  // one send: the socket is nearly always writable, and the changelist folds the interest nats.c
  // added and dropped meanwhile into nothing. On EAGAIN nats.c's write returns at once (it never
  // blocks with an event loop) and keeps the interest, so the loop finishes the rest.
  if (conn_ != nullptr && shared_->write_wanted.load(std::memory_order_relaxed)) {
    natsConnection_ProcessWriteEvent(conn_.get());
  }
}

// ---------------------------------------------------------------------------------------------------
// Subscription

Subscription::Subscription(std::string subject, std::shared_ptr<Connection::Shared> shared,
                           Connection::MessageHandler handler)
    : subject_(std::move(subject)),
      shared_(std::move(shared)),
      handler_(std::make_shared<Connection::MessageHandler>(std::move(handler))) {}

struct Subscription::Bridge {
  event::Dispatcher* dispatcher;
  std::weak_ptr<Connection::MessageHandler> handler;
  std::weak_ptr<absl::AnyInvocable<void()>> on_drained;
  std::promise<void> complete;

  // Runs on the subscription's nats.c delivery thread: copy the message out, free it, hand it over.
  static void OnMsg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) noexcept {
    auto* self = static_cast<Bridge*>(closure);
    InlineMsgPtr owned(msg);
    self->dispatcher->Post([handler = self->handler, m = ToMessage(owned.get())]() mutable {
      if (auto h = handler.lock(); h && *h) (*h)(std::move(m));
    });
  }
  // nats.c's promise: after this, OnMsg is never called again for this subscription.
  static void OnComplete(void* closure) noexcept {
    auto* self = static_cast<Bridge*>(closure);
    self->dispatcher->Post([weak = self->on_drained]() {
      if (auto cb = weak.lock(); cb && *cb) (*cb)();
    });
    self->complete.set_value();
  }
};

absl::StatusOr<SubscriptionPtr> Connection::QueueSubscribe(const std::string& subject,
                                                           const std::string& queue,
                                                           MessageHandler handler) {
  return SubscribeImpl(subject, queue, std::move(handler), Delivery::kOnLoop);
}

absl::StatusOr<SubscriptionPtr> Connection::Subscribe(const std::string& subject,
                                                      MessageHandler handler, Delivery delivery) {
  return SubscribeImpl(subject, std::string(), std::move(handler), delivery);
}

absl::StatusOr<SubscriptionPtr> Connection::SubscribeImpl(const std::string& subject,
                                                          const std::string& queue,
                                                          MessageHandler handler, Delivery delivery) {
  SubscriptionPtr sub(new Subscription(subject, shared_, std::move(handler)));
  sub->conn_ = conn_.get();
  natsSubscription* raw = nullptr;
  const char* group = queue.empty() ? nullptr : queue.c_str();
  if (delivery == Delivery::kOnLoop) {
    // Synchronous subscriptions: the loop takes their messages after each read (Shared::Attach).
    const natsStatus s = group == nullptr ? natsConnection_SubscribeSync(&raw, conn_.get(), subject.c_str())
                                          : natsConnection_QueueSubscribeSync(&raw, conn_.get(), subject.c_str(), group);
    RETURN_IF_ERROR(FromNats(s, "subscribing to " + subject));
    sub->sub_.reset(raw);
    shared_->subscriptions.push_back(sub.get());
    ++shared_->subscriptions_changed;
    return sub;
  }
  auto bridge = std::make_unique<Subscription::Bridge>();
  bridge->dispatcher = &dispatcher_;
  bridge->handler = sub->handler_;
  bridge->on_drained = sub->on_drained_;
  const natsStatus s =
      group == nullptr
          ? natsConnection_Subscribe(&raw, conn_.get(), subject.c_str(), &Subscription::Bridge::OnMsg, bridge.get())
          : natsConnection_QueueSubscribe(&raw, conn_.get(), subject.c_str(), group, &Subscription::Bridge::OnMsg,
                                          bridge.get());
  RETURN_IF_ERROR(FromNats(s, "subscribing to " + subject));
  sub->sub_.reset(raw);
  absl::Status st = FromNats(natsSubscription_SetOnCompleteCB(raw, &Subscription::Bridge::OnComplete, bridge.get()),
                             "natsSubscription_SetOnCompleteCB");
  sub->bridge_ = bridge.release();
  if (!st.ok()) return st;  // the destructor unsubscribes
  return sub;
}

size_t Subscription::DeliverPending() {
  std::weak_ptr<bool> alive = alive_;
  size_t delivered = 0;
  for (;;) {
    natsMsg* raw = nullptr;
    const natsStatus s = natsSubscription_NextMsg(&raw, sub_.get(), 0);
    if (s == NATS_SLOW_CONSUMER) continue;  // counted by nats.c's error callback (OnError)
    if (s != NATS_OK) break;                // nothing queued, or the subscription is closed
    Message message = ToMessage(raw);
    DestroyNow(raw);
    ++delivered;
    std::shared_ptr<Connection::MessageHandler> handler = handler_;
    if (*handler) (*handler)(std::move(message));
    if (alive.expired()) return delivered;  // the handler destroyed this subscription
  }
  if (draining_) CheckDrained();
  return delivered;
}

void Subscription::CheckDrained() {
  // nats.c (3.4) completes a synchronous subscription's drain only inside a NextMsg call that finds
  // the queue empty *and* waits: a zero-wait call returns before looking at the drain. nats.c marks
  // the subscription draining once its UNSUB is flushed (one round trip); until then this waits up
  // to 1 ms per poll, and only while shutting down.
  natsMsg* last = nullptr;
  if (natsSubscription_NextMsg(&last, sub_.get(), 1) == NATS_OK) {
    // A message arrived in that millisecond: hand it over like any other.
    Message message = ToMessage(last);
    DestroyNow(last);
    std::shared_ptr<Connection::MessageHandler> handler = handler_;
    std::weak_ptr<bool> alive = alive_;
    if (*handler) (*handler)(std::move(message));
    if (alive.expired()) return;
  }
  // Complete once nats.c flushed the UNSUB and the last queued message was taken, or the drain
  // timed out, or the connection closed: the subscription is then no longer valid.
  if (natsSubscription_IsValid(sub_.get())) return;
  draining_ = false;  // the poll timer (which may be running this) does not re-arm
  PostDrained();
}

void Subscription::PostDrained() {
  // Posted, so the owner's callback never runs inside its own Drain() or a handler.
  shared_->dispatcher->Post([weak = std::weak_ptr<absl::AnyInvocable<void()>>(on_drained_)] {
    if (auto done = weak.lock(); done && *done) (*done)();
  });
}

absl::Status Subscription::Drain(absl::AnyInvocable<void()> on_drained) {
  *on_drained_ = std::move(on_drained);
  if (natsConnection_Status(conn_) != NATS_CONN_STATUS_CONNECTED) {
    // Disconnected: the server can send nothing more, and nats.c's drain would wait out its timeout
    // for a flush that cannot happen. Hand over what already arrived, then end the subscription.
    std::weak_ptr<bool> alive = alive_;
    if (bridge_ == nullptr) DeliverPending();
    if (alive.expired()) return absl::OkStatus();
    natsSubscription_Unsubscribe(sub_.get());
    // A thread-delivered subscription reports the end through nats.c's on-complete callback.
    if (bridge_ == nullptr) PostDrained();
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(FromNats(natsSubscription_Drain(sub_.get()), "draining " + subject_));
  if (bridge_ != nullptr) return absl::OkStatus();  // nats.c's on-complete callback reports the end
  draining_ = true;
  drain_poll_ = shared_->dispatcher->CreateTimer([this, alive = std::weak_ptr<bool>(alive_)] {
    DeliverPending();
    if (!alive.expired() && draining_) drain_poll_->Enable(kDrainPollInterval);
  });
  drain_poll_->Enable(kDrainPollInterval);
  return absl::OkStatus();
}

Subscription::~Subscription() {
  auto& subs = shared_->subscriptions;
  subs.erase(std::remove(subs.begin(), subs.end(), this), subs.end());
  ++shared_->subscriptions_changed;
  if (sub_ == nullptr) return;
  // Already drained or closed with the connection: harmless error. Otherwise stops deliveries.
  natsSubscription_Unsubscribe(sub_.get());
  if (bridge_ != nullptr) {
    if (bridge_->complete.get_future().wait_for(kCallbackDrainWait) == std::future_status::ready) {
      delete bridge_;
    } else {
      log::Error("nats subscription did not complete; leaking its bridge", {{"subject", subject_}});
    }
  }
  sub_.reset();
}

bool MessagesFreeInline() {
  static const bool inline_free = ProbeInlineFree();
  return inline_free;
}

}  // namespace sidecar::nats
