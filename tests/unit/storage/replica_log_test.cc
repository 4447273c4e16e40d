// Proves that a partition log can be written as a replica (batches keep their offsets and epochs),
// truncated after a divergence, and that its leader epoch cache (`leader-epoch-checkpoint`) is kept
// exactly as Kafka's, answers OffsetForLeaderEpoch by Kafka's rules and survives crashes.
#include <cstdlib>
#include <fstream>
#include <future>
#include <random>

#include <gtest/gtest.h>

#include "test_env.h"
#include "gregor/base/clock.h"
#include "gregor/protocol/record_batch.h"
#include "gregor/storage/cleaner_thread.h"
#include "gregor/storage/leader_epoch_cache.h"
#include "gregor/storage/partition_log.h"

namespace gregor::storage {
namespace {
namespace fs = std::filesystem;

constexpr int64_t t0 = 1'700'000'000'000;

std::vector<epoch_entry> entries(std::initializer_list<std::pair<int32_t, int64_t>> list) {
  std::vector<epoch_entry> out;
  for (auto [e, o] : list) out.push_back({leader_epoch(e), offset(o)});
  return out;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_text(const fs::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::trunc);
  out << text;
}

// A batch of `n` records at `base` written in leader epoch `epoch`, as a leader would send it.
std::vector<uint8_t> replica_batch(int64_t base, int n, int32_t epoch, size_t value_bytes = 20) {
  std::vector<protocol::record_input> recs;
  for (int i = 0; i < n; ++i) {
    protocol::record_input r;
    r.key = fmt::format("k{}", base + i);
    r.value = std::string(value_bytes, 'v');
    r.timestamp = t0 + base + i;
    recs.push_back(std::move(r));
  }
  protocol::batch_options o;
  o.base_offset = base;
  o.base_timestamp = t0 + base;
  auto b = protocol::build_batch(recs, o);
  protocol::set_partition_leader_epoch(b, epoch);
  return b;
}

struct scratch_dir {
  scratch_dir() {
    std::random_device rd;
    path = fs::temp_directory_path() / fmt::format("gregor-replica-{:x}{:x}", rd(), rd());
    fs::create_directories(path);
  }
  ~scratch_dir() { fs::remove_all(path); }
  fs::path path;
};

// ---- leader_epoch_cache on its own ----

struct leader_epoch_cache_test : ::testing::Test {
  scratch_dir tmp;
  leader_epoch_cache cache = leader_epoch_cache::empty(tmp.path);
  fs::path file() const { return tmp.path / "leader-epoch-checkpoint"; }
};

TEST_F(leader_epoch_cache_test, file_is_kafkas_text_format_and_round_trips) {
  ASSERT_TRUE(cache.assign(leader_epoch(0), offset(0)).has_value());
  ASSERT_TRUE(cache.assign(leader_epoch(3), offset(42)).has_value());
  EXPECT_EQ(read_text(file()), "0\n2\n0 0\n3 42\n");
  auto loaded = leader_epoch_cache::load(tmp.path);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->entries(), entries({{0, 0}, {3, 42}}));
}

TEST_F(leader_epoch_cache_test, malformed_files_are_refused_as_corrupt) {
  for (std::string_view text : {"1\n0\n", "0\n2\n0 0\n", "0\n1\n0\n", "0\n2\n3 10\n2 20\n",
                                "0\n2\n1 10\n2 5\n", "0\nx\n", "0\n1\n-1 0\n", "0\n1\n1 1\n2 2\n"}) {
    write_text(file(), text);
    auto loaded = leader_epoch_cache::load(tmp.path);
    ASSERT_FALSE(loaded.has_value()) << text;
    EXPECT_EQ(loaded.error().code, storage_errc::corrupt) << text;
  }
}

TEST_F(leader_epoch_cache_test, a_missing_file_is_an_empty_cache) {
  auto loaded = leader_epoch_cache::load(tmp.path);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_TRUE(loaded->entries().empty());
  EXPECT_FALSE(loaded->latest().has_value());
}

TEST_F(leader_epoch_cache_test, only_newer_epochs_are_assigned) {
  ASSERT_TRUE(*cache.assign(leader_epoch(2), offset(10)));
  EXPECT_FALSE(*cache.assign(leader_epoch(2), offset(15)));
  EXPECT_FALSE(*cache.assign(leader_epoch(1), offset(20)));
  EXPECT_FALSE(*cache.assign(no_leader_epoch, offset(20)));
  EXPECT_EQ(cache.entries(), entries({{2, 10}}));
}

TEST_F(leader_epoch_cache_test, end_offset_for_epoch_follows_kafkas_rules) {
  ASSERT_TRUE(cache.reset(entries({{1, 0}, {3, 10}, {6, 25}})).has_value());
  const offset leo(40);
  // The latest epoch ends at the log end.
  EXPECT_EQ(cache.end_offset_for(leader_epoch(6), leo), (epoch_end_offset{leader_epoch(6), leo}));
  // A known epoch ends where the next one starts.
  EXPECT_EQ(cache.end_offset_for(leader_epoch(3), leo), (epoch_end_offset{leader_epoch(3), offset(25)}));
  // An unknown epoch between known ones: the largest epoch below it and where that one ended.
  EXPECT_EQ(cache.end_offset_for(leader_epoch(4), leo), (epoch_end_offset{leader_epoch(3), offset(25)}));
  // Older than the first epoch: the requested epoch, ending where the log's first epoch starts.
  EXPECT_EQ(cache.end_offset_for(leader_epoch(0), leo), (epoch_end_offset{leader_epoch(0), offset(0)}));
  // Newer than any epoch, or undefined: unknown.
  EXPECT_EQ(cache.end_offset_for(leader_epoch(7), leo), epoch_end_offset{});
  EXPECT_EQ(cache.end_offset_for(no_leader_epoch, leo), epoch_end_offset{});
  EXPECT_EQ(leader_epoch_cache::empty(tmp.path).end_offset_for(leader_epoch(0), leo), epoch_end_offset{});
}

TEST_F(leader_epoch_cache_test, truncation_from_either_end_keeps_the_covering_epoch) {
  ASSERT_TRUE(cache.reset(entries({{1, 0}, {3, 10}, {6, 25}})).has_value());
  ASSERT_TRUE(cache.truncate_from_end(offset(25)).has_value());
  EXPECT_EQ(cache.entries(), entries({{1, 0}, {3, 10}}));
  ASSERT_TRUE(cache.truncate_from_start(offset(12)).has_value());
  EXPECT_EQ(cache.entries(), entries({{3, 12}}));
  EXPECT_EQ(read_text(file()), "0\n1\n3 12\n");
  ASSERT_TRUE(cache.truncate_from_start(offset(5)).has_value());  // below: nothing changes
  EXPECT_EQ(cache.entries(), entries({{3, 12}}));
}

// Retention's truncation is written on a background thread (Kafka: KAFKA-15046/16541). A queued
// write that runs after a newer one (a new epoch assigned meanwhile, written at once) must not put
// the older entries back.
TEST_F(leader_epoch_cache_test, a_truncation_written_in_the_background_never_overwrites_a_newer_file) {
  ASSERT_TRUE(cache.reset(entries({{1, 0}, {3, 10}})).has_value());
  cleaner_thread bg(8);
  std::promise<void> go;
  std::shared_future<void> gate = go.get_future().share();
  ASSERT_TRUE(bg.submit([gate] { gate.wait(); }));  // holds the queued write back
  ASSERT_TRUE(cache.truncate_from_start(offset(12), &bg).has_value());
  EXPECT_EQ(cache.entries(), entries({{3, 12}}));
  EXPECT_EQ(read_text(file()), "0\n2\n1 0\n3 10\n") << "the write waits on the background thread";
  ASSERT_TRUE(*cache.assign(leader_epoch(5), offset(30)));  // written now
  EXPECT_EQ(read_text(file()), "0\n2\n3 12\n5 30\n");
  go.set_value();
  bg.wait_idle();
  EXPECT_EQ(read_text(file()), "0\n2\n3 12\n5 30\n") << "the older queued write was skipped";

  // Alone, the queued write lands.
  ASSERT_TRUE(cache.truncate_from_start(offset(31), &bg).has_value());
  bg.wait_idle();
  EXPECT_EQ(read_text(file()), "0\n1\n5 31\n");
  auto loaded = leader_epoch_cache::load(tmp.path);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->entries(), cache.entries());
}

