// Slowloris (issue 9, item 3): 2,000 loopback connections trickle a request head one byte at a
// time while a normal client keeps sending requests. The header timeout is a deadline from accept,
// not an inactivity timer, so trickling does not extend it: every attacker is answered 408 and cut
// off within the timeout (plus scheduling slack), nothing of theirs reaches the upstream, and every
// normal request succeeds meanwhile.
//
// Scaled to stay bounded: the attacker sends a byte every 5 s against the 10 s default
// header timeout (two bytes before the cut); here the timeout is 1 s and the attacker sends a byte
// every 250 ms, i.e. four times per timeout, which a per-read idle timer would never catch.

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/sidecar/http/edge_test_harness.h"

namespace sidecar::http {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
using testing::EdgeUnderTest;
using testing::RawConnection;

constexpr int kAttackers = 2000;
constexpr milliseconds kHeaderTimeout{1000};
constexpr milliseconds kTrickleInterval{250};
// Scheduling slack on a loaded 2-core machine: a cut-off later than timeout + slack fails.
constexpr milliseconds kSlack{2500};
constexpr milliseconds kNormalInterval{10};
constexpr std::string_view kTrickle = "GET /slow HTTP/1.1\r\nHost: h\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaa";

// Both ends of every connection live in this process (the listener and the clients).
bool RaiseFileLimit(rlim_t wanted, std::string* why) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    *why = "getrlimit failed";
    return false;
  }
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < wanted) {
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, rl.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &rl);
    ::getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < wanted) {
    *why = "RLIMIT_NOFILE hard limit " + std::to_string(rl.rlim_max) + " is below " +
           std::to_string(wanted);
    return false;
  }
  return true;
}

struct Attacker {
  std::unique_ptr<RawConnection> conn;
  Clock::time_point connected;
  Clock::time_point closed;
  size_t sent = 0;
  bool is_closed = false;
};

TEST(HttpSlowlorisTest, TwoThousandTricklingConnectionsAreCutOffWhileNormalTrafficFlows) {
  std::string why;
  if (!RaiseFileLimit(2 * kAttackers + 512, &why)) GTEST_SKIP() << why;

  HttpListener::Options options;
  options.header_timeout = kHeaderTimeout;
  options.body_timeout = kHeaderTimeout;
  auto edge = EdgeUnderTest::Start(std::move(options));
  ASSERT_TRUE(edge.ok()) << edge.status();
  const uint16_t port = (*edge)->port();

  // Normal traffic: a fresh connection per request, so accepting keeps working under the attack.
  std::atomic<bool> attack_over{false};
  std::atomic<int> normal_ok{0};
  std::atomic<int> normal_failed{0};
  std::atomic<int64_t> normal_max_ms{0};
  std::thread normal([&] {
    // Paced like real clients (about 100 requests/s): a tight loop would measure CPU contention
    // between the two test threads, not the listener.
    auto next = Clock::now();
    while (!attack_over.load()) {
      std::this_thread::sleep_until(next);
      next += kNormalInterval;
      const auto start = Clock::now();
      RawConnection conn(port);
      bool ok = conn.connected() && conn.Send("GET /normal HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
      if (ok) {
        auto response = conn.Read(start + milliseconds(3000));
        ok = response.has_value() && response->status == 200;
      }
      const int64_t ms = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
      if (ms > normal_max_ms.load()) normal_max_ms.store(ms);
      (ok ? normal_ok : normal_failed)++;
    }
  });

  // The attack: open all connections, each sending its first byte at once.
  std::vector<Attacker> attackers(kAttackers);
  int connect_failures = 0;
  int open = kAttackers;
  // Records the cut-offs of connections the server has closed (non-blocking).
  auto observe_closures = [&](size_t upto) {
    for (size_t i = 0; i < upto; ++i) {
      Attacker& a = attackers[i];
      if (!a.is_closed && a.conn->PollClosed()) {
        a.is_closed = true;
        a.closed = Clock::now();
        --open;
      }
    }
  };
  for (size_t i = 0; i < attackers.size(); ++i) {
    Attacker& a = attackers[i];
    // If connecting is slow (a loaded machine), the first connections' cut-offs are observed as
    // they happen rather than after the last connect.
    if (i % 100 == 0) observe_closures(i);
    a.conn = std::make_unique<RawConnection>(port);
    a.connected = Clock::now();
    if (!a.conn->connected()) {
      ++connect_failures;
      a.is_closed = true;
      --open;
      continue;
    }
    a.conn->Send(kTrickle.substr(0, 1));
    a.sent = 1;
  }
  ASSERT_EQ(connect_failures, 0);
  const int normal_before_cutoff = normal_ok.load();
  const milliseconds connect_phase =
      std::chrono::duration_cast<milliseconds>(Clock::now() - attackers.front().connected);

  // Trickle a byte per interval to every connection still open, until all are cut off or the
  // bound passes.
  const auto bound = Clock::now() + kHeaderTimeout + kSlack + milliseconds(1000);
  auto next_tick = Clock::now() + kTrickleInterval;
  while (open > 0 && Clock::now() < bound) {
    observe_closures(attackers.size());
    if (Clock::now() >= next_tick) {
      next_tick += kTrickleInterval;
      for (Attacker& a : attackers) {
        if (a.is_closed || a.sent >= kTrickle.size()) continue;
        a.conn->Send(kTrickle.substr(a.sent, 1));
        ++a.sent;
      }
    }
    // Wait for any attacker socket to become readable (a 408 or a FIN), at most until the next tick.
    std::vector<pollfd> fds;
    fds.reserve(open);
    for (const Attacker& a : attackers) {
      if (!a.is_closed) fds.push_back({a.conn->fd(), POLLIN, 0});
    }
    const auto wait = std::chrono::duration_cast<milliseconds>(next_tick - Clock::now());
    ::poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(1, wait.count())));
  }
  attack_over = true;
  normal.join();

  EXPECT_EQ(open, 0) << open << " trickling connections were still open "
                     << (kHeaderTimeout + kSlack).count() << " ms after the attack started";
  milliseconds slowest{0};
  size_t max_bytes_sent = 0;
  int answered_408 = 0;
  for (const Attacker& a : attackers) {
    if (!a.is_closed) continue;
    slowest = std::max(slowest, std::chrono::duration_cast<milliseconds>(a.closed - a.connected));
    max_bytes_sent = std::max(max_bytes_sent, a.sent);
    if (a.conn->received().rfind("HTTP/1.1 408 ", 0) == 0) ++answered_408;
  }
  EXPECT_LE(slowest.count(), (kHeaderTimeout + kSlack).count());
  EXPECT_EQ(answered_408, kAttackers) << "every trickler gets a 408 before the close";
  EXPECT_EQ((*edge)->Rejected("timeout"), kAttackers);

  // Normal traffic flowed during the attack, none failed, and only it reached the upstream.
  EXPECT_EQ(normal_failed.load(), 0);
  EXPECT_GT(normal_ok.load(), normal_before_cutoff) << "no normal request completed during the attack";
  EXPECT_EQ((*edge)->upstream.requests.load(), normal_ok.load());
  std::cout << "slowloris: " << kAttackers << " connections cut off, slowest after "
            << slowest.count() << " ms (" << max_bytes_sent << " bytes trickled at most); "
            << normal_ok.load() << " normal requests ok (" << normal_before_cutoff
            << " while the attackers connected, in " << connect_phase.count()
            << " ms), max latency " << normal_max_ms.load() << " ms\n";
}

}  // namespace
}  // namespace sidecar::http
