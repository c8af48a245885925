#include "bench/nats_load.h"

#include <nats/nats.h>
#include <signal.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>
#include <utility>

namespace sidecar::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct NatsConnectionDeleter {
  void operator()(natsConnection* nc) const noexcept { natsConnection_Destroy(nc); }
};
using NatsConnectionPtr = std::unique_ptr<natsConnection, NatsConnectionDeleter>;
struct NatsMsgDeleter {
  void operator()(natsMsg* m) const noexcept { natsMsg_Destroy(m); }
};
using NatsMsgPtr = std::unique_ptr<natsMsg, NatsMsgDeleter>;

NatsConnectionPtr Connect(const std::string& url, std::string& error) {
  natsOptions* opts = nullptr;
  natsConnection* nc = nullptr;
  natsOptions_Create(&opts);
  natsOptions_SetURL(opts, url.c_str());
  natsOptions_SetSendAsap(opts, true);
  natsStatus s = natsConnection_Connect(&nc, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    error = "connect " + url + ": " + natsStatus_GetText(s);
    return nullptr;
  }
  return NatsConnectionPtr(nc);
}

using Headers = std::vector<std::pair<std::string, std::string>>;

Headers ParseHeaders(const std::vector<std::string>& headers) {
  Headers out;
  for (const auto& h : headers) {
    const size_t colon = h.find(':');
    if (colon == std::string::npos) continue;
    std::string value = h.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    out.emplace_back(h.substr(0, colon), std::move(value));
  }
  return out;
}

NatsMsgPtr BuildMessage(const std::string& subject, const char* reply, const Headers& headers,
                        const std::string& data) {
  natsMsg* msg = nullptr;
  natsMsg_Create(&msg, subject.c_str(), reply, data.data(), static_cast<int>(data.size()));
  for (const auto& [key, value] : headers) natsMsgHeader_Add(msg, key.c_str(), value.c_str());
  return NatsMsgPtr(msg);
}

// Every "{seq}" in the payload becomes the request's number, so requests that must differ (an
// idempotency key per purchase) can be generated from one template.
std::string WithSequence(const std::string& data, uint64_t seq) {
  static constexpr std::string_view kPlaceholder = "{seq}";
  if (data.find(kPlaceholder) == std::string::npos) return data;
  std::string out;
  size_t from = 0;
  for (size_t at = data.find(kPlaceholder); at != std::string::npos;
       at = data.find(kPlaceholder, from)) {
    out.append(data, from, at - from).append(std::to_string(seq));
    from = at + kPlaceholder.size();
  }
  return out.append(data, from, std::string::npos);
}

std::string NewInbox() {
  natsInbox* inbox = nullptr;
  natsInbox_Create(&inbox);
  std::string out = inbox;
  natsInbox_Destroy(inbox);
  return out;
}

// A reply subscription with no pending limit (the load decides how much is outstanding), known to
// the server before the first request goes out; nullptr with `error` set when it cannot be made.
natsSubscription* SubscribeReplies(natsConnection* nc, const std::string& pattern,
                                   natsMsgHandler on_reply, void* closure, std::string& error) {
  natsSubscription* sub = nullptr;
  natsStatus s = natsConnection_Subscribe(&sub, nc, pattern.c_str(), on_reply, closure);
  if (s == NATS_OK) s = natsSubscription_SetPendingLimits(sub, -1, -1);
  if (s == NATS_OK) s = natsConnection_Flush(nc);
  if (s == NATS_OK) return sub;
  error = std::string("subscribe: ") + natsStatus_GetText(s);
  if (sub != nullptr) natsSubscription_Destroy(sub);
  return nullptr;
}

// Request `seq` of a load (its "{seq}" filled in), answered on `reply`.
void SendRequest(natsConnection* nc, const NatsLoadOptions& o, const Headers& headers,
                 const std::string& reply, uint64_t seq) {
  NatsMsgPtr msg = BuildMessage(o.subject, reply.c_str(), headers, WithSequence(o.data, seq));
  natsConnection_PublishMsg(nc, msg.get());
}

