// The shadow path through the real RouterFilter, with fake clusters on a real Dispatcher: what is
// mirrored and how the copy looks, that the caller never waits for the shadow, comparisons, the
// concurrency cap, run-time share changes and Diffy-style noise learning.

#include "sidecar/shadow/shadow.h"

#include <sched.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/router/router.h"
#include "sidecar/shadow/cpu_pressure.h"
#include "sidecar/shadow/mirror_worker.h"

namespace sidecar::shadow {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// A streamed body of two pieces, then the end.
class TwoPieces final : public http::QueuedBodyStream {
 public:
  using QueuedBodyStream::QueuedBodyStream;
  void Send(std::string a, std::string b) {
    Push(std::move(a));
    Push(std::move(b));
    End(absl::OkStatus());
  }

 private:
  void OnPause() override {}
  void OnResume() override {}
};

// Collects a streamed body.
class Collector final : public http::BodyStream::Sink {
 public:
  void OnChunk(std::string data) override { body += data; }
  void OnEnd(absl::Status status) override { end = status; }
  std::string body;
  std::optional<absl::Status> end;
};

// Answers with body(n) for its n-th request, or holds every callback when `hold` is set.
class FakeCluster final : public upstream::Cluster {
 public:
  FakeCluster(std::string name, event::Dispatcher& d) : name_(std::move(name)), dispatcher_(d) {}
  const std::string& name() const override { return name_; }
  std::string_view kind() const override { return "legacy"; }
  bool Healthy() const override { return true; }
  upstream::Cancellable* Send(const http::Request& request, upstream::ResponseCallback done) override {
    requests.push_back(request);
    sent_on.push_back(std::this_thread::get_id());
    sent_at_policy.push_back(sched_getscheduler(0));
    const int n = static_cast<int>(requests.size());
    if (hold) {
      held.push_back(std::move(done));
      return nullptr;
    }
    const bool streamed = stream && request.stream_ok;
    dispatcher_.Post([this, n, streamed, done = std::move(done)]() mutable {
      http::Response r;
      r.headers.Set("Content-Type", "application/json");
      if (streamed) {
        // The same body in two pieces, through Response::stream.
        const std::string whole = body(n);
        auto pieces = std::make_shared<TwoPieces>(dispatcher_);
        pieces->Send(whole.substr(0, whole.size() / 2), whole.substr(whole.size() / 2));
        r.stream = pieces;
      } else {
        r.body = body(n);
      }
      if (shape) shape(r);
      std::move(done)(std::move(r));
    });
    return nullptr;
  }
  std::function<std::string(int)> body = [](int) { return R"({"v":1})"; };
  std::function<void(http::Response&)> shape;  // last changes to each answer (status, headers)
  bool hold = false;
  bool stream = false;  // answer a caller with stream_ok through Response::stream
  std::vector<http::Request> requests;
  std::vector<std::thread::id> sent_on;  // the thread of each Send
  std::vector<int> sent_at_policy;       // and its scheduling policy then
  std::deque<upstream::ResponseCallback> held;

