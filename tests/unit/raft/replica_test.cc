// Proves each KRaft rule of raft::replica on its own: votes, pre-vote, divergence, snapshots,
// check-quorum, fencing, proposals and the durability contract.
#include <algorithm>

#include <gtest/gtest.h>

#include "gregor/raft/replica.h"
#include "sim.h"

namespace gregor::raft {
namespace {

const node_id n1{1}, n2{2}, n3{3}, n4{4};

config three_voters(node_id self) {
  config c;
  c.self = self;
  c.voters = {n1, n2, n3};
  c.seed = 1;
  return c;
}

entry data_entry(int64_t base, int32_t epoch, int32_t records = 1) {
  entry e;
  e.base = offset{base};
  e.epoch = leader_epoch{epoch};
  e.record_count = records;
  e.payload = {uint8_t(base), uint8_t(epoch)};
  return e;
}

// A log of one-record entries with the given epochs, from offset 0.
std::vector<entry> log_of(std::vector<int32_t> epochs) {
  std::vector<entry> log;
  for (size_t i = 0; i < epochs.size(); ++i) log.push_back(data_entry(int64_t(i), epochs[i]));
  return log;
}

template <class M>
std::vector<std::pair<node_id, M>> sent(const output& out) {
  std::vector<std::pair<node_id, M>> r;
  for (auto& m : out.messages) {
    if (auto* x = std::get_if<M>(&m.body)) r.emplace_back(m.to, *x);
  }
  return r;
}

// Elects node 1 of three voters: pre-vote and vote granted by node 2. Returns the epoch.
leader_epoch elect(replica& r, int64_t& now_ms) {
  now_ms += 2000;
  r.tick(now_ms);
  EXPECT_EQ(r.current_role(), role::prospective);
  r.take_output();
  vote_response pre;
  pre.vote_granted = true;
  pre.pre_vote = true;
  pre.leader = {no_node, r.epoch()};
  r.step(n2, pre);
  EXPECT_EQ(r.current_role(), role::candidate);
  vote_response vote;
  vote.vote_granted = true;
  vote.leader = {no_node, r.epoch()};
  r.step(n2, vote);
  EXPECT_EQ(r.current_role(), role::leader);
  return r.epoch();
}

fetch_request fetch_from(node_id who, leader_epoch epoch, int64_t fetch_offset,
                         int32_t last_epoch) {
  fetch_request f;
  f.replica = who;
  f.current_leader_epoch = epoch;
  f.fetch_offset = offset{fetch_offset};
  f.last_fetched_epoch = leader_epoch{last_epoch};
  return f;
}

vote_request vote_from(node_id who, int32_t epoch, int32_t last_epoch, int64_t end, bool pre) {
  vote_request v;
  v.candidate = who;
  v.voter = n1;
  v.candidate_epoch = leader_epoch{epoch};
  v.last_offset_epoch = leader_epoch{last_epoch};
  v.last_offset = offset{end};
  v.pre_vote = pre;
  return v;
}

TEST(raft_replica, vote_is_refused_to_a_candidate_whose_log_is_shorter_in_the_same_last_epoch) {
  persisted_state s;
  s.quorum.epoch = leader_epoch{1};
  s.log = log_of({1, 1, 1});
  replica r(three_voters(n1), s, 0);
  r.take_output();
  r.step(n2, vote_from(n2, 2, 1, 2, false));
  output out = r.take_output();
  auto votes = sent<vote_response>(out);
  ASSERT_EQ(votes.size(), 1u);
  EXPECT_FALSE(votes[0].second.vote_granted);
  // The higher epoch is adopted (and persisted) even though the vote is refused.
  ASSERT_TRUE(out.quorum);
  EXPECT_EQ(out.quorum->epoch, leader_epoch{2});
  EXPECT_EQ(out.quorum->voted_for, no_node);

  r.step(n3, vote_from(n3, 2, 1, 3, false));
  out = r.take_output();
  votes = sent<vote_response>(out);
  ASSERT_EQ(votes.size(), 1u);
  EXPECT_TRUE(votes[0].second.vote_granted);
}

TEST(raft_replica, vote_is_refused_to_a_candidate_whose_last_epoch_is_older_even_if_longer) {
  persisted_state s;
  s.quorum.epoch = leader_epoch{3};
  s.log = log_of({1, 3});
  replica r(three_voters(n1), s, 0);
  r.take_output();
  r.step(n2, vote_from(n2, 4, 2, 10, false));
  auto votes = sent<vote_response>(r.take_output());
  ASSERT_EQ(votes.size(), 1u);
  EXPECT_FALSE(votes[0].second.vote_granted);
}

TEST(raft_replica, a_granted_vote_is_persisted_in_the_output_that_carries_the_grant) {
  replica r(three_voters(n1), persisted_state{}, 0);
  r.take_output();
  r.step(n2, vote_from(n2, 1, 0, 0, false));
  output out = r.take_output();
  ASSERT_TRUE(out.quorum);
  EXPECT_EQ(out.quorum->voted_for, n2);
  EXPECT_EQ(out.quorum->epoch, leader_epoch{1});
  ASSERT_EQ(sent<vote_response>(out).size(), 1u);
  EXPECT_TRUE(sent<vote_response>(out)[0].second.vote_granted);
  // One vote per epoch: another candidate of the same epoch is refused.
  r.step(n3, vote_from(n3, 1, 0, 0, false));
  out = r.take_output();
  EXPECT_FALSE(sent<vote_response>(out)[0].second.vote_granted);
  EXPECT_FALSE(out.quorum);
}

TEST(raft_replica, pre_vote_changes_no_state_and_is_refused_while_the_leader_answers) {
  persisted_state s;
  s.quorum = {leader_epoch{1}, no_node, n2};
  replica r(three_voters(n1), s, 0);
  output out = r.take_output();
  EXPECT_EQ(r.current_role(), role::follower);
  auto fetches = sent<fetch_request>(out);
  ASSERT_EQ(fetches.size(), 1u);
  fetch_response ok;
  ok.current_leader = {n2, leader_epoch{1}};
  ok.high_watermark = offset{0};
  ok.request_token = fetches[0].second.request_token;
  r.step(n2, ok);
  r.take_output();

  r.step(n3, vote_from(n3, 1, 0, 0, true));
  out = r.take_output();
  EXPECT_FALSE(out.quorum);
  ASSERT_EQ(sent<vote_response>(out).size(), 1u);
  EXPECT_FALSE(sent<vote_response>(out)[0].second.vote_granted);
  EXPECT_TRUE(sent<vote_response>(out)[0].second.pre_vote);
  EXPECT_EQ(r.epoch(), leader_epoch{1});
  EXPECT_EQ(r.current_role(), role::follower);

  // Once the leader has been silent for quorum.fetch.timeout.ms, the same pre-vote is granted,
  // still without any state change.
  r.tick(2500);
  r.take_output();
  r.step(n3, vote_from(n3, 1, 0, 0, true));
  out = r.take_output();
  EXPECT_FALSE(out.quorum);
  EXPECT_TRUE(sent<vote_response>(out)[0].second.vote_granted);
  EXPECT_EQ(r.epoch(), leader_epoch{1});
}

TEST(raft_replica, a_pre_vote_from_an_older_epoch_is_fenced_and_a_newer_epoch_is_adopted) {
  persisted_state s;
  s.quorum.epoch = leader_epoch{3};
  replica r(three_voters(n1), s, 0);
  r.take_output();
  r.step(n2, vote_from(n2, 2, 0, 0, true));
  output out = r.take_output();
  ASSERT_EQ(sent<vote_response>(out).size(), 1u);
  EXPECT_EQ(sent<vote_response>(out)[0].second.error, wire_error::fenced_leader_epoch);
  EXPECT_FALSE(sent<vote_response>(out)[0].second.vote_granted);
  r.step(n2, vote_from(n2, 5, 0, 0, true));
  out = r.take_output();
  EXPECT_TRUE(sent<vote_response>(out)[0].second.vote_granted);
  ASSERT_TRUE(out.quorum);
  EXPECT_EQ(out.quorum->epoch, leader_epoch{5});
  EXPECT_EQ(out.quorum->voted_for, no_node);  // a pre-vote records no vote
}

TEST(raft_replica, a_prospective_becomes_candidate_only_after_a_majority_of_pre_votes) {
  replica r(three_voters(n1), persisted_state{}, 0);
  r.take_output();
  r.tick(2000);
  output out = r.take_output();
  EXPECT_EQ(r.current_role(), role::prospective);
  EXPECT_FALSE(out.quorum);  // pre-vote persists nothing
  auto pre = sent<vote_request>(out);
  ASSERT_EQ(pre.size(), 2u);
  EXPECT_TRUE(pre[0].second.pre_vote);
  EXPECT_EQ(pre[0].second.candidate_epoch, leader_epoch{0});  // not bumped by a pre-vote
  // A late real-vote grant is not a pre-vote.
  vote_response late;
  late.vote_granted = true;
  late.leader = {no_node, leader_epoch{0}};
  r.step(n2, late);
  EXPECT_EQ(r.current_role(), role::prospective);
  late.pre_vote = true;
  r.step(n2, late);
  EXPECT_EQ(r.current_role(), role::candidate);
  out = r.take_output();
  ASSERT_TRUE(out.quorum);
  EXPECT_EQ(out.quorum->epoch, leader_epoch{1});
  EXPECT_EQ(out.quorum->voted_for, n1);
}

TEST(raft_replica, a_candidate_asks_again_only_the_voters_that_have_not_answered) {
  config c;
  c.self = n1;
  c.voters = {n1, n2, n3, n4, node_id{5}};
  replica r(c, persisted_state{}, 0);
  r.take_output();
  r.tick(2000);
  ASSERT_EQ(r.current_role(), role::prospective);
  EXPECT_EQ(sent<vote_request>(r.take_output()).size(), 4u);
  vote_response no;
  no.pre_vote = true;
  no.leader = {no_node, r.epoch()};
  r.step(n2, no);
  r.tick(2000 + c.vote_retry_ms);
  auto again = sent<vote_request>(r.take_output());
  ASSERT_EQ(again.size(), 3u);
  for (auto& [to, req] : again) {
    EXPECT_NE(to, n2);
    EXPECT_TRUE(req.pre_vote);
  }
}

TEST(raft_replica, a_new_leader_writes_a_leader_change_entry_and_begins_its_epoch) {
  int64_t now = 0;
  replica r(three_voters(n1), persisted_state{}, now);
  r.take_output();
  leader_epoch e = elect(r, now);
  output out = r.take_output();
  ASSERT_EQ(out.log_ops.size(), 1u);
  auto& app = std::get<append_log>(out.log_ops[0]);
  ASSERT_EQ(app.entries.size(), 1u);
  EXPECT_EQ(app.entries[0].kind, entry_kind::leader_change);
  EXPECT_EQ(app.entries[0].epoch, e);
  EXPECT_EQ(app.entries[0].leader_change.leader, n1);
  EXPECT_EQ(app.entries[0].leader_change.granting_voters, (std::vector<node_id>{n1, n2}));
  EXPECT_EQ(sent<begin_quorum_epoch_request>(out).size(), 2u);
  ASSERT_TRUE(out.leadership);
  EXPECT_EQ(out.leadership->self_role, role::leader);
}

TEST(raft_replica, high_watermark_needs_a_persisted_majority_and_an_entry_of_the_leaders_epoch) {
  // The leader inherits entries of epoch 1 that were never committed.
  persisted_state s;
  s.quorum.epoch = leader_epoch{1};
  s.log = log_of({1, 1});
  int64_t now = 0;
  replica r(three_voters(n1), s, now);
  r.take_output();
  leader_epoch e = elect(r, now);
  output out = r.take_output();
  // A follower that has the old entries, but not the leader change, commits nothing.
  r.step(n2, fetch_from(n2, e, 2, 1));
  out = r.take_output();
  EXPECT_EQ(r.high_watermark(), offset{0});
  // The follower has the leader change too, but the leader has not persisted its own log.
  r.step(n2, fetch_from(n2, e, 3, e.value()));
  out = r.take_output();
  EXPECT_EQ(r.high_watermark(), offset{0});
  r.persisted(out.sequence);
  out = r.take_output();
  EXPECT_EQ(r.high_watermark(), offset{3});
  ASSERT_EQ(out.committed.size(), 3u);
  EXPECT_EQ(out.committed[2].kind, entry_kind::leader_change);
}

TEST(raft_replica, leader_answers_a_diverging_fetch_with_its_epoch_end) {
  persisted_state s;
  s.quorum.epoch = leader_epoch{2};
  s.log = log_of({1, 1, 2, 2});
  int64_t now = 0;
  replica r(three_voters(n1), s, now);
  r.take_output();
  leader_epoch e = elect(r, now);
  r.take_output();
  // The follower wrote epoch 1 up to offset 5 (as an old leader of epoch 1 did, unreplicated).
  r.step(n2, fetch_from(n2, e, 5, 1));
  auto answers = sent<fetch_response>(r.take_output());
  ASSERT_EQ(answers.size(), 1u);
  ASSERT_TRUE(answers[0].second.diverging);
  EXPECT_EQ(answers[0].second.diverging->epoch, leader_epoch{1});
  EXPECT_EQ(answers[0].second.diverging->end_offset, offset{2});
  EXPECT_TRUE(answers[0].second.records.empty());
  // An epoch the leader never saw: the largest smaller one it knows.
  r.step(n2, fetch_from(n2, e, 4, 0));
  answers = sent<fetch_response>(r.take_output());
  ASSERT_TRUE(answers[0].second.diverging);
  EXPECT_EQ(answers[0].second.diverging->end_offset, offset{0});
}

TEST(raft_replica, follower_truncates_at_the_divergence_point_and_fetches_again_from_there) {
  persisted_state s;
  s.quorum = {leader_epoch{3}, no_node, n2};
  s.log = log_of({1, 1, 1, 1, 1});
  replica r(three_voters(n1), s, 0);
  auto fetches = sent<fetch_request>(r.take_output());
  ASSERT_EQ(fetches.size(), 1u);
  EXPECT_EQ(fetches[0].second.fetch_offset, offset{5});
  EXPECT_EQ(fetches[0].second.last_fetched_epoch, leader_epoch{1});
  fetch_response d;
  d.current_leader = {n2, leader_epoch{3}};
  d.diverging = diverging_epoch{leader_epoch{1}, offset{2}};
  d.high_watermark = offset{2};
  d.request_token = fetches[0].second.request_token;
  r.step(n2, d);
  output out = r.take_output();
  ASSERT_EQ(out.log_ops.size(), 1u);
  EXPECT_EQ(std::get<truncate_log>(out.log_ops[0]).end, offset{2});
  EXPECT_EQ(r.log_end_offset(), offset{2});
  EXPECT_EQ(r.high_watermark(), offset{0});  // a diverging answer commits nothing
  fetches = sent<fetch_request>(out);
  ASSERT_EQ(fetches.size(), 1u);
  EXPECT_EQ(fetches[0].second.fetch_offset, offset{2});
  // The same answer delivered again (a duplicate) is not the one awaited: ignored.
  r.step(n2, d);
  EXPECT_TRUE(r.take_output().log_ops.empty());
}

TEST(raft_replica, follower_appends_whole_batches_and_takes_the_high_watermark_up_to_its_log_end) {
  persisted_state s;
  s.quorum = {leader_epoch{1}, no_node, n2};
  replica r(three_voters(n1), s, 0);
  auto fetches = sent<fetch_request>(r.take_output());
  fetch_response f;
  f.current_leader = {n2, leader_epoch{1}};
  f.records = {data_entry(0, 1, 3), data_entry(3, 1, 2)};
  f.high_watermark = offset{9};
  f.request_token = fetches[0].second.request_token;
  r.step(n2, f);
  output out = r.take_output();
  EXPECT_EQ(r.log_end_offset(), offset{5});
  EXPECT_EQ(r.high_watermark(), offset{5});
  EXPECT_EQ(out.committed.size(), 2u);
  fetches = sent<fetch_request>(out);
  ASSERT_EQ(fetches.size(), 1u);
  EXPECT_EQ(fetches[0].second.fetch_offset, offset{5});
}

TEST(raft_replica, a_snapshot_answer_at_or_below_the_high_watermark_is_stale_and_ignored) {
  persisted_state s;
  s.quorum = {leader_epoch{1}, no_node, n2};
  replica r(three_voters(n1), s, 0);
  auto fetches = sent<fetch_request>(r.take_output());
  fetch_response f;
  f.current_leader = {n2, leader_epoch{1}};
  f.records = {data_entry(0, 1, 3)};
  f.high_watermark = offset{3};
  f.request_token = fetches[0].second.request_token;
  r.step(n2, f);
  fetches = sent<fetch_request>(r.take_output());
  ASSERT_EQ(r.high_watermark(), offset{3});
  fetch_response snap;
  snap.current_leader = {n2, leader_epoch{1}};
  snap.snapshot = snapshot_id{offset{3}, leader_epoch{1}};
  snap.request_token = fetches[0].second.request_token;
  r.step(n2, snap);
  output out = r.take_output();
  EXPECT_TRUE(sent<fetch_snapshot_request>(out).empty());
  EXPECT_TRUE(out.log_ops.empty());
  EXPECT_EQ(r.log_end_offset(), offset{3});
}

TEST(raft_replica, fetch_answers_respect_entry_and_byte_bounds_but_always_carry_one_entry) {
  int64_t now = 0;
  config c = three_voters(n1);
  c.fetch_entries_max = 3;
  replica r(c, persisted_state{}, now);
  r.take_output();
  leader_epoch e = elect(r, now);
  std::vector<proposal> batches;
  for (int i = 0; i < 10; ++i) batches.push_back(proposal{bytes(1000, uint8_t(i)), 1});
  ASSERT_TRUE(r.propose(std::move(batches)).has_value());
  r.take_output();
  r.step(n2, fetch_from(n2, e, 0, 0));
  auto answers = sent<fetch_response>(r.take_output());
  EXPECT_EQ(answers[0].second.records.size(), 3u);
  fetch_request small = fetch_from(n2, e, 1, e.value());
  small.max_bytes = 10;
  r.step(n2, small);
  answers = sent<fetch_response>(r.take_output());
  EXPECT_EQ(answers[0].second.records.size(), 1u);
}

TEST(raft_replica, a_fetch_from_a_stale_epoch_is_fenced_and_names_the_leader) {
  int64_t now = 0;
  replica r(three_voters(n1), persisted_state{}, now);
  r.take_output();
  leader_epoch e = elect(r, now);
  r.take_output();
  r.step(n2, fetch_from(n2, e - 1, 0, 0));
  auto answers = sent<fetch_response>(r.take_output());
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].second.error, wire_error::fenced_leader_epoch);
  EXPECT_EQ(answers[0].second.current_leader, (leader_and_epoch{n1, e}));
}