// What follows "<inbox>." in a reply's subject: the key its request was sent with.
std::string_view ReplyKey(natsMsg* reply, const std::string& inbox) {
  std::string_view subject = natsMsg_GetSubject(reply);
  subject.remove_prefix(std::min(subject.size(), inbox.size() + 1));
  return subject;
}

// The subscription's handler may be running; once this returns it never runs again.
void DrainAndDestroy(natsSubscription* sub) {
  natsSubscription_Drain(sub);
  natsSubscription_WaitForDrainCompletion(sub, 5000);
  natsSubscription_Destroy(sub);
}

// "ok", "no_responders", the reply's Nats-Service-Error-Code, or "service_error".
std::string ReplyOutcome(natsMsg* reply) {
  if (natsMsg_IsNoResponders(reply)) return "no_responders";
  const char* code = nullptr;
  if (natsMsgHeader_Get(reply, "Nats-Service-Error-Code", &code) == NATS_OK && code != nullptr) {
    return code;
  }
  if (natsMsgHeader_Get(reply, "Nats-Service-Error", &code) == NATS_OK) return "service_error";
  return "ok";
}

// N requests in flight; slot i's replies arrive on <inbox>.<i>.<seq>, so a late reply to a request
// that already timed out is recognised (stale seq) and dropped.
// What both loads share: the run's settings, its connection and reply inbox, and the lock and
// wake-up between the thread that sends and nats.c's delivery thread that takes the replies.
class LoadBase {
 protected:
  LoadBase(const NatsLoadOptions& options, natsConnection* nc)
      : o_(options), nc_(nc), headers_(ParseHeaders(options.headers)), inbox_(NewInbox()) {}

  const NatsLoadOptions& o_;
  natsConnection* nc_;
  const Headers headers_;
  const std::string inbox_;
  std::mutex mu_;
  std::condition_variable cv_;
};

class NatsLoad : LoadBase {
 public:
  NatsLoad(const NatsLoadOptions& options, natsConnection* nc)
      : LoadBase(options, nc), slots_(options.inflight) {}