 private:
  std::string name_;
  event::Dispatcher& dispatcher_;
};

class RecordingObserver final : public router::RouteObserver {
 public:
  void OnRequest(const std::string&, const std::string&, bool, std::chrono::microseconds) override {}
  void OnShadowCompared(const std::string& route, const std::string& cluster, bool matched) override {
    compared.push_back(route + " " + cluster + " " + (matched ? "matched" : "mismatched"));
    if (after_compared) after_compared();
  }
  std::vector<std::string> compared;
  std::function<void()> after_compared;
};

class ShadowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dispatcher_ = *event::Dispatcher::Create("test");
    auto primary = std::make_unique<FakeCluster>("legacy", *dispatcher_);
    auto shadow = std::make_unique<FakeCluster>("native", *dispatcher_);
    primary_ = primary.get();
    shadow_ = shadow.get();
    clusters_ = std::make_unique<upstream::ClusterManager>(*dispatcher_, metrics_);
    ASSERT_TRUE(clusters_->Add(std::move(primary)).ok());
    ASSERT_TRUE(clusters_->Add(std::move(shadow)).ok());
    runtime_ = std::make_unique<ShadowRuntime>(*dispatcher_, metrics_, ShadowRuntime::Options{});
  }
  void TearDown() override {
    managers_.clear();
    runtime_.reset();
    clusters_.reset();
  }

  void Use(config::ShadowConfig shadow) {
    config::RouteConfig rc;
    rc.name = "api";
    rc.prefix = "/api/";
    rc.service = "shop";
    rc.split = {{"legacy", 10000}};
    shadow.cluster = "native";
    rc.shadow = shadow;
    auto table = router::RouteTable::Create({rc}, *clusters_);
    ASSERT_TRUE(table.ok()) << table.status();
    holder_ = std::make_shared<router::RouteTableHolder>(*table);
  }

  // A filter chain of just the router, for one request; `on_answer` hears the caller's answer.
  std::unique_ptr<http::FilterManager> Manager(http::Request request,
                                               http::FilterManager::DoneCallback on_answer) {
    http::FilterChain filters;
    filters.push_back(router::RouterFilterFactory(holder_, metrics_, &observer_, runtime_.get())());
    return std::make_unique<http::FilterManager>(*dispatcher_, http::StreamInfo{}, std::move(request),
                                                 std::move(filters), std::move(on_answer));
  }

  // One request through the router; returns once the caller has its answer (not the shadow's).
  absl::StatusOr<http::Response> Route(http::Request request) {
    absl::StatusOr<http::Response> result = absl::UnknownError("no answer");
    auto manager = Manager(std::move(request), [&](absl::StatusOr<http::Response> r) {
      result = std::move(r);
      dispatcher_->Exit();
    });
    dispatcher_->Post([&] { manager->Start(); });
    dispatcher_->Run();
    managers_.push_back(std::move(manager));  // a held shadow outlives the caller's request
    return result;
  }

  // Starts one request through the router and runs the loop until its posted work is done, without
  // waiting for an answer (a held primary); `answer` is set when the caller gets one.
  std::unique_ptr<http::FilterManager> Start(http::Request request,
                                             std::optional<absl::StatusOr<http::Response>>& answer) {
    auto manager = Manager(std::move(request), [&answer](absl::StatusOr<http::Response> r) { answer = std::move(r); });
    dispatcher_->Post([&] { manager->Start(); });
    Settle();
    return manager;
  }

  // Runs the loop until every posted comparison ran.
  void Settle() {
    dispatcher_->Post([&] { dispatcher_->Exit(); });
    dispatcher_->Run();
  }

  static http::Request Get(const std::string& path) {
    http::Request r;
    r.method = "GET";
    r.path = path;
    r.headers.Add("Authorization", "Bearer secret");
    r.headers.Add("Cookie", "s=1");
    r.headers.Add("X-Principal", "player:p1");
    return r;
  }

  double Count(const std::string& result) {
    return metrics_.shadow_requests_total.Add({{"service", "shop"}, {"action", "*"}, {"result", result}}).Value();
  }

  std::unique_ptr<event::Dispatcher> dispatcher_;
  stats::Metrics metrics_;
  std::unique_ptr<upstream::ClusterManager> clusters_;
  FakeCluster* primary_ = nullptr;
  FakeCluster* shadow_ = nullptr;
  std::unique_ptr<ShadowRuntime> runtime_;
  std::shared_ptr<router::RouteTableHolder> holder_;
  RecordingObserver observer_;
  std::vector<std::unique_ptr<http::FilterManager>> managers_;
};

