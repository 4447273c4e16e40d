// Proves that the tail cache keeps the most recent appends of every region within one broker-wide
// bound, evicting the oldest appends first, and that logs using it serve the same bytes from
// memory that they would read from their files.
#include <algorithm>
#include <random>

#include <gtest/gtest.h>

#include "gregor/base/clock.h"
#include "gregor/protocol/record_batch.h"
#include "gregor/storage/log_manager.h"
#include "gregor/storage/partition_log.h"
#include "gregor/storage/tail_cache.h"
#include "test_env.h"

namespace gregor::storage {
namespace {
namespace fs = std::filesystem;

std::vector<uint8_t> bytes_of(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(seed + i * 7);
  return v;
}

std::vector<uint8_t> read_all(const tail_cache::region& r, uint64_t pos, size_t len) {
  std::vector<uint8_t> out;
  r.read(pos, len, out);
  return out;
}

TEST(tail_cache_test, a_region_returns_what_was_appended_across_chunks) {
  tail_cache c(16 << 20);
  auto r = c.make_region(100);
  std::vector<uint8_t> all;
  uint64_t pos = 100;
  for (size_t n : {10u, 5000u, 1u, 70000u, 300u, 2'000'000u, 17u}) {
    auto b = bytes_of(n, uint8_t(n));
    r->append(pos, b);
    pos += n;
    all.insert(all.end(), b.begin(), b.end());
  }
  EXPECT_EQ(r->start(), 100u);
  EXPECT_EQ(r->end(), pos);
  EXPECT_EQ(read_all(*r, 100, all.size()), all);
  // Any range, including ones that cross chunk boundaries; short at the end.
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200; ++i) {
    const uint64_t at = 100 + rng() % all.size();
    const size_t len = 1 + rng() % 100000;
    auto got = read_all(*r, at, len);
    const size_t want = std::min<size_t>(len, size_t(pos - at));
    ASSERT_EQ(got.size(), want) << "at " << at << " len " << len;
    EXPECT_TRUE(std::equal(got.begin(), got.end(), all.begin() + std::ptrdiff_t(at - 100)));
  }
  EXPECT_TRUE(read_all(*r, 99, 10).empty());   // before the region
  EXPECT_TRUE(read_all(*r, pos, 10).empty());  // at its end
  EXPECT_GE(c.bytes(), all.size());
  EXPECT_LE(c.bytes(), all.size() + (2 << 20));  // chunk slack is bounded by the chunk size
}

// share(): a view of one chunk, no copy. It keeps its bytes while the region moves on: more
// appends fill the chunk's reserved room (never reallocating it), eviction and reset drop the
// chunk from the region, but the view's owner keeps its memory.
TEST(tail_cache_test, a_shared_view_keeps_its_bytes_after_appends_eviction_and_reset) {
  tail_cache c(1 << 20);
  auto r = c.make_region(0);
  r->append(0, bytes_of(3000, 1));  // the first chunk holds 4 KiB
  auto first = r->share(1000, 1500);
  ASSERT_TRUE(first);
  const auto want = read_all(*r, 1000, 1500);
  EXPECT_TRUE(std::equal(first->bytes.begin(), first->bytes.end(), want.begin(), want.end()));
  EXPECT_EQ(c.hit_bytes(), 3000u);  // read_all's 1500 and share's 1500
  r->append(3000, bytes_of(900, 2));  // into the same chunk's room
  EXPECT_FALSE(r->share(3000, 1000));  // past the end
  EXPECT_FALSE(r->share(0, 0));
  r->append(3900, bytes_of(5000, 3));  // the rest goes to a second chunk
  EXPECT_FALSE(r->share(3000, 2000)) << "a range across two chunks is copied, not shared";
  auto second = r->share(4200, 1000);
  ASSERT_TRUE(second);
  EXPECT_TRUE(std::ranges::equal(second->bytes, read_all(*r, 4200, 1000)));
  for (int i = 0; i < 40; ++i) r->append(r->end(), bytes_of(60000, uint8_t(i)));  // evicts the first chunks
  EXPECT_GT(r->start(), 5000u);
  EXPECT_LE(c.bytes(), size_t(1) << 20);
  r->reset(100);
  r->append(100, std::vector<uint8_t>(8000, 0xee));
  EXPECT_TRUE(std::equal(first->bytes.begin(), first->bytes.end(), want.begin(), want.end()));
  const auto third = bytes_of(5000, 3);
  EXPECT_TRUE(std::equal(second->bytes.begin(), second->bytes.end(), third.begin() + 300, third.begin() + 1300));
}

TEST(tail_cache_test, an_append_the_region_did_not_follow_restarts_it) {
  tail_cache c(1 << 20);
  auto r = c.make_region(0);
  r->append(0, bytes_of(100, 1));
  r->append(500, bytes_of(50, 2));  // a gap: what it held no longer ends at the file's end
  EXPECT_EQ(r->start(), 500u);
  EXPECT_EQ(r->end(), 550u);
  EXPECT_EQ(read_all(*r, 500, 50), bytes_of(50, 2));
  r->reset(20);
  EXPECT_EQ(r->start(), 20u);
  EXPECT_EQ(r->end(), 20u);
  EXPECT_EQ(c.bytes(), 0u);
}

TEST(tail_cache_test, the_oldest_appends_across_regions_go_first_and_the_bound_holds) {
  const size_t bound = 1 << 20;
  tail_cache c(bound);
  auto a = c.make_region(0);
  auto b = c.make_region(0);
  uint64_t pa = 0, pb = 0;
  for (int i = 0; i < 40; ++i) {
    a->append(pa, bytes_of(64 << 10, uint8_t(i)));
    pa += 64 << 10;
    EXPECT_LE(c.bytes(), bound);
  }
  const uint64_t a_start_before = a->start();
  EXPECT_GT(a_start_before, 0u);  // the region evicted its own oldest chunks
  for (int i = 0; i < 40; ++i) {
    b->append(pb, bytes_of(64 << 10, uint8_t(i)));
    pb += 64 << 10;
    EXPECT_LE(c.bytes(), bound);
  }
  // b's appends are newer than all of a's: a lost everything before b lost anything.
  EXPECT_EQ(a->start(), a->end());
  EXPECT_EQ(b->end(), pb);
  EXPECT_LT(b->end() - b->start(), uint64_t(bound) + 1);
  EXPECT_GT(b->end() - b->start(), uint64_t(bound) / 4);
  // What stayed is the newest data, intact.
  EXPECT_EQ(read_all(*b, pb - (64 << 10), 64 << 10), bytes_of(64 << 10, 39));
  EXPECT_GT(c.evicted_bytes(), 0u);
  a.reset();
  b.reset();
  EXPECT_EQ(c.bytes(), 0u);
}

TEST(tail_cache_test, an_append_larger_than_the_bound_is_not_kept) {
  tail_cache c(4096);
  auto r = c.make_region(0);
  r->append(0, bytes_of(100000, 3));
  EXPECT_EQ(c.bytes(), 0u);
  EXPECT_EQ(r->start(), r->end());
  EXPECT_EQ(r->end(), 100000u);
  r->append(100000, bytes_of(100, 4));  // small appends are kept again
  EXPECT_EQ(read_all(*r, 100000, 100), bytes_of(100, 4));
}

TEST(tail_cache_test, a_zero_bound_keeps_nothing) {
  tail_cache c(0);
  auto r = c.make_region(0);
  r->append(0, bytes_of(1000, 3));
  EXPECT_EQ(c.bytes(), 0u);
  EXPECT_FALSE(r->holds(0));
  EXPECT_EQ(r->end(), 1000u);
}

TEST(tail_cache_test, the_eviction_queue_stays_bounded_while_regions_come_and_go) {
  tail_cache c(64 << 20);  // never full: only compaction removes the dead regions' entries
  for (int i = 0; i < 5000; ++i) {
    auto r = c.make_region(0);
    r->append(0, bytes_of(10, 1));
    r->append(10, bytes_of(5000, 1));  // a second chunk
  }
  EXPECT_EQ(c.bytes(), 0u);
  EXPECT_LT(c.queued_chunks(), 200u);
}

// ---- logs that use the cache ----

constexpr int64_t t0 = 1'700'000'000'000;

struct scratch {
  fs::path path;
  scratch() {
    std::random_device rd;
    path = fs::temp_directory_path() / fmt::format("gregor-tail-{:x}{:x}", rd(), rd());
    fs::create_directories(path);
  }
  ~scratch() { fs::remove_all(path); }
};

std::vector<uint8_t> batch(int n, size_t value_bytes) { return test_env::batch_of(n, t0, value_bytes); }

struct cached_log_test : ::testing::TestWithParam<bool> {  // param: direct I/O
  scratch tmp;
  manual_clock clk{t0};
  tail_cache cache{8 << 20};
  topic_partition tp{"t", partition_id(0)};