  bool Run(RunResult& result, std::string& error) {
    natsSubscription* sub = SubscribeReplies(nc_, inbox_ + ".>", &NatsLoad::OnReply, this, error);
    if (sub == nullptr) return false;
    const auto start = Clock::now();
    measure_start_ = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(o_.warmup_s));
    const auto end = measure_start_ + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(o_.seconds));
    const auto timeout = std::chrono::milliseconds(o_.timeout_ms);
    measuring_ = o_.warmup_s <= 0;
    std::vector<Pending> to_send;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (size_t i = 0; i < slots_.size(); ++i) to_send.push_back(Arm(i, Clock::now()));
    }
    Publish(to_send);
    Clock::time_point stopped_at;
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (!stopping_) {
        Clock::time_point wake = end;
        if (!measuring_) wake = std::min(wake, measure_start_);
        for (const Slot& slot : slots_) {
          if (slot.active) wake = std::min(wake, slot.sent + timeout);
        }
        cv_.wait_until(lock, wake);
        const auto now = Clock::now();
        if (!measuring_ && now >= measure_start_) {
          measuring_ = true;
          measure_start_ = now;
          result_.latency.Reset();
          result_ = RunResult{};
        }
        if (now >= end) stopping_ = true;
        if (stopping_) break;
        to_send.clear();
        for (size_t i = 0; i < slots_.size(); ++i) {
          if (slots_[i].active && slots_[i].sent + timeout <= now) {
            if (measuring_) ++result_.timeouts;
            to_send.push_back(Arm(i, now));
          }
        }
        lock.unlock();
        Publish(to_send);
        lock.lock();
      }
      stopped_at = Clock::now();
    }
    DrainAndDestroy(sub);

    std::lock_guard<std::mutex> lock(mu_);
    result = std::move(result_);
    result.label = o_.label.empty() ? o_.subject : o_.label;
    result.mode = "nats";
    result.concurrency = o_.inflight;
    result.elapsed_s = std::chrono::duration<double>(stopped_at - measure_start_).count();
    return true;
  }

 private:
  struct Slot {
    uint64_t seq = 0;
    Clock::time_point sent;
    bool active = false;
  };
  struct Pending {
    std::string reply;
    uint64_t seq = 0;
  };

  // Under mu_: the slot's next request.
  Pending Arm(size_t index, Clock::time_point now) {
    Slot& slot = slots_[index];
    slot.seq = next_seq_++;
    slot.sent = now;
    slot.active = true;
    return Pending{inbox_ + "." + std::to_string(index) + "." + std::to_string(slot.seq), slot.seq};
  }

  void Publish(const std::vector<Pending>& pending) {
    for (const Pending& p : pending) SendRequest(nc_, o_, headers_, p.reply, p.seq);
  }

  // Runs on the subscription's nats.c delivery thread.
  static void OnReply(natsConnection*, natsSubscription*, natsMsg* raw, void* closure) noexcept {
    NatsMsgPtr msg(raw);
    auto* self = static_cast<NatsLoad*>(closure);
    const auto now = Clock::now();
    const std::string_view subject = ReplyKey(raw, self->inbox_);
    const size_t dot = subject.find('.');
    if (dot == std::string_view::npos) return;
    size_t index = 0;
    uint64_t seq = 0;
    std::from_chars(subject.data(), subject.data() + dot, index);
    std::from_chars(subject.data() + dot + 1, subject.data() + subject.size(), seq);

    const std::string outcome = ReplyOutcome(raw);
    Pending next;
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      if (index >= self->slots_.size()) return;
      Slot& slot = self->slots_[index];
      if (!slot.active || slot.seq != seq || self->stopping_) return;  // stale, or the run is over
      slot.active = false;
      if (self->measuring_) {
        RunResult& r = self->result_;
        r.latency.Record(static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - slot.sent).count()));
        ++r.responses;
        if (outcome != "ok") ++r.errors;
        ++r.statuses[outcome];
        if (self->o_.count > 0 && r.responses >= self->o_.count) {
          self->stopping_ = true;
          self->cv_.notify_one();
          return;
        }
      }
      next = self->Arm(index, Clock::now());
    }
    self->Publish({next});
  }

  std::vector<Slot> slots_;
  uint64_t next_seq_ = 0;
  bool measuring_ = false;
  bool stopping_ = false;
  Clock::time_point measure_start_;
  RunResult result_;
};

// Open loop: request k is due at start + k / rate whatever is still unanswered, and its latency
// runs from that intended time, wrk2's correction for coordinated omission: a stall anywhere delays
// the sends behind it, and each of them is charged for the wait. This thread sends; nats.c's
// delivery thread matches each reply (on <inbox>.<seq>) to its request. Sends stop when the
// measuring time ends; the run ends when every request sent is answered or has timed out.
class OpenLoopNatsLoad : LoadBase {
 public:
  OpenLoopNatsLoad(const NatsLoadOptions& options, natsConnection* nc) : LoadBase(options, nc) {}