TEST_F(ShadowTest, CallerGetsThePrimaryAnswerWhileTheShadowNeverAnswers) {
  Use({});
  shadow_->hold = true;
  auto r = Route(Get("/api/items/1"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, R"({"v":1})");
  ASSERT_EQ(shadow_->requests.size(), 1u);
  const http::Request& copy = shadow_->requests[0];
  EXPECT_EQ(copy.headers.GetOr("x-sidecar-shadow", ""), "1");
  EXPECT_FALSE(copy.headers.Has("Authorization"));
  EXPECT_FALSE(copy.headers.Has("Cookie"));
  EXPECT_EQ(copy.headers.GetOr("X-Principal", ""), "player:p1");
  EXPECT_FALSE(primary_->requests[0].headers.Has("x-sidecar-shadow"));
  EXPECT_TRUE(primary_->requests[0].headers.Has("Authorization"));
  EXPECT_EQ(runtime_->in_flight(), 1u);
}

// The mirror leaves only after the primary answered: on a task's two cores the shadow's write,
// its upstream's work and its answer's read would otherwise land inside the primary's latency.
TEST_F(ShadowTest, TheMirrorLeavesOnlyOnceThePrimaryHasAnswered) {
  Use({});
  primary_->hold = true;
  std::optional<absl::StatusOr<http::Response>> answer;
  auto manager = Start(Get("/api/held"), answer);
  ASSERT_EQ(primary_->held.size(), 1u);
  EXPECT_THAT(shadow_->requests, IsEmpty());
  EXPECT_EQ(runtime_->in_flight(), 1u);  // the exchange waits for its primary
  http::Response ok;
  ok.body = R"({"v":1})";
  std::move(primary_->held.front())(std::move(ok));
  Settle();
  ASSERT_TRUE(answer.has_value() && answer->ok());
  ASSERT_EQ(shadow_->requests.size(), 1u);
  EXPECT_EQ(shadow_->requests[0].headers.GetOr("x-sidecar-shadow", ""), "1");
  Settle();
  EXPECT_EQ(Count("matched"), 1);
  EXPECT_EQ(runtime_->in_flight(), 0u);
}

// A primary that failed has nothing to compare against, so the shadow is not asked at all.
TEST_F(ShadowTest, AFailedPrimarySendsNoMirrorAndCountsAnError) {
  Use({});
  primary_->hold = true;
  std::optional<absl::StatusOr<http::Response>> answer;
  auto manager = Start(Get("/api/fails"), answer);
  ASSERT_EQ(primary_->held.size(), 1u);
  std::move(primary_->held.front())(absl::UnavailableError("connection refused"));
  Settle();
  Settle();
  ASSERT_TRUE(answer.has_value());
  EXPECT_FALSE(answer->ok());
  EXPECT_THAT(shadow_->requests, IsEmpty());
  EXPECT_EQ(Count("error"), 1);
  EXPECT_EQ(runtime_->in_flight(), 0u);
}

TEST_F(ShadowTest, AStreamedPrimaryIsComparedByItsConcatenation) {
  Use({});
  primary_->stream = true;
  shadow_->stream = true;  // but the mirror asks for a whole body
  http::Request request = Get("/api/streamed");
  request.stream_ok = true;
  auto r = Route(std::move(request));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_NE(r->stream, nullptr);
  EXPECT_FALSE(shadow_->requests[0].stream_ok);
  Collector collector;
  r->stream->Start(collector);
  Settle();
  Settle();
  EXPECT_EQ(collector.body, R"({"v":1})");
  ASSERT_TRUE(collector.end.has_value());
  EXPECT_TRUE(collector.end->ok());
  Settle();
  EXPECT_EQ(Count("matched"), 1);
  // A streamed primary that differs is a mismatch, like a whole one.
  primary_->body = [](int) { return R"({"v":3})"; };
  http::Request again = Get("/api/streamed");
  again.stream_ok = true;
  auto r2 = Route(std::move(again));
  ASSERT_TRUE(r2.ok());
  Collector second;
  r2->stream->Start(second);
  Settle();
  Settle();
  Settle();
  EXPECT_EQ(Count("mismatched"), 1);
}

TEST_F(ShadowTest, AllowedCredentialsReachTheShadow) {
  config::ShadowConfig c;
  c.allow_credentials = {"authorization"};
  Use(c);
  ASSERT_TRUE(Route(Get("/api/x")).ok());
  EXPECT_EQ(shadow_->requests[0].headers.GetOr("Authorization", ""), "Bearer secret");
  EXPECT_FALSE(shadow_->requests[0].headers.Has("Cookie"));
}

TEST_F(ShadowTest, ComparesCountsAndRecordsTheDifferingPath) {
  Use({});
  ASSERT_TRUE(Route(Get("/api/a")).ok());
  Settle();
  shadow_->body = [](int) { return R"({"v":2})"; };
  ASSERT_TRUE(Route(Get("/api/b")).ok());
  Settle();
  EXPECT_EQ(Count("matched"), 1);
  EXPECT_EQ(Count("mismatched"), 1);
  EXPECT_THAT(observer_.compared, ElementsAre("api native matched", "api native mismatched"));
  nlohmann::json ring = runtime_->MismatchesJson();
  ASSERT_EQ(ring.size(), 1u);
  EXPECT_EQ(ring[0]["route"], "api");
  EXPECT_EQ(ring[0]["paths"], nlohmann::json::array({"/v"}));
  EXPECT_EQ(ring[0]["request"]["path"], "/api/b");
  EXPECT_EQ(ring[0]["primary"]["cluster"], "legacy");
  EXPECT_EQ(ring[0]["shadow"]["cluster"], "native");
  EXPECT_EQ(metrics_.shadow_mismatch_paths_total.Add({{"service", "shop"}, {"action", "*"}, {"path", "/v"}}).Value(), 1);
  EXPECT_EQ(runtime_->StatsJson()["api"]["match_rate"], 0.5);
  EXPECT_EQ(runtime_->in_flight(), 0u);
}

// Byte-equal bodies are compared without parsing, but only when the statuses agree too: an HTTP
// status, or a NATS reply's Nats-Service-Error-Code, that differs is still a mismatch.
TEST_F(ShadowTest, TheSameBodyUnderAnotherStatusIsAMismatch) {
  Use({});
  shadow_->shape = [](http::Response& r) { r.status = 503; };
  ASSERT_TRUE(Route(Get("/api/a")).ok());
  Settle();
  shadow_->shape = [](http::Response& r) { r.headers.Add("Nats-Service-Error-Code", "404"); };
  ASSERT_TRUE(Route(Get("/api/b")).ok());
  Settle();
  shadow_->shape = nullptr;
  ASSERT_TRUE(Route(Get("/api/c")).ok());
  Settle();
  EXPECT_EQ(Count("mismatched"), 2);
  EXPECT_EQ(Count("matched"), 1);
  nlohmann::json ring = runtime_->MismatchesJson();
  ASSERT_EQ(ring.size(), 2u);
  EXPECT_EQ(ring[0]["paths"], nlohmann::json::array({"$status"}));
  EXPECT_EQ(ring[1]["paths"], nlohmann::json::array({"$status"}));
}

TEST_F(ShadowTest, UnsafeMethodsAndHealthChecksAreNotMirroredByDefault) {
  Use({});
  http::Request post = Get("/api/a");
  post.method = "POST";
  ASSERT_TRUE(Route(post).ok());
  ASSERT_TRUE(Route(Get("/api/health")).ok());
  EXPECT_THAT(shadow_->requests, IsEmpty());
}

TEST_F(ShadowTest, MirrorsBeyondTheConcurrencyCapAreDroppedAndCounted) {
  config::ShadowConfig c;
  c.max_concurrent = 2;
  Use(c);
  shadow_->hold = true;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Route(Get("/api/a")).ok());
  EXPECT_EQ(shadow_->requests.size(), 2u);
  EXPECT_EQ(Count("dropped"), 3);
  EXPECT_EQ(primary_->requests.size(), 5u);
}