TEST(raft_replica, a_stale_leader_steps_down_on_a_higher_epoch) {
  int64_t now = 0;
  replica r(three_voters(n1), persisted_state{}, now);
  r.take_output();
  leader_epoch e = elect(r, now);
  r.take_output();
  r.step(n3, begin_quorum_epoch_request{{n3, e + 1}, n1});
  EXPECT_EQ(r.current_role(), role::follower);
  EXPECT_EQ(r.leader(), (leader_and_epoch{n3, e + 1}));
  auto result = r.propose({proposal{bytes{1}, 1}});
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().error, raft_error::not_leader);
  EXPECT_EQ(result.error().leader.leader, n3);
}

TEST(raft_replica, check_quorum_resigns_a_leader_no_majority_fetches_from) {
  int64_t now = 0;
  replica r(three_voters(n1), persisted_state{}, now);
  r.take_output();
  leader_epoch e = elect(r, now);
  r.take_output();
  // Node 2 keeps fetching: with the leader that is a majority of three.
  for (int i = 0; i < 10; ++i) {
    now += 500;
    r.step(n2, fetch_from(n2, e, 0, 0));
    r.tick(now);
  }
  EXPECT_EQ(r.current_role(), role::leader);
  r.take_output();
  now += 2000;
  r.tick(now);
  EXPECT_EQ(r.current_role(), role::resigned);
  auto ends = sent<end_quorum_epoch_request>(r.take_output());
  ASSERT_EQ(ends.size(), 2u);
  // The voter with the longer log is the first preferred successor.
  EXPECT_EQ(ends[0].second.preferred_candidates.front(), n2);
}

