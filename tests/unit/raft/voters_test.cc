// Proves the KIP-853 rules of raft::replica: the voter set is log state (the latest voters entry
// rules, committed or not), changes go one at a time through the leader once its epoch has a
// commit, only caught-up observers fetching with the named directory id are added, a removed
// leader resigns once its removal commits, a removed voter keeps following as an observer, and
// snapshots and restarts keep the voter set.
#include <algorithm>
#include <cstring>

#include <gtest/gtest.h>

#include "gregor/raft/replica.h"
#include "sim.h"

namespace gregor::raft {
namespace {

const node_id n1{1}, n2{2}, n3{3}, n4{4};
const uuid dir4{0x44, 0x4444};

config three_voters(node_id self) {
  config c;
  c.self = self;
  c.voters = {n1, n2, n3};
  c.seed = 1;
  return c;
}

std::vector<node_id> ids(const voter_set& s) {
  std::vector<node_id> r;
  for (auto& v : s) r.push_back(v.id);
  return r;
}

voter voter_of(node_id id, uuid dir = {}) {
  voter v;
  v.id = id;
  v.directory_id = dir;
  v.endpoints.push_back({"CONTROLLER", "host" + std::to_string(id.value()), 9093});
  return v;
}

fetch_request fetch_from(node_id who, leader_epoch epoch, offset fetch_offset,
                         leader_epoch last_epoch, uuid dir = {}) {
  fetch_request f;
  f.replica = who;
  f.current_leader_epoch = epoch;
  f.fetch_offset = fetch_offset;
  f.last_fetched_epoch = last_epoch;
  f.directory_id = dir;
  return f;
}

// Node 1 of three voters, elected with node 2's votes, its LeaderChange entry persisted and
// committed (node 2 fetched past it): the epoch has a commit, voter changes are allowed.
struct led_cluster {
  int64_t now_ms = 0;
  replica r{three_voters(n1), persisted_state{}, 0};

  led_cluster() {
    now_ms += 2000;
    r.tick(now_ms);
    r.take_output();
    vote_response pre;
    pre.vote_granted = true;
    pre.pre_vote = true;
    pre.leader = {no_node, r.epoch()};
    r.step(n2, pre);
    vote_response vote;
    vote.vote_granted = true;
    vote.leader = {no_node, r.epoch()};
    r.step(n2, vote);
    EXPECT_EQ(r.current_role(), role::leader);
    sync();
    fetch(n2);
    EXPECT_EQ(r.high_watermark(), r.log_end_offset());
  }
  void sync() { r.persisted(r.take_output().sequence); }
  // `who` fetches at the leader's log end (it has everything).
  fetch_response fetch(node_id who, uuid dir = {}) {
    r.step(who, fetch_from(who, r.epoch(), r.log_end_offset(), r.epoch(), dir));
    for (auto& m : r.take_output().messages) {
      if (auto* f = std::get_if<fetch_response>(&m.body)) return *f;
    }
    return {};
  }
};

TEST(raft_voters, the_static_config_is_the_voter_set_until_the_log_has_a_voters_entry) {
  replica r(three_voters(n2), persisted_state{}, 0);
  EXPECT_EQ(ids(r.voters()), (std::vector<node_id>{n1, n2, n3}));
  EXPECT_TRUE(r.is_voter());
  for (auto& v : r.voters()) EXPECT_TRUE(v.directory_id.is_zero());
}

TEST(raft_voters, no_voter_change_before_the_leaders_epoch_has_a_commit) {
  int64_t now_ms = 2000;
  replica r(three_voters(n1), persisted_state{}, 0);
  r.tick(now_ms);
  vote_response pre{wire_error::none, {no_node, r.epoch()}, true, true};
  r.step(n2, pre);
  vote_response vote{wire_error::none, {no_node, r.epoch()}, true, false};
  r.step(n2, vote);
  ASSERT_EQ(r.current_role(), role::leader);
  auto refused = r.add_voter(voter_of(n4, dir4));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().error, raft_error::change_pending);
  replica follower(three_voters(n2), persisted_state{}, 0);
  auto not_leader = follower.remove_voter(n3, {});
  ASSERT_FALSE(not_leader);
  EXPECT_EQ(not_leader.error().error, raft_error::not_leader);
}

TEST(raft_voters, add_voter_needs_a_caught_up_observer_fetching_with_that_directory_id) {
  led_cluster c;
  auto unknown = c.r.add_voter(voter_of(n4, dir4));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().error, raft_error::not_caught_up);
  c.fetch(n4, uuid{1, 1});  // another directory: another replica
  auto other_dir = c.r.add_voter(voter_of(n4, dir4));
  ASSERT_FALSE(other_dir);
  EXPECT_EQ(other_dir.error().error, raft_error::not_caught_up);
  auto dup = c.r.add_voter(voter_of(n2));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().error, raft_error::duplicate_voter);

  c.fetch(n4, dir4);
  auto added = c.r.add_voter(voter_of(n4, dir4));
  ASSERT_TRUE(added);
  // The new set rules at once, uncommitted, and is the entry's content.
  EXPECT_EQ(ids(c.r.voters()), (std::vector<node_id>{n1, n2, n3, n4}));
  const entry& e = c.r.log().back();
  EXPECT_EQ(e.kind, entry_kind::voters);
  EXPECT_EQ(e.base, added->first);
  EXPECT_EQ(e.voters.back().directory_id, dir4);
  ASSERT_EQ(e.voters.back().endpoints.size(), 1u);
}