TEST_F(ShadowTest, ShadowShareChangesAtRunTimeThroughANewTable) {
  Use({});
  auto table = holder_->Get()->WithShadowPercent("api", 0);
  ASSERT_TRUE(table.ok()) << table.status();
  holder_->Set(*table);
  ASSERT_TRUE(Route(Get("/api/a")).ok());
  EXPECT_THAT(shadow_->requests, IsEmpty());
  EXPECT_EQ(holder_->Get()->ToJson()[0]["shadow"]["percent"], 0.0);
  EXPECT_EQ(holder_->Get()->WithShadowPercent("nope", 5).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(holder_->Get()->WithShadowPercent("api", 101).status().code(), absl::StatusCode::kInvalidArgument);
  holder_->Set(*holder_->Get()->WithShadowPercent("api", 100));
  ASSERT_TRUE(Route(Get("/api/a")).ok());
  EXPECT_EQ(shadow_->requests.size(), 1u);
}

TEST_F(ShadowTest, PathsThatDifferBetweenTwoPrimaryAnswersAreLearnedAsNoise) {
  config::ShadowConfig c;
  c.noise_percent_bp = 10000;
  Use(c);
  // The primary stamps a fresh nonce on every answer; the shadow has its own. Only /v is real.
  primary_->body = [](int n) { return R"({"nonce":"p)" + std::to_string(n) + R"(","v":1})"; };
  shadow_->body = [](int n) { return R"({"nonce":"s)" + std::to_string(n) + R"(","v":2})"; };
  ASSERT_TRUE(Route(Get("/api/a")).ok());
  Settle();
  ASSERT_EQ(primary_->requests.size(), 2u);  // the request and its (marked) noise copy
  EXPECT_NE(primary_->requests[0].headers.Has("x-sidecar-shadow"), primary_->requests[1].headers.Has("x-sidecar-shadow"));
  nlohmann::json ring = runtime_->MismatchesJson();
  ASSERT_EQ(ring.size(), 1u);
  EXPECT_EQ(ring[0]["paths"], nlohmann::json::array({"/v"}));
  EXPECT_EQ(ring[0]["noise_paths"], nlohmann::json::array({"/nonce"}));
  EXPECT_EQ(runtime_->StatsJson()["api"]["noise_paths"], nlohmann::json::array({"/nonce"}));
}

TEST_F(ShadowTest, ALateShadowAnswerIsStillComparedAndFreesItsSlot) {
  config::ShadowConfig c;
  c.max_concurrent = 1;
  Use(c);
  shadow_->hold = true;
  ASSERT_TRUE(Route(Get("/api/a")).ok());
  EXPECT_EQ(runtime_->in_flight(), 1u);
  // The held shadow answers late: the comparison still happens, the slot frees.
  std::move(shadow_->held.front())(http::Response{});
  shadow_->held.pop_front();
  Settle();
  EXPECT_EQ(runtime_->in_flight(), 0u);
  EXPECT_EQ(Count("mismatched"), 1);  // {} vs {"v":1}
  ASSERT_TRUE(Route(Get("/api/b")).ok());
  EXPECT_EQ(shadow_->requests.size(), 2u);
}

// ------------------------------------------------------------------------------------------------
// The same runtime with a MirrorWorker: mirrors to the clusters the worker has run on its thread,
// against its own instances; what they find comes back to the request loop to be counted.

class ShadowOnWorkerTest : public ShadowTest {
 protected:
  // The worker gets instances of `names`; `set_up` shapes them on the worker's thread, before it runs.
  void StartWorker(std::vector<std::string> names, std::function<void(FakeCluster&)> set_up = nullptr) {
    using Made = absl::StatusOr<std::unique_ptr<MirrorWorker::Clusters>>;
    auto worker = MirrorWorker::Start({}, [this, names, set_up](event::Dispatcher& dispatcher) -> Made {
      auto out = std::make_unique<MirrorWorker::Clusters>();
      for (const std::string& name : names) {
        auto cluster = std::make_unique<FakeCluster>(name, dispatcher);
        if (set_up) set_up(*cluster);
        worker_clusters_[name] = cluster.get();
        out->Add(name, std::move(cluster));
      }
      return out;
    });
    ASSERT_TRUE(worker.ok()) << worker.status();
    worker_ = worker->get();
    runtime_ = std::make_unique<ShadowRuntime>(*dispatcher_, metrics_, ShadowRuntime::Options{}, nullptr,
                                               *std::move(worker));
  }

  // Runs the request loop until `n` comparisons came back (bounded: a lost run fails, not hangs).
  void RunUntilCompared(size_t n) {
    if (observer_.compared.size() >= n) return;
    observer_.after_compared = [&] {
      if (observer_.compared.size() >= n) dispatcher_->Exit();
    };
    auto guard = dispatcher_->CreateTimer([&] {
      ADD_FAILURE() << "only " << observer_.compared.size() << " of " << n << " comparisons came back";
      dispatcher_->Exit();
    });
    guard->Enable(std::chrono::seconds(10));
    dispatcher_->Run();
    observer_.after_compared = nullptr;
  }

  MirrorWorker* worker_ = nullptr;                       // owned by runtime_
  std::map<std::string, FakeCluster*> worker_clusters_;  // owned by the worker
};

TEST_F(ShadowOnWorkerTest, MirrorsRunOnTheWorkersThreadAtIdlePriorityAndComeBackCounted) {
  StartWorker({"native"}, [](FakeCluster& c) { c.body = [](int n) { return n == 1 ? R"({"v":1})" : R"({"v":2})"; }; });
  Use({});
  ASSERT_TRUE(Route(Get("/api/a")).ok());
  RunUntilCompared(1);
  ASSERT_TRUE(Route(Get("/api/b")).ok());
  RunUntilCompared(2);
  EXPECT_THAT(shadow_->requests, IsEmpty());  // the request loop's instance is never used
  FakeCluster& on_worker = *worker_clusters_["native"];
  ASSERT_EQ(on_worker.requests.size(), 2u);
  EXPECT_NE(on_worker.sent_on[0], std::this_thread::get_id());
  EXPECT_EQ(on_worker.requests[0].headers.GetOr("x-sidecar-shadow", ""), "1");
  EXPECT_FALSE(on_worker.requests[0].headers.Has("Authorization"));
  if (worker_->idle_priority()) {
    EXPECT_EQ(on_worker.sent_at_policy[0], SCHED_IDLE);
  }
  EXPECT_THAT(observer_.compared, ElementsAre("api native matched", "api native mismatched"));
  EXPECT_EQ(Count("matched"), 1);
  EXPECT_EQ(Count("mismatched"), 1);
  nlohmann::json ring = runtime_->MismatchesJson();
  ASSERT_EQ(ring.size(), 1u);
  EXPECT_EQ(ring[0]["paths"], nlohmann::json::array({"/v"}));
  EXPECT_EQ(ring[0]["request"]["path"], "/api/b");
  EXPECT_EQ(ring[0]["primary"]["cluster"], "legacy");
  EXPECT_EQ(ring[0]["shadow"]["cluster"], "native");
  EXPECT_EQ(runtime_->runs_on_worker(), 2u);
  EXPECT_EQ(runtime_->runs_on_loop(), 0u);
  EXPECT_EQ(runtime_->in_flight(), 0u);
  EXPECT_EQ(runtime_->StatsJson()["api"]["in_flight"], 0);
}

TEST_F(ShadowOnWorkerTest, AClusterTheWorkerLacksIsMirroredOnTheRequestLoop) {
  StartWorker({"elsewhere"});
  Use({});
  ASSERT_TRUE(Route(Get("/api/a")).ok());
  RunUntilCompared(1);
  EXPECT_EQ(shadow_->requests.size(), 1u);
  EXPECT_EQ(runtime_->runs_on_loop(), 1u);
  EXPECT_EQ(runtime_->runs_on_worker(), 0u);
  EXPECT_EQ(Count("matched"), 1);
}

TEST_F(ShadowOnWorkerTest, AStreamedPrimaryReachesItsRunOnTheWorker) {
  StartWorker({"native"});
  Use({});
  primary_->stream = true;
  http::Request request = Get("/api/streamed");
  request.stream_ok = true;
  auto r = Route(std::move(request));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_NE(r->stream, nullptr);
  Collector collector;
  r->stream->Start(collector);
  RunUntilCompared(1);
  EXPECT_EQ(collector.body, R"({"v":1})");
  EXPECT_THAT(observer_.compared, ElementsAre("api native matched"));
  EXPECT_EQ(runtime_->runs_on_worker(), 1u);
}

TEST_F(ShadowOnWorkerTest, NoiseIsLearnedWithTheWorkersInstanceOfThePrimary) {
  StartWorker({"native", "legacy"}, [](FakeCluster& c) {
    const bool primary = c.name() == "legacy";
    c.body = [primary](int n) {
      return std::string(R"({"nonce":")") + (primary ? "q" : "s") + std::to_string(n) + R"(","v":)" +
             (primary ? "1" : "2") + "}";
    };
  });
  config::ShadowConfig c;
  c.noise_percent_bp = 10000;
  Use(c);
  primary_->body = [](int n) { return R"({"nonce":"p)" + std::to_string(n) + R"(","v":1})"; };
  ASSERT_TRUE(Route(Get("/api/a")).ok());
  RunUntilCompared(1);
  EXPECT_EQ(primary_->requests.size(), 1u);  // the noise copy went to the worker's instance
  ASSERT_EQ(worker_clusters_["legacy"]->requests.size(), 1u);
  EXPECT_TRUE(worker_clusters_["legacy"]->requests[0].headers.Has("x-sidecar-shadow"));
  nlohmann::json ring = runtime_->MismatchesJson();
  ASSERT_EQ(ring.size(), 1u);
  EXPECT_EQ(ring[0]["paths"], nlohmann::json::array({"/v"}));
  EXPECT_EQ(ring[0]["noise_paths"], nlohmann::json::array({"/nonce"}));
}

// The cap counts mirrors at the shadow: the slots are taken on the request loop and given back by
// the worker as each run ends, before the run waits to be collected.
TEST_F(ShadowOnWorkerTest, TheCapHoldsForMirrorsOnTheWorkerAndFreesAsTheyEnd) {
  StartWorker({"native"}, [](FakeCluster& c) { c.hold = true; });
  config::ShadowConfig c;
  c.max_concurrent = 2;
  Use(c);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Route(Get("/api/a")).ok());
  EXPECT_EQ(Count("dropped"), 3);
  EXPECT_EQ(runtime_->StatsJson()["api"]["in_flight"], 2);
  EXPECT_EQ(runtime_->runs_on_worker(), 2u);
}

// Shutdown with mirrors held on the worker: nothing calls back into what is gone.
TEST_F(ShadowOnWorkerTest, StoppingWithMirrorsInFlightOnTheWorkerIsClean) {
  StartWorker({"native"}, [](FakeCluster& c) { c.hold = true; });
  Use({});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Route(Get("/api/a")).ok());
  Settle();
  EXPECT_EQ(runtime_->in_flight(), 3u);
  runtime_.reset();
  Settle();
  EXPECT_THAT(observer_.compared, IsEmpty());
}

