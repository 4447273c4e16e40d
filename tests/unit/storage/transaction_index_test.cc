// Proves that the aborted-transaction index (`.txnindex`, Kafka's TransactionIndex layout) is
// written only when a segment gets its first entry, survives a reopen byte for byte, follows the
// log through truncation, retention and compaction, is cut where recovery cut the log, tells the
// producer state owner from where it must be rebuilt, and answers Kafka's "aborted transactions
// overlapping [fetch offset, upper bound)" across segments.
#include <cstdlib>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "test_env.h"
#include "gregor/base/clock.h"
#include "gregor/protocol/record_batch.h"
#include "gregor/storage/partition_log.h"
#include "gregor/storage/transaction_index.h"

namespace gregor::storage {
namespace {
namespace fs = std::filesystem;

constexpr int64_t t0 = 1'700'000'000'000;

class temp_dir {
 public:
  temp_dir() {
    std::random_device rd;
    _path = fs::temp_directory_path() / fmt::format("gregor-txnindex-{:x}{:x}", rd(), rd());
    fs::create_directories(_path);
  }
  ~temp_dir() { fs::remove_all(_path); }
  const fs::path& path() const { return _path; }

 private:
  fs::path _path;
};

std::vector<uint8_t> one_record(const std::string& key = "k") {
  protocol::record_input r;
  r.key = key;
  r.value = std::string(20, 'v');
  r.timestamp = t0;
  protocol::batch_options o;
  o.base_timestamp = t0;
  return protocol::build_batch({r}, o);
}

struct txn_index_test : ::testing::Test {
  temp_dir tmp;
  manual_clock clk{t0};
  fs::path dir() const { return tmp.path() / "t-0"; }
  fs::path txnindex(int64_t base) const { return dir() / (segment_file_stem(base) + ".txnindex"); }

