// ip_connection_rates applies KIP-612's per-address connection_creation_rate as Kafka's
// ConnectionQuotas: a connection over the rate is refused (and not counted) with a throttle time
// bounded by one window, each address has its own rate, and idle addresses are forgotten.
#include <gtest/gtest.h>

#include "../../../src/net/ip_connection_rates.h"

namespace gregor::net::detail {
namespace {

TEST(ip_connection_rates, connections_over_the_rate_are_refused_for_at_most_a_window) {
  ip_connection_rates r(1000, 11);
  // 5/s over the 10 s minimum window: 50 connections at once are within it, the 51st is not.
  for (int i = 0; i < 50; ++i) ASSERT_EQ(r.record("10.0.0.1", 5, 0), 0) << i;
  const int64_t ms = r.record("10.0.0.1", 5, 0);
  EXPECT_GT(ms, 0);
  EXPECT_LE(ms, 1000);
  // The refused one was not counted: still refused, with the same throttle.
  EXPECT_EQ(r.record("10.0.0.1", 5, 0), ms);
  // Another address has its own rate.
  EXPECT_EQ(r.record("10.0.0.2", 5, 0), 0);
  // Once the rate is back under the quota (51 over 10.5 s), accepted again.
  EXPECT_EQ(r.record("10.0.0.1", 5, 1500), 0);
}

TEST(ip_connection_rates, a_higher_limit_accepts_what_a_lower_one_refused) {
  ip_connection_rates r(1000, 11);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(r.record("10.0.0.1", 1, 0), 0);
  EXPECT_GT(r.record("10.0.0.1", 1, 0), 0);
  EXPECT_EQ(r.record("10.0.0.1", 100, 0), 0);  // the quota changed (kafka-configs.sh --alter)
}

TEST(ip_connection_rates, idle_addresses_are_forgotten_and_their_number_is_bounded) {
  ip_connection_rates r(1000, 11, /*ips_max=*/2, /*expiry_ms=*/3600 * 1000);
  r.record("a", 5, 0);
  r.record("b", 5, 1);
  r.record("c", 5, 2);
  EXPECT_EQ(r.size(), 2u);
  r.record("d", 5, 2 * 3600 * 1000);
  EXPECT_EQ(r.size(), 1u);
}

}  // namespace
}  // namespace gregor::net::detail