// ------------------------------------------------------------------------------------------------
// Pausing above a CPU pressure: the PSI file is a temporary one the test writes.

// A PSI file of this process's own: ctest runs every case as its own process, two at a time, and a
// path shared between cases let one case's file (or its removal) stand in for another's.
std::string OwnPsiPath(const std::string& name) {
  return absl::StrCat(testing::TempDir(), "/", name, ".", getpid());
}

// A PSI file's text whose "some" stall total is `stalled_us`.
std::string PsiText(uint64_t stalled_us) {
  return "some avg10=0.00 avg60=0.00 avg300=0.00 total=" + std::to_string(stalled_us) +
         "\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
}

TEST(CpuPressureTest, ParsesTheSomeLinesTotal) {
  EXPECT_EQ(*ParsePsiSomeTotal(PsiText(3261694420)), 3261694420u);
  EXPECT_EQ(*ParsePsiSomeTotal("some avg10=0.11 avg60=21.86 avg300=32.06 total=7\n"), 7u);
  EXPECT_FALSE(ParsePsiSomeTotal("full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n").ok());
  EXPECT_FALSE(ParsePsiSomeTotal("some avg10=0.00 total=x\n").ok());
  EXPECT_FALSE(ParsePsiSomeTotal("").ok());
}

TEST(CpuPressureTest, TheShareIsTheStallGrowthOverTheWallTimeBetweenSamples) {
  const std::string path = OwnPsiPath("cpu_pressure_share");
  std::ofstream(path) << PsiText(1000);
  CpuPressure pressure(path);
  const CpuPressure::Clock::time_point t0 = CpuPressure::Clock::now();
  EXPECT_EQ(*pressure.Sample(t0), std::nullopt);  // a baseline only
  std::ofstream(path) << PsiText(1000 + 250000);
  EXPECT_DOUBLE_EQ(**pressure.Sample(t0 + std::chrono::seconds(1)), 0.25);
  std::ofstream(path) << PsiText(1000 + 250000 + 5000000);  // more than the wall time: clamped
  EXPECT_DOUBLE_EQ(**pressure.Sample(t0 + std::chrono::seconds(2)), 1.0);
  std::filesystem::remove(path);
  EXPECT_EQ(pressure.Sample(t0 + std::chrono::seconds(3)).status().code(), absl::StatusCode::kNotFound);
  // Whatever this machine has, FindSource names a file that parses, or says there is none.
  absl::StatusOr<std::string> source = CpuPressure::FindSource();
  if (source.ok()) {
    EXPECT_TRUE(CpuPressure(*source).Sample(CpuPressure::Clock::now()).ok());
  } else {
    EXPECT_EQ(source.status().code(), absl::StatusCode::kNotFound);
  }
}

