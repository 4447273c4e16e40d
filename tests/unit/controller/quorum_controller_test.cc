// Proves the active controller's decisions: placement over unfenced brokers and racks, explicit
// assignments honoured and checked, registration and heartbeats (unfenced once caught up),
// fencing after a missed session with leaders moved to the rest of the ISR (never an out-of-sync
// replica unless unclean election is enabled), controlled shutdown, and offline partitions coming
// back with their last ISR member.
#include <gtest/gtest.h>

#include <set>

#include "gregor/controller/metadata_batch.h"
#include "gregor/controller/quorum_controller.h"

namespace gregor::controller {
namespace {

constexpr int64_t session_ms = 9000;

class cluster_fixture : public ::testing::Test {
 protected:
  cluster_fixture() : qc(settings()) { qc.activate(metadata_image{}, now); }

  static quorum_controller_settings settings() {
    quorum_controller_settings s;
    s.broker_session_timeout_ms = session_ms;
    s.metadata_version = 21;
    return s;
  }

  // Registers broker `id` (rack optional) and unfences it with a caught-up heartbeat.
  void add_broker(int32_t id, std::optional<std::string> rack = std::nullopt) {
    broker_registration r;
    r.id = node_id(id);
    r.incarnation_id = uuid::random();
    r.endpoints.push_back(broker_endpoint{"PLAINTEXT", "127.0.0.1", 9000 + id, 0});
    r.rack = std::move(rack);
    auto d = qc.register_broker(r, ++offset, now);
    ASSERT_TRUE(d) << d.error().message;
    epochs[id] = d->reply;
    auto hb = qc.heartbeat(broker_heartbeat{node_id(id), epochs[id], offset, false, false}, now);
    ASSERT_TRUE(hb) << hb.error().message;
    EXPECT_FALSE(hb->reply.is_fenced);
  }

  void heartbeat_all_but(std::set<int32_t> silent) {
    for (const auto& [id, epoch] : epochs)
      if (!silent.contains(id)) ASSERT_TRUE(qc.heartbeat(broker_heartbeat{node_id(id), epoch, offset, false, false}, now));
  }

  const partition_info& part(const std::string& topic, int32_t p) {
    return qc.image().topic(topic)->partitions.at(size_t(p));
  }

