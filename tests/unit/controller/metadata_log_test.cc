// Proves that the metadata log is written in KRaft's bytes and layout (ApiMessageAndVersion data
// batches, control batches, snapshots, quorum-state), that it recovers what it wrote (torn tails
// cut, snapshots chosen and installed, old segments deleted), and that the image turns Kafka's
// records into state and back into the records of a snapshot.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "gregor/controller/metadata_image.h"
#include "gregor/controller/metadata_log.h"
#include "gregor/protocol/record_batch.h"

using namespace gregor;
using namespace gregor::controller;
namespace md = gregor::protocol::metadata;
namespace fs = std::filesystem;

namespace {

md::topic_record topic(std::string name, uuid id) {
  md::topic_record t;
  t.name = std::move(name);
  t.topic_id = id;
  return t;
}

md::partition_record partition(uuid id, int32_t p, std::vector<int32_t> replicas) {
  md::partition_record r;
  r.topic_id = id;
  r.partition_id = p;
  r.replicas = replicas;
  r.isr = replicas;
  r.leader = replicas.front();
  r.leader_epoch = 0;
  r.partition_epoch = 0;
  return r;
}

md::register_broker_record broker(int32_t id, int64_t epoch) {
  md::register_broker_record b;
  b.broker_id = id;
  b.broker_epoch = epoch;
  b.incarnation_id = uuid{7, uint64_t(id)};
  md::register_broker_record::broker_endpoint e;
  e.name = "PLAINTEXT";
  e.host = "h" + std::to_string(id);
  e.port = 9092;
  b.end_points.push_back(e);
  b.rack = "r1";
  b.fenced = false;
  return b;
}

std::vector<framed_record> framed(std::vector<md::any_record> rs) {
  std::vector<framed_record> out;
  for (auto& r : rs) out.push_back(frame(std::move(r)));
  return out;
}

const uuid topic_a{0xa, 0xa};
const uuid topic_b{0xb, 0xb};

class metadata_log_test : public ::testing::Test {
 protected:
  void SetUp() override {
    _dir = fs::temp_directory_path() /
           fmt::format("gregor_mlog_{}_{}", ::getpid(), ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(_dir);
  }
  void TearDown() override { fs::remove_all(_dir); }
  std::unique_ptr<metadata_log> open(storage::log_config cfg = {}) {
    auto r = metadata_log::open(_dir, _clock, cfg);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    return r ? std::move(*r) : nullptr;
  }
  fs::path _dir;
  manual_clock _clock{1'700'000'000'000};
};

}  // namespace

TEST(metadata_batch, data_batch_round_trips_with_null_keys_epoch_and_offsets) {
  auto records = framed({topic("a", topic_a), partition(topic_a, 0, {1, 2}), broker(1, 10)});
  auto bytes = encode_data_batch(offset(42), leader_epoch(5), 1234, records);
  auto h = protocol::parse_batch_header(bytes);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->partition_leader_epoch, 5);
  EXPECT_FALSE(h->is_control());
  EXPECT_EQ(h->codec(), protocol::compression::none);
  int keys = 0;
  ASSERT_TRUE(protocol::for_each_record(bytes, [&](const protocol::record_view& rv) {
                keys += rv.key.has_value();
                // ApiMessageAndVersion: frame version 1 first.
                ASSERT_TRUE(rv.value.has_value());
                EXPECT_EQ(uint8_t((*rv.value)[0]), 1);
              }).has_value());
  EXPECT_EQ(keys, 0);
  auto b = decode_batch(bytes);
  ASSERT_TRUE(b.has_value()) << b.error();
  EXPECT_EQ(b->base_offset, offset(42));
  EXPECT_EQ(b->last_offset, offset(44));
  EXPECT_EQ(b->epoch, leader_epoch(5));
  EXPECT_EQ(b->append_time_ms, 1234);
  EXPECT_EQ(b->records, records);
}

TEST(metadata_batch, control_batch_keys_are_version_and_type) {
  md::leader_change_message lc;
  lc.leader_id = 3;
  lc.voters.push_back({3, {}, {}});
  lc.granting_voters.push_back({3, {}, {}});
  std::vector<md::any_control_record> recs{lc};
  auto bytes = encode_control_batch(offset(0), leader_epoch(1), 5, recs);
  EXPECT_TRUE(protocol::parse_batch_header(bytes)->is_control());
  ASSERT_TRUE(protocol::for_each_record(bytes, [&](const protocol::record_view& rv) {
                ASSERT_TRUE(rv.key.has_value());
                EXPECT_EQ(*rv.key, std::string("\x00\x00\x00\x02", 4));
              }).has_value());
  auto b = decode_batch(bytes);
  ASSERT_TRUE(b.has_value()) << b.error();
  ASSERT_EQ(b->controls.size(), 1u);
  EXPECT_EQ(b->controls[0].type, control_leader_change);
  ASSERT_TRUE(b->controls[0].body.has_value());
  EXPECT_EQ(std::get<md::leader_change_message>(*b->controls[0].body).leader_id, 3);
}