TEST(raft_replica, end_quorum_epoch_lets_the_first_preferred_candidate_stand_at_once) {
  persisted_state s;
  s.quorum = {leader_epoch{1}, no_node, n2};
  replica r(three_voters(n1), s, 0);
  r.take_output();
  end_quorum_epoch_request end;
  end.leader = {n2, leader_epoch{1}};
  end.preferred_candidates = {n1, n3};
  r.step(n2, end);
  r.take_output();
  r.tick(5);
  EXPECT_EQ(r.current_role(), role::prospective);
}

TEST(raft_replica, propose_refuses_beyond_the_uncommitted_bound_and_bad_batches) {
  int64_t now = 0;
  config c = three_voters(n1);
  c.uncommitted_entries_max = 4;
  replica r(c, persisted_state{}, now);
  r.take_output();
  elect(r, now);  // the leader change is the first uncommitted entry
  EXPECT_EQ(r.propose({proposal{bytes{1}, 0}}).error().error, raft_error::invalid_proposal);
  auto ok = r.propose({proposal{bytes{1}, 2}, proposal{bytes{2}, 3}});
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->first, offset{1});
  EXPECT_EQ(ok->last_end, offset{6});
  EXPECT_EQ(r.propose({proposal{bytes{3}, 1}, proposal{bytes{4}, 1}}).error().error,
            raft_error::too_many_pending);
}

