// Proves the classic group state machine behaves like Kafka's coordinator: member ids, generations,
// rebalances, timers, static membership, offsets rules and the exact error codes, driven by a
// manual clock.
#include <gtest/gtest.h>

#include "gregor/group/group_coordinator.h"

namespace gregor::group {
namespace {

constexpr int32_t session_ms = 10000;

class group_test : public ::testing::Test {
 protected:
  group_test() : coord(clk, settings()) {}
  static group_settings settings() {
    group_settings s;
    s.initial_rebalance_delay_ms = 0;
    s.min_session_timeout_ms = 1000;
    s.max_session_timeout_ms = 60000;
    return s;
  }
  join_input join_in(std::string member = "", std::optional<std::string> instance = std::nullopt,
                     std::string proto = "range") {
    join_input in;
    in.group_id = "g";
    in.member_id = std::move(member);
    in.instance_id = std::move(instance);
    in.client_id = "client";
    in.client_host = "/127.0.0.1";
    in.session_timeout_ms = session_ms;
    in.rebalance_timeout_ms = 20000;
    in.protocol_type = "consumer";
    in.protocols = {{proto, {1, 2, 3}}};
    in.require_known_member_id = true;
    return in;
  }
  // Drains the outbox and returns the join answer for `ticket`, if any.
  std::optional<join_output> join_answer(uint64_t ticket) {
    drain();
    auto it = joins.find(ticket);
    if (it == joins.end()) return std::nullopt;
    auto o = it->second;
    joins.erase(it);
    return o;
  }
  std::optional<sync_output> sync_answer(uint64_t ticket) {
    drain();
    auto it = syncs.find(ticket);
    if (it == syncs.end()) return std::nullopt;
    auto o = it->second;
    syncs.erase(it);
    return o;
  }
  void drain() {
    auto o = coord.take_outbox();
    for (auto& p : o.persist) persisted.push_back(p);
    for (auto& [t, j] : o.joins) joins[t] = j;
    for (auto& [t, s] : o.syncs) syncs[t] = s;
  }
  // Joins a new dynamic member through MEMBER_ID_REQUIRED; returns its id (the join is parked
  // under `ticket`).
  std::string join_new(uint64_t ticket) {
    coord.join(ticket + 1000, join_in());
    auto first = join_answer(ticket + 1000);
    EXPECT_TRUE(first);
    EXPECT_EQ(first->error, error_code::member_id_required);
    coord.join(ticket, join_in(first->member_id));
    return first->member_id;
  }
  sync_input sync_in(const std::string& member, int32_t generation,
                     std::vector<std::pair<std::string, std::vector<uint8_t>>> assignments = {}) {
    sync_input in;
    in.group_id = "g";
    in.member_id = member;
    in.generation = generation;
    in.assignments = std::move(assignments);
    return in;
  }
  // One member, stable at generation 1.
  std::string stable_single() {
    std::string a = join_new(1);
    auto j = join_answer(1);
    EXPECT_TRUE(j);
    coord.sync(2, sync_in(a, j->generation, {{a, {9}}}));
    auto s = sync_answer(2);
    EXPECT_TRUE(s);
    return a;
  }

  manual_clock clk;
  group_coordinator coord;
  std::map<uint64_t, join_output> joins;
  std::map<uint64_t, sync_output> syncs;
  std::vector<std::pair<std::string, std::optional<group_snapshot>>> persisted;
};

TEST_F(group_test, new_member_without_id_gets_member_id_required_on_v4) {
  coord.join(1, join_in());
  auto a = join_answer(1);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->error, error_code::member_id_required);
  EXPECT_FALSE(a->member_id.empty());
  EXPECT_EQ(a->member_id.rfind("client-", 0), 0u);
}

TEST_F(group_test, single_member_joins_syncs_and_becomes_stable) {
  std::string a = join_new(1);
  auto j = join_answer(1);
  ASSERT_TRUE(j);
  EXPECT_EQ(j->error, error_code::none);
  EXPECT_EQ(j->generation, 1);
  EXPECT_EQ(j->leader, a);
  EXPECT_EQ(j->protocol_name, "range");
  ASSERT_EQ(j->members.size(), 1u);
  EXPECT_EQ(coord.state_of("g"), group_state::completing_rebalance);
  coord.sync(2, sync_in(a, 1, {{a, {7, 7}}}));
  auto s = sync_answer(2);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->error, error_code::none);
  EXPECT_EQ(s->assignment, (std::vector<uint8_t>{7, 7}));
  EXPECT_EQ(coord.state_of("g"), group_state::stable);
  ASSERT_FALSE(persisted.empty());
  EXPECT_EQ(persisted.back().second->members.size(), 1u);
}

