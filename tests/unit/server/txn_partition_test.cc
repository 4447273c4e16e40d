// Proves the partition-leader side of transactions in server::idempotence: the produce checks
// refuse a plain batch during a transaction, write_marker appends Kafka's COMMIT/ABORT control
// batch with Kafka's checks and ends the transaction, an ABORT is indexed in `.txnindex`, the last
// stable offset waits for ongoing transactions and for the high watermark to pass a marker, a
// follower that replicates the log keeps the same state and index and can take over as leader, and
// a restarted broker finds its ongoing transactions again.
#include <random>

#include <gtest/gtest.h>

#include "gregor/base/clock.h"
#include "gregor/controller/metadata_image.h"
#include "gregor/protocol/record_batch.h"
#include "gregor/storage/partition_log.h"
#include "gregor/txn/producer_state.h"
#include "../../../src/server/idempotence.h"

namespace gregor::server {
namespace {
namespace fs = std::filesystem;
using protocol::error_code;

constexpr int64_t t0 = 1'700'000'000'000;
const node_id leader_node{1};
const node_id follower_node{2};

class temp_dir {
 public:
  temp_dir() {
    std::random_device rd;
    _path = fs::temp_directory_path() / fmt::format("gregor-txnpart-{:x}{:x}", rd(), rd());
    fs::create_directories(_path);
  }
  ~temp_dir() { fs::remove_all(_path); }
  const fs::path& path() const { return _path; }

 private:
  fs::path _path;
};

// idempotence asks the controller for producer id blocks only in InitProducerId, which these
// tests never call: every request fails.
class no_controller final : public controller_client {
  template <class T>
  static outcome<T> refuse() {
    co_return failure{admin_error{error_code::not_controller, "no controller in this test"}};
  }

 public:
  outcome<created_topic> create_topic(topic_spec, bool, mutation_requester*) override { return refuse<created_topic>(); }
  outcome<void> delete_topic(std::string, mutation_requester*) override { return refuse<void>(); }
  outcome<void> create_partitions(std::string, int32_t, std::vector<std::vector<node_id>>, bool, mutation_requester*) override {
    return refuse<void>();
  }
  outcome<void> alter_topic_configs(std::string, config_changes) override { return refuse<void>(); }
  outcome<void> alter_broker_configs(std::string, config_changes) override { return refuse<void>(); }
  outcome<producer_id_range> allocate_producer_ids(node_id, int32_t) override {
    return refuse<producer_id_range>();
  }
  outcome<std::vector<partition_outcome>> alter_partition_reassignments(std::vector<reassignment>) override {
    return refuse<std::vector<partition_outcome>>();
  }
  outcome<std::vector<partition_outcome>> elect_leaders(election_kind, std::optional<partition_list>) override {
    return refuse<std::vector<partition_outcome>>();
  }
  outcome<void> update_features(std::vector<feature_change>, bool) override { return refuse<void>(); }
  outcome<void> create_acls(std::vector<controller::acl_entry>) override { return refuse<void>(); }
  outcome<std::vector<std::vector<controller::acl_entry>>> delete_acls(std::vector<acl_filter>) override {
    return refuse<std::vector<std::vector<controller::acl_entry>>>();
  }
  outcome<std::vector<std::optional<admin_error>>> alter_scram_credentials(std::vector<scram_alteration>) override {
    return refuse<std::vector<std::optional<admin_error>>>();
  }
  outcome<std::vector<quota_outcome>> alter_client_quotas(std::vector<quota_alteration>, bool) override {
    return refuse<std::vector<quota_outcome>>();
  }
};

// One broker: its logs, replicas and idempotence registry.
struct broker {
  broker(const fs::path& dir, manual_clock& clk, node_id self) : dir(dir), clk(clk), self(self) {
    idem = std::make_unique<idempotence>(cfg, clk, image, controller);
    idem->set_stable_offset_listener([this](const topic_partition& tp) { woken.push_back(tp); });
  }
  replication::partition& open(replication::replica_set rs, bool clean = true) {
    storage::open_hints hints;
    hints.clean_shutdown = clean;
    if (!clean) hints.recovery_point = 0;
    auto l = storage::partition_log::open(dir / "t-0", topic_partition{"t", partition_id(0)}, uuid{1, 2}, {}, clk,
                                          hints);
    EXPECT_TRUE(l) << (l ? "" : l.error().message);
    log = std::move(*l);
    part = std::make_unique<replication::partition>(*log, self, std::move(rs), clk.now_ms());
    return *part;
  }
  // Graceful stop: producer snapshots, then the log closes.
  void stop() {
    idem->snapshot_all([this](const topic_partition&) { return part.get(); });
    ASSERT_TRUE(log->close());
    part.reset();
    log.reset();
    idem = std::make_unique<idempotence>(cfg, clk, image, controller);
  }