TEST(AdmitShareTest, HalvesAtEachSampleAboveTheLineAndGrowsByATenthAtOrBelowIt) {
  AdmitShare admit;
  EXPECT_EQ(admit.share_bp(), 10000);
  std::vector<int64_t> down;
  for (int i = 0; i < 7; ++i) {
    admit.OnSample(0.62, 5000);
    down.push_back(admit.share_bp());
  }
  EXPECT_THAT(down, ::testing::ElementsAre(5000, 2500, 1250, 625, 312, 0, 0));  // under 3 %: none
  std::vector<int64_t> up;
  for (int i = 0; i < 11; ++i) {
    admit.OnSample(i == 0 ? 0.5 : 0.1, 5000);  // at the line counts as below it
    up.push_back(admit.share_bp());
  }
  EXPECT_THAT(up, ::testing::ElementsAre(1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000, 10000));
  admit.OnSample(1.0, 5000);
  admit.Reset();
  EXPECT_EQ(admit.share_bp(), 10000);
}

class ShadowPauseTest : public ShadowTest {
 protected:
  void SetUp() override {
    ShadowTest::SetUp();
    psi_path_ = OwnPsiPath("shadow_pause_psi");
    Stall(0);
    ShadowRuntime::Options options;
    options.cpu_pressure_path = psi_path_;
    // A test waits for up to ten samples in a row. One that wants the pressure to stay up bumps
    // the stall before each request, and a request would have to take two whole samples (a
    // loaded machine included) for the share to move under it.
    options.cpu_pressure_every = std::chrono::milliseconds(200);
    runtime_ = std::make_unique<ShadowRuntime>(*dispatcher_, metrics_, options);
  }
  void TearDown() override {
    ShadowTest::TearDown();
    std::filesystem::remove(psi_path_);
  }
  void Stall(uint64_t total_us) { std::ofstream(psi_path_) << PsiText(total_us); }
  // Some task waited for a core all the time since the last sample, and more.
  void StallMore() { Stall(stalled_us_ += uint64_t{1} << 40); }

