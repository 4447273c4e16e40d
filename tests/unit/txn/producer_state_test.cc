// Proves that per-partition producer state applies Kafka's idempotence rules (duplicates, gaps,
// epochs, unknown producers, expiry), that snapshots round-trip and refuse damaged bytes, that
// state is rebuilt from a snapshot plus the log after it, and that producer id blocks never repeat.
#include <random>

#include <gtest/gtest.h>

#include "gregor/base/clock.h"
#include "gregor/base/crc32c.h"
#include "gregor/protocol/record_batch.h"
#include "gregor/storage/file.h"
#include "gregor/storage/partition_log.h"
#include "gregor/txn/producer_id_allocator.h"
#include "gregor/txn/producer_state.h"
#include "gregor/txn/producer_state_log.h"

namespace gregor::txn {
namespace {
namespace fs = std::filesystem;

constexpr int64_t t0 = 1'700'000'000'000;
constexpr int64_t expiration_ms = 60'000;

batch_identity batch(int64_t pid, int16_t epoch, int32_t seq, int32_t records = 1) {
  return batch_identity{producer_id(pid), producer_epoch(epoch), seq, records - 1};
}

// Checks then records a batch at `at` (its records get consecutive offsets) whose max timestamp
// is `ts`.
void append(producer_state& s, const batch_identity& b, int64_t at, int64_t ts = t0) {
  auto v = s.check(b);
  ASSERT_TRUE(v) << v.error().message;
  ASSERT_FALSE(v->duplicate_of);
  s.record(b, offset(at), offset(at + b.last_offset_delta), ts);
}

producer_errc refusal(const producer_state& s, const batch_identity& b) {
  auto v = s.check(b);
  EXPECT_FALSE(v);
  return v ? producer_errc::unknown_producer_id : v.error().code;
}

TEST(producer_state, in_order_batches_are_accepted_and_tracked) {
  producer_state s(expiration_ms);
  append(s, batch(7, 0, 0, 3), 0);
  append(s, batch(7, 0, 3, 2), 3);
  const producer_entry* e = s.find(producer_id(7));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->epoch, producer_epoch(0));
  EXPECT_EQ(e->last_sequence(), 4);
  EXPECT_EQ(e->last_offset(), offset(4));
  EXPECT_EQ(s.end_offset(), offset(5));
}

TEST(producer_state, retried_batch_is_a_duplicate_with_its_original_offsets) {
  producer_state s(expiration_ms);
  append(s, batch(7, 0, 0, 3), 10);
  append(s, batch(7, 0, 3, 2), 13);
  auto v = s.check(batch(7, 0, 0, 3));
  ASSERT_TRUE(v);
  ASSERT_TRUE(v->duplicate_of);
  EXPECT_EQ(v->duplicate_of->first_offset, offset(10));
  EXPECT_EQ(v->duplicate_of->last_offset, offset(12));
}

TEST(producer_state, only_the_last_five_batches_are_recognised_as_duplicates) {
  producer_state s(expiration_ms);
  for (int i = 0; i < 6; ++i) append(s, batch(1, 0, i), i);
  EXPECT_EQ(s.find(producer_id(1))->batches.size(), batches_retained_max);
  EXPECT_TRUE(s.check(batch(1, 0, 1))->duplicate_of);
  EXPECT_EQ(refusal(s, batch(1, 0, 0)), producer_errc::out_of_order_sequence);
}

TEST(producer_state, sequence_gap_is_out_of_order) {
  producer_state s(expiration_ms);
  append(s, batch(1, 0, 0, 2), 0);
  EXPECT_EQ(refusal(s, batch(1, 0, 3)), producer_errc::out_of_order_sequence);
  // A batch overlapping but not equal to a stored one is no duplicate either.
  EXPECT_EQ(refusal(s, batch(1, 0, 1)), producer_errc::out_of_order_sequence);
}

TEST(producer_state, stale_epoch_is_refused) {
  producer_state s(expiration_ms);
  append(s, batch(1, 3, 0), 0);
  EXPECT_EQ(refusal(s, batch(1, 2, 1)), producer_errc::invalid_producer_epoch);
}

TEST(producer_state, epoch_bump_restarts_sequences_at_zero) {
  producer_state s(expiration_ms);
  append(s, batch(1, 0, 0, 5), 0);
  EXPECT_EQ(refusal(s, batch(1, 1, 5)), producer_errc::out_of_order_sequence);
  append(s, batch(1, 1, 0), 5);
  const producer_entry* e = s.find(producer_id(1));
  EXPECT_EQ(e->epoch, producer_epoch(1));
  EXPECT_EQ(e->batches.size(), 1u);
  // The old epoch's batches are gone: a retry of them is a stale epoch now.
  EXPECT_EQ(refusal(s, batch(1, 0, 0, 5)), producer_errc::invalid_producer_epoch);
}

TEST(producer_state, an_unknown_producer_may_start_at_any_sequence_and_is_then_held_to_it) {
  // Kafka's ProducerAppendInfo.checkSequence (KIP-360): no entry, no sequence rule.
  producer_state s(expiration_ms);
  append(s, batch(9, 0, 4), 0);
  EXPECT_EQ(s.find(producer_id(9))->last_sequence(), 4);
  EXPECT_EQ(refusal(s, batch(9, 0, 7)), producer_errc::out_of_order_sequence);
  append(s, batch(9, 0, 5), 1);
}

TEST(producer_state, sequence_wraps_after_int32_max) {
  producer_state s(expiration_ms);
  const int32_t max = std::numeric_limits<int32_t>::max();
  EXPECT_EQ(batch(1, 0, max - 1, 3).last_sequence(), 0);
  s.replay(batch(1, 0, max - 1, 2), offset(0), offset(1), t0);
  EXPECT_EQ(s.find(producer_id(1))->last_sequence(), max);
  append(s, batch(1, 0, 0), 2);
}

TEST(producer_state, non_idempotent_batches_pass_and_only_move_the_end_offset) {
  producer_state s(expiration_ms);
  append(s, batch(-1, -1, -1, 4), 0);
  EXPECT_TRUE(s.producers().empty());
  EXPECT_EQ(s.end_offset(), offset(4));
}

TEST(producer_state, idle_producers_expire_after_producer_id_expiration_ms) {
  producer_state s(expiration_ms);
  append(s, batch(1, 0, 0), 0, t0);
  append(s, batch(2, 0, 0), 1, t0 + 30'000);
  EXPECT_EQ(s.expire(t0 + expiration_ms), 0u);
  EXPECT_EQ(s.expire(t0 + expiration_ms + 1), 1u);
  EXPECT_EQ(s.find(producer_id(1)), nullptr);
  EXPECT_NE(s.find(producer_id(2)), nullptr);
  // The expired producer is unknown now: its next batch is accepted at any sequence, as in Kafka.
  auto v = s.check(batch(1, 0, 1));
  ASSERT_TRUE(v);
  EXPECT_FALSE(v->duplicate_of);
}

// Kafka's ProducerStateEntry keeps the latest batch's max timestamp, not the largest one seen
// and not the broker's clock: a producer whose clock went back expires from that older time.
TEST(producer_state, the_last_timestamp_is_the_latest_batchs_and_drives_expiry) {
  producer_state s(expiration_ms);
  append(s, batch(1, 0, 0), 0, t0 + 50'000);
  append(s, batch(1, 0, 1), 1, t0);
  EXPECT_EQ(s.find(producer_id(1))->last_timestamp_ms, t0);
  EXPECT_EQ(s.find(producer_id(1))->batches.back().timestamp_ms, t0);
  EXPECT_EQ(s.expire(t0 + expiration_ms + 1), 1u);
}

TEST(producer_state, snapshot_round_trips) {
  producer_state s(expiration_ms);
  for (int i = 0; i < 7; ++i) append(s, batch(1, 2, i * 2, 2), i * 2, t0 + i);
  append(s, batch(5, 0, 0), 14);
  producer_state t(expiration_ms);
  ASSERT_TRUE(t.decode_snapshot(s.encode_snapshot()));
  EXPECT_EQ(t.end_offset(), s.end_offset());
  ASSERT_EQ(t.producers().size(), 2u);
  const producer_entry* e = t.find(producer_id(1));
  EXPECT_EQ(e->epoch, producer_epoch(2));
  EXPECT_EQ(e->batches.size(), batches_retained_max);
  EXPECT_EQ(e->last_timestamp_ms, t0 + 6);
  EXPECT_TRUE(t.check(batch(1, 2, 8, 2))->duplicate_of);
  EXPECT_EQ(t.check(batch(1, 2, 8, 2))->duplicate_of->first_offset, offset(8));
}

std::string hex(std::string_view bytes) {
  std::string out;
  for (char c : bytes) out += fmt::format("{:02x}", uint8_t(c));
  return out;
}

TEST(producer_state, snapshot_bytes_are_the_documented_v2_layout) {
  // Pins the on-disk format: a change here makes old snapshots unreadable or new ones unreadable
  // by older brokers. One plain producer with two batches, one in a transaction that was ended by
  // a marker (coordinator epoch), one with a transaction still open.
  producer_state s(expiration_ms);
  append(s, batch(1, 2, 0, 2), 0, t0);
  append(s, batch(1, 2, 2), 2, t0 + 1);
  batch_identity open = batch(5, 0, 0);
  open.transactional = true;
  append(s, open, 3, t0 + 2);
  batch_identity ended = batch(9, 1, 0);
  ended.transactional = true;
  append(s, ended, 4, t0 + 3);
  s.record_marker(producer_id(9), producer_epoch(1), end_txn_marker{true, 7}, offset(5), t0 + 4);
  EXPECT_EQ(hex(s.encode_snapshot()),
            "47524750534e415000029d38087d000000000000000600000003000000000000000100020000018b"
            "cfe56801ffffffffffffffffffffffff020000000000000001000000000000000000000000000000"
            "010000018bcfe568000000000200000002000000000000000200000000000000020000018bcfe568"
            "01000000000000000500000000018bcfe56802ffffffff0000000000000003010000000000000000"
            "000000000000000300000000000000030000018bcfe56802000000000000000900010000018bcfe5"
            "680400000007ffffffffffffffff0100000000000000000000000000000004000000000000000400"
            "00018bcfe56803");
}

TEST(producer_state, damaged_snapshots_are_refused_and_leave_state_unchanged) {
  producer_state s(expiration_ms);
  append(s, batch(1, 0, 0), 0);
  const std::string good = s.encode_snapshot();
  producer_state t(expiration_ms);
  append(t, batch(3, 0, 0), 0);
  std::string flipped = good;
  flipped.back() ^= 0x01;
  EXPECT_FALSE(t.decode_snapshot(flipped));                          // crc
  EXPECT_FALSE(t.decode_snapshot(good.substr(0, good.size() - 1)));  // cut short
  EXPECT_FALSE(t.decode_snapshot("GRGPSNAP"));                       // header only
  EXPECT_FALSE(t.decode_snapshot("not a snapshot at all"));          // magic
  std::string other_version = good;
  other_version[9] = 9;
  EXPECT_FALSE(t.decode_snapshot(other_version));
  EXPECT_FALSE(t.decode_snapshot(""));
  EXPECT_NE(t.find(producer_id(3)), nullptr);
  EXPECT_EQ(t.find(producer_id(1)), nullptr);
}

TEST(producer_state, snapshot_with_a_huge_producer_count_is_refused_before_allocating) {
  // A valid CRC over a body that claims 2^32-1 producers.
  producer_state s(expiration_ms);
  std::string bytes = s.encode_snapshot();
  // Body = end offset (8) + count (4); set the count to 0xFFFFFFFF and fix the CRC.
  for (size_t i = bytes.size() - 4; i < bytes.size(); ++i) bytes[i] = char(0xFF);
  std::string body = bytes.substr(14);
  uint32_t crc = crc32c(body.data(), body.size());
  for (int i = 0; i < 4; ++i) bytes[10 + i] = char((crc >> (8 * (3 - i))) & 0xFF);
  EXPECT_FALSE(s.decode_snapshot(bytes));
}

// ---- on disk: snapshots and rebuild from the log ----

class temp_dir {
 public:
  temp_dir() {
    std::random_device rd;
    _path = fs::temp_directory_path() / fmt::format("gregor-txn-{:x}{:x}", rd(), rd());
    fs::create_directories(_path);
  }
  ~temp_dir() { fs::remove_all(_path); }
  const fs::path& path() const { return _path; }

 private:
  fs::path _path;
};

std::vector<uint8_t> idempotent_batch(int64_t pid, int16_t epoch, int32_t seq, int records) {
  std::vector<protocol::record_input> recs;
  for (int i = 0; i < records; ++i) {
    protocol::record_input r;
    r.value = std::string(100, 'v');
    r.timestamp = t0;
    recs.push_back(std::move(r));
  }
  protocol::batch_options o;
  o.base_timestamp = t0;
  o.producer_id = pid;
  o.producer_epoch = epoch;
  o.base_sequence = seq;
  return protocol::build_batch(recs, o);
}

struct log_fixture {
  temp_dir tmp;
  manual_clock clk{t0};
  std::unique_ptr<storage::partition_log> log;
  producer_state state{expiration_ms};

  explicit log_fixture(int64_t segment_bytes = 1 << 30) { open(segment_bytes); }
  void open(int64_t segment_bytes = 1 << 30) {
    storage::log_config cfg;
    cfg.segment_bytes = segment_bytes;
    storage::open_hints hints;
    hints.clean_shutdown = true;  // reopen() closes the log first
    auto l = storage::partition_log::open(tmp.path() / "t-0", topic_partition{"t", partition_id(0)},
                                          uuid{}, cfg, clk, hints);
    ASSERT_TRUE(l) << l.error().message;
    log = std::move(*l);
    fs::path dir = log->dir();
    log->set_roll_listener(
        [this, dir](offset base) { ASSERT_TRUE(write_snapshot(dir, state, base)); });
  }
  void reopen() {
    ASSERT_TRUE(log->close());
    log.reset();
    open(log_segment_bytes);
  }
  // Produce path: check, append, record.
  void produce(int64_t pid, int16_t epoch, int32_t seq, int records) {
    auto bytes = idempotent_batch(pid, epoch, seq, records);
    batch_identity b{producer_id(pid), producer_epoch(epoch), seq, records - 1};
    auto v = state.check(b);
    ASSERT_TRUE(v) << v.error().message;
    ASSERT_FALSE(v->duplicate_of);
    auto a = log->append(bytes, leader_epoch(0));
    ASSERT_TRUE(a) << a.error().message;
    state.record(b, a->base_offset, a->last_offset, clk.now_ms());
    // As server::idempotence: the state follows every append, so the index is complete.
    log->set_txn_index_complete_below(log->log_end_offset());
  }
  int64_t log_segment_bytes = 1 << 30;
};

TEST(producer_state_log, rebuild_without_snapshot_replays_the_whole_log) {
  log_fixture f;
  f.produce(1, 0, 0, 3);
  f.produce(2, 0, 0, 1);
  f.produce(1, 0, 3, 2);
  producer_state rebuilt(expiration_ms);
  auto r = rebuild(*f.log, rebuilt);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->snapshot_offset, -1);
  EXPECT_EQ(r->batches_replayed, 3);
  EXPECT_EQ(rebuilt.end_offset(), offset(6));
  ASSERT_NE(rebuilt.find(producer_id(1)), nullptr);
  EXPECT_EQ(rebuilt.find(producer_id(1))->last_sequence(), 4);
  auto dup = rebuilt.check(batch(1, 0, 0, 3));
  ASSERT_TRUE(dup && dup->duplicate_of);
  EXPECT_EQ(dup->duplicate_of->first_offset, offset(0));
  EXPECT_EQ(refusal(rebuilt, batch(1, 0, 6)), producer_errc::out_of_order_sequence);
}

TEST(producer_state_log, roll_writes_a_snapshot_named_after_the_new_segment) {
  log_fixture f(1);  // every append after the first rolls
  f.log_segment_bytes = 1;
  f.produce(1, 0, 0, 2);
  f.produce(1, 0, 2, 2);
  f.produce(1, 0, 4, 2);
  auto snaps = list_snapshots(f.log->dir());
  ASSERT_EQ(snaps, (std::vector<int64_t>{2, 4}));
  producer_state from_snap(expiration_ms);
  auto bytes = storage::read_small_file(snapshot_path(f.log->dir(), offset(4)));
  ASSERT_TRUE(bytes);
  ASSERT_TRUE(from_snap.decode_snapshot(*bytes));
  EXPECT_EQ(from_snap.end_offset(), offset(4));
  EXPECT_EQ(from_snap.find(producer_id(1))->last_sequence(), 3);
}

TEST(producer_state_log, rebuild_uses_the_newest_snapshot_plus_the_batches_after_it) {
  log_fixture f(1);
  f.log_segment_bytes = 1;
  for (int i = 0; i < 5; ++i) f.produce(1, 0, i * 2, 2);
  f.reopen();
  producer_state rebuilt(expiration_ms);
  auto r = rebuild(*f.log, rebuilt);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->snapshot_offset, 8);
  EXPECT_EQ(r->batches_replayed, 1);
  EXPECT_EQ(rebuilt.find(producer_id(1))->last_sequence(), 9);
  EXPECT_TRUE(rebuilt.check(batch(1, 0, 2, 2))->duplicate_of);
  EXPECT_EQ(list_snapshots(f.log->dir()).size(), snapshots_retained_max);
}

TEST(producer_state_log, corrupt_newest_snapshot_falls_back_to_an_older_one) {
  log_fixture f(1);
  f.log_segment_bytes = 1;
  for (int i = 0; i < 4; ++i) f.produce(1, 0, i, 1);
  ASSERT_TRUE(
      storage::write_file_atomic(snapshot_path(f.log->dir(), offset(3)), "GRGPSNAP garbage"));
  producer_state rebuilt(expiration_ms);
  auto r = rebuild(*f.log, rebuilt);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->snapshot_offset, 2);
  EXPECT_EQ(r->batches_replayed, 2);
  EXPECT_EQ(rebuilt.find(producer_id(1))->last_sequence(), 3);
  EXPECT_FALSE(fs::exists(snapshot_path(f.log->dir(), offset(3))));
}

