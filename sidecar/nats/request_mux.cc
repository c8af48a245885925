#include "sidecar/nats/request_mux.h"

#include <cassert>
#include <charconv>
#include <random>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace sidecar::nats {
namespace {

constexpr absl::string_view kFailureUrl = "type.sidecar/nats.RequestFailure";

absl::Status Failure(absl::StatusCode code, RequestFailure kind, std::string_view message) {
  absl::Status status(code, absl::string_view(message.data(), message.size()));
  status.SetPayload(kFailureUrl, absl::Cord(std::string(1, static_cast<char>(kind))));
  return status;
}

// A plain subject usable as a prefix: non-empty dot-separated tokens without wildcards or spaces.
bool IsValidPrefix(std::string_view prefix) {
  if (prefix.empty() || prefix.front() == '.' || prefix.back() == '.') return false;
  if (prefix.find("..") != std::string_view::npos) return false;
  for (char c : prefix) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '*' || c == '>') return false;
  }
  return true;
}

// 22 base62 characters (~131 bits): two sidecars sharing a prefix never share an inbox. Drawn once
// per mux, so std::random_device's cost does not matter.
std::string RandomToken() {
  static constexpr char kAlphabet[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::random_device device;
  std::mt19937_64 rng((static_cast<uint64_t>(device()) << 32) ^ device());
  std::uniform_int_distribution<int> pick(0, 61);
  std::string token(22, '0');
  for (char& c : token) c = kAlphabet[pick(rng)];
  return token;
}

}  // namespace

RequestFailure GetRequestFailure(const absl::Status& status) {
  if (status.ok()) return RequestFailure::kNone;
  auto payload = status.GetPayload(kFailureUrl);
  if (!payload || payload->size() != 1) return RequestFailure::kNone;
  return static_cast<RequestFailure>(std::string(*payload)[0]);
}

absl::StatusOr<std::unique_ptr<RequestMux>> RequestMux::Create(Connection& connection,
                                                               Options options) {
  if (!IsValidPrefix(options.inbox_prefix)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inbox prefix '", options.inbox_prefix,
        "' must be a plain subject: dot-separated non-empty tokens, no wildcards or spaces"));
  }
  return std::unique_ptr<RequestMux>(new RequestMux(connection, std::move(options)));
}

RequestMux::RequestMux(Connection& connection, Options options)
    : connection_(connection), dispatcher_(connection.dispatcher()), options_(std::move(options)) {
  state_observer_ = connection_.AddStateObserver([this](bool connected) {
    if (!connected) FailAllInFlight();
  });
}

RequestMux::~RequestMux() {
  connection_.RemoveStateObserver(state_observer_);
  *alive_ = false;
  // Callbacks are dropped uncalled (see the header); their timers die with them.
  pending_.clear();
  // After this no reply handler runs; replies already posted find the handler gone.
  subscription_.reset();
}

absl::Status RequestMux::EnsureSubscribed() {
  if (subscription_ != nullptr) return absl::OkStatus();
  std::string inbox = absl::StrCat(options_.inbox_prefix, ".", RandomToken());
  // The handler is owned by the Subscription, which this mux owns: it cannot outlive `this`.
  // Via nats.c's thread: on-loop delivery would lose "no responders" replies (see Delivery).
  auto sub = connection_.Subscribe(absl::StrCat(inbox, ".*"), [this](Message m) { OnReply(std::move(m)); },
                                   Connection::Delivery::kViaThread);
  if (!sub.ok()) return sub.status();
  subscription_ = *std::move(sub);
  inbox_ = std::move(inbox);
  return absl::OkStatus();
}