TEST(raft_replica, a_single_voter_elects_itself_at_the_first_tick_and_commits_once_persisted) {
  config c;
  c.self = n1;
  c.voters = {n1};
  replica r(c, persisted_state{}, 0);
  r.tick(0);
  EXPECT_EQ(r.current_role(), role::leader);
  output out = r.take_output();
  EXPECT_EQ(r.high_watermark(), offset{0});
  r.persisted(out.sequence);
  EXPECT_EQ(r.high_watermark(), offset{1});
  ASSERT_TRUE(r.propose({proposal{bytes{7}, 1}}).has_value());
  out = r.take_output();
  r.persisted(out.sequence);
  out = r.take_output();
  EXPECT_EQ(r.high_watermark(), offset{2});
  ASSERT_EQ(out.committed.size(), 1u);
  EXPECT_EQ(out.committed[0].payload, bytes{7});
}

TEST(raft_replica, a_restarted_leader_comes_back_resigned_with_its_log) {
  persisted_state s;
  s.quorum = {leader_epoch{4}, n1, n1};
  s.log = log_of({1, 4});
  replica r(three_voters(n1), s, 0);
  EXPECT_EQ(r.current_role(), role::resigned);
  EXPECT_EQ(r.log_end_offset(), offset{2});
  EXPECT_FALSE(r.propose({proposal{bytes{1}, 1}}).has_value());
}