TEST(producer_state_log, snapshot_past_the_log_end_is_deleted) {
  log_fixture f;
  f.produce(1, 0, 0, 1);
  producer_state other(expiration_ms);
  ASSERT_TRUE(write_snapshot(f.log->dir(), other, offset(50)));
  producer_state rebuilt(expiration_ms);
  auto r = rebuild(*f.log, rebuilt);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->snapshot_offset, -1);
  EXPECT_NE(rebuilt.find(producer_id(1)), nullptr);
  EXPECT_TRUE(list_snapshots(f.log->dir()).empty());
}

TEST(producer_id_allocator, hands_out_consecutive_ids_until_the_block_is_used_up) {
  producer_id_allocator a;
  EXPECT_TRUE(a.used_up());
  EXPECT_FALSE(a.next());
  EXPECT_EQ(a.refill(id_block{0, 2}), "");
  EXPECT_EQ(a.next()->value(), 0);
  EXPECT_EQ(a.next()->value(), 1);
  EXPECT_TRUE(a.used_up());
  EXPECT_FALSE(a.next());
  EXPECT_EQ(a.refill(id_block{2, 2}), "");
  EXPECT_EQ(a.next()->value(), 2);
  EXPECT_EQ(a.block_end(), 4);
}

TEST(producer_id_allocator, bad_block_is_refused_and_changes_nothing) {
  producer_id_allocator a;
  EXPECT_EQ(a.refill(id_block{10, 1}), "");
  EXPECT_NE(a.refill(id_block{-5, 0}), "");
  EXPECT_NE(a.refill(id_block{7, 0}), "");
  EXPECT_EQ(a.next()->value(), 10);
}

}  // namespace
}  // namespace gregor::txn