  quorum_controller qc;
  int64_t now = 1'000'000;
  int64_t offset = 0;
  std::map<int32_t, int64_t> epochs;
};

// Found by the cluster simulation: the bootstrap records were returned but not applied to the
// speculative image, which then lacked metadata.version until the next activation.
TEST(quorum_controller, bootstrap_records_are_part_of_the_speculative_image) {
  quorum_controller_settings s;
  s.metadata_version = 30;
  quorum_controller qc(s);
  qc.activate(metadata_image{}, 0);
  auto boot = qc.bootstrap_records();
  ASSERT_FALSE(boot.empty());
  EXPECT_EQ(qc.image().metadata_version(), 30);
  metadata_image committed;
  for (auto& r : boot) ASSERT_EQ(committed.apply(r.message), "");
  EXPECT_EQ(committed.features(), qc.image().features());
  EXPECT_TRUE(qc.bootstrap_records().empty());  // proposed once
}

// The cluster id rides on the bootstrap metadata.version record (cluster_id_tag): encoded in a
// batch and decoded again it is still there, an image that applies it knows it, and the image's
// snapshot records carry it on to the next image.
TEST(quorum_controller, bootstrap_records_carry_the_cluster_id_through_the_log_and_snapshots) {
  quorum_controller_settings settings;
  settings.metadata_version = latest_metadata_version;
  quorum_controller qc(settings);
  qc.activate(metadata_image{}, 0);
  const std::string id = new_cluster_id();
  auto boot = qc.bootstrap_records(id);
  ASSERT_FALSE(boot.empty());
  EXPECT_EQ(qc.image().log_cluster_id(), id);

  const auto bytes = encode_data_batch(offset(0), leader_epoch(1), 0, boot);
  auto decoded = decode_batch(bytes);
  ASSERT_TRUE(decoded) << decoded.error();
  metadata_image committed;
  EXPECT_EQ(committed.log_cluster_id(), "");
  for (auto& r : decoded->records) ASSERT_EQ(committed.apply(r.message), "");
  EXPECT_EQ(committed.log_cluster_id(), id);
  EXPECT_EQ(committed.cluster_id(), "");  // the identity is the node's to set once it adopts the id

  // A later metadata.version change (UpdateFeatures) carries no id and keeps the first one.
  protocol::metadata::feature_level_record upgrade;
  upgrade.name = metadata_version_feature;
  upgrade.feature_level = committed.metadata_version();
  ASSERT_EQ(committed.apply(protocol::metadata::any_record{upgrade}), "");
  EXPECT_EQ(committed.log_cluster_id(), id);

  metadata_image from_snapshot;
  int carriers = 0;
  for (const auto& r : committed.to_records()) {
    ASSERT_EQ(from_snapshot.apply(r.message), "");
    if (const auto* f = std::get_if<protocol::metadata::feature_level_record>(&r.message))
      carriers += record_cluster_id(*f).empty() ? 0 : 1;
  }
  EXPECT_EQ(carriers, 1);
  EXPECT_EQ(from_snapshot.log_cluster_id(), id);
}

TEST(quorum_controller, bootstrap_records_without_a_cluster_id_carry_none) {
  quorum_controller qc(quorum_controller_settings{});
  qc.activate(metadata_image{}, 0);
  auto boot = qc.bootstrap_records();
  ASSERT_FALSE(boot.empty());
  for (const auto& r : boot)
    if (const auto* f = std::get_if<protocol::metadata::feature_level_record>(&r.message))
      EXPECT_TRUE(f->unknown_tagged_fields.empty());
  EXPECT_EQ(qc.image().log_cluster_id(), "");
}

TEST(quorum_controller, new_cluster_ids_are_random_22_characters_without_a_dash) {
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {
    const std::string id = new_cluster_id();
    ASSERT_EQ(id.size(), 22u) << id;
    ASSERT_EQ(id.find('-'), std::string::npos) << id;
    uuid u;
    ASSERT_TRUE(uuid::from_base64(id, u)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 2000u);
}

TEST_F(cluster_fixture, new_topic_spreads_leaders_and_replicas_over_unfenced_brokers) {
  for (int id = 1; id <= 3; ++id) add_broker(id);
  auto d = qc.create_topic(topic_request{"user_events", 3, 2, {}, {}}, false);
  ASSERT_TRUE(d) << d.error().message;
  std::set<int32_t> leaders;
  for (int p = 0; p < 3; ++p) {
    const auto& info = part("user_events", p);
    ASSERT_EQ(info.replicas.size(), 2u);
    EXPECT_NE(info.replicas[0], info.replicas[1]);
    EXPECT_EQ(info.isr, info.replicas);
    EXPECT_EQ(info.leader, info.replicas[0]);
    leaders.insert(info.leader.value());
  }
  EXPECT_EQ(leaders.size(), 3u);
  // One TopicRecord and three PartitionRecords.
  EXPECT_EQ(d->records.size(), 4u);
}

TEST_F(cluster_fixture, replicas_of_a_partition_go_to_different_racks_first) {
  add_broker(1, "a");
  add_broker(2, "a");
  add_broker(3, "b");
  add_broker(4, "b");
  ASSERT_TRUE(qc.create_topic(topic_request{"racked", 8, 2, {}, {}}, false));
  for (int p = 0; p < 8; ++p) {
    const auto& info = part("racked", p);
    const auto rack = [&](node_id b) { return *qc.image().brokers().at(b).rack; };
    EXPECT_NE(rack(info.replicas[0]), rack(info.replicas[1])) << "partition " << p;
  }
}

TEST_F(cluster_fixture, replication_factor_above_the_unfenced_brokers_is_refused) {
  add_broker(1);
  add_broker(2);
  auto d = qc.create_topic(topic_request{"t", 1, 3, {}, {}}, false);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, controller_errc::invalid_replication_factor);
}

TEST_F(cluster_fixture, explicit_assignment_is_honoured_and_unknown_brokers_are_refused) {
  for (int id = 1; id <= 3; ++id) add_broker(id);
  auto d = qc.create_topic(topic_request{"manual", 0, 0, {{node_id(3), node_id(1)}, {node_id(2), node_id(3)}}, {}}, false);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(part("manual", 0).replicas, (std::vector<node_id>{node_id(3), node_id(1)}));
  EXPECT_EQ(part("manual", 0).leader, node_id(3));
  EXPECT_EQ(part("manual", 1).replicas, (std::vector<node_id>{node_id(2), node_id(3)}));
  auto bad = qc.create_topic(topic_request{"bad", 0, 0, {{node_id(7)}}, {}}, false);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, controller_errc::invalid_replica_assignment);
  auto twice = qc.create_topic(topic_request{"twice", 0, 0, {{node_id(1), node_id(1)}}, {}}, false);
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, controller_errc::invalid_replica_assignment);
}

