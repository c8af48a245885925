// The StateStore conformance suite against JetStream KV on a real nats-server (-js), plus the
// cross-connection compare-and-set race. Label: integration.
#include "services/common/jetstream_kv_state_store.h"

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "tests/services/common/state_store_conformance.h"
#include "tests/services/common/jetstream_test_env.h"

namespace sidecar::services::testing {
namespace {

// A store with its own connection; the connection is closed after the store.
class OwnedKvStore final : public StateStore {
 public:
  OwnedKvStore(event::Dispatcher& d, const std::string& bucket) : conn_(Connect()) {
    JetStreamKvStateStore::Options o;
    o.bucket = bucket;
    o.file_storage = false;
    auto s = JetStreamKvStateStore::Create(conn_.get(), d, o);
    EXPECT_TRUE(s.ok()) << s.status();
    if (s.ok()) store_ = std::move(*s);
  }
  ~OwnedKvStore() override { store_.reset(); }
  void Get(std::string k, int64_t now, GetCallback cb) override { store_->Get(std::move(k), now, std::move(cb)); }
  void Put(std::string k, std::string v, WriteOptions o, WriteCallback cb) override {
    store_->Put(std::move(k), std::move(v), o, std::move(cb));
  }
  void CompareAndSet(std::string k, std::string v, uint64_t e, int64_t now, WriteOptions o,
                     WriteCallback cb) override {
    store_->CompareAndSet(std::move(k), std::move(v), e, now, o, std::move(cb));
  }
  void Delete(std::string k, uint64_t e, DeleteCallback cb) override { store_->Delete(std::move(k), e, std::move(cb)); }
  void List(std::string p, int64_t now, ListCallback cb) override { store_->List(std::move(p), now, std::move(cb)); }