TEST(metadata_batch, damaged_batches_are_refused) {
  auto bytes = encode_data_batch(offset(0), leader_epoch(0), 0, framed({topic("a", topic_a)}));
  auto flipped = bytes;
  flipped.back() ^= 0x40;
  EXPECT_FALSE(decode_batch(flipped).has_value());
  auto shorter = bytes;
  shorter.pop_back();
  EXPECT_FALSE(decode_batch(shorter).has_value());
  EXPECT_FALSE(decode_batches(shorter).has_value());
  auto longer = bytes;
  longer.push_back(0);
  EXPECT_FALSE(decode_batch(longer).has_value());
  EXPECT_FALSE(decode_batch({}).has_value());
}

TEST(metadata_batch, snapshot_file_names_are_kafkas) {
  snapshot_id id{offset(42), leader_epoch(3)};
  EXPECT_EQ(snapshot_file_name(id), "00000000000000000042-0000000003.checkpoint");
  EXPECT_EQ(parse_snapshot_file_name("00000000000000000042-0000000003.checkpoint"), id);
  for (std::string_view bad : {"00000000000000000042-0000000003.checkpoint.part", "42-3.checkpoint",
                               "0000000000000000004x-0000000003.checkpoint", "00000000000000000042.log"}) {
    EXPECT_FALSE(parse_snapshot_file_name(bad).has_value()) << bad;
  }
}

TEST(metadata_batch, snapshot_starts_with_a_header_and_ends_with_a_footer) {
  auto records = framed({topic("a", topic_a), partition(topic_a, 0, {1}), partition(topic_a, 1, {1})});
  snapshot_options o;
  o.last_contained_log_timestamp_ms = 77;
  o.records_per_batch_max = 2;
  auto bytes = encode_snapshot({offset(10), leader_epoch(2)}, records, o);
  auto batches = decode_batches(bytes);
  ASSERT_TRUE(batches.has_value());
  ASSERT_EQ(batches->size(), 4u);  // header, 2 + 1 records, footer
  EXPECT_TRUE(batches->front().control);
  EXPECT_EQ(batches->front().controls[0].type, control_snapshot_header);
  EXPECT_EQ(batches->back().controls[0].type, control_snapshot_footer);
  for (const auto& b : *batches) EXPECT_EQ(b.epoch, leader_epoch(2));
  auto s = decode_snapshot(bytes);
  ASSERT_TRUE(s.has_value()) << s.error();
  EXPECT_EQ(s->header.last_contained_log_timestamp, 77);
  EXPECT_EQ(s->records, records);
  EXPECT_FALSE(s->kraft_version.has_value());
  // Without its footer the snapshot is incomplete.
  auto spans = split_batches(bytes);
  ASSERT_TRUE(spans.has_value());
  const size_t without_footer = bytes.size() - spans->back().size();
  EXPECT_FALSE(decode_snapshot(std::span(bytes).subspan(0, without_footer)).has_value());
}

TEST(metadata_batch, snapshot_carries_kraft_version_and_voters_when_asked) {
  snapshot_options o;
  o.kraft_version = 1;
  md::voters_record v;
  md::voters_record::voter one;
  one.voter_id = 1;
  v.voters.push_back(one);
  o.voters = v;
  auto s = decode_snapshot(encode_snapshot({offset(0), leader_epoch(1)}, {}, o));
  ASSERT_TRUE(s.has_value()) << s.error();
  ASSERT_TRUE(s->kraft_version.has_value());
  EXPECT_EQ(s->kraft_version->kraft_version, 1);
  ASSERT_TRUE(s->voters.has_value());
  EXPECT_EQ(s->voters->voters.size(), 1u);
}

