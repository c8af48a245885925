#include "services/state_manager/state_manager_logic.h"

#include <limits>
#include <utility>
#include <vector>

#include "services/common/errors.h"
#include "services/common/pagination.h"
#include "services/common/validation.h"
#include "sidecar/common/logging.h"

namespace sidecar::services::state_manager {
namespace {

// A conflict that survived every retry is contention, retryable (§0.4 UNAVAILABLE); other store
// errors pass through.
absl::Status StoreError(const absl::Status& status) {
  if (IsConflict(status)) return Unavailable("", {}, "too much contention on this document");
  return status;
}

template <typename Op>
bool ShouldRetry(const absl::Status& status, const Op& op) {
  return IsConflict(status) && op.attempts < kMaxAttempts;
}

// The fields every action starts with (rule 1), in table order.
absl::Status CheckAddress(std::string_view ns, std::string_view key) {
  if (absl::Status s = CheckNamespace(ns); !s.ok()) return s;
  return CheckKey(key);
}

// patch's checks that need the document, in §0.4 order. Step 2 includes checks against stored
// data at the field's table position, skipped when the data is absent: the merged result is
// re-checked on `patch` (rule 4) before expected_version's own range. Then PERMISSION_DENIED,
// NOT_FOUND key, version_mismatch. On success `merged`/`size` are the new value and its size.
absl::Status CheckPatch(const CallContext& ctx, const pb::PatchRequest& rq, const DocSnapshot& got,
                        google::protobuf::Struct& merged, int32_t& size) {
  if (got.doc) {
    merged = got.doc->value();
    MergePatch(merged, rq.patch());
    absl::StatusOr<int32_t> checked = CheckValue("patch", merged);
    if (!checked.ok()) return checked.status();
    size = *checked;
  }
  absl::Status s = CheckInt("expected_version", rq.expected_version(), 1,
                            std::numeric_limits<int64_t>::max());
  if (s.ok()) s = AuthorizeKey(ctx, rq.namespace_(), rq.key());
  if (s.ok() && !got.doc) s = NotFound("key", "no document under this key");
  if (s.ok() && rq.expected_version() != got.doc->version()) s = VersionMismatch(got.doc->version());
  return s;
}

}  // namespace

struct StateManagerLogic::PutOp {
  CallContext ctx;
  pb::PutRequest rq;
  int32_t size_bytes = 0;
  Done<pb::PutResponse> done;
  int attempts = 0;
};

struct StateManagerLogic::PatchOp {
  CallContext ctx;
  pb::PatchRequest rq;
  Done<pb::PatchResponse> done;
  int attempts = 0;
};

struct StateManagerLogic::DeleteOp {
  CallContext ctx;
  pb::DeleteRequest rq;
  Done<pb::DeleteResponse> done;
  int attempts = 0;
};

// ---- get ----

void StateManagerLogic::Get(const CallContext& ctx, pb::GetRequest rq, Done<pb::GetResponse> done) {
  absl::Status s = CheckAddress(rq.namespace_(), rq.key());
  if (s.ok()) s = AuthorizeKey(ctx, rq.namespace_(), rq.key());
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  LoadDoc(store_, DocKey(rq.namespace_(), rq.key()), ctx.now_ms(),
          [done = std::move(done)](absl::StatusOr<DocSnapshot> got) mutable {
            if (!got.ok()) {
              std::move(done)(got.status());
              return;
            }
            if (!got->doc) {
              std::move(done)(NotFound("key", "no document under this key"));
              return;
            }
            std::move(done)(std::move(*got->doc));
          });
}

// ---- put ----

void StateManagerLogic::Put(const CallContext& ctx, pb::PutRequest rq, Done<pb::PutResponse> done) {
  absl::Status s = CheckAddress(rq.namespace_(), rq.key());
  int32_t size = 0;
  if (s.ok()) {
    absl::StatusOr<int32_t> checked = CheckValue("value", rq.value());
    s = checked.status();
    if (checked.ok()) size = *checked;
  }
  if (s.ok()) s = AuthorizeKey(ctx, rq.namespace_(), rq.key());
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  PutAttempt(std::make_unique<PutOp>(PutOp{ctx, std::move(rq), size, std::move(done)}));
}

void StateManagerLogic::PutAttempt(std::unique_ptr<PutOp> op) {
  ++op->attempts;
  const int64_t now = op->ctx.now_ms();
  std::string key = DocKey(op->rq.namespace_(), op->rq.key());
  LoadDoc(store_, std::move(key), now,
          [this, op = std::move(op)](absl::StatusOr<DocSnapshot> got) mutable {
            if (!got.ok()) {
              std::move(op->done)(got.status());
              return;
            }
            const int64_t current = got->doc ? got->doc->version() : 0;
            // Rule 3: 0 means "must not exist", which is current == 0.
            if (!op->rq.unconditional() && op->rq.expected_version() != current) {
              std::move(op->done)(VersionMismatch(current));
              return;
            }
            if (!got->doc && IsOwnedNamespace(op->rq.namespace_())) {
              PutCheckCap(std::move(op));
              return;
            }
            PutWrite(std::move(op), got->store_revision, current + 1);
          });
}

void StateManagerLogic::PutCheckCap(std::unique_ptr<PutOp> op) {
  const int64_t now = op->ctx.now_ms();
  const std::string owner(OwnerOf(op->rq.key()));
  const std::string ns_prefix = NamespacePrefix(op->rq.namespace_());
  store_.List(
      ns_prefix + owner, now,
      [this, owner, ns_prefix, op = std::move(op)](
          absl::StatusOr<std::vector<StoreEntry>> listed) mutable {
        if (!listed.ok()) {
          std::move(op->done)(listed.status());
          return;
        }
        // The prefix also matches longer owners ("pl_a" lists "pl_ab:x"); count exact owners.
        size_t owned = 0;
        for (const StoreEntry& e : *listed) {
          if (OwnerOf(std::string_view(e.key).substr(ns_prefix.size())) == owner) ++owned;
        }
        // §0.4 caps count existing entities; this is a create (N3).
        if (owned >= kMaxKeysPerOwner) {
          std::move(op->done)(LimitExceeded(kMaxKeysPerOwner, "at most 64 keys per owner"));
          return;
        }
        PutWrite(std::move(op), /*store_revision=*/0, /*version=*/1);
      });
}

void StateManagerLogic::PutWrite(std::unique_ptr<PutOp> op, uint64_t store_revision,
                                 int64_t version) {
  const int64_t now = op->ctx.now_ms();
  Doc doc;
  *doc.mutable_value() = op->rq.value();
  doc.set_version(version);
  doc.set_size_bytes(op->size_bytes);
  doc.set_updated_at(now);
  std::string key = DocKey(op->rq.namespace_(), op->rq.key());
  store_.CompareAndSet(
      std::move(key), doc.SerializeAsString(), store_revision, now, {},
      [this, version, op = std::move(op)](absl::StatusOr<uint64_t> written) mutable {
        if (ShouldRetry(written.status(), *op)) {
          PutAttempt(std::move(op));
          return;
        }
        if (!written.ok()) {
          std::move(op->done)(StoreError(written.status()));
          return;
        }
        PublishDocChanged(op->ctx, op->rq.namespace_(), op->rq.key(), version, kOpPut, *written);
        pb::PutResponse response;
        response.set_version(version);
        response.set_size_bytes(op->size_bytes);
        std::move(op->done)(std::move(response));
      });
}

// ---- patch ----

void StateManagerLogic::Patch(const CallContext& ctx, pb::PatchRequest rq,
                              Done<pb::PatchResponse> done) {
  absl::Status s = CheckAddress(rq.namespace_(), rq.key());
  // The patch itself is an obj field under rule 2, like `value`.
  if (s.ok()) s = CheckValue("patch", rq.patch()).status();
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  PatchAttempt(std::make_unique<PatchOp>(PatchOp{ctx, std::move(rq), std::move(done)}));
}

void StateManagerLogic::PatchAttempt(std::unique_ptr<PatchOp> op) {
  ++op->attempts;
  const int64_t now = op->ctx.now_ms();
  std::string key = DocKey(op->rq.namespace_(), op->rq.key());
  LoadDoc(store_, key, now,
          [this, now, key, op = std::move(op)](absl::StatusOr<DocSnapshot> got) mutable {
            if (!got.ok()) {
              std::move(op->done)(got.status());
              return;
            }
            google::protobuf::Struct merged;
            int32_t size = 0;
            if (absl::Status s = CheckPatch(op->ctx, op->rq, *got, merged, size); !s.ok()) {
              std::move(op->done)(s);
              return;
            }
            Doc doc;
            *doc.mutable_value() = std::move(merged);
            doc.set_version(got->doc->version() + 1);
            doc.set_size_bytes(size);
            doc.set_updated_at(now);
            std::string bytes = doc.SerializeAsString();
            store_.CompareAndSet(
                key, std::move(bytes), got->store_revision, now, {},
                [this, doc = std::move(doc), op = std::move(op)](
                    absl::StatusOr<uint64_t> written) mutable {
                  if (ShouldRetry(written.status(), *op)) {
                    PatchAttempt(std::move(op));
                    return;
                  }
                  if (!written.ok()) {
                    std::move(op->done)(StoreError(written.status()));
                    return;
                  }
                  PublishDocChanged(op->ctx, op->rq.namespace_(), op->rq.key(), doc.version(),
                                    kOpPatch, *written);
                  pb::PatchResponse response;
                  *response.mutable_value() = std::move(*doc.mutable_value());
                  response.set_version(doc.version());
                  response.set_size_bytes(doc.size_bytes());
                  std::move(op->done)(std::move(response));
                });
          });
}

// ---- delete ----

void StateManagerLogic::Delete(const CallContext& ctx, pb::DeleteRequest rq,
                               Done<pb::DeleteResponse> done) {
  absl::Status s = CheckAddress(rq.namespace_(), rq.key());
  if (s.ok()) s = AuthorizeKey(ctx, rq.namespace_(), rq.key());
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  DeleteAttempt(std::make_unique<DeleteOp>(DeleteOp{ctx, std::move(rq), std::move(done)}));
}

void StateManagerLogic::DeleteAttempt(std::unique_ptr<DeleteOp> op) {
  ++op->attempts;
  const int64_t now = op->ctx.now_ms();
  std::string key = DocKey(op->rq.namespace_(), op->rq.key());
  LoadDoc(store_, key, now,
          [this, key, op = std::move(op)](absl::StatusOr<DocSnapshot> got) mutable {
            if (!got.ok()) {
              std::move(op->done)(got.status());
              return;
            }
            pb::DeleteResponse response;
            // R39: an absent key is deleted=false whatever expected_version says.
            if (!got->doc) {
              response.set_deleted(false);
              std::move(op->done)(std::move(response));
              return;
            }
            const int64_t version = got->doc->version();
            // Rule 5: expected_version 0 is unconditional.
            if (op->rq.expected_version() != 0 && op->rq.expected_version() != version) {
              std::move(op->done)(VersionMismatch(version));
              return;
            }
            const uint64_t store_revision = got->store_revision;
            store_.Delete(key, store_revision,
                          [this, version, store_revision, op = std::move(op)](absl::Status s) mutable {
                            if (ShouldRetry(s, *op)) {
                              DeleteAttempt(std::move(op));
                              return;
                            }
                            if (!s.ok()) {
                              std::move(op->done)(StoreError(s));
                              return;
                            }
                            PublishDocChanged(op->ctx, op->rq.namespace_(), op->rq.key(), version,
                                              kOpDelete, store_revision);
                            pb::DeleteResponse deleted;
                            deleted.set_deleted(true);
                            std::move(op->done)(std::move(deleted));
                          });
          });
}

// ---- list_keys ----

void StateManagerLogic::ListKeys(const CallContext& ctx, pb::ListKeysRequest rq,
                                 Done<pb::ListKeysResponse> done) {
  absl::Status s = CheckNamespace(rq.namespace_());
  if (s.ok()) s = CheckPrefix(rq.prefix());
  int32_t page_size = 0;
  if (s.ok()) {
    absl::StatusOr<int32_t> resolved = ResolvePageSize(rq.page_size());
    s = resolved.status();
    if (resolved.ok()) page_size = *resolved;
  }
  std::optional<std::string> after;
  if (s.ok()) {
    absl::StatusOr<std::optional<std::string>> decoded = DecodeStringPageToken(rq.page_token());
    s = decoded.status();
    if (decoded.ok()) after = std::move(*decoded);
  }
  if (s.ok()) s = AuthorizeList(ctx, rq.namespace_(), rq.prefix());
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  const std::string ns_prefix = NamespacePrefix(rq.namespace_());
  store_.List(
      ns_prefix + rq.prefix(), ctx.now_ms(),
      [ns_prefix, size = page_size, after = std::move(after),
       done = std::move(done)](absl::StatusOr<std::vector<StoreEntry>> listed) mutable {
        if (!listed.ok()) {
          std::move(done)(listed.status());
          return;
        }
        // The store lists ascending by key bytes = code points (rule 6).
        std::vector<pb::KeyInfo> items;
        items.reserve(listed->size());
        for (const StoreEntry& e : *listed) {
          Doc doc;
          if (!doc.ParseFromString(e.value)) {
            std::move(done)(Internal("stored state-manager document does not parse"));
            return;
          }
          pb::KeyInfo info;
          info.set_key(e.key.substr(ns_prefix.size()));
          info.set_version(doc.version());
          info.set_size_bytes(doc.size_bytes());
          items.push_back(std::move(info));
        }
        std::function<bool(const pb::KeyInfo&)> after_token;
        if (after) {
          after_token = [token = *after](const pb::KeyInfo& k) { return k.key() > token; };
        }
        Page<pb::KeyInfo> page = Paginate<pb::KeyInfo>(
            std::move(items), size, after_token,
            [](const pb::KeyInfo& k) { return EncodePageToken(k.key()); });
        pb::ListKeysResponse response;
        for (pb::KeyInfo& k : page.items) *response.add_keys() = std::move(k);
        response.set_next_page_token(std::move(page.next_page_token));
        std::move(done)(std::move(response));
      });
}

// ---- events ----

void StateManagerLogic::PublishDocChanged(const CallContext& ctx, const std::string& ns,
                                          const std::string& key, int64_t version,
                                          std::string_view op, uint64_t store_revision) {
  pb::DocChangedEvent event;
  event.set_namespace_(ns);
  event.set_key(key);
  event.set_version(version);
  event.set_op(std::string(op));
  // Versions restart after a delete (rule 5), so the store revision of the write names the
  // occurrence: a retried publish keeps its Nats-Msg-Id, a re-creation gets a new one.
  const std::string material = ns + "/" + key + ":" + std::string(op) + ":" +
                               std::to_string(version) + ":" + std::to_string(store_revision);
  absl::StatusOr<Event> built =
      MakeEvent(kServiceName, "doc_changed", MakeEventId(kServiceName, "doc_changed", material),
                ctx.now_ms(), event);
  if (!built.ok()) {
    log::Error("state-manager: cannot build doc_changed");
    return;
  }
  events_.Publish(std::move(*built), [](absl::Status s) {
    if (!s.ok()) log::Warn("state-manager: doc_changed publish failed");
  });
}

}  // namespace sidecar::services::state_manager