 private:
  NatsConnPtr conn_;
  std::unique_ptr<JetStreamKvStateStore> store_;
};

struct JetStreamKvFactory {
  static std::unique_ptr<StateStore> Make(event::Dispatcher& d) {
    return std::make_unique<OwnedKvStore>(d, FreshBucket());
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(JetStreamKv, StateStoreConformanceTest, JetStreamKvFactory);

TEST(KvKeyEncodingTest, SegmentsBecomeTokensAndOtherBytesAreEscaped) {
  EXPECT_EQ(EncodeKvKey("wallet/pl_a8694c9d17e9b948/GLD"), "wallet.pl_a8694c9d17e9b948.GLD");
  EXPECT_EQ(EncodeKvKey("doc/save/pl_a:slot1.x"), "doc.save.pl_a=3Aslot1=2Ex");
  EXPECT_EQ(EncodeKvKey("_idem/a"), "=5Fidem.a");
  EXPECT_EQ(EncodeKvKey("a//b/"), "a.=.b.=");
  EXPECT_EQ(EncodeKvKey(""), "=");
  for (std::string k : {"wallet/pl_a/GLD", "doc/save/pl_a:slot1.x", "_idem/a", "a//b/", "",
                        "=/==.", "\xC3\xA9 >*"}) {
    EXPECT_EQ(DecodeKvKey(EncodeKvKey(k)).value(), k);
  }
  EXPECT_FALSE(DecodeKvKey("a=4").ok());
  EXPECT_FALSE(DecodeKvKey("a=ZZ").ok());
}

// Two independent connections and stores (each with its own loop), racing compare-and-set on one
// key: for every revision exactly one writer wins, and no increment is lost.
TEST(JetStreamKvConcurrencyTest, ConcurrentCompareAndSetHasExactlyOneWinnerPerRevision) {
  const std::string bucket = FreshBucket();
  constexpr int kIncrementsPerWriter = 60;
  LoopThread loop_a, loop_b;
  OwnedKvStore store_a(loop_a.dispatcher(), bucket), store_b(loop_b.dispatcher(), bucket);
  std::atomic<bool> created{false};
  {
    auto r = loop_a.Await<absl::StatusOr<uint64_t>>([&](auto cb) {
      store_a.CompareAndSet("counter", "0", 0, 0, {}, std::move(cb));
    });
    ASSERT_TRUE(r.has_value() && r->ok());
    created = true;
  }

  // Each writer: read, CAS value+1 against the read revision, retry on conflict. Records the
  // revision it replaced on every success.
  struct Writer {
    StateStore* store;
    int remaining;
    std::vector<uint64_t> replaced;
    int conflicts = 0;
    absl::Status error;
    absl::AnyInvocable<void() &&> finished;
    void Step() {
      if (remaining == 0) {
        std::move(finished)();
        return;
      }
      store->Get("counter", 0, [this](absl::StatusOr<std::optional<StoreEntry>> got) {
        if (!got.ok() || !got->has_value()) {
          error = got.ok() ? absl::NotFoundError("counter vanished") : got.status();
          std::move(finished)();
          return;
        }
        uint64_t rev = (*got)->revision;
        int value = std::stoi((*got)->value);
        store->CompareAndSet("counter", std::to_string(value + 1), rev, 0, {},
                             [this, rev](absl::StatusOr<uint64_t> w) {
                               if (w.ok()) {
                                 replaced.push_back(rev);
                                 --remaining;
                               } else if (IsConflict(w.status())) {
                                 ++conflicts;
                               } else {
                                 error = w.status();
                                 std::move(finished)();
                                 return;
                               }
                               Step();
                             });
      });
    }
  };
  Writer a{&store_a, kIncrementsPerWriter, {}, 0, absl::OkStatus(), nullptr};
  Writer b{&store_b, kIncrementsPerWriter, {}, 0, absl::OkStatus(), nullptr};
  absl::Notification a_done, b_done;
  a.finished = [&] { a_done.Notify(); };
  b.finished = [&] { b_done.Notify(); };
  loop_a.dispatcher().Post([&] { a.Step(); });
  loop_b.dispatcher().Post([&] { b.Step(); });
  ASSERT_TRUE(a_done.WaitForNotificationWithTimeout(absl::Seconds(60)));
  ASSERT_TRUE(b_done.WaitForNotificationWithTimeout(absl::Seconds(60)));
  ASSERT_TRUE(a.error.ok()) << a.error;
  ASSERT_TRUE(b.error.ok()) << b.error;

  // No revision was replaced twice: exactly one winner per revision.
  std::set<uint64_t> all(a.replaced.begin(), a.replaced.end());
  for (uint64_t r : b.replaced) EXPECT_TRUE(all.insert(r).second) << "revision " << r << " won twice";
  EXPECT_EQ(all.size(), 2u * kIncrementsPerWriter);
  auto final_value = loop_a.Await<absl::StatusOr<std::optional<StoreEntry>>>(
      [&](auto cb) { store_a.Get("counter", 0, std::move(cb)); });
  ASSERT_TRUE(final_value.has_value() && final_value->ok() && (*final_value)->has_value());
  EXPECT_EQ((**final_value)->value, std::to_string(2 * kIncrementsPerWriter));
  std::cout << "CAS race: " << a.conflicts + b.conflicts << " conflicts over "
            << 2 * kIncrementsPerWriter << " increments\n";
}

// Both sides race a create (expected revision 0) of many fresh keys at once: exactly one wins
// each key, including keys whose previous entry was deleted or expired.
TEST(JetStreamKvConcurrencyTest, ConcurrentCreatesHaveExactlyOneWinnerPerKey) {
  const std::string bucket = FreshBucket();
  constexpr int kKeys = 40;
  LoopThread loop_a, loop_b;
  OwnedKvStore store_a(loop_a.dispatcher(), bucket), store_b(loop_b.dispatcher(), bucket);
  // Prepare: keys 0..9 deleted, 10..19 expired at now=1000, the rest never existed.
  for (int i = 0; i < 20; ++i) {
    auto r = loop_a.Await<absl::StatusOr<uint64_t>>([&](auto cb) {
      store_a.Put(absl::StrCat("k/", i), "old", WriteOptions{i < 10 ? 0 : 500}, std::move(cb));
    });
    ASSERT_TRUE(r && r->ok());
    if (i < 10) {
      auto d = loop_a.Await<absl::Status>([&](auto cb) { store_a.Delete(absl::StrCat("k/", i), 0, std::move(cb)); });
      ASSERT_TRUE(d && d->ok());
    }
  }
  std::atomic<int> wins_a{0}, wins_b{0}, conflicts{0}, errors{0};
  absl::Notification done_a, done_b;
  auto race = [&](StateStore& store, std::atomic<int>& wins, absl::Notification& done) {
    auto left = std::make_shared<int>(kKeys);
    for (int i = 0; i < kKeys; ++i) {
      store.CompareAndSet(absl::StrCat("k/", i), "new", 0, 1000, {},
                          [&, left](absl::StatusOr<uint64_t> r) {
                            if (r.ok()) {
                              ++wins;
                            } else if (IsConflict(r.status())) {
                              ++conflicts;
                            } else {
                              ++errors;
                            }
                            if (--*left == 0) done.Notify();
                          });
    }
  };
  loop_a.dispatcher().Post([&] { race(store_a, wins_a, done_a); });
  loop_b.dispatcher().Post([&] { race(store_b, wins_b, done_b); });
  ASSERT_TRUE(done_a.WaitForNotificationWithTimeout(absl::Seconds(60)));
  ASSERT_TRUE(done_b.WaitForNotificationWithTimeout(absl::Seconds(60)));
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(wins_a + wins_b, kKeys);
  EXPECT_EQ(conflicts.load(), kKeys);
}

TEST(JetStreamKvStoreTest, StoreDownIsUnavailable) {
  LoopThread loop;
  auto conn = Connect();
  JetStreamKvStateStore::Options o;
  o.bucket = FreshBucket();
  o.file_storage = false;
  o.op_timeout_ms = 500;
  auto store = JetStreamKvStateStore::Create(conn.get(), loop.dispatcher(), o);
  ASSERT_TRUE(store.ok()) << store.status();
  natsConnection_Close(conn.get());
  auto r = loop.Await<absl::StatusOr<std::optional<StoreEntry>>>(
      [&](auto cb) { (*store)->Get("k", 0, std::move(cb)); });
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status().code(), absl::StatusCode::kUnavailable) << r->status();
}

}  // namespace
}  // namespace sidecar::services::testing
