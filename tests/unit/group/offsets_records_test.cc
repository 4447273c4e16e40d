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