TEST_F(group_test, second_member_triggers_rebalance_and_both_get_generation_two) {
  std::string a = stable_single();
  std::string b = join_new(10);
  EXPECT_FALSE(join_answer(10));  // waits for a to rejoin
  EXPECT_EQ(coord.heartbeat("g", a, std::nullopt, 1), error_code::rebalance_in_progress);
  coord.join(11, join_in(a));
  auto ja = join_answer(11);
  auto jb = join_answer(10);
  ASSERT_TRUE(ja && jb);
  EXPECT_EQ(ja->generation, 2);
  EXPECT_EQ(jb->generation, 2);
  EXPECT_EQ(ja->leader, a);
  EXPECT_EQ(ja->members.size(), 2u);
  EXPECT_TRUE(jb->members.empty());
  coord.sync(12, sync_in(b, 2));
  EXPECT_FALSE(sync_answer(12));  // follower waits for the leader
  coord.sync(13, sync_in(a, 2, {{a, {1}}, {b, {2}}}));
  auto sb = sync_answer(12);
  ASSERT_TRUE(sb);
  EXPECT_EQ(sb->assignment, (std::vector<uint8_t>{2}));
  EXPECT_EQ(sync_answer(13)->assignment, (std::vector<uint8_t>{1}));
}

TEST_F(group_test, member_missing_from_leader_assignment_gets_empty_assignment) {
  std::string a = join_new(1);
  join_answer(1);
  coord.sync(2, sync_in(a, 1, {}));
  auto s = sync_answer(2);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->error, error_code::none);
  EXPECT_TRUE(s->assignment.empty());
}

TEST_F(group_test, heartbeat_errors_match_kafka) {
  std::string a = stable_single();
  EXPECT_EQ(coord.heartbeat("g", a, std::nullopt, 1), error_code::none);
  EXPECT_EQ(coord.heartbeat("g", a, std::nullopt, 0), error_code::illegal_generation);
  EXPECT_EQ(coord.heartbeat("g", "nobody", std::nullopt, 1), error_code::unknown_member_id);
  EXPECT_EQ(coord.heartbeat("unknown", a, std::nullopt, 1), error_code::unknown_member_id);
}

TEST_F(group_test, session_timeout_removes_member_and_group_becomes_empty) {
  std::string a = stable_single();
  clk.advance(session_ms - 1);
  coord.tick();
  EXPECT_EQ(coord.state_of("g"), group_state::stable);
  EXPECT_EQ(coord.heartbeat("g", a, std::nullopt, 1), error_code::none);
  clk.advance(session_ms);
  coord.tick();
  drain();
  EXPECT_EQ(coord.state_of("g"), group_state::empty);
  EXPECT_EQ(coord.generation_of("g"), 2);
  EXPECT_EQ(coord.heartbeat("g", a, std::nullopt, 2), error_code::unknown_member_id);
}

TEST_F(group_test, dead_member_is_dropped_at_rebalance_deadline) {
  std::string a = stable_single();
  std::string b = join_new(10);
  // a never rejoins but keeps heartbeating: it is dropped when the rebalance timeout expires.
  for (int i = 0; i < 21; ++i) {
    clk.advance(1000);
    coord.heartbeat("g", a, std::nullopt, 1);
    coord.tick();
  }
  auto jb = join_answer(10);
  ASSERT_TRUE(jb);
  EXPECT_EQ(jb->error, error_code::none);
  EXPECT_EQ(jb->leader, b);
  EXPECT_EQ(jb->members.size(), 1u);
  EXPECT_EQ(coord.heartbeat("g", a, std::nullopt, 2), error_code::unknown_member_id);
}

TEST_F(group_test, leave_mid_rebalance_completes_the_join_for_the_others) {
  std::string a = stable_single();
  std::string b = join_new(10);
  EXPECT_FALSE(join_answer(10));
  error_code ge;
  auto errs = coord.leave("g", {{a, std::nullopt}}, &ge);
  EXPECT_EQ(ge, error_code::none);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0], error_code::none);
  auto jb = join_answer(10);
  ASSERT_TRUE(jb);
  EXPECT_EQ(jb->generation, 2);
  EXPECT_EQ(jb->leader, b);
}

TEST_F(group_test, leave_of_unknown_member_is_unknown_member_id) {
  stable_single();
  error_code ge;
  auto errs = coord.leave("g", {{"ghost", std::nullopt}}, &ge);
  EXPECT_EQ(errs.at(0), error_code::unknown_member_id);
  coord.leave("nope", {{"ghost", std::nullopt}}, &ge);
  EXPECT_EQ(ge, error_code::unknown_member_id);
}