TEST_F(cluster_fixture, a_pending_creation_is_seen_by_the_next_request) {
  add_broker(1);
  ASSERT_TRUE(qc.create_topic(topic_request{"once", 1, 1, {}, {}}, false));
  auto again = qc.create_topic(topic_request{"once", 1, 1, {}, {}}, false);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, controller_errc::topic_already_exists);
}

TEST_F(cluster_fixture, a_registered_broker_stays_fenced_until_it_has_caught_up_to_its_registration) {
  broker_registration r;
  r.id = node_id(5);
  r.incarnation_id = uuid::random();
  r.endpoints.push_back(broker_endpoint{"PLAINTEXT", "h", 1, 0});
  auto d = qc.register_broker(r, 42, now);
  ASSERT_TRUE(d);
  EXPECT_TRUE(qc.image().brokers().at(node_id(5)).fenced);
  auto behind = qc.heartbeat(broker_heartbeat{node_id(5), 42, 41, false, false}, now);
  ASSERT_TRUE(behind);
  EXPECT_TRUE(behind->reply.is_fenced);
  EXPECT_FALSE(behind->reply.is_caught_up);
  auto caught_up = qc.heartbeat(broker_heartbeat{node_id(5), 42, 42, false, false}, now);
  ASSERT_TRUE(caught_up);
  EXPECT_FALSE(caught_up->reply.is_fenced);
  EXPECT_FALSE(qc.image().brokers().at(node_id(5)).fenced);
  auto stale = qc.heartbeat(broker_heartbeat{node_id(5), 41, 50, false, false}, now);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, controller_errc::stale_broker_epoch);
  auto unknown = qc.heartbeat(broker_heartbeat{node_id(9), 1, 50, false, false}, now);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, controller_errc::broker_not_registered);
}

TEST_F(cluster_fixture, a_silent_broker_is_fenced_and_its_leaderships_move_to_the_isr_with_a_new_epoch) {
  for (int id = 1; id <= 3; ++id) add_broker(id);
  ASSERT_TRUE(qc.create_topic(topic_request{"t", 0, 0, {{node_id(1), node_id(2), node_id(3)}}, {}}, false));
  const auto epoch_before = part("t", 0).leader_epoch;
  now += session_ms - 1;
  heartbeat_all_but({1});
  EXPECT_TRUE(qc.tick(now).empty());
  now += 2;
  heartbeat_all_but({1});
  auto records = qc.tick(now);
  EXPECT_FALSE(records.empty());
  EXPECT_TRUE(qc.image().brokers().at(node_id(1)).fenced);
  EXPECT_EQ(part("t", 0).leader, node_id(2));
  EXPECT_EQ(part("t", 0).leader_epoch, epoch_before + 1);
  EXPECT_EQ(part("t", 0).isr, (std::vector<node_id>{node_id(2), node_id(3)}));
  // Nothing more to do on the next tick.
  EXPECT_TRUE(qc.tick(now).empty());
}

// Found by the SIGSTOP fault test: the shell went back to the committed image after a refused
// proposal with activate(), which gave every broker a fresh session, so a stopped broker was never
// fenced while proposals kept failing. rewind() keeps liveness; a new term (activate) does not.
TEST_F(cluster_fixture, rewinding_to_the_committed_image_keeps_each_brokers_last_heartbeat) {
  for (int id = 1; id <= 3; ++id) add_broker(id);
  const metadata_image committed = qc.image();
  ASSERT_TRUE(qc.create_topic(topic_request{"lost", 1, 3, {}, {}}, false));
  now += session_ms - 1;
  heartbeat_all_but({1});
  qc.rewind(committed, now);
  EXPECT_FALSE(qc.image().topic("lost")) << "the speculative topic is gone";
  now += 2;
  heartbeat_all_but({1});
  EXPECT_FALSE(qc.tick(now).empty());
  EXPECT_TRUE(qc.image().brokers().at(node_id(1)).fenced);
  EXPECT_FALSE(qc.image().brokers().at(node_id(2)).fenced);

  // A new term starts every session afresh (Kafka's new active controller does too).
  quorum_controller fresh(settings());
  fresh.activate(committed, now);
  now += session_ms - 1;
  EXPECT_TRUE(fresh.tick(now).empty());
}

