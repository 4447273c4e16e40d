// Proves the replication health numbers /metrics reports follow Kafka's definitions: under-replicated
// and under-min-ISR partitions count only what this broker leads (min ISR capped at the replication
// factor), offline partitions are those without a leader, ISR shrinks and expansions are counted
// only within one leadership of this broker, and a follower's lag is the leader's high watermark
// minus its log end offset.
#include <filesystem>

#include <gtest/gtest.h>

#include "gregor/protocol/record_batch.h"
#include "gregor/storage/log_manager.h"
#include "../../../src/server/replication_metrics.h"

namespace gregor::server {
namespace {

const node_id n1{1}, n2{2}, n3{3};

controller::partition_info part(int32_t id, node_id leader, std::vector<node_id> replicas, std::vector<node_id> isr) {
  controller::partition_info p;
  p.id = partition_id{id};
  p.leader = leader;
  p.replicas = std::move(replicas);
  p.isr = std::move(isr);
  return p;
}

std::map<std::string, controller::topic_info> image_topics() {
  std::map<std::string, controller::topic_info> topics;
  auto& a = topics["a"];
  a.name = "a";
  a.partitions.push_back(part(0, n1, {n1, n2, n3}, {n1, n2, n3}));  // healthy, led here
  a.partitions.push_back(part(1, n1, {n1, n2, n3}, {n1, n2}));      // under-replicated, at min ISR 2
  a.partitions.push_back(part(2, n1, {n1, n2, n3}, {n1}));          // under-replicated and under min ISR
  a.partitions.push_back(part(3, n2, {n1, n2, n3}, {n2}));          // led elsewhere: not ours to count
  a.partitions.push_back(part(4, no_node, {n1, n2, n3}, {n3}));     // offline
  auto& b = topics["b"];
  b.name = "b";
  b.partitions.push_back(part(0, n1, {n1}, {n1}));  // RF 1: min ISR 2 is capped at 1
  return topics;
}

TEST(replication_metrics, counts_partitions_this_broker_leads_and_leaderless_ones) {
  const auto h = partition_health_of(image_topics(), n1, [](const std::string&) { return 2; });
  EXPECT_EQ(h.under_replicated, 2);
  EXPECT_EQ(h.under_min_isr, 1);
  EXPECT_EQ(h.offline, 1);
}

TEST(replication_metrics, another_broker_sees_only_what_it_leads) {
  const auto h = partition_health_of(image_topics(), n2, [](const std::string&) { return 2; });
  EXPECT_EQ(h.under_replicated, 1);
  EXPECT_EQ(h.under_min_isr, 1);
  EXPECT_EQ(h.offline, 1);
}

TEST(replication_metrics, min_isr_is_per_topic) {
  const auto h = partition_health_of(image_topics(), n1,
                                     [](const std::string& t) { return t == "a" ? 1 : 3; });
  EXPECT_EQ(h.under_min_isr, 0);
}

replication::replica_set rs(int32_t epoch, node_id leader, std::vector<node_id> isr) {
  return replication::replica_set{leader_epoch{epoch}, leader, {n1, n2, n3}, std::move(isr), 0};
}

TEST(replication_metrics, isr_shrink_and_expand_of_a_led_partition) {
  auto shrink = isr_change_of(rs(4, n1, {n1, n2, n3}), rs(4, n1, {n1, n2}), n1);
  EXPECT_EQ(shrink.shrinks, 1);
  EXPECT_EQ(shrink.expands, 0);
  auto expand = isr_change_of(rs(4, n1, {n1, n2}), rs(4, n1, {n1, n2, n3}), n1);
  EXPECT_EQ(expand.shrinks, 0);
  EXPECT_EQ(expand.expands, 1);
  auto same = isr_change_of(rs(4, n1, {n1, n2}), rs(4, n1, {n2, n1}), n1);
  EXPECT_EQ(same.shrinks + same.expands, 0);
}

TEST(replication_metrics, isr_changes_outside_one_leadership_of_this_broker_are_not_counted) {
  // A follower's view of the leader's ISR change.
  auto follower = isr_change_of(rs(4, n2, {n1, n2, n3}), rs(4, n2, {n2}), n1);
  EXPECT_EQ(follower.shrinks + follower.expands, 0);
  // A new leader epoch (election) is not an ISR change of this leadership.
  auto election = isr_change_of(rs(4, n1, {n1, n2, n3}), rs(5, n1, {n1}), n1);
  EXPECT_EQ(election.shrinks + election.expands, 0);
  // Leadership moving away.
  auto moved = isr_change_of(rs(4, n1, {n1, n2, n3}), rs(5, n2, {n2, n3}), n1);
  EXPECT_EQ(moved.shrinks + moved.expands, 0);
}

struct log_fixture {
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("gregor-replmetrics-" + std::to_string(::getpid()) + "-" +
                               std::to_string(reinterpret_cast<uintptr_t>(this)));
  manual_clock clk;
  std::unique_ptr<storage::log_manager> logs;
  storage::partition_log* log = nullptr;

  log_fixture() {
    std::filesystem::remove_all(dir);
    logs = storage::log_manager::open(dir, clk).value();
    log = logs->open_partition(topic_partition{"t", partition_id{0}}, uuid::random(), {}).value();
  }
  ~log_fixture() {
    logs.reset();
    std::filesystem::remove_all(dir);
  }
};

TEST(replication_metrics, follower_lag_is_leader_high_watermark_minus_log_end) {
  log_fixture f;
  replication::partition p(*f.log, n1, rs(1, n2, {n1, n2, n3}));
  EXPECT_FALSE(follower_lag(p).has_value()) << "no fetch yet";
  p.set_follower_high_watermark(offset{5});
  EXPECT_EQ(follower_lag(p), 5);
  std::vector<protocol::record_input> in(3);
  for (auto& r : in) r.value = "v";
  auto batch = protocol::build_batch(in, {});
  ASSERT_TRUE(f.log->append_with_offsets(batch));
  p.set_follower_high_watermark(offset{5});
  EXPECT_EQ(follower_lag(p), 2);
  p.set_follower_high_watermark(offset{2});  // a leader behind us (truncation pending): never negative
  EXPECT_EQ(follower_lag(p), 0);
}

TEST(replication_metrics, a_leader_has_no_follower_lag) {
  log_fixture f;
  replication::partition p(*f.log, n1, rs(1, n1, {n1, n2, n3}));
  p.set_follower_high_watermark(offset{5});
  EXPECT_FALSE(follower_lag(p).has_value());
}

TEST(replication_metrics, a_new_leadership_forgets_the_old_leaders_high_watermark) {
  log_fixture f;
  replication::partition p(*f.log, n1, rs(1, n2, {n1, n2, n3}));
  p.set_follower_high_watermark(offset{5});
  p.update_replicas(rs(2, n3, {n1, n3}));
  EXPECT_FALSE(follower_lag(p).has_value());
}

}  // namespace
}  // namespace gregor::server
