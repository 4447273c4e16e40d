// Proves that a partition log recovers every complete batch after any crash (every truncation point
// of a segment, random garbage, corrupt closed segments), that the log directory's checkpoints and
// clean-shutdown marker work, and that retention, DeleteRecords and timed flushes behave as Kafka's.
#include <cstdlib>
#include <fstream>
#include <map>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "test_env.h"
#include "gregor/base/clock.h"
#include "gregor/protocol/record_batch.h"
#include "gregor/storage/cleaner_thread.h"
#include "gregor/storage/log_manager.h"
#include "gregor/storage/partition_log.h"

namespace gregor::storage {
namespace {
namespace fs = std::filesystem;

constexpr int64_t t0 = 1'700'000'000'000;

struct scratch_dir {
  scratch_dir() {
    std::random_device rd;
    // tmpfs when available: these tests reopen logs hundreds of times and every open fsyncs.
    std::error_code ec;
    fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    path = base / fmt::format("gregor-durable-{:x}{:x}", rd(), rd());
    fs::create_directories(path);
  }
  ~scratch_dir() { fs::remove_all(path); }
  fs::path path;
};

using test_env::batch_of;

std::vector<uint8_t> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void spit(const fs::path& p, std::span<const uint8_t> bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

// Every offset in [from, to) is readable and sits in a batch that contains it.
void expect_readable(const partition_log& log, int64_t from, int64_t to) {
  for (int64_t o = from; o < to; ++o) {
    auto r = log.read(offset(o), 1, offset(INT64_MAX), true);
    ASSERT_TRUE(r.has_value()) << "offset " << o << ": " << r.error().message;
    auto h = protocol::parse_batch_header(r->data);
    ASSERT_TRUE(h.has_value()) << "offset " << o;
    EXPECT_LE(h->base_offset, o);
    EXPECT_GE(h->last_offset(), o);
    EXPECT_TRUE(protocol::batch_crc_ok(std::span(r->data).subspan(0, h->total_size())));
  }
}

struct durability : ::testing::Test {
  scratch_dir tmp;
  manual_clock clk{t0};
  topic_partition tp{"pay", partition_id(0)};
  uuid id{0xabc, 0xdef};
  fs::path dir() const { return tmp.path / "pay-0"; }
  fs::path seg(int64_t base, const char* ext) const {
    return dir() / (segment_file_stem(base) + ext);
  }

  std::unique_ptr<partition_log> open_log(log_config cfg = {}, open_hints hints = {}) {
    test_env::apply(cfg, hints);  // ctest's variants: O_DIRECT, tail cache (test_env.h)
    auto r = partition_log::open(dir(), tp, id, cfg, clk, hints);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    return r ? std::move(*r) : nullptr;
  }
  append_result append(partition_log& log, int n, int64_t ts = t0, size_t value_bytes = 10) {
    auto b = batch_of(n, ts, value_bytes);
    auto r = log.append(b, leader_epoch(1));
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    return r ? *r : append_result{};
  }
};

TEST_F(durability, recovery_from_every_truncation_point_keeps_every_whole_batch) {
  std::vector<size_t> boundaries;
  log_config cfg;
  cfg.index_interval_bytes = 90;
  {
    auto log = open_log(cfg);
    for (int i = 0; i < 6; ++i) {
      append(*log, 1 + i % 3, t0 + i);
      boundaries.push_back(log->size_bytes());
    }
    ASSERT_TRUE(log->close().has_value());
  }
  const auto original = slurp(seg(0, ".log"));
  const auto index = slurp(seg(0, ".index"));
  const auto timeindex = slurp(seg(0, ".timeindex"));
  for (size_t cut = 0; cut <= original.size(); ++cut) {
    spit(seg(0, ".log"), std::span(original).subspan(0, cut));
    spit(seg(0, ".index"), index);  // stale indexes, as after a crash
    spit(seg(0, ".timeindex"), timeindex);
    size_t valid = 0;
    int64_t records = 0;
    for (size_t i = 0; i < boundaries.size(); ++i) {
      if (boundaries[i] <= cut) valid = boundaries[i], records += 1 + int64_t(i) % 3;
    }
    auto log = open_log(cfg);
    ASSERT_TRUE(log) << "cut " << cut;
    ASSERT_EQ(log->size_bytes(), valid) << "cut " << cut;
    ASSERT_EQ(log->log_end_offset(), offset(records)) << "cut " << cut;
    expect_readable(*log, 0, records);
    auto a = append(*log, 2, t0 + 100);
    EXPECT_EQ(a.base_offset, offset(records)) << "no gap, no duplicate";
    expect_readable(*log, 0, records + 2);
    ASSERT_TRUE(log->close().has_value());
  }
}

TEST_F(durability, random_garbage_after_or_inside_the_log_is_cut_at_the_last_valid_batch) {
  std::mt19937 rng(42);
  std::vector<size_t> boundaries;
  {
    auto log = open_log();
    for (int i = 0; i < 10; ++i) {
      append(*log, 2, t0 + i);
      boundaries.push_back(log->size_bytes());
    }
    ASSERT_TRUE(log->close().has_value());
  }
  const auto original = slurp(seg(0, ".log"));
  for (int round = 0; round < 60; ++round) {
    auto bytes = original;
    size_t at = round % 2 == 0 ? bytes.size() : rng() % bytes.size();
    std::vector<uint8_t> junk(1 + rng() % 300);
    for (auto& b : junk) b = uint8_t(rng());
    if (at == bytes.size()) {
      bytes.insert(bytes.end(), junk.begin(), junk.end());
    } else {
      for (size_t i = 0; i < junk.size() && at + i < bytes.size(); ++i) bytes[at + i] = junk[i];
    }
    spit(seg(0, ".log"), bytes);
    fs::remove(seg(0, ".index"));
    size_t valid = 0;
    int64_t records = 0;
    for (size_t b : boundaries) {
      if (b <= at) valid = b, records += 2;
    }
    auto log = open_log();
    ASSERT_TRUE(log);
    EXPECT_EQ(log->size_bytes(), valid) << "round " << round << " at " << at;
    EXPECT_EQ(log->log_end_offset(), offset(records));
    expect_readable(*log, 0, records);
    ASSERT_TRUE(log->close().has_value());
  }
}

TEST_F(durability, corrupt_closed_segment_past_the_recovery_point_drops_what_follows) {
  log_config cfg;
  cfg.segment_bytes = 400;
  cfg.index_interval_bytes = 1;  // closed segments then have indexes to trust
  std::vector<int64_t> bases;
  {
    auto log = open_log(cfg);
    for (int i = 0; i < 20; ++i) append(*log, 1, t0 + i);
    bases = log->segment_base_offsets();
    ASSERT_TRUE(log->close().has_value());
  }
  ASSERT_GE(bases.size(), 3u);
  // Flip a byte in the last batch of the second segment.
  auto p = seg(bases[1], ".log");
  auto bytes = slurp(p);
  bytes[bytes.size() - 2] ^= 0x55;
  spit(p, bytes);
  // With a clean-shutdown hint nothing is scanned: the damage goes unseen at open.
  {
    open_hints clean{true, bases.back(), std::nullopt};
    auto log = open_log(cfg, clean);
    EXPECT_EQ(log->segment_count(), bases.size());
  }
  // After a crash with the recovery point in the first segment, segment 2 is scanned, cut, and
  // becomes the active one.
  open_hints crash{false, bases[0], std::nullopt};
  auto log = open_log(cfg, crash);
  ASSERT_EQ(log->segment_count(), 2u);
  EXPECT_EQ(log->log_end_offset(), offset(bases[2] - 1));
  expect_readable(*log, 0, bases[2] - 1);
  EXPECT_FALSE(fs::exists(seg(bases[2], ".log")));
  auto a = append(*log, 1, t0 + 50);
  EXPECT_EQ(a.base_offset, offset(bases[2] - 1));
}

// A closed segment ending short of the next one lost its tail to a power cut, unless it lies in
// the cleaned section: logs compacted before the cleaner kept segment ends have such gaps there,
// and the cleaned section is durable before the cleaner checkpoint names it.
TEST_F(durability, a_gap_at_a_segment_end_drops_what_follows_unless_the_segment_was_cleaned) {
  log_config cfg;
  cfg.segment_bytes = 1;  // a segment per batch
  std::vector<int64_t> bases;
  {
    auto log = open_log(cfg);
    for (int i = 0; i < 5; ++i) append(*log, 2, t0 + i);
    bases = log->segment_base_offsets();
    ASSERT_TRUE(log->close().has_value());
  }
  ASSERT_EQ(bases, (std::vector<int64_t>{0, 2, 4, 6, 8}));
  // Segment 2 keeps only its first record, as an old cleaner's output would (or a lost tail).
  const auto whole = slurp(seg(2, ".log"));
  const auto one = batch_of(1, t0 + 1, 10);
  std::vector<uint8_t> rewritten(one.begin(), one.end());
  // The stored batch at base offset 2 with one record: the CRC covers from attributes on.
  protocol::set_base_offset(rewritten, 2);
  spit(seg(2, ".log"), rewritten);
  fs::remove(seg(2, ".index"));
  fs::remove(seg(2, ".timeindex"));
  ASSERT_LT(rewritten.size(), whole.size());
  const fs::path saved = tmp.path / "saved";
  fs::copy(dir(), saved, fs::copy_options::recursive);

  // Cleaned through offset 6: the gap at 3 is compaction's; everything is kept.
  {
    open_hints crash{false, 0, std::nullopt};
    crash.cleaner_offset = 6;
    auto log = open_log(cfg, crash);
    EXPECT_EQ(log->segment_count(), 5u);
    EXPECT_EQ(log->log_end_offset(), offset(10));
    ASSERT_TRUE(log->close().has_value());
  }
  // No cleaner offset (or one below the gap): the tail was lost, and what follows is dropped.
  fs::remove_all(dir());
  fs::copy(saved, dir(), fs::copy_options::recursive);
  open_hints crash{false, 0, std::nullopt};
  crash.cleaner_offset = 2;
  auto log = open_log(cfg, crash);
  EXPECT_EQ(log->segment_count(), 2u);
  EXPECT_EQ(log->log_end_offset(), offset(3));
  EXPECT_FALSE(fs::exists(seg(4, ".log")));
}

TEST_F(durability, log_manager_writes_checkpoints_and_a_clean_shutdown_marker) {
  {
    auto m = log_manager::open(tmp.path, clk, test_env::log_manager_cache_bytes(), test_env::log_manager_writer_bytes());
    ASSERT_TRUE(m.has_value());
    EXPECT_FALSE((*m)->opened_after_clean_shutdown());
    auto p = (*m)->open_partition(tp, id, {});
    ASSERT_TRUE(p.has_value());
    append(**p, 5);
    ASSERT_TRUE((**p).advance_log_start_offset(offset(2), clk.now_ms()).has_value());
    ASSERT_TRUE((*m)->close_all().has_value());
  }
  EXPECT_TRUE(fs::exists(tmp.path / ".kafka_cleanshutdown"));
  auto rp = slurp(tmp.path / "recovery-point-offset-checkpoint");
  EXPECT_EQ(std::string(rp.begin(), rp.end()), "0\n1\npay 0 5\n");
  auto ls = slurp(tmp.path / "log-start-offset-checkpoint");
  EXPECT_EQ(std::string(ls.begin(), ls.end()), "0\n1\npay 0 2\n");
  {
    auto m = log_manager::open(tmp.path, clk, test_env::log_manager_cache_bytes(), test_env::log_manager_writer_bytes());
    ASSERT_TRUE(m.has_value());
    EXPECT_TRUE((*m)->opened_after_clean_shutdown());
    EXPECT_FALSE(fs::exists(tmp.path / ".kafka_cleanshutdown")) << "a crash from here is unclean";
    auto p = (*m)->open_partition(tp, uuid{}, {});
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ((**p).log_start_offset(), offset(2));
    EXPECT_EQ((**p).log_end_offset(), offset(5));
    EXPECT_EQ((**p).read(offset(1), 1000, offset(INT64_MAX)).error().code,
              storage_errc::offset_out_of_range);
    // Simulated crash: no close_all, the destructor is not a clean close either way.
    append(**p, 3);
    ASSERT_TRUE((*m)->checkpoint().has_value());
    auto text = slurp(tmp.path / "recovery-point-offset-checkpoint");
    EXPECT_EQ(std::string(text.begin(), text.end()), "0\n1\npay 0 5\n") << "unflushed: not advanced";
  }
}

// The server collects checkpoints on the io thread and writes them on another: a write that
// comes late must not replace newer contents, and unchanged high watermarks are not written again.
TEST_F(durability, a_checkpoint_collected_earlier_never_replaces_a_newer_one) {
  auto m = log_manager::open(tmp.path, clk, test_env::log_manager_cache_bytes(), test_env::log_manager_writer_bytes());
  ASSERT_TRUE(m.has_value());
  auto p = (*m)->open_partition(tp, id, {});
  ASSERT_TRUE(p.has_value());
  append(**p, 5);
  ASSERT_TRUE((**p).advance_log_start_offset(offset(1), clk.now_ms()).has_value());
  const auto older = (*m)->collect_checkpoint();
  ASSERT_TRUE((**p).advance_log_start_offset(offset(3), clk.now_ms()).has_value());
  const auto newer = (*m)->collect_checkpoint();
  EXPECT_LT(older.seq, newer.seq);
  ASSERT_TRUE((*m)->write_checkpoint(newer).has_value());
  ASSERT_TRUE((*m)->write_checkpoint(older).has_value());
  auto ls = slurp(tmp.path / "log-start-offset-checkpoint");
  EXPECT_EQ(std::string(ls.begin(), ls.end()), "0\n1\npay 0 3\n");

  const auto hw1 = (*m)->collect_high_watermarks({{tp, 4}});
  ASSERT_TRUE(hw1);
  EXPECT_FALSE((*m)->collect_high_watermarks({{tp, 4}})) << "unchanged: nothing to write";
  const auto hw2 = (*m)->collect_high_watermarks({{tp, 5}});
  ASSERT_TRUE(hw2);
  ASSERT_TRUE((*m)->write_checkpoint(*hw2).has_value());
  ASSERT_TRUE((*m)->write_checkpoint(*hw1).has_value());
  auto hw = slurp(tmp.path / "replication-offset-checkpoint");
  EXPECT_EQ(std::string(hw.begin(), hw.end()), "0\n1\npay 0 5\n");
}

TEST_F(durability, malformed_checkpoints_are_ignored_and_the_log_is_scanned) {
  {
    auto m = log_manager::open(tmp.path, clk, test_env::log_manager_cache_bytes(), test_env::log_manager_writer_bytes());
    auto p = (*m)->open_partition(tp, id, {});
    append(**p, 4);
    ASSERT_TRUE((*m)->close_all().has_value());
  }
  std::ofstream(tmp.path / "recovery-point-offset-checkpoint") << "7\nzz\n";
  std::ofstream(tmp.path / "log-start-offset-checkpoint") << "0\n1\npay 0 -5\n";
  auto m = log_manager::open(tmp.path, clk, test_env::log_manager_cache_bytes(), test_env::log_manager_writer_bytes());
  ASSERT_TRUE(m.has_value());
  auto p = (*m)->open_partition(tp, id, {});
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ((**p).log_start_offset(), offset(0));
  EXPECT_EQ((**p).log_end_offset(), offset(4));
}

TEST_F(durability, delete_records_moves_the_log_start_and_drops_whole_segments) {
  log_config cfg;
  cfg.segment_bytes = 300;
  auto log = open_log(cfg);
  for (int i = 0; i < 12; ++i) append(*log, 1, t0 + i);
  auto bases = log->segment_base_offsets();
  ASSERT_GE(bases.size(), 3u);
  EXPECT_EQ(log->advance_log_start_offset(offset(13), clk.now_ms()).error().code,
            storage_errc::offset_out_of_range);
  auto r = log->advance_log_start_offset(offset(bases[1] + 1), clk.now_ms());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, offset(bases[1] + 1));
  EXPECT_EQ(log->segment_base_offsets().front(), bases[1]);
  EXPECT_TRUE(fs::exists(fs::path(seg(0, ".log").string() + ".deleted")));
  EXPECT_EQ(log->read(offset(bases[1]), 100, offset(INT64_MAX)).error().code,
            storage_errc::offset_out_of_range);
  expect_readable(*log, bases[1] + 1, 12);
  // Never backwards.
  EXPECT_EQ(*log->advance_log_start_offset(offset(0), clk.now_ms()), offset(bases[1] + 1));
  // Up to the log end is allowed: the log is then empty but keeps its offsets.
  EXPECT_EQ(*log->advance_log_start_offset(offset(12), clk.now_ms()), offset(12));
  EXPECT_EQ(append(*log, 1).base_offset, offset(12));
  // .deleted files go once file.delete.delay.ms has passed.
  clk.advance(cfg.file_delete_delay_ms + 1);
  ASSERT_TRUE(log->enforce_retention(clk.now_ms()).has_value());
  EXPECT_FALSE(fs::exists(fs::path(seg(0, ".log").string() + ".deleted")));
}

TEST_F(durability, retention_by_size_keeps_the_newest_segments_within_retention_bytes) {
  log_config cfg;
  cfg.segment_bytes = 300;
  cfg.retention_ms = -1;
  auto log = open_log(cfg);
  for (int i = 0; i < 20; ++i) append(*log, 1, clk.now_ms());
  size_t before = log->segment_count();
  cfg.retention_bytes = 700;
  log->set_config(cfg);
  auto r = log->enforce_retention(clk.now_ms());
  ASSERT_TRUE(r.has_value());
  EXPECT_GT(r->segments_deleted, 0u);
  EXPECT_EQ(log->segment_count(), before - r->segments_deleted);
  // Kafka's rule: delete the oldest while what remains is still >= retention.bytes.
  EXPECT_GE(log->size_bytes(), 700u);
  EXPECT_LT(log->size_bytes(), 700u + 300u);
  EXPECT_EQ(log->log_start_offset(), offset(log->segment_base_offsets().front()));
  expect_readable(*log, log->log_start_offset().value(), 20);
  // Compact-only topics do not delete by size.
  cfg.retention_bytes = 0;
  cfg.delete_enabled = false;
  log->set_config(cfg);
  EXPECT_EQ(log->enforce_retention(clk.now_ms())->segments_deleted, 0u);
}

TEST_F(durability, retention_by_time_deletes_expired_segments_and_rolls_an_expired_active_one) {
  log_config cfg;
  cfg.segment_bytes = 300;
  cfg.retention_ms = 10'000;
  auto log = open_log(cfg);
  for (int i = 0; i < 6; ++i) append(*log, 1, clk.now_ms());
  clk.advance(5'000);
  for (int i = 0; i < 6; ++i) append(*log, 1, clk.now_ms());
  auto none = log->enforce_retention(clk.now_ms());
  EXPECT_EQ(none->segments_deleted, 0u) << "nothing older than 10 s yet";
  clk.advance(6'000);
  auto some = log->enforce_retention(clk.now_ms());
  ASSERT_TRUE(some.has_value());
  EXPECT_GT(some->segments_deleted, 0u);
  EXPECT_GT(log->log_start_offset(), offset(0));
  EXPECT_LT(log->log_start_offset(), offset(12));
  clk.advance(20'000);
  ASSERT_TRUE(log->enforce_retention(clk.now_ms()).has_value());
  EXPECT_EQ(log->log_start_offset(), offset(12));
  EXPECT_EQ(log->log_end_offset(), offset(12));
  EXPECT_EQ(log->segment_count(), 1u);
  EXPECT_EQ(append(*log, 1, clk.now_ms()).base_offset, offset(12));
}

TEST_F(durability, timed_flush_advances_the_recovery_point_only_after_flush_ms) {
  log_config cfg;
  cfg.flush_ms = 1000;
  auto log = open_log(cfg);
  append(*log, 3);
  // With a disk writer the flush is queued behind the writes: settled, it has run (if due).
  log->settle_writes();
  EXPECT_EQ(log->recovery_point(), offset(0));
  EXPECT_EQ(log->unflushed_records(), 3);
  ASSERT_TRUE(log->maybe_flush(clk.now_ms() + 10).has_value());
  log->settle_writes();
  EXPECT_EQ(log->recovery_point(), offset(0));
  ASSERT_TRUE(log->maybe_flush(clk.now_ms() + 1000).has_value());
  log->settle_writes();
  EXPECT_EQ(log->recovery_point(), offset(3));
  EXPECT_EQ(log->unflushed_records(), 0);
}

TEST_F(durability, flush_messages_one_fsyncs_every_batch) {
  log_config cfg;
  cfg.flush_messages = 1;
  auto log = open_log(cfg);
  append(*log, 2);
  log->settle_writes();  // with a disk writer, the flush runs after the queued write
  EXPECT_EQ(log->recovery_point(), offset(2));
  append(*log, 1);
  log->settle_writes();
  EXPECT_EQ(log->recovery_point(), offset(3));
}

}  // namespace
}  // namespace gregor::storage

namespace gregor::storage {
namespace {

// One keyed record for the compaction model; value nullopt = tombstone.
struct keyed {
  std::string key;
  std::optional<std::string> value;
};

std::vector<uint8_t> keyed_batch(const std::vector<keyed>& recs, int64_t ts,
                                 protocol::compression codec = protocol::compression::none) {
  std::vector<protocol::record_input> in;
  for (const auto& r : recs) {
    protocol::record_input ri;
    ri.key = r.key;
    ri.value = r.value;
    ri.timestamp = ts;
    ri.headers.push_back({"h", std::string("v")});
    in.push_back(std::move(ri));
  }
  protocol::batch_options o;
  o.base_timestamp = ts;
  o.codec = codec;
  return protocol::build_batch(in, o);
}

struct stored_record {
  std::optional<std::string> key, value;
  int64_t ts;
  size_t headers;
  protocol::compression codec;
};

std::map<int64_t, stored_record> read_all(const partition_log& log) {
  std::map<int64_t, stored_record> out;
  auto r = log.read(log.log_start_offset(), 1 << 30, offset(INT64_MAX), true);
  EXPECT_TRUE(r.has_value());
  size_t pos = 0;
  while (r && pos < r->data.size()) {
    auto h = protocol::parse_batch_header(std::span(r->data).subspan(pos));
    EXPECT_TRUE(h.has_value());
    auto whole = std::span(r->data).subspan(pos, h->total_size());
    EXPECT_TRUE(protocol::batch_crc_ok(whole));
    auto ok = protocol::for_each_record(whole, [&](const protocol::record_view& rv) {
      stored_record s{rv.key ? std::optional<std::string>(std::string(*rv.key)) : std::nullopt,
                      rv.value ? std::optional<std::string>(std::string(*rv.value)) : std::nullopt,
                      rv.timestamp, rv.headers.size(), h->codec()};
      EXPECT_TRUE(out.emplace(rv.offset, s).second) << "offset " << rv.offset << " twice";
    });
    EXPECT_TRUE(ok.has_value());
    pos += h->total_size();
  }
  return out;
}

struct compaction : durability {
  // cleanup.policy=compact with small segments.
  static log_config compacted(int64_t segment_bytes) {
    log_config cfg;
    cfg.segment_bytes = segment_bytes;
    cfg.compact = true;
    cfg.delete_enabled = false;
    return cfg;
  }
};

TEST_F(compaction, keeps_the_newest_record_per_key_against_a_model_with_offsets_and_codecs_kept) {
  log_config cfg = compacted(600);
  cfg.delete_retention_ms = 1'000'000;
  std::mt19937 rng(5);
  const protocol::compression codecs[] = {protocol::compression::none, protocol::compression::gzip,
                                          protocol::compression::snappy, protocol::compression::lz4,
                                          protocol::compression::zstd};
  for (int round = 0; round < 5; ++round) {
    fs::remove_all(dir());
    auto log = open_log(cfg);
    std::map<int64_t, keyed> history;  // offset -> what was written
    for (int b = 0; b < 40; ++b) {
      std::vector<keyed> recs;
      int n = 1 + int(rng() % 4);
      for (int i = 0; i < n; ++i) {
        std::string key = fmt::format("key{}", rng() % 12);
        bool tomb = rng() % 6 == 0;
        recs.push_back({key, tomb ? std::nullopt : std::optional<std::string>(fmt::format("v{}-{}", b, i))});
      }
      auto batch = keyed_batch(recs, clk.now_ms(), codecs[(b + round) % 5]);
      auto a = log->append(batch, leader_epoch(0));
      ASSERT_TRUE(a.has_value());
      for (int i = 0; i < n; ++i) history[a->base_offset.value() + i] = recs[size_t(i)];
    }
    auto before = read_all(*log);
    const int64_t active_base = log->segment_base_offsets().back();
    // Model: the newest offset of each key among offsets below the active segment.
    std::map<std::string, int64_t> newest;
    for (const auto& [off, r] : history)
      if (off < active_base) newest[r.key] = off;
    auto res = log->compact(clk.now_ms(), /*force=*/true);
    ASSERT_TRUE(res.has_value()) << res.error().message;
    EXPECT_GT(res->records_removed, 0u);
    auto check = [&](const partition_log& l) {
      auto after = read_all(l);
      for (const auto& [off, r] : history) {
        bool expect_kept = off >= active_base || newest[r.key] == off;
        ASSERT_EQ(after.count(off), expect_kept ? 1u : 0u) << "offset " << off << " key " << r.key;
        if (!expect_kept) continue;
        const auto& got = after.at(off);
        EXPECT_EQ(got.key, r.key);
        EXPECT_EQ(got.value, r.value);
        EXPECT_EQ(got.ts, before.at(off).ts);
        EXPECT_EQ(got.headers, 1u);
        EXPECT_EQ(got.codec, before.at(off).codec) << "rewritten with its own codec";
      }
      EXPECT_EQ(l.log_end_offset(), offset(int64_t(history.size())));
    };
    check(*log);
    // A second pass finds nothing to do; a reopen (crash) sees the same log.
    EXPECT_EQ(log->compact(clk.now_ms(), true)->records_removed, 0u);
    log.reset();
    auto reopened = open_log(cfg);
    check(*reopened);
    // Appends continue the offsets.
    auto more = keyed_batch({{"key1", std::string("x")}}, clk.now_ms());
    EXPECT_EQ(reopened->append(more, leader_epoch(0))->base_offset, offset(int64_t(history.size())));
  }
}

TEST_F(compaction, tombstones_go_after_delete_retention_ms_and_the_dirty_ratio_gates_cleaning) {
  log_config cfg = compacted(300);
  cfg.delete_retention_ms = 10'000;
  cfg.min_cleanable_dirty_ratio = 0.5;
  auto log = open_log(cfg);
  for (int i = 0; i < 6; ++i) {
    auto b = keyed_batch({{"a", std::string("v") + std::to_string(i)}}, clk.now_ms());
    ASSERT_TRUE(log->append(b, leader_epoch(0)).has_value());
  }
  auto t = keyed_batch({{"a", std::nullopt}}, clk.now_ms());
  ASSERT_TRUE(log->append(t, leader_epoch(0)).has_value());
  for (int i = 0; i < 4; ++i) {
    auto b = keyed_batch({{"b", std::string("w")}}, clk.now_ms());
    ASSERT_TRUE(log->append(b, leader_epoch(0)).has_value());
  }
  auto first = log->compact(clk.now_ms());
  ASSERT_TRUE(first.has_value());
  EXPECT_GT(first->records_removed, 0u);
  auto after = read_all(*log);
  EXPECT_EQ(after.count(6), 1u) << "tombstone kept within delete.retention.ms";
  EXPECT_FALSE(after.at(6).value.has_value());
  // Nothing new is dirty: no pass without force.
  EXPECT_EQ(log->compact(clk.now_ms())->segments_cleaned, 0u);
  clk.advance(10'001);
  auto later = log->compact(clk.now_ms(), true);
  ASSERT_TRUE(later.has_value());
  EXPECT_EQ(read_all(*log).count(6), 0u) << "tombstone removed after delete.retention.ms";
}

TEST_F(compaction, an_interrupted_swap_is_completed_at_open_and_cleaned_leftovers_removed) {
  log_config cfg;
  cfg.segment_bytes = 300;
  {
    auto log = open_log(cfg);
    for (int i = 0; i < 8; ++i) {
      auto b = keyed_batch({{"k", std::string("v") + std::to_string(i)}}, clk.now_ms());
      ASSERT_TRUE(log->append(b, leader_epoch(0)).has_value());
    }
    ASSERT_TRUE(log->close().has_value());
  }
  // A crash after the .swap was complete: it holds only the first segment's last batch.
  auto first = slurp(seg(0, ".log"));
  auto h = protocol::parse_batch_header(first);
  ASSERT_TRUE(h.has_value());
  std::vector<uint8_t> last_only;
  for (size_t pos = 0; pos < first.size();) {
    auto hh = protocol::parse_batch_header(std::span(first).subspan(pos));
    if (pos + hh->total_size() == first.size())
      last_only.assign(first.begin() + long(pos), first.end());
    pos += hh->total_size();
  }
  spit(fs::path(seg(0, ".log").string() + ".swap"), last_only);
  spit(fs::path(seg(0, ".log").string() + ".cleaned"), first);
  auto log = open_log(cfg);
  EXPECT_FALSE(fs::exists(fs::path(seg(0, ".log").string() + ".swap")));
  EXPECT_FALSE(fs::exists(fs::path(seg(0, ".log").string() + ".cleaned")));
  EXPECT_EQ(fs::file_size(seg(0, ".log")), last_only.size());
  EXPECT_EQ(log->log_end_offset(), offset(8));
  auto all = read_all(*log);
  EXPECT_EQ(all.begin()->first, protocol::parse_batch_header(last_only)->base_offset);
}

}  // namespace
}  // namespace gregor::storage

namespace gregor::storage {
namespace {

result<append_result, storage_error> append_owned(partition_log& l, std::vector<uint8_t> bytes) {
  return l.append(bytes, leader_epoch(0));
}

std::vector<uint8_t> producer_batch(int64_t pid, int32_t seq, const std::string& key, int64_t ts,
                                    protocol::compression codec = protocol::compression::none) {
  protocol::record_input ri;
  ri.key = key;
  ri.value = std::string("v") + std::to_string(seq);
  ri.timestamp = ts;
  protocol::batch_options o;
  o.base_timestamp = ts;
  o.producer_id = pid;
  o.producer_epoch = 0;
  o.base_sequence = seq;
  o.codec = codec;
  return protocol::build_batch({ri}, o);
}

// Every batch header of the log, oldest first.
std::vector<protocol::batch_header> headers_of(const partition_log& log) {
  std::vector<protocol::batch_header> out;
  auto r = log.read(log.log_start_offset(), 1 << 30, offset(INT64_MAX), true);
  EXPECT_TRUE(r.has_value());
  for (size_t pos = 0; r && pos < r->data.size();) {
    auto h = protocol::parse_batch_header(std::span(r->data).subspan(pos));
    EXPECT_TRUE(h.has_value());
    EXPECT_TRUE(protocol::batch_crc_ok(std::span(r->data).subspan(pos, h->total_size())));
    out.push_back(*h);
    pos += h->total_size();
  }
  return out;
}

TEST_F(compaction, the_last_batch_of_an_active_producer_is_kept_empty_and_survives_a_reopen) {
  log_config cfg = compacted(200);  // about two batches per segment
  cfg.producer_id_expiration_ms = 60'000;
  auto log = open_log(cfg);
  // Producer 7 writes key "a" twice (offsets 0, 1, compressed); producer 8 then overwrites "a"
  // many times, so every batch of producer 7 loses its only record.
  ASSERT_TRUE(append_owned(*log, producer_batch(7, 0, "a", clk.now_ms(), protocol::compression::lz4)));
  ASSERT_TRUE(append_owned(*log, producer_batch(7, 1, "a", clk.now_ms(), protocol::compression::lz4)));
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(append_owned(*log, producer_batch(8, i, "a", clk.now_ms())));
  auto res = log->compact(clk.now_ms(), /*force=*/true);
  ASSERT_TRUE(res.has_value()) << res.error().message;
  auto check = [&](const partition_log& l) {
    auto hs = headers_of(l);
    ASSERT_FALSE(hs.empty());
    // Producer 7's first batch is gone; its last one (offset 1) stays with no records, uncompressed.
    EXPECT_NE(hs[0].base_offset, 0);
    auto it = std::find_if(hs.begin(), hs.end(), [](const auto& h) { return h.producer_id == 7; });
    ASSERT_NE(it, hs.end()) << "the active producer's last batch was dropped";
    EXPECT_EQ(it->base_offset, 1);
    EXPECT_EQ(it->base_sequence, 1);
    EXPECT_EQ(it->records_count, 0);
    EXPECT_EQ(it->codec(), protocol::compression::none);
    EXPECT_EQ(std::count_if(hs.begin(), hs.end(), [](const auto& h) { return h.producer_id == 7; }), 1);
    EXPECT_EQ(read_all(l).count(1), 0u) << "the emptied batch holds no record";
    EXPECT_EQ(l.log_end_offset(), offset(8));
  };
  check(*log);
  log.reset();
  auto reopened = open_log(cfg);  // full recovery scan accepts the empty batch
  check(*reopened);
}

TEST_F(compaction, an_expired_producers_emptied_batch_is_dropped) {
  log_config cfg = compacted(200);
  cfg.producer_id_expiration_ms = 60'000;
  auto log = open_log(cfg);
  ASSERT_TRUE(append_owned(*log, producer_batch(7, 0, "a", clk.now_ms())));
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(append_owned(*log, producer_batch(8, i, "a", clk.now_ms())));
  clk.advance(60'001);
  ASSERT_TRUE(log->compact(clk.now_ms(), /*force=*/true).has_value());
  auto hs = headers_of(*log);
  EXPECT_EQ(std::count_if(hs.begin(), hs.end(), [](const auto& h) { return h.producer_id == 7; }), 0);
}

}  // namespace
}  // namespace gregor::storage

// ---- the cleaner off the owner thread: plan / run / apply, key map bound, checkpoint ----
namespace gregor::storage {
namespace {

// Appends `n` single-record batches with keys "key<i % keys>" and returns offset -> key.
std::map<int64_t, std::string> append_keys(partition_log& log, int n, int keys, int64_t ts, int salt = 0) {
  std::map<int64_t, std::string> out;
  for (int i = 0; i < n; ++i) {
    std::string key = fmt::format("key{}", (i + salt) % keys);
    auto a = append_owned(log, keyed_batch({{key, fmt::format("v{}", i)}}, ts));
    EXPECT_TRUE(a.has_value());
    if (a) out[a->base_offset.value()] = key;
  }
  return out;
}

// The model: below the active segment only the newest offset of each key remains.
void expect_compacted(const partition_log& log, const std::map<int64_t, std::string>& history) {
  const int64_t active_base = log.segment_base_offsets().back();
  std::map<std::string, int64_t> newest;
  for (const auto& [off, key] : history)
    if (off < active_base) newest[key] = off;
  auto after = read_all(log);
  for (const auto& [off, key] : history) {
    const bool kept = off >= active_base || newest[key] == off;
    EXPECT_EQ(after.count(off), kept ? 1u : 0u) << "offset " << off << " key " << key;
  }
}

TEST_F(compaction, appends_and_reads_go_on_while_the_pass_runs_on_another_thread) {
  log_config cfg = compacted(400);
  auto log = open_log(cfg);
  auto history = append_keys(*log, 60, 5, clk.now_ms());
  auto plan = log->plan_compaction(clk.now_ms(), /*force=*/true);
  ASSERT_TRUE(plan.has_value());
  const size_t planned = plan->segments.size();
  result<compaction_output, storage_error> out = compaction_output{};
  std::thread cleaner([&] { out = partition_log::run_compaction(*plan); });
  // The owner keeps appending (rolling new segments) and reading while the pass runs.
  auto more = append_keys(*log, 60, 5, clk.now_ms(), 1);
  auto r = log->read(offset(0), 1 << 20, offset(INT64_MAX), true);
  EXPECT_TRUE(r.has_value());
  cleaner.join();
  ASSERT_TRUE(out.has_value()) << out.error().message;
  EXPECT_FALSE(out->segments.empty());
  for (const auto& c : out->segments)
    EXPECT_TRUE(fs::exists(seg(c.base_offset, ".log.cleaned"))) << "written by the cleaner, not swapped yet";
  auto applied = log->apply_compaction(*out, clk.now_ms());
  ASSERT_TRUE(applied.has_value()) << applied.error().message;
  EXPECT_GT(applied->records_removed, 0u);
  EXPECT_LE(applied->segments_cleaned, planned);
  EXPECT_EQ(log->log_end_offset(), offset(120));
  // Planned segments keep only their keys' newest records as of the plan; later ones are untouched.
  auto after = read_all(*log);
  const int64_t planned_end = plan->segments.back().next_offset;
  std::map<std::string, int64_t> newest;
  for (const auto& [off, key] : history)
    if (off < planned_end) newest[key] = off;
  for (const auto& [off, key] : history)
    if (off < planned_end) EXPECT_EQ(after.count(off), newest[key] == off ? 1u : 0u) << off;
  for (const auto& [off, key] : more) EXPECT_EQ(after.count(off), 1u) << off;
  EXPECT_EQ(log->cleaner_offset(), offset(planned_end));
}

TEST_F(compaction, a_segment_deleted_before_the_swap_is_skipped_and_its_cleaned_file_removed) {
  log_config cfg;
  cfg.segment_bytes = 400;
  cfg.compact = true;
  cfg.delete_enabled = true;
  cfg.file_delete_delay_ms = 0;
  auto log = open_log(cfg);
  append_keys(*log, 60, 5, clk.now_ms());
  auto plan = log->plan_compaction(clk.now_ms(), true);
  ASSERT_TRUE(plan.has_value());
  auto out = partition_log::run_compaction(*plan);
  ASSERT_TRUE(out.has_value()) << out.error().message;
  ASSERT_FALSE(out->segments.empty());
  const int64_t first = out->segments.front().base_offset;
  // DeleteRecords removes the first cleaned segment before the swap comes back.
  ASSERT_TRUE(log->advance_log_start_offset(offset(plan->segments[1].base_offset), clk.now_ms()));
  ASSERT_TRUE(log->enforce_retention(clk.now_ms()).has_value());
  auto applied = log->apply_compaction(*out, clk.now_ms());
  ASSERT_TRUE(applied.has_value()) << applied.error().message;
  EXPECT_FALSE(fs::exists(seg(first, ".log.cleaned")));
  EXPECT_FALSE(fs::exists(seg(first, ".log")));
  EXPECT_EQ(log->log_start_offset(), offset(plan->segments[1].base_offset));
}

TEST_F(compaction, a_full_key_map_cleans_fewer_segments_per_pass_and_later_passes_finish_the_job) {
  log_config cfg = compacted(400);
  cfg.min_cleanable_dirty_ratio = 0;
  auto log = open_log(cfg);
  auto history = append_keys(*log, 120, 40, clk.now_ms());
  const size_t map_max = 8 * (5 + 24);  // about eight 5-byte keys
  auto first = log->compact(clk.now_ms(), false, map_max);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  const int64_t active_base = log->segment_base_offsets().back();
  EXPECT_GT(log->cleaner_offset().value(), 0);
  EXPECT_LT(log->cleaner_offset().value(), active_base) << "the bounded map stopped early";
  int passes = 1;
  while (log->cleaner_offset().value() < active_base) {
    const int64_t before = log->cleaner_offset().value();
    auto r = log->compact(clk.now_ms(), false, map_max);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    ASSERT_GT(log->cleaner_offset().value(), before) << "every pass makes progress";
    ++passes;
  }
  EXPECT_GT(passes, 2);
  // Pass by pass, the bounded passes reach what one unbounded pass would.
  expect_compacted(*log, history);
}

// read() remembers where it stopped so that the next read skips the index lookup; a compaction in
// between moves every batch, and the remembered position must not be trusted blindly.
TEST_F(compaction, the_position_a_read_remembers_is_checked_after_compaction_moves_batches) {
  log_config cfg = compacted(2000);
  auto log = open_log(cfg);
  for (int i = 0; i < 60; ++i) {
    auto b = keyed_batch({{fmt::format("k{}", i % 4), fmt::format("v{}", i)}}, clk.now_ms());
    ASSERT_TRUE(log->append(b, leader_epoch(0)).has_value());
  }
  // Stop in the middle of the first segment, as a consumer's fetch with a small max_bytes does.
  auto first = log->read(offset(0), 500, offset(INT64_MAX), true);
  ASSERT_TRUE(first.has_value());
  int64_t next = 0;
  for (size_t pos = 0; pos < first->data.size();) {
    auto h = protocol::parse_batch_header(std::span(first->data).subspan(pos));
    ASSERT_TRUE(h.has_value());
    next = h->last_offset() + 1;
    pos += h->total_size();
  }
  ASSERT_GT(next, 0);
  ASSERT_GT(log->compact(clk.now_ms(), /*force=*/true)->records_removed, 0u);
  // What survived at or after `next`, from a full read.
  auto all = read_all(*log);
  auto expect = all.lower_bound(next);
  ASSERT_NE(expect, all.end());
  auto again = log->read(offset(next), 1 << 20, offset(INT64_MAX), true);
  ASSERT_TRUE(again.has_value());
  // The first batch holding a record (before it: empty batches that keep the ends of segments
  // whose last batches went).
  std::span<const uint8_t> rest(again->data);
  auto h = protocol::parse_batch_header(rest);
  while (h && h->records_count == 0 && h->total_size() < rest.size()) {
    EXPECT_LT(h->last_offset(), expect->first);
    rest = rest.subspan(h->total_size());
    h = protocol::parse_batch_header(rest);
  }
  ASSERT_TRUE(h.has_value());
  EXPECT_LE(h->base_offset, expect->first);
  EXPECT_GE(h->last_offset(), expect->first);
  // And the hint set by a read is used by the next one without changing the answer.
  auto step = log->read(offset(expect->first), 200, offset(INT64_MAX), true);
  ASSERT_TRUE(step.has_value());
  auto sh = protocol::parse_batch_header(step->data);
  ASSERT_TRUE(sh.has_value());
  auto after = all.upper_bound(sh->last_offset());
  if (after != all.end()) {
    auto next_read = log->read(offset(sh->last_offset() + 1), 1 << 20, offset(INT64_MAX), true);
    ASSERT_TRUE(next_read.has_value());
    auto nh = protocol::parse_batch_header(next_read->data);
    ASSERT_TRUE(nh.has_value());
    EXPECT_LE(nh->base_offset, after->first);
    EXPECT_GE(nh->last_offset(), after->first);
  }
}

TEST_F(compaction, cleaner_offset_is_checkpointed_and_restored_at_open) {
  log_config cfg = compacted(400);
  int64_t cleaned_to = 0;
  {
    auto m = log_manager::open(tmp.path, clk, test_env::log_manager_cache_bytes(), test_env::log_manager_writer_bytes());
    ASSERT_TRUE(m.has_value());
    auto p = (*m)->open_partition(tp, id, cfg);
    ASSERT_TRUE(p.has_value());
    append_keys(**p, 60, 5, clk.now_ms());
    ASSERT_TRUE((**p).compact(clk.now_ms(), true).has_value());
    cleaned_to = (**p).cleaner_offset().value();
    ASSERT_GT(cleaned_to, 0);
    ASSERT_TRUE((*m)->checkpoint().has_value());
    auto text = slurp(tmp.path / "cleaner-offset-checkpoint");
    EXPECT_EQ(std::string(text.begin(), text.end()), fmt::format("0\n1\npay 0 {}\n", cleaned_to));
    ASSERT_TRUE((*m)->close_all().has_value());
  }
  auto m = log_manager::open(tmp.path, clk, test_env::log_manager_cache_bytes(), test_env::log_manager_writer_bytes());
  ASSERT_TRUE(m.has_value());
  auto p = (*m)->open_partition(tp, id, cfg);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ((**p).cleaner_offset(), offset(cleaned_to));
  EXPECT_FALSE((**p).plan_compaction(clk.now_ms(), false).has_value()) << "nothing dirty: no recleaning";
}

TEST(cleaner_thread, runs_jobs_in_order_off_the_caller_thread_and_refuses_past_its_bound) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::vector<int> ran;
  const auto caller = std::this_thread::get_id();
  std::thread::id worker;
  cleaner_thread t(2);
  ASSERT_TRUE(t.submit([&] {
    std::unique_lock lock(mu);
    worker = std::this_thread::get_id();
    cv.wait(lock, [&] { return release; });
    ran.push_back(1);
  }));
  // The first job may or may not have been taken yet: fill the queue until it refuses.
  int queued = 0;
  while (queued < 10 && t.submit([&] { std::lock_guard lock(mu); ran.push_back(2); })) ++queued;
  EXPECT_LE(queued, 2) << "the queue bound holds";
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  while (t.pending() > 0) std::this_thread::yield();
  t.stop();
  EXPECT_FALSE(t.submit([] {})) << "stopped";
  std::lock_guard lock(mu);
  EXPECT_NE(worker, caller);
  ASSERT_FALSE(ran.empty());
  EXPECT_EQ(ran.front(), 1);
}

}  // namespace
}  // namespace gregor::storage
