// Proves the KIP-848 additions of the consumer group core: Kafka's range assignor rules, regex
// subscriptions that follow topic creation and deletion, fencing of members that do not revoke
// within their rebalance timeout, and persistence: the records it emits, encoded and decoded as
// in __consumer_offsets, rebuild the same groups so members keep their epochs and assignments.
#include <gtest/gtest.h>

#include "gregor/group/consumer_group.h"
#include "gregor/group/offsets_records.h"

namespace gregor::group {
namespace {
using protocol::error_code;
using ranges = std::map<std::string, std::set<int32_t>>;

// ---- range_assign_topic: expected assignments worked out from Kafka's RangeAssignor rules ----
TEST(range_assignor, fresh_members_get_contiguous_ranges_extras_first) {
  EXPECT_EQ(range_assign_topic(7, {"a", "b", "c"}, {}),
            (ranges{{"a", {0, 1, 2}}, {"b", {3, 4}}, {"c", {5, 6}}}));
  EXPECT_EQ(range_assign_topic(2, {"a", "b", "c"}, {}), (ranges{{"a", {0}}, {"b", {1}}, {"c", {}}}));
}

TEST(range_assignor, new_member_takes_the_partitions_above_the_quota) {
  // a and b keep their lowest partitions up to the quota of 2; c gets what they gave up.
  EXPECT_EQ(range_assign_topic(6, {"a", "b", "c"}, {{"a", {0, 1, 2}}, {"b", {3, 4, 5}}}),
            (ranges{{"a", {0, 1}}, {"b", {3, 4}}, {"c", {2, 5}}}));
}

TEST(range_assignor, leaving_member_partitions_go_to_the_others_in_member_order) {
  EXPECT_EQ(range_assign_topic(6, {"a", "c"}, {{"a", {0, 1}}, {"c", {4, 5}}}),
            (ranges{{"a", {0, 1, 2}}, {"c", {3, 4, 5}}}));
}

TEST(range_assignor, a_member_over_quota_keeps_one_extra_while_extras_last) {
  EXPECT_EQ(range_assign_topic(5, {"a", "b"}, {{"a", {0, 1, 2}}, {"b", {3, 4}}}),
            (ranges{{"a", {0, 1, 2}}, {"b", {3, 4}}}));
  // Partitions that no longer exist are ignored.
  EXPECT_EQ(range_assign_topic(2, {"a"}, {{"a", {0, 7}}}), (ranges{{"a", {0, 1}}}));
}

// ---- the coordinator ----
class kip848_test : public ::testing::Test {
 protected:
  kip848_test()
      : coord(clk, 45000, [this](const std::string& t) { return count_of(t); },
              [this] {
                std::vector<std::string> names;
                for (const auto& [n, c] : topics) names.push_back(n);
                return names;
              }) {}
  int32_t count_of(const std::string& t) const {
    auto it = topics.find(t);
    return it == topics.end() ? 0 : it->second;
  }
  cg_heartbeat_input join(const std::string& member, std::vector<std::string> subs) {
    cg_heartbeat_input in;
    in.group_id = "g";
    in.member_id = member;
    in.member_epoch = 0;
    in.subscribed_topics = std::move(subs);
    in.rebalance_timeout_ms = 1000;
    return in;
  }
  cg_heartbeat_output hb(const std::string& member, int32_t epoch,
                         std::optional<assignment_set> owned = std::nullopt) {
    cg_heartbeat_input in;
    in.group_id = "g";
    in.member_id = member;
    in.member_epoch = epoch;
    in.owned = std::move(owned);
    return coord.heartbeat(in);
  }
  static assignment_set parts(const std::string& t, std::initializer_list<int32_t> ps) {
    assignment_set s;
    for (int32_t p : ps) s.insert(topic_partition{t, partition_id{p}});
    return s;
  }
  static assignment_set merged(assignment_set a, const assignment_set& b) {
    a.insert(b.begin(), b.end());
    return a;
  }
  std::map<std::string, int32_t> topics{{"t", 4}, {"u", 4}, {"orders-a", 2}, {"orders-b", 1},
                                         {"other", 3}, {"__consumer_offsets", 50}};
  manual_clock clk;
  consumer_group_coordinator coord;
};

TEST_F(kip848_test, range_assignor_gives_co_partitioned_topics_the_same_ranges) {
  auto ja = join("a", {"t", "u"});
  ja.server_assignor = "range";
  auto jb = join("b", {"t", "u"});
  jb.server_assignor = "range";
  coord.heartbeat(ja);
  coord.heartbeat(jb);
  auto d = coord.describe("g");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->assignor, "range");
  ASSERT_EQ(d->members.size(), 2u);
  EXPECT_EQ(d->members[0].target, merged(parts("t", {0, 1}), parts("u", {0, 1})));
  EXPECT_EQ(d->members[1].target, merged(parts("t", {2, 3}), parts("u", {2, 3})));
}

TEST_F(kip848_test, range_assignor_splits_a_topic_among_its_subscribers_only) {
  auto ja = join("a", {"t", "other"});
  ja.server_assignor = "range";
  auto jb = join("b", {"t"});
  jb.server_assignor = "range";
  coord.heartbeat(ja);
  coord.heartbeat(jb);
  auto d = coord.describe("g");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->members[0].target, merged(parts("t", {0, 1}), parts("other", {0, 1, 2})));
  EXPECT_EQ(d->members[1].target, parts("t", {2, 3}));
}

