// Two payment replicas, each with its own JetStreamKvStateStore on its own nats connection and
// dispatcher, sharing one KV bucket on a real nats-server -js (label: integration). 1000
// concurrent purchases on one wallet: it never overdraws, every request ends in success or
// insufficient_funds, and the ledger balances to the minor unit.
#include <atomic>
#include <mutex>
#include <iostream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "payment/v1/payment.pb.h"
#include "services/common/errors.h"
#include "services/common/event_publisher.h"
#include "services/common/jetstream_kv_state_store.h"
#include "services/common/service.h"
#include "services/payment/payment_service.h"
#include "tests/services/common/jetstream_test_env.h"
#include "tests/services/common/loop_thread.h"
#include "tests/services/common/port_harness.h"

namespace sidecar::services::testing {
namespace {

constexpr std::string_view kP = "pl_a8694c9d17e9b948";
constexpr int64_t kInitial = 150'000;
constexpr int kPurchases = 1000;

int64_t AmountOf(int i) { return 100 + (i % 7) * 50; }  // 100..400, about 250 on average

// Forwards to the replica's store and counts lost compare-and-sets on the ledger books, to show
// that the replicas really raced each other (and not only queued behind their own requests).
class CountingStore final : public StateStore {
 public:
  CountingStore(StateStore& inner, std::atomic<int>& book_conflicts)
      : inner_(inner), book_conflicts_(book_conflicts) {}
  void Get(std::string k, int64_t now, GetCallback cb) override { inner_.Get(std::move(k), now, std::move(cb)); }
  void Put(std::string k, std::string v, WriteOptions o, WriteCallback cb) override {
    inner_.Put(std::move(k), std::move(v), o, std::move(cb));
  }
  void CompareAndSet(std::string k, std::string v, uint64_t e, int64_t now, WriteOptions o,
                     WriteCallback cb) override {
    const bool book = k.rfind("pay/book/", 0) == 0;
    inner_.CompareAndSet(std::move(k), std::move(v), e, now, o,
                         [this, book, cb = std::move(cb)](absl::StatusOr<uint64_t> r) mutable {
                           if (book && !r.ok() && IsConflict(r.status())) ++book_conflicts_;
                           std::move(cb)(std::move(r));
                         });
  }
  void Delete(std::string k, uint64_t e, DeleteCallback cb) override { inner_.Delete(std::move(k), e, std::move(cb)); }
  void List(std::string p, int64_t now, ListCallback cb) override { inner_.List(std::move(p), now, std::move(cb)); }

 private:
  StateStore& inner_;
  std::atomic<int>& book_conflicts_;
};

std::atomic<int> g_book_conflicts{0};

// One replica: its own loop, connection, store, publisher and registry.
struct Replica {
  explicit Replica(const std::string& bucket) : conn(Connect()), events(loop.dispatcher()) {
    JetStreamKvStateStore::Options o;
    o.bucket = bucket;
    o.file_storage = false;
    auto s = JetStreamKvStateStore::Create(conn.get(), loop.dispatcher(), o);
    EXPECT_TRUE(s.ok()) << s.status();
    store = std::move(*s);
    counting = std::make_unique<CountingStore>(*store, g_book_conflicts);
    ServiceDeps deps;
    deps.store = counting.get();
    deps.events = &events;
    deps.fixtures_enabled = true;
    service = MakePaymentService(deps);
    service->Register(registry);
  }
  ~Replica() {
    service.reset();
    counting.reset();
    store.reset();  // before the connection it uses
  }

  absl::StatusOr<MessagePtr> Call(std::string_view action, const google::protobuf::Message& rq,
                                  std::string_view principal = "admin:test") {
    Method* m = registry.Find(action);
    CallContext ctx = CallContext::Make(1763640000000, ParsePrincipal(principal));
    auto out = loop.Await<absl::StatusOr<MessagePtr>>([&](auto done) {
      MessagePtr copy = m->NewRequest();
      copy->CopyFrom(rq);
      m->Invoke(ctx, std::move(copy), std::move(done));
    });
    return std::move(*out);
  }

  LoopThread loop;
  NatsConnPtr conn;
  std::unique_ptr<JetStreamKvStateStore> store;
  std::unique_ptr<CountingStore> counting;
  InMemoryEventPublisher events;
  HandlerRegistry registry;
  std::unique_ptr<Service> service;
};

int64_t Balance(Replica& r, std::string_view account) {
  ::payment::v1::GetWalletRequest rq;
  rq.set_account_id(std::string(account));
  rq.set_currency("GLD");
  auto got = r.Call("get_wallet", rq);
  EXPECT_TRUE(got.ok()) << got.status();
  return got.ok() ? static_cast<::payment::v1::GetWalletResponse&>(**got).balance_minor() : -1;
}

TEST(PaymentConcurrencyTest, TwoReplicasNeverOverdrawOneWalletAndTheLedgerBalances) {
  const std::string bucket = FreshBucket();
  Replica a(bucket), b(bucket);

  google::protobuf::Struct fixture =
      testing::JsonToValue(testing::Json::parse(absl::StrCat(
                                    R"({"wallets":[{"account_id":")", std::string(kP),
                                    R"(","currency":"GLD","balance_minor":)", kInitial, "}]}")))
          .struct_value();
  auto loaded = a.Call("_fixture", fixture);
  ASSERT_TRUE(loaded.ok()) << loaded.status();

