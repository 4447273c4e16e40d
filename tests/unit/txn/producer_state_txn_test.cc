// Proves the transactional half of a partition's producer state (Kafka's ProducerStateManager):
// transactions start with a transactional batch and end with a COMMIT/ABORT marker, markers are
// checked against the producer's epoch and coordinator epoch, coordinator and replication origins
// relax the checks as Kafka's AppendOrigin does, the last stable offset waits for ongoing
// transactions and for the high watermark to pass a marker, snapshots carry it all (v2, and v1
// still loads), and a rebuild from the log replays markers and rebuilds the aborted-transaction
// index, also after a crash left that index stale.
#include <random>

#include <gtest/gtest.h>

#include "gregor/base/clock.h"
#include "gregor/base/crc32c.h"
#include "gregor/protocol/record_batch.h"
#include "gregor/storage/file.h"
#include "gregor/storage/partition_log.h"
#include "gregor/txn/producer_state.h"
#include "gregor/txn/producer_state_log.h"

namespace gregor::txn {
namespace {
namespace fs = std::filesystem;

constexpr int64_t t0 = 1'700'000'000'000;
constexpr int64_t expiration_ms = 60'000;

batch_identity txn_batch(int64_t pid, int16_t epoch, int32_t seq, int32_t records = 1) {
  return batch_identity{producer_id(pid), producer_epoch(epoch), seq, records - 1, true};
}
batch_identity plain_batch(int64_t pid, int16_t epoch, int32_t seq, int32_t records = 1) {
  return batch_identity{producer_id(pid), producer_epoch(epoch), seq, records - 1, false};
}

void append(producer_state& s, const batch_identity& b, int64_t at, append_origin origin = append_origin::client) {
  auto v = s.check(b, origin);
  ASSERT_TRUE(v) << v.error().message;
  ASSERT_FALSE(v->duplicate_of);
  s.record(b, offset(at), offset(at + b.last_offset_delta), t0);
}

producer_errc refusal(const producer_state& s, const batch_identity& b, append_origin origin = append_origin::client) {
  auto v = s.check(b, origin);
  EXPECT_FALSE(v);
  return v ? producer_errc::unknown_producer_id : v.error().code;
}

std::optional<completed_txn> marker(producer_state& s, int64_t pid, int16_t epoch, bool commit, int32_t coord,
                                    int64_t at) {
  auto c = s.check_marker(producer_id(pid), producer_epoch(epoch), coord);
  EXPECT_TRUE(c) << c.error().message;
  return s.record_marker(producer_id(pid), producer_epoch(epoch), end_txn_marker{commit, coord}, offset(at), t0);
}

TEST(producer_state_txn, a_transactional_batch_starts_a_transaction_at_its_first_offset) {
  producer_state s(expiration_ms);
  append(s, txn_batch(1, 0, 0, 3), 10);
  append(s, txn_batch(1, 0, 3, 2), 13);  // same transaction: its start does not move
  const producer_entry* e = s.find(producer_id(1));
  ASSERT_TRUE(e->current_txn_first_offset);
  EXPECT_EQ(*e->current_txn_first_offset, offset(10));
  EXPECT_EQ(s.first_unstable_offset(), offset(10));
  EXPECT_EQ(s.ongoing().size(), 1u);
  EXPECT_EQ(s.last_stable_offset(offset(15)), offset(10));
  // Plain idempotent producers hold nothing back.
  producer_state plain(expiration_ms);
  append(plain, plain_batch(2, 0, 0), 0);
  EXPECT_FALSE(plain.first_unstable_offset());
  EXPECT_EQ(plain.last_stable_offset(offset(1)), offset(1));
}

TEST(producer_state_txn, a_non_transactional_batch_during_a_transaction_is_invalid_txn_state) {
  producer_state s(expiration_ms);
  append(s, txn_batch(1, 0, 0), 0);
  EXPECT_EQ(refusal(s, plain_batch(1, 0, 1)), producer_errc::invalid_txn_state);
  EXPECT_EQ(refusal(s, plain_batch(1, 0, 1), append_origin::coordinator), producer_errc::invalid_txn_state);
  // Other producers are not concerned; after the marker the producer may write plainly again.
  append(s, plain_batch(2, 0, 0), 1);
  marker(s, 1, 0, true, 0, 2);
  append(s, plain_batch(1, 0, 1), 3);
}

TEST(producer_state_txn, a_transactional_batch_without_a_producer_id_is_an_invalid_record) {
  producer_state s(expiration_ms);
  EXPECT_EQ(refusal(s, txn_batch(-1, -1, -1)), producer_errc::invalid_record);
  EXPECT_TRUE(s.check(plain_batch(-1, -1, -1)));
}

TEST(producer_state_txn, a_marker_completes_the_ongoing_transaction) {
  producer_state s(expiration_ms);
  append(s, txn_batch(1, 0, 0, 2), 5);
  auto done = marker(s, 1, 0, /*commit=*/false, 3, 7);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->pid, producer_id(1));
  EXPECT_EQ(done->first_offset, offset(5));
  EXPECT_EQ(done->last_offset, offset(7));
  EXPECT_TRUE(done->aborted);
  const producer_entry* e = s.find(producer_id(1));
  EXPECT_FALSE(e->current_txn_first_offset);
  EXPECT_EQ(e->coordinator_epoch, 3);
  EXPECT_TRUE(s.ongoing().empty());
  EXPECT_EQ(s.end_offset(), offset(8));
  // A second marker finds nothing ongoing: written, but it completes nothing (Kafka's rule).
  EXPECT_FALSE(marker(s, 1, 0, true, 3, 8));
  // A marker for a producer never seen here passes its checks and creates its entry.
  EXPECT_FALSE(marker(s, 9, 4, true, 1, 9));
  EXPECT_EQ(s.find(producer_id(9))->epoch, producer_epoch(4));
}

TEST(producer_state_txn, a_marker_from_an_older_producer_epoch_is_refused) {
  producer_state s(expiration_ms);
  append(s, txn_batch(1, 5, 0), 0);
  auto c = s.check_marker(producer_id(1), producer_epoch(4), 0);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, producer_errc::invalid_producer_epoch);
}