TEST_F(kip848_test, uniform_stays_the_default_assignor) {
  coord.heartbeat(join("a", {"t"}));
  EXPECT_EQ(coord.describe("g")->assignor, "uniform");
}

TEST_F(kip848_test, regex_subscription_follows_topic_creation_and_deletion) {
  auto in = join("a", {});
  in.subscribed_topics.reset();
  in.subscribed_regex = "orders-.*";
  auto a = coord.heartbeat(in);
  ASSERT_EQ(a.error, error_code::none);
  ASSERT_TRUE(a.assignment);
  EXPECT_EQ(*a.assignment, merged(parts("orders-a", {0, 1}), parts("orders-b", {0})));
  EXPECT_TRUE(coord.subscribed("g", "orders-b"));
  EXPECT_FALSE(coord.subscribed("g", "other"));

  topics["orders-c"] = 2;  // created later
  auto a2 = hb("a", a.member_epoch, *a.assignment);
  EXPECT_EQ(a2.member_epoch, a.member_epoch + 1);
  ASSERT_TRUE(a2.assignment);
  EXPECT_EQ(*a2.assignment, merged(*a.assignment, parts("orders-c", {0, 1})));

  topics.erase("orders-a");  // deleted
  auto a3 = hb("a", a2.member_epoch, *a2.assignment);
  ASSERT_TRUE(a3.assignment);
  EXPECT_EQ(*a3.assignment, merged(parts("orders-b", {0}), parts("orders-c", {0, 1})));
}

TEST_F(kip848_test, regex_matches_whole_names_only_and_never_internal_topics) {
  auto in = join("a", {});
  in.subscribed_topics.reset();
  in.subscribed_regex = ".*o.*";  // would match __consumer_offsets
  auto a = coord.heartbeat(in);
  ASSERT_TRUE(a.assignment);
  for (const auto& tp : *a.assignment) EXPECT_NE(tp.topic, "__consumer_offsets");
  EXPECT_TRUE(coord.subscribed("g", "other"));
  in.member_id = "b";
  in.subscribed_regex = "orders";  // a prefix, not a full match of any topic
  coord.heartbeat(in);
  EXPECT_TRUE(coord.describe("g")->members[1].target.empty());
}

TEST_F(kip848_test, regex_resolves_only_to_topics_the_principal_may_describe) {
  // Kafka's filterTopicDescribeAuthorizedTopics: the principal may Describe orders-a only.
  std::set<std::string> describable{"orders-a"};
  auto in = join("a", {});
  in.subscribed_topics.reset();
  in.subscribed_regex = "orders-.*";
  in.may_describe = [&](const std::string& t) { return describable.count(t) > 0; };
  auto a = coord.heartbeat(in);
  ASSERT_EQ(a.error, error_code::none);
  ASSERT_TRUE(a.assignment);
  EXPECT_EQ(*a.assignment, parts("orders-a", {0, 1}));
  EXPECT_FALSE(coord.subscribed("g", "orders-b"));

  // Describe granted: the next heartbeat (the filter kept from the last one) resolves orders-b too.
  describable.insert("orders-b");
  auto a2 = hb("a", a.member_epoch, *a.assignment);
  ASSERT_TRUE(a2.assignment);
  EXPECT_EQ(*a2.assignment, merged(parts("orders-a", {0, 1}), parts("orders-b", {0})));

  // Revoked again: the topic leaves the target.
  describable.erase("orders-a");
  auto a3 = hb("a", a2.member_epoch, *a2.assignment);
  auto d = coord.describe("g");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->members[0].target, parts("orders-b", {0}));
}

TEST_F(kip848_test, invalid_regex_is_rejected_with_invalid_regular_expression) {
  auto in = join("a", {});
  in.subscribed_topics.reset();
  in.subscribed_regex = "orders-([";
  auto out = coord.heartbeat(in);
  EXPECT_EQ(out.error, invalid_regular_expression);
  EXPECT_EQ(protocol::code_of(out.error), 128);
  EXPECT_FALSE(coord.has_group("g"));
}