  // The share of the route's mirrors let out under its CPU pressure line, as /status gives it.
  double Admitted() { return runtime_->StatsJson()["api"]["cpu_pressure_pause"]["admitted"].get<double>(); }

  // Runs the loop until the route admits `share` of its mirrors (bounded); `busy`: stalls before
  // each poll, so every sample meanwhile sees a full pressure.
  void RunUntilAdmitted(double share, bool busy) {
    event::TimerPtr poll = dispatcher_->CreateTimer([&] {
      if (Admitted() == share) {
        dispatcher_->Exit();
        return;
      }
      if (busy) StallMore();
      poll->Enable(std::chrono::milliseconds(1));
    });
    auto guard = dispatcher_->CreateTimer([&] {
      ADD_FAILURE() << "the admitted share never got to " << share << " (it is " << Admitted() << ")";
      dispatcher_->Exit();
    });
    guard->Enable(std::chrono::seconds(10));
    poll->Enable(std::chrono::milliseconds(1));
    dispatcher_->Run();
  }

  // Routes one GET to `path`; returns how many mirrors the shadow cluster has had so far.
  size_t MirrorsAfterGet(const std::string& path) {
    EXPECT_TRUE(Route(Get(path)).ok());
    Settle();
    return shadow_->requests.size();
  }