TEST(producer_state_txn, a_marker_from_an_older_coordinator_epoch_is_fenced) {
  producer_state s(expiration_ms);
  append(s, txn_batch(1, 0, 0), 0);
  marker(s, 1, 0, true, 7, 1);
  append(s, txn_batch(1, 0, 1), 2);
  auto c = s.check_marker(producer_id(1), producer_epoch(0), 6);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, producer_errc::coordinator_fenced);
  EXPECT_TRUE(s.check_marker(producer_id(1), producer_epoch(0), 7));
}

TEST(producer_state_txn, a_marker_with_a_bumped_epoch_starts_a_new_sequence_space) {
  // Transaction version 2: every end bumps the producer's epoch; its next batch starts at 0.
  producer_state s(expiration_ms);
  append(s, txn_batch(1, 0, 0, 3), 0);
  marker(s, 1, 1, true, 0, 3);
  const producer_entry* e = s.find(producer_id(1));
  EXPECT_EQ(e->epoch, producer_epoch(1));
  EXPECT_TRUE(e->batches.empty());
  EXPECT_EQ(refusal(s, txn_batch(1, 1, 3)), producer_errc::out_of_order_sequence);
  EXPECT_EQ(refusal(s, txn_batch(1, 0, 3)), producer_errc::invalid_producer_epoch);
  append(s, txn_batch(1, 1, 0), 4);
}

