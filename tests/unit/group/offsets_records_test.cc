// Proves the __consumer_offsets key/value layouts round-trip, match Kafka's byte layout, and that
// malformed bytes are rejected rather than trusted.
#include <gtest/gtest.h>

#include "gregor/group/offsets_records.h"

namespace gregor::group {
namespace {

std::string_view view(const std::vector<uint8_t>& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size()};
}

TEST(offsets_records, offset_key_has_kafka_layout_and_round_trips) {
  auto k = encode_offset_key("g", topic_partition{"t", partition_id{3}});
  EXPECT_EQ(k, (std::vector<uint8_t>{0, 1, 0, 1, 'g', 0, 1, 't', 0, 0, 0, 3}));
  auto d = decode_key(view(k));
  ASSERT_TRUE(d);
  auto* ok = std::get_if<offset_key>(&*d);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->group, "g");
  EXPECT_EQ(ok->tp, (topic_partition{"t", partition_id{3}}));
}

TEST(offsets_records, offset_value_round_trips) {
  committed_offset o{123, 4, "meta", 1700000000000};
  auto v = encode_offset_value(o);
  EXPECT_EQ(v[1], 3);
  auto d = decode_offset_value(view(v));
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, o);
}

TEST(offsets_records, group_key_and_value_round_trip) {
  auto k = encode_group_key("grp");
  auto d = decode_key(view(k));
  ASSERT_TRUE(d);
  EXPECT_EQ(std::get<group_key>(*d).group, "grp");
  group_snapshot s;
  s.protocol_type = "consumer";
  s.generation = 5;
  s.protocol_name = "range";
  s.leader = "m1";
  s.state_timestamp_ms = 99;
  s.members.push_back({"m1", "inst", "cid", "/1.2.3.4", 300000, 10000, {1, 2}, {3}});
  s.members.push_back({"m2", std::nullopt, "cid", "/1.2.3.5", 300000, 10000, {}, {}});
  auto v = encode_group_value(s);
  auto back = decode_group_value(view(v));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, s);
}

TEST(offsets_records, truncated_or_unknown_bytes_are_rejected) {
  auto v = encode_offset_value(committed_offset{1, 1, "m", 1});
  for (size_t n = 0; n < v.size(); ++n) {
    std::vector<uint8_t> cut(v.begin(), v.begin() + n);
    EXPECT_FALSE(decode_offset_value(view(cut))) << n;
  }
  EXPECT_FALSE(decode_key(view(std::vector<uint8_t>{0, 9, 0, 0})));
  EXPECT_FALSE(decode_key(view(std::vector<uint8_t>{0, 1, 0, 5, 'a'})));
  group_snapshot s;
  s.protocol_type = "consumer";
  auto g = encode_group_value(s);
  g[g.size() - 1] = 0x7f;  // member count far beyond the bytes present
  EXPECT_FALSE(decode_group_value(view(g)));
}

std::string hex(const std::vector<uint8_t>& bytes) {
  std::string out;
  static constexpr char digits[] = "0123456789abcdef";
  for (uint8_t b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 0xf];
  }
  return out;
}