  std::unique_ptr<partition_log> open(const fs::path& dir, tail_cache* c, int64_t segment_bytes = 1 << 30) {
    log_config cfg;
    cfg.segment_bytes = segment_bytes;
    cfg.direct_io = GetParam();
    open_hints h;
    h.cache = c;
    auto r = partition_log::open(dir, tp, uuid{1, 2}, cfg, clk, h);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? std::move(*r) : nullptr;
  }
};

TEST_P(cached_log_test, reads_near_the_end_come_from_memory_and_match_the_files) {
  auto log = open(tmp.path / "t-0", &cache, 512 << 10);
  std::vector<int64_t> bases;
  for (int i = 0; i < 60; ++i) {
    auto b = batch(1 + i % 5, size_t(1000 + 3000 * (i % 7)));  // 1 KB .. 100 KB batches
    auto r = log->append(b, leader_epoch(1));
    ASSERT_TRUE(r) << r.error().message;
    bases.push_back(r->base_offset.value());
  }
  ASSERT_GT(log->segment_count(), 1u);  // rolled: the previous segment keeps its cached tail
  const uint64_t file_before = cache.miss_bytes();
  // Every fetch position a consumer could ask for (mid-batch too), whole batches back.
  std::vector<std::vector<uint8_t>> from_memory;
  for (int64_t off = 0; off < log->log_end_offset().value(); off += 3) {
    auto r = log->read(offset(off), 256 << 10, offset(INT64_MAX), true);
    ASSERT_TRUE(r) << r.error().message;
    from_memory.emplace_back(r->data.begin(), r->data.end());
  }
  EXPECT_EQ(cache.miss_bytes(), file_before);  // 8 MiB holds all of it: no file reads
  EXPECT_GT(cache.hit_bytes(), 0u);
  ASSERT_TRUE(log->close());
  log.reset();
  // The same reads from the files alone (reopened without a cache) give the same bytes.
  auto plain = open(tmp.path / "t-0", nullptr, 512 << 10);
  size_t i = 0;
  for (int64_t off = 0; off < plain->log_end_offset().value(); off += 3, ++i) {
    auto r = plain->read(offset(off), 256 << 10, offset(INT64_MAX), true);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(std::vector<uint8_t>(r->data.begin(), r->data.end()), from_memory[i]) << "offset " << off;
  }
  EXPECT_EQ(cache.bytes(), 0u);  // the closed log released its regions
}

// Reads that share (a Fetch's) return the bytes a copying read does, from every offset: a range
// within one tail-cache chunk as a view, anything else (two chunks, two segments, the file) copied.
TEST_P(cached_log_test, shared_reads_return_what_copying_reads_do) {
  auto log = open(tmp.path / "t-0", &cache, 512 << 10);
  for (int i = 0; i < 60; ++i) {
    auto b = batch(1 + i % 5, size_t(1000 + 3000 * (i % 7)));
    ASSERT_TRUE(log->append(b, leader_epoch(1)));
  }
  ASSERT_GT(log->segment_count(), 1u);
  int shared = 0, copied = 0;
  for (int64_t off = 0; off < log->log_end_offset().value(); ++off) {
    for (size_t max_bytes : {size_t(1), size_t(40) << 10, size_t(256) << 10}) {
      auto copy = log->read(offset(off), max_bytes, offset(INT64_MAX), true);
      auto view = log->read(offset(off), max_bytes, offset(INT64_MAX), true, /*share=*/true);
      ASSERT_TRUE(copy && view);
      EXPECT_FALSE(copy->shared.owner);  // only when asked
      ASSERT_TRUE(std::ranges::equal(view->bytes(), copy->bytes())) << "offset " << off << " max " << max_bytes;
      (view->shared.owner ? shared : copied) += 1;
    }
  }
  EXPECT_GT(shared, 0);
  EXPECT_GT(copied, 0);
}

TEST_P(cached_log_test, evicted_data_is_read_from_the_files) {
  tail_cache small(256 << 10);
  auto log = open(tmp.path / "t-0", &small);
  std::vector<std::vector<uint8_t>> written;
  for (int i = 0; i < 40; ++i) {
    auto b = batch(2, 20000);
    ASSERT_TRUE(log->append(b, leader_epoch(1)));
    written.push_back(b);  // offsets assigned in place
  }
  EXPECT_LE(small.bytes(), 256u << 10);
  for (int64_t off = 0; off < 80; off += 2) {
    auto r = log->read(offset(off), 1, offset(INT64_MAX), true);  // one batch
    ASSERT_TRUE(r);
    ASSERT_EQ(std::vector<uint8_t>(r->data.begin(), r->data.end()), written[size_t(off / 2)]) << off;
  }
  EXPECT_GT(small.miss_bytes(), 0u);  // the oldest batches came from the file
  EXPECT_GT(small.hit_bytes(), 0u);   // the newest from memory
  // One read across the boundary: the file up to the cached tail, memory from there.
  const uint64_t hits = small.hit_bytes(), misses = small.miss_bytes();
  auto all = log->read(offset(0), 64 << 20, offset(INT64_MAX), true);
  ASSERT_TRUE(all);
  std::vector<uint8_t> expected;
  for (const auto& b : written) expected.insert(expected.end(), b.begin(), b.end());
  EXPECT_EQ(std::vector<uint8_t>(all->data.begin(), all->data.end()), expected);
  EXPECT_GT(small.hit_bytes(), hits);
  EXPECT_GT(small.miss_bytes(), misses);
  EXPECT_EQ(small.hit_bytes() - hits + small.miss_bytes() - misses, expected.size());
}

TEST_P(cached_log_test, truncation_drops_the_cached_tail_past_the_cut) {
  auto log = open(tmp.path / "t-0", &cache);
  auto replica = [](int64_t base, int32_t epoch, size_t value_bytes) {
    auto b = batch(1, value_bytes);
    protocol::set_base_offset(b, base);  // neither field is covered by the CRC
    protocol::set_partition_leader_epoch(b, epoch);
    return b;
  };
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(log->append_with_offsets(replica(i, 1, 500)));
  ASSERT_TRUE(log->truncate_to(offset(4)));
  // A new leader's different batches at the same offsets.
  for (int i = 4; i < 8; ++i) ASSERT_TRUE(log->append_with_offsets(replica(i, 2, 900)));
  for (int64_t off = 0; off < 8; ++off) {
    auto r = log->read(offset(off), 1, offset(INT64_MAX), true);
    ASSERT_TRUE(r);
    auto h = protocol::parse_batch_header(std::span<const uint8_t>(r->data.data(), r->data.size()));
    ASSERT_TRUE(h);
    EXPECT_EQ(h->base_offset, off);
    EXPECT_EQ(h->partition_leader_epoch, off < 4 ? 1 : 2) << off;
    EXPECT_EQ(h->total_size(), r->data.size());
  }
  EXPECT_GT(cache.hit_bytes(), 0u);
}

INSTANTIATE_TEST_SUITE_P(io, cached_log_test, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "direct" : "buffered"; });

TEST(tail_cache_log_manager_test, every_log_of_the_manager_shares_its_bound) {
  scratch tmp;
  manual_clock clk{t0};
  auto m = log_manager::open(tmp.path, clk, 512 << 10);
  ASSERT_TRUE(m) << m.error().message;
  for (int p = 0; p < 4; ++p) {
    auto l = (*m)->open_partition(topic_partition{"t", partition_id(p)}, uuid{1, 2}, log_config{});
    ASSERT_TRUE(l);
    for (int i = 0; i < 20; ++i) {
      auto b = batch(1, 30000);
      ASSERT_TRUE((*l)->append(b, leader_epoch(1)));
    }
  }
  EXPECT_EQ((*m)->cache().max_bytes(), 512u << 10);
  EXPECT_LE((*m)->cache().bytes(), 512u << 10);
  EXPECT_GT((*m)->cache().bytes(), 256u << 10);
  EXPECT_GT((*m)->cache().evicted_bytes(), 0u);
}

}  // namespace
}  // namespace gregor::storage