TEST_F(cluster_fixture, an_out_of_sync_replica_never_becomes_leader_without_unclean_election) {
  for (int id = 1; id <= 2; ++id) add_broker(id);
  ASSERT_TRUE(qc.create_topic(topic_request{"t", 0, 0, {{node_id(1), node_id(2)}}, {}}, false));
  // Broker 2 drops out of the ISR first (fenced), then the leader dies.
  now += session_ms;
  heartbeat_all_but({2});
  qc.tick(now);
  EXPECT_EQ(part("t", 0).isr, (std::vector<node_id>{node_id(1)}));
  // Broker 2 comes back (unfenced) but is not in the ISR; broker 1 goes silent.
  ASSERT_TRUE(qc.heartbeat(broker_heartbeat{node_id(2), epochs[2], offset, false, false}, now));
  now += session_ms;
  heartbeat_all_but({1});
  qc.tick(now);
  EXPECT_EQ(part("t", 0).leader, no_node);
  EXPECT_EQ(part("t", 0).isr, (std::vector<node_id>{node_id(1)}));
  // The last ISR member returns and leads again.
  ASSERT_TRUE(qc.heartbeat(broker_heartbeat{node_id(1), epochs[1], offset, false, false}, now));
  EXPECT_EQ(part("t", 0).leader, node_id(1));
}

TEST_F(cluster_fixture, unclean_election_picks_a_live_replica_when_enabled_for_the_topic) {
  for (int id = 1; id <= 2; ++id) add_broker(id);
  ASSERT_TRUE(qc.create_topic(
      topic_request{"t", 0, 0, {{node_id(1), node_id(2)}}, {{"unclean.leader.election.enable", "true"}}}, false));
  now += session_ms;
  heartbeat_all_but({2});
  qc.tick(now);
  ASSERT_TRUE(qc.heartbeat(broker_heartbeat{node_id(2), epochs[2], offset, false, false}, now));
  now += session_ms;
  heartbeat_all_but({1});
  qc.tick(now);
  EXPECT_EQ(part("t", 0).leader, node_id(2));
}

TEST_F(cluster_fixture, controlled_shutdown_moves_leadership_before_the_broker_may_stop) {
  for (int id = 1; id <= 2; ++id) add_broker(id);
  ASSERT_TRUE(qc.create_topic(topic_request{"t", 0, 0, {{node_id(1), node_id(2)}}, {}}, false));
  auto d = qc.heartbeat(broker_heartbeat{node_id(1), epochs[1], offset, false, true}, now);
  ASSERT_TRUE(d);
  EXPECT_TRUE(qc.image().brokers().at(node_id(1)).in_controlled_shutdown);
  EXPECT_EQ(part("t", 0).leader, node_id(2));
  EXPECT_TRUE(d->reply.should_shutdown);
  EXPECT_TRUE(qc.image().brokers().at(node_id(1)).fenced) << "Kafka fences a broker as it lets it stop";
  // New topics avoid a broker that is shutting down.
  auto t2 = qc.create_topic(topic_request{"t2", 4, 1, {}, {}}, false);
  ASSERT_TRUE(t2);
  for (int p = 0; p < 4; ++p) EXPECT_EQ(part("t2", p).leader, node_id(2));
  // Its next incarnation registers at once (its old session no longer counts).
  broker_registration r;
  r.id = node_id(1);
  r.incarnation_id = uuid::random();
  r.endpoints.push_back(broker_endpoint{"PLAINTEXT", "127.0.0.1", 9001, 0});
  auto again = qc.register_broker(r, ++offset, now);
  EXPECT_TRUE(again) << again.error().message;
}

TEST_F(cluster_fixture, producer_id_blocks_never_overlap) {
  add_broker(1);
  add_broker(2);
  auto a = qc.allocate_producer_ids(node_id(1), epochs[1], 1000);
  auto b = qc.allocate_producer_ids(node_id(2), epochs[2], 1000);
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->reply.first, a->reply.first + 1000);
  auto stale = qc.allocate_producer_ids(node_id(2), epochs[2] - 1, 1000);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, controller_errc::stale_broker_epoch);
}