TEST_F(group_test, late_sync_from_old_generation_is_illegal_generation) {
  std::string a = stable_single();
  std::string b = join_new(10);
  coord.join(11, join_in(a));
  join_answer(10);
  join_answer(11);
  coord.sync(12, sync_in(b, 1));
  auto s = sync_answer(12);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->error, error_code::illegal_generation);
}

TEST_F(group_test, sync_during_preparing_rebalance_is_rebalance_in_progress) {
  std::string a = stable_single();
  join_new(10);
  coord.sync(12, sync_in(a, 1));
  EXPECT_EQ(sync_answer(12)->error, error_code::rebalance_in_progress);
}

TEST_F(group_test, pending_follower_sync_fails_when_rebalance_restarts) {
  std::string a = stable_single();
  std::string b = join_new(10);
  coord.join(11, join_in(a));
  join_answer(10);
  join_answer(11);
  coord.sync(12, sync_in(b, 2));
  EXPECT_FALSE(sync_answer(12));
  join_new(20);  // a third member arrives before the leader synced
  auto s = sync_answer(12);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->error, error_code::rebalance_in_progress);
}

TEST_F(group_test, commit_rules_follow_generation_and_membership) {
  EXPECT_EQ(coord.validate_commit("", -1, "", std::nullopt), error_code::none);  // as Kafka 4.x
  EXPECT_EQ(coord.validate_commit("", 1, "m", std::nullopt), error_code::illegal_generation);
  EXPECT_EQ(coord.validate_commit("simple", -1, "", std::nullopt), error_code::none);
  EXPECT_EQ(coord.validate_commit("missing", 3, "m", std::nullopt), error_code::illegal_generation);
  std::string a = stable_single();
  EXPECT_EQ(coord.validate_commit("g", 1, a, std::nullopt), error_code::none);
  EXPECT_EQ(coord.validate_commit("g", 0, a, std::nullopt), error_code::illegal_generation);
  EXPECT_EQ(coord.validate_commit("g", 1, "x", std::nullopt), error_code::unknown_member_id);
  EXPECT_EQ(coord.validate_commit("g", -1, "", std::nullopt), error_code::unknown_member_id);
  std::string b = join_new(10);
  // Commits of the current generation are still accepted while preparing the rebalance.
  EXPECT_EQ(coord.validate_commit("g", 1, a, std::nullopt), error_code::none);
  coord.join(11, join_in(a));
  drain();
  EXPECT_EQ(coord.validate_commit("g", 2, a, std::nullopt), error_code::rebalance_in_progress);
  (void)b;
}

TEST_F(group_test, offsets_are_stored_fetched_and_deleted) {
  topic_partition tp{"t", partition_id{0}};
  EXPECT_FALSE(coord.offset_of("g", tp));
  coord.store_offset("g", tp, committed_offset{42, 3, "meta", 100});
  auto o = coord.offset_of("g", tp);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->offset, 42);
  EXPECT_EQ(o->metadata, "meta");
  EXPECT_EQ(coord.state_of("g"), group_state::empty);
  EXPECT_EQ(coord.offsets_of("g").size(), 1u);
  coord.erase_offset("g", tp);
  EXPECT_FALSE(coord.offset_of("g", tp));
}

TEST_F(group_test, delete_group_needs_an_empty_group) {
  std::vector<topic_partition> deleted;
  EXPECT_EQ(coord.delete_group("none", &deleted), error_code::group_id_not_found);
  stable_single();
  EXPECT_EQ(coord.delete_group("g", &deleted), error_code::non_empty_group);
  coord.store_offset("e", topic_partition{"t", partition_id{1}}, committed_offset{1, -1, "", 0});
  EXPECT_EQ(coord.delete_group("e", &deleted), error_code::none);
  EXPECT_EQ(deleted.size(), 1u);
  EXPECT_FALSE(coord.has_group("e"));
  drain();
  EXPECT_EQ(persisted.back().first, "e");
  EXPECT_FALSE(persisted.back().second);
}

