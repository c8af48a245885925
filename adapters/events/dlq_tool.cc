#include "adapters/events/dlq_tool.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "adapters/transcoding/transcoder.h"
#include "adapters/events/consumer.h"
#include "adapters/events/dlq_record.h"
#include "adapters/events/jetstream.h"
#include "nlohmann/json.hpp"
#include "sidecar/common/status_macros.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/nats/connection.h"
#include "sidecar/stats/metrics.h"
#include "sidecar/upstream/legacy_http_cluster.h"

namespace sidecar::adapters::events {
namespace {

constexpr int64_t kJsWaitMs = 5000;

struct Entry {
  uint64_t seq = 0;
  absl::Time stored;
  DlqRecord record;
};

absl::StatusOr<std::string> StreamName(const config::Config& config, const DlqCommand& command) {
  if (!command.stream.empty()) return command.stream;
  std::string name;
  for (const auto& c : config.events.consumers) {
    if (!name.empty() && name != c.dlq_stream) {
      return absl::InvalidArgumentError(absl::StrCat("consumers use several DLQ streams (", name, ", ", c.dlq_stream,
                                                     "): choose one with --stream"));
    }
    name = c.dlq_stream;
  }
  return name.empty() ? std::string("DLQ") : name;
}

// nullopt: deleted (replayed) or not a DLQ record.
absl::StatusOr<std::optional<Entry>> Read(jsCtx* js, const std::string& stream, uint64_t seq) {
  natsMsg* raw = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetMsg(&raw, js, stream.c_str(), seq, nullptr, &jerr);
  JsMsgPtr msg(raw);
  if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr) return std::optional<Entry>();
  if (s != NATS_OK) return JsError(s, jerr, absl::StrCat("reading ", stream, " #", seq));
  auto record = DecodeDlqRecord(MsgHeaders(msg.get()), MsgData(msg.get()));
  if (!record.ok()) return std::optional<Entry>();
  Entry e;
  e.seq = seq;
  e.stored = absl::FromUnixNanos(natsMsg_GetTime(msg.get()));
  e.record = *std::move(record);
  return std::optional<Entry>(std::move(e));
}

// Every entry (or the listed sequences) whose original subject matches the filter.
absl::StatusOr<std::vector<Entry>> Collect(jsCtx* js, const std::string& stream, const DlqCommand& command,
                                           size_t limit) {
  std::vector<uint64_t> seqs = command.seqs;
  if (seqs.empty()) {
    ASSIGN_OR_RETURN(JsStreamInfoPtr info, GetStream(js, stream));
    for (uint64_t seq = info->State.FirstSeq; seq != 0 && seq <= info->State.LastSeq; ++seq) seqs.push_back(seq);
  }
  std::vector<Entry> out;
  for (uint64_t seq : seqs) {
    if (out.size() >= limit) break;
    ASSIGN_OR_RETURN(std::optional<Entry> e, Read(js, stream, seq));
    if (!e.has_value()) {
      if (!command.seqs.empty()) return absl::NotFoundError(absl::StrCat(stream, " #", seq, ": no DLQ entry"));
      continue;
    }
    if (!command.filter.empty() && !SubjectMatches(command.filter, e->record.subject)) continue;
    out.push_back(*std::move(e));
  }
  return out;
}

nlohmann::json ToJson(const Entry& e, bool with_payload) {
  const DlqRecord& r = e.record;
  nlohmann::json j = {{"seq", e.seq},
                      {"subject", r.subject},
                      {"consumer", r.consumer},
                      {"stream", r.stream},
                      {"stream_seq", r.stream_seq},
                      {"attempts", r.attempts},
                      {"reason", r.reason},
                      {"last_error", r.last_error},
                      {"published", FormatRfc3339(r.published)},
                      {"first_attempt", FormatRfc3339(r.first_attempt)},
                      {"last_attempt", FormatRfc3339(r.last_attempt)},
                      {"dead_lettered", FormatRfc3339(e.stored)}};
  if (!r.original_msg_id.empty()) j["msg_id"] = r.original_msg_id;
  if (with_payload) {
    nlohmann::json headers = nlohmann::json::array();
    for (const auto& [name, value] : r.headers) headers.push_back({name, value});
    j["headers"] = std::move(headers);
    j["payload"] = r.payload;  // dump() with replace keeps invalid UTF-8 printable
  }
  return j;
}

const config::EventConsumerConfig* FindConsumer(const config::Config& config, const std::string& name) {
  for (const auto& c : config.events.consumers) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

// Delivers one event straight to a legacy_http cluster, with the consumer's path and headers, on a
// private loop. OK only for a 2xx.
absl::Status DeliverToLegacy(const config::Config& config, const Entry& e) {
  const config::EventConsumerConfig* consumer = FindConsumer(config, e.record.consumer);
  if (consumer == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("consumer '", e.record.consumer, "' is not in this config: cannot tell where to deliver"));
  }
  const config::ClusterConfig* target = nullptr;
  for (const auto& cc : config.clusters) {
    if (cc.legacy_http.has_value() && (target == nullptr || cc.name == consumer->cluster)) target = &cc;
  }
  if (target == nullptr) return absl::FailedPreconditionError("no legacy_http cluster in the config");
  ASSIGN_OR_RETURN(auto dispatcher, event::Dispatcher::Create("dlq-replay"));
  stats::Metrics metrics;
  config::ClusterConfig cc = *target;
  cc.legacy_http->health_check.reset();  // one request; no checker needed
  ASSIGN_OR_RETURN(auto cluster, upstream::LegacyHttpCluster::Create(cc, *dispatcher, metrics));
  http::Request request = DeliveryRequest(*consumer, e.record.subject, e.record.headers, e.record.payload,
                                          e.record.stream_seq, e.record.attempts + 1);
  absl::Status result = absl::UnknownError("no answer");
  cluster->Send(request, [&](absl::StatusOr<http::Response> r) {
    if (!r.ok()) {
      result = r.status();
    } else if (r->status < 200 || r->status >= 300) {
      result = absl::UnavailableError(absl::StrCat("cluster '", cc.name, "' answered ", r->status, ": ",
                                                   r->body.substr(0, 200)));
    } else {
      result = absl::OkStatus();
    }
    dispatcher->Exit();
  });
  dispatcher->Run();
  return result;
}

// Delivers one event to the native port that serves the consumer's path, over NATS: the path names
// the service (/api/<service>/...), the service's schema maps POST <path> to its action, and the
// event goes as the action's JSON payload to svc.<service>.v1.<action>, where the running sidecar
// that hosts the port answers it (`native: {serve: true}`). Going through NATS instead of building
// the port here keeps the tool from opening the port's store a second time. OK only for a success.
absl::Status DeliverToNative(natsConnection* conn, const config::Config& config, const Entry& e) {
  const config::EventConsumerConfig* consumer = FindConsumer(config, e.record.consumer);
  if (consumer == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("consumer '", e.record.consumer, "' is not in this config: cannot tell where to deliver"));
  }
  const std::vector<absl::string_view> parts = absl::StrSplit(consumer->path, '/');
  if (parts.size() < 3 || parts[1] != "api") {
    return absl::FailedPreconditionError(absl::StrCat("--to native needs a consumer path /api/<service>/..., got '",
                                                      consumer->path, "'"));
  }
  const std::string service(parts[2]);
  ASSIGN_OR_RETURN(auto transcoder, transcoding::Transcoder::Create(service));
  http::Request request = DeliveryRequest(*consumer, e.record.subject, e.record.headers, e.record.payload,
                                          e.record.stream_seq, e.record.attempts + 1);
  ASSIGN_OR_RETURN(nats_http::DecodedRequest decoded, transcoder->routes().Decode("POST", request.path, request.body));
  Headers headers;
  for (const auto& [name, value] : request.headers.entries()) {
    if (!http::HeaderMap::NameEquals(name, "Content-Type")) headers.emplace_back(name, value);
  }
  headers.emplace_back("Content-Type", "application/json");
  const std::string subject = absl::StrCat("svc.", service, ".v1.", decoded.action);
  ASSIGN_OR_RETURN(JsMsgPtr msg, NewMsg(subject, headers, decoded.Payload()));
  natsMsg* raw_reply = nullptr;
  natsStatus s = natsConnection_RequestMsg(&raw_reply, conn, msg.get(), consumer->timeout_ms);
  JsMsgPtr reply(raw_reply);
  if (s == NATS_NO_RESPONDERS) {
    return absl::UnavailableError(absl::StrCat("nobody serves ", subject, " (is a sidecar hosting ", service,
                                               " with serve: true running?)"));
  }
  if (s != NATS_OK) return absl::UnavailableError(absl::StrCat(subject, ": ", natsStatus_GetText(s)));
  const char* code = nullptr;
  if (natsMsgHeader_Get(reply.get(), "Nats-Service-Error-Code", &code) == NATS_OK) {
    return absl::UnavailableError(absl::StrCat(subject, " answered ", code, ": ", MsgData(reply.get()).substr(0, 200)));
  }
  return absl::OkStatus();
}

