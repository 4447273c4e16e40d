// Proves long-polling fetches park until an append to one of their partitions (or their deadline,
// or shutdown) and that appends to other partitions do not wake them.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include "../../../src/server/fetch_waiters.h"

namespace gregor::server {
namespace asio = boost::asio;

namespace {
topic_partition tp(const char* t, int p) { return topic_partition{t, partition_id{p}}; }

// Runs `wait` for the given partitions with a long timeout, then calls `poke` after the waiter
// has parked; returns whether the waiter finished before the long timeout (and, in *how, why).
bool woken_by(std::function<void(fetch_waiters&)> poke, std::vector<topic_partition> tps,
              node_id replica = no_node, fetch_waiters::woken* how = nullptr) {
  asio::io_context io;
  fetch_waiters w(io);
  bool done = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    const auto why = co_await w.wait(tps, 60'000, replica);
    if (how) *how = why;
    done = true;
  }, asio::detached);
  asio::steady_timer poke_timer(io, std::chrono::milliseconds(20));
  poke_timer.async_wait([&](auto) { poke(w); });
  // Give up well before the waiter's own timeout: if it has not finished by then, it was not woken.
  asio::steady_timer give_up(io, std::chrono::seconds(1));
  give_up.async_wait([&](auto) { io.stop(); });
  while (!done && !io.stopped()) io.run_one();
  return done;
}
}  // namespace

TEST(fetch_waiters, append_to_a_watched_partition_wakes_the_fetch) {
  EXPECT_TRUE(woken_by([](fetch_waiters& w) { w.notify(tp("a", 1)); }, {tp("a", 0), tp("a", 1)}));
}

TEST(fetch_waiters, notify_all_wakes_every_fetch_at_shutdown) {
  EXPECT_TRUE(woken_by([](fetch_waiters& w) { w.notify_all(); }, {tp("a", 0)}));
}

TEST(fetch_waiters, append_elsewhere_does_not_wake_the_fetch) {
  EXPECT_FALSE(woken_by([](fetch_waiters& w) { w.notify(tp("b", 0)); }, {tp("a", 0)}));
}

TEST(fetch_waiters, a_new_partition_of_the_follower_ends_its_parked_fetch_as_replica_woken) {
  auto how = fetch_waiters::woken::data_or_timeout;
  EXPECT_TRUE(woken_by([](fetch_waiters& w) { w.notify_replica(node_id(2)); }, {tp("a", 0)}, node_id(2), &how));
  EXPECT_EQ(how, fetch_waiters::woken::replica);
}

TEST(fetch_waiters, an_append_wakes_a_follower_fetch_as_data) {
  auto how = fetch_waiters::woken::replica;
  EXPECT_TRUE(woken_by([](fetch_waiters& w) { w.notify(tp("a", 0)); }, {tp("a", 0)}, node_id(2), &how));
  EXPECT_EQ(how, fetch_waiters::woken::data_or_timeout);
}

TEST(fetch_waiters, another_replica_or_a_consumer_is_not_woken_by_notify_replica) {
  EXPECT_FALSE(woken_by([](fetch_waiters& w) { w.notify_replica(node_id(3)); }, {tp("a", 0)}, node_id(2)));
  EXPECT_FALSE(woken_by([](fetch_waiters& w) { w.notify_replica(node_id(2)); }, {tp("a", 0)}));
}

TEST(fetch_waiters, a_partition_is_awaited_until_the_follower_lists_it_or_it_expires) {
  asio::io_context io;
  fetch_waiters w(io);
  const node_id f2(2), f3(3);
  w.expect_join(f2, tp("a", 0), 1000);
  w.expect_join(f2, tp("a", 1), 1000);
  w.expect_join(f3, tp("a", 0), 1000);
  EXPECT_FALSE(w.awaiting_join(node_id(4), {}, 1000));
  EXPECT_TRUE(w.awaiting_join(f2, {tp("b", 0)}, 1001));
  EXPECT_TRUE(w.awaiting_join(f2, {tp("b", 0), tp("a", 0)}, 1002));  // a-1 still missing
  EXPECT_FALSE(w.awaiting_join(f2, {tp("a", 1)}, 1003));
  EXPECT_FALSE(w.awaiting_join(f2, {}, 1004));  // joined ones are forgotten
  // Follower 3 never lists a-0: it stops being awaited after join_expiry_ms.
  EXPECT_TRUE(w.awaiting_join(f3, {}, 1000 + fetch_waiters::join_expiry_ms - 1));
  EXPECT_FALSE(w.awaiting_join(f3, {}, 1000 + fetch_waiters::join_expiry_ms));
}

TEST(fetch_waiters, deadline_ends_the_wait) {
  asio::io_context io;
  fetch_waiters w(io);
  bool done = false;
  // GCC 12 rejects a braced initializer list inside a coroutine body: build the vector outside.
  std::vector<topic_partition> tps{tp("a", 0)};
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await w.wait(tps, 10);
    done = true;
  }, asio::detached);
  io.run_for(std::chrono::seconds(5));
  EXPECT_TRUE(done);
  EXPECT_EQ(w.parked(), 0u);
}

}  // namespace gregor::server