TEST(raft_replica, leader_sends_its_snapshot_id_below_the_log_start_and_the_snapshot_in_chunks) {
  int64_t now = 0;
  config c;
  c.self = n1;
  c.voters = {n1, n2, n3};
  c.snapshot_chunk_bytes_max = 4;
  persisted_state s;
  s.quorum.epoch = leader_epoch{1};
  s.snapshot = snapshot_id{offset{3}, leader_epoch{1}};
  s.snapshot_bytes = std::make_shared<const bytes>(bytes{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  replica r(c, s, now);
  output out = r.take_output();
  ASSERT_TRUE(out.snapshot_to_load);  // the state machine starts from the snapshot
  leader_epoch e = elect(r, now);
  r.take_output();
  r.step(n2, fetch_from(n2, e, 1, 1));
  auto answers = sent<fetch_response>(r.take_output());
  ASSERT_TRUE(answers[0].second.snapshot);
  EXPECT_EQ(*answers[0].second.snapshot, (snapshot_id{offset{3}, leader_epoch{1}}));

  fetch_snapshot_request fs;
  fs.replica = n2;
  fs.current_leader_epoch = e;
  fs.snapshot = *answers[0].second.snapshot;
  fs.position = 8;
  r.step(n2, fs);
  auto chunks = sent<fetch_snapshot_response>(r.take_output());
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].second.size, 10);
  EXPECT_EQ(chunks[0].second.unaligned_records, (bytes{9, 10}));
  fs.position = 11;
  r.step(n2, fs);
  EXPECT_EQ(sent<fetch_snapshot_response>(r.take_output())[0].second.error,
            wire_error::position_out_of_range);
  fs.snapshot.end_offset = offset{2};
  fs.position = 0;
  r.step(n2, fs);
  EXPECT_EQ(sent<fetch_snapshot_response>(r.take_output())[0].second.error,
            wire_error::snapshot_not_found);
}