TEST_F(kip848_test, member_that_does_not_revoke_within_rebalance_timeout_is_fenced) {
  auto a = coord.heartbeat(join("a", {"t"}));
  ASSERT_EQ(*a.assignment, parts("t", {0, 1, 2, 3}));
  coord.heartbeat(join("b", {"t"}));
  auto revoke = hb("a", 1, parts("t", {0, 1, 2, 3}));  // told to give up two partitions
  ASSERT_TRUE(revoke.assignment);
  ASSERT_EQ(revoke.assignment->size(), 2u);
  clk.advance(999);
  coord.tick();
  EXPECT_EQ(coord.describe("g")->members.size(), 2u);  // still inside its 1000 ms
  clk.advance(1);
  coord.tick();
  auto d = coord.describe("g");
  ASSERT_EQ(d->members.size(), 1u);
  EXPECT_EQ(d->members[0].member_id, "b");
  EXPECT_EQ(hb("a", 1).error, error_code::unknown_member_id);
  auto b = hb("b", 2);
  ASSERT_TRUE(b.assignment);
  EXPECT_EQ(*b.assignment, parts("t", {0, 1, 2, 3}));  // a's partitions, reassigned
}

TEST_F(kip848_test, member_that_revokes_in_time_is_not_fenced) {
  coord.heartbeat(join("a", {"t"}));
  coord.heartbeat(join("b", {"t"}));
  auto revoke = hb("a", 1, parts("t", {0, 1, 2, 3}));
  clk.advance(500);
  hb("a", 1, *revoke.assignment);  // revoked
  clk.advance(5000);
  coord.tick();
  EXPECT_EQ(coord.describe("g")->members.size(), 2u);
}

// ---- persistence ----
class kip848_persist_test : public kip848_test {
 protected:
  // Encodes the pending records as __consumer_offsets holds them and replays them into `into`.
  void ship(consumer_group_coordinator& into) {
    for (const auto& r : coord.pending_records()) {
      auto key = encode_cg_key(r);
      auto value = encode_cg_value(r, ids);
      auto k = decode_key(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
      ASSERT_TRUE(k);
      auto* ck = std::get_if<cg_key>(&*k);
      ASSERT_TRUE(ck);
      std::optional<std::string_view> v;
      if (value) v = std::string_view(reinterpret_cast<const char*>(value->data()), value->size());
      auto back = decode_cg_record(*ck, v, names);
      ASSERT_TRUE(back);
      EXPECT_EQ(*back, r);
      into.replay(*back);
    }
    coord.records_written();
  }
  static uuid id_of(const std::string& t) { return uuid{std::hash<std::string>{}(t), 7}; }
  topic_id_lookup ids = [this](const std::string& t) -> std::optional<uuid> {
    if (!topics.count(t)) return std::nullopt;
    return id_of(t);
  };
  topic_name_lookup names = [this](const uuid& id) -> std::optional<std::string> {
    for (const auto& [t, n] : topics)
      if (id_of(t) == id) return t;
    return std::nullopt;
  };
  consumer_group_coordinator restarted{clk, 45000, [this](const std::string& t) { return count_of(t); },
                                       [this] {
                                         std::vector<std::string> n;
                                         for (const auto& [t, c] : topics) n.push_back(t);
                                         return n;
                                       }};
};

TEST_F(kip848_persist_test, a_forgotten_group_is_gone_until_the_log_replays_it) {
  coord.heartbeat(join("a", {"t"}));
  coord.heartbeat(join("b", {"t"}));
  ship(restarted);
  restarted.finish_replay();
  ASSERT_TRUE(restarted.has_group("g"));
  // Leadership of the group's offsets partition moved away: nothing of it stays, nothing to write.
  restarted.forget_group("g");
  EXPECT_FALSE(restarted.has_group("g"));
  EXPECT_FALSE(restarted.describe("g"));
  EXPECT_TRUE(restarted.pending_records().empty());
  // A member heartbeating here now (a stale coordinator lookup) starts a new group at epoch 1.
  auto again = restarted.heartbeat(join("a", {"t"}));
  EXPECT_EQ(again.member_epoch, 1);
}

TEST_F(kip848_persist_test, replayed_records_rebuild_the_group_and_members_keep_their_assignment) {
  auto ja = join("a", {"t"});
  ja.server_assignor = "range";
  ja.instance_id = "i-a";
  ja.client_id = "client-a";
  coord.heartbeat(ja);
  auto jb = join("b", {});
  jb.subscribed_topics.reset();
  jb.subscribed_regex = "orders-.*";
  coord.heartbeat(jb);
  auto revoke = hb("a", 1, parts("t", {0, 1, 2, 3}));
  ship(restarted);
  restarted.finish_replay();
  auto before = coord.describe("g");
  auto after = restarted.describe("g");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->group_epoch, before->group_epoch);
  EXPECT_EQ(after->assignment_epoch, before->assignment_epoch);
  EXPECT_EQ(after->assignor, "range");
  EXPECT_EQ(after->state, before->state);
  ASSERT_EQ(after->members.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(after->members[i].member_id, before->members[i].member_id);
    EXPECT_EQ(after->members[i].member_epoch, before->members[i].member_epoch);
    EXPECT_EQ(after->members[i].assignment, before->members[i].assignment);
    EXPECT_EQ(after->members[i].target, before->members[i].target);
    EXPECT_EQ(after->members[i].subscribed_regex, before->members[i].subscribed_regex);
    EXPECT_EQ(after->members[i].instance_id, before->members[i].instance_id);
  }
  // b heartbeats with its old id and epoch: no rebalance, same assignment (sent again once).
  const int32_t epoch_b = after->members[1].member_epoch;
  cg_heartbeat_input in;
  in.group_id = "g";
  in.member_id = "b";
  in.member_epoch = epoch_b;
  in.subscribed_regex = "orders-.*";
  in.owned = after->members[1].assignment;
  auto b = restarted.heartbeat(in);
  EXPECT_EQ(b.error, error_code::none);
  EXPECT_EQ(b.member_epoch, epoch_b);
  ASSERT_TRUE(b.assignment);
  EXPECT_EQ(*b.assignment, after->members[1].assignment);
  EXPECT_EQ(restarted.describe("g")->group_epoch, before->group_epoch);
  // a finishes its revocation on the restarted coordinator exactly as it would have before.
  cg_heartbeat_input ra;
  ra.group_id = "g";
  ra.member_id = "a";
  ra.member_epoch = 1;
  ra.owned = *revoke.assignment;
  auto a = restarted.heartbeat(ra);
  EXPECT_EQ(a.error, error_code::none);
  EXPECT_EQ(a.member_epoch, before->assignment_epoch);
}

