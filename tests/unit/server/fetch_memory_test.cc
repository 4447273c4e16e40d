// Proves the broker-wide account of consumer Fetch records in memory: leases count until their last
// copy is gone, what is available never goes below zero, and a lease outliving the account is safe.
#include <gtest/gtest.h>

#include <vector>

#include "../../../src/server/fetch_memory.h"

namespace gregor::server {
namespace {

TEST(fetch_memory, leases_count_until_released) {
  fetch_memory m(100);
  EXPECT_EQ(m.available(), 100u);
  auto a = m.lease(30);
  auto b = m.lease(50);
  EXPECT_EQ(m.in_use(), 80u);
  EXPECT_EQ(m.available(), 20u);
  auto copy = a;  // the response holds the lease as long as its buffers
  a.reset();
  EXPECT_EQ(m.in_use(), 80u);
  copy.reset();
  EXPECT_EQ(m.in_use(), 50u);
  b.reset();
  EXPECT_EQ(m.in_use(), 0u);
  EXPECT_EQ(m.available(), 100u);
}

TEST(fetch_memory, overcommitted_account_has_nothing_available) {
  fetch_memory m(100);
  auto big = m.lease(150);  // a first batch larger than what was left goes out once (min_one)
  EXPECT_EQ(m.available(), 0u);
  EXPECT_EQ(m.in_use(), 150u);
  big.reset();
  EXPECT_EQ(m.available(), 100u);
}

TEST(fetch_memory, a_grouped_lease_releases_all_its_parts) {
  fetch_memory m(100);
  std::vector<std::shared_ptr<const void>> parts{m.lease(10), m.lease(20)};
  std::shared_ptr<const void> whole = std::make_shared<std::vector<std::shared_ptr<const void>>>(std::move(parts));
  EXPECT_EQ(m.in_use(), 30u);
  whole.reset();
  EXPECT_EQ(m.in_use(), 0u);
}

TEST(fetch_memory, a_lease_may_outlive_the_account) {
  std::shared_ptr<const void> lease;
  {
    fetch_memory m(10);
    lease = m.lease(5);
  }
  lease.reset();  // no use after free (ASan would say)
}

}  // namespace
}  // namespace gregor::server
