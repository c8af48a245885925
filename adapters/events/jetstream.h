#pragma once
// Small RAII and conversion helpers over nats.c's JetStream API, shared by the consumer, the egress
// publisher and the dlq tool. Every call here may block: use them on worker threads or at startup,
// with a connection that is not driven by an event loop (nats::ConnectBlocking).

#include <nats/nats.h>

#include <string>

#include "absl/status/statusor.h"
#include "adapters/events/dlq_record.h"
#include "sidecar/common/c_handle.h"

namespace sidecar::adapters::events {

using JsCtxPtr = CHandle<jsCtx, jsCtx_Destroy>;
using JsMsgPtr = CHandle<natsMsg, natsMsg_Destroy>;
using JsPubAckPtr = CHandle<jsPubAck, jsPubAck_Destroy>;
using JsStreamInfoPtr = CHandle<jsStreamInfo, jsStreamInfo_Destroy>;
using JsConsumerInfoPtr = CHandle<jsConsumerInfo, jsConsumerInfo_Destroy>;
using JsMetaPtr = CHandle<jsMsgMetaData, jsMsgMetaData_Destroy>;
using JsSubPtr = CHandle<natsSubscription, natsSubscription_Destroy>;

// kUnavailable with nats.c's text and the JetStream error code, if any.
absl::Status JsError(natsStatus s, jsErrCode code, absl::string_view what);

absl::StatusOr<JsCtxPtr> NewJetStream(natsConnection* conn, int64_t wait_ms);

// kNotFound with a message naming the stream when it does not exist.
absl::StatusOr<JsStreamInfoPtr> GetStream(jsCtx* js, const std::string& stream);
// Creates the stream with `subject` (file storage) unless it exists.
absl::Status EnsureStream(jsCtx* js, const std::string& stream, const std::string& subject);

absl::StatusOr<JsMsgPtr> NewMsg(const std::string& subject, const Headers& headers, const std::string& data);
Headers MsgHeaders(natsMsg* msg);
std::string MsgData(natsMsg* msg);

}  // namespace sidecar::adapters::events