TEST(producer_state_txn, coordinator_batches_skip_sequences_but_not_epochs) {
  // Transactional offset commits: a real producer id, no sequence (Kafka's AppendOrigin.COORDINATOR).
  producer_state s(expiration_ms);
  append(s, txn_batch(1, 2, no_sequence), 0, append_origin::coordinator);
  append(s, txn_batch(1, 2, no_sequence), 1, append_origin::coordinator);
  EXPECT_EQ(s.find(producer_id(1))->current_txn_first_offset, offset(0));
  EXPECT_EQ(refusal(s, txn_batch(1, 1, no_sequence), append_origin::coordinator),
            producer_errc::invalid_producer_epoch);
  // The same batch from a client is held to the sequence rules.
  producer_state c(expiration_ms);
  append(c, txn_batch(1, 2, 0), 0);
  EXPECT_EQ(refusal(c, txn_batch(1, 2, no_sequence)), producer_errc::out_of_order_sequence);
}

TEST(producer_state_txn, replicated_batches_are_not_checked) {
  producer_state s(expiration_ms);
  append(s, txn_batch(1, 5, 0), 0);
  EXPECT_TRUE(s.check(plain_batch(1, 3, 42), append_origin::replication));
  EXPECT_TRUE(s.check(txn_batch(-1, -1, -1), append_origin::replication));
}

TEST(producer_state_txn, the_stable_offset_waits_for_the_high_watermark_to_pass_the_marker) {
  producer_state s(expiration_ms);
  append(s, txn_batch(1, 0, 0), 0);
  append(s, plain_batch(2, 0, 0), 1);
  marker(s, 1, 0, true, 0, 2);
  // Completed, but its marker is not replicated yet: offsets from its start stay unstable.
  EXPECT_EQ(s.first_unstable_offset(), offset(0));
  EXPECT_EQ(s.last_stable_offset(offset(2)), offset(0));
  EXPECT_EQ(s.last_stable_offset(offset(3)), offset(3));
  EXPECT_FALSE(s.first_unstable_offset());
  // An ongoing one past the high watermark does not hold it back.
  append(s, txn_batch(2, 0, 1), 3);
  EXPECT_EQ(s.last_stable_offset(offset(3)), offset(3));
  EXPECT_EQ(s.last_stable_offset(offset(4)), offset(3));
}

TEST(producer_state_txn, the_indexed_stable_offset_is_the_next_ongoing_start_or_past_the_marker) {
  producer_state s(expiration_ms);
  append(s, txn_batch(1, 0, 0), 0);
  append(s, txn_batch(2, 0, 0), 1);
  auto first = marker(s, 1, 0, false, 0, 2);
  ASSERT_TRUE(first);
  EXPECT_EQ(s.last_stable_offset_after(*first), offset(1));  // producer 2 still open from 1
  auto second = marker(s, 2, 0, false, 0, 3);
  ASSERT_TRUE(second);
  EXPECT_EQ(s.last_stable_offset_after(*second), offset(4));
}

TEST(producer_state_txn, producers_with_an_ongoing_transaction_do_not_expire) {
  producer_state s(expiration_ms);
  append(s, txn_batch(1, 0, 0), 0);
  append(s, plain_batch(2, 0, 0), 1);
  EXPECT_EQ(s.expire(t0 + expiration_ms + 1), 1u);
  EXPECT_NE(s.find(producer_id(1)), nullptr);
  marker(s, 1, 0, true, 0, 2);
  EXPECT_EQ(s.expire(t0 + expiration_ms + 1), 1u);
  EXPECT_EQ(s.find(producer_id(1)), nullptr);
}

TEST(producer_state_txn, truncating_the_head_drops_the_transactions_of_dropped_producers) {
  producer_state s(expiration_ms);
  append(s, txn_batch(1, 0, 0), 0);
  append(s, txn_batch(2, 0, 0), 5);
  EXPECT_EQ(s.truncate_head(offset(3)), 1u);
  EXPECT_EQ(s.first_unstable_offset(), offset(5));
}

