// Proves that the metadata store validates and persists topic changes as Kafka's records in
// KRaft's layout, replays them exactly after a reopen, truncates a torn log tail, converts the
// former GRGMETA file once, and guards the directory's cluster and node identity.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "gregor/controller/metadata_store.h"

using namespace gregor;
using namespace gregor::controller;

namespace {

class metadata_store_test : public ::testing::Test {
 protected:
  void SetUp() override {
    _dir = std::filesystem::temp_directory_path() /
           fmt::format("gregor_ctl_{}_{}", ::getpid(), ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(_dir);
  }
  void TearDown() override { std::filesystem::remove_all(_dir); }

  std::unique_ptr<metadata_store> open(node_id self = node_id(1), std::string cluster = "") {
    auto r = metadata_store::open(_dir, self, cluster, _clock);
    EXPECT_TRUE(r.has_value()) << (r.has_value() ? "" : r.error().message);
    return r.has_value() ? std::move(r).value() : nullptr;
  }
  std::filesystem::path log_file() const { return _dir / "__cluster_metadata-0" / "00000000000000000000.log"; }
  std::filesystem::path legacy_file() const { return _dir / "__cluster_metadata-0" / "metadata.log"; }

  std::filesystem::path _dir;
  manual_clock _clock;
};

}  // namespace

TEST_F(metadata_store_test, create_topic_assigns_id_partitions_and_leaders) {
  auto s = open();
  auto r = s->create_topic("orders", 3, 1, {{"retention.ms", "1000"}}, false);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const topic_info* t = r.value();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->name, "orders");
  EXPECT_FALSE(t->id.is_zero());
  ASSERT_EQ(t->partitions.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(t->partitions[i].id, partition_id(i));
    EXPECT_EQ(t->partitions[i].leader, node_id(1));
    EXPECT_EQ(t->partitions[i].leader_epoch, leader_epoch(0));
    EXPECT_EQ(t->partitions[i].replicas, std::vector<node_id>{node_id(1)});
    EXPECT_EQ(t->partitions[i].isr, std::vector<node_id>{node_id(1)});
  }
  EXPECT_EQ(t->configs.at("retention.ms"), "1000");
  EXPECT_FALSE(t->internal);
  EXPECT_EQ(s->image().topic(t->id), t);
  EXPECT_EQ(s->image().controller_id(), node_id(1));
}

TEST_F(metadata_store_test, validate_only_changes_nothing) {
  auto s = open();
  int64_t v = s->image().version();
  auto r = s->create_topic("orders", 3, 1, {}, true);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r.value(), nullptr);
  EXPECT_EQ(s->image().topic("orders"), nullptr);
  EXPECT_EQ(s->image().version(), v);
}

TEST_F(metadata_store_test, create_topic_refuses_bad_requests_with_kafka_errors) {
  auto s = open();
  ASSERT_TRUE(s->create_topic("orders", 1, 1, {}, false).has_value());
  EXPECT_EQ(s->create_topic("orders", 1, 1, {}, false).error().code, controller_errc::topic_already_exists);
  EXPECT_EQ(s->create_topic("bad name", 1, 1, {}, false).error().code, controller_errc::invalid_topic);
  EXPECT_EQ(s->create_topic("x", 0, 1, {}, false).error().code, controller_errc::invalid_partitions);
  EXPECT_EQ(s->create_topic("x", -1, 1, {}, false).error().code, controller_errc::invalid_partitions);
  EXPECT_EQ(s->create_topic("x", topic_partitions_max + 1, 1, {}, false).error().code, controller_errc::invalid_partitions);
  EXPECT_EQ(s->create_topic("x", 1, 0, {}, false).error().code, controller_errc::invalid_replication_factor);
  EXPECT_EQ(s->create_topic("x", 1, 2, {}, false).error().code, controller_errc::invalid_replication_factor);
  ASSERT_TRUE(s->create_topic("a.b", 1, 1, {}, false).has_value());
  EXPECT_EQ(s->create_topic("a_b", 1, 1, {}, false).error().code, controller_errc::invalid_topic);
}

