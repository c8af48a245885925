#include "sidecar/cutover/route_kv.h"

#include "absl/strings/str_cat.h"
#include "sidecar/nats/connection.h"

namespace sidecar::cutover {
namespace {

using KvEntryPtr = CHandle<kvEntry, kvEntry_Destroy>;
using NatsMsgPtr = CHandle<natsMsg, natsMsg_Destroy>;
using JsPubAckPtr = CHandle<jsPubAck, jsPubAck_Destroy>;

constexpr char kConflictPrefix[] = "cut-over state changed concurrently";

absl::Status KvError(natsStatus s, std::string_view what) {
  absl::Status st = nats::FromNats(s, what);
  return absl::UnavailableError(st.message());
}

}  // namespace

bool IsConflict(const absl::Status& status) { return status.code() == absl::StatusCode::kAborted; }

KvRecord ToRecord(kvEntry* entry) {
  KvRecord r;
  r.key = kvEntry_Key(entry);
  r.revision = kvEntry_Revision(entry);
  const void* data = kvEntry_Value(entry);
  const int len = kvEntry_ValueLen(entry);
  if (data != nullptr && len > 0) r.value.assign(static_cast<const char*>(data), static_cast<size_t>(len));
  r.deleted = kvEntry_Operation(entry) != kvOp_Put;
  r.created_ms = kvEntry_Created(entry) / 1000000;
  return r;
}

absl::StatusOr<std::unique_ptr<RouteKv>> RouteKv::Bind(natsConnection* conn, const std::string& bucket,
                                                       bool create, int replicas, int64_t timeout_ms) {
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = timeout_ms;
  jsCtx* raw_js = nullptr;
  natsStatus s = natsConnection_JetStream(&raw_js, conn, &jo);
  if (s != NATS_OK) return KvError(s, "natsConnection_JetStream");
  JsCtxPtr js(raw_js);
  kvStore* raw_kv = nullptr;
  s = js_KeyValue(&raw_kv, js.get(), bucket.c_str());
  if (s == NATS_NOT_FOUND && create) {
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = bucket.c_str();
    cfg.History = 16;  // as config/nats/jetstream/kv-sidecar-routes.json: the change record
    cfg.Replicas = replicas;
    cfg.StorageType = js_FileStorage;
    s = js_CreateKeyValue(&raw_kv, js.get(), &cfg);
    // Another sidecar may have created it between our bind and create: bind again.
    if (s != NATS_OK) s = js_KeyValue(&raw_kv, js.get(), bucket.c_str());
  }
  if (s == NATS_NOT_FOUND) return absl::NotFoundError(absl::StrCat("KV bucket '", bucket, "' does not exist"));
  if (s != NATS_OK) return KvError(s, absl::StrCat("binding KV bucket ", bucket));
  return std::unique_ptr<RouteKv>(new RouteKv(bucket, std::move(js), KvStorePtr(raw_kv), timeout_ms));
}

absl::StatusOr<std::optional<KvRecord>> RouteKv::Get(const std::string& key) {
  kvEntry* raw = nullptr;
  natsStatus s = kvStore_Get(&raw, kv_.get(), key.c_str());
  if (s == NATS_NOT_FOUND) return std::optional<KvRecord>();
  if (s != NATS_OK) return KvError(s, absl::StrCat("reading ", key));
  KvEntryPtr entry(raw);
  return std::optional<KvRecord>(ToRecord(entry.get()));
}

absl::StatusOr<uint64_t> RouteKv::Write(const std::string& key, const std::string& value,
                                        uint64_t expected_revision) {
  // A raw publish with the expectation as a header (not kvStore_Update): only js_PublishMsg tells
  // a lost race (10071) apart from a transport failure.
  uint64_t expected = expected_revision;
  if (expected == 0) {
    // "Must not exist" must also accept a key whose last message is a delete marker.
    auto current = Get(key);
    if (current.ok() && current->has_value() && (*current)->deleted) expected = (*current)->revision;
  }
  const std::string subject = absl::StrCat("$KV.", bucket_, ".", key);
  natsMsg* raw_msg = nullptr;
  natsStatus s = natsMsg_Create(&raw_msg, subject.c_str(), nullptr, value.data(), static_cast<int>(value.size()));
  if (s != NATS_OK) return KvError(s, "natsMsg_Create");
  NatsMsgPtr msg(raw_msg);
  s = natsMsgHeader_Set(msg.get(), "Nats-Expected-Last-Subject-Sequence", std::to_string(expected).c_str());
  if (s != NATS_OK) return KvError(s, "natsMsgHeader_Set");
  jsPubAck* raw_ack = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  s = js_PublishMsg(&raw_ack, js_.get(), msg.get(), nullptr, &jerr);
  JsPubAckPtr ack(raw_ack);
  if (s != NATS_OK) {
    if (jerr == JSStreamWrongLastSequenceErr) {
      return absl::AbortedError(absl::StrCat(kConflictPrefix, ": ", key, " is no longer at revision ", expected));
    }
    return KvError(s, absl::StrCat("writing ", key));
  }
  return ack->Sequence;
}

absl::StatusOr<std::vector<KvRecord>> RouteKv::History(const std::string& key) {
  kvEntryList list{};
  kvWatchOptions wo;
  kvWatchOptions_Init(&wo);
  wo.Timeout = timeout_ms_;
  natsStatus s = kvStore_History(&list, kv_.get(), key.c_str(), &wo);
  if (s == NATS_NOT_FOUND) return std::vector<KvRecord>();
  if (s != NATS_OK) return KvError(s, absl::StrCat("history of ", key));
  std::vector<KvRecord> out;
  for (int i = 0; i < list.Count; ++i) out.push_back(ToRecord(list.Entries[i]));
  kvEntryList_Destroy(&list);
  return out;
}

absl::StatusOr<std::vector<std::string>> RouteKv::Keys() {
  kvKeysList list{};
  kvWatchOptions wo;
  kvWatchOptions_Init(&wo);
  wo.Timeout = timeout_ms_;
  natsStatus s = kvStore_Keys(&list, kv_.get(), &wo);
  if (s == NATS_NOT_FOUND) return std::vector<std::string>();
  if (s != NATS_OK) return KvError(s, "listing keys");
  std::vector<std::string> out;
  for (int i = 0; i < list.Count; ++i) out.emplace_back(list.Keys[i]);
  kvKeysList_Destroy(&list);
  return out;
}

absl::StatusOr<KvWatcherPtr> RouteKv::WatchAll() {
  kvWatchOptions wo;
  kvWatchOptions_Init(&wo);
  kvWatcher* raw = nullptr;
  natsStatus s = kvStore_WatchAll(&raw, kv_.get(), &wo);
  if (s != NATS_OK) return KvError(s, "watching the KV bucket");
  return KvWatcherPtr(raw);
}

}  // namespace sidecar::cutover