TEST_F(group_test, static_member_restart_keeps_assignment_without_rebalance) {
  coord.join(1, join_in("", "inst-1"));
  auto j = join_answer(1);  // static members skip MEMBER_ID_REQUIRED
  ASSERT_TRUE(j);
  EXPECT_EQ(j->error, error_code::none);
  std::string old_id = j->member_id;
  coord.sync(2, sync_in(old_id, 1, {{old_id, {5}}}));
  sync_answer(2);
  // The process restarts: same instance id, no member id.
  coord.join(3, join_in("", "inst-1"));
  auto j2 = join_answer(3);
  ASSERT_TRUE(j2);
  EXPECT_EQ(j2->error, error_code::none);
  EXPECT_EQ(j2->generation, 1);
  EXPECT_NE(j2->member_id, old_id);
  EXPECT_EQ(coord.state_of("g"), group_state::stable);
  sync_input s = sync_in(j2->member_id, 1);
  s.instance_id = "inst-1";
  coord.sync(4, s);
  EXPECT_EQ(sync_answer(4)->assignment, (std::vector<uint8_t>{5}));
  // The old incarnation is fenced.
  EXPECT_EQ(coord.heartbeat("g", old_id, "inst-1", 1), error_code::fenced_instance_id);
}

TEST_F(group_test, protocol_selection_uses_common_protocol_by_vote) {
  join_input a = join_in();
  a.require_known_member_id = false;
  a.protocols = {{"cooperative-sticky", {}}, {"range", {}}};
  coord.join(1, a);
  join_input b = a;
  b.protocols = {{"range", {}}, {"cooperative-sticky", {}}};
  coord.join(2, b);
  join_input c = a;
  coord.join(3, c);
  clk.advance(1);
  coord.tick();
  auto j = join_answer(1);
  ASSERT_TRUE(j);
  EXPECT_EQ(j->protocol_name, "cooperative-sticky");
}

TEST_F(group_test, member_with_no_common_protocol_is_rejected) {
  stable_single();
  join_input in = join_in("", std::nullopt, "roundrobin");
  coord.join(5, in);
  EXPECT_EQ(join_answer(5)->error, error_code::inconsistent_group_protocol);
}

TEST_F(group_test, session_timeout_outside_bounds_is_invalid) {
  join_input in = join_in();
  in.session_timeout_ms = 10;
  coord.join(1, in);
  EXPECT_EQ(join_answer(1)->error, error_code::invalid_session_timeout);
}

TEST_F(group_test, unknown_member_id_on_join_of_unknown_group) {
  coord.join(1, join_in("made-up"));
  EXPECT_EQ(join_answer(1)->error, error_code::unknown_member_id);
}

TEST_F(group_test, group_max_size_is_enforced) {
  group_settings s = settings();
  s.max_size = 1;
  group_coordinator small(clk, s);
  join_input in = join_in();
  in.require_known_member_id = false;
  small.join(1, in);
  small.join(2, in);
  auto o = small.take_outbox();
  ASSERT_EQ(o.joins.size(), 2u);
  EXPECT_EQ(o.joins[0].first, 1u);
  EXPECT_EQ(o.joins[0].second.error, error_code::none);
  EXPECT_EQ(o.joins[1].first, 2u);
  EXPECT_EQ(o.joins[1].second.error, error_code::group_max_size_reached);
}

TEST_F(group_test, initial_rebalance_delay_waits_for_more_members) {
  group_settings s = settings();
  s.initial_rebalance_delay_ms = 3000;
  group_coordinator delayed(clk, s);
  join_input in = join_in();
  in.require_known_member_id = false;
  delayed.join(1, in);
  EXPECT_TRUE(delayed.take_outbox().joins.empty());
  clk.advance(2000);
  delayed.join(2, in);  // extends the delay by another 3 s
  clk.advance(2000);
  delayed.tick();
  EXPECT_TRUE(delayed.take_outbox().joins.empty());
  clk.advance(1500);
  delayed.tick();
  auto o = delayed.take_outbox();
  ASSERT_EQ(o.joins.size(), 2u);
  EXPECT_EQ(o.joins[0].second.generation, 1);
}

TEST_F(group_test, list_and_describe_report_state_and_members) {
  std::string a = stable_single();
  auto l = coord.list();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].protocol_type, "consumer");
  EXPECT_EQ(state_name(l[0].state), "Stable");
  auto d = coord.describe("g");
  EXPECT_EQ(d.protocol_data, "range");
  ASSERT_EQ(d.members.size(), 1u);
  EXPECT_EQ(d.members[0].member_id, a);
  EXPECT_EQ(d.members[0].assignment, (std::vector<uint8_t>{9}));
  EXPECT_EQ(coord.describe("zzz").error, error_code::group_id_not_found);
}

