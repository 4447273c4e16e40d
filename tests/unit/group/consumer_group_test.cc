// Proves the KIP-848 consumer group core: members get a uniform assignment, a partition moves only
// after its previous owner revoked it, member epochs follow the group's assignment epoch, and
// sessions, fencing and commit checks answer Kafka's error codes.
#include <gtest/gtest.h>

#include "gregor/group/consumer_group.h"

namespace gregor::group {
namespace {

class consumer_group_test : public ::testing::Test {
 protected:
  consumer_group_test()
      : coord(clk, 45000, [](const std::string& t) { return t == "t" ? 4 : 0; }) {}
  cg_heartbeat_output hb(const std::string& member, int32_t epoch,
                         std::optional<assignment_set> owned = std::nullopt, bool subscribe = false) {
    cg_heartbeat_input in;
    in.group_id = "g";
    in.member_id = member;
    in.member_epoch = epoch;
    if (subscribe || epoch == 0) in.subscribed_topics = std::vector<std::string>{"t"};
    in.owned = std::move(owned);
    return coord.heartbeat(in);
  }
  static assignment_set parts(std::initializer_list<int32_t> ps) {
    assignment_set s;
    for (int32_t p : ps) s.insert(topic_partition{"t", partition_id{p}});
    return s;
  }
  manual_clock clk;
  consumer_group_coordinator coord;
};

TEST_F(consumer_group_test, first_member_gets_every_partition_at_epoch_one) {
  auto a = hb("a", 0);
  EXPECT_EQ(a.error, protocol::error_code::none);
  EXPECT_EQ(a.member_epoch, 1);
  ASSERT_TRUE(a.assignment);
  EXPECT_EQ(*a.assignment, parts({0, 1, 2, 3}));
  auto again = hb("a", 1, parts({0, 1, 2, 3}));
  EXPECT_FALSE(again.assignment);  // unchanged: not repeated
}

TEST_F(consumer_group_test, partitions_move_only_after_revocation) {
  hb("a", 0);
  auto b = hb("b", 0);
  EXPECT_EQ(b.member_epoch, 2);
  ASSERT_TRUE(b.assignment);
  EXPECT_TRUE(b.assignment->empty());  // a still owns everything
  auto a = hb("a", 1, parts({0, 1, 2, 3}));
  ASSERT_TRUE(a.assignment);
  EXPECT_EQ(a.assignment->size(), 2u);  // told to revoke two
  EXPECT_EQ(a.member_epoch, 1);         // at its old epoch until it did
  EXPECT_TRUE(hb("b", 2).assignment == std::nullopt);
  auto a2 = hb("a", 1, *a.assignment);  // revoked
  EXPECT_EQ(a2.member_epoch, 2);
  auto b2 = hb("b", 2);
  ASSERT_TRUE(b2.assignment);
  EXPECT_EQ(b2.assignment->size(), 2u);
  for (const auto& tp : *b2.assignment) EXPECT_FALSE(a.assignment->count(tp));
  auto d = coord.describe("g");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->state, "Stable");
}

TEST_F(consumer_group_test, session_expiry_gives_partitions_to_the_survivor) {
  hb("a", 0);
  hb("b", 0);
  auto a = hb("a", 1, parts({0, 1, 2, 3}));
  hb("a", 1, *a.assignment);
  hb("b", 2);
  clk.advance(30000);
  hb("a", 2);
  clk.advance(20000);
  coord.tick();  // b expired
  auto a3 = hb("a", 2);
  EXPECT_EQ(a3.member_epoch, 3);
  ASSERT_TRUE(a3.assignment);
  EXPECT_EQ(*a3.assignment, parts({0, 1, 2, 3}));
}

TEST_F(consumer_group_test, errors_match_kafka) {
  EXPECT_EQ(hb("ghost", 3).error, protocol::error_code::unknown_member_id);
  hb("a", 0);
  EXPECT_EQ(hb("a", 7).error, protocol::error_code::fenced_member_epoch);
  EXPECT_EQ(coord.validate_commit("g", "a", 1), protocol::error_code::none);
  EXPECT_EQ(coord.validate_commit("g", "a", 0), protocol::error_code::stale_member_epoch);
  EXPECT_EQ(coord.validate_commit("g", "x", 1), protocol::error_code::unknown_member_id);
  EXPECT_EQ(coord.validate_commit("g", "", -1), protocol::error_code::unknown_member_id);
  EXPECT_EQ(coord.delete_group("g"), protocol::error_code::non_empty_group);
  EXPECT_EQ(hb("a", -1).member_epoch, -1);  // leave
  EXPECT_EQ(coord.validate_commit("g", "", -1), protocol::error_code::none);
  EXPECT_EQ(coord.delete_group("g"), protocol::error_code::none);
  EXPECT_FALSE(coord.has_group("g"));
}

TEST_F(consumer_group_test, txn_commit_checks_member_epoch_as_generation) {
  using protocol::error_code;
  EXPECT_EQ(coord.validate_txn_commit("none", "", std::nullopt, -1), error_code::none);
  EXPECT_EQ(coord.validate_txn_commit("none", "a", std::nullopt, 1), error_code::illegal_generation);
  hb("a", 0);
  // Nothing named (v0-v2): accepted although the group has members.
  EXPECT_EQ(coord.validate_txn_commit("g", "", std::nullopt, -1), error_code::none);
  EXPECT_EQ(coord.validate_txn_commit("g", "a", std::nullopt, 1), error_code::none);
  // A stale member epoch is ILLEGAL_GENERATION for TxnOffsetCommit (STALE_MEMBER_EPOCH for OffsetCommit).
  EXPECT_EQ(coord.validate_txn_commit("g", "a", std::nullopt, 0), error_code::illegal_generation);
  EXPECT_EQ(coord.validate_commit("g", "a", 0), error_code::stale_member_epoch);
  EXPECT_EQ(coord.validate_txn_commit("g", "x", std::nullopt, 1), error_code::unknown_member_id);
  EXPECT_EQ(coord.validate_txn_commit("g", "", std::string("i"), -1), error_code::unknown_member_id);
}

TEST_F(consumer_group_test, join_without_subscription_is_invalid) {
  cg_heartbeat_input in;
  in.group_id = "g";
  in.member_epoch = 0;
  EXPECT_EQ(coord.heartbeat(in).error, protocol::error_code::invalid_request);
  EXPECT_EQ(hb("ghost", 3).error, protocol::error_code::unknown_member_id);
  EXPECT_FALSE(coord.has_group("g"));  // bad requests create nothing
}

}  // namespace
}  // namespace gregor::group
