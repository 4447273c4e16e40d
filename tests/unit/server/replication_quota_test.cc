// Reassignment throttles: the sampled byte rate and the throttled-replicas lists
// (server/replication_quota.h), and the KIP-392 read replica choice (read_replica_selector.h).
#include <gtest/gtest.h>

#include <climits>

#include "../../../src/server/read_replica_selector.h"
#include "../../../src/server/replication_quota.h"

namespace gregor::server {
namespace {

TEST(RateQuota, FirstBurstCountsAsSpreadOverTheMinimumWindow) {
  rate_quota q(1000, 11);
  q.record(1000000, 0);
  // Elapsed time is at least (11 - 1) whole windows: 1 MB in the first instant is 100 kB/s.
  EXPECT_DOUBLE_EQ(q.rate(0), 100000.0);
  EXPECT_DOUBLE_EQ(q.rate(5000), 100000.0);
  EXPECT_TRUE(q.exceeded(99999, 0));
  EXPECT_FALSE(q.exceeded(100000, 0));
}

TEST(RateQuota, NoBoundNeverExceeds) {
  rate_quota q;
  q.record(INT32_MAX, 0);
  EXPECT_FALSE(q.exceeded(INT64_MAX, 1));
  EXPECT_TRUE(q.exceeded(1, 1));
}

TEST(RateQuota, SteadyRateIsMeasuredOverTheWindows) {
  rate_quota q(1000, 11);
  // 50 kB every 100 ms = 500 kB/s for 30 s.
  for (int64_t t = 0; t < 30000; t += 100) q.record(50000, t);
  const double r = q.rate(30000);
  EXPECT_GT(r, 450000.0);
  EXPECT_LT(r, 560000.0);
  EXPECT_TRUE(q.exceeded(400000, 30000));
  EXPECT_FALSE(q.exceeded(600000, 30000));
}

TEST(RateQuota, OldSamplesExpireSoTheQuotaReopens) {
  rate_quota q(1000, 11);
  q.record(5000000, 0);
  EXPECT_TRUE(q.exceeded(100000, 1000));
  EXPECT_TRUE(q.exceeded(100000, 10999));
  // A sample older than 11 windows no longer counts.
  EXPECT_DOUBLE_EQ(q.rate(11000), 0.0);
  EXPECT_FALSE(q.exceeded(100000, 11000));
}

TEST(RateQuota, ThrottledCatchUpAveragesTheBound) {
  // A fetcher that takes 100 kB whenever the quota is not exceeded, checked every 100 ms, moves about
  // bound bytes per second over a long run (a burst of ~1 window's worth at most beyond it).
  const int64_t bound = 100000, chunk = 100000;
  rate_quota q(1000, 11);
  int64_t moved = 0;
  for (int64_t t = 0; t <= 120000; t += 100) {
    if (!q.exceeded(bound, t)) {
      q.record(chunk, t);
      moved += chunk;
    }
  }
  const double per_s = double(moved) / 120.0;
  EXPECT_LT(per_s, 1.3 * bound) << moved;
  EXPECT_GT(per_s, 0.6 * bound) << moved;
}

TEST(ThrottledReplicas, ListsAndWildcard) {
  EXPECT_TRUE(replica_throttled("*", 7, node_id(3)));
  EXPECT_TRUE(replica_throttled(" * ", 0, node_id(1)));
  EXPECT_FALSE(replica_throttled("", 0, node_id(1)));
  EXPECT_TRUE(replica_throttled("0:1,0:2,1:4", 0, node_id(2)));
  EXPECT_TRUE(replica_throttled("0:1, 0:2 ,1:4", 1, node_id(4)));
  EXPECT_FALSE(replica_throttled("0:1,0:2,1:4", 1, node_id(2)));
  EXPECT_FALSE(replica_throttled("0:1,0:2,1:4", 2, node_id(1)));
  EXPECT_FALSE(replica_throttled("0:x,:1,0", 0, node_id(1)));
  EXPECT_FALSE(replica_throttled("10:1", 1, node_id(1)));
}

TEST(ReadReplicaSelector, HighestLogEndOffsetWins) {
  std::vector<read_replica_candidate> c{{node_id(2), offset(90), 500}, {node_id(3), offset(100), 100},
                                       {node_id(4), offset(95), 900}};
  EXPECT_EQ(most_caught_up_replica(c), node_id(3));
}

TEST(ReadReplicaSelector, TiesGoToTheLatestCaughtUp) {
  std::vector<read_replica_candidate> c{{node_id(2), offset(100), 500}, {node_id(3), offset(100), 900},
                                        {node_id(4), offset(100), 700}};
  EXPECT_EQ(most_caught_up_replica(c), node_id(3));
  // Order of candidates does not matter.
  std::swap(c[0], c[1]);
  EXPECT_EQ(most_caught_up_replica(c), node_id(3));
}

TEST(ReadReplicaSelector, FullTiesGoToTheLowestIdAndNoneGivesNothing) {
  std::vector<read_replica_candidate> c{{node_id(5), offset(100), 900}, {node_id(3), offset(100), 900}};
  EXPECT_EQ(most_caught_up_replica(c), node_id(3));
  EXPECT_EQ(most_caught_up_replica({}), std::nullopt);
}

}  // namespace
}  // namespace gregor::server
