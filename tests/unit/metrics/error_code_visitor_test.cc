// Proves the generated for_each_error_code visits every error code of a response (top level, per
// topic, per partition, per group) in the versions that carry it, so /metrics can count them all.
#include <gtest/gtest.h>

#include <vector>

#include "gregor/protocol/error_code.h"
#include "gregor/protocol/messages/create_topics.h"
#include "gregor/protocol/messages/fetch.h"
#include "gregor/protocol/messages/metadata.h"
#include "gregor/protocol/messages/offset_fetch.h"
#include "gregor/protocol/messages/produce.h"

using namespace gregor::protocol;

namespace {
template <class Resp>
std::vector<int16_t> codes_of(const Resp& r, int16_t version) {
  std::vector<int16_t> out;
  r.for_each_error_code(version, [&out](int16_t c) { out.push_back(c); });
  return out;
}
constexpr int16_t code(error_code e) { return code_of(e); }
}  // namespace

TEST(error_code_visitor, fetch_visits_top_level_then_every_partition_including_zeros) {
  fetch_response r;
  r.error_code = code(error_code::none);
  auto& t1 = r.responses.emplace_back();
  t1.partitions.emplace_back().error_code = code(error_code::not_leader_or_follower);
  t1.partitions.emplace_back().error_code = 0;
  auto& t2 = r.responses.emplace_back();
  t2.partitions.emplace_back().error_code = code(error_code::offset_out_of_range);
  EXPECT_EQ(codes_of(r, 12), (std::vector<int16_t>{0, code(error_code::not_leader_or_follower), 0,
                                                   code(error_code::offset_out_of_range)}));
}

TEST(error_code_visitor, fetch_top_level_code_is_skipped_in_versions_without_it) {
  fetch_response r;
  r.error_code = code(error_code::unknown_server_error);  // only carried from v7
  r.responses.emplace_back().partitions.emplace_back().error_code =
      code(error_code::unknown_topic_or_partition);
  EXPECT_EQ(codes_of(r, 4), (std::vector<int16_t>{code(error_code::unknown_topic_or_partition)}));
  EXPECT_EQ(codes_of(r, 7).size(), 2u);
}

TEST(error_code_visitor, produce_visits_each_partition_response) {
  produce_response r;
  auto& t = r.responses.emplace_back();
  t.partition_responses.emplace_back().error_code = code(error_code::not_enough_replicas);
  t.partition_responses.emplace_back().error_code = code(error_code::unknown_topic_or_partition);
  EXPECT_EQ(codes_of(r, 9), (std::vector<int16_t>{code(error_code::not_enough_replicas),
                                                  code(error_code::unknown_topic_or_partition)}));
}

TEST(error_code_visitor, metadata_visits_topics_partitions_and_v13_top_level) {
  metadata_response r;
  auto& t = r.topics.emplace_back();
  t.error_code = code(error_code::leader_not_available);
  t.partitions.emplace_back().error_code = code(error_code::replica_not_available);
  r.error_code = code(error_code::unknown_server_error);
  EXPECT_EQ(codes_of(r, 12), (std::vector<int16_t>{code(error_code::leader_not_available),
                                                   code(error_code::replica_not_available)}));
  EXPECT_EQ(codes_of(r, 13).back(), code(error_code::unknown_server_error));
}

TEST(error_code_visitor, offset_fetch_follows_the_version_layout) {
  offset_fetch_response r;
  r.topics.emplace_back().partitions.emplace_back().error_code =
      code(error_code::unstable_offset_commit);
  r.error_code = code(error_code::group_authorization_failed);
  auto& g = r.groups.emplace_back();
  g.error_code = code(error_code::coordinator_load_in_progress);
  g.topics.emplace_back().partitions.emplace_back().error_code =
      code(error_code::unknown_topic_or_partition);
  // v1 has only per-partition codes; v2..7 add the top-level one; v8+ nests under groups.
  EXPECT_EQ(codes_of(r, 1), (std::vector<int16_t>{code(error_code::unstable_offset_commit)}));
  EXPECT_EQ(codes_of(r, 7), (std::vector<int16_t>{code(error_code::unstable_offset_commit),
                                                  code(error_code::group_authorization_failed)}));
  EXPECT_EQ(codes_of(r, 8), (std::vector<int16_t>{code(error_code::unknown_topic_or_partition),
                                                  code(error_code::coordinator_load_in_progress)}));
}

TEST(error_code_visitor, create_topics_counts_topic_config_error_code_from_v5) {
  create_topics_response r;
  auto& t = r.topics.emplace_back();
  t.error_code = code(error_code::topic_already_exists);
  t.topic_config_error_code = code(error_code::cluster_authorization_failed);
  EXPECT_EQ(codes_of(r, 4), (std::vector<int16_t>{code(error_code::topic_already_exists)}));
  EXPECT_EQ(codes_of(r, 5), (std::vector<int16_t>{code(error_code::topic_already_exists),
                                                  code(error_code::cluster_authorization_failed)}));
}

TEST(error_code_visitor, empty_response_visits_nothing_but_top_level) {
  fetch_response r;
  EXPECT_EQ(codes_of(r, 12), (std::vector<int16_t>{0}));
  produce_response p;
  EXPECT_TRUE(codes_of(p, 9).empty());
}