TEST(raft_voters, one_uncommitted_change_at_a_time_and_the_new_majority_commits_it) {
  led_cluster c;
  c.fetch(n4, dir4);
  auto added = c.r.add_voter(voter_of(n4, dir4));
  ASSERT_TRUE(added);
  auto second = c.r.remove_voter(n3, {});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().error, raft_error::change_pending);
  c.sync();
  // Four voters: the leader and node 2 are no majority any more.
  c.fetch(n2);
  EXPECT_LT(c.r.high_watermark(), added->last_end);
  c.fetch(n4, dir4);
  EXPECT_EQ(c.r.high_watermark(), added->last_end);
  auto q = c.r.describe_quorum();
  EXPECT_EQ(q.voters.size(), 4u);
  EXPECT_TRUE(q.observers.empty());
  EXPECT_TRUE(c.r.remove_voter(n3, {}).has_value());
}

TEST(raft_voters, remove_voter_needs_the_exact_replica_key_and_never_empties_the_set) {
  led_cluster c;
  auto wrong_dir = c.r.remove_voter(n3, dir4);
  ASSERT_FALSE(wrong_dir);
  EXPECT_EQ(wrong_dir.error().error, raft_error::voter_not_found);
  auto absent = c.r.remove_voter(n4, {});
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().error, raft_error::voter_not_found);
  auto removed = c.r.remove_voter(n3, {});
  ASSERT_TRUE(removed);
  EXPECT_EQ(ids(c.r.voters()), (std::vector<node_id>{n1, n2}));
  // Node 3 now counts as an observer.
  c.sync();
  c.fetch(n3);
  auto q = c.r.describe_quorum();
  EXPECT_EQ(q.voters.size(), 2u);
  ASSERT_EQ(q.observers.size(), 1u);
  EXPECT_EQ(q.observers[0].id, n3);
}

TEST(raft_voters, a_leader_that_removes_itself_leads_until_the_removal_commits_then_resigns) {
  led_cluster c;
  auto removed = c.r.remove_voter(n1, {});
  ASSERT_TRUE(removed);
  EXPECT_FALSE(c.r.is_voter());
  EXPECT_EQ(c.r.current_role(), role::leader);
  c.sync();
  // Its own log end no longer counts: {2, 3} must both have the removal.
  c.fetch(n2);
  EXPECT_EQ(c.r.current_role(), role::leader);
  EXPECT_LT(c.r.high_watermark(), removed->last_end);
  c.r.step(n3, fetch_from(n3, c.r.epoch(), c.r.log_end_offset(), c.r.epoch()));
  EXPECT_EQ(c.r.high_watermark(), removed->last_end);
  EXPECT_EQ(c.r.current_role(), role::resigned);
  auto out = c.r.take_output();
  bool told = false;
  for (auto& m : out.messages) told |= std::holds_alternative<end_quorum_epoch_request>(m.body);
  EXPECT_TRUE(told);
  // It never campaigns again: after its wait it follows as an observer.
  c.now_ms += 10000;
  c.r.tick(c.now_ms);
  EXPECT_EQ(c.r.current_role(), role::unattached);
  c.r.tick(c.now_ms + 5000);
  EXPECT_NE(c.r.current_role(), role::prospective);
  for (auto& m : c.r.take_output().messages)
    EXPECT_FALSE(std::holds_alternative<vote_request>(m.body));
}