TEST_F(kip848_persist_test, unchanged_heartbeats_write_nothing) {
  auto a = coord.heartbeat(join("a", {"t"}));
  EXPECT_FALSE(coord.pending_records().empty());
  coord.records_written();
  hb("a", a.member_epoch, *a.assignment);
  clk.advance(100);
  hb("a", a.member_epoch, *a.assignment);
  EXPECT_TRUE(coord.pending_records().empty());
}

TEST_F(kip848_persist_test, unwritten_records_are_offered_again) {
  coord.heartbeat(join("a", {"t"}));
  auto first = coord.pending_records();
  auto again = coord.pending_records();  // the append failed: nothing was marked written
  EXPECT_EQ(first, again);
}

TEST_F(kip848_persist_test, leave_and_delete_write_tombstones_that_replay_away_the_group) {
  auto a = coord.heartbeat(join("a", {"t"}));
  coord.heartbeat(join("b", {"t"}));
  ship(restarted);
  hb("b", -1);  // leaves
  auto recs = coord.pending_records();
  size_t tombstones = 0;
  for (const auto& r : recs)
    if (r.tombstone) {
      EXPECT_EQ(r.member_id, "b");
      ++tombstones;
    }
  EXPECT_EQ(tombstones, 3u);  // current assignment, target, member metadata
  ship(restarted);
  restarted.finish_replay();
  ASSERT_EQ(restarted.describe("g")->members.size(), 1u);
  hb("a", -1);
  ASSERT_EQ(coord.delete_group("g"), error_code::none);
  recs = coord.pending_records();
  ASSERT_FALSE(recs.empty());
  EXPECT_TRUE(recs.back().tombstone);
  EXPECT_EQ(recs.back().type, cg_record::kind::group_metadata);
  ship(restarted);
  EXPECT_FALSE(restarted.has_group("g"));
}

TEST(cg_records, malformed_values_do_not_decode) {
  cg_key k{cg_record::kind::current_assignment, "g", "m"};
  EXPECT_FALSE(decode_cg_record(k, std::string_view("\x00\x00\x00", 3), {}));
  EXPECT_FALSE(decode_cg_record(k, std::string_view("\x00\x01", 2), {}));  // unknown value version
  cg_key mk{cg_record::kind::member_metadata, "g", "m"};
  // A compact array claiming more elements than there are bytes.
  EXPECT_FALSE(decode_cg_record(mk, std::string_view("\x00\x00\x00\x00\x01\x01\x7f", 7), {}));
  // Key versions beyond 8 (share and streams groups) are not ours.
  EXPECT_FALSE(decode_key(std::string_view("\x00\x09\x00\x01g", 5)));
}

}  // namespace
}  // namespace gregor::group
