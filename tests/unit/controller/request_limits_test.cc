// Proves Kafka's per-request partition limit as Gregor counts it (ReplicationControlManager
// .validateTotalNumberOfPartitions): assignments count for their size, -1 for the broker default,
// non-positive counts for nothing; over 10,000 in all is excessive.
#include <gtest/gtest.h>

#include "gregor/controller/request_limits.h"

namespace gregor::controller {
namespace {

TEST(request_limits, topics_count_as_kafka_counts_them) {
  EXPECT_EQ(requested_partitions(12, 0, 1), 12);
  EXPECT_EQ(requested_partitions(-1, 0, 3), 3);       // the broker's num.partitions
  EXPECT_EQ(requested_partitions(0, 0, 3), 0);        // refused on its own (INVALID_PARTITIONS)
  EXPECT_EQ(requested_partitions(-5, 0, 3), 0);
  EXPECT_EQ(requested_partitions(-1, 7, 3), 7);       // explicit assignments: their count
  EXPECT_EQ(requested_partitions(1000000, 0, 1), 1000000);
}

TEST(request_limits, more_than_ten_thousand_in_all_is_excessive) {
  EXPECT_FALSE(excessive_partitions_per_request(0));
  EXPECT_FALSE(excessive_partitions_per_request(10000));
  EXPECT_TRUE(excessive_partitions_per_request(10001));
  // 2,000 topics of 10 partitions: refused whole, as one topic of 1,000,000.
  int64_t total = 0;
  for (int i = 0; i < 2000; ++i) total += requested_partitions(10, 0, 1);
  EXPECT_TRUE(excessive_partitions_per_request(total));
  EXPECT_EQ(excessive_partitions_message, "Excessively large number of partitions per request.");
}

}  // namespace
}  // namespace gregor::controller
