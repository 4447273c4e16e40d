// Proves the high watermark rule: it follows the log end offset while this broker is the only ISR
// member, waits for the slowest in-sync follower otherwise, and never moves backwards.
#include <filesystem>

#include <gtest/gtest.h>

#include "gregor/protocol/record_batch.h"
#include "gregor/replication/partition.h"
#include "gregor/storage/log_manager.h"

namespace gregor::replication {
namespace {

struct fixture {
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("gregor-repl-" + std::to_string(::getpid()) + "-" +
                               std::to_string(reinterpret_cast<uintptr_t>(this)));
  manual_clock clk;
  std::unique_ptr<storage::log_manager> logs;
  storage::partition_log* log = nullptr;

  fixture() {
    std::filesystem::remove_all(dir);
    logs = storage::log_manager::open(dir, clk).value();
    log = logs->open_partition(topic_partition{"t", partition_id{0}}, uuid::random(), {}).value();
  }
  ~fixture() {
    logs.reset();
    std::filesystem::remove_all(dir);
  }
  static std::vector<uint8_t> batch(int records) {
    std::vector<protocol::record_input> in(records);
    for (auto& r : in) r.value = "v";
    return protocol::build_batch(in, {});
  }
};

TEST(partition, high_watermark_follows_log_end_with_a_single_replica) {
  fixture f;
  partition p(*f.log, node_id{1}, {leader_epoch{0}, node_id{1}, {node_id{1}}, {node_id{1}}});
  EXPECT_TRUE(p.is_leader());
  EXPECT_EQ(p.high_watermark(), offset{0});
  auto b = fixture::batch(3);
  ASSERT_TRUE(p.append(b));
  EXPECT_EQ(p.high_watermark(), offset{3});
  EXPECT_EQ(p.last_stable_offset(), offset{3});
}

// Found by the cluster simulation: a restarted broker replaying its metadata log led the partition
// again in an old epoch and appended after its followers' newer epoch, leaving a tail no
// diverging-epoch check could find; and, answering a follower from its later-epoch log, made it
// cut acknowledged records.
TEST(partition, a_leader_never_appends_in_an_epoch_older_than_its_log_holds) {
  fixture f;
  replica_set rs{leader_epoch{2}, node_id{1}, {node_id{1}}, {node_id{1}}};
  partition p(*f.log, node_id{1}, rs);
  auto b = fixture::batch(2);
  ASSERT_TRUE(p.append(b));
  p.update_replicas({leader_epoch{1}, node_id{1}, {node_id{1}}, {node_id{1}}});  // stale metadata
  EXPECT_FALSE(p.is_leader());  // nor does it serve followers or propose an ISR
  EXPECT_TRUE(p.stale_leader_epoch());
  EXPECT_FALSE(p.isr_change(0, 1000));
  auto c = fixture::batch(1);
  EXPECT_FALSE(p.append(c));
  EXPECT_EQ(f.log->log_end_offset(), offset{2});
  p.update_replicas({leader_epoch{3}, node_id{1}, {node_id{1}}, {node_id{1}}});
  EXPECT_TRUE(p.is_leader());
  auto d = fixture::batch(1);
  EXPECT_TRUE(p.append(d));
  EXPECT_EQ(f.log->log_end_offset(), offset{3});
}

// Found by the cluster simulation: a follower whose newest epoch (5) the leader lacks, and whose
// largest epoch below the leader's answer (4) is an older one (2), must cut at the end of that
// older epoch; cutting at min(leader's end, log end) cut nothing and it fetched and "truncated"
// forever.
TEST(partition, follower_truncation_falls_back_to_the_end_of_its_own_older_epoch) {
  fixture f;
  auto b1 = fixture::batch(1), b2 = fixture::batch(1), b3 = fixture::batch(1);
  ASSERT_TRUE(f.log->append(b1, leader_epoch{2}));
  ASSERT_TRUE(f.log->append(b2, leader_epoch{2}));
  ASSERT_TRUE(f.log->append(b3, leader_epoch{5}));  // log: e2 e2 e5, end 3
  EXPECT_EQ(follower_truncation_offset(*f.log, leader_epoch{4}, offset{5}), offset{2});
  EXPECT_EQ(follower_truncation_offset(*f.log, leader_epoch{2}, offset{1}), offset{1});
  EXPECT_EQ(follower_truncation_offset(*f.log, leader_epoch{2}, offset{9}), offset{2});
  EXPECT_EQ(follower_truncation_offset(*f.log, leader_epoch{5}, offset{9}), offset{3});
  EXPECT_EQ(follower_truncation_offset(*f.log, leader_epoch{1}, offset{0}), offset{0});
}

TEST(partition, high_watermark_waits_for_the_slowest_in_sync_follower) {
  fixture f;
  replica_set rs{leader_epoch{2}, node_id{1}, {node_id{1}, node_id{2}, node_id{3}},
                 {node_id{1}, node_id{2}, node_id{3}}};
  partition p(*f.log, node_id{1}, rs);
  auto b = fixture::batch(5);
  ASSERT_TRUE(p.append(b));
  EXPECT_EQ(p.high_watermark(), offset{0});
  p.update_follower_end_offset(node_id{2}, offset{5});
  EXPECT_EQ(p.high_watermark(), offset{0});
  p.update_follower_end_offset(node_id{3}, offset{4});
  EXPECT_EQ(p.high_watermark(), offset{4});
  // A follower reporting less (after a restart) does not move the high watermark back.
  p.update_follower_end_offset(node_id{3}, offset{1});
  EXPECT_EQ(p.high_watermark(), offset{4});
}

TEST(partition, follower_replica_is_not_leader) {
  fixture f;
  partition p(*f.log, node_id{2}, {leader_epoch{0}, node_id{1}, {node_id{1}, node_id{2}}, {node_id{1}}});
  EXPECT_FALSE(p.is_leader());
}

replica_set three(leader_epoch e, std::vector<node_id> isr, int32_t partition_epoch = 0) {
  return {e, node_id{1}, {node_id{1}, node_id{2}, node_id{3}}, std::move(isr), partition_epoch};
}

TEST(partition, a_follower_silent_past_the_lag_bound_is_dropped_from_the_isr) {
  fixture f;
  partition p(*f.log, node_id{1}, three(leader_epoch{1}, {node_id{1}, node_id{2}, node_id{3}}), /*now_ms=*/1000);
  auto b = fixture::batch(4);
  ASSERT_TRUE(p.append(b));
  // Follower 2 keeps up, follower 3 never fetches again.
  EXPECT_TRUE(p.on_follower_fetch(node_id{2}, offset{4}, 2000) == false);  // 3 still holds the HW
  EXPECT_EQ(p.isr_change(1000 + 30000, 30000), std::nullopt) << "exactly at the bound is not lagging";
  p.on_follower_fetch(node_id{2}, offset{4}, 31000);
  auto next = p.isr_change(31001, 30000);
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, (std::vector<node_id>{node_id{1}, node_id{2}}));
  // While the change is pending nothing else is proposed, and the HW still waits for 3.
  p.set_pending_isr(*next);
  EXPECT_EQ(p.isr_change(40000, 30000), std::nullopt);
  EXPECT_EQ(p.high_watermark(), offset{0});
  // The controller committed it: a new partition epoch in the metadata.
  p.update_replicas(three(leader_epoch{1}, {node_id{1}, node_id{2}}, 1), 40000);
  EXPECT_FALSE(p.isr_change_pending());
  EXPECT_EQ(p.high_watermark(), offset{4});
}

TEST(partition, a_follower_that_reaches_the_high_watermark_rejoins_the_isr) {
  fixture f;
  partition p(*f.log, node_id{1}, three(leader_epoch{1}, {node_id{1}, node_id{2}}), 0);
  auto b = fixture::batch(6);
  ASSERT_TRUE(p.append(b));
  p.on_follower_fetch(node_id{2}, offset{6}, 10);
  EXPECT_EQ(p.high_watermark(), offset{6});
  p.on_follower_fetch(node_id{3}, offset{2}, 20);
  EXPECT_EQ(p.isr_change(30, 30000), std::nullopt) << "3 is behind the high watermark";
  p.on_follower_fetch(node_id{3}, offset{6}, 40);
  auto next = p.isr_change(50, 30000);
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, (std::vector<node_id>{node_id{1}, node_id{2}, node_id{3}}));
}