TEST_F(metadata_store_test, replicas_round_robin_over_registered_brokers) {
  auto s = open();
  s->register_broker({node_id(1), "h1", 9092, std::nullopt});
  s->register_broker({node_id(2), "h2", 9092, std::nullopt});
  s->register_broker({node_id(3), "h3", 9092, std::string("r")});
  EXPECT_EQ(s->image().brokers().size(), 3u);
  auto r = s->create_topic("t", 6, 2, {}, false);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  std::map<int32_t, int> leaders;
  for (const auto& p : r.value()->partitions) {
    ASSERT_EQ(p.replicas.size(), 2u);
    EXPECT_NE(p.replicas[0], p.replicas[1]);
    EXPECT_EQ(p.leader, p.replicas[0]);
    leaders[p.leader.value()]++;
  }
  EXPECT_EQ(leaders.size(), 3u);
  for (auto& [id, n] : leaders) EXPECT_EQ(n, 2) << id;
  EXPECT_EQ(s->create_topic("u", 1, 4, {}, false).error().code, controller_errc::invalid_replication_factor);
}

TEST_F(metadata_store_test, create_delete_and_create_partitions_round_trip) {
  auto s = open();
  ASSERT_TRUE(s->create_topic("a", 1, 1, {}, false).has_value());
  ASSERT_TRUE(s->create_topic("b", 2, 1, {}, false).has_value());
  ASSERT_TRUE(s->create_partitions("a", 4, false).has_value());
  EXPECT_EQ(s->image().topic("a")->partitions.size(), 4u);
  EXPECT_EQ(s->image().topic("a")->partitions[3].id, partition_id(3));
  EXPECT_EQ(s->create_partitions("a", 3, false).error().code, controller_errc::invalid_partitions);
  EXPECT_EQ(s->create_partitions("a", 4, false).error().code, controller_errc::invalid_partitions);
  EXPECT_EQ(s->create_partitions("zz", 4, false).error().code, controller_errc::unknown_topic);
  ASSERT_TRUE(s->create_partitions("a", 9, true).has_value());
  EXPECT_EQ(s->image().topic("a")->partitions.size(), 4u);
  uuid b_id = s->image().topic("b")->id;
  ASSERT_TRUE(s->delete_topic("b").has_value());
  EXPECT_EQ(s->image().topic("b"), nullptr);
  EXPECT_EQ(s->image().topic(b_id), nullptr);
  EXPECT_EQ(s->delete_topic("b").error().code, controller_errc::unknown_topic);
  // A deleted name can be created again, with a new id.
  auto again = s->create_topic("b", 1, 1, {}, false);
  ASSERT_TRUE(again.has_value());
  EXPECT_NE(again.value()->id, b_id);
}

TEST_F(metadata_store_test, set_topic_configs_sets_and_removes_overrides) {
  auto s = open();
  ASSERT_TRUE(s->create_topic("t", 1, 1, {{"retention.ms", "1"}, {"cleanup.policy", "compact"}}, false).has_value());
  ASSERT_TRUE(s->set_topic_configs("t", {{"retention.ms", std::nullopt}, {"segment.ms", std::string("5")}}).has_value());
  EXPECT_EQ(s->image().topic("t")->configs,
            (std::map<std::string, std::string>{{"cleanup.policy", "compact"}, {"segment.ms", "5"}}));
  EXPECT_EQ(s->set_topic_configs("nope", {{"a", std::string("b")}}).error().code, controller_errc::unknown_topic);
}

