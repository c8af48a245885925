#pragma once
// One conformance suite for every StateStore implementation: a typed-parameterized GoogleTest
// suite. Each implementation's test file provides a Factory with
//   static std::unique_ptr<StateStore> Make(event::Dispatcher&)   (a fresh, empty store)
// and instantiates: INSTANTIATE_TYPED_TEST_SUITE_P(Name, StateStoreConformanceTest, Factory).

#include <memory>

#include "gtest/gtest.h"
#include "services/common/state_store.h"
#include "tests/services/common/loop_thread.h"

namespace sidecar::services::testing {

template <typename Factory>
class StateStoreConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = Factory::Make(loop_.dispatcher()); ASSERT_NE(store_, nullptr); }
  void TearDown() override { store_.reset(); }

  using GetResult = absl::StatusOr<std::optional<StoreEntry>>;
  using WriteResult = absl::StatusOr<uint64_t>;
  using ListResult = absl::StatusOr<std::vector<StoreEntry>>;

  GetResult Get(std::string key, int64_t now = 0) {
    return *loop_.template Await<GetResult>([&](auto cb) { store_->Get(key, now, std::move(cb)); });
  }
  WriteResult Put(std::string key, std::string value, int64_t expires = 0) {
    return *loop_.template Await<WriteResult>(
        [&](auto cb) { store_->Put(key, value, WriteOptions{expires}, std::move(cb)); });
  }
  WriteResult Cas(std::string key, std::string value, uint64_t expected, int64_t now = 0,
                  int64_t expires = 0) {
    return *loop_.template Await<WriteResult>([&](auto cb) {
      store_->CompareAndSet(key, value, expected, now, WriteOptions{expires}, std::move(cb));
    });
  }
  absl::Status Delete(std::string key, uint64_t expected = 0) {
    return *loop_.template Await<absl::Status>(
        [&](auto cb) { store_->Delete(key, expected, std::move(cb)); });
  }
  ListResult List(std::string prefix, int64_t now = 0) {
    return *loop_.template Await<ListResult>(
        [&](auto cb) { store_->List(prefix, now, std::move(cb)); });
  }
  static std::vector<std::string> Keys(const ListResult& r) {
    std::vector<std::string> out;
    if (r.ok()) for (const auto& e : *r) out.push_back(e.key);
    return out;
  }

  LoopThread loop_;
  std::unique_ptr<StateStore> store_;
};

TYPED_TEST_SUITE_P(StateStoreConformanceTest);

TYPED_TEST_P(StateStoreConformanceTest, GetOfAbsentKeyIsEmpty) {
  auto got = this->Get("wallet/pl_x/GLD");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->has_value());
}

TYPED_TEST_P(StateStoreConformanceTest, PutThenGetReturnsValueAndRevision) {
  auto rev = this->Put("wallet/pl_x/GLD", std::string("5000\0bin", 8));
  ASSERT_TRUE(rev.ok()) << rev.status();
  EXPECT_GT(*rev, 0u);
  auto got = this->Get("wallet/pl_x/GLD");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->key, "wallet/pl_x/GLD");
  EXPECT_EQ((*got)->value, std::string("5000\0bin", 8));
  EXPECT_EQ((*got)->revision, *rev);
  auto rev2 = this->Put("wallet/pl_x/GLD", "3800");
  ASSERT_TRUE(rev2.ok());
  EXPECT_NE(*rev2, *rev);
}

TYPED_TEST_P(StateStoreConformanceTest, CreateSucceedsOnceThenConflicts) {
  auto first = this->Cas("doc/save/pl_a:slot1", "v1", 0);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = this->Cas("doc/save/pl_a:slot1", "v1b", 0);
  EXPECT_TRUE(IsConflict(second.status())) << second.status();
  EXPECT_EQ(this->Get("doc/save/pl_a:slot1")->value().value, "v1");
}

TYPED_TEST_P(StateStoreConformanceTest, CompareAndSetNeedsTheCurrentRevision) {
  uint64_t r1 = *this->Cas("k", "a", 0);
  auto r2 = this->Cas("k", "b", r1);
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_TRUE(IsConflict(this->Cas("k", "stale", r1).status()));
  EXPECT_TRUE(IsConflict(this->Cas("absent", "x", *r2).status()));
  EXPECT_EQ(this->Get("k")->value().value, "b");
}

TYPED_TEST_P(StateStoreConformanceTest, DeleteUnconditionalAndConditional) {
  EXPECT_TRUE(this->Delete("never-there").ok());
  uint64_t r1 = *this->Put("k", "a");
  uint64_t r2 = *this->Put("k", "b");
  EXPECT_TRUE(IsConflict(this->Delete("k", r1)));
  EXPECT_TRUE(this->Delete("k", r2).ok());
  EXPECT_FALSE(this->Get("k")->has_value());
  EXPECT_TRUE(IsConflict(this->Delete("k", r2)));  // absent with an expectation
  // Re-creation after delete works and the old revision is dead.
  auto again = this->Cas("k", "c", 0);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_NE(*again, r2);
  EXPECT_TRUE(IsConflict(this->Cas("k", "d", r2).status()));
  EXPECT_TRUE(this->Delete("k").ok());
  EXPECT_FALSE(this->Get("k")->has_value());
}