TEST(producer_state_txn, snapshot_v2_carries_transactions_and_coordinator_epochs) {
  producer_state s(expiration_ms);
  append(s, txn_batch(1, 0, 0), 0);
  marker(s, 1, 0, true, 4, 1);
  append(s, txn_batch(1, 0, 1, 2), 2);
  append(s, plain_batch(2, 0, 0), 4);
  const std::string bytes = s.encode_snapshot();
  EXPECT_EQ(uint8_t(bytes[9]), 2);  // u16 version after the 8-byte magic
  producer_state t(expiration_ms);
  ASSERT_TRUE(t.decode_snapshot(bytes));
  EXPECT_EQ(t.find(producer_id(1))->coordinator_epoch, 4);
  EXPECT_EQ(t.find(producer_id(1))->current_txn_first_offset, offset(2));
  EXPECT_FALSE(t.find(producer_id(2))->current_txn_first_offset);
  EXPECT_EQ(t.first_unstable_offset(), offset(2));
  EXPECT_EQ(refusal(t, plain_batch(1, 0, 3)), producer_errc::invalid_txn_state);
}

// A version-1 snapshot body, written field by field as Gregor wrote it before transactions.
std::string v1_snapshot(int64_t end, int64_t pid, int16_t epoch, int32_t seq, int64_t first, int64_t last) {
  std::string body;
  auto be = [&](uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) body.push_back(char((v >> (8 * i)) & 0xFF));
  };
  be(uint64_t(end), 8);
  be(1, 4);
  be(uint64_t(pid), 8);
  be(uint16_t(epoch), 2);
  be(uint64_t(t0), 8);
  be(1, 1);
  be(uint32_t(seq), 4);
  be(uint32_t(seq), 4);
  be(uint64_t(first), 8);
  be(uint64_t(last), 8);
  be(uint64_t(t0), 8);
  std::string out(snapshot_magic);
  out.push_back(0);
  out.push_back(1);
  const uint32_t crc = crc32c(body.data(), body.size());
  for (int i = 3; i >= 0; --i) out.push_back(char((crc >> (8 * i)) & 0xFF));
  return out + body;
}

TEST(producer_state_txn, a_v1_snapshot_still_loads_without_transactions) {
  producer_state s(expiration_ms);
  ASSERT_TRUE(s.decode_snapshot(v1_snapshot(8, 3, 1, 6, 7, 7)));
  const producer_entry* e = s.find(producer_id(3));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->epoch, producer_epoch(1));
  EXPECT_EQ(e->last_sequence(), 6);
  EXPECT_EQ(e->coordinator_epoch, -1);
  EXPECT_FALSE(e->current_txn_first_offset);
  EXPECT_EQ(s.end_offset(), offset(8));
  EXPECT_TRUE(s.check(plain_batch(3, 1, 6))->duplicate_of);
}

TEST(producer_state_txn, a_snapshot_with_an_ongoing_start_past_its_end_is_refused) {
  producer_state s(expiration_ms);
  append(s, txn_batch(1, 0, 0), 0);
  std::string bytes = s.encode_snapshot();
  s.set_end_offset(offset(0));  // ongoing transaction at 0, end offset 0: impossible
  bytes = s.encode_snapshot();
  producer_state t(expiration_ms);
  EXPECT_FALSE(t.decode_snapshot(bytes));
}

TEST(producer_state_txn, marker_batches_have_kafkas_control_record_layout) {
  auto bytes = build_end_txn_marker_batch(producer_id(7), producer_epoch(3), end_txn_marker{false, 12}, t0);
  auto h = protocol::parse_batch_header(bytes);
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->is_control());
  EXPECT_TRUE(h->is_transactional());
  EXPECT_EQ(h->producer_id, 7);
  EXPECT_EQ(h->producer_epoch, 3);
  EXPECT_EQ(h->base_sequence, -1);
  EXPECT_EQ(h->records_count, 1);
  EXPECT_TRUE(protocol::batch_crc_ok(bytes));
  std::string key, value;
  ASSERT_TRUE(protocol::for_each_record(bytes, [&](const protocol::record_view& r) {
    key = std::string(*r.key);
    value = std::string(*r.value);
  }));
  EXPECT_EQ(key, std::string("\0\0\0\0", 4));                   // version 0, type 0 = ABORT
  EXPECT_EQ(value, std::string("\0\0\0\0\0\x0c", 6));           // version 0, coordinator epoch 12
  auto m = parse_end_txn_marker(bytes);
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->commit);
  EXPECT_EQ(m->coordinator_epoch, 12);
  auto commit = parse_end_txn_marker(build_end_txn_marker_batch(producer_id(7), producer_epoch(3), {true, 1}, t0));
  ASSERT_TRUE(commit);
  EXPECT_TRUE(commit->commit);
}

