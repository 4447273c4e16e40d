// Proves that metadata record frames round-trip every record type and that torn, corrupt or
// lying frames are recognised without trusting any length.
#include <fmt/format.h>
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

TEST(metadata_records, frame_bytes_are_the_documented_v1_layout) {
  // Pins the on-disk format of metadata log files: every record type once.
  auto records = sample();
  records.push_back(producer_ids_record{node_id(3), 5000});
  records.push_back(broker_config_record{"", "log.retention.ms", std::string("60000")});
  records.push_back(topic_record{"__consumer_offsets", uuid{1, 2}, true});
  std::string out;
  for (char c : encode_frame(records)) out += fmt::format("{:02x}", uint8_t(c));
  EXPECT_EQ(out,
            "0000015f7495a6c0010000000a010000001900066f72646572730123456789abcdeffedcba987654"
            "32100002000000300123456789abcdeffedcba987654321000000000000000010000000300000002"
            "0000000100000002000000010000000103000000240123456789abcdeffedcba9876543210000000"
            "000000000200000004000000010000000205000000250123456789abcdeffedcba9876543210000c"
            "726574656e74696f6e2e6d730100043130303005000000210123456789abcdeffedcba9876543210"
            "000e636c65616e75702e706f6c696379000600000018000000020005686f73743200002384010006"
            "7261636b2d6104000000100123456789abcdeffedcba9876543210070000000c0000000300000000"
            "00001388080000001c000000106c6f672e726574656e74696f6e2e6d730100053630303030010000"
            "002500125f5f636f6e73756d65725f6f6666736574730000000000000001000000000000000201");
}

TEST(metadata_records, strings_longer_than_32_kib_round_trip) {
  // Payload string lengths are unsigned 16-bit: a config value of 40000 bytes (a PEM bundle) is
  // legal and must not read back as a negative length.
  uuid id{7, 8};
  std::string value(40000, 'x');
  std::string frame = encode_frame({config_record{id, "ssl.truststore.certificates", value}});
  decoded_frame f = decode_frame(frame);
  ASSERT_EQ(f.status, decode_status::ok) << f.why;
  EXPECT_EQ(std::get<config_record>(f.records[0]).value, std::optional<std::string>(value));
}