TEST_F(metadata_store_test, reopen_replays_ids_configs_partitions_and_deletions) {
  uuid a_id;
  std::string cluster;
  int64_t version = 0;
  {
    auto s = open();
    cluster = s->image().cluster_id();
    a_id = s->create_topic("a", 2, 1, {{"retention.ms", "77"}}, false).value()->id;
    ASSERT_TRUE(s->create_topic("gone", 1, 1, {}, false).has_value());
    ASSERT_TRUE(s->create_partitions("a", 5, false).has_value());
    ASSERT_TRUE(s->set_topic_configs("a", {{"segment.ms", std::string("9")}}).has_value());
    ASSERT_TRUE(s->delete_topic("gone").has_value());
    ASSERT_TRUE(s->create_topic("__consumer_offsets", 3, 1, {{"cleanup.policy", "compact"}}, false).has_value());
    ASSERT_TRUE(s->change_partition("a", partition_id(1), node_id(1), leader_epoch(1), {node_id(1)}).has_value());
    // Kafka's PartitionChangeRecord can keep the epoch or start the next one, nothing else.
    EXPECT_FALSE(s->change_partition("a", partition_id(1), node_id(1), leader_epoch(7), {node_id(1)}).has_value());
    version = s->image().version();
  }
  auto s = open();
  EXPECT_EQ(s->image().cluster_id(), cluster);
  EXPECT_EQ(s->image().version(), version);
  ASSERT_EQ(s->image().topics().size(), 2u);
  const topic_info* a = s->image().topic("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->id, a_id);
  EXPECT_EQ(a->partitions.size(), 5u);
  EXPECT_EQ(a->partitions[1].leader_epoch, leader_epoch(1));
  EXPECT_EQ(a->partitions[1].partition_epoch, 1);
  EXPECT_EQ(a->configs, (std::map<std::string, std::string>{{"retention.ms", "77"}, {"segment.ms", "9"}}));
  EXPECT_EQ(s->image().topic("gone"), nullptr);
  EXPECT_TRUE(s->image().topic("__consumer_offsets")->internal);
  // And it keeps appending after the replayed records.
  ASSERT_TRUE(s->create_topic("c", 1, 1, {}, false).has_value());
  auto s2 = open();
  EXPECT_NE(s2->image().topic("c"), nullptr);
}

TEST_F(metadata_store_test, torn_tail_is_truncated_at_the_last_valid_batch) {
  uintmax_t good_size = 0;
  {
    auto s = open();
    ASSERT_TRUE(s->create_topic("kept", 2, 1, {}, false).has_value());
    good_size = std::filesystem::file_size(log_file());
    ASSERT_TRUE(s->create_topic("torn", 3, 1, {}, false).has_value());
  }
  // Cut the last batch in half, as a crash mid-write would.
  const uintmax_t full = std::filesystem::file_size(log_file());
  std::filesystem::resize_file(log_file(), good_size + (full - good_size) / 2);
  {
    auto s = open();
    EXPECT_NE(s->image().topic("kept"), nullptr);
    EXPECT_EQ(s->image().topic("torn"), nullptr);
    ASSERT_TRUE(s->create_topic("after", 1, 1, {}, false).has_value());
  }
  auto s = open();
  EXPECT_NE(s->image().topic("kept"), nullptr);
  EXPECT_NE(s->image().topic("after"), nullptr);
}

TEST_F(metadata_store_test, garbage_tail_is_truncated) {
  {
    auto s = open();
    ASSERT_TRUE(s->create_topic("kept", 1, 1, {}, false).has_value());
  }
  const uintmax_t good_size = std::filesystem::file_size(log_file());
  {
    std::ofstream f(log_file(), std::ios::binary | std::ios::app);
    f << std::string("\x00\x00\x00\x10garbagegarbagegarbage", 25);
  }
  auto s = open();
  EXPECT_NE(s->image().topic("kept"), nullptr);
  // The garbage is gone; what follows it is this start's LeaderChangeMessage batch.
  std::ifstream in(log_file(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), good_size);
  EXPECT_EQ(bytes.find("garbagegarbage"), std::string::npos);
}

TEST_F(metadata_store_test, foreign_file_is_refused_not_truncated) {
  std::filesystem::create_directories(legacy_file().parent_path());
  { std::ofstream(legacy_file()) << "this is not a metadata log"; }
  auto r = metadata_store::open(_dir, node_id(1), "", _clock);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, controller_errc::io_error);
  EXPECT_GT(std::filesystem::file_size(legacy_file()), 0u);
}

TEST_F(metadata_store_test, former_grgmeta_log_is_converted_once_into_kafkas_records) {
  const uuid a{0x11, 0x22};
  const uuid gone{0x33, 0x44};
  std::filesystem::create_directories(legacy_file().parent_path());
  {
    std::ofstream f(legacy_file(), std::ios::binary);
    f << metadata_file_magic << char(metadata_file_version);
    f << encode_frame({topic_record{"a", a, false},
                       partition_record{a, partition_id(0), node_id(1), leader_epoch(0), {node_id(1)}, {node_id(1)}},
                       partition_record{a, partition_id(1), node_id(1), leader_epoch(0), {node_id(1)}, {node_id(1)}},
                       config_record{a, "retention.ms", "77"}});
    f << encode_frame({topic_record{"gone", gone, false}});
    f << encode_frame({remove_topic_record{gone}});
    f << encode_frame({partition_change_record{a, partition_id(1), node_id(1), leader_epoch(4), {node_id(1)}}});
    f << encode_frame({broker_config_record{"", "log.retention.ms", "5000"}});
    f << encode_frame({producer_ids_record{node_id(1), 3000}});
    f << "torn";
  }
  for (int round = 0; round < 2; ++round) {
    auto s = open();
    ASSERT_NE(s, nullptr);
    EXPECT_FALSE(std::filesystem::exists(legacy_file()));
    const topic_info* t = s->image().topic("a");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->id, a);
    ASSERT_EQ(t->partitions.size(), 2u);
    EXPECT_EQ(t->partitions[1].leader_epoch, leader_epoch(4));
    EXPECT_EQ(t->configs, (std::map<std::string, std::string>{{"retention.ms", "77"}}));
    EXPECT_EQ(s->image().topic("gone"), nullptr);
    EXPECT_EQ(s->image().broker_configs(""), (std::map<std::string, std::string>{{"log.retention.ms", "5000"}}));
    EXPECT_EQ(s->image().next_producer_id(), 3000);
    EXPECT_GT(s->image().metadata_version(), 0);
  }
}