// A log closed or deleted with its truncation still queued: the write does nothing (the directory
// may already hold a new partition of the same name).
TEST_F(leader_epoch_cache_test, a_retired_cache_writes_nothing_more) {
  ASSERT_TRUE(cache.reset(entries({{1, 0}, {3, 10}})).has_value());
  cleaner_thread bg(8);
  std::promise<void> go;
  std::shared_future<void> gate = go.get_future().share();
  ASSERT_TRUE(bg.submit([gate] { gate.wait(); }));
  ASSERT_TRUE(cache.truncate_from_start(offset(12), &bg).has_value());
  cache.retire();
  go.set_value();
  bg.wait_idle();
  EXPECT_EQ(read_text(file()), "0\n2\n1 0\n3 10\n");
}

// ---- partition_log as a replica ----

struct replica_log_test : ::testing::Test {
  scratch_dir tmp;
  manual_clock clk{t0};
  topic_partition tp{"__cluster_metadata", partition_id(0)};
  fs::path dir() const { return tmp.path / "__cluster_metadata-0"; }

  std::unique_ptr<partition_log> open_log(log_config cfg = {}, open_hints hints = {}) {
    test_env::apply(cfg, hints);  // ctest's variants: O_DIRECT, tail cache (test_env.h)
    auto r = partition_log::open(dir(), tp, uuid{}, cfg, clk, hints);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    return r ? std::move(*r) : nullptr;
  }
  void append(partition_log& log, int64_t base, int n, int32_t epoch) {
    auto b = replica_batch(base, n, epoch);
    auto r = log.append_with_offsets(b);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->base_offset, offset(base));
    EXPECT_EQ(r->last_offset, offset(base + n - 1));
  }
  // (base offset, epoch) of every batch readable from `from`.
  std::vector<std::pair<int64_t, int32_t>> batches(const partition_log& log, int64_t from = 0) {
    std::vector<std::pair<int64_t, int32_t>> out;
    auto r = log.read(offset(from), 1 << 24, offset(INT64_MAX));
    EXPECT_TRUE(r.has_value());
    if (!r) return out;
    std::span<const uint8_t> data(r->data.data(), r->data.size());
    while (!data.empty()) {
      auto h = protocol::parse_batch_header(data);
      EXPECT_TRUE(h && h->total_size() <= data.size());
      if (!h || h->total_size() > data.size()) break;
      EXPECT_TRUE(protocol::batch_crc_ok(data.subspan(0, h->total_size())));
      out.emplace_back(h->base_offset, h->partition_leader_epoch);
      data = data.subspan(h->total_size());
    }
    return out;
  }
  static log_config small_segments() {
    log_config c;
    c.segment_bytes = 400;  // about three small batches per segment
    return c;
  }
};