TEST(producer_state_txn, other_control_records_and_data_batches_are_not_markers) {
  protocol::batch_options o;
  o.control = true;
  protocol::record_input leader_change;
  leader_change.key = std::string("\0\0\0\x02", 4);  // LEADER_CHANGE
  leader_change.value = std::string(8, '\0');
  EXPECT_FALSE(parse_end_txn_marker(protocol::build_batch({leader_change}, o)));
  protocol::record_input short_key;
  short_key.key = std::string("\0", 1);
  short_key.value = std::string(6, '\0');
  EXPECT_FALSE(parse_end_txn_marker(protocol::build_batch({short_key}, o)));
  protocol::batch_options data;
  protocol::record_input r;
  r.key = std::string("\0\0\0\x01", 4);
  r.value = std::string(6, '\0');
  EXPECT_FALSE(parse_end_txn_marker(protocol::build_batch({r}, data)));
}

// ---- rebuild from the log ----

class temp_dir {
 public:
  temp_dir() {
    std::random_device rd;
    _path = fs::temp_directory_path() / fmt::format("gregor-txnrd-{:x}{:x}", rd(), rd());
    fs::create_directories(_path);
  }
  ~temp_dir() { fs::remove_all(_path); }
  const fs::path& path() const { return _path; }

 private:
  fs::path _path;
};

struct txn_log {
  temp_dir tmp;
  manual_clock clk{t0};
  std::unique_ptr<storage::partition_log> log;
  producer_state state{expiration_ms};

  txn_log() { open(true); }
  void open(bool clean, std::optional<int64_t> recovery_point = {}) {
    storage::log_config cfg;
    cfg.segment_bytes = 1 << 30;
    storage::open_hints hints;
    hints.clean_shutdown = clean;
    hints.recovery_point = recovery_point;
    auto l = storage::partition_log::open(tmp.path() / "t-0", topic_partition{"t", partition_id(0)}, uuid{}, cfg,
                                          clk, hints);
    ASSERT_TRUE(l) << l.error().message;
    log = std::move(*l);
  }
  // The leader's produce path for a transactional batch of `pid`.
  void data(int64_t pid, int32_t seq, bool transactional = true) {
    protocol::record_input r;
    r.value = "v";
    protocol::batch_options o;
    o.base_timestamp = t0;
    o.producer_id = pid;
    o.producer_epoch = 0;
    o.base_sequence = seq;
    o.transactional = transactional;
    auto bytes = protocol::build_batch({r}, o);
    batch_identity b{producer_id(pid), producer_epoch(0), seq, 0, transactional};
    ASSERT_TRUE(state.check(b));
    auto a = log->append(bytes, leader_epoch(0));
    ASSERT_TRUE(a);
    state.record(b, a->base_offset, a->last_offset, t0);
  }
  // What server::idempotence::write_marker does.
  void end(int64_t pid, bool commit) {
    auto bytes = build_end_txn_marker_batch(producer_id(pid), producer_epoch(0), {commit, 0}, t0);
    auto a = log->append(bytes, leader_epoch(0));
    ASSERT_TRUE(a);
    auto done = state.record_marker(producer_id(pid), producer_epoch(0), {commit, 0}, a->base_offset, t0);
    if (done && done->aborted)
      ASSERT_TRUE(log->add_aborted_txn(storage::aborted_txn{pid, done->first_offset.value(), done->last_offset.value(),
                                                            state.last_stable_offset_after(*done).value()}));
    log->set_txn_index_complete_below(log->log_end_offset());
  }
};