TEST_F(metadata_store_test, a_grgmeta_file_next_to_a_kafka_layout_log_is_refused) {
  { open(); }
  { std::ofstream(legacy_file()) << metadata_file_magic << char(metadata_file_version); }
  auto r = metadata_store::open(_dir, node_id(1), "", _clock);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("move"), std::string::npos);
}

TEST_F(metadata_store_test, every_start_is_a_new_leader_epoch_in_quorum_state) {
  { open(node_id(3)); }
  { open(node_id(3)); }
  std::ifstream in(_dir / "__cluster_metadata-0" / "quorum-state");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto q = parse_quorum_state(text);
  ASSERT_TRUE(q.has_value()) << text;
  EXPECT_EQ(q->leader_id, node_id(3));
  EXPECT_EQ(q->leader_epoch, leader_epoch(2));
}

TEST_F(metadata_store_test, cluster_id_is_generated_and_persisted) {
  std::string id;
  {
    auto s = open();
    id = s->image().cluster_id();
    EXPECT_EQ(id.size(), 22u);
  }
  auto m = read_meta_properties(_dir);
  ASSERT_TRUE(m.has_value());
  ASSERT_TRUE(m.value().has_value());
  EXPECT_EQ(m.value()->cluster_id, id);
  EXPECT_EQ(m.value()->node_id, node_id(1));
  EXPECT_EQ(m.value()->version, 1);
  EXPECT_EQ(open()->image().cluster_id(), id);
  EXPECT_EQ(open(node_id(1), id)->image().cluster_id(), id);
}

// Cluster mode before the first leader commits the id: meta.properties gets node.id and
// directory.id but no cluster.id; the id learnt later is added, the directory id kept; after that
// another id is refused.
TEST_F(metadata_store_test, meta_properties_without_a_cluster_id_gets_it_later_and_keeps_the_directory_id) {
  std::filesystem::create_directories(_dir);
  auto first = claim_meta_properties(_dir, node_id(2), "", "");
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(*first, "");
  auto m = read_meta_properties(_dir);
  ASSERT_TRUE(m.has_value() && m.value().has_value());
  EXPECT_EQ(m.value()->cluster_id, "");
  const std::string dir_id = m.value()->directory_id;
  EXPECT_EQ(dir_id.size(), 22u);

  auto again = claim_meta_properties(_dir, node_id(2), "", "");  // a restart, still not known
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, "");

  const std::string id = new_cluster_id();
  auto adopted = claim_meta_properties(_dir, node_id(2), id, id);
  ASSERT_TRUE(adopted.has_value()) << adopted.error().message;
  EXPECT_EQ(*adopted, id);
  m = read_meta_properties(_dir);
  ASSERT_TRUE(m.has_value() && m.value().has_value());
  EXPECT_EQ(m.value()->cluster_id, id);
  EXPECT_EQ(m.value()->directory_id, dir_id);
  EXPECT_EQ(*claim_meta_properties(_dir, node_id(2), "", ""), id);  // the next start knows it

  auto other = claim_meta_properties(_dir, node_id(2), new_cluster_id(), "");
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().code, controller_errc::inconsistent_cluster_id);
}

TEST_F(metadata_store_test, given_cluster_id_is_used) {
  EXPECT_EQ(open(node_id(1), "MkU3OEVBNTcwNTJENDM2Qk")->image().cluster_id(), "MkU3OEVBNTcwNTJENDM2Qk");
}

TEST_F(metadata_store_test, cluster_id_mismatch_is_refused) {
  open(node_id(1), "clusterA");
  auto r = metadata_store::open(_dir, node_id(1), "clusterB", _clock);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, controller_errc::inconsistent_cluster_id);
  EXPECT_NE(r.error().message.find("clusterA"), std::string::npos);
}

TEST_F(metadata_store_test, node_id_mismatch_is_refused) {
  open(node_id(1));
  auto r = metadata_store::open(_dir, node_id(2), "", _clock);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, controller_errc::inconsistent_cluster_id);
}

