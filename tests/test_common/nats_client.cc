#include "tests/test_common/nats_client.h"

#include <nats/nats.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "sidecar/common/c_handle.h"

namespace sidecar::test_common {
namespace {

using NatsOptionsPtr = CHandle<natsOptions, natsOptions_Destroy>;
using NatsSubscriptionPtr = CHandle<natsSubscription, natsSubscription_Destroy>;
using NatsMsgPtr = CHandle<natsMsg, natsMsg_Destroy>;

absl::Status Check(natsStatus s, absl::string_view what) {
  if (s == NATS_OK) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(what, ": ", natsStatus_GetText(s)));
}

absl::StatusOr<NatsMsgPtr> BuildMessage(const NatsRequestSpec& spec, const char* reply) {
  natsMsg* raw = nullptr;
  if (absl::Status s = Check(natsMsg_Create(&raw, spec.subject.c_str(), reply, spec.data.data(),
                                            static_cast<int>(spec.data.size())),
                             "natsMsg_Create");
      !s.ok()) {
    return s;
  }
  NatsMsgPtr msg(raw);
  for (const auto& [k, v] : spec.headers) {
    if (absl::Status s = Check(natsMsgHeader_Add(msg.get(), k.c_str(), v.c_str()), "header"); !s.ok()) return s;
  }
  return msg;
}

NatsReplyMessage ToReply(natsMsg* msg) {
  NatsReplyMessage out;
  out.subject = natsMsg_GetSubject(msg);
  out.no_responders = natsMsg_IsNoResponders(msg);
  const char* data = natsMsg_GetData(msg);
  if (data != nullptr) out.data.assign(data, static_cast<size_t>(natsMsg_GetDataLength(msg)));
  const char** keys = nullptr;
  int count = 0;
  if (natsMsgHeader_Keys(msg, &keys, &count) == NATS_OK) {
    for (int i = 0; i < count; ++i) {
      const char** values = nullptr;
      int n = 0;
      if (natsMsgHeader_Values(msg, keys[i], &values, &n) == NATS_OK) {
        for (int j = 0; j < n; ++j) out.headers.emplace_back(keys[i], values[j]);
        free(values);
      }
    }
    free(keys);
  }
  return out;
}

}  // namespace

std::string NatsReplyMessage::Header(absl::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return "";
}

absl::StatusOr<std::unique_ptr<NatsTestClient>> NatsTestClient::Connect(const std::string& url) {
  natsOptions* raw_opts = nullptr;
  if (absl::Status s = Check(natsOptions_Create(&raw_opts), "natsOptions_Create"); !s.ok()) return s;
  NatsOptionsPtr opts(raw_opts);
  natsStatus st = natsOptions_SetURL(opts.get(), url.c_str());
  if (st == NATS_OK) st = natsOptions_SetSendAsap(opts.get(), true);
  if (st == NATS_OK) st = natsOptions_SetTimeout(opts.get(), 5000);
  if (absl::Status s = Check(st, "options"); !s.ok()) return s;
  std::unique_ptr<NatsTestClient> client(new NatsTestClient());
  if (absl::Status s = Check(natsConnection_Connect(&client->conn_, opts.get()), "connect " + url); !s.ok()) {
    return s;
  }
  return client;
}

NatsTestClient::~NatsTestClient() {
  for (natsSubscription* sub : silent_) natsSubscription_Destroy(sub);
  if (conn_ != nullptr) natsConnection_Destroy(conn_);
}

int NatsTestClient::HeldMessages() const {
  int total = 0;
  for (natsSubscription* sub : silent_) {
    int pending = 0;
    if (natsSubscription_GetPending(sub, &pending, nullptr) == NATS_OK) total += pending;
  }
  return total;
}