  std::unique_ptr<partition_log> open_log(log_config cfg = {}, open_hints hints = {}) {
    test_env::apply(cfg, hints);  // ctest's variants: O_DIRECT, tail cache (test_env.h)
    auto r = partition_log::open(dir(), topic_partition{"t", partition_id(0)}, uuid{1, 2}, cfg, clk, hints);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? std::move(*r) : nullptr;
  }
  // Appends `n` one-record batches; returns the offset of the first.
  int64_t fill(partition_log& log, int n) {
    const int64_t first = log.log_end_offset().value();
    for (int i = 0; i < n; ++i) {
      auto b = one_record(fmt::format("k{}", i));
      EXPECT_TRUE(log.append(b, leader_epoch(0)));
    }
    return first;
  }
  static std::vector<uint8_t> file_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
};

TEST_F(txn_index_test, the_file_appears_with_the_first_entry_in_kafkas_34_byte_layout) {
  auto log = open_log();
  fill(*log, 4);
  EXPECT_FALSE(fs::exists(txnindex(0)));
  ASSERT_TRUE(log->add_aborted_txn(aborted_txn{0x0102030405060708, 1, 3, 4}));
  ASSERT_TRUE(fs::exists(txnindex(0)));
  const auto bytes = file_bytes(txnindex(0));
  ASSERT_EQ(bytes.size(), transaction_index::entry_bytes);
  const std::vector<uint8_t> expected{0, 0,                                  // version 0
                                      1, 2, 3, 4, 5, 6, 7, 8,                // producer id
                                      0, 0, 0, 0, 0, 0, 0, 1,                // first offset
                                      0, 0, 0, 0, 0, 0, 0, 3,                // last offset
                                      0, 0, 0, 0, 0, 0, 0, 4};               // last stable offset
  EXPECT_EQ(bytes, expected);
}

TEST_F(txn_index_test, entries_survive_a_reopen_and_must_grow) {
  {
    auto log = open_log();
    fill(*log, 6);
    ASSERT_TRUE(log->add_aborted_txn(aborted_txn{1, 0, 2, 3}));
    ASSERT_TRUE(log->add_aborted_txn(aborted_txn{2, 1, 4, 5}));
    auto older = log->add_aborted_txn(aborted_txn{3, 0, 3, 4});
    ASSERT_FALSE(older);
    EXPECT_EQ(older.error().code, storage_errc::invalid_argument);
    EXPECT_FALSE(log->add_aborted_txn(aborted_txn{3, 0, 6, 7}));  // past the log end
    ASSERT_TRUE(log->close());
  }
  open_hints clean;
  clean.clean_shutdown = true;
  auto log = open_log({}, clean);
  EXPECT_EQ(log->collect_aborted_txns(offset(0), offset(6)),
            (std::vector<aborted_txn>{{1, 0, 2, 3}, {2, 1, 4, 5}}));
  EXPECT_EQ(log->txn_index_complete_below(), offset(6));
}

TEST_F(txn_index_test, truncation_drops_the_entries_of_markers_cut_off) {
  auto log = open_log();
  fill(*log, 8);
  ASSERT_TRUE(log->add_aborted_txn(aborted_txn{1, 0, 2, 3}));
  ASSERT_TRUE(log->add_aborted_txn(aborted_txn{2, 3, 5, 6}));
  log->set_txn_index_complete_below(offset(8));
  ASSERT_TRUE(log->truncate_to(offset(5)));
  EXPECT_EQ(log->collect_aborted_txns(offset(0), offset(8)), (std::vector<aborted_txn>{{1, 0, 2, 3}}));
  EXPECT_EQ(file_bytes(txnindex(0)).size(), transaction_index::entry_bytes);
  EXPECT_EQ(log->txn_index_complete_below(), offset(5));
  // A marker written again at 5 (the new leader's) is indexed after the survivor.
  fill(*log, 1);
  ASSERT_TRUE(log->add_aborted_txn(aborted_txn{2, 3, 5, 6}));
  ASSERT_TRUE(log->truncate_fully_and_start_at(offset(20)));
  EXPECT_TRUE(log->collect_aborted_txns(offset(0), offset(30)).empty());
  EXPECT_FALSE(fs::exists(txnindex(0)));
}

TEST_F(txn_index_test, remove_from_drops_entries_at_and_after_an_offset_in_every_segment) {
  log_config cfg;
  cfg.segment_bytes = 1;  // one batch per segment
  auto log = open_log(cfg);
  fill(*log, 6);
  for (int64_t m : {1, 3, 5}) ASSERT_TRUE(log->add_aborted_txn(aborted_txn{m, m - 1, m, m + 1}));
  ASSERT_TRUE(log->remove_aborted_txns_from(offset(3)));
  EXPECT_EQ(log->collect_aborted_txns(offset(0), offset(6)), (std::vector<aborted_txn>{{1, 0, 1, 2}}));
}

TEST_F(txn_index_test, collect_spans_segments_and_stops_once_a_stable_offset_reaches_the_bound) {
  log_config cfg;
  cfg.segment_bytes = 1;
  auto log = open_log(cfg);
  fill(*log, 10);
  // Producer 1 aborts [0, 4] while producer 2's [2, 7] stays open (stable offset 2 after 4).
  ASSERT_TRUE(log->add_aborted_txn(aborted_txn{1, 0, 4, 2}));
  ASSERT_TRUE(log->add_aborted_txn(aborted_txn{2, 2, 7, 8}));
  ASSERT_TRUE(log->add_aborted_txn(aborted_txn{3, 8, 9, 10}));
  // From 5: producer 1's ended before, producer 2's overlaps, producer 3's starts past the bound.
  EXPECT_EQ(log->collect_aborted_txns(offset(5), offset(8)), (std::vector<aborted_txn>{{2, 2, 7, 8}}));
  // From 3 to 5: producer 1's overlaps; the search must look on past it (its stable offset 2 is
  // below the bound) and finds producer 2's, which starts below 5.
  EXPECT_EQ(log->collect_aborted_txns(offset(3), offset(5)),
            (std::vector<aborted_txn>{{1, 0, 4, 2}, {2, 2, 7, 8}}));
  // Stops at producer 2's entry (stable offset 8 >= bound 8): producer 3's is never looked at.
  EXPECT_EQ(log->collect_aborted_txns(offset(0), offset(8)),
            (std::vector<aborted_txn>{{1, 0, 4, 2}, {2, 2, 7, 8}}));
  EXPECT_TRUE(log->collect_aborted_txns(offset(8), offset(8)).empty());
}

TEST_F(txn_index_test, deleting_a_segment_deletes_its_index) {
  log_config cfg;
  cfg.segment_bytes = 1;
  cfg.file_delete_delay_ms = 0;
  auto log = open_log(cfg);
  fill(*log, 4);
  ASSERT_TRUE(log->add_aborted_txn(aborted_txn{1, 0, 1, 2}));
  ASSERT_TRUE(fs::exists(txnindex(1)));
  ASSERT_TRUE(log->advance_log_start_offset(offset(3), clk.now_ms()));
  log->remove_deleted_files(clk.now_ms(), true);
  EXPECT_FALSE(fs::exists(txnindex(1)));
  EXPECT_FALSE(fs::exists(fs::path(txnindex(1)) += ".deleted"));
  EXPECT_TRUE(log->collect_aborted_txns(offset(3), offset(4)).empty());
}

TEST_F(txn_index_test, compaction_keeps_the_index_of_a_cleaned_segment) {
  log_config cfg;
  cfg.segment_bytes = 1;
  cfg.compact = true;
  cfg.delete_enabled = false;
  auto log = open_log(cfg);
  for (int i = 0; i < 6; ++i) {
    // Offset 2 is producer 1's ABORT marker (a control batch: the cleaner leaves those alone).
    std::vector<uint8_t> b = one_record("same-key");
    if (i == 2) {
      protocol::record_input marker;
      marker.key = std::string("\0\0\0\0", 4);
      marker.value = std::string("\0\0\0\0\0\0", 6);
      protocol::batch_options o;
      o.base_timestamp = t0;
      o.producer_id = 1;
      o.producer_epoch = 0;
      o.control = true;
      o.transactional = true;
      b = protocol::build_batch({marker}, o);
    }
    ASSERT_TRUE(log->append(b, leader_epoch(0)));
  }
  ASSERT_TRUE(log->add_aborted_txn(aborted_txn{1, 0, 2, 3}));
  auto c = log->compact(clk.now_ms(), /*force=*/true);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_GT(c->segments_cleaned, 0u);
  EXPECT_EQ(log->collect_aborted_txns(offset(0), offset(6)), (std::vector<aborted_txn>{{1, 0, 2, 3}}));
  EXPECT_TRUE(fs::exists(txnindex(2)));
}

TEST_F(txn_index_test, recovery_cuts_entries_past_the_log_and_a_torn_entry) {
  {
    auto log = open_log();
    fill(*log, 6);
    ASSERT_TRUE(log->add_aborted_txn(aborted_txn{1, 0, 2, 3}));
    ASSERT_TRUE(log->add_aborted_txn(aborted_txn{2, 3, 5, 6}));
    ASSERT_TRUE(log->close());
  }
  // A crash: the log lost its last batch, the index kept the entry of the marker in it and half
  // of a third entry.
  const fs::path seg = dir() / (segment_file_stem(0) + ".log");
  const auto size = fs::file_size(seg);
  auto last = one_record("k5");
  fs::resize_file(seg, size - last.size());
  {
    std::ofstream out(txnindex(0), std::ios::binary | std::ios::app);
    out.write("\0\0\0\0\0\0\0\x09", 8);
  }
  open_hints crashed;
  crashed.recovery_point = 0;
  auto log = open_log({}, crashed);
  ASSERT_EQ(log->log_end_offset(), offset(5));
  EXPECT_EQ(log->collect_aborted_txns(offset(0), offset(5)), (std::vector<aborted_txn>{{1, 0, 2, 3}}));
  EXPECT_EQ(file_bytes(txnindex(0)).size(), transaction_index::entry_bytes);
  // Recovery scanned segment 0: its index cannot be vouched for below it.
  EXPECT_EQ(log->txn_index_complete_below(), offset(0));
}

TEST_F(txn_index_test, after_a_crash_only_the_segments_before_the_recovery_point_are_vouched_for) {
  log_config cfg;
  cfg.segment_bytes = 1;
  {
    auto log = open_log(cfg);
    fill(*log, 5);
    ASSERT_TRUE(log->close());
  }
  open_hints crashed;
  crashed.recovery_point = 3;
  auto log = open_log(cfg, crashed);
  EXPECT_EQ(log->txn_index_complete_below(), offset(3));
  log->set_txn_index_complete_below(offset(99));  // never past the log end
  EXPECT_EQ(log->txn_index_complete_below(), offset(5));
}

// ---- compaction of transactional data (Kafka's CleanedTransactionMetadata rules) ----

std::vector<uint8_t> txn_record(int64_t pid, const std::string& key, const std::string& value, int64_t ts = t0) {
  protocol::record_input r;
  r.key = key;
  r.value = value;
  r.timestamp = ts;
  protocol::batch_options o;
  o.base_timestamp = ts;
  o.producer_id = pid;
  o.producer_epoch = 0;
  o.base_sequence = 0;
  o.transactional = true;
  return protocol::build_batch({r}, o);
}

std::vector<uint8_t> marker(int64_t pid, bool commit, int64_t ts = t0) {
  protocol::record_input r;
  r.key = std::string("\0\0\0", 3) + char(commit ? 1 : 0);
  r.value = std::string(6, '\0');
  r.timestamp = ts;
  protocol::batch_options o;
  o.base_timestamp = ts;
  o.producer_id = pid;
  o.producer_epoch = 0;
  o.control = true;
  o.transactional = true;
  return protocol::build_batch({r}, o);
}

struct batch_seen {
  int64_t base;
  bool control;
  int32_t records;
  bool delete_horizon;
  std::vector<std::string> values;
  bool operator==(const batch_seen&) const = default;
};

// Every batch of the log but the empty ones the cleaner leaves where a segment's last batch went
// (no records, no producer: they only keep the segment's end); their base offsets go to `fillers`.
std::vector<batch_seen> everything(const partition_log& log, std::vector<int64_t>* fillers = nullptr) {
  auto r = log.read(log.log_start_offset(), 1 << 24, log.log_end_offset(), true);
  EXPECT_TRUE(r);
  std::vector<batch_seen> out;
  std::span<const uint8_t> data(r->data.data(), r->data.size());
  while (auto h = protocol::parse_batch_header(data)) {
    if (h->records_count == 0 && h->producer_id < 0 && !h->is_control()) {
      if (fillers) fillers->push_back(h->base_offset);
      data = data.subspan(h->total_size());
      continue;
    }
    batch_seen b{h->base_offset, h->is_control(), h->records_count, h->has_delete_horizon(), {}};
    EXPECT_TRUE(protocol::for_each_record(data.first(h->total_size()), [&](const protocol::record_view& rv) {
      b.values.push_back(rv.value ? std::string(*rv.value) : "<null>");
    }));
    out.push_back(std::move(b));
    data = data.subspan(h->total_size());
  }
  return out;
}

struct txn_compaction_test : txn_index_test {
  log_config cfg() {
    log_config c;
    c.segment_bytes = 1;  // one batch per segment: everything but the last is cleanable
    c.compact = true;
    c.delete_enabled = false;
    c.delete_retention_ms = 1000;
    c.producer_id_expiration_ms = 1;  // no producer is kept for its sequence here
    return c;
  }
  void add(partition_log& log, std::vector<uint8_t> b) { ASSERT_TRUE(log.append(b, leader_epoch(0))); }
};

TEST_F(txn_compaction_test, aborted_records_go_and_never_supersede_committed_ones) {
  auto log = open_log(cfg());
  add(*log, one_record("k"));                 // 0: committed value of k (plain)
  add(*log, txn_record(7, "k", "aborted"));   // 1: aborted, newer value of k
  add(*log, marker(7, false));                // 2: ABORT
  ASSERT_TRUE(log->add_aborted_txn(aborted_txn{7, 1, 2, 3}));
  add(*log, txn_record(8, "j", "committed"));  // 3
  add(*log, marker(8, true));                  // 4: COMMIT
  add(*log, one_record("z"));                  // 5: active segment
  clk.advance(10);
  auto c = log->compact(clk.now_ms(), true);
  ASSERT_TRUE(c) << c.error().message;
  std::vector<int64_t> fillers;
  const auto after = everything(*log, &fillers);
  // k's plain value survives (the aborted record is no newer value), the aborted record is gone
  // (an empty batch keeps its segment's end), both markers stay for now, stamped with a delete
  // horizon only where their data is gone.
  EXPECT_EQ(fillers, std::vector<int64_t>{1});
  ASSERT_EQ(after.size(), 5u);
  EXPECT_EQ(after[0].base, 0);
  EXPECT_EQ(after[1], (batch_seen{2, true, 1, false, {std::string(6, '\0')}}));
  EXPECT_EQ(after[2].values, (std::vector<std::string>{"committed"}));
  EXPECT_EQ(after[3], (batch_seen{4, true, 1, false, {std::string(6, '\0')}}));
}

TEST_F(txn_compaction_test, markers_go_delete_retention_ms_after_their_data) {
  auto log = open_log(cfg());
  add(*log, txn_record(7, "k", "aborted"));  // 0
  add(*log, marker(7, false));               // 1: ABORT
  ASSERT_TRUE(log->add_aborted_txn(aborted_txn{7, 0, 1, 2}));
  add(*log, txn_record(8, "k", "v1"));       // 2
  add(*log, marker(8, true));                // 3: COMMIT
  add(*log, txn_record(9, "k", "v2"));       // 4: supersedes 2
  add(*log, marker(9, true));                // 5
  add(*log, one_record("z"));                // 6: active
  clk.advance(10);
  // Pass 1: the aborted data and the superseded committed record go; the ABORT marker's data was
  // seen in this pass, so it stays unstamped; producer 8's batch was read, so its COMMIT stays too.
  ASSERT_TRUE(log->compact(clk.now_ms(), true));
  auto after = everything(*log);
  ASSERT_EQ(after.size(), 5u);
  EXPECT_EQ(after[0].base, 1);
  EXPECT_FALSE(after[0].delete_horizon);
  EXPECT_EQ(after[1].base, 3);
  EXPECT_FALSE(after[1].delete_horizon);
  // Pass 2: nothing of producers 7 and 8 is left: both markers get a delete horizon.
  clk.advance(10);
  ASSERT_TRUE(log->compact(clk.now_ms(), true));
  after = everything(*log);
  ASSERT_EQ(after.size(), 5u);
  EXPECT_TRUE(after[0].delete_horizon);
  EXPECT_TRUE(after[1].delete_horizon);
  EXPECT_FALSE(after[3].delete_horizon);  // producer 9's COMMIT: its data is still there
  EXPECT_EQ(log->collect_aborted_txns(offset(0), offset(7)).size(), 1u);
  // Before the horizon a pass keeps them; after it they go, the ABORT's index entry with it.
  clk.advance(500);
  ASSERT_TRUE(log->compact(clk.now_ms(), true));
  EXPECT_EQ(everything(*log).size(), 5u);
  clk.advance(600);
  ASSERT_TRUE(log->compact(clk.now_ms(), true));
  after = everything(*log);
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(after[0].base, 4);
  EXPECT_EQ(after[1].base, 5);
  EXPECT_TRUE(log->collect_aborted_txns(offset(0), offset(7)).empty());
  EXPECT_TRUE(fs::exists(txnindex(1)));
  EXPECT_EQ(file_bytes(txnindex(1)).size(), 0u);
}

TEST_F(txn_compaction_test, nothing_at_or_past_the_first_unstable_offset_is_cleaned) {
  auto log = open_log(cfg());
  add(*log, one_record("k"));                // 0
  add(*log, txn_record(7, "k", "open"));     // 1: transaction still open
  add(*log, one_record("k"));                // 2
  add(*log, one_record("z"));                // 3: active
  clk.advance(10);
  auto c = log->compact(clk.now_ms(), true, SIZE_MAX, /*first_unstable=*/1);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->records_removed, 0u);  // only segment 0 is cleanable, and its key map has no newer k
  EXPECT_EQ(everything(*log).size(), 4u);
  c = log->compact(clk.now_ms(), true);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->records_removed, 2u);
}

}  // namespace
}  // namespace gregor::storage
