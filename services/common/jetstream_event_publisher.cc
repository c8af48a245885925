#include "services/common/jetstream_event_publisher.h"

#include "services/common/strings_internal.h"

#include "absl/strings/str_cat.h"
#include "sidecar/nats/connection.h"

namespace sidecar::services {
namespace {

using NatsMsgPtr = CHandle<natsMsg, natsMsg_Destroy>;
using JsPubAckPtr = CHandle<jsPubAck, jsPubAck_Destroy>;
using JsStreamInfoPtr = CHandle<jsStreamInfo, jsStreamInfo_Destroy>;

absl::Status Unavailable(natsStatus s, std::string_view what) {
  return absl::UnavailableError(nats::FromNats(s, what).message());
}

}  // namespace

absl::StatusOr<std::unique_ptr<JetStreamEventPublisher>> JetStreamEventPublisher::Create(
    natsConnection* conn, event::Dispatcher& dispatcher, Options options) {
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = options.op_timeout_ms;
  jsCtx* raw_js = nullptr;
  natsStatus s = natsConnection_JetStream(&raw_js, conn, &jo);
  if (s != NATS_OK) return Unavailable(s, "natsConnection_JetStream");
  JsCtxPtr js(raw_js);
  if (options.create_stream) {
    const std::string name(kEventsStream);
    jsStreamInfo* raw_si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    s = js_GetStreamInfo(&raw_si, js.get(), name.c_str(), nullptr, &jerr);
    JsStreamInfoPtr si(raw_si);
    if (s == NATS_NOT_FOUND) {
      jsStreamConfig cfg;
      jsStreamConfig_Init(&cfg);
      cfg.Name = name.c_str();
      const std::string subject(kEventsSubjects);
      const char* subjects[] = {subject.c_str()};
      cfg.Subjects = subjects;
      cfg.SubjectsLen = 1;
      cfg.Storage = js_FileStorage;
      jsStreamInfo* raw_added = nullptr;
      s = js_AddStream(&raw_added, js.get(), &cfg, nullptr, &jerr);
      JsStreamInfoPtr added(raw_added);
      // Another replica created it first: same stream, nothing to do.
      if (s != NATS_OK && jerr == JSStreamNameExistErr) s = NATS_OK;
    }
    if (s != NATS_OK) return Unavailable(s, "ensuring stream EVENTS");
  }
  return std::unique_ptr<JetStreamEventPublisher>(
      new JetStreamEventPublisher(dispatcher, std::move(js), options.worker_threads));
}

JetStreamEventPublisher::JetStreamEventPublisher(event::Dispatcher& dispatcher, JsCtxPtr js,
                                                 size_t threads)
    : dispatcher_(dispatcher),
      js_(std::move(js)),
      workers_(std::make_unique<WorkerPool>(threads)) {}

JetStreamEventPublisher::~JetStreamEventPublisher() { workers_.reset(); }

void JetStreamEventPublisher::Publish(Event event, Done done) {
  workers_->Run([this, event = std::move(event), done = std::move(done)](bool cancelled) mutable {
    absl::Status result;
    if (cancelled) {
      result = absl::CancelledError("event publisher shut down");
    } else {
      natsMsg* raw = nullptr;
      natsStatus s = natsMsg_Create(&raw, event.subject.c_str(), nullptr, event.data.data(),
                                    static_cast<int>(event.data.size()));
      NatsMsgPtr msg(raw);
      for (const auto& [name, value] : event.headers) {
        if (s == NATS_OK) s = natsMsgHeader_Set(msg.get(), name.c_str(), value.c_str());
      }
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MsgId = event.event_id.c_str();
      jsPubAck* raw_ack = nullptr;
      jsErrCode jerr = static_cast<jsErrCode>(0);
      if (s == NATS_OK) s = js_PublishMsg(&raw_ack, js_.get(), msg.get(), &po, &jerr);
      JsPubAckPtr ack(raw_ack);
      if (s != NATS_OK) result = Unavailable(s, absl::StrCat("publishing ", event.subject));
    }
    if (done) {
      dispatcher_.Post([done = std::move(done), result]() mutable { std::move(done)(result); });
    }
  });
}

}  // namespace sidecar::services
