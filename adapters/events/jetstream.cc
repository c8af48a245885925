#include "adapters/events/jetstream.h"

#include "absl/strings/str_cat.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::adapters::events {

absl::Status JsError(natsStatus s, jsErrCode code, absl::string_view what) {
  std::string message = absl::StrCat(what, ": ", natsStatus_GetText(s));
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0') absl::StrAppend(&message, " (", last, ")");
  if (code != 0) absl::StrAppend(&message, " [jetstream error ", static_cast<int>(code), "]");
  if (s == NATS_NOT_FOUND) return absl::NotFoundError(message);
  if (s == NATS_TIMEOUT) return absl::DeadlineExceededError(message);
  return absl::UnavailableError(message);
}

absl::StatusOr<JsCtxPtr> NewJetStream(natsConnection* conn, int64_t wait_ms) {
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = wait_ms;
  jsCtx* raw = nullptr;
  natsStatus s = natsConnection_JetStream(&raw, conn, &jo);
  if (s != NATS_OK) return JsError(s, static_cast<jsErrCode>(0), "natsConnection_JetStream");
  return JsCtxPtr(raw);
}

absl::StatusOr<JsStreamInfoPtr> GetStream(jsCtx* js, const std::string& stream) {
  jsStreamInfo* raw = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&raw, js, stream.c_str(), nullptr, &jerr);
  JsStreamInfoPtr info(raw);
  if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
    return absl::NotFoundError(absl::StrCat("stream '", stream, "' not found"));
  }
  if (s != NATS_OK) return JsError(s, jerr, absl::StrCat("stream info of '", stream, "'"));
  return info;
}

absl::Status EnsureStream(jsCtx* js, const std::string& stream, const std::string& subject) {
  auto info = GetStream(js, stream);
  if (info.ok()) return absl::OkStatus();
  if (!absl::IsNotFound(info.status())) return info.status();
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = stream.c_str();
  const char* subjects[] = {subject.c_str()};
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  jsStreamInfo* raw = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_AddStream(&raw, js, &cfg, nullptr, &jerr);
  JsStreamInfoPtr added(raw);
  // Another sidecar created it between our lookup and our add: same stream, nothing to do.
  if (s != NATS_OK && jerr == JSStreamNameExistErr) s = NATS_OK;
  if (s != NATS_OK) return JsError(s, jerr, absl::StrCat("creating stream '", stream, "'"));
  return absl::OkStatus();
}

absl::StatusOr<JsMsgPtr> NewMsg(const std::string& subject, const Headers& headers, const std::string& data) {
  natsMsg* raw = nullptr;
  natsStatus s = natsMsg_Create(&raw, subject.c_str(), nullptr, data.data(), static_cast<int>(data.size()));
  JsMsgPtr msg(raw);
  for (const auto& [name, value] : headers) {
    if (s == NATS_OK) s = natsMsgHeader_Add(msg.get(), name.c_str(), value.c_str());
  }
  if (s != NATS_OK) return JsError(s, static_cast<jsErrCode>(0), absl::StrCat("building message for ", subject));
  return msg;
}

Headers MsgHeaders(natsMsg* msg) {
  Headers out;
  const char** keys = nullptr;
  int count = 0;
  if (natsMsgHeader_Keys(msg, &keys, &count) != NATS_OK) return out;
  for (int i = 0; i < count; ++i) {
    const char** values = nullptr;
    int n = 0;
    if (natsMsgHeader_Values(msg, keys[i], &values, &n) == NATS_OK) {
      for (int j = 0; j < n; ++j) out.emplace_back(keys[i], values[j]);
      free(values);
    }
  }
  free(keys);
  return out;
}

std::string MsgData(natsMsg* msg) {
  const char* data = natsMsg_GetData(msg);
  return data == nullptr ? std::string() : std::string(data, static_cast<size_t>(natsMsg_GetDataLength(msg)));
}

}  // namespace sidecar::adapters::events