  fs::path dir;
  manual_clock& clk;
  node_id self;
  config::broker_config cfg;
  controller::metadata_image image;
  no_controller controller;
  std::unique_ptr<idempotence> idem;
  std::unique_ptr<storage::partition_log> log;
  std::unique_ptr<replication::partition> part;
  std::vector<topic_partition> woken;
};

replication::replica_set led_by(node_id leader, std::vector<node_id> isr, int32_t epoch = 0) {
  replication::replica_set rs;
  rs.epoch = leader_epoch(epoch);
  rs.leader = leader;
  rs.replicas = {leader_node, follower_node};
  rs.isr = std::move(isr);
  return rs;
}

struct txn_partition_test : ::testing::Test {
  temp_dir tmp;
  manual_clock clk{t0};
  broker leader{tmp.path() / "b1", clk, leader_node};

  // The Produce handler's path: validate, check, append, record. The produce's error, else the
  // base offset.
  static result<offset, error_code> produce(broker& b, int64_t pid, int16_t epoch, int32_t seq, bool transactional) {
    protocol::record_input r;
    r.value = "v";
    protocol::batch_options o;
    o.base_timestamp = t0;
    o.producer_id = pid;
    o.producer_epoch = epoch;
    o.base_sequence = seq;
    o.transactional = transactional;
    std::vector<uint8_t> bytes = protocol::build_batch({r}, o);
    protocol::validation_options opts;
    opts.now_ms = t0;
    auto valid = protocol::validate_produce_records(bytes, opts);
    if (!valid) return failure{valid.error().code};
    auto v = b.idem->check(*b.part, *valid);
    if (v.error != error_code::none) return failure{v.error};
    auto a = b.part->append(bytes);
    if (!a) return failure{error_code::kafka_storage_error};
    b.idem->record(*b.part, *valid, a->base_offset, /*log_append_time_ms=*/-1);
    return a->base_offset;
  }
  // The follower fetcher's path: everything the leader has from the follower's log end.
  static void replicate(broker& from, broker& to) {
    const offset end_before = to.log->log_end_offset();
    auto r = from.log->read(end_before, 1 << 20, from.log->log_end_offset(), true);
    ASSERT_TRUE(r);
    if (r->data.empty()) return;
    std::vector<uint8_t> bytes(r->data.begin(), r->data.end());
    ASSERT_TRUE(to.log->append_with_offsets(bytes));
    to.idem->appended(*to.part, bytes, end_before);
    from.part->update_follower_end_offset(to.self, to.log->log_end_offset());
    to.part->set_follower_high_watermark(from.part->high_watermark());
  }
};

TEST_F(txn_partition_test, a_commit_marker_ends_the_transaction_and_releases_the_stable_offset) {
  auto& p = leader.open(led_by(leader_node, {leader_node}));
  ASSERT_EQ(produce(leader, 7, 0, 0, true).value(), offset(0));
  ASSERT_EQ(produce(leader, 8, 0, 0, false).value(), offset(1));
  ASSERT_EQ(produce(leader, 7, 0, 1, true).value(), offset(2));
  EXPECT_EQ(p.high_watermark(), offset(3));
  EXPECT_EQ(leader.idem->last_stable_offset(p), offset(0));
  // A plain batch of the producer in its transaction is refused; nothing is appended.
  EXPECT_EQ(produce(leader, 7, 0, 2, false).error(), error_code::invalid_txn_state);

  auto m = leader.idem->write_marker(p, producer_id(7), producer_epoch(0), /*commit=*/true, /*coordinator_epoch=*/5);
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, offset(3));
  EXPECT_EQ(leader.log->log_end_offset(), offset(4));
  EXPECT_EQ(leader.idem->last_stable_offset(p), offset(4));
  EXPECT_EQ(leader.woken, (std::vector<topic_partition>{p.tp()}));
  EXPECT_TRUE(leader.log->collect_aborted_txns(offset(0), offset(4)).empty());  // commits are not indexed
  const txn::producer_entry* e = leader.idem->state(p)->find(producer_id(7));
  EXPECT_FALSE(e->current_txn_first_offset);
  EXPECT_EQ(e->coordinator_epoch, 5);