  bool Run(RunResult& result, std::string& error) {
    natsSubscription* sub =
        SubscribeReplies(nc_, inbox_ + ".*", &OpenLoopNatsLoad::OnReply, this, error);
    if (sub == nullptr) return false;
    const auto start = Clock::now();
    measure_start_ = start + Seconds(o_.warmup_s);
    const auto sends_end = measure_start_ + Seconds(o_.seconds);
    const auto interval = Seconds(1.0 / o_.rate);
    const auto timeout = std::chrono::milliseconds(o_.timeout_ms);
    Clock::time_point next_due = start;
    Clock::time_point last_send = start;
    std::vector<uint64_t> due;
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (!stopping_) {
        const auto now = Clock::now();
        due.clear();
        for (; next_due <= now && next_due < sends_end; next_due += interval) {
          pending_.emplace(next_seq_, next_due);
          due.push_back(next_seq_++);
        }
        peak_pending_ = std::max(peak_pending_, pending_.size());
        if (!due.empty()) {
          last_send = now;
          lock.unlock();
          Publish(due);
          lock.lock();
          continue;
        }
        ExpireDueBefore(now - timeout);
        sends_over_ = next_due >= sends_end;
        if (sends_over_ && pending_.empty()) break;
        Clock::time_point wake = next_due < sends_end ? next_due : Clock::time_point::max();
        if (!pending_.empty()) wake = std::min(wake, pending_.begin()->second + timeout);
        cv_.wait_until(lock, wake);
      }
    }
    DrainAndDestroy(sub);

    std::lock_guard<std::mutex> lock(mu_);
    result = std::move(result_);
    result.label = o_.label.empty() ? o_.subject : o_.label;
    result.mode = "nats-open";
    result.concurrency = static_cast<int>(peak_pending_);
    result.target_rate = o_.rate;
    result.elapsed_s = std::max(
        0.0,
        std::chrono::duration<double>(std::min(last_send, sends_end) - measure_start_).count());
    return true;
  }

 private:
  static Clock::duration Seconds(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  }

  // Under mu_: requests due before `cutoff` are over, counted as timeouts when measured.
  void ExpireDueBefore(Clock::time_point cutoff) {
    while (!pending_.empty() && pending_.begin()->second <= cutoff) {
      if (pending_.begin()->second >= measure_start_) ++result_.timeouts;
      pending_.erase(pending_.begin());
    }
  }

  void Publish(const std::vector<uint64_t>& seqs) {
    for (uint64_t seq : seqs)
      SendRequest(nc_, o_, headers_, inbox_ + "." + std::to_string(seq), seq);
  }

  // Runs on the subscription's nats.c delivery thread.
  static void OnReply(natsConnection*, natsSubscription*, natsMsg* raw, void* closure) noexcept {
    NatsMsgPtr msg(raw);
    auto* self = static_cast<OpenLoopNatsLoad*>(closure);
    const auto now = Clock::now();
    const std::string_view key = ReplyKey(raw, self->inbox_);
    uint64_t seq = 0;
    if (std::from_chars(key.data(), key.data() + key.size(), seq).ec != std::errc()) {
      return;
    }
    const std::string outcome = ReplyOutcome(raw);
    std::lock_guard<std::mutex> lock(self->mu_);
    if (self->stopping_) return;  // the count was reached
    const auto it = self->pending_.find(seq);
    if (it == self->pending_.end()) return;  // timed out already
    const Clock::time_point due = it->second;
    self->pending_.erase(it);
    if (due >= self->measure_start_) {
      RunResult& r = self->result_;
      r.latency.Record(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now - due).count()));
      ++r.responses;
      if (outcome != "ok") ++r.errors;
      ++r.statuses[outcome];
      if (self->o_.count > 0 && r.responses >= self->o_.count) self->stopping_ = true;
    }
    // The sender sleeps until its next send or expiry. It must hear of the end of the run, but not
    // of every reply: each wake-up would be a context switch in the middle of the measurement.
    if (self->stopping_ || (self->sends_over_ && self->pending_.empty())) self->cv_.notify_one();
  }

  std::map<uint64_t, Clock::time_point> pending_;  // by seq, so also by due time
  size_t peak_pending_ = 0;
  uint64_t next_seq_ = 0;
  bool sends_over_ = false;  // every request has been sent
  bool stopping_ = false;
  Clock::time_point measure_start_;
  RunResult result_;
};