TEST(raft_replica, describe_quorum_reports_voter_and_observer_progress) {
  int64_t now = 0;
  replica r(three_voters(n1), persisted_state{}, now);
  r.take_output();
  leader_epoch e = elect(r, now);
  r.take_output();
  r.step(n2, fetch_from(n2, e, 1, e.value()));
  r.step(n4, fetch_from(n4, e, 0, 0));
  quorum_info q = r.describe_quorum();
  EXPECT_EQ(q.leader, (leader_and_epoch{n1, e}));
  ASSERT_EQ(q.voters.size(), 3u);
  EXPECT_EQ(q.voters[1].id, n2);
  EXPECT_EQ(q.voters[1].log_end_offset, offset{1});
  EXPECT_EQ(q.voters[1].last_fetch_ms, now);
  EXPECT_EQ(q.voters[2].last_fetch_ms, no_timestamp);
  ASSERT_EQ(q.observers.size(), 1u);
  EXPECT_EQ(q.observers[0].id, n4);
}

TEST(raft_replica, an_observer_asks_the_voters_in_turn_until_one_names_the_leader) {
  config c = three_voters(n4);
  replica r(c, persisted_state{}, 0);
  EXPECT_FALSE(r.is_voter());
  r.tick(0);
  auto fetches = sent<fetch_request>(r.take_output());
  ASSERT_EQ(fetches.size(), 1u);
  EXPECT_EQ(fetches[0].first, n1);
  fetch_response not_leader;
  not_leader.error = wire_error::not_leader_or_follower;
  not_leader.current_leader = {n2, leader_epoch{3}};
  not_leader.request_token = fetches[0].second.request_token;
  r.step(n1, not_leader);
  EXPECT_EQ(r.current_role(), role::follower);
  EXPECT_EQ(r.leader(), (leader_and_epoch{n2, leader_epoch{3}}));
  fetches = sent<fetch_request>(r.take_output());
  ASSERT_FALSE(fetches.empty());
  EXPECT_EQ(fetches.back().first, n2);
  EXPECT_EQ(fetches.back().second.current_leader_epoch, leader_epoch{3});
  // An observer never votes.
  r.step(n1, vote_from(n1, 4, 9, 9, false));
  EXPECT_FALSE(sent<vote_response>(r.take_output())[0].second.vote_granted);
}