TEST_F(metadata_store_test, kafka_written_meta_properties_is_accepted) {
  std::filesystem::create_directories(_dir);
  {
    std::ofstream(_dir / "meta.properties") << "#\n#Mon Nov 23 10:00:00 UTC 2026\nnode.id=3\n"
                                               "directory.id=abcdefghijklmnopqrstuv\nversion=1\n"
                                               "cluster.id=q1Sh-9_ISia_zwGINzRvyQ\n";
  }
  EXPECT_EQ(open(node_id(3))->image().cluster_id(), "q1Sh-9_ISia_zwGINzRvyQ");
}

TEST_F(metadata_store_test, malformed_meta_properties_is_refused) {
  std::filesystem::create_directories(_dir);
  { std::ofstream(_dir / "meta.properties") << "version=7\nnode.id=1\ncluster.id=x\n"; }
  EXPECT_FALSE(metadata_store::open(_dir, node_id(1), "", _clock).has_value());
  { std::ofstream(_dir / "meta.properties") << "version=1\nnode.id=one\n"; }
  EXPECT_FALSE(metadata_store::open(_dir, node_id(1), "", _clock).has_value());
}

TEST(metadata_store, topic_name_validation_table) {
  struct row {
    std::string name;
    bool ok;
  };
  const std::vector<row> rows = {
      {"orders", true},
      {"a", true},
      {"A-Z_a.z-09", true},
      {"__consumer_offsets", true},
      {std::string(249, 'x'), true},
      {std::string(250, 'x'), false},
      {"", false},
      {".", false},
      {"..", false},
      {"...", true},
      {"has space", false},
      {"slash/name", false},
      {"colon:name", false},
      {"t\xc3\xa9st", false},
      {std::string("nul\0x", 5), false},
      {"star*", false},
  };
  for (const auto& r : rows) {
    std::string why = metadata_store::validate_topic_name(r.name);
    EXPECT_EQ(why.empty(), r.ok) << "'" << r.name << "': " << why;
  }
}

TEST_F(metadata_store_test, broker_configs_are_persisted_per_resource_and_removed_by_null) {
  {
    auto s = open();
    ASSERT_TRUE(s->set_broker_configs("", {{"log.retention.ms", std::string("5000")}}).has_value());
    ASSERT_TRUE(s->set_broker_configs("1", {{"log.segment.bytes", std::string("2097152")},
                                            {"log.retention.ms", std::string("6000")}}).has_value());
    ASSERT_TRUE(s->set_broker_configs("1", {{"log.retention.ms", std::nullopt}}).has_value());
  }
  auto s = open();
  EXPECT_EQ(s->image().broker_configs(""), (std::map<std::string, std::string>{{"log.retention.ms", "5000"}}));
  EXPECT_EQ(s->image().broker_configs("1"), (std::map<std::string, std::string>{{"log.segment.bytes", "2097152"}}));
  EXPECT_TRUE(s->image().broker_configs("2").empty());
}

TEST_F(metadata_store_test, a_snapshot_replaces_the_log_below_it_and_reopen_replays_both) {
  uuid a_id;
  {
    auto s = open();
    a_id = s->create_topic("a", 3, 1, {{"retention.ms", "77"}}, false).value()->id;
    ASSERT_TRUE(s->set_broker_configs("1", {{"log.segment.bytes", std::string("2097152")}}).has_value());
    ASSERT_TRUE(s->allocate_producer_ids(node_id(1), 1000).has_value());
    auto id = s->write_snapshot();
    ASSERT_TRUE(id.has_value()) << id.error().message;
    EXPECT_EQ(id->end_offset, s->log().log_end_offset());
    EXPECT_TRUE(std::filesystem::exists(s->log().snapshot_path(*id)));
    ASSERT_TRUE(s->create_topic("after", 1, 1, {}, false).has_value());
    ASSERT_TRUE(s->delete_log_below_snapshot().has_value());
  }
  auto s = open();
  const topic_info* a = s->image().topic("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->id, a_id);
  EXPECT_EQ(a->partitions.size(), 3u);
  EXPECT_EQ(a->configs.at("retention.ms"), "77");
  EXPECT_NE(s->image().topic("after"), nullptr);
  EXPECT_EQ(s->image().broker_configs("1").at("log.segment.bytes"), "2097152");
  EXPECT_EQ(s->image().next_producer_id(), 1000);
  EXPECT_EQ(s->image().metadata_version(), 30);
}