  // The marker in the log is Kafka's control batch.
  auto r = leader.log->read(offset(3), 1 << 20, offset(4), true);
  ASSERT_TRUE(r);
  auto h = protocol::parse_batch_header(r->data);
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->is_control() && h->is_transactional());
  EXPECT_EQ(h->producer_id, 7);
  auto marker = txn::parse_end_txn_marker(std::span<const uint8_t>(r->data.data(), r->data.size()));
  ASSERT_TRUE(marker);
  EXPECT_TRUE(marker->commit);
  EXPECT_EQ(marker->coordinator_epoch, 5);
  // The producer writes plainly again.
  EXPECT_TRUE(produce(leader, 7, 0, 2, false));
}

TEST_F(txn_partition_test, an_abort_marker_is_indexed_with_the_stable_offset_after_it) {
  auto& p = leader.open(led_by(leader_node, {leader_node}));
  ASSERT_TRUE(produce(leader, 7, 0, 0, true));  // 0
  ASSERT_TRUE(produce(leader, 8, 0, 0, true));  // 1
  auto m = leader.idem->write_marker(p, producer_id(7), producer_epoch(0), false, 0);
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, offset(2));
  // Producer 8's transaction from 1 is still open: that is the stable offset after the abort.
  EXPECT_EQ(leader.log->collect_aborted_txns(offset(0), offset(3)),
            (std::vector<storage::aborted_txn>{{7, 0, 2, 1}}));
  EXPECT_EQ(leader.idem->last_stable_offset(p), offset(1));
  ASSERT_TRUE(leader.idem->write_marker(p, producer_id(8), producer_epoch(0), false, 0));
  EXPECT_EQ(leader.log->collect_aborted_txns(offset(0), offset(4)),
            (std::vector<storage::aborted_txn>{{7, 0, 2, 1}, {8, 1, 3, 4}}));
  EXPECT_EQ(leader.idem->last_stable_offset(p), offset(4));
}

TEST_F(txn_partition_test, stale_markers_are_refused_and_nothing_is_written) {
  auto& p = leader.open(led_by(leader_node, {leader_node}));
  ASSERT_TRUE(produce(leader, 7, 3, 0, true));
  ASSERT_TRUE(leader.idem->write_marker(p, producer_id(7), producer_epoch(3), true, 4));
  ASSERT_TRUE(produce(leader, 7, 3, 1, true));
  const offset end = leader.log->log_end_offset();
  auto old_epoch = leader.idem->write_marker(p, producer_id(7), producer_epoch(2), false, 4);
  ASSERT_FALSE(old_epoch);
  EXPECT_EQ(old_epoch.error(), error_code::invalid_producer_epoch);
  auto old_coordinator = leader.idem->write_marker(p, producer_id(7), producer_epoch(3), false, 3);
  ASSERT_FALSE(old_coordinator);
  EXPECT_EQ(old_coordinator.error(), error_code::transaction_coordinator_fenced);
  EXPECT_EQ(leader.log->log_end_offset(), end);
  EXPECT_EQ(leader.idem->last_stable_offset(p), offset(2));
}

TEST_F(txn_partition_test, a_marker_without_a_transaction_is_written_and_a_follower_writes_none) {
  auto& p = leader.open(led_by(leader_node, {leader_node}));
  auto m = leader.idem->write_marker(p, producer_id(9), producer_epoch(0), true, 0);
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, offset(0));
  EXPECT_EQ(leader.idem->last_stable_offset(p), offset(1));
  // Transaction version 2 bumps the epoch with the marker: the producer continues in epoch 1.
  ASSERT_TRUE(leader.idem->write_marker(p, producer_id(9), producer_epoch(1), true, 0));
  EXPECT_EQ(produce(leader, 9, 0, 0, true).error(), error_code::invalid_producer_epoch);
  EXPECT_TRUE(produce(leader, 9, 1, 0, true));

  broker other{tmp.path() / "b2", clk, follower_node};
  auto& fp = other.open(led_by(leader_node, {leader_node, follower_node}));
  auto refused = other.idem->write_marker(fp, producer_id(9), producer_epoch(1), true, 0);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), error_code::not_leader_or_follower);
}

