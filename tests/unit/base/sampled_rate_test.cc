// sampled_rate is Kafka's Rate over a WindowedSum: the rate over the retained windows, a first
// burst spread over (samples - 1) windows, old samples forgotten, and QuotaUtils' throttle time.
#include <gtest/gtest.h>

#include "gregor/base/sampled_rate.h"

namespace gregor {
namespace {

TEST(sampled_rate, a_first_burst_counts_as_spread_over_samples_minus_one_windows) {
  sampled_rate r(1000, 11);
  r.record(1000, 0);
  EXPECT_EQ(r.window_size_ms(0), 10000);
  EXPECT_DOUBLE_EQ(r.rate(0), 100.0);
  EXPECT_EQ(r.window_size_ms(500), 10500);  // half a window in: still ten whole windows added
}

TEST(sampled_rate, a_steady_stream_measures_its_rate_once_the_windows_are_full) {
  sampled_rate r(1000, 11);
  int64_t now = 0;
  for (; now < 30000; now += 100) r.record(50, now);  // 500 per second
  EXPECT_NEAR(r.rate(now), 500.0, 30.0);
  EXPECT_GE(r.window_size_ms(now), 10000);
  EXPECT_LE(r.window_size_ms(now), 11000);
}

TEST(sampled_rate, samples_without_events_for_samples_windows_are_forgotten) {
  sampled_rate r(1000, 11);
  r.record(5000, 0);
  EXPECT_GT(r.rate(1000), 0.0);
  EXPECT_DOUBLE_EQ(r.total(11000), 0.0);
  EXPECT_DOUBLE_EQ(r.rate(11000), 0.0);
}

TEST(sampled_rate, throttle_time_is_the_time_for_the_rate_to_fall_back_to_the_bound) {
  sampled_rate r(1000, 11);
  // 2000 units at once: rate 200/s over the 10 s minimum window; bound 100/s.
  EXPECT_EQ(r.record_and_throttle_ms(2000, 100, 0), 10000);  // (200 - 100) / 100 * 10 s
  sampled_rate within(1000, 11);
  EXPECT_EQ(within.record_and_throttle_ms(900, 100, 0), 0);
  EXPECT_EQ(within.record_and_throttle_ms(100, 100, 0), 0);  // exactly at the bound is acceptable
  EXPECT_GT(within.record_and_throttle_ms(1, 100, 0), 0);
}

TEST(sampled_rate, a_negative_record_takes_back_a_value) {
  sampled_rate r(1000, 11);
  r.record(3000, 0);
  r.record(-3000, 0);
  EXPECT_DOUBLE_EQ(r.total(0), 0.0);
  EXPECT_EQ(r.throttle_ms(100, 0), 0);
}

TEST(sampled_rate, a_client_that_waits_its_throttle_time_is_within_the_bound_again) {
  sampled_rate r(1000, 11);
  int64_t now = 0;
  double sent = 0;
  // A client sending 1000-unit requests as soon as it is allowed, for a minute, at bound 500/s.
  while (now < 60000) {
    const int64_t wait = r.record_and_throttle_ms(1000, 500, now);
    sent += 1000;
    now += std::max<int64_t>(wait, 1);
  }
  EXPECT_NEAR(sent / 60.0, 500.0, 500.0 * 0.25);  // the long-run rate is about the bound
}

}  // namespace
}  // namespace gregor