// Kafka 4.3.1 (the differential check's classic_rebalance scenario): outside Stable, DescribeGroups
// has no protocol and no member metadata but each member's assignment from the last sync, which a
// rebalance starting from Stable keeps; one interrupting CompletingRebalance drops it.
TEST_F(group_test, describe_during_a_rebalance_keeps_the_last_assignments_without_metadata) {
  std::string a = stable_single();
  std::string b = join_new(3);  // parked: a has not rejoined
  auto d = coord.describe("g");
  EXPECT_EQ(state_name(d.state), "PreparingRebalance");
  EXPECT_EQ(d.protocol_data, "");
  ASSERT_EQ(d.members.size(), 2u);
  EXPECT_EQ(d.members[0].member_id, a);
  EXPECT_TRUE(d.members[0].metadata.empty());
  EXPECT_EQ(d.members[0].assignment, (std::vector<uint8_t>{9}));
  EXPECT_TRUE(d.members[1].assignment.empty());
  coord.join(4, join_in(a));
  ASSERT_TRUE(join_answer(4));
  d = coord.describe("g");
  EXPECT_EQ(state_name(d.state), "CompletingRebalance");
  EXPECT_EQ(d.protocol_data, "");
  EXPECT_EQ(d.members[0].assignment, (std::vector<uint8_t>{9}));
  // A third member interrupts the sync: the assignments go.
  std::string c = join_new(5);
  d = coord.describe("g");
  EXPECT_EQ(state_name(d.state), "PreparingRebalance");
  for (const auto& m : d.members) EXPECT_TRUE(m.assignment.empty()) << m.member_id;
  (void)b;
  (void)c;
}

TEST_F(group_test, loaded_stable_group_keeps_members_and_generation) {
  group_snapshot s;
  s.protocol_type = "consumer";
  s.generation = 7;
  s.protocol_name = "range";
  s.leader = "m1";
  s.members.push_back({"m1", std::nullopt, "c", "/h", 30000, 10000, {1}, {2}});
  coord.load_group("g", s);
  EXPECT_EQ(coord.state_of("g"), group_state::stable);
  EXPECT_EQ(coord.heartbeat("g", "m1", std::nullopt, 7), error_code::none);
  group_snapshot empty;
  empty.protocol_type = "consumer";
  empty.generation = 8;
  coord.load_group("h", empty);
  EXPECT_EQ(coord.state_of("h"), group_state::empty);
}

TEST_F(group_test, offsets_expire_after_retention_only_for_empty_groups) {
  topic_partition tp{"t", partition_id{0}};
  coord.store_offset("simple", tp, committed_offset{1, -1, "", clk.now_ms()});
  std::string a = stable_single();
  coord.store_offset("g", tp, committed_offset{2, -1, "", clk.now_ms()});
  clk.advance(5000);
  EXPECT_TRUE(coord.expired_offsets(10000).empty());
  clk.advance(5000);
  auto expired = coord.expired_offsets(10000);
  ASSERT_EQ(expired.size(), 1u);  // the live group's offsets stay
  EXPECT_EQ(expired[0].first, "simple");
  error_code ge;
  coord.leave("g", {{a, std::nullopt}}, &ge);
  EXPECT_EQ(coord.state_of("g"), group_state::empty);
  EXPECT_EQ(coord.expired_offsets(10000).size(), 1u);  // empty only since now
  clk.advance(10000);
  EXPECT_EQ(coord.expired_offsets(10000).size(), 2u);
}

// ---- transactional offsets (TxnOffsetCommit) ----

TEST_F(group_test, txn_commit_rules_follow_kafka_per_version) {
  // No group: accepted without a generation (a simple group), ILLEGAL_GENERATION with one.
  EXPECT_EQ(coord.validate_txn_commit("missing", -1, "", std::nullopt), error_code::none);
  EXPECT_EQ(coord.validate_txn_commit("missing", -1, "m", std::nullopt), error_code::none);
  EXPECT_EQ(coord.validate_txn_commit("missing", 3, "m", std::nullopt), error_code::illegal_generation);
  std::string a = stable_single();
  // v0-v2 send no generation, member or instance: accepted by a live group (OffsetCommit would
  // answer UNKNOWN_MEMBER_ID here).
  EXPECT_EQ(coord.validate_txn_commit("g", -1, "", std::nullopt), error_code::none);
  EXPECT_EQ(coord.validate_commit("g", -1, "", std::nullopt), error_code::unknown_member_id);
  // v3+: checked against the group like OffsetCommit.
  EXPECT_EQ(coord.validate_txn_commit("g", 1, a, std::nullopt), error_code::none);
  EXPECT_EQ(coord.validate_txn_commit("g", 0, a, std::nullopt), error_code::illegal_generation);
  EXPECT_EQ(coord.validate_txn_commit("g", 1, "x", std::nullopt), error_code::unknown_member_id);
  EXPECT_EQ(coord.validate_txn_commit("g", -1, "x", std::nullopt), error_code::unknown_member_id);
  EXPECT_EQ(coord.validate_txn_commit("g", 1, a, std::string("nobody")), error_code::unknown_member_id);
  // A rebalance that completes: the member is still accepted (no REBALANCE_IN_PROGRESS).
  std::string b = join_new(10);
  coord.join(11, join_in(a));
  drain();
  ASSERT_EQ(coord.state_of("g"), group_state::completing_rebalance);
  EXPECT_EQ(coord.validate_txn_commit("g", 2, a, std::nullopt), error_code::none);
  EXPECT_EQ(coord.validate_commit("g", 2, a, std::nullopt), error_code::rebalance_in_progress);
  EXPECT_EQ(coord.validate_txn_commit("g", 2, b, std::nullopt), error_code::none);
  EXPECT_EQ(coord.validate_txn_commit("g", 1, b, std::nullopt), error_code::illegal_generation);
}

