#include "gtest/gtest.h"
#include "payment/v1/payment.pb.h"
#include "services/common/errors.h"
#include "services/common/event_publisher.h"
#include "services/common/fixtures.h"
#include "services/common/in_memory_state_store.h"
#include "tests/services/common/loop_thread.h"

namespace sidecar::services {
namespace {

using testing::LoopThread;

class FixturesTest : public ::testing::Test {
 protected:
  FixturesTest() : store_(loop_.dispatcher()) {}

  absl::StatusOr<google::protobuf::Struct> CallFixture(HandlerRegistry& registry,
                                                       const google::protobuf::Struct& doc) {
    Method* m = registry.Find("_fixture");
    EXPECT_NE(m, nullptr);
    auto out = loop_.Await<absl::StatusOr<MessagePtr>>([&](auto cb) {
      auto rq = m->NewRequest();
      rq->CopyFrom(doc);
      CallContext ctx = CallContext::Make(1763640000000, std::nullopt);
      if (absl::Status s = m->Preflight(ctx); !s.ok()) {
        std::move(cb)(s);
        return;
      }
      m->Invoke(ctx, std::move(rq), std::move(cb));
    });
    if (!out->ok()) return out->status();
    return static_cast<google::protobuf::Struct&>(***out);
  }

  std::vector<std::string> Keys() {
    auto list = loop_.Await<absl::StatusOr<std::vector<StoreEntry>>>(
        [&](auto cb) { store_.List("", 0, std::move(cb)); });
    std::vector<std::string> out;
    for (auto& e : **list) out.push_back(e.key + "=" + e.value);
    return out;
  }

  void Seed(std::string key, std::string value) {
    loop_.Await<absl::StatusOr<uint64_t>>([&](auto cb) { store_.Put(key, value, {}, std::move(cb)); });
  }

  static FixtureMapper WalletMapper() {
    // {"wallets": {"<account>": <balance>}} -> wallet/<account>/GLD = balance
    return [](const google::protobuf::Struct& doc, const CallContext&)
               -> absl::StatusOr<std::vector<StoreEntry>> {
      std::vector<StoreEntry> out;
      auto it = doc.fields().find("wallets");
      if (it == doc.fields().end()) return InvalidArgument("wallets", "required");
      for (const auto& [account, balance] : it->second.struct_value().fields()) {
        out.push_back({"wallet/" + account + "/GLD",
                       std::to_string(static_cast<int64_t>(balance.number_value())), 0, 0});
      }
      return out;
    };
  }

  LoopThread loop_;
  InMemoryStateStore store_;
};

TEST_F(FixturesTest, DisabledFixturesArePermissionDenied) {
  HandlerRegistry registry;
  RegisterFixtureAction(registry, /*enabled=*/false, store_, {"wallet/"}, WalletMapper());
  auto r = CallFixture(registry, google::protobuf::Struct());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(DetailsOf(r.status()), ErrorDetails{});
}

TEST_F(FixturesTest, EnabledFixtureReplacesThePortsStateOnly) {
  Seed("wallet/pl_old/GLD", "1");
  Seed("other/keep", "x");
  HandlerRegistry registry;
  RegisterFixtureAction(registry, /*enabled=*/true, store_, {"wallet/"}, WalletMapper());
  google::protobuf::Struct doc;
  (*(*doc.mutable_fields())["wallets"].mutable_struct_value()->mutable_fields())["pl_a8694c9d17e9b948"]
      .set_number_value(5000);
  auto r = CallFixture(registry, doc);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->fields_size(), 0);
  EXPECT_EQ(Keys(), (std::vector<std::string>{"other/keep=x", "wallet/pl_a8694c9d17e9b948/GLD=5000"}));
  // A bad document is the mapper's INVALID_ARGUMENT, state untouched.
  EXPECT_EQ(CallFixture(registry, google::protobuf::Struct()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Keys().size(), 2u);
}

TEST(EventsTest, MakeEventFillsEnvelopeFieldsAndSubject) {
  payment::v1::TransactionCommittedEvent e;
  e.set_tx_id("tx_1ce5089ef0263ea7");
  std::string id = MakeEventId("payment", "transaction_committed", "tx_1ce5089ef0263ea7");
  EXPECT_EQ(id.substr(0, 3), "ev_");
  EXPECT_EQ(id.size(), 19u);
  EXPECT_EQ(id, MakeEventId("payment", "transaction_committed", "tx_1ce5089ef0263ea7"));
  auto ev = MakeEvent("payment", "transaction_committed", id, 1763640000000, e);
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_EQ(ev->subject, "evt.payment.v1.transaction_committed");
  EXPECT_EQ(ev->event_id, id);
  payment::v1::TransactionCommittedEvent parsed;
  ASSERT_TRUE(parsed.ParseFromString(ev->data));
  EXPECT_EQ(parsed.event_id(), id);
  EXPECT_EQ(parsed.occurred_at(), 1763640000000);
  EXPECT_EQ(parsed.tx_id(), "tx_1ce5089ef0263ea7");
  payment::v1::PurchaseRequest not_an_event;
  EXPECT_EQ(MakeEvent("payment", "x", "ev_1", 1, not_an_event).status().code(),
            absl::StatusCode::kInternal);
}

TEST(EventsTest, InMemoryPublisherKeepsOrderAndReportsOnTheLoop) {
  LoopThread loop;
  InMemoryEventPublisher publisher(loop.dispatcher());
  for (int i = 0; i < 3; ++i) {
    auto s = loop.Await<absl::Status>([&](auto cb) {
      publisher.Publish(Event{"evt.x.v1.e", "ev_" + std::to_string(i), "", {}}, std::move(cb));
    });
    ASSERT_TRUE(s && s->ok());
  }
  publisher.FailWith(absl::UnavailableError("down"));
  auto failed = loop.Await<absl::Status>(
      [&](auto cb) { publisher.Publish(Event{"evt.x.v1.e", "ev_x", "", {}}, std::move(cb)); });
  EXPECT_EQ(failed->code(), absl::StatusCode::kUnavailable);
  ASSERT_EQ(publisher.events().size(), 3u);
  EXPECT_EQ(publisher.events()[2].event_id, "ev_2");
}

}  // namespace
}  // namespace sidecar::services
