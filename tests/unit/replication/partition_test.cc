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

}  // namespace
}  // namespace gregor::replication
