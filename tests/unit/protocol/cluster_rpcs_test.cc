// Proves the generated cluster RPC messages (KRaft Vote, BrokerHeartbeat, DescribeTopicPartitions
// with its nullable Cursor struct, FetchSnapshot with zero-copy records, DescribeLogDirs) encode
// byte for byte as Kafka 4.3.1's own message classes do, and decode Kafka's bytes back to the same
// values.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gregor/protocol/messages/broker_heartbeat.h"
#include "gregor/protocol/messages/describe_log_dirs.h"
#include "gregor/protocol/messages/describe_topic_partitions.h"
#include "gregor/protocol/messages/fetch_snapshot.h"
#include "gregor/protocol/messages/vote.h"

namespace gregor::protocol {
namespace {

// Printed by a small Java program that fills Kafka 4.3.1's generated *Data classes with the values
// built below and serialises them with MessageUtil.toByteBufferAccessor (message body, no header).
constexpr const char* kafka_vote_request_v2 =
    "0363310000000202135f5f636c75737465725f6d657461646174610200000000000000050000000111111111"
    "1111111122222222222222223333333333333333444444444444444400000004000000000000006401000000";
constexpr const char* kafka_vote_response_v2 =
    "000002135f5f636c75737465725f6d6574616461746102000000000000ffffffff0000000501000001000b02"
    "00000001036331238500";
constexpr const char* kafka_broker_heartbeat_request_v1 =
    "00000001000000000000002a00000000000003e800000100110211111111111111112222222222222222";
constexpr const char* kafka_broker_heartbeat_request_v0 =
    "00000001000000000000002a00000000000003e8000000";
constexpr const char* kafka_broker_heartbeat_response_v1 =
    "00000000000001000000";
constexpr const char* kafka_describe_topic_partitions_request_v0_no_cursor =
    "02076f72646572730000000064ff00";
constexpr const char* kafka_describe_topic_partitions_request_v0_cursor =
    "02076f7264657273000000006401076f7264657273000000070000";
constexpr const char* kafka_fetch_snapshot_response_v0 =
    "00000000000002135f5f636c75737465725f6d6574616461746102000000000000000000000000000a000000"
    "02000000000000000003000000000000000004010203000000";

constexpr const char* kafka_describe_log_dirs_request_v1_all = "ffffffff";
constexpr const char* kafka_describe_log_dirs_request_v1_some =
    "0000000100066f7264657273000000020000000000000002";
constexpr const char* kafka_describe_log_dirs_request_v2_all = "0000";
constexpr const char* kafka_describe_log_dirs_request_v2_some = "02076f72646572730300000000000000020000";
constexpr const char* kafka_describe_log_dirs_response_v1 =
    "0000000000000001000000052f646174610000000100066f726465727300000002000000000000000000001000000000"
    "00000000000000000002000000000000004d000000000000000300";
constexpr const char* kafka_describe_log_dirs_response_v3 =
    "000000000000020000062f6461746102076f726465727303000000000000000000001000000000000000000000000000"
    "0002000000000000004d00000000000000030000000000";
constexpr const char* kafka_describe_log_dirs_response_v4 =
    "000000000000020000062f6461746102076f726465727303000000000000000000001000000000000000000000000000"
    "0002000000000000004d000000000000000300000000000000000f42400000000000061a800000";
constexpr const char* kafka_describe_log_dirs_response_v5 =
    "000000000000020000062f6461746102076f726465727303000000000000000000001000000000000000000000000000"
    "0002000000000000004d000000000000000300000000000000000f42400000000000061a80000000";

const uuid dir_a{0x1111111111111111ULL, 0x2222222222222222ULL};
const uuid dir_b{0x3333333333333333ULL, 0x4444444444444444ULL};

std::vector<uint8_t> from_hex(const std::string& hex) {
  std::vector<uint8_t> out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = uint8_t(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
  }
  return out;
}

template <class M>
void expect_like_kafka(const M& msg, int16_t version, const char* kafka_hex) {
  auto kafka = from_hex(kafka_hex);
  std::vector<uint8_t> ours;
  writer w(ours);
  msg.encode(w, version);
  EXPECT_EQ(ours, kafka);
  EXPECT_EQ(msg.encoded_size(version), kafka.size());
  reader r(kafka);
  M back;
  back.decode(r, version);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_TRUE(back == msg);
}

TEST(cluster_rpcs, vote_request_v2_with_pre_vote_is_like_kafka) {
  vote_request req;
  req.cluster_id = "c1";
  req.voter_id = 2;
  auto& topic = req.topics.emplace_back();
  topic.topic_name = "__cluster_metadata";
  auto& p = topic.partitions.emplace_back();
  p.partition_index = 0;
  p.replica_epoch = 5;
  p.replica_id = 1;
  p.replica_directory_id = dir_a;
  p.voter_directory_id = dir_b;
  p.last_offset_epoch = 4;
  p.last_offset = 100;
  p.pre_vote = true;
  expect_like_kafka(req, 2, kafka_vote_request_v2);
}

TEST(cluster_rpcs, vote_response_v2_with_leader_endpoints_is_like_kafka) {
  vote_response resp;
  auto& topic = resp.topics.emplace_back();
  topic.topic_name = "__cluster_metadata";
  auto& p = topic.partitions.emplace_back();
  p.partition_index = 0;
  p.leader_id = -1;
  p.leader_epoch = 5;
  p.vote_granted = true;
  auto& endpoint = resp.node_endpoints.emplace_back();
  endpoint.node_id = 1;
  endpoint.host = "c1";
  endpoint.port = 9093;
  expect_like_kafka(resp, 2, kafka_vote_response_v2);
}

broker_heartbeat_request sample_heartbeat() {
  broker_heartbeat_request req;
  req.broker_id = 1;
  req.broker_epoch = 42;
  req.current_metadata_offset = 1000;
  return req;
}

TEST(cluster_rpcs, broker_heartbeat_request_v0_is_like_kafka) {
  expect_like_kafka(sample_heartbeat(), 0, kafka_broker_heartbeat_request_v0);
}

TEST(cluster_rpcs, broker_heartbeat_request_v1_carries_offline_dirs_as_a_tag_like_kafka) {
  auto req = sample_heartbeat();
  req.offline_log_dirs = {dir_a};
  expect_like_kafka(req, 1, kafka_broker_heartbeat_request_v1);
}

TEST(cluster_rpcs, broker_heartbeat_response_v1_is_like_kafka) {
  broker_heartbeat_response resp;
  resp.is_caught_up = true;
  resp.is_fenced = false;
  expect_like_kafka(resp, 1, kafka_broker_heartbeat_response_v1);
}

TEST(cluster_rpcs, broker_heartbeat_response_defaults_to_fenced) {
  broker_heartbeat_response resp;
  EXPECT_TRUE(resp.is_fenced);
  EXPECT_FALSE(resp.is_caught_up);
}

describe_topic_partitions_request sample_describe() {
  describe_topic_partitions_request req;
  req.topics.emplace_back().name = "orders";
  req.response_partition_limit = 100;
  return req;
}

TEST(cluster_rpcs, describe_topic_partitions_null_cursor_is_like_kafka) {
  auto req = sample_describe();
  EXPECT_FALSE(req.cursor.has_value());
  expect_like_kafka(req, 0, kafka_describe_topic_partitions_request_v0_no_cursor);
}

TEST(cluster_rpcs, describe_topic_partitions_cursor_is_like_kafka) {
  auto req = sample_describe();
  req.cursor.emplace();
  req.cursor->topic_name = "orders";
  req.cursor->partition_index = 7;
  expect_like_kafka(req, 0, kafka_describe_topic_partitions_request_v0_cursor);
}

TEST(cluster_rpcs, fetch_snapshot_response_carries_unaligned_records_like_kafka) {
  const uint8_t chunk[] = {1, 2, 3};
  fetch_snapshot_response resp;
  auto& topic = resp.topics.emplace_back();
  topic.name = "__cluster_metadata";
  auto& p = topic.partitions.emplace_back();
  p.index = 0;
  p.snapshot_id.end_offset = 10;
  p.snapshot_id.epoch = 2;
  p.size = 3;
  p.position = 0;
  p.unaligned_records = std::span<const uint8_t>(chunk);
  expect_like_kafka(resp, 0, kafka_fetch_snapshot_response_v0);
}

describe_log_dirs_request sample_log_dirs_request() {
  describe_log_dirs_request req;
  req.topics.emplace();
  auto& t = req.topics->emplace_back();
  t.topic = "orders";
  t.partitions = {0, 2};
  return req;
}

TEST(cluster_rpcs, describe_log_dirs_request_null_topics_means_all_like_kafka) {
  describe_log_dirs_request all;
  EXPECT_FALSE(all.topics.has_value());
  expect_like_kafka(all, 1, kafka_describe_log_dirs_request_v1_all);
  expect_like_kafka(all, 2, kafka_describe_log_dirs_request_v2_all);
  expect_like_kafka(sample_log_dirs_request(), 1, kafka_describe_log_dirs_request_v1_some);
  expect_like_kafka(sample_log_dirs_request(), 2, kafka_describe_log_dirs_request_v2_some);
}

describe_log_dirs_response sample_log_dirs_response() {
  describe_log_dirs_response resp;
  auto& d = resp.results.emplace_back();
  d.log_dir = "/data";
  d.total_bytes = 1000000;
  d.usable_bytes = 400000;
  auto& t = d.topics.emplace_back();
  t.name = "orders";
  auto& p0 = t.partitions.emplace_back();
  p0.partition_index = 0;
  p0.partition_size = 4096;
  auto& p2 = t.partitions.emplace_back();
  p2.partition_index = 2;
  p2.partition_size = 77;
  p2.offset_lag = 3;
  return resp;
}

// The volume sizes (v4+) are ignorable: earlier versions leave them out, as Kafka does.
std::vector<uint8_t> encoded(const describe_log_dirs_response& m, int16_t version) {
  std::vector<uint8_t> out;
  writer w(out);
  m.encode(w, version);
  return out;
}

TEST(cluster_rpcs, describe_log_dirs_response_is_like_kafka_in_every_version) {
  const auto resp = sample_log_dirs_response();
  EXPECT_EQ(encoded(resp, 1), from_hex(kafka_describe_log_dirs_response_v1));
  EXPECT_EQ(encoded(resp, 3), from_hex(kafka_describe_log_dirs_response_v3));
  expect_like_kafka(resp, 4, kafka_describe_log_dirs_response_v4);
  expect_like_kafka(resp, 5, kafka_describe_log_dirs_response_v5);
}

TEST(cluster_rpcs, describe_log_dirs_response_defaults_volume_sizes_to_unknown) {
  describe_log_dirs_response::describe_log_dirs_result d;
  EXPECT_EQ(d.total_bytes, -1);
  EXPECT_EQ(d.usable_bytes, -1);
  EXPECT_FALSE(d.is_cordoned);
}

TEST(cluster_rpcs, describe_log_dirs_request_with_a_partition_count_past_the_end_fails_cleanly) {
  auto bytes = from_hex(kafka_describe_log_dirs_request_v1_some);
  bytes[12] = 0x7f;  // the partitions array claims ~2 billion entries
  reader r(bytes);
  describe_log_dirs_request req;
  req.decode(r, 1);
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace gregor::protocol