TEST_F(txn_partition_test, the_stable_offset_waits_for_the_high_watermark_to_pass_the_marker) {
  auto& p = leader.open(led_by(leader_node, {leader_node, follower_node}));
  ASSERT_TRUE(produce(leader, 7, 0, 0, true));  // 0
  ASSERT_TRUE(leader.idem->write_marker(p, producer_id(7), producer_epoch(0), true, 0));  // 1
  EXPECT_EQ(p.high_watermark(), offset(0));
  EXPECT_EQ(leader.idem->last_stable_offset(p), offset(0));
  p.update_follower_end_offset(follower_node, offset(1));  // the data, not yet the marker
  EXPECT_EQ(p.high_watermark(), offset(1));
  EXPECT_EQ(leader.idem->last_stable_offset(p), offset(0));
  p.update_follower_end_offset(follower_node, offset(2));
  EXPECT_EQ(leader.idem->last_stable_offset(p), offset(2));
}

TEST_F(txn_partition_test, a_follower_keeps_the_same_state_and_index_and_takes_over) {
  auto& p = leader.open(led_by(leader_node, {leader_node, follower_node}));
  broker other{tmp.path() / "b2", clk, follower_node};
  auto& fp = other.open(led_by(leader_node, {leader_node, follower_node}));
  ASSERT_TRUE(produce(leader, 7, 0, 0, true));                                       // 0
  ASSERT_TRUE(produce(leader, 8, 0, 0, true));                                       // 1
  ASSERT_TRUE(leader.idem->write_marker(p, producer_id(7), producer_epoch(0), false, 2));  // 2
  replicate(leader, other);
  ASSERT_TRUE(produce(leader, 8, 0, 1, true));                                       // 3
  replicate(leader, other);
  replicate(leader, other);  // carries the high watermark
  EXPECT_EQ(other.log->collect_aborted_txns(offset(0), offset(4)),
            leader.log->collect_aborted_txns(offset(0), offset(4)));
  EXPECT_EQ(other.log->collect_aborted_txns(offset(0), offset(4)).size(), 1u);
  EXPECT_EQ(other.idem->last_stable_offset(fp), offset(1));
  EXPECT_EQ(other.idem->state(fp)->find(producer_id(7))->coordinator_epoch, 2);

  // The leader goes; the follower leads in epoch 1 and ends producer 8's transaction.
  fp.update_replicas(led_by(follower_node, {follower_node}, 1), clk.now_ms());
  ASSERT_TRUE(fp.is_leader());
  EXPECT_EQ(produce(other, 8, 0, 2, false).error(), error_code::invalid_txn_state);
  auto stale = other.idem->write_marker(fp, producer_id(7), producer_epoch(0), false, 1);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error(), error_code::transaction_coordinator_fenced);
  auto m = other.idem->write_marker(fp, producer_id(8), producer_epoch(0), false, 2);
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, offset(4));
  EXPECT_EQ(other.log->collect_aborted_txns(offset(0), offset(5)),
            (std::vector<storage::aborted_txn>{{7, 0, 2, 1}, {8, 1, 4, 5}}));
  EXPECT_EQ(other.idem->last_stable_offset(fp), offset(5));
}