TEST_F(group_test, txn_commit_of_static_member_checks_its_instance) {
  coord.join(1, join_in("", std::string("inst")));
  auto j = join_answer(1);
  ASSERT_TRUE(j);
  ASSERT_EQ(j->error, error_code::none);
  coord.sync(2, sync_in(j->member_id, j->generation, {{j->member_id, {1}}}));
  ASSERT_TRUE(sync_answer(2));
  EXPECT_EQ(coord.validate_txn_commit("g", j->generation, j->member_id, std::string("inst")), error_code::none);
  EXPECT_EQ(coord.validate_txn_commit("g", j->generation, "old-id", std::string("inst")),
            error_code::fenced_instance_id);
}

TEST_F(group_test, txn_offsets_stay_pending_until_the_commit_marker) {
  const topic_partition tp{"t", partition_id{0}};
  coord.store_offset("g", tp, committed_offset{10, -1, "", 0}, 3);
  coord.store_txn_offset("g", 7, tp, committed_offset{20, 2, "txn", 0}, 5);
  // Invisible: OffsetFetch still answers the committed offset.
  EXPECT_EQ(coord.offset_of("g", tp)->offset, 10);
  EXPECT_EQ(coord.offsets_of("g").at(tp).offset, 10);
  EXPECT_TRUE(coord.has_pending_txn_offset("g", tp));
  EXPECT_FALSE(coord.has_pending_txn_offset("g", topic_partition{"t", partition_id{1}}));
  // Another producer's marker changes nothing.
  coord.complete_txn(8, true, 0, 1);
  EXPECT_EQ(coord.offset_of("g", tp)->offset, 10);
  coord.complete_txn(7, true, 0, 1);
  auto o = coord.offset_of("g", tp);
  ASSERT_TRUE(o);
  EXPECT_EQ(*o, (committed_offset{20, 2, "txn", 0}));
  EXPECT_FALSE(coord.has_pending_txn_offset("g", tp));
  EXPECT_TRUE(coord.pending_txn_partitions("g").empty());
}

TEST_F(group_test, abort_marker_drops_pending_txn_offsets) {
  const topic_partition tp{"t", partition_id{0}};
  coord.store_txn_offset("fresh", 7, tp, committed_offset{20, -1, "", 0}, 5);
  EXPECT_TRUE(coord.has_group("fresh"));  // a simple group, as Kafka creates
  EXPECT_FALSE(coord.offset_of("fresh", tp));
  coord.complete_txn(7, false, 0, 1);
  EXPECT_FALSE(coord.offset_of("fresh", tp));
  EXPECT_FALSE(coord.has_pending_txn_offset("fresh", tp));
  // The producer's next transaction starts from nothing: a later commit marker finds no offsets.
  coord.complete_txn(7, true, 0, 1);
  EXPECT_FALSE(coord.offset_of("fresh", tp));
}

TEST_F(group_test, two_producers_in_one_group_complete_independently) {
  const topic_partition t0{"t", partition_id{0}}, t1{"t", partition_id{1}};
  coord.store_txn_offset("g", 1, t0, committed_offset{100, -1, "", 0}, 10);
  coord.store_txn_offset("g", 2, t0, committed_offset{200, -1, "", 0}, 11);
  coord.store_txn_offset("g", 2, t1, committed_offset{201, -1, "", 0}, 12);
  EXPECT_EQ(coord.pending_txn_partitions("g"), (std::vector<topic_partition>{t0, t1}));
  coord.complete_txn(2, true, 0, 1);
  EXPECT_EQ(coord.offset_of("g", t0)->offset, 200);
  EXPECT_EQ(coord.offset_of("g", t1)->offset, 201);
  EXPECT_TRUE(coord.has_pending_txn_offset("g", t0));  // producer 1's is still open
  EXPECT_FALSE(coord.has_pending_txn_offset("g", t1));
  // Producer 1 commits later, but its record is older in the log than producer 2's: Kafka keeps
  // the most recent record.
  coord.complete_txn(1, true, 0, 1);
  EXPECT_EQ(coord.offset_of("g", t0)->offset, 200);
  EXPECT_FALSE(coord.has_pending_txn_offset("g", t0));
}

