// Proves that Gregor's controller, metadata, replication and storage cores keep their safety
// properties (Raft's, metadata images that agree, leaders only from the ISR, one leader per leader
// epoch, no acknowledged write lost, no divergence below the high watermark) under a randomized
// nemesis, and that the cluster heals and takes writes again once the faults stop.
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "cluster_sim.h"

namespace gregor::cluster_sim {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr uint64_t default_seeds = 20;  // ASan (Debug in CI) is ~10x slower
#else
constexpr uint64_t default_seeds = 300;
#endif

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

TEST(cluster_simulation, every_seed_keeps_safety_and_heals_after_faults) {
  uint64_t seeds = env_u64("GREGOR_CLUSTER_SEEDS", default_seeds);
  uint64_t failures = 0;
  stats total;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    outcome o = run_seed(seed);
    total.writes_acked += o.counters.writes_acked;
    total.fencings += o.counters.fencings;
    total.leader_changes += o.counters.leader_changes;
    total.truncations += o.counters.truncations;
    total.crashes += o.counters.crashes;
    if (!o.ok) {
      ADD_FAILURE() << o.failure;  // prints seed=N and the replay command
      if (++failures >= 5) break;
    }
  }
  // The sweep exercised what it is for: acknowledged writes, fencing, failovers, truncations.
  if (seeds >= 50) {
    EXPECT_GT(total.writes_acked, int64_t(seeds * 30));
    EXPECT_GT(total.fencings, int64_t(seeds / 4));
    EXPECT_GT(total.leader_changes, int64_t(seeds));
    EXPECT_GT(total.truncations, 0);
    EXPECT_GT(total.crashes, int64_t(seeds));
  }
}

TEST(cluster_simulation, replays_one_seed_from_GREGOR_CLUSTER_SEED) {
  uint64_t seed = env_u64("GREGOR_CLUSTER_SEED", 7);
  outcome o = run_seed(seed);
  EXPECT_TRUE(o.ok) << o.failure;
  EXPECT_GT(o.counters.writes_acked, 0);
  // Deterministic: the same seed runs the same way.
  outcome again = run_seed(seed);
  EXPECT_EQ(again.counters.messages, o.counters.messages);
  EXPECT_EQ(again.counters.writes_acked, o.counters.writes_acked);
  EXPECT_EQ(again.counters.metadata_offsets, o.counters.metadata_offsets);
}

TEST(cluster_simulation, a_fault_free_cluster_elects_once_and_acknowledges_writes) {
  options opts;
  opts.faults = false;
  opts.fault_ms = 8000;
  outcome o = run(42, opts);
  ASSERT_TRUE(o.ok) << o.failure;
  EXPECT_EQ(o.counters.controller_elections, 1);
  EXPECT_EQ(o.counters.fencings, 0);
  EXPECT_EQ(o.counters.truncations, 0);
  EXPECT_GT(o.counters.writes_acked, 100);
  // Only the first writes, while the ISR still grows to min.insync.replicas, may be refused.
  EXPECT_GE(o.counters.writes_acked * 10, o.counters.writes_sent * 9);
}

// The checker finds what Gregor's server glue did before it was fixed (see cluster_sim.h and
// README.md): a broker acting on its metadata image before it has applied its own registration,
// and a leader dropping its pending ISR on an AlterPartition error, each lose an acknowledged
// write on a known seed (moved from 139 and 922 when the simulated controller began deferring
// answers without records, and from 323 and 1058 when the bootstrap metadata gained
// transaction.version). Pinned seeds: a change of the simulation may move them (search with `cluster_sim
// --no-metadata-catch-up --seeds 1000`, `--alter-partition-drops-pending`).
TEST(cluster_simulation, finds_the_lost_write_of_publishing_metadata_before_the_registration) {
  options opts = options_for_seed(856);
  opts.metadata_catch_up = false;
  outcome o = run(856, opts);
  EXPECT_FALSE(o.ok);
  EXPECT_NE(o.failure.find("acknowledged write lost"), std::string::npos) << o.failure;
}

TEST(cluster_simulation, finds_the_lost_write_of_dropping_a_pending_isr_on_an_error) {
  options opts = options_for_seed(5268);
  opts.alter_partition_keeps_pending = false;
  outcome o = run(5268, opts);
  EXPECT_FALSE(o.ok);
  EXPECT_NE(o.failure.find("acknowledged write lost"), std::string::npos) << o.failure;
}

}  // namespace
}  // namespace gregor::cluster_sim
