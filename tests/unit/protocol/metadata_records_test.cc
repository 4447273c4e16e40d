// Proves the generated metadata and KRaft control records are byte-identical to Kafka 4.3.1's own
// serialisation (MetadataRecordSerde framing for metadata records, MessageUtil for control record
// values), both ways, and that the framing and the by-type decoders refuse malformed input.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gregor/protocol/metadata/all_records.h"

namespace gregor::protocol::metadata {
namespace {

// Printed by a small Java program that calls Kafka 4.3.1's generated record classes and
// MetadataRecordSerde.write / MessageUtil.toByteBufferAccessor (run with
// `java -cp $(tests/tools/kafka-classpath.sh)`), values as built in the tests below.
constexpr const char* kafka_topic_record_v0 =
    "010200076f72646572730102030405060708090a0b0c0d0e0f1000";
constexpr const char* kafka_partition_record_v0 =
    "010300000000030102030405060708090a0b0c0d0e0f10040000000100000002000000030300000001000000"
    "0201020000000300000001000000070000000901000101";
constexpr const char* kafka_partition_record_v2 =
    "010302000000030102030405060708090a0b0c0d0e0f10040000000100000002000000030300000001000000"
    "0201020000000300000001000000070000000904111111111111111122222222222222223333333333333333"
    "4444444444444444111111111111111122222222222222220200010101050200000003";
constexpr const char* kafka_register_broker_record_v3 =
    "010003000000010033333333333333334444444444444444000000000000002a020a504c41494e544558540a"
    "6c6f63616c686f7374238400000002116d657461646174612e76657273696f6e0007001b0000010001001102"
    "11111111111111112222222222222222";
constexpr const char* kafka_register_broker_record_v4_rack =
    "010004000000010033333333333333334444444444444444000000000000002a020a504c41494e544558540a"
    "6c6f63616c686f7374238400000002116d657461646174612e76657273696f6e0007001b0003723101000200"
    "11021111111111111111222222222222222201110233333333333333334444444444444444";
constexpr const char* kafka_partition_change_record_v0 =
    "010500000000000102030405060708090a0b0c0d0e0f100200050200000001010400000002";
constexpr const char* kafka_leader_change_message_v0 =
    "000000000001030000000100000000020002000000010000";
constexpr const char* kafka_voters_record_v0 =
    "0000020000000111111111111111112222222222222222020b434f4e54524f4c4c4552036331238500000000"
    "01000000";
// Default-constructed records (every field at Kafka's default).
constexpr const char* kafka_default_register_broker_record_v4 =
    "0100040000000000000000000000000000000000000000000000000000000000010101010000";
constexpr const char* kafka_default_config_record_v0 =
    "0104000001010100";
constexpr const char* kafka_default_partition_change_record_v2 =
    "010502ffffffff0000000000000000000000000000000000";
constexpr const char* kafka_default_partition_record_v2 =
    "010302ffffffff0000000000000000000000000000000001010101ffffffffffffffffffffffff0100";

const uuid topic_id{0x0102030405060708ULL, 0x090a0b0c0d0e0f10ULL};
const uuid dir_a{0x1111111111111111ULL, 0x2222222222222222ULL};
const uuid dir_b{0x3333333333333333ULL, 0x4444444444444444ULL};

std::vector<uint8_t> from_hex(const std::string& hex) {
  std::vector<uint8_t> out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = uint8_t(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
  }
  return out;
}

// Encodes `record` framed at `version`, compares with Kafka's bytes, decodes Kafka's bytes back.
template <class R>
void expect_framed_like_kafka(const R& record, int16_t version, const char* kafka_hex) {
  auto kafka = from_hex(kafka_hex);
  EXPECT_EQ(encode_api_message_and_version(record, version), kafka);
  EXPECT_EQ(api_message_and_version_size(record, version), kafka.size());
  std::string error;
  auto back = decode_api_message_and_version(kafka, &error);
  ASSERT_TRUE(back.has_value()) << error;
  EXPECT_EQ(back->version, version);
  ASSERT_TRUE(std::holds_alternative<R>(back->message));
  EXPECT_TRUE(std::get<R>(back->message) == record);
}

template <class R>
void expect_control_like_kafka(const R& record, int16_t version, const char* kafka_hex) {
  auto kafka = from_hex(kafka_hex);
  std::vector<uint8_t> ours;
  writer w(ours);
  encode_control_record(w, record, version);
  EXPECT_EQ(ours, kafka);
  reader r(kafka);
  auto back = decode_control_record(R::control_type, version, r);
  ASSERT_TRUE(back.has_value()) << r.error();
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_TRUE(std::get<R>(*back) == record);
}

partition_record sample_partition() {
  partition_record p;
  p.partition_id = 3;
  p.topic_id = topic_id;
  p.replicas = {1, 2, 3};
  p.isr = {1, 2};
  p.adding_replicas = {3};
  p.leader = 1;
  p.leader_recovery_state = 1;
  p.leader_epoch = 7;
  p.partition_epoch = 9;
  return p;
}

register_broker_record sample_broker() {
  register_broker_record b;
  b.broker_id = 1;
  b.incarnation_id = dir_b;
  b.broker_epoch = 42;
  auto& endpoint = b.end_points.emplace_back();
  endpoint.name = "PLAINTEXT";
  endpoint.host = "localhost";
  endpoint.port = 9092;
  endpoint.security_protocol = 0;
  auto& feature = b.features.emplace_back();
  feature.name = "metadata.version";
  feature.min_supported_version = 7;
  feature.max_supported_version = 27;
  b.rack.reset();
  b.fenced = true;
  b.log_dirs = {dir_a};
  return b;
}

TEST(metadata_records, topic_record_is_framed_like_kafka) {
  topic_record t;
  t.name = "orders";
  t.topic_id = topic_id;
  expect_framed_like_kafka(t, 0, kafka_topic_record_v0);
}

TEST(metadata_records, partition_record_v0_is_framed_like_kafka) {
  expect_framed_like_kafka(sample_partition(), 0, kafka_partition_record_v0);
}

TEST(metadata_records, partition_record_v2_carries_directories_and_elr_like_kafka) {
  auto p = sample_partition();
  p.directories = {dir_a, dir_b, dir_a};
  p.eligible_leader_replicas = std::vector<int32_t>{3};
  expect_framed_like_kafka(p, 2, kafka_partition_record_v2);
}

TEST(metadata_records, register_broker_record_v3_is_framed_like_kafka) {
  expect_framed_like_kafka(sample_broker(), 3, kafka_register_broker_record_v3);
}

TEST(metadata_records, register_broker_record_v4_with_rack_and_cordoned_dirs_is_framed_like_kafka) {
  auto b = sample_broker();
  b.rack = "r1";
  b.cordoned_log_dirs = std::vector<uuid>{dir_b};
  expect_framed_like_kafka(b, 4, kafka_register_broker_record_v4_rack);
}

TEST(metadata_records, partition_change_record_writes_only_the_changed_tagged_fields) {
  partition_change_record c;
  c.partition_id = 0;
  c.topic_id = topic_id;
  c.isr = std::vector<int32_t>{1};
  c.leader = 2;
  expect_framed_like_kafka(c, 0, kafka_partition_change_record_v0);
}

TEST(metadata_records, default_constructed_records_encode_like_kafkas_defaults) {
  expect_framed_like_kafka(register_broker_record{}, 4, kafka_default_register_broker_record_v4);
  expect_framed_like_kafka(config_record{}, 0, kafka_default_config_record_v0);
  expect_framed_like_kafka(partition_change_record{}, 2, kafka_default_partition_change_record_v2);
  expect_framed_like_kafka(partition_record{}, 2, kafka_default_partition_record_v2);
}

TEST(metadata_records, partition_change_record_defaults_mean_no_change) {
  partition_change_record c;
  EXPECT_EQ(c.leader, -2);
  EXPECT_EQ(c.leader_recovery_state, -1);
  EXPECT_FALSE(c.isr.has_value());
  EXPECT_FALSE(c.replicas.has_value());
}

TEST(metadata_records, leader_change_message_value_is_like_kafka) {
  leader_change_message m;
  m.leader_id = 1;
  m.voters.resize(2);
  m.voters[0].voter_id = 1;
  m.voters[1].voter_id = 2;
  m.granting_voters.resize(1);
  m.granting_voters[0].voter_id = 1;
  expect_control_like_kafka(m, 0, kafka_leader_change_message_v0);
}

TEST(metadata_records, voters_record_value_is_like_kafka) {
  voters_record v;
  voters_record::voter voter;
  voter.voter_id = 1;
  voter.voter_directory_id = dir_a;
  auto& endpoint = voter.endpoints.emplace_back();
  endpoint.name = "CONTROLLER";
  endpoint.host = "c1";
  endpoint.port = 9093;
  voter.kraft_version_feature.min_supported_version = 0;
  voter.kraft_version_feature.max_supported_version = 1;
  v.voters.push_back(voter);
  expect_control_like_kafka(v, 0, kafka_voters_record_v0);
}

TEST(metadata_records, tables_list_every_type_in_order_with_kafka_names) {
  auto types = all_record_types();
  ASSERT_FALSE(types.empty());
  for (size_t i = 1; i < types.size(); ++i) EXPECT_LT(types[i - 1].type, types[i].type);
  ASSERT_NE(find_record_type(2), nullptr);
  EXPECT_STREQ(find_record_type(2)->name, "TopicRecord");
  EXPECT_EQ(find_record_type(3)->max_version, 2);
  EXPECT_EQ(find_record_type(6), nullptr);  // 6 was never assigned (Kafka skipped it)
  EXPECT_EQ(std::variant_size_v<any_record>, types.size());
  ASSERT_NE(find_control_record_type(2), nullptr);
  EXPECT_STREQ(find_control_record_type(2)->name, "LeaderChangeMessage");
  EXPECT_STREQ(find_control_record_type(6)->name, "VotersRecord");
  EXPECT_EQ(find_control_record_type(0), nullptr);  // abort/commit markers have no message body
  EXPECT_EQ(std::variant_size_v<any_control_record>, all_control_record_types().size());
}

TEST(metadata_records, api_key_of_names_the_alternative) {
  EXPECT_EQ(api_key_of(any_record(topic_record{})), 2);
  EXPECT_EQ(api_key_of(any_record(register_broker_record{})), 0);
  EXPECT_EQ(control_type_of(any_control_record(snapshot_footer_record{})), 4);
}

TEST(metadata_records, another_frame_version_is_refused) {
  auto bytes = from_hex(kafka_topic_record_v0);
  bytes[0] = 0x02;
  std::string error;
  EXPECT_FALSE(decode_api_message_and_version(bytes, &error).has_value());
  EXPECT_NE(error.find("frame version"), std::string::npos) << error;
}

TEST(metadata_records, an_unknown_record_type_is_refused) {
  auto bytes = from_hex(kafka_topic_record_v0);
  bytes[1] = 0x06;
  std::string error;
  EXPECT_FALSE(decode_api_message_and_version(bytes, &error).has_value());
  EXPECT_NE(error.find("unknown record type"), std::string::npos) << error;
}

TEST(metadata_records, a_version_beyond_the_record_range_is_refused) {
  auto bytes = from_hex(kafka_topic_record_v0);
  bytes[2] = 0x01;  // TopicRecord has only version 0
  std::string error;
  EXPECT_FALSE(decode_api_message_and_version(bytes, &error).has_value());
  EXPECT_NE(error.find("version"), std::string::npos) << error;
}

TEST(metadata_records, trailing_bytes_after_a_record_are_refused) {
  auto bytes = from_hex(kafka_topic_record_v0);
  bytes.push_back(0);
  EXPECT_FALSE(decode_api_message_and_version(bytes).has_value());
}

TEST(metadata_records, a_reader_positioned_after_one_record_can_read_the_next) {
  auto one = from_hex(kafka_topic_record_v0);
  auto two = from_hex(kafka_partition_change_record_v0);
  std::vector<uint8_t> both = one;
  both.insert(both.end(), two.begin(), two.end());
  reader r(both);
  auto a = decode_api_message_and_version(r);
  auto b = decode_api_message_and_version(r);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(std::holds_alternative<topic_record>(a->message));
  EXPECT_TRUE(std::holds_alternative<partition_change_record>(b->message));
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(metadata_records, truncated_values_fail_at_every_cut) {
  auto bytes = from_hex(kafka_register_broker_record_v4_rack);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    auto value = std::span<const uint8_t>(bytes.data(), cut);
    EXPECT_FALSE(decode_api_message_and_version(value).has_value()) << "cut at " << cut;
  }
}

TEST(metadata_records, a_hostile_array_count_fails_without_allocating) {
  // PartitionRecord v0 framing, partition id, topic id, then a Replicas count of 2^31 - 1.
  auto bytes = from_hex("010300" "00000003" "0102030405060708090a0b0c0d0e0f10" "ffffffff0f");
  EXPECT_FALSE(decode_api_message_and_version(bytes).has_value());
}

TEST(metadata_records, control_record_keys_are_key_version_then_type) {
  auto key = encode_control_record_key(leader_change_message::control_type);
  EXPECT_EQ(std::vector<uint8_t>(key.begin(), key.end()), (std::vector<uint8_t>{0, 0, 0, 2}));
  EXPECT_EQ(decode_control_record_key(key), std::optional<int16_t>(2));
  const uint8_t later_version[] = {0, 1, 0, 6, 0xff};
  EXPECT_EQ(decode_control_record_key(later_version), std::optional<int16_t>(6));
}

TEST(metadata_records, short_or_negative_version_control_keys_are_refused) {
  const uint8_t short_key[] = {0, 0, 0};
  EXPECT_FALSE(decode_control_record_key(short_key).has_value());
  const uint8_t negative[] = {0xff, 0xff, 0, 2};
  EXPECT_FALSE(decode_control_record_key(negative).has_value());
}

TEST(metadata_records, an_unknown_control_type_fails_the_reader) {
  std::vector<uint8_t> bytes{0, 0};
  reader r(bytes);
  EXPECT_FALSE(decode_control_record(1, 0, r).has_value());
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace gregor::protocol::metadata