absl::Status Republish(jsCtx* js, const Entry& e) {
  ASSIGN_OR_RETURN(JsMsgPtr msg, NewMsg(e.record.subject, ReplayHeaders(e.record, e.seq), e.record.payload));
  jsPubAck* raw_ack = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_PublishMsg(&raw_ack, js, msg.get(), nullptr, &jerr);
  JsPubAckPtr ack(raw_ack);
  if (s != NATS_OK) return JsError(s, jerr, absl::StrCat("publishing to ", e.record.subject));
  return absl::OkStatus();
}

absl::Status Run(const config::Config& config, const DlqCommand& command, std::ostream& out) {
  ASSIGN_OR_RETURN(const std::string stream, StreamName(config, command));
  ASSIGN_OR_RETURN(nats::NatsConnectionPtr conn, nats::ConnectBlocking(config.nats, config.nats.name + "-dlq"));
  ASSIGN_OR_RETURN(JsCtxPtr js, NewJetStream(conn.get(), kJsWaitMs));
  if (command.verb == "list") {
    ASSIGN_OR_RETURN(std::vector<Entry> entries, Collect(js.get(), stream, command, command.limit));
    for (const Entry& e : entries) out << ToJson(e, false).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return absl::OkStatus();
  }
  if (command.verb == "show") {
    if (command.seqs.size() != 1) return absl::InvalidArgumentError("show takes one DLQ sequence number");
    ASSIGN_OR_RETURN(std::vector<Entry> entries, Collect(js.get(), stream, command, 1));
    for (const Entry& e : entries) out << ToJson(e, true).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return absl::OkStatus();
  }
  if (command.verb == "replay") {
    if (!command.to.empty() && command.to != "legacy" && command.to != "native") {
      return absl::InvalidArgumentError(absl::StrCat("--to ", command.to, ": expected legacy or native"));
    }
    ASSIGN_OR_RETURN(std::vector<Entry> entries, Collect(js.get(), stream, command, SIZE_MAX));
    size_t failed = 0;
    for (const Entry& e : entries) {
      absl::Status st = command.to.empty()         ? Republish(js.get(), e)
                        : command.to == "legacy" ? DeliverToLegacy(config, e)
                                                 : DeliverToNative(conn.get(), config, e);
      if (st.ok()) {
        // Removed only after the replay succeeded: a failed replay leaves the entry for the next try.
        jsErrCode jerr = static_cast<jsErrCode>(0);
        natsStatus s = js_DeleteMsg(js.get(), stream.c_str(), e.seq, nullptr, &jerr);
        if (s != NATS_OK) st = JsError(s, jerr, absl::StrCat("replayed, but removing ", stream, " #", e.seq));
      }
      nlohmann::json line = {{"seq", e.seq}, {"subject", e.record.subject}, {"replayed", st.ok()}};
      if (!st.ok()) {
        line["error"] = std::string(st.message());
        ++failed;
      }
      out << line.dump() << "\n";
    }
    if (failed > 0) return absl::UnavailableError(absl::StrCat(failed, " of ", entries.size(), " replays failed"));
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown dlq verb '", command.verb, "'"));
}

}  // namespace

int RunDlqCommand(const config::Config& config, const DlqCommand& command, std::ostream& out, std::ostream& err) {
  absl::Status st = Run(config, command, out);
  if (!st.ok()) {
    err << "dlq " << command.verb << ": " << st.message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace sidecar::adapters::events