TEST(metadata_batch, quorum_state_is_kafkas_json) {
  quorum_state_file q{node_id(1), leader_epoch(3), no_node, uuid{}};
  EXPECT_EQ(encode_quorum_state(q),
            R"({"leaderId":1,"leaderEpoch":3,"votedId":-1,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1})");
  EXPECT_EQ(parse_quorum_state(encode_quorum_state(q)).value(), q);
  // Version 0, as Kafka 3.x wrote it, with the fields that version had.
  auto v0 = parse_quorum_state(
      R"({"clusterId":"","leaderId":2,"leaderEpoch":9,"votedId":2,"appliedOffset":0,"currentVoters":[{"voterId":2},{"voterId":3}],"data_version":0})");
  ASSERT_TRUE(v0.has_value()) << v0.error();
  EXPECT_EQ(v0->leader_id, node_id(2));
  EXPECT_EQ(v0->leader_epoch, leader_epoch(9));
  EXPECT_EQ(v0->voted_id, node_id(2));
  for (std::string_view bad : {"", "{", "[]", R"({"leaderId":"x","data_version":1})", R"({"leaderId":1})",
                               R"({"leaderId":1,"data_version":7})", R"({"leaderId":1,"data_version":1} x)"}) {
    EXPECT_FALSE(parse_quorum_state(bad).has_value()) << bad;
  }
}

TEST_F(metadata_log_test, a_new_directory_has_kafkas_files_and_nothing_to_replay) {
  auto log = open();
  auto rec = log->take_recovered();
  EXPECT_FALSE(rec.quorum.has_value());
  EXPECT_FALSE(rec.snapshot.has_value());
  EXPECT_TRUE(rec.batches.empty());
  EXPECT_EQ(log->log_end_offset(), offset(0));
  EXPECT_TRUE(fs::exists(_dir / "00000000000000000000.log"));
  EXPECT_TRUE(fs::exists(_dir / "00000000000000000000.index"));
  EXPECT_TRUE(fs::exists(_dir / "00000000000000000000.timeindex"));
}

TEST_F(metadata_log_test, appended_batches_and_quorum_state_come_back_after_reopen) {
  {
    auto log = open();
    ASSERT_TRUE(log->write_quorum_state({node_id(1), leader_epoch(2), node_id(1), {}}).has_value());
    std::vector<md::any_control_record> lc{md::leader_change_message{}};
    ASSERT_EQ(log->append_control(leader_epoch(2), 1, lc).value(), offset(0));
    ASSERT_EQ(log->append_records(leader_epoch(2), 2, framed({topic("a", topic_a), partition(topic_a, 0, {1})})).value(),
              offset(1));
    ASSERT_TRUE(log->flush().has_value());
  }
  auto log = open();
  auto rec = log->take_recovered();
  ASSERT_TRUE(rec.quorum.has_value());
  EXPECT_EQ(rec.quorum->leader_epoch, leader_epoch(2));
  ASSERT_EQ(rec.batches.size(), 2u);
  EXPECT_TRUE(rec.batches[0].control);
  EXPECT_EQ(rec.batches[1].base_offset, offset(1));
  EXPECT_EQ(rec.batches[1].records.size(), 2u);
  EXPECT_EQ(log->log_end_offset(), offset(3));
  EXPECT_EQ(log->end_offset_for_epoch(leader_epoch(2)).end_offset, offset(3));
  // Batches from elsewhere (a Raft leader) keep their offsets; gaps are refused.
  auto next = encode_data_batch(offset(3), leader_epoch(4), 3, framed({topic("b", topic_b)}));
  ASSERT_TRUE(log->append(next).has_value());
  auto gap = encode_data_batch(offset(9), leader_epoch(4), 3, framed({topic("c", uuid{1, 1})}));
  EXPECT_FALSE(log->append(gap).has_value());
  EXPECT_EQ(log->truncate_to(offset(1)).value(), offset(1));
  EXPECT_EQ(log->read(offset(0), 1 << 20).value().size(),
            encode_control_batch(offset(0), leader_epoch(2), 1, std::vector<md::any_control_record>{md::leader_change_message{}}).size());
}

TEST_F(metadata_log_test, a_torn_tail_is_cut_and_the_rest_replayed) {
  {
    auto log = open();
    ASSERT_TRUE(log->append_records(leader_epoch(1), 1, framed({topic("a", topic_a)})).has_value());
    ASSERT_TRUE(log->append_records(leader_epoch(1), 2, framed({topic("b", topic_b)})).has_value());
    ASSERT_TRUE(log->flush().has_value());
  }
  const auto seg = _dir / "00000000000000000000.log";
  fs::resize_file(seg, fs::file_size(seg) - 5);
  auto log = open();
  auto rec = log->take_recovered();
  ASSERT_EQ(rec.batches.size(), 1u);
  EXPECT_EQ(std::get<md::topic_record>(rec.batches[0].records[0].message).name, "a");
  EXPECT_EQ(log->log_end_offset(), offset(1));
}