  std::string psi_path_;
  uint64_t stalled_us_ = 0;
};

TEST_F(ShadowPauseTest, MirrorsAreHeldBackAboveTheRoutesLineAndComeBackByTenthsBelowIt) {
  config::ShadowConfig c;
  c.pause_above_cpu_pressure_bp = 5000;
  Use(c);
  // No pressure known yet (the first reading is only a baseline): mirrored.
  EXPECT_EQ(MirrorsAfterGet("/api/a"), 1u);
  EXPECT_EQ(Admitted(), 1.0);
  // Some task waits for a core all the time: the share halves at each sample, to none.
  RunUntilAdmitted(0.0, /*busy=*/true);
  StallMore();  // a sample during the request still sees the pressure
  EXPECT_EQ(MirrorsAfterGet("/api/b"), 1u);
  EXPECT_EQ(Count("paused"), 1);  // a result of its own: not the cap's
  EXPECT_EQ(Count("dropped"), 0);
  EXPECT_EQ(runtime_->StatsJson()["api"]["paused"], 1);
  nlohmann::json pause = runtime_->StatsJson()["api"]["cpu_pressure_pause"];
  EXPECT_EQ(pause["above"], 0.5);
  EXPECT_EQ(pause["pressure"], 1.0);
  // Nobody waits any more: the share grows back by a tenth a sample, and all are mirrored again.
  RunUntilAdmitted(1.0, /*busy=*/false);
  EXPECT_EQ(MirrorsAfterGet("/api/c"), 2u);
  EXPECT_EQ(Count("paused"), 1);
}

TEST_F(ShadowPauseTest, ARouteWithoutALineNeverReadsThePressure) {
  Use({});
  Stall(uint64_t{1} << 40);
  EXPECT_EQ(MirrorsAfterGet("/api/a"), 1u);
  EXPECT_EQ(runtime_->cpu_pressure(), std::nullopt);
  EXPECT_FALSE(runtime_->StatsJson()["api"].contains("cpu_pressure_pause"));
}

TEST_F(ShadowPauseTest, WithoutReadablePressureNothingPausesAndStatusSaysWhy) {
  std::filesystem::remove(psi_path_);
  config::ShadowConfig c;
  c.pause_above_cpu_pressure_bp = 100;
  Use(c);
  EXPECT_EQ(MirrorsAfterGet("/api/a"), 1u);
  nlohmann::json pause = runtime_->StatsJson()["api"]["cpu_pressure_pause"];
  EXPECT_EQ(pause["admitted"], 1.0);
  EXPECT_EQ(pause["pressure"], nullptr);
  EXPECT_THAT(pause["error"].get<std::string>(), ::testing::HasSubstr("cannot read"));
}

}  // namespace
}  // namespace sidecar::shadow