absl::Status NatsTestClient::SubscribeWithoutReplying(const std::string& subject, const std::string& queue) {
  natsSubscription* sub = nullptr;
  natsStatus s = natsConnection_QueueSubscribeSync(&sub, conn_, subject.c_str(), queue.c_str());
  if (s != NATS_OK) return absl::UnavailableError(absl::StrCat("subscribe ", subject, ": ", natsStatus_GetText(s)));
  silent_.push_back(sub);
  return Flush();
}

absl::StatusOr<NatsReplyMessage> NatsTestClient::Request(const NatsRequestSpec& request, absl::Duration timeout) {
  auto msg = BuildMessage(request, nullptr);
  if (!msg.ok()) return msg.status();
  natsMsg* reply = nullptr;
  natsStatus s = natsConnection_RequestMsg(&reply, conn_, msg->get(), absl::ToInt64Milliseconds(timeout));
  if (s == NATS_TIMEOUT) return absl::DeadlineExceededError("no reply within the timeout");
  if (s == NATS_NO_RESPONDERS) {
    NatsReplyMessage r;
    r.no_responders = true;
    return r;
  }
  if (absl::Status st = Check(s, "request " + request.subject); !st.ok()) return st;
  NatsMsgPtr owned(reply);
  return ToReply(reply);
}

absl::StatusOr<std::vector<std::optional<NatsReplyMessage>>> NatsTestClient::RequestMany(
    const std::vector<NatsRequestSpec>& requests, absl::Duration timeout, absl::Notification* published) {
  natsInbox* inbox = nullptr;
  if (absl::Status s = Check(natsInbox_Create(&inbox), "inbox"); !s.ok()) return s;
  std::string prefix = inbox;
  natsInbox_Destroy(inbox);

  natsSubscription* raw_sub = nullptr;
  if (absl::Status s = Check(natsConnection_SubscribeSync(&raw_sub, conn_, (prefix + ".*").c_str()), "subscribe");
      !s.ok()) {
    return s;
  }
  NatsSubscriptionPtr sub(raw_sub);
  natsSubscription_SetPendingLimits(sub.get(), -1, -1);
  if (absl::Status s = Check(natsConnection_Flush(conn_), "flush"); !s.ok()) return s;

  for (size_t i = 0; i < requests.size(); ++i) {
    std::string reply = absl::StrCat(prefix, ".", i);
    auto msg = BuildMessage(requests[i], reply.c_str());
    if (!msg.ok()) return msg.status();
    if (absl::Status s = Check(natsConnection_PublishMsg(conn_, msg->get()), "publish"); !s.ok()) return s;
  }
  if (absl::Status s = Check(natsConnection_Flush(conn_), "flush"); !s.ok()) return s;
  if (published != nullptr) published->Notify();

  std::vector<std::optional<NatsReplyMessage>> replies(requests.size());
  size_t received = 0;
  const absl::Time deadline = absl::Now() + timeout;
  while (received < requests.size()) {
    int64_t left_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left_ms <= 0) break;
    natsMsg* raw = nullptr;
    natsStatus s = natsSubscription_NextMsg(&raw, sub.get(), left_ms);
    if (s == NATS_TIMEOUT) break;
    if (absl::Status st = Check(s, "next reply"); !st.ok()) return st;
    NatsMsgPtr msg(raw);
    std::string subject = natsMsg_GetSubject(raw);
    size_t index = 0;
    if (!absl::SimpleAtoi(subject.substr(prefix.size() + 1), &index) || index >= replies.size()) {
      return absl::InternalError("reply on an unexpected subject " + subject);
    }
    if (replies[index].has_value()) return absl::InternalError(absl::StrCat("request ", index, " answered twice"));
    replies[index] = ToReply(raw);
    ++received;
  }
  return replies;
}

absl::Status NatsTestClient::Publish(const NatsRequestSpec& message) {
  auto msg = BuildMessage(message, nullptr);
  if (!msg.ok()) return msg.status();
  return Check(natsConnection_PublishMsg(conn_, msg->get()), "publish");
}

absl::Status NatsTestClient::Flush() { return Check(natsConnection_Flush(conn_), "flush"); }

}  // namespace sidecar::test_common