void OnResponderMsg(natsConnection* nc, natsSubscription*, natsMsg* msg, void* closure) noexcept {
  const auto* body = static_cast<const std::string*>(closure);
  if (natsMsg_GetReply(msg) != nullptr) {
    natsConnection_Publish(nc, natsMsg_GetReply(msg), body->data(), static_cast<int>(body->size()));
  }
  natsMsg_Destroy(msg);
}

}  // namespace

bool IsLoopbackNatsUrl(const std::string& url) {
  return url.rfind("nats://127.", 0) == 0 || url.rfind("nats://localhost:", 0) == 0 ||
         url == "nats://localhost";
}

bool RunNatsLoad(const NatsLoadOptions& options, RunResult& result, std::string& error) {
  if (options.inflight < 1 || options.rate < 0 || options.rate > 1e6 || options.seconds <= 0 ||
      options.seconds > 3600 || options.warmup_s < 0 || options.warmup_s > 600 ||
      options.timeout_ms <= 0) {
    error =
        "need --inflight >= 1, --rate in [0, 1e6], --seconds in (0, 3600], --warmup in [0, 600], "
        "--timeout-ms > 0";
    return false;
  }
  NatsConnectionPtr nc = Connect(options.url, error);
  if (nc == nullptr) return false;
  if (options.rate > 0) {
    OpenLoopNatsLoad load(options, nc.get());
    return load.Run(result, error);
  }
  NatsLoad load(options, nc.get());
  return load.Run(result, error);
}

int RunRequest(const std::string& url, const std::string& subject,
               const std::vector<std::string>& headers, const std::string& data, int timeout_ms) {
  std::string error;
  NatsConnectionPtr nc = Connect(url, error);
  if (nc == nullptr) {
    std::cerr << error << "\n";
    return 1;
  }
  NatsMsgPtr req = BuildMessage(subject, nullptr, ParseHeaders(headers), data);
  natsMsg* raw_reply = nullptr;
  natsStatus s = natsConnection_RequestMsg(&raw_reply, nc.get(), req.get(), timeout_ms);
  if (s != NATS_OK) {
    std::cout << subject << " -> " << natsStatus_GetText(s) << "\n";
    return 1;
  }
  NatsMsgPtr reply(raw_reply);
  std::cout << subject << " ->";
  const char** keys = nullptr;
  int n = 0;
  if (natsMsgHeader_Keys(raw_reply, &keys, &n) == NATS_OK) {
    for (int i = 0; i < n; ++i) {
      const char* v = nullptr;
      natsMsgHeader_Get(raw_reply, keys[i], &v);
      std::cout << " " << keys[i] << "=" << (v ? v : "");
    }
    free(keys);
  }
  std::cout << "\n  " << std::string(natsMsg_GetData(raw_reply), natsMsg_GetDataLength(raw_reply))
            << "\n";
  return 0;
}

int RunResponder(const std::string& url, const std::string& subject, const std::string& queue,
                 const std::string& body, double max_seconds) {
  std::string error;
  NatsConnectionPtr nc = Connect(url, error);
  if (nc == nullptr) {
    std::cerr << error << "\n";
    return 1;
  }
  natsSubscription* sub = nullptr;
  natsStatus s = natsConnection_QueueSubscribe(&sub, nc.get(), subject.c_str(), queue.c_str(),
                                               OnResponderMsg, const_cast<std::string*>(&body));
  if (s == NATS_OK) s = natsSubscription_SetPendingLimits(sub, -1, -1);
  if (s == NATS_OK) s = natsConnection_Flush(nc.get());
  if (s != NATS_OK) {
    std::cerr << "subscribe: " << natsStatus_GetText(s) << "\n";
    if (sub != nullptr) natsSubscription_Destroy(sub);
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
  natsSubscription_Drain(sub);
  natsSubscription_WaitForDrainCompletion(sub, 2000);
  natsSubscription_Destroy(sub);
  return 0;
}

}  // namespace sidecar::bench