TEST_F(txn_partition_test, a_restarted_broker_finds_its_ongoing_transactions_and_index) {
  leader.open(led_by(leader_node, {leader_node}));
  ASSERT_TRUE(produce(leader, 7, 0, 0, true));  // 0
  ASSERT_TRUE(produce(leader, 8, 0, 0, true));  // 1
  ASSERT_TRUE(leader.idem->write_marker(*leader.part, producer_id(7), producer_epoch(0), false, 0));  // 2
  leader.stop();
  {
    auto& p = leader.open(led_by(leader_node, {leader_node}));
    p.restore_high_watermark(offset(3));
    EXPECT_EQ(leader.idem->last_stable_offset(p), offset(1));
    EXPECT_EQ(leader.log->collect_aborted_txns(offset(0), offset(3)).size(), 1u);
    EXPECT_EQ(produce(leader, 8, 0, 1, false).error(), error_code::invalid_txn_state);
    ASSERT_TRUE(leader.idem->write_marker(p, producer_id(8), producer_epoch(0), true, 0));  // 3
    EXPECT_EQ(leader.idem->last_stable_offset(p), offset(4));
  }
  // A crash: no snapshot at the end, no clean-shutdown marker, and the index file lost.
  ASSERT_TRUE(leader.log->close());
  leader.part.reset();
  leader.log.reset();
  leader.idem = std::make_unique<idempotence>(leader.cfg, leader.clk, leader.image, leader.controller);
  fs::remove(tmp.path() / "b1" / "t-0" / "00000000000000000000.txnindex");
  auto& p = leader.open(led_by(leader_node, {leader_node}), /*clean=*/false);
  p.restore_high_watermark(offset(4));
  EXPECT_EQ(leader.idem->last_stable_offset(p), offset(4));
  EXPECT_EQ(leader.log->collect_aborted_txns(offset(0), offset(4)),
            (std::vector<storage::aborted_txn>{{7, 0, 2, 1}}));
}

TEST_F(txn_partition_test, appends_it_was_not_told_of_are_caught_up_with) {
  // A coordinator writing its own records straight to the log (transactional offset commits).
  auto& p = leader.open(led_by(leader_node, {leader_node}));
  ASSERT_TRUE(produce(leader, 8, 0, 0, false));  // 0: the state is loaded here
  protocol::record_input r;
  r.key = "offset-key";
  r.value = "v";
  protocol::batch_options o;
  o.base_timestamp = t0;
  o.producer_id = 7;
  o.producer_epoch = 0;
  o.transactional = true;  // base sequence -1: a coordinator's batch
  std::vector<uint8_t> data = protocol::build_batch({r}, o);
  ASSERT_TRUE(p.append(data));  // 1
  EXPECT_EQ(leader.idem->last_stable_offset(p), offset(1));
  std::vector<uint8_t> abort = txn::build_end_txn_marker_batch(producer_id(7), producer_epoch(0), {false, 0}, t0);
  ASSERT_TRUE(p.append(abort));  // 2
  EXPECT_EQ(leader.idem->last_stable_offset(p), offset(3));
  EXPECT_EQ(leader.log->collect_aborted_txns(offset(0), offset(3)),
            (std::vector<storage::aborted_txn>{{7, 1, 2, 3}}));
  // Still the same state (caught up, not rebuilt): producer 8 continues its sequence.
  EXPECT_TRUE(produce(leader, 8, 0, 1, false));
}

TEST_F(txn_partition_test, a_follower_cut_back_after_a_leader_change_rebuilds_its_state) {
  auto& p = leader.open(led_by(leader_node, {leader_node, follower_node}));
  broker other{tmp.path() / "b2", clk, follower_node};
  auto& fp = other.open(led_by(leader_node, {leader_node, follower_node}));
  ASSERT_TRUE(produce(leader, 7, 0, 0, true));                                             // 0
  ASSERT_TRUE(leader.idem->write_marker(p, producer_id(7), producer_epoch(0), false, 0));  // 1
  replicate(leader, other);
  EXPECT_EQ(other.log->collect_aborted_txns(offset(0), offset(2)).size(), 1u);
  // The leader's marker never became committed: the new leader's log ends at 1, with the
  // transaction still open. The follower cuts its tail (its truncate listener fires).
  ASSERT_TRUE(other.log->truncate_to(offset(1)));
  EXPECT_TRUE(other.log->collect_aborted_txns(offset(0), offset(2)).empty());
  // The new leader's records follow at 1 and 2, past where the old state ended.
  for (int64_t at : {1, 2}) {
    protocol::record_input r;
    r.value = "new";
    protocol::batch_options o;
    o.base_offset = at;
    o.base_timestamp = t0;
    std::vector<uint8_t> b = protocol::build_batch({r}, o);
    protocol::set_partition_leader_epoch(b, 1);
    ASSERT_TRUE(other.log->append_with_offsets(b));
  }
  fp.set_follower_high_watermark(offset(3));
  EXPECT_EQ(other.idem->last_stable_offset(fp), offset(0));
  EXPECT_EQ(other.idem->state(fp)->find(producer_id(7))->current_txn_first_offset, offset(0));
}

}  // namespace
}  // namespace gregor::server
