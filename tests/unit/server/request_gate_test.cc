// request_gate: a connection's requests run concurrently until one is throttled; from then on one
// at a time, in arrival order, each after the throttle ran out.
#include <chrono>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "../../../src/server/request_gate.h"

namespace gregor::server {
namespace {
namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

// Spawns a request that enters with `ticket` and notes when it got in.
void start(asio::io_context& io, request_gate& g, uint64_t ticket, std::vector<uint64_t>& entered,
           std::vector<clock::time_point>* at = nullptr) {
  asio::co_spawn(io, [&g, ticket, &entered, at]() -> asio::awaitable<void> {
    co_await g.enter(ticket);
    entered.push_back(ticket);
    if (at) at->push_back(clock::now());
  }, asio::detached);
}

TEST(request_gate, requests_run_at_once_until_the_connection_is_throttled) {
  asio::io_context io;
  request_gate g;
  std::vector<uint64_t> entered;
  const uint64_t a = g.arrive(), b = g.arrive(), c = g.arrive();
  start(io, g, c, entered);
  start(io, g, b, entered);
  start(io, g, a, entered);
  io.run();
  EXPECT_EQ(entered, (std::vector<uint64_t>{c, b, a})) << "nothing waits for anything";
  g.leave(b, 0);
  g.leave(a, 0);
  g.leave(c, 0);
  EXPECT_FALSE(g.serial());
  EXPECT_TRUE(g.idle());
}

TEST(request_gate, once_throttled_requests_enter_one_at_a_time_in_arrival_order_after_the_throttle) {
  asio::io_context io;
  request_gate g;
  std::vector<uint64_t> entered;
  std::vector<clock::time_point> at;
  const uint64_t first = g.arrive();
  const uint64_t second = g.arrive();
  const uint64_t third = g.arrive();
  start(io, g, first, entered);
  io.run();
  io.restart();
  ASSERT_EQ(entered, (std::vector<uint64_t>{first}));
  const auto throttled_at = clock::now();
  g.leave(first, 100);  // its answer carried a 100 ms throttle
  EXPECT_TRUE(g.serial());
  EXPECT_FALSE(g.idle());
  // The third is started first; it still waits for the second, which waits for the throttle.
  start(io, g, third, entered, &at);
  start(io, g, second, entered, &at);
  io.poll();
  EXPECT_EQ(entered.size(), 1u) << "entered during the throttle";
  EXPECT_EQ(g.waiting(), 2u);
  // Run until the second got in (its timer ends the throttle); the third still waits for it.
  while (entered.size() < 2) io.run_one();
  EXPECT_EQ(entered, (std::vector<uint64_t>{first, second}));
  EXPECT_GE(at[0] - throttled_at, std::chrono::milliseconds(100));
  io.poll();
  EXPECT_EQ(entered.size(), 2u) << "the third entered before the second left";
  g.leave(second, 0);
  io.run();
  EXPECT_EQ(entered, (std::vector<uint64_t>{first, second, third}));
  g.leave(third, 0);
  EXPECT_EQ(g.waiting(), 0u);
}

TEST(request_gate, closing_lets_every_waiter_through) {
  asio::io_context io;
  request_gate g;
  std::vector<uint64_t> entered;
  const uint64_t first = g.arrive();
  const uint64_t second = g.arrive();
  g.leave(first, 3'600'000);  // an hour
  start(io, g, second, entered);
  io.poll();
  EXPECT_TRUE(entered.empty());
  g.close();
  io.run();
  EXPECT_EQ(entered, (std::vector<uint64_t>{second}));
}

TEST(request_gate, a_waiter_destroyed_unresumed_leaves_no_dangling_timer) {
  request_gate g;
  {
    asio::io_context io;
    std::vector<uint64_t> entered;
    const uint64_t first = g.arrive();
    const uint64_t second = g.arrive();
    g.leave(first, 3'600'000);
    start(io, g, second, entered);
    io.poll();
    EXPECT_EQ(g.waiting(), 1u);
  }  // the io_context goes with the waiting frame
  EXPECT_EQ(g.waiting(), 0u);
  g.leave(g.arrive(), 0);  // wakes nobody, touches nothing freed
}

}  // namespace
}  // namespace gregor::server
