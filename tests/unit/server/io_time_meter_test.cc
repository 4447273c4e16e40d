// io_time_meter counts the time a handler coroutine runs on the io thread, Kafka's request
// thread time: the time it waits (a timer, a parked request) is not counted, and work of other
// coroutines running while it waits is not counted either.
#include <gtest/gtest.h>

#include <chrono>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "../../../src/server/io_time_meter.h"

namespace gregor::server {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;

void spin(std::chrono::milliseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
  }
}

asio::awaitable<int> handler() {
  spin(20ms);
  asio::steady_timer t(co_await asio::this_coro::executor, 150ms);
  co_await t.async_wait(asio::use_awaitable);
  spin(20ms);
  co_return 7;
}

asio::awaitable<void> busy_neighbour() {
  asio::steady_timer t(co_await asio::this_coro::executor, 50ms);
  co_await t.async_wait(asio::use_awaitable);
  spin(60ms);  // runs while the metered handler waits
}

TEST(io_time_meter, counts_the_handlers_running_time_not_its_waits_nor_its_neighbours) {
  asio::io_context io;
  auto meter = std::make_shared<io_time_meter>();
  int result = 0;
  asio::co_spawn(io, busy_neighbour(), asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        result = co_await asio::co_spawn(metered_executor<decltype(ex)>(ex, meter), metered(handler(), meter),
                                         asio::use_awaitable);
      },
      asio::detached);
  io.run();
  EXPECT_EQ(result, 7);
  const double ms = double(meter->nanos()) / 1e6;
  EXPECT_GE(ms, 40.0);
  EXPECT_LT(ms, 95.0) << "the wait (150 ms) or the neighbour (60 ms) was counted";
}

TEST(io_time_meter, a_handler_that_never_suspends_is_counted_once) {
  asio::io_context io;
  auto meter = std::make_shared<io_time_meter>();
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        co_await asio::co_spawn(metered_executor<decltype(ex)>(ex, meter),
                                metered([]() -> asio::awaitable<int> {
                                  spin(10ms);
                                  co_return 1;
                                }(),
                                        meter),
                                asio::use_awaitable);
        spin(30ms);  // after the handler: not counted
      },
      asio::detached);
  io.run();
  const double ms = double(meter->nanos()) / 1e6;
  EXPECT_GE(ms, 10.0);
  EXPECT_LT(ms, 35.0);
}

}  // namespace
}  // namespace gregor::server