// ---- the log start moves (retention, DeleteRecords): Kafka's truncateHead/deleteSnapshotsBefore ----
namespace gregor::txn {
namespace {

TEST(producer_state, truncate_head_drops_producers_wholly_below_the_log_start) {
  producer_state s(expiration_ms);
  append(s, batch(1, 0, 0, 2), 0);   // offsets 0-1
  append(s, batch(2, 0, 0, 3), 2);   // offsets 2-4
  append(s, batch(3, 0, 0, 1), 5);   // offset 5
  append(s, batch(1, 0, 2, 1), 6);   // producer 1 again at 6: it is kept
  EXPECT_EQ(s.truncate_head(offset(5)), 1u);
  EXPECT_EQ(s.find(producer_id(2)), nullptr);
  ASSERT_NE(s.find(producer_id(1)), nullptr);
  ASSERT_NE(s.find(producer_id(3)), nullptr);
  // The dropped producer is unknown again (any sequence, no duplicate found); the kept one still
  // deduplicates its retries.
  EXPECT_FALSE(s.check(batch(2, 0, 3))->duplicate_of);
  EXPECT_TRUE(s.check(batch(1, 0, 2, 1))->duplicate_of);
  EXPECT_EQ(s.truncate_head(offset(5)), 0u) << "idempotent";
  EXPECT_EQ(s.end_offset(), offset(7)) << "the end offset is untouched";
}

TEST(producer_state_log, log_start_move_trims_state_and_deletes_older_snapshots) {
  log_fixture f(1);
  f.log_segment_bytes = 1;
  f.produce(1, 0, 0, 2);  // 0-1
  f.produce(2, 0, 0, 2);  // 2-3 (snapshot 2 at the roll)
  f.produce(3, 0, 0, 2);  // 4-5 (snapshot 4)
  f.produce(3, 0, 2, 2);  // 6-7 (snapshot 6)
  ASSERT_EQ(list_snapshots(f.log->dir()), (std::vector<int64_t>{2, 4, 6}));
  ASSERT_TRUE(f.log->advance_log_start_offset(offset(4), t0));
  EXPECT_EQ(on_log_start_moved(f.log->dir(), f.state, f.log->log_start_offset()), 2u);
  EXPECT_EQ(f.state.find(producer_id(1)), nullptr);
  EXPECT_EQ(f.state.find(producer_id(2)), nullptr);
  EXPECT_NE(f.state.find(producer_id(3)), nullptr);
  EXPECT_EQ(list_snapshots(f.log->dir()), (std::vector<int64_t>{4, 6}));
  // A rebuild (restart) agrees: no producer from below the log start comes back.
  producer_state rebuilt(expiration_ms);
  ASSERT_TRUE(rebuild(*f.log, rebuilt));
  EXPECT_EQ(rebuilt.find(producer_id(1)), nullptr);
  EXPECT_EQ(rebuilt.find(producer_id(2)), nullptr);
  ASSERT_NE(rebuilt.find(producer_id(3)), nullptr);
  EXPECT_EQ(rebuilt.find(producer_id(3))->last_sequence(), 3);
}

TEST(producer_state_log, rebuild_from_a_snapshot_older_than_the_log_start_drops_its_producers) {
  log_fixture f(1);
  f.log_segment_bytes = 1;
  f.produce(1, 0, 0, 2);  // 0-1
  f.produce(2, 0, 0, 2);  // 2-3, snapshot 2 holds producer 1
  f.produce(2, 0, 2, 2);  // 4-5, snapshot 4 holds producers 1 and 2
  ASSERT_TRUE(f.log->advance_log_start_offset(offset(2), t0));
  producer_state rebuilt(expiration_ms);
  ASSERT_TRUE(rebuild(*f.log, rebuilt));
  EXPECT_EQ(rebuilt.find(producer_id(1)), nullptr) << "snapshot 4 still listed producer 1";
  EXPECT_NE(rebuilt.find(producer_id(2)), nullptr);
}

}  // namespace
}  // namespace gregor::txn