using batch_list = std::vector<std::pair<int64_t, int32_t>>;

TEST_F(replica_log_test, appended_batches_keep_their_offsets_and_epochs) {
  auto log = open_log();
  append(*log, 0, 3, 1);
  append(*log, 3, 2, 1);
  auto two = replica_batch(5, 1, 4);
  auto more = replica_batch(6, 4, 5);
  two.insert(two.end(), more.begin(), more.end());
  auto r = log->append_with_offsets(two);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(log->log_end_offset(), offset(10));
  EXPECT_EQ(batches(*log), (batch_list{{0, 1}, {3, 1}, {5, 4}, {6, 5}}));
  EXPECT_EQ(log->epochs().entries(), entries({{1, 0}, {4, 5}, {5, 6}}));
  log->settle_writes();  // with a disk writer, it writes the checkpoint ahead of the data
  EXPECT_EQ(read_text(dir() / "leader-epoch-checkpoint"), "0\n3\n1 0\n4 5\n5 6\n");
  EXPECT_EQ(log->latest_epoch(), leader_epoch(5));
  EXPECT_EQ(log->end_offset_for_epoch(leader_epoch(4)), (epoch_end_offset{leader_epoch(4), offset(6)}));
  EXPECT_EQ(log->end_offset_for_epoch(leader_epoch(5)), (epoch_end_offset{leader_epoch(5), offset(10)}));
}

TEST_F(replica_log_test, batches_that_do_not_continue_the_log_are_refused_without_writing) {
  auto log = open_log();
  append(*log, 0, 3, 1);
  auto gap = replica_batch(4, 1, 1);
  auto overlap = replica_batch(2, 2, 1);
  auto bad_crc = replica_batch(3, 1, 1);
  bad_crc.back() ^= 0x01;
  auto torn = replica_batch(3, 1, 1);
  torn.pop_back();
  auto good_then_gap = replica_batch(3, 1, 2);
  auto after = replica_batch(5, 1, 2);
  good_then_gap.insert(good_then_gap.end(), after.begin(), after.end());
  std::vector<uint8_t> junk(80, 0xee);
  for (auto* b : {&gap, &overlap, &bad_crc, &torn, &good_then_gap, &junk}) {
    auto r = log->append_with_offsets(*b);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, storage_errc::invalid_argument);
  }
  EXPECT_FALSE(log->append_with_offsets({}).has_value());
  EXPECT_EQ(log->log_end_offset(), offset(3));
  EXPECT_EQ(batches(*log), (batch_list{{0, 1}}));
  EXPECT_EQ(log->epochs().entries(), entries({{1, 0}}));
}