TEST_F(cluster_fixture, reactivation_from_the_committed_image_forgets_uncommitted_proposals) {
  add_broker(1);
  metadata_image committed = qc.image();
  ASSERT_TRUE(qc.create_topic(topic_request{"lost", 1, 1, {}, {}}, false));
  qc.activate(committed, now);
  EXPECT_EQ(qc.image().topic("lost"), nullptr);
  EXPECT_TRUE(qc.create_topic(topic_request{"lost", 1, 1, {}, {}}, false));
}

}  // namespace
}  // namespace gregor::controller

namespace gregor::controller {
namespace {

class alter_partition_fixture : public cluster_fixture {
 protected:
  alter_partition_request shrink_to(std::vector<node_id> isr) {
    const auto* t = qc.image().topic("t");
    const auto& p = t->partitions.at(0);
    return alter_partition_request{p.leader, epochs[p.leader.value()], t->id, 0, p.leader_epoch, p.partition_epoch,
                                   std::move(isr)};
  }
};

TEST_F(alter_partition_fixture, the_leader_shrinks_and_expands_the_isr_and_each_change_bumps_the_partition_epoch) {
  for (int id = 1; id <= 3; ++id) add_broker(id);
  ASSERT_TRUE(qc.create_topic(topic_request{"t", 0, 0, {{node_id(1), node_id(2), node_id(3)}}, {}}, false));
  const int32_t epoch0 = part("t", 0).partition_epoch;
  auto d = qc.alter_partition(shrink_to({node_id(1), node_id(2)}));
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->records.size(), 1u);
  EXPECT_EQ(part("t", 0).isr, (std::vector<node_id>{node_id(1), node_id(2)}));
  EXPECT_EQ(d->reply.partition_epoch, epoch0 + 1);
  EXPECT_EQ(d->reply.epoch, part("t", 0).leader_epoch) << "an ISR change keeps the leader epoch";
  auto back = qc.alter_partition(shrink_to({node_id(1), node_id(2), node_id(3)}));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(part("t", 0).isr.size(), 3u);
  EXPECT_EQ(back->reply.partition_epoch, epoch0 + 2);
  // The same ISR again: nothing to write.
  auto same = qc.alter_partition(shrink_to({node_id(1), node_id(2), node_id(3)}));
  ASSERT_TRUE(same);
  EXPECT_TRUE(same->records.empty());
}

TEST_F(alter_partition_fixture, stale_epochs_other_senders_and_fenced_newcomers_are_refused) {
  for (int id = 1; id <= 3; ++id) add_broker(id);
  ASSERT_TRUE(qc.create_topic(topic_request{"t", 0, 0, {{node_id(1), node_id(2), node_id(3)}}, {}}, false));
  auto stale = shrink_to({node_id(1), node_id(2)});
  ASSERT_TRUE(qc.alter_partition(stale));
  // The same request again carries the old partition epoch.
  auto again = qc.alter_partition(stale);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, controller_errc::invalid_update_version);
  auto old_leader_epoch = shrink_to({node_id(1)});
  old_leader_epoch.epoch = old_leader_epoch.epoch - 1;
  EXPECT_EQ(qc.alter_partition(old_leader_epoch).error().code, controller_errc::fenced_leader_epoch);
  auto not_leader = shrink_to({node_id(2)});
  not_leader.broker = node_id(2);
  not_leader.broker_epoch = epochs[2];
  EXPECT_EQ(qc.alter_partition(not_leader).error().code, controller_errc::not_leader_or_follower);
  EXPECT_EQ(qc.alter_partition(shrink_to({node_id(2), node_id(3)})).error().code, controller_errc::invalid_request)
      << "the ISR must keep the leader";
  // Broker 3 falls silent and is fenced: it may not rejoin the ISR.
  now += session_ms + 1;
  heartbeat_all_but({3});
  qc.tick(now);
  ASSERT_TRUE(qc.image().brokers().at(node_id(3)).fenced);
  EXPECT_EQ(qc.alter_partition(shrink_to({node_id(1), node_id(2), node_id(3)})).error().code,
            controller_errc::ineligible_replica);
  auto unknown = shrink_to({node_id(1)});
  unknown.topic_id = uuid::random();
  EXPECT_EQ(qc.alter_partition(unknown).error().code, controller_errc::unknown_topic_id);
}

}  // namespace
}  // namespace gregor::controller