RequestMux::RequestId RequestMux::Request(const std::string& subject, const Headers& headers,
                                          const std::string& data,
                                          std::chrono::milliseconds timeout, ReplyCallback done) {
  assert(dispatcher_.IsThreadSafe());
  const RequestId id = ++next_id_;
  auto entry = std::make_unique<Pending>();
  entry->done = std::move(done);
  Pending& pending = *entry;
  pending_.emplace(id, std::move(entry));

  if (timeout.count() <= 0) {
    FailLater(id, Failure(absl::StatusCode::kDeadlineExceeded, RequestFailure::kTimeout,
                          absl::StrCat("request to ", subject, ": deadline already passed")));
    return id;
  }
  // Checked before subscribing and publishing: nats.c accepts both while reconnecting and would
  // hold the request until the deadline.
  if (connection_.status() != NATS_CONN_STATUS_CONNECTED) {
    FailLater(id, Failure(absl::StatusCode::kUnavailable, RequestFailure::kNotConnected,
                          absl::StrCat("request to ", subject, ": NATS is not connected")));
    return id;
  }
  if (absl::Status st = EnsureSubscribed(); !st.ok()) {
    FailLater(id, Failure(st.code(), RequestFailure::kPublishFailed,
                          absl::StrCat("request to ", subject, ": ", st.message())));
    return id;
  }
  // The subscription's SUB went out on the same connection before this PUB, so the server routes
  // the reply (or its no-responders status) to it without a flush round trip.
  absl::Status published =
      connection_.Publish(subject, absl::StrCat(inbox_, ".", id), headers, data);
  if (!published.ok()) {
    FailLater(id, Failure(published.code(), RequestFailure::kPublishFailed,
                          absl::StrCat("request to ", subject, ": ", published.message())));
    return id;
  }
  pending.timer = dispatcher_.CreateTimer([this, id, timeout] { OnTimeout(id, timeout); });
  pending.timer->Enable(timeout);
  return id;
}

void RequestMux::Cancel(RequestId id) {
  assert(dispatcher_.IsThreadSafe());
  pending_.erase(id);  // a reply or posted delivery for it finds nothing
}

void RequestMux::Follow(RequestId id, absl::AnyInvocable<bool(Message)> handler) {
  assert(dispatcher_.IsThreadSafe());
  followers_[id] = std::move(handler);
}

void RequestMux::Unfollow(RequestId id) {
  assert(dispatcher_.IsThreadSafe());
  followers_.erase(id);
}

void RequestMux::OnReply(Message message) {
  std::string_view subject = message.subject;
  RequestId id = 0;
  if (subject.size() > inbox_.size() + 1 && subject.substr(0, inbox_.size()) == inbox_ &&
      subject[inbox_.size()] == '.') {
    std::string_view digits = subject.substr(inbox_.size() + 1);
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
    if (ec != std::errc() || ptr != digits.data() + digits.size()) id = 0;
  }
  auto it = id == 0 ? pending_.end() : pending_.find(id);
  if (it == pending_.end() && id != 0) {
    if (auto follower = followers_.find(id); follower != followers_.end()) {
      if (!follower->second(std::move(message))) followers_.erase(id);
      return;
    }
  }
  if (it == pending_.end() || it->second->failing) {
    // Timed out or cancelled already (or not ours): nobody waits for it any more.
    ++late_replies_;
    return;
  }
  std::unique_ptr<Pending> entry = std::move(it->second);
  pending_.erase(it);
  ReplyCallback done = std::move(entry->done);
  entry.reset();  // its timer must not fire any more
  if (message.no_responders) {
    std::move(done)(Failure(absl::StatusCode::kUnavailable, RequestFailure::kNoResponders,
                            "no responders"));
  } else {
    std::move(done)(std::move(message));
  }
  // `this` may be gone: the callback may destroy the mux.
}

void RequestMux::OnTimeout(RequestId id, std::chrono::milliseconds timeout) {
  FailLater(id, Failure(absl::StatusCode::kDeadlineExceeded, RequestFailure::kTimeout,
                        absl::StrCat("no reply within ", timeout.count(), " ms")));
}

void RequestMux::FailLater(RequestId id, absl::Status failure) {
  auto it = pending_.find(id);
  if (it == pending_.end() || it->second->failing) return;
  it->second->failing = true;
  it->second->failure = std::move(failure);
  // Posted rather than run here: not inline from Request(), and not inside the timer's own
  // callback (delivering destroys the timer).
  dispatcher_.Post([this, alive = alive_, id] {
    if (*alive) DeliverFailure(id);
  });
}

void RequestMux::DeliverFailure(RequestId id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;  // cancelled meanwhile
  std::unique_ptr<Pending> entry = std::move(it->second);
  pending_.erase(it);
  ReplyCallback done = std::move(entry->done);
  absl::Status failure = std::move(entry->failure);
  entry.reset();
  std::move(done)(std::move(failure));
}

void RequestMux::FailAllInFlight() {
  std::vector<RequestId> ids;
  for (const auto& [id, pending] : pending_) {
    if (!pending->failing) ids.push_back(id);
  }
  for (RequestId id : ids) {
    FailLater(id, Failure(absl::StatusCode::kUnavailable, RequestFailure::kNotConnected,
                          "connection to NATS lost with the request in flight"));
  }
}

}  // namespace sidecar::nats