TEST_F(replica_log_test, leader_appends_record_each_new_epoch) {
  auto log = open_log();
  auto b = replica_batch(0, 2, -1);
  ASSERT_TRUE(log->append(b, leader_epoch(0)).has_value());
  b = replica_batch(0, 2, -1);
  ASSERT_TRUE(log->append(b, leader_epoch(0)).has_value());
  b = replica_batch(0, 1, -1);
  ASSERT_TRUE(log->append(b, leader_epoch(2)).has_value());
  EXPECT_EQ(log->epochs().entries(), entries({{0, 0}, {2, 4}}));
}

TEST_F(replica_log_test, truncate_inside_the_active_segment_cuts_whole_batches) {
  auto log = open_log();
  append(*log, 0, 3, 1);
  append(*log, 3, 3, 2);
  append(*log, 6, 3, 3);
  // 7 is inside the batch 6..8: that whole batch goes.
  auto r = log->truncate_to(offset(7));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(*r, offset(6));
  EXPECT_EQ(log->log_end_offset(), offset(6));
  EXPECT_EQ(batches(*log), (batch_list{{0, 1}, {3, 2}}));
  EXPECT_EQ(log->epochs().entries(), entries({{1, 0}, {2, 3}}));
  EXPECT_LE(log->recovery_point(), offset(6));
  // The log continues from the cut, in a new epoch.
  append(*log, 6, 2, 4);
  EXPECT_EQ(batches(*log), (batch_list{{0, 1}, {3, 2}, {6, 4}}));
  EXPECT_EQ(log->end_offset_for_epoch(leader_epoch(3)), (epoch_end_offset{leader_epoch(2), offset(6)}));
}

TEST_F(replica_log_test, truncate_across_segments_deletes_later_segments_and_rebuilds_indexes) {
  auto log = open_log(small_segments());
  for (int64_t i = 0; i < 12; ++i) append(*log, i * 2, 2, int32_t(i / 4));
  ASSERT_GT(log->segment_count(), 3u);
  const auto bases = log->segment_base_offsets();
  // Cut exactly at a segment boundary, then inside an older segment.
  auto r = log->truncate_to(offset(bases[2]));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(*r, offset(bases[2]));
  EXPECT_EQ(log->segment_count(), 2u);
  EXPECT_FALSE(fs::exists(dir() / (segment_file_stem(bases[2]) + ".log")));
  EXPECT_FALSE(fs::exists(dir() / (segment_file_stem(bases[3]) + ".index")));
  r = log->truncate_to(offset(bases[1] + 2));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(log->log_end_offset(), offset(bases[1] + 2));
  // Reads find every remaining batch through the rebuilt indexes, appends continue, and a restart
  // after a crash (no clean-shutdown hints) sees the same log.
  for (int64_t o = 0; o < log->log_end_offset().value(); ++o) EXPECT_FALSE(batches(*log, o).empty());
  append(*log, bases[1] + 2, 2, 9);
  const auto before = batches(*log);
  const auto epochs_before = log->epochs().entries();
  log.reset();
  log = open_log(small_segments());
  EXPECT_EQ(batches(*log), before);
  EXPECT_EQ(log->epochs().entries(), epochs_before);
  EXPECT_EQ(log->epochs().entries().back(), (epoch_entry{leader_epoch(9), offset(bases[1] + 2)}));
}

TEST_F(replica_log_test, truncate_at_or_past_the_end_does_nothing) {
  auto log = open_log();
  append(*log, 0, 3, 1);
  EXPECT_EQ(*log->truncate_to(offset(3)), offset(3));
  EXPECT_EQ(*log->truncate_to(offset(100)), offset(3));
  EXPECT_EQ(batches(*log), (batch_list{{0, 1}}));
}

TEST_F(replica_log_test, truncate_below_the_log_start_restarts_the_log_there) {
  auto log = open_log(small_segments());
  for (int64_t i = 0; i < 8; ++i) append(*log, i * 2, 2, 1);
  ASSERT_TRUE(log->advance_log_start_offset(offset(6), t0).has_value());
  auto r = log->truncate_to(offset(4));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(log->log_start_offset(), offset(4));
  EXPECT_EQ(log->log_end_offset(), offset(4));
  EXPECT_TRUE(log->epochs().entries().empty());
  append(*log, 4, 1, 2);
  EXPECT_EQ(batches(*log, 4), (batch_list{{4, 2}}));
}