TEST_F(metadata_log_test, the_latest_valid_snapshot_is_loaded_and_only_later_batches_replayed) {
  storage::log_config small;
  small.segment_bytes = 300;
  small.file_delete_delay_ms = 0;
  {
    auto log = open(small);
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(log->append_records(leader_epoch(1), i, framed({topic("t" + std::to_string(i), uuid{9, uint64_t(i)})}))
                      .has_value());
    }
    ASSERT_TRUE(log->flush().has_value());
    ASSERT_TRUE(log->write_snapshot({offset(4), leader_epoch(1)}, framed({topic("t0", uuid{9, 0})}), {}).has_value());
    ASSERT_TRUE(log->write_snapshot({offset(8), leader_epoch(1)}, framed({topic("t0", uuid{9, 0})}), {}).has_value());
    // A newer snapshot that was never finished: its `.part` file is removed at open.
    std::ofstream(_dir / "00000000000000000009-0000000001.checkpoint.part") << "partial";
    // A newer snapshot with damaged contents: ignored.
    std::ofstream(_dir / "00000000000000000009-0000000001.checkpoint") << "damaged";
    auto deleted = log->delete_below_snapshot();
    ASSERT_TRUE(deleted.has_value()) << deleted.error().message;
    EXPECT_GT(*deleted, 0u);
    EXPECT_FALSE(fs::exists(_dir / "00000000000000000004-0000000001.checkpoint"));
  }
  auto log = open(small);
  auto rec = log->take_recovered();
  ASSERT_TRUE(rec.snapshot.has_value());
  EXPECT_EQ(rec.snapshot->end_offset, offset(8));
  ASSERT_TRUE(rec.snapshot_contents.has_value());
  EXPECT_EQ(rec.snapshot_contents->records.size(), 1u);
  EXPECT_FALSE(rec.snapshot_bytes.empty());
  ASSERT_EQ(rec.batches.size(), 2u);
  EXPECT_EQ(rec.batches[0].base_offset, offset(8));
  EXPECT_FALSE(fs::exists(_dir / "00000000000000000009-0000000001.checkpoint.part"));
  EXPECT_FALSE(fs::exists(_dir / "00000000000000000000.log"));  // wholly below the snapshot
  EXPECT_LE(log->log_start_offset(), offset(8));
}

TEST_F(metadata_log_test, a_snapshot_past_the_log_end_restarts_the_log_there) {
  auto log = open();
  ASSERT_TRUE(log->append_records(leader_epoch(1), 1, framed({topic("a", topic_a)})).has_value());
  auto bytes = encode_snapshot({offset(50), leader_epoch(3)}, framed({topic("z", topic_b)}), {});
  ASSERT_TRUE(log->write_snapshot({offset(50), leader_epoch(3)}, std::span<const uint8_t>(bytes)).has_value());
  EXPECT_EQ(log->log_start_offset(), offset(50));
  EXPECT_EQ(log->log_end_offset(), offset(50));
  ASSERT_TRUE(log->append(encode_data_batch(offset(50), leader_epoch(3), 1, framed({topic("after", topic_a)}))).has_value());
  ASSERT_TRUE(log->flush().has_value());
  EXPECT_FALSE(log->write_snapshot({offset(60), leader_epoch(3)}, std::span<const uint8_t>(bytes.data(), 10)).has_value());
  log.reset();
  log = open();
  auto rec = log->take_recovered();
  EXPECT_EQ(rec.snapshot->end_offset, offset(50));
  ASSERT_EQ(rec.batches.size(), 1u);
  EXPECT_EQ(rec.batches[0].base_offset, offset(50));
}

TEST_F(metadata_log_test, malformed_quorum_state_refuses_to_open) {
  fs::create_directories(_dir);
  std::ofstream(_dir / "quorum-state") << "{\"leaderId\":";
  auto r = metadata_log::open(_dir, _clock);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("quorum-state"), std::string::npos);
}