TEST_F(group_test, later_record_wins_between_regular_and_txn_commits) {
  const topic_partition tp{"t", partition_id{0}};
  coord.store_txn_offset("g", 7, tp, committed_offset{20, -1, "", 0}, 5);
  coord.store_offset("g", tp, committed_offset{30, -1, "", 0}, 8);  // regular commit after it
  coord.complete_txn(7, true, 0, 1);
  EXPECT_EQ(coord.offset_of("g", tp)->offset, 30);
  coord.store_txn_offset("g", 7, tp, committed_offset{40, -1, "", 0}, 9);
  coord.complete_txn(7, true, 0, 1);
  EXPECT_EQ(coord.offset_of("g", tp)->offset, 40);
}

TEST_F(group_test, replay_in_log_order_with_markers) {
  // Log: txn(p7, 5) ABORT(p7) txn(p7, 7) regular(9) ... COMMIT(p7): what a replay applies.
  const topic_partition tp{"t", partition_id{0}};
  const topic_partition other{"u", partition_id{0}};
  coord.store_txn_offset("g", 7, tp, committed_offset{5, -1, "", 0}, 0);
  coord.complete_txn(7, false, 0, 1);
  coord.store_txn_offset("g", 7, tp, committed_offset{7, -1, "", 0}, 2);
  coord.store_txn_offset("g", 7, other, committed_offset{70, -1, "", 0}, 3);
  coord.store_offset("g", other, committed_offset{90, -1, "", 0}, 4);
  EXPECT_FALSE(coord.offset_of("g", tp));
  coord.complete_txn(7, true, 0, 1);
  EXPECT_EQ(coord.offset_of("g", tp)->offset, 7);
  EXPECT_EQ(coord.offset_of("g", other)->offset, 90);
}

TEST_F(group_test, marker_completes_only_groups_of_its_offsets_partition) {
  // Two groups on different offsets partitions (of 50), both with offsets of producer 7.
  std::string g1 = "g", g2;
  const int32_t p1 = offsets_partition_for(g1, 50);
  for (int i = 0; g2.empty(); ++i)
    if (std::string c = "other-" + std::to_string(i); offsets_partition_for(c, 50) != p1) g2 = c;
  const topic_partition tp{"t", partition_id{0}};
  coord.store_txn_offset(g1, 7, tp, committed_offset{1, -1, "", 0}, 1);
  coord.store_txn_offset(g2, 7, tp, committed_offset{2, -1, "", 0}, 1);
  coord.complete_txn(7, true, p1, 50);
  EXPECT_EQ(coord.offset_of(g1, tp)->offset, 1);
  EXPECT_FALSE(coord.offset_of(g2, tp));
  EXPECT_TRUE(coord.has_pending_txn_offset(g2, tp));
  coord.complete_txn(7, false, offsets_partition_for(g2, 50), 50);
  EXPECT_FALSE(coord.has_pending_txn_offset(g2, tp));
  EXPECT_FALSE(coord.offset_of(g2, tp));
}

TEST_F(group_test, tombstone_drops_pending_txn_offsets_of_its_partition) {
  const topic_partition t0{"t", partition_id{0}}, t1{"t", partition_id{1}};
  coord.store_offset("g", t0, committed_offset{10, -1, "", 0}, 1);
  coord.store_txn_offset("g", 7, t0, committed_offset{20, -1, "", 0}, 2);
  coord.store_txn_offset("g", 8, t0, committed_offset{21, -1, "", 0}, 3);
  coord.store_txn_offset("g", 7, t1, committed_offset{30, -1, "", 0}, 4);
  coord.erase_offset("g", t0);  // OffsetDelete / expiry tombstone
  EXPECT_FALSE(coord.offset_of("g", t0));
  EXPECT_FALSE(coord.has_pending_txn_offset("g", t0));
  EXPECT_TRUE(coord.has_pending_txn_offset("g", t1));
  coord.complete_txn(7, true, 0, 1);
  coord.complete_txn(8, true, 0, 1);
  EXPECT_FALSE(coord.offset_of("g", t0));
  EXPECT_EQ(coord.offset_of("g", t1)->offset, 30);
}