  std::atomic<int> successes{0}, insufficient{0}, other{0}, negative{0};
  std::atomic<int64_t> spent{0};
  std::mutex balances_mu;
  std::multiset<int64_t> balances_after;
  std::atomic<int> left{kPurchases};
  absl::Notification all_done;
  std::string first_other_error;

  // Every purchase is started at once, alternating replicas; none waits for another.
  auto start = [&](Replica& replica, int first) {
    Method* m = replica.registry.Find("purchase");
    CallContext ctx = CallContext::Make(1763640000000, ParsePrincipal(absl::StrCat("player:", std::string(kP))));
    for (int i = first; i < kPurchases; i += 2) {
      auto rq = std::make_unique<::payment::v1::PurchaseRequest>();
      rq->set_idempotency_key(absl::StrCat("race-", i));
      rq->set_account_id(std::string(kP));
      rq->set_currency("GLD");
      rq->set_amount_minor(AmountOf(i));
      rq->set_sku("tonic.grave_moss");
      m->Invoke(ctx, std::move(rq), [&, i](absl::StatusOr<MessagePtr> r) {
        if (r.ok()) {
          auto& resp = static_cast<::payment::v1::PurchaseResponse&>(**r);
          ++successes;
          spent += AmountOf(i);
          if (resp.balance_minor() < 0) ++negative;
          std::lock_guard<std::mutex> lock(balances_mu);
          balances_after.insert(resp.balance_minor());
        } else if (DetailsOf(r.status()).count("reason") &&
                   DetailsOf(r.status()).at("reason") == "insufficient_funds") {
          ++insufficient;
        } else {
          std::lock_guard<std::mutex> lock(balances_mu);
          if (other++ == 0) first_other_error = r.status().ToString();
        }
        if (--left == 0) all_done.Notify();
      });
    }
  };
  const absl::Time t0 = absl::Now();
  a.loop.dispatcher().Post([&] { start(a, 0); });
  b.loop.dispatcher().Post([&] { start(b, 1); });
  ASSERT_TRUE(all_done.WaitForNotificationWithTimeout(absl::Seconds(170)))
      << (kPurchases - left.load()) << " of " << kPurchases << " answered";
  const absl::Duration took = absl::Now() - t0;

  std::cout << "payment race: " << successes << " succeeded, " << insufficient
            << " insufficient_funds, " << other << " other, spent " << spent << " of " << kInitial
            << " in " << took << "; " << g_book_conflicts.load()
            << " cross-replica book CAS conflicts retried\n";
  EXPECT_EQ(other.load(), 0) << first_other_error;
  EXPECT_EQ(successes + insufficient, kPurchases);
  EXPECT_EQ(negative.load(), 0);
  EXPECT_GT(successes.load(), 0);
  EXPECT_GT(insufficient.load(), 0);  // the wallet really ran dry
  // Each success saw a distinct balance: they were serialized, none overwrote another.
  EXPECT_EQ(balances_after.size(), std::set<int64_t>(balances_after.begin(), balances_after.end()).size());

  const int64_t final_p = Balance(b, kP);
  EXPECT_EQ(final_p, kInitial - spent.load());
  EXPECT_GE(final_p, 0);
  EXPECT_LT(final_p, 400);  // some purchase (<= 400) was refused, and balances only fall
  EXPECT_EQ(Balance(a, "sys:sink"), spent.load());
  EXPECT_EQ(Balance(a, "sys:mint"), -kInitial);
  EXPECT_EQ(final_p + Balance(b, "sys:sink") + Balance(b, "sys:mint"), 0);  // rule 3

  // The wallet's entries: one per success, entry_seq 1..n without gaps, each balance_after
  // following from the previous one.
  std::vector<::payment::v1::Entry> entries;
  std::string token;
  do {
    ::payment::v1::ListEntriesRequest rq;
    rq.set_account_id(std::string(kP));
    rq.set_currency("GLD");
    rq.set_page_size(100);
    rq.set_page_token(token);
    auto page = a.Call("list_entries", rq);
    ASSERT_TRUE(page.ok()) << page.status();
    auto& resp = static_cast<::payment::v1::ListEntriesResponse&>(**page);
    for (const auto& e : resp.entries()) entries.push_back(e);
    token = resp.next_page_token();
  } while (!token.empty());
  ASSERT_EQ(static_cast<int>(entries.size()), successes.load());
  int64_t running = kInitial;
  for (int i = static_cast<int>(entries.size()) - 1; i >= 0; --i) {
    const auto& e = entries[i];
    EXPECT_EQ(e.entry_seq(), static_cast<int64_t>(entries.size() - i));
    running += e.amount_minor();
    EXPECT_EQ(e.balance_after_minor(), running);
    EXPECT_GE(e.balance_after_minor(), 0);
  }
  EXPECT_EQ(running, final_p);
}

}  // namespace
}  // namespace sidecar::services::testing
