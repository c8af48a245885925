#include "services/common/jetstream_kv_state_store.h"

#include "services/common/strings_internal.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sidecar/nats/connection.h"

namespace sidecar::services {
namespace {

using KvEntryPtr = CHandle<kvEntry, kvEntry_Destroy>;
using KvWatcherPtr = CHandle<kvWatcher, kvWatcher_Destroy>;
using NatsMsgPtr = CHandle<natsMsg, natsMsg_Destroy>;
using JsPubAckPtr = CHandle<jsPubAck, jsPubAck_Destroy>;

constexpr char kEnvelopeFormat = 1;
constexpr size_t kEnvelopeHeader = 9;
constexpr char kExpectedLastSubjectSeq[] = "Nats-Expected-Last-Subject-Sequence";
constexpr char kKvOperation[] = "KV-Operation";

// Store failures are UNAVAILABLE for the ports (§0.4: store down -> retry with the same key).
absl::Status StoreError(natsStatus s, std::string_view what) {
  absl::Status st = nats::FromNats(s, what);
  return absl::UnavailableError(st.message());
}

std::string Envelope(int64_t expires_at_ms, std::string_view value) {
  std::string out;
  out.reserve(kEnvelopeHeader + value.size());
  out.push_back(kEnvelopeFormat);
  uint64_t e = static_cast<uint64_t>(expires_at_ms);
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((e >> (8 * i)) & 0xFF));
  out.append(value);
  return out;
}

absl::Status Unwrap(const char* data, int len, StoreEntry& entry) {
  if (len < static_cast<int>(kEnvelopeHeader) || data[0] != kEnvelopeFormat) {
    return absl::DataLossError(absl::StrCat("value of '", entry.key, "' has no store envelope"));
  }
  uint64_t e = 0;
  for (int i = 1; i <= 8; ++i) e = (e << 8) | static_cast<unsigned char>(data[i]);
  entry.expires_at_ms = static_cast<int64_t>(e);
  entry.value.assign(data + kEnvelopeHeader, static_cast<size_t>(len) - kEnvelopeHeader);
  return absl::OkStatus();
}

bool KeepByte(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string EncodeKvKey(std::string_view key) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(key.size() + 8);
  bool segment_empty = true;
  for (size_t i = 0; i < key.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(key[i]);
    if (c == '/') {
      if (segment_empty) out.push_back('=');
      out.push_back('.');
      segment_empty = true;
      continue;
    }
    if (KeepByte(c) && !(i == 0 && c == '_')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('=');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
    segment_empty = false;
  }
  if (segment_empty) out.push_back('=');
  return out;
}

absl::StatusOr<std::string> DecodeKvKey(std::string_view kv_key) {
  std::string out;
  bool first = true;
  for (absl::string_view token : absl::StrSplit(Av(kv_key), '.')) {
    if (!first) out.push_back('/');
    first = false;
    if (token == "=") continue;
    for (size_t i = 0; i < token.size(); ++i) {
      if (token[i] != '=') {
        out.push_back(token[i]);
        continue;
      }
      if (i + 2 >= token.size()) {
        return absl::DataLossError(absl::StrCat("bad KV key escape in '", Av(kv_key), "'"));
      }
      int hi = HexValue(token[i + 1]), lo = HexValue(token[i + 2]);
      if (hi < 0 || lo < 0) return absl::DataLossError(absl::StrCat("bad KV key escape in '", Av(kv_key), "'"));
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<JetStreamKvStateStore>> JetStreamKvStateStore::Create(
    natsConnection* conn, event::Dispatcher& dispatcher, Options options) {
  if (options.bucket.empty()) return absl::InvalidArgumentError("bucket is required");
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = options.op_timeout_ms;
  jsCtx* raw_js = nullptr;
  natsStatus s = natsConnection_JetStream(&raw_js, conn, &jo);
  if (s != NATS_OK) return StoreError(s, "natsConnection_JetStream");
  JsCtxPtr js(raw_js);

  kvStore* raw_kv = nullptr;
  s = js_KeyValue(&raw_kv, js.get(), options.bucket.c_str());
  if (s == NATS_NOT_FOUND) {
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = options.bucket.c_str();
    cfg.History = 1;
    cfg.Replicas = options.replicas;
    cfg.StorageType = options.file_storage ? js_FileStorage : js_MemoryStorage;
    cfg.TTL = options.max_age_ms;
    s = js_CreateKeyValue(&raw_kv, js.get(), &cfg);
    // Another replica may have created it between our bind and create: bind again.
    if (s != NATS_OK) s = js_KeyValue(&raw_kv, js.get(), options.bucket.c_str());
  }
  if (s != NATS_OK) return StoreError(s, absl::StrCat("binding KV bucket ", options.bucket));
  KvStorePtr kv(raw_kv);
  return std::unique_ptr<JetStreamKvStateStore>(
      new JetStreamKvStateStore(dispatcher, std::move(options), std::move(js), std::move(kv)));
}

JetStreamKvStateStore::JetStreamKvStateStore(event::Dispatcher& dispatcher, Options options,
                                             JsCtxPtr js, KvStorePtr kv)
    : dispatcher_(dispatcher),
      options_(std::move(options)),
      stream_(absl::StrCat("KV_", options_.bucket)),
      subject_prefix_(absl::StrCat("$KV.", options_.bucket, ".")),
      js_(std::move(js)),
      kv_(std::move(kv)),
      workers_(std::make_unique<WorkerPool>(options_.worker_threads)) {}

JetStreamKvStateStore::~JetStreamKvStateStore() { workers_.reset(); }

template <typename Result>
void JetStreamKvStateStore::Submit(absl::AnyInvocable<Result() &&> body,
                                   absl::AnyInvocable<void(Result) &&> deliver) {
  workers_->Run([this, body = std::move(body), deliver = std::move(deliver)](bool cancelled) mutable {
    Result result = cancelled ? Result(absl::CancelledError("state store shut down"))
                              : std::move(body)();
    dispatcher_.Post([deliver = std::move(deliver), result = std::move(result)]() mutable {
      std::move(deliver)(std::move(result));
    });
  });
}

void JetStreamKvStateStore::Get(std::string key, int64_t now_ms, GetCallback done) {
  using R = absl::StatusOr<std::optional<StoreEntry>>;
  Submit<R>([this, key = std::move(key), now_ms]() { return DoGet(key, now_ms); },
            std::move(done));
}

void JetStreamKvStateStore::Put(std::string key, std::string value, WriteOptions options,
                                WriteCallback done) {
  using R = absl::StatusOr<uint64_t>;
  Submit<R>(
      [this, key = std::move(key), value = std::move(value), options]() {
        return DoPublish(key, &value, options.expires_at_ms, std::nullopt);
      },
      std::move(done));
}

void JetStreamKvStateStore::CompareAndSet(std::string key, std::string value,
                                          uint64_t expected_revision, int64_t now_ms,
                                          WriteOptions options, WriteCallback done) {
  using R = absl::StatusOr<uint64_t>;
  Submit<R>(
      [this, key = std::move(key), value = std::move(value), expected_revision, now_ms,
       options]() {
        return DoCompareAndSet(key, value, expected_revision, now_ms, options.expires_at_ms);
      },
      std::move(done));
}

void JetStreamKvStateStore::Delete(std::string key, uint64_t expected_revision,
                                   DeleteCallback done) {
  Submit<absl::Status>(
      [this, key = std::move(key), expected_revision]() -> absl::Status {
        std::optional<uint64_t> expected;
        if (expected_revision != 0) expected = expected_revision;
        return DoPublish(key, nullptr, 0, expected).status();
      },
      std::move(done));
}

void JetStreamKvStateStore::List(std::string prefix, int64_t now_ms, ListCallback done) {
  using R = absl::StatusOr<std::vector<StoreEntry>>;
  Submit<R>([this, prefix = std::move(prefix), now_ms]() { return DoList(prefix, now_ms); },
            std::move(done));
}

absl::StatusOr<std::optional<StoreEntry>> JetStreamKvStateStore::DoGet(const std::string& key,
                                                                      int64_t now_ms) {
  kvEntry* raw = nullptr;
  natsStatus s = kvStore_Get(&raw, kv_.get(), EncodeKvKey(key).c_str());
  if (s == NATS_NOT_FOUND) return std::optional<StoreEntry>();  // absent or delete marker
  if (s != NATS_OK) return StoreError(s, "kvStore_Get");
  KvEntryPtr e(raw);
  StoreEntry entry;
  entry.key = key;
  entry.revision = kvEntry_Revision(e.get());
  absl::Status st = Unwrap(static_cast<const char*>(kvEntry_Value(e.get())),
                           kvEntry_ValueLen(e.get()), entry);
  if (!st.ok()) return st;
  if (IsExpired(entry.expires_at_ms, now_ms)) return std::optional<StoreEntry>();
  return std::optional<StoreEntry>(std::move(entry));
}

absl::StatusOr<uint64_t> JetStreamKvStateStore::DoPublish(const std::string& key,
                                                          const std::string* value,
                                                          int64_t expires_at_ms,
                                                          std::optional<uint64_t> expected) {
  const std::string subject = subject_prefix_ + EncodeKvKey(key);
  const std::string data = value != nullptr ? Envelope(expires_at_ms, *value) : std::string();
  natsMsg* raw_msg = nullptr;
  natsStatus s = natsMsg_Create(&raw_msg, subject.c_str(), nullptr, data.data(),
                                static_cast<int>(data.size()));
  if (s != NATS_OK) return StoreError(s, "natsMsg_Create");
  NatsMsgPtr msg(raw_msg);
  // The expectation as a header, not jsPubOptions: there 0 means "no expectation", and 0 is
  // exactly the "must not exist" we need for creates.
  if (expected.has_value()) {
    s = natsMsgHeader_Set(msg.get(), kExpectedLastSubjectSeq, std::to_string(*expected).c_str());
  }
  if (s == NATS_OK && value == nullptr) s = natsMsgHeader_Set(msg.get(), kKvOperation, "DEL");
  if (s != NATS_OK) return StoreError(s, "natsMsgHeader_Set");
  jsPubAck* raw_ack = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  s = js_PublishMsg(&raw_ack, js_.get(), msg.get(), nullptr, &jerr);
  JsPubAckPtr ack(raw_ack);
  if (s != NATS_OK) {
    if (jerr == JSStreamWrongLastSequenceErr) return ConflictError(key);
    return StoreError(s, "js_PublishMsg");
  }
  return ack->Sequence;
}

absl::StatusOr<uint64_t> JetStreamKvStateStore::DoCompareAndSet(const std::string& key,
                                                                const std::string& value,
                                                                uint64_t expected, int64_t now_ms,
                                                                int64_t expires_at_ms) {
  absl::StatusOr<uint64_t> rev = DoPublish(key, &value, expires_at_ms, expected);
  if (expected != 0 || !IsConflict(rev.status())) return rev;
  // "Must not exist" lost against a message: fine if that message is a delete marker or an entry
  // expired at now_ms. Retry once against its exact sequence; a concurrent writer makes that fail,
  // which is the conflict it should be.
  natsMsg* raw = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  const std::string subject = subject_prefix_ + EncodeKvKey(key);
  natsStatus s = js_GetLastMsg(&raw, js_.get(), stream_.c_str(), subject.c_str(), nullptr, &jerr);
  if (s == NATS_NOT_FOUND) return ConflictError(key);  // purged meanwhile: let the caller retry
  if (s != NATS_OK) return StoreError(s, "js_GetLastMsg");
  NatsMsgPtr last(raw);
  const char* op = nullptr;
  bool replaceable = natsMsgHeader_Get(last.get(), kKvOperation, &op) == NATS_OK && op != nullptr &&
                     (std::string_view(op) == "DEL" || std::string_view(op) == "PURGE");
  if (!replaceable) {
    StoreEntry entry;
    entry.key = key;
    absl::Status st = Unwrap(natsMsg_GetData(last.get()), natsMsg_GetDataLength(last.get()), entry);
    if (!st.ok()) return st;
    replaceable = IsExpired(entry.expires_at_ms, now_ms);
  }
  if (!replaceable) return ConflictError(key);
  return DoPublish(key, &value, expires_at_ms, natsMsg_GetSequence(last.get()));
}

absl::StatusOr<std::vector<StoreEntry>> JetStreamKvStateStore::DoList(const std::string& prefix,
                                                                     int64_t now_ms) {
  // Complete segments of the prefix narrow the watch to a subtree; the rest is filtered below.
  std::string filter = ">";
  size_t slash = prefix.rfind('/');
  if (slash != std::string::npos) {
    filter = EncodeKvKey(prefix.substr(0, slash)) + ".>";
  }
  kvWatchOptions wo;
  kvWatchOptions_Init(&wo);
  wo.IgnoreDeletes = true;
  wo.Timeout = options_.op_timeout_ms;
  kvWatcher* raw_w = nullptr;
  natsStatus s = kvStore_Watch(&raw_w, kv_.get(), filter.c_str(), &wo);
  if (s != NATS_OK) return StoreError(s, "kvStore_Watch");
  KvWatcherPtr watcher(raw_w);
  std::vector<StoreEntry> out;
  for (;;) {
    kvEntry* raw_e = nullptr;
    s = kvWatcher_Next(&raw_e, watcher.get(), options_.op_timeout_ms);
    if (s != NATS_OK) return StoreError(s, "kvWatcher_Next");
    if (raw_e == nullptr) break;  // all current values delivered
    KvEntryPtr e(raw_e);
    if (kvEntry_Operation(e.get()) != kvOp_Put) continue;
    absl::StatusOr<std::string> key = DecodeKvKey(kvEntry_Key(e.get()));
    if (!key.ok()) return key.status();
    if (key->compare(0, prefix.size(), prefix) != 0) continue;
    StoreEntry entry;
    entry.key = std::move(*key);
    entry.revision = kvEntry_Revision(e.get());
    absl::Status st = Unwrap(static_cast<const char*>(kvEntry_Value(e.get())),
                             kvEntry_ValueLen(e.get()), entry);
    if (!st.ok()) return st;
    if (IsExpired(entry.expires_at_ms, now_ms)) continue;
    out.push_back(std::move(entry));
  }
  std::sort(out.begin(), out.end(),
            [](const StoreEntry& a, const StoreEntry& b) { return a.key < b.key; });
  return out;
}

}  // namespace sidecar::services