// KIP-392's tie-break reads this: a follower is caught up when it fetches from the leader's log end
// offset, or from the log end offset the leader had at its previous fetch (then as of that fetch).
TEST(partition, the_leader_tracks_when_each_follower_was_last_caught_up) {
  fixture f;
  partition p(*f.log, node_id{1}, three(leader_epoch{1}, {node_id{1}}), 0);
  EXPECT_EQ(p.follower_last_caught_up_ms(node_id{2}), std::nullopt);
  auto b = fixture::batch(6);
  ASSERT_TRUE(p.append(b));
  p.on_follower_fetch(node_id{2}, offset{6}, 100);
  p.on_follower_fetch(node_id{3}, offset{2}, 100);
  EXPECT_EQ(p.follower_last_caught_up_ms(node_id{2}), 100);
  EXPECT_EQ(p.follower_last_caught_up_ms(node_id{3}), 0);
  auto more = fixture::batch(2);
  ASSERT_TRUE(p.append(more));
  // 3 reaches the end the leader had at its previous fetch (6 < 8 now): caught up as of then.
  p.on_follower_fetch(node_id{3}, offset{6}, 200);
  EXPECT_EQ(p.follower_last_caught_up_ms(node_id{3}), 100);
  p.on_follower_fetch(node_id{2}, offset{8}, 300);
  EXPECT_EQ(p.follower_last_caught_up_ms(node_id{2}), 300);
}