TEST(metadata_image, applies_kafkas_records_and_writes_them_back_for_a_snapshot) {
  metadata_image img;
  md::feature_level_record mv;
  mv.name = "metadata.version";
  mv.feature_level = 27;
  md::config_record tc;
  tc.resource_type = config_resource_topic;
  tc.resource_name = "a";
  tc.name = "retention.ms";
  tc.value = "5";
  md::config_record bc;
  bc.resource_type = config_resource_broker;
  bc.resource_name = "";
  bc.name = "log.retention.ms";
  bc.value = "6";
  md::producer_ids_record pid;
  pid.broker_id = 1;
  pid.next_producer_id = 2000;
  md::partition_change_record change;
  change.topic_id = topic_a;
  change.partition_id = 1;
  change.leader = 2;
  change.isr = std::vector<int32_t>{2};
  md::fence_broker_record fence;
  fence.id = 2;
  fence.epoch = 11;
  for (md::any_record r : std::vector<md::any_record>{mv, broker(1, 10), broker(2, 11), topic("a", topic_a),
                                                      partition(topic_a, 0, {1, 2}), partition(topic_a, 1, {1, 2}),
                                                      tc, bc, pid, change, fence}) {
    EXPECT_EQ(img.apply(r), "");
  }
  EXPECT_EQ(img.metadata_version(), 27);
  const auto& p1 = img.topic("a")->partitions[1];
  EXPECT_EQ(p1.leader, node_id(2));
  EXPECT_EQ(p1.leader_epoch, leader_epoch(1));
  EXPECT_EQ(p1.partition_epoch, 1);
  EXPECT_EQ(p1.isr, std::vector<node_id>{node_id(2)});
  EXPECT_EQ(p1.replicas.size(), 2u);
  const auto& b2 = img.brokers().at(node_id(2));
  EXPECT_TRUE(b2.fenced);
  EXPECT_EQ(b2.epoch, 11);
  EXPECT_EQ(b2.host, "h2");
  ASSERT_EQ(b2.endpoints.size(), 1u);
  EXPECT_EQ(b2.endpoints[0].listener, "PLAINTEXT");
  EXPECT_EQ(b2.rack, std::optional<std::string>("r1"));

  metadata_image copy;
  for (const auto& r : img.to_records()) EXPECT_EQ(copy.apply(r.message), "");
  EXPECT_EQ(copy.metadata_version(), 27);
  EXPECT_EQ(copy.next_producer_id(), 2000);
  EXPECT_EQ(copy.topic("a")->configs, img.topic("a")->configs);
  EXPECT_EQ(copy.topic("a")->partitions[1].leader_epoch, leader_epoch(1));
  EXPECT_EQ(copy.topic("a")->partitions[1].partition_epoch, 1);
  EXPECT_EQ(copy.broker_configs(""), img.broker_configs(""));
  EXPECT_TRUE(copy.brokers().at(node_id(2)).fenced);
  EXPECT_EQ(copy.brokers().at(node_id(1)).incarnation_id, (uuid{7, 1}));
}

TEST(metadata_image, refuses_records_that_do_not_fit) {
  metadata_image img;
  EXPECT_NE(img.apply(partition(topic_a, 0, {1})), "");  // unknown topic
  EXPECT_EQ(img.apply(topic("a", topic_a)), "");
  EXPECT_NE(img.apply(topic("a", topic_b)), "");          // name taken
  EXPECT_NE(img.apply(topic("b", topic_a)), "");          // id taken
  EXPECT_NE(img.apply(partition(topic_a, 1, {1})), "");   // not the next partition
  md::fence_broker_record fence;
  fence.id = 9;
  EXPECT_NE(img.apply(fence), "");                        // unknown broker
  md::config_record c;
  c.resource_type = config_resource_topic;
  c.resource_name = "nope";
  c.name = "x";
  EXPECT_NE(img.apply(c), "");
  md::producer_ids_record up;
  up.next_producer_id = 100;
  EXPECT_EQ(img.apply(up), "");
  up.next_producer_id = 50;
  EXPECT_NE(img.apply(up), "");                           // ids never go back
}

TEST(metadata_batch, every_prefix_and_byte_flip_of_a_snapshot_is_refused_or_decoded_never_trusted) {
  auto bytes = encode_snapshot({offset(3), leader_epoch(1)},
                               framed({topic("a", topic_a), partition(topic_a, 0, {1}), broker(1, 2)}), {});
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(decode_snapshot(std::span(bytes).subspan(0, n)).has_value()) << n;
  }
  // A flipped byte inside a batch fails its CRC; in base offset or epoch (outside the CRC) it breaks
  // offset continuity or changes only the epoch. Either way nothing crashes or over-allocates.
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto copy = bytes;
    copy[i] ^= 0xff;
    (void)decode_snapshot(copy);
    (void)decode_batches(copy);
  }
  for (std::string_view junk : {std::string_view("\x7f\xff\xff\xff"), std::string_view("{\"a\":[[[[[[")}) {
    EXPECT_FALSE(parse_quorum_state(junk).has_value());
  }
}