TEST(raft_replica, restore_skips_log_entries_a_newer_snapshot_already_covers) {
  persisted_state s;
  s.quorum.epoch = leader_epoch{2};
  s.snapshot = snapshot_id{offset{2}, leader_epoch{1}};
  s.snapshot_bytes = std::make_shared<const bytes>(bytes{1});
  s.log = log_of({1, 1, 2});  // offsets 0 and 1 were not deleted before the crash
  replica r(three_voters(n1), s, 0);
  EXPECT_EQ(r.log_start_offset(), offset{2});
  EXPECT_EQ(r.log_end_offset(), offset{3});
  EXPECT_EQ(r.high_watermark(), offset{2});
  ASSERT_EQ(r.log().size(), 1u);
  EXPECT_EQ(r.log().front().epoch, leader_epoch{2});
}

// ---- The same rules, end to end in the simulated cluster (scripted, no random faults) ----

sim::options quiet(int voters, int observers) {
  sim::options o;
  o.voters = voters;
  o.observers = observers;
  o.faults = false;
  return o;
}

TEST(raft_cluster, pre_vote_keeps_an_isolated_follower_from_disrupting_a_stable_leader) {
  sim::cluster c(11, quiet(3, 0));
  ASSERT_TRUE(c.run_until([&] { return c.leader().has_value(); }, 10000));
  node_id leader = *c.leader();
  leader_epoch epoch = c.node(leader)->epoch();
  node_id follower = leader == n1 ? n2 : n1;
  c.isolate(follower);
  c.advance(15000);
  EXPECT_EQ(c.node(follower)->epoch(), epoch);  // pre-votes failed: it never stood
  c.heal();
  c.advance(5000);
  ASSERT_TRUE(c.result().ok) << c.result().failure;
  EXPECT_EQ(c.leader(), leader);
  EXPECT_EQ(c.node(leader)->epoch(), epoch);
  EXPECT_EQ(c.node(follower)->current_role(), role::follower);
}

