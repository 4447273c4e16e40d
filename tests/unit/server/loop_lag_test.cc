// Proves loop_lag: a handler that holds the io thread shows up in gregor_io_loop_lag_seconds as a
// lag about as long as the hold, and stop() leaves nothing armed.
#include "../../../src/server/loop_lag.h"

#include <thread>

#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

namespace gregor::server {
namespace {

using namespace std::chrono_literals;

// Observations in buckets whose upper bound is at least `seconds`.
uint64_t at_least(const metrics::histogram& h, double seconds) {
  uint64_t n = 0;
  for (size_t i = 0; i <= h.upper_bounds().size(); ++i)
    if (i == h.upper_bounds().size() || h.upper_bounds()[i] >= seconds) n += h.bucket_count(i);
  return n;
}

// Runs the loop until the histogram holds `count` observations (false after 60 s without).
bool run_until(boost::asio::io_context& io, const metrics::histogram& h, uint64_t count) {
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (h.count() < count && std::chrono::steady_clock::now() < deadline) io.run_one_for(100ms);
  return h.count() >= count;
}

TEST(loop_lag, a_handler_holding_the_io_thread_is_measured) {
  boost::asio::io_context io;
  metrics::registry reg;
  loop_lag lag(io, reg, 5ms, 100ms);
  auto& h = reg.histogram("gregor_io_loop_lag_seconds", "", {}, loop_lag::buckets());
  lag.start();
  ASSERT_TRUE(run_until(io, h, 3)) << "no lag observed in 60 s";
  const uint64_t before = h.count(), late_before = at_least(h, 0.25);
  // The hold is what is measured (the io thread busy), not a wait for a condition.
  boost::asio::post(io, [] { std::this_thread::sleep_for(300ms); });
  ASSERT_TRUE(run_until(io, h, before + 2)) << "no lag observed in 60 s";
  EXPECT_GE(at_least(h, 0.25), late_before + 1) << "the 300 ms hold was not measured";
  lag.stop();
  io.run();  // the cancelled wait completes; nothing is armed again
  EXPECT_TRUE(io.stopped());
}

}  // namespace
}  // namespace gregor::server