TEST(producer_state_txn_log, rebuild_replays_markers_and_indexes_aborts_again) {
  txn_log f;
  f.data(1, 0);      // 0
  f.data(2, 0);      // 1
  f.end(1, false);   // 2: abort [0, 2]
  f.data(2, 1);      // 3
  f.end(2, true);    // 4: commit [1, 4]
  f.data(3, 0);      // 5: ongoing
  const auto before = f.log->collect_aborted_txns(offset(0), offset(6));
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0], (storage::aborted_txn{1, 0, 2, 1}));
  // Lose the index and the completeness mark (as after a crash): the rebuild writes it again.
  ASSERT_TRUE(f.log->remove_aborted_txns_from(offset(0)));
  f.log->set_txn_index_complete_below(offset(0));
  producer_state rebuilt(expiration_ms);
  auto r = rebuild(*f.log, rebuilt);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->batches_replayed, 6);
  EXPECT_EQ(f.log->collect_aborted_txns(offset(0), offset(6)), before);
  EXPECT_EQ(f.log->txn_index_complete_below(), offset(6));
  // Replayed completions stay unstable until the high watermark passes their markers.
  EXPECT_EQ(rebuilt.last_stable_offset(offset(4)), offset(1));  // [1, 4] not yet below it
  EXPECT_EQ(rebuilt.last_stable_offset(offset(6)), offset(5));
  EXPECT_EQ(rebuilt.find(producer_id(2))->coordinator_epoch, 0);
  EXPECT_EQ(refusal(rebuilt, plain_batch(3, 0, 1)), producer_errc::invalid_txn_state);
}

TEST(producer_state_txn_log, a_rebuild_from_a_snapshot_keeps_the_index_below_it_and_replays_after_it) {
  txn_log f;
  f.data(1, 0);     // 0
  f.end(1, false);  // 1
  ASSERT_TRUE(write_snapshot(f.log->dir(), f.state, offset(2)));
  f.data(1, 1);     // 2
  f.end(1, false);  // 3
  producer_state rebuilt(expiration_ms);
  auto r = rebuild(*f.log, rebuilt);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->snapshot_offset, 2);
  EXPECT_EQ(r->batches_replayed, 2);
  // Entries are not duplicated by the replay.
  EXPECT_EQ(f.log->collect_aborted_txns(offset(0), offset(4)),
            (std::vector<storage::aborted_txn>{{1, 0, 1, 2}, {1, 2, 3, 4}}));
}

TEST(producer_state_txn_log, after_a_crash_the_rebuild_replays_from_the_recovered_segments) {
  txn_log f;
  f.data(1, 0);     // 0
  f.end(1, false);  // 1
  ASSERT_TRUE(write_snapshot(f.log->dir(), f.state, offset(2)));
  const fs::path dir = f.log->dir();
  ASSERT_TRUE(f.log->close());
  f.log.reset();
  // The index entry never reached the disk, the log did (no clean-shutdown marker).
  fs::remove(dir / "00000000000000000000.txnindex");
  f.open(/*clean=*/false, /*recovery_point=*/0);
  EXPECT_EQ(f.log->txn_index_complete_below(), offset(0));
  EXPECT_TRUE(f.log->collect_aborted_txns(offset(0), offset(2)).empty());
  producer_state rebuilt(expiration_ms);
  auto r = rebuild(*f.log, rebuilt);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->snapshot_offset, -1);  // the snapshot at 2 is past what the index vouches for
  EXPECT_EQ(f.log->collect_aborted_txns(offset(0), offset(2)), (std::vector<storage::aborted_txn>{{1, 0, 1, 2}}));
  EXPECT_TRUE(fs::exists(snapshot_path(dir, offset(2))));  // kept for later
}

}  // namespace
}  // namespace gregor::txn