TYPED_TEST_P(StateStoreConformanceTest, ListByPrefixIsSortedAndSkipsOthers) {
  for (const char* k : {"doc/save/pl_b:2", "doc/save/pl_a:10", "doc/save/pl_a:2",
                        "doc/session/pl_a:1", "doc/savex/z", "wallet/pl_a/GLD", "doc/save/pl_a:1"}) {
    ASSERT_TRUE(this->Put(k, k).ok());
  }
  ASSERT_TRUE(this->Delete("doc/save/pl_b:2").ok());
  auto all_saves = this->List("doc/save/");
  ASSERT_TRUE(all_saves.ok()) << all_saves.status();
  EXPECT_EQ(this->Keys(all_saves),
            (std::vector<std::string>{"doc/save/pl_a:1", "doc/save/pl_a:10", "doc/save/pl_a:2"}));
  EXPECT_EQ((*all_saves)[0].value, "doc/save/pl_a:1");
  EXPECT_EQ(this->Keys(this->List("doc/save/pl_a:1")),
            (std::vector<std::string>{"doc/save/pl_a:1", "doc/save/pl_a:10"}));
  EXPECT_EQ(this->Keys(this->List("doc/save")),
            (std::vector<std::string>{"doc/save/pl_a:1", "doc/save/pl_a:10", "doc/save/pl_a:2",
                                      "doc/savex/z"}));
  EXPECT_EQ(this->Keys(this->List("nothing/")), std::vector<std::string>{});
  EXPECT_EQ(this->Keys(this->List("")).size(), 6u);
}

TYPED_TEST_P(StateStoreConformanceTest, KeysWithAnyBytesRoundTrip) {
  const std::vector<std::string> keys = {"_idem/payment/purchase/player:pl_a/ord-7731",
                                         "a//b", "a/", "sp ace/\xC3\xA9/=.x*>", "UPPER/lower-_"};
  for (const auto& k : keys) ASSERT_TRUE(this->Put(k, "v:" + k).ok()) << k;
  for (const auto& k : keys) {
    auto got = this->Get(k);
    ASSERT_TRUE(got.ok() && got->has_value()) << k;
    EXPECT_EQ((*got)->value, "v:" + k);
  }
  EXPECT_EQ(this->Keys(this->List("a/")), (std::vector<std::string>{"a/", "a//b"}));
}

TYPED_TEST_P(StateStoreConformanceTest, ExpiryIsJudgedOnTheCallersClock) {
  const int64_t t0 = 1763640000000;
  ASSERT_TRUE(this->Cas("idem/k", "first", 0, t0, t0 + 1000).ok());
  EXPECT_TRUE(this->Get("idem/k", t0 + 999)->has_value());
  EXPECT_EQ(this->Get("idem/k", t0 + 999)->value().expires_at_ms, t0 + 1000);
  EXPECT_FALSE(this->Get("idem/k", t0 + 1000)->has_value());
  EXPECT_EQ(this->List("idem/", t0 + 999)->size(), 1u);
  EXPECT_EQ(this->List("idem/", t0 + 1000)->size(), 0u);
  // Not yet expired: a create conflicts. Expired: a create replaces it.
  EXPECT_TRUE(IsConflict(this->Cas("idem/k", "second", 0, t0 + 999).status()));
  auto replaced = this->Cas("idem/k", "second", 0, t0 + 1000);
  ASSERT_TRUE(replaced.ok()) << replaced.status();
  auto got = this->Get("idem/k", t0 + 5000);
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->value, "second");
  EXPECT_EQ((*got)->expires_at_ms, 0);
}

TYPED_TEST_P(StateStoreConformanceTest, CallbacksAreNeverReentrant) {
  // Every callback runs after the call returned (posted), for every implementation.
  auto returned_first = this->loop_.template Await<bool>([this](auto cb) {
    auto returned = std::make_shared<bool>(false);
    this->store_->Get("x", 0, [returned, cb = std::move(cb)](auto) mutable {
      std::move(cb)(*returned);
    });
    *returned = true;
  });
  EXPECT_TRUE(returned_first.value_or(false));
}

REGISTER_TYPED_TEST_SUITE_P(StateStoreConformanceTest, GetOfAbsentKeyIsEmpty,
                            PutThenGetReturnsValueAndRevision, CreateSucceedsOnceThenConflicts,
                            CompareAndSetNeedsTheCurrentRevision, DeleteUnconditionalAndConditional,
                            ListByPrefixIsSortedAndSkipsOthers, KeysWithAnyBytesRoundTrip,
                            ExpiryIsJudgedOnTheCallersClock, CallbacksAreNeverReentrant);

}  // namespace sidecar::services::testing