TEST(raft_cluster, an_isolated_leader_resigns_and_the_majority_elects_and_commits) {
  sim::cluster c(12, quiet(3, 1));
  ASSERT_TRUE(c.run_until([&] { return c.leader().has_value(); }, 10000));
  node_id old = *c.leader();
  leader_epoch epoch = c.node(old)->epoch();
  c.isolate(old);
  ASSERT_TRUE(c.run_until([&] { return c.node(old)->current_role() == role::resigned; }, 5000));
  ASSERT_TRUE(c.run_until([&] { auto l = c.leader(); return l && *l != old; }, 10000));
  EXPECT_GT(c.node(*c.leader())->epoch(), epoch);
  EXPECT_TRUE(c.propose_marker(777));
  c.heal();
  ASSERT_TRUE(c.run_until([&] { return c.applied_everywhere(777); }, 10000));
  ASSERT_TRUE(c.result().ok) << c.result().failure;
}

TEST(raft_cluster, a_follower_back_from_a_long_crash_catches_up_through_a_snapshot) {
  sim::cluster c(13, quiet(3, 0));
  ASSERT_TRUE(c.run_until([&] { return c.leader().has_value(); }, 10000));
  node_id leader = *c.leader();
  node_id lagging = leader == n3 ? n2 : n3;
  c.crash(lagging);
  for (uint64_t id = 1000; id < 1100; ++id) {
    ASSERT_TRUE(c.run_until([&] { return c.propose_marker(id); }, 5000));
    c.advance(20);
  }
  ASSERT_TRUE(c.run_until([&] { return c.node(leader)->log_start_offset() > offset{0}; }, 10000));
  c.restart(lagging);
  ASSERT_TRUE(c.run_until([&] { return c.applied_everywhere(1099); }, 20000));
  EXPECT_GT(c.node(lagging)->log_start_offset(), offset{0});
  ASSERT_TRUE(c.result().ok) << c.result().failure;
}

}  // namespace
}  // namespace gregor::raft