// ---- compaction keeps idempotence state ----
namespace gregor::txn {
namespace {

std::vector<uint8_t> keyed_idempotent_batch(int64_t pid, int32_t seq, const std::string& key) {
  protocol::record_input r;
  r.key = key;
  r.value = std::string(50, 'v');
  r.timestamp = t0;
  protocol::batch_options o;
  o.base_timestamp = t0;
  o.producer_id = pid;
  o.producer_epoch = 0;
  o.base_sequence = seq;
  return protocol::build_batch({r}, o);
}

result<storage::append_result, storage::storage_error> append_owned(storage::partition_log& l,
                                                                    std::vector<uint8_t> bytes) {
  return l.append(bytes, leader_epoch(0));
}

TEST(producer_state_log, retry_after_compaction_is_still_deduplicated_after_a_rebuild) {
  temp_dir tmp;
  manual_clock clk{t0};
  storage::log_config cfg;
  cfg.segment_bytes = 200;
  cfg.compact = true;
  cfg.delete_enabled = false;
  auto l = storage::partition_log::open(tmp.path() / "c-0", topic_partition{"c", partition_id(0)}, uuid{}, cfg, clk);
  ASSERT_TRUE(l) << l.error().message;
  auto& log = **l;
  // Producer 1 writes key "a" at sequences 0..2; producer 2 then overwrites "a" many times.
  for (int32_t s = 0; s < 3; ++s) ASSERT_TRUE(append_owned(log, keyed_idempotent_batch(1, s, "a")));
  for (int32_t s = 0; s < 6; ++s) ASSERT_TRUE(append_owned(log, keyed_idempotent_batch(2, s, "a")));
  auto c = log.compact(clk.now_ms(), /*force=*/true);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_GT(c->records_removed, 0u);
  // No snapshot: the state comes from the compacted log alone.
  producer_state rebuilt(expiration_ms);
  ASSERT_TRUE(rebuild(log, rebuilt));
  const producer_entry* p1 = rebuilt.find(producer_id(1));
  ASSERT_NE(p1, nullptr) << "producer 1 vanished with its compacted batches";
  EXPECT_EQ(p1->last_sequence(), 2);
  auto retry = rebuilt.check(batch(1, 0, 2));
  ASSERT_TRUE(retry) << retry.error().message;
  ASSERT_TRUE(retry->duplicate_of) << "the producer's retry of its last batch must be a duplicate";
  EXPECT_EQ(retry->duplicate_of->first_offset, offset(2));
  // And its next batch continues the sequence instead of being refused as unknown.
  EXPECT_TRUE(rebuilt.check(batch(1, 0, 3)));
}

}  // namespace
}  // namespace gregor::txn
