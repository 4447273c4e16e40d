// Proves that metadata record frames round-trip every record type and that torn, corrupt or
// lying frames are recognised without trusting any length.
#include <gtest/gtest.h>

#include "gregor/controller/metadata_records.h"

using namespace gregor;
using namespace gregor::controller;

namespace {
std::vector<metadata_record> sample() {
  uuid id{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  return {
      topic_record{"orders", id, false},
      partition_record{id, partition_id(0), node_id(1), leader_epoch(3), {node_id(1), node_id(2)}, {node_id(1)}},
      partition_change_record{id, partition_id(0), node_id(2), leader_epoch(4), {node_id(2)}},
      config_record{id, "retention.ms", std::string("1000")},
      config_record{id, "cleanup.policy", std::nullopt},
      broker_record{node_id(2), "host2", 9092, std::string("rack-a")},
      remove_topic_record{id},
  };
}
}  // namespace

TEST(metadata_records, frame_round_trips_every_record_type) {
  auto records = sample();
  std::string frame = encode_frame(records);
  decoded_frame f = decode_frame(frame);
  ASSERT_EQ(f.status, decode_status::ok) << f.why;
  EXPECT_EQ(f.frame_bytes, frame.size());
  ASSERT_EQ(f.records.size(), records.size());
  const auto& t = std::get<topic_record>(f.records[0]);
  EXPECT_EQ(t.name, "orders");
  EXPECT_EQ(t.topic_id, std::get<topic_record>(records[0]).topic_id);
  const auto& p = std::get<partition_record>(f.records[1]);
  EXPECT_EQ(p.leader_epoch, leader_epoch(3));
  EXPECT_EQ(p.replicas, (std::vector<node_id>{node_id(1), node_id(2)}));
  EXPECT_EQ(std::get<partition_change_record>(f.records[2]).leader, node_id(2));
  EXPECT_EQ(std::get<config_record>(f.records[3]).value, std::optional<std::string>("1000"));
  EXPECT_FALSE(std::get<config_record>(f.records[4]).value.has_value());
  EXPECT_EQ(std::get<broker_record>(f.records[5]).rack, std::optional<std::string>("rack-a"));
  EXPECT_TRUE(std::holds_alternative<remove_topic_record>(f.records[6]));
}

TEST(metadata_records, every_truncation_is_incomplete_or_corrupt_never_ok) {
  std::string frame = encode_frame(sample());
  for (size_t n = 0; n < frame.size(); ++n) {
    decoded_frame f = decode_frame(std::string_view(frame).substr(0, n));
    EXPECT_NE(f.status, decode_status::ok) << n;
  }
}

TEST(metadata_records, flipped_bit_is_corrupt) {
  std::string frame = encode_frame(sample());
  for (size_t i = metadata_frame_header_bytes; i < frame.size(); i += 7) {
    std::string bad = frame;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    EXPECT_EQ(decode_frame(bad).status, decode_status::corrupt) << i;
  }
}

TEST(metadata_records, huge_declared_length_is_refused_before_allocating) {
  std::string bad("\xff\xff\xff\xff\0\0\0\0", 8);
  EXPECT_EQ(decode_frame(bad).status, decode_status::corrupt);
}