TEST(offsets_records, encodings_are_byte_for_byte_kafkas) {
  // Pins every layout this file writes (the records live in __consumer_offsets for good).
  EXPECT_EQ(hex(encode_offset_value(committed_offset{123, 4, "meta", 1700000000000})),
            "0003000000000000007b0000000400046d6574610000018bcfe56800");
  group_snapshot s;
  s.protocol_type = "consumer";
  s.generation = 5;
  s.protocol_name = "range";
  s.leader = std::nullopt;
  s.state_timestamp_ms = 99;
  s.members.push_back({"m1", "inst", "cid", "/1.2.3.4", 300000, 10000, {1, 2}, {3}});
  s.members.push_back({"m2", std::nullopt, "cid", "/1.2.3.5", 300000, 10000, {}, {}});
  EXPECT_EQ(hex(encode_group_value(s)),
            "00030008636f6e73756d657200000005000572616e6765ffff00000000000000630000000200026d"
            "310004696e7374000363696400082f312e322e332e34000493e00000271000000002010200000001"
            "0300026d32ffff000363696400082f312e322e332e35000493e0000027100000000000000000");
  EXPECT_EQ(hex(encode_group_key("grp")), "00020003677270");

  const uuid orders{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  const topic_id_lookup ids = [&](const std::string& name) -> std::optional<uuid> {
    if (name == "orders") return orders;
    return std::nullopt;
  };
  cg_record r;
  r.group_id = "g";
  r.member_id = "m";
  r.type = cg_record::kind::group_metadata;
  r.epoch = 3;
  EXPECT_EQ(hex(encode_cg_key(r)), "0003000167");
  EXPECT_EQ(hex(*encode_cg_value(r, ids)), "00000000000300");
  r.type = cg_record::kind::partition_metadata;
  r.partition_counts = {{"orders", 4}, {"gone", 2}};
  EXPECT_EQ(hex(*encode_cg_value(r, ids)),
            "000000000003030000000000000000000000000000000005676f6e650000000201000123456789ab"
            "cdeffedcba9876543210076f726465727300000004010000");
  r.type = cg_record::kind::member_metadata;
  r.instance_id = "i";
  r.rack_id = std::nullopt;
  r.client_id = "c";
  r.client_host = "/h";
  r.topics = {"orders", "x"};
  r.regex = std::nullopt;
  r.rebalance_timeout_ms = 45000;
  r.server_assignor = "uniform";
  EXPECT_EQ(hex(encode_cg_key(r)), "000500016700016d");
  EXPECT_EQ(hex(*encode_cg_value(r, ids)),
            "00000269000263032f6803076f72646572730278000000afc808756e69666f726d00");
  r.type = cg_record::kind::current_assignment;
  r.epoch = 6;
  r.previous_epoch = 5;
  r.state = 1;
  r.partitions = {topic_partition{"gone", partition_id{0}}, topic_partition{"orders", partition_id{0}},
                  topic_partition{"orders", partition_id{2}}};
  r.pending = {topic_partition{"orders", partition_id{1}}};
  EXPECT_EQ(hex(*encode_cg_value(r, ids)),
            "0000000000060000000501020123456789abcdeffedcba9876543210030000000000000002000201"
            "23456789abcdeffedcba987654321002000000010000");
  r.type = cg_record::kind::target_member;
  EXPECT_EQ(hex(*encode_cg_value(r, ids)), "0000020123456789abcdeffedcba98765432100300000000000000020000");
}

TEST(offsets_records, every_truncated_consumer_group_value_is_rejected) {
  const uuid orders{1, 2};
  const topic_id_lookup ids = [&](const std::string&) -> std::optional<uuid> { return orders; };
  const topic_name_lookup names = [&](const uuid&) -> std::optional<std::string> { return "orders"; };
  cg_record r;
  r.group_id = "g";
  r.member_id = "m";
  r.epoch = 6;
  r.partition_counts = {{"orders", 4}};
  r.instance_id = "i";
  r.client_id = "c";
  r.topics = {"orders"};
  r.partitions = {topic_partition{"orders", partition_id{0}}};
  r.pending = {topic_partition{"orders", partition_id{1}}};
  for (auto type : {cg_record::kind::group_metadata, cg_record::kind::partition_metadata,
                    cg_record::kind::member_metadata, cg_record::kind::target_metadata,
                    cg_record::kind::target_member, cg_record::kind::current_assignment}) {
    r.type = type;
    const cg_key key{type, r.group_id, r.member_id};
    const auto v = *encode_cg_value(r, ids);
    ASSERT_TRUE(decode_cg_record(key, view(v), names)) << int(type);
    for (size_t n = 0; n < v.size(); ++n)
      EXPECT_FALSE(decode_cg_record(key, view(v).substr(0, n), names)) << int(type) << " cut at " << n;
  }
}

TEST(offsets_records, old_value_versions_decode) {
  // v1: offset, metadata, commit timestamp, expire timestamp.
  std::vector<uint8_t> v1 = {0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0,
                             0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2};
  auto d = decode_offset_value(view(v1));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->offset, 7);
  EXPECT_EQ(d->leader_epoch, -1);
  EXPECT_EQ(d->commit_timestamp_ms, 1);
}

}  // namespace
}  // namespace gregor::group