TEST(partition, a_new_leader_term_forgets_follower_progress_and_keeps_its_high_watermark) {
  fixture f;
  partition p(*f.log, node_id{1}, three(leader_epoch{1}, {node_id{1}, node_id{2}, node_id{3}}), 0);
  auto b = fixture::batch(3);
  ASSERT_TRUE(p.append(b));
  p.on_follower_fetch(node_id{2}, offset{3}, 1);
  p.on_follower_fetch(node_id{3}, offset{3}, 1);
  EXPECT_EQ(p.high_watermark(), offset{3});
  p.update_replicas(three(leader_epoch{2}, {node_id{1}, node_id{2}, node_id{3}}, 1), 100);
  EXPECT_EQ(p.follower_end_offset(node_id{2}), std::nullopt);
  EXPECT_EQ(p.high_watermark(), offset{3});
  // ISR members start caught up in the new term: no shrink before the lag bound.
  EXPECT_EQ(p.isr_change(100 + 30000, 30000), std::nullopt);
}

TEST(partition, a_follower_takes_the_leaders_high_watermark_up_to_its_own_log_end) {
  fixture f;
  partition p(*f.log, node_id{2}, {leader_epoch{1}, node_id{1}, {node_id{1}, node_id{2}}, {node_id{1}, node_id{2}}});
  auto b = fixture::batch(2);
  ASSERT_TRUE(f.log->append(b, leader_epoch{1}));
  p.set_follower_high_watermark(offset{10});
  EXPECT_EQ(p.high_watermark(), offset{2});
  p.set_follower_high_watermark(offset{1});
  EXPECT_EQ(p.high_watermark(), offset{1});
  EXPECT_EQ(p.isr_change(1000000, 30000), std::nullopt) << "followers never propose ISR changes";
}

}  // namespace
}  // namespace gregor::replication

namespace gregor::replication {
namespace {

// replication-offset-checkpoint: a restarted leader keeps the high watermark it had, instead of
// waiting for its followers to report again; a value beyond the log is cut to the log end.
TEST(partition, a_restarted_leader_restores_its_checkpointed_high_watermark) {
  fixture f;
  const topic_partition tp{"t", partition_id{0}};
  replica_set rs{leader_epoch{1}, node_id{1}, {node_id{1}, node_id{2}}, {node_id{1}, node_id{2}}};
  {
    partition p(*f.log, node_id{1}, rs);
    auto b = fixture::batch(5);
    ASSERT_TRUE(p.append(b));
    p.update_follower_end_offset(node_id{2}, offset{4});
    ASSERT_EQ(p.high_watermark(), offset{4});
    ASSERT_TRUE(f.logs->checkpoint_high_watermarks({{tp, p.high_watermark().value()}}));
  }
  const uuid topic_id = f.log->topic_id();
  ASSERT_TRUE(f.logs->close_all());
  f.logs.reset();
  f.logs = storage::log_manager::open(f.dir, f.clk).value();
  ASSERT_EQ(f.logs->checkpointed_high_watermark(tp), std::optional<int64_t>(4));
  auto* log = f.logs->open_partition(tp, topic_id, {}).value();
  partition p(*log, node_id{1}, rs);
  EXPECT_EQ(p.high_watermark(), offset{0}) << "without the checkpoint the follower's offset is unknown";
  p.restore_high_watermark(offset{4});
  EXPECT_EQ(p.high_watermark(), offset{4});
  p.update_follower_end_offset(node_id{2}, offset{2});
  EXPECT_EQ(p.high_watermark(), offset{4}) << "never backwards";
  p.restore_high_watermark(offset{99});
  EXPECT_EQ(p.high_watermark(), offset{5}) << "never beyond the log end";
}

}  // namespace
}  // namespace gregor::replication