// A follower (node 3) that receives a voters entry removing it.
TEST(raft_voters, a_removed_follower_keeps_following_as_an_observer_and_truncation_restores_it) {
  replica r(three_voters(n3), persisted_state{}, 0);
  begin_quorum_epoch_request begin{{n1, leader_epoch{1}}, n3};
  r.step(n1, begin);
  ASSERT_EQ(r.current_role(), role::follower);
  uint64_t token = 0;
  for (auto& m : r.take_output().messages)
    if (auto* q = std::get_if<fetch_request>(&m.body)) token = q->request_token;
  ASSERT_NE(token, 0u);
  fetch_response f;
  f.current_leader = {n1, leader_epoch{1}};
  f.high_watermark = offset{1};
  entry lc;
  lc.base = offset{0};
  lc.epoch = leader_epoch{1};
  lc.kind = entry_kind::leader_change;
  lc.leader_change.leader = n1;
  entry v;
  v.base = offset{1};
  v.epoch = leader_epoch{1};
  v.kind = entry_kind::voters;
  v.voters = {voter_of(n1), voter_of(n2)};
  f.records = {lc, v};
  f.request_token = token;
  r.step(n1, f);
  auto out = r.take_output();
  ASSERT_TRUE(out.voters.has_value());
  EXPECT_EQ(ids(*out.voters), (std::vector<node_id>{n1, n2}));
  EXPECT_FALSE(r.is_voter());
  EXPECT_EQ(r.current_role(), role::follower);
  EXPECT_EQ(r.voters_at(offset{1}).size(), 3u);  // before the entry: the config's set
  EXPECT_EQ(r.voters_at(offset{2}).size(), 2u);

  // The leader goes silent: an observer does not campaign, it looks for the leader.
  r.tick(2100);
  EXPECT_EQ(r.current_role(), role::unattached);
  r.tick(9000);
  EXPECT_EQ(r.current_role(), role::unattached);
  for (auto& m : r.take_output().messages) EXPECT_FALSE(std::holds_alternative<vote_request>(m.body));

  // A new leader whose log diverges before the (uncommitted) voters entry: truncation brings the
  // config's set back, and node 3 is a voter again.
  begin_quorum_epoch_request begin2{{n2, leader_epoch{2}}, n3};
  r.step(n2, begin2);
  uint64_t token2 = 0;
  for (auto& m : r.take_output().messages)
    if (auto* q = std::get_if<fetch_request>(&m.body)) token2 = q->request_token;
  fetch_response d;
  d.current_leader = {n2, leader_epoch{2}};
  d.high_watermark = offset{1};
  d.diverging = diverging_epoch{leader_epoch{1}, offset{1}};
  d.request_token = token2;
  r.step(n2, d);
  auto out2 = r.take_output();
  ASSERT_TRUE(out2.voters.has_value());
  EXPECT_EQ(ids(r.voters()), (std::vector<node_id>{n1, n2, n3}));
  EXPECT_TRUE(r.is_voter());
}

// Snapshot bytes in this test: one byte per voter id (the shell writes Kafka's VotersRecord).
std::optional<voter_set> decode_test_voters(const bytes& b) {
  if (b.empty() || b[0] != 0xee) return std::nullopt;
  voter_set s;
  for (size_t i = 1; i < b.size(); ++i) s.push_back(voter_of(node_id{b[i]}));
  return s;
}

TEST(raft_voters, restart_and_snapshots_keep_the_voter_set) {
  config cfg = three_voters(n2);
  cfg.snapshot_voters = decode_test_voters;
  // Restart from a log holding a voters entry: it rules.
  persisted_state st;
  entry v;
  v.base = offset{0};
  v.epoch = leader_epoch{1};
  v.kind = entry_kind::voters;
  v.voters = {voter_of(n1), voter_of(n2), voter_of(n3), voter_of(n4, dir4)};
  st.log.push_back(v);
  replica r(cfg, st, 0);
  EXPECT_EQ(ids(r.voters()), (std::vector<node_id>{n1, n2, n3, n4}));
  EXPECT_EQ(r.voters().back().directory_id, dir4);
  EXPECT_TRUE(r.take_output().voters.has_value());

  // Restart from a snapshot whose bytes carry the set, with an empty log after it.
  persisted_state st2;
  st2.snapshot = snapshot_id{offset{10}, leader_epoch{1}};
  st2.snapshot_bytes = std::make_shared<const bytes>(bytes{0xee, 1, 2, 4});
  replica r2(cfg, st2, 0);
  EXPECT_EQ(ids(r2.voters()), (std::vector<node_id>{n1, n2, n4}));
  // Without a voter set in the snapshot, the config's set.
  st2.snapshot_bytes = std::make_shared<const bytes>(bytes{1, 2, 3});
  replica r3(cfg, st2, 0);
  EXPECT_EQ(ids(r3.voters()), (std::vector<node_id>{n1, n2, n3}));
}

TEST(raft_voters, a_snapshot_past_a_voters_entry_keeps_that_set_as_its_base) {
  led_cluster c;
  c.fetch(n4, dir4);
  auto added = c.r.add_voter(voter_of(n4, dir4));
  ASSERT_TRUE(added);
  c.sync();
  c.fetch(n2);
  c.fetch(n4, dir4);
  ASSERT_EQ(c.r.high_watermark(), added->last_end);
  auto out = c.r.take_output();
  EXPECT_EQ(c.r.voters_at(added->first).size(), 3u);
  EXPECT_EQ(c.r.voters_at(added->last_end).size(), 4u);
  c.r.snapshot_taken(added->last_end, c.r.epoch(), std::make_shared<const bytes>(bytes{0xee, 1, 2, 3, 4}));
  EXPECT_EQ(c.r.voters().size(), 4u);
  EXPECT_EQ(c.r.voters_at(added->last_end).size(), 4u);
}

TEST(raft_voters, update_voter_replaces_the_endpoints_of_the_exact_replica_key) {
  led_cluster c;
  voter moved = voter_of(n3);
  moved.endpoints = {{"CONTROLLER", "elsewhere", 19093}};
  auto wrong = c.r.update_voter(voter_of(n3, dir4));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().error, raft_error::voter_not_found);
  ASSERT_TRUE(c.r.update_voter(moved));
  EXPECT_EQ(c.r.voters()[2].endpoints[0].host, "elsewhere");
  EXPECT_EQ(ids(c.r.voters()), (std::vector<node_id>{n1, n2, n3}));
}

}  // namespace
}  // namespace gregor::raft