TEST_F(replica_log_test, truncate_fully_and_start_at_empties_the_log_and_the_epochs) {
  auto log = open_log(small_segments());
  for (int64_t i = 0; i < 6; ++i) append(*log, i * 2, 2, 1);
  std::vector<offset> seen;
  log->set_truncate_listener([&](offset o) { seen.push_back(o); });
  ASSERT_TRUE(log->truncate_fully_and_start_at(offset(100)).has_value());
  EXPECT_EQ(log->segment_base_offsets(), std::vector<int64_t>{100});
  EXPECT_EQ(log->log_start_offset(), offset(100));
  EXPECT_EQ(log->log_end_offset(), offset(100));
  EXPECT_TRUE(log->epochs().entries().empty());
  EXPECT_EQ(seen, std::vector<offset>{offset(100)});
  append(*log, 100, 1, 3);
  log.reset();
  log = open_log(small_segments());
  EXPECT_EQ(log->log_start_offset(), offset(100));
  EXPECT_EQ(batches(*log, 100), (batch_list{{100, 3}}));
  EXPECT_EQ(log->epochs().entries(), entries({{3, 100}}));
}

TEST_F(replica_log_test, moving_the_log_start_cuts_the_epoch_cache_from_the_front) {
  auto log = open_log(small_segments());
  for (int64_t i = 0; i < 9; ++i) append(*log, i * 2, 2, int32_t(i / 3));  // epochs 0, 1, 2
  ASSERT_TRUE(log->advance_log_start_offset(offset(8), t0).has_value());
  EXPECT_EQ(log->epochs().entries(), entries({{1, 8}, {2, 12}}));
}

TEST_F(replica_log_test, a_missing_or_malformed_checkpoint_is_rebuilt_from_the_batches) {
  {
    auto log = open_log(small_segments());
    for (int64_t i = 0; i < 6; ++i) append(*log, i * 2, 2, int32_t(i / 2) * 2);  // 0, 2, 4
    ASSERT_TRUE(log->close().has_value());
  }
  fs::remove(dir() / "leader-epoch-checkpoint");
  {
    auto log = open_log(small_segments());
    EXPECT_EQ(log->epochs().entries(), entries({{0, 0}, {2, 4}, {4, 8}}));
    ASSERT_TRUE(log->close().has_value());
  }
  write_text(dir() / "leader-epoch-checkpoint", "0\n7\ngarbage\n");
  auto log = open_log(small_segments());
  EXPECT_EQ(log->epochs().entries(), entries({{0, 0}, {2, 4}, {4, 8}}));
  EXPECT_EQ(read_text(dir() / "leader-epoch-checkpoint"), "0\n3\n0 0\n2 4\n4 8\n");
}

TEST_F(replica_log_test, an_epoch_persisted_before_a_crash_lost_its_data_is_dropped_at_open) {
  {
    auto log = open_log();
    append(*log, 0, 2, 1);
    ASSERT_TRUE(log->flush().has_value());
  }
  // The checkpoint got the next epoch, the crash came before its batch reached the disk.
  write_text(dir() / "leader-epoch-checkpoint", "0\n2\n1 0\n2 2\n");
  auto log = open_log();
  EXPECT_EQ(log->epochs().entries(), entries({{1, 0}}));
  EXPECT_EQ(log->end_offset_for_epoch(leader_epoch(1)), (epoch_end_offset{leader_epoch(1), offset(2)}));
}

TEST_F(replica_log_test, a_torn_tail_after_a_crash_is_cut_and_the_log_continues_as_a_replica) {
  {
    auto log = open_log();
    append(*log, 0, 2, 1);
    append(*log, 2, 2, 2);
  }
  // Tear the last batch in half.
  const auto seg = dir() / "00000000000000000000.log";
  const auto size = fs::file_size(seg);
  fs::resize_file(seg, size - 20);
  auto log = open_log();
  EXPECT_EQ(log->log_end_offset(), offset(2));
  EXPECT_EQ(log->epochs().entries(), entries({{1, 0}}));
  append(*log, 2, 1, 3);
  EXPECT_EQ(batches(*log), (batch_list{{0, 1}, {2, 3}}));
}

}  // namespace
}  // namespace gregor::storage