namespace gregor::controller {
namespace {

// Reassignments (KIP-455 as KRaft runs them) and leader elections.
class reassignment_fixture : public alter_partition_fixture {
 protected:
  std::vector<node_id> ns(std::initializer_list<int32_t> v) {
    std::vector<node_id> out;
    for (int32_t x : v) out.push_back(node_id(x));
    return out;
  }
  std::optional<controller_errc> reassign(std::optional<std::vector<node_id>> target) {
    auto d = qc.alter_partition_reassignments({reassignment_request{"t", 0, std::move(target)}});
    EXPECT_EQ(d.reply.size(), 1u);
    if (d.reply.at(0).error) return d.reply.at(0).error->code;
    return std::nullopt;
  }
  // The leader reports the ISR `isr` (AlterPartition), as its ISR loop would.
  void leader_sets_isr(std::vector<node_id> isr) {
    auto d = qc.alter_partition(shrink_to(std::move(isr)));
    ASSERT_TRUE(d) << d.error().message;
  }
};

TEST_F(reassignment_fixture, a_new_replica_joins_and_the_old_one_leaves_only_once_it_is_in_the_isr) {
  for (int id = 1; id <= 4; ++id) add_broker(id);
  ASSERT_TRUE(qc.create_topic(topic_request{"t", 0, 0, {ns({1, 2, 3})}, {}}, false));
  const leader_epoch epoch0 = part("t", 0).leader_epoch;
  EXPECT_FALSE(reassign(ns({1, 2, 4})));
  EXPECT_EQ(part("t", 0).replicas, ns({1, 2, 4, 3})) << "target first, then the replicas being removed";
  EXPECT_EQ(part("t", 0).adding_replicas, ns({4}));
  EXPECT_EQ(part("t", 0).removing_replicas, ns({3}));
  EXPECT_EQ(part("t", 0).isr, ns({1, 2, 3})) << "nothing leaves before the new replica caught up";
  EXPECT_EQ(part("t", 0).leader_epoch, epoch0);
  // Broker 4 caught up: the leader adds it to the ISR, which completes the reassignment.
  leader_sets_isr(ns({1, 2, 3, 4}));
  EXPECT_EQ(part("t", 0).replicas, ns({1, 2, 4}));
  EXPECT_EQ(part("t", 0).isr, ns({1, 2, 4}));
  EXPECT_TRUE(part("t", 0).adding_replicas.empty());
  EXPECT_TRUE(part("t", 0).removing_replicas.empty());
  EXPECT_EQ(part("t", 0).leader, node_id(1));
  EXPECT_GT(part("t", 0).leader_epoch, epoch0) << "a removed replica's fetches are fenced by a new leader epoch";
}

TEST_F(reassignment_fixture, moving_the_leader_away_elects_a_target_replica_at_completion) {
  for (int id = 1; id <= 4; ++id) add_broker(id);
  ASSERT_TRUE(qc.create_topic(topic_request{"t", 0, 0, {ns({1, 2})}, {}}, false));
  EXPECT_FALSE(reassign(ns({3, 4})));
  EXPECT_EQ(part("t", 0).leader, node_id(1)) << "the old leader leads until the new replicas caught up";
  leader_sets_isr(ns({1, 2, 3}));
  EXPECT_FALSE(part("t", 0).adding_replicas.empty()) << "broker 4 is not in the ISR yet";
  leader_sets_isr(ns({1, 2, 3, 4}));
  EXPECT_EQ(part("t", 0).replicas, ns({3, 4}));
  EXPECT_EQ(part("t", 0).isr, ns({3, 4}));
  EXPECT_EQ(part("t", 0).leader, node_id(3));
}

TEST_F(reassignment_fixture, a_target_inside_the_isr_completes_at_once_and_a_repeat_is_a_no_op) {
  for (int id = 1; id <= 3; ++id) add_broker(id);
  ASSERT_TRUE(qc.create_topic(topic_request{"t", 0, 0, {ns({1, 2, 3})}, {}}, false));
  EXPECT_FALSE(reassign(ns({2, 3})));
  EXPECT_EQ(part("t", 0).replicas, ns({2, 3}));
  EXPECT_EQ(part("t", 0).isr, ns({2, 3}));
  EXPECT_EQ(part("t", 0).leader, node_id(2));
  auto again = qc.alter_partition_reassignments({reassignment_request{"t", 0, ns({2, 3})}});
  EXPECT_FALSE(again.reply.at(0).error);
  EXPECT_TRUE(again.records.empty());
}

TEST_F(reassignment_fixture, a_cancel_drops_the_added_replicas_and_keeps_the_original_ones) {
  for (int id = 1; id <= 4; ++id) add_broker(id);
  ASSERT_TRUE(qc.create_topic(topic_request{"t", 0, 0, {ns({1, 2, 3})}, {}}, false));
  EXPECT_EQ(reassign(std::nullopt), controller_errc::no_reassignment_in_progress);
  EXPECT_FALSE(reassign(ns({1, 2, 4})));
  EXPECT_FALSE(reassign(std::nullopt));
  EXPECT_EQ(part("t", 0).replicas, ns({1, 2, 3}));
  EXPECT_EQ(part("t", 0).isr, ns({1, 2, 3}));
  EXPECT_TRUE(part("t", 0).adding_replicas.empty());
  EXPECT_TRUE(part("t", 0).removing_replicas.empty());
}

TEST_F(reassignment_fixture, bad_targets_are_refused_per_partition) {
  for (int id = 1; id <= 3; ++id) add_broker(id);
  ASSERT_TRUE(qc.create_topic(topic_request{"t", 0, 0, {ns({1, 2})}, {}}, false));
  EXPECT_EQ(reassign(ns({})), controller_errc::invalid_replica_assignment);
  EXPECT_EQ(reassign(ns({1, 1})), controller_errc::invalid_replica_assignment);
  EXPECT_EQ(reassign(ns({1, 9})), controller_errc::invalid_replica_assignment);
  auto d = qc.alter_partition_reassignments(
      {reassignment_request{"t", 5, ns({1})}, reassignment_request{"nope", 0, ns({1})},
       reassignment_request{"t", 0, ns({2, 3})}});
  ASSERT_EQ(d.reply.size(), 3u);
  EXPECT_EQ(d.reply[0].error->code, controller_errc::unknown_topic);
  EXPECT_EQ(d.reply[1].error->code, controller_errc::unknown_topic);
  EXPECT_FALSE(d.reply[2].error) << "one bad partition does not fail the others";
  EXPECT_EQ(part("t", 0).adding_replicas, ns({3}));
}

TEST_F(reassignment_fixture, preferred_election_moves_leadership_back_to_the_first_replica) {
  for (int id = 1; id <= 3; ++id) add_broker(id);
  ASSERT_TRUE(qc.create_topic(topic_request{"t", 0, 0, {ns({1, 2, 3})}, {}}, false));
  using tp_list = std::vector<std::pair<std::string, int32_t>>;
  auto not_needed = qc.elect_leaders(election_type::preferred, tp_list{{"t", 0}});
  EXPECT_EQ(not_needed.reply.at(0).error->code, controller_errc::election_not_needed);
  // Broker 1 shuts down and comes back: broker 2 leads, 1 is back in the ISR.
  ASSERT_TRUE(qc.heartbeat(broker_heartbeat{node_id(1), epochs[1], offset, false, true}, now));
  EXPECT_EQ(part("t", 0).leader, node_id(2));
  broker_registration r;
  r.id = node_id(1);
  r.incarnation_id = uuid::random();
  r.endpoints.push_back(broker_endpoint{"PLAINTEXT", "127.0.0.1", 9001, 0});
  r.previous_broker_epoch = epochs[1];
  auto reg = qc.register_broker(r, ++offset, now);
  ASSERT_TRUE(reg) << reg.error().message;
  epochs[1] = reg->reply;
  ASSERT_TRUE(qc.heartbeat(broker_heartbeat{node_id(1), epochs[1], offset, false, false}, now));
  EXPECT_EQ(qc.elect_leaders(election_type::preferred, tp_list{{"t", 0}}).reply.at(0).error->code,
            controller_errc::preferred_leader_not_available)
      << "broker 1 is not in the ISR yet";
  leader_sets_isr(ns({2, 3, 1}));
  // Every partition (null list): only those that needed an election are reported.
  auto all = qc.elect_leaders(election_type::preferred, std::nullopt);
  ASSERT_EQ(all.reply.size(), 1u);
  EXPECT_FALSE(all.reply[0].error);
  EXPECT_EQ(part("t", 0).leader, node_id(1));
  EXPECT_TRUE(qc.elect_leaders(election_type::preferred, std::nullopt).reply.empty());
}

TEST_F(reassignment_fixture, auto_rebalance_elects_every_available_preferred_leader) {
  for (int id = 1; id <= 3; ++id) add_broker(id);
  ASSERT_TRUE(qc.create_topic(topic_request{"t", 0, 0, {ns({1, 2}), ns({2, 3})}, {}}, false));
  // Broker 1 is fenced and comes back: partition 0 stays with broker 2.
  now += session_ms + 1;
  heartbeat_all_but({1});
  qc.tick(now);
  EXPECT_EQ(part("t", 0).leader, node_id(2));
  EXPECT_TRUE(qc.balance_leaders().empty()) << "broker 1 is fenced and out of the ISR";
  ASSERT_TRUE(qc.heartbeat(broker_heartbeat{node_id(1), epochs[1], offset, false, false}, now));
  leader_sets_isr(ns({2, 1}));
  auto records = qc.balance_leaders();
  EXPECT_EQ(records.size(), 1u);
  EXPECT_EQ(part("t", 0).leader, node_id(1));
  EXPECT_EQ(part("t", 1).leader, node_id(2));
}

TEST_F(reassignment_fixture, unclean_election_only_for_leaderless_partitions) {
  for (int id = 1; id <= 2; ++id) add_broker(id);
  ASSERT_TRUE(qc.create_topic(topic_request{"t", 0, 0, {ns({1, 2})}, {}}, false));
  using tp_list = std::vector<std::pair<std::string, int32_t>>;
  EXPECT_EQ(qc.elect_leaders(election_type::unclean, tp_list{{"t", 0}}).reply.at(0).error->code,
            controller_errc::election_not_needed);
  leader_sets_isr(ns({1}));  // broker 2 fell behind
  now += session_ms + 1;
  heartbeat_all_but({1});
  qc.tick(now);
  EXPECT_EQ(part("t", 0).leader, no_node) << "the only ISR member is fenced";
  EXPECT_EQ(qc.elect_leaders(election_type::preferred, tp_list{{"t", 0}}).reply.at(0).error->code,
            controller_errc::preferred_leader_not_available);
  auto d = qc.elect_leaders(election_type::unclean, tp_list{{"t", 0}});
  EXPECT_FALSE(d.reply.at(0).error);
  EXPECT_EQ(part("t", 0).leader, node_id(2));
  EXPECT_EQ(part("t", 0).isr, ns({2}));
}

TEST_F(cluster_fixture, update_features_follows_kafkas_upgrade_and_downgrade_rules) {
  auto level = [&](const char* name) {
    auto it = qc.image().features().find(name);
    return it == qc.image().features().end() ? int16_t(0) : it->second;
  };
  // An upgrade within the supported range writes one FeatureLevelRecord; the same level is a no-op.
  auto up = qc.update_features({{group_version_feature, 1, feature_upgrade::upgrade}}, false);
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(level(group_version_feature), 1);
  auto again = qc.update_features({{group_version_feature, 1, feature_upgrade::upgrade}}, false);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->records.empty());
  // A lower level needs a downgrade type; a downgrade type cannot raise a level.
  auto e = qc.update_features({{group_version_feature, 0, feature_upgrade::upgrade}}, false);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, controller_errc::invalid_update_version);
  auto validate = qc.update_features({{group_version_feature, 0, feature_upgrade::safe_downgrade}}, true);
  ASSERT_TRUE(validate);
  EXPECT_TRUE(validate->records.empty());
  EXPECT_EQ(level(group_version_feature), 1) << "validate_only changed the image";
  auto down = qc.update_features({{group_version_feature, 0, feature_upgrade::safe_downgrade}}, false);
  ASSERT_TRUE(down) << down.error().message;
  EXPECT_EQ(level(group_version_feature), 0);
  EXPECT_FALSE(qc.update_features({{group_version_feature, 1, feature_upgrade::safe_downgrade}}, false));
  // Unknown features, levels outside the range, kraft.version and metadata.version downgrades
  // are refused, and nothing of a refused request is applied.
  EXPECT_FALSE(qc.update_features({{"no.such.feature", 1, feature_upgrade::upgrade}}, false));
  EXPECT_FALSE(qc.update_features({{group_version_feature, 2, feature_upgrade::upgrade}}, false));
  EXPECT_FALSE(qc.update_features({{kraft_version_feature, 1, feature_upgrade::upgrade}}, false));
  EXPECT_FALSE(qc.update_features({{metadata_version_feature, 7, feature_upgrade::unsafe_downgrade}}, false));
  auto mixed = qc.update_features({{group_version_feature, 1, feature_upgrade::upgrade},
                                   {"no.such.feature", 1, feature_upgrade::upgrade}}, false);
  EXPECT_FALSE(mixed);
  EXPECT_EQ(level(group_version_feature), 0);
}

}  // namespace
}  // namespace gregor::controller