TEST_F(group_test, delete_group_tombstones_pending_txn_partitions_too) {
  const topic_partition t0{"t", partition_id{0}}, t1{"t", partition_id{1}};
  coord.store_offset("e", t0, committed_offset{10, -1, "", 0}, 1);
  coord.store_txn_offset("e", 7, t0, committed_offset{20, -1, "", 0}, 2);
  coord.store_txn_offset("e", 7, t1, committed_offset{30, -1, "", 0}, 3);
  std::vector<topic_partition> deleted;
  ASSERT_EQ(coord.delete_group("e", &deleted), error_code::none);
  EXPECT_EQ(deleted, (std::vector<topic_partition>{t0, t1}));  // t0 once
  coord.complete_txn(7, true, 0, 1);  // the transaction commits after the deletion
  EXPECT_FALSE(coord.has_group("e"));
  EXPECT_FALSE(coord.offset_of("e", t1));
}

TEST_F(group_test, pending_txn_offsets_hold_back_expiry_and_keep_the_group) {
  const topic_partition t0{"t", partition_id{0}}, t1{"t", partition_id{1}};
  coord.store_offset("simple", t0, committed_offset{1, -1, "", clk.now_ms()}, 1);
  coord.store_offset("simple", t1, committed_offset{1, -1, "", clk.now_ms()}, 2);
  coord.store_txn_offset("simple", 7, t0, committed_offset{2, -1, "", clk.now_ms()}, 3);
  clk.advance(20000);
  auto expired = coord.expired_offsets(10000);
  ASSERT_EQ(expired.size(), 1u);  // t0 waits for its transaction
  EXPECT_EQ(expired[0].second, t1);
  coord.complete_txn(7, false, 0, 1);
  EXPECT_EQ(coord.expired_offsets(10000).size(), 2u);
  // A group tombstone (replay) keeps a group whose only state is a pending offset.
  coord.store_txn_offset("only-pending", 9, t0, committed_offset{3, -1, "", 0}, 4);
  coord.unload_group("only-pending");
  EXPECT_TRUE(coord.has_pending_txn_offset("only-pending", t0));
  coord.drop_pending_txn_offsets("only-pending");
  EXPECT_FALSE(coord.has_pending_txn_offset("only-pending", t0));
}

TEST_F(group_test, forget_group_drops_committed_and_pending_offsets_that_a_tombstone_keeps) {
  const topic_partition t0{"t", partition_id{0}};
  coord.store_offset("moved", t0, committed_offset{5, -1, "", 0}, 1);
  coord.store_txn_offset("moved", 7, t0, committed_offset{6, -1, "", 0}, 2);
  coord.unload_group("moved");  // a group tombstone: the offsets are separate records
  ASSERT_TRUE(coord.offset_of("moved", t0));
  // Leadership of its offsets partition moved away (or the partition was deleted): nothing stays.
  coord.forget_group("moved");
  EXPECT_FALSE(coord.has_group("moved"));
  EXPECT_FALSE(coord.offset_of("moved", t0));
  EXPECT_FALSE(coord.has_pending_txn_offset("moved", t0));
}

TEST(group_placement, java_hash_and_partition_match_kafka) {
  EXPECT_EQ(java_string_hash(""), 0);
  EXPECT_EQ(java_string_hash("a"), 97);
  EXPECT_EQ(java_string_hash("hello"), 99162322);
  // "polygenelubricants".hashCode() == Integer.MIN_VALUE: Kafka's abs maps it to 0.
  EXPECT_EQ(java_string_hash("polygenelubricants"), INT32_MIN);
  EXPECT_EQ(offsets_partition_for("polygenelubricants", 50), 0);
  EXPECT_EQ(offsets_partition_for("hello", 50), 99162322 % 50);
  EXPECT_EQ(java_string_hash("\xc3\xa9"), 0xe9);  // é is one UTF-16 unit
}

TEST(subscription, topics_are_parsed_and_garbage_is_rejected) {
  std::vector<uint8_t> md = {0, 1, 0, 0, 0, 2, 0, 1, 'a', 0, 2, 'b', 'c', 0, 0, 0, 0};
  EXPECT_EQ(subscription_topics(md), (std::vector<std::string>{"a", "bc"}));
  EXPECT_TRUE(subscription_topics({0, 1, 0, 0, 0, 9, 0, 5}).empty());
  EXPECT_TRUE(subscription_topics({}).empty());
}

}  // namespace
}  // namespace gregor::group
