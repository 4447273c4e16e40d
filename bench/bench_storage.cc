// bench_storage: the storage module's hot paths, on files in $TMPDIR (page cache; nothing fsyncs:
// flush.ms/flush.messages stay at their "never" defaults, so writeback is left to the kernel).
//   append/<batch_bytes>: partition_log::append of one 16 KiB (16 x 1 KiB records) or 1 MiB
//     (1024 records) batch, including offset assignment, index entries and the write(2). The log
//     is recreated (outside the timing) every 512 MiB so the run does not fill the disk.
//   offset_index_lookup_{hit,miss}/<entries>: offset_index::lookup of a random target that is
//     (hit) exactly an indexed offset, or (miss) between two indexed offsets; 1e4..1e6 entries.
//   time_index_lookup/<entries>: time_index::lookup_before of a random timestamp;
//     time_index_find_{hit,miss}: find_exact of a present / absent timestamp.
//   fetch_read/<max_bytes>: partition_log::read of up to 1 MiB (min_one) from a random offset of
//     a 256 MiB log of 16 KiB batches that is in the page cache (a consumer's fetch).
// bytes_per_second counts batch bytes appended or read.
// Run: build/bin/bench_storage [--benchmark_filter=append]
#include <filesystem>
#include <random>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "gregor/base/clock.h"
#include "gregor/protocol/record_batch.h"
#include "gregor/storage/offset_index.h"
#include "gregor/storage/partition_log.h"
#include "gregor/storage/time_index.h"

namespace {
namespace fs = std::filesystem;
using namespace gregor;

fs::path temp_dir(std::string_view what) {
  std::random_device rd;
  return fs::temp_directory_path() / fmt::format("gregor-bench-{}-{:x}", what, rd());
}

std::vector<uint8_t> make_batch(size_t records) {
  std::vector<protocol::record_input> recs(records);
  for (size_t i = 0; i < records; ++i) {
    recs[i].key = fmt::format("key-{}", i);
    recs[i].value = std::string(1024, char('a' + i % 26));
  }
  protocol::batch_options o;
  o.base_timestamp = 1'700'000'000'000;
  return protocol::build_batch(recs, o);
}

std::unique_ptr<storage::partition_log> open_log(const fs::path& dir, gregor::clock& clk) {
  auto log = storage::partition_log::open(dir, {"bench", partition_id(0)}, uuid{1, 2}, {}, clk);
  if (!log) throw std::runtime_error(log.error().message);
  return std::move(*log);
}

void append(benchmark::State& state) {
  auto batch = make_batch(size_t(state.range(0)) / 1024);
  manual_clock clk;
  const auto dir = temp_dir("append");
  auto log = open_log(dir, clk);
  for (auto _ : state) {
    auto r = log->append(batch, leader_epoch(0));
    if (!r) state.SkipWithError(r.error().message.c_str());
    if (log->size_bytes() >= (512u << 20)) {
      state.PauseTiming();
      log.reset();
      fs::remove_all(dir);
      log = open_log(dir, clk);
      state.ResumeTiming();
    }
  }
  state.SetBytesProcessed(int64_t(state.iterations() * batch.size()));
  log.reset();
  fs::remove_all(dir);
}
BENCHMARK(append)->Arg(16 << 10)->Arg(1 << 20);

void store_be(uint8_t* p, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) *p++ = uint8_t(v >> (8 * i));
}

// An offset index of `entries` entries (every 16th offset, one per 4 KiB), written in Kafka's file
// format and loaded with offset_index::open. Base offset 1000.
constexpr int64_t index_base = 1000;
storage::offset_index make_offset_index(const fs::path& path, size_t entries) {
  std::vector<uint8_t> bytes(entries * 8);
  for (size_t i = 0; i < entries; ++i) {
    store_be(bytes.data() + i * 8, (i + 1) * 16, 4);
    store_be(bytes.data() + i * 8 + 4, (i + 1) * 4096, 4);
  }
  auto f = storage::file::open(path);
  if (!f || !f->pwrite(0, bytes)) throw std::runtime_error("cannot write the index");
  auto idx = storage::offset_index::open(path, index_base, (entries + 2) * 4096, entries * 8 + 8);
  if (!idx || idx->entry_count() != entries) throw std::runtime_error("cannot load the index");
  return std::move(*idx);
}

// 4096 random targets: indexed offsets (hit) or offsets strictly between two entries (miss).
std::vector<int64_t> random_targets(size_t entries, bool hit) {
  std::mt19937_64 rng(7);
  std::vector<int64_t> t(4096);
  for (auto& v : t) v = index_base + int64_t(rng() % entries + 1) * 16 - (hit ? 0 : 1 + int64_t(rng() % 15));
  return t;
}

void offset_index_lookup(benchmark::State& state, bool hit) {
  const size_t entries = size_t(state.range(0));
  const auto dir = temp_dir("oindex");
  fs::create_directories(dir);
  auto idx = make_offset_index(dir / "0.index", entries);
  const auto targets = random_targets(entries, hit);
  size_t i = 0;
  for (auto _ : state) {
    auto e = idx.lookup(targets[i++ & 4095]);
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
  idx.close();
  fs::remove_all(dir);
}
void offset_index_lookup_hit(benchmark::State& s) { offset_index_lookup(s, true); }
void offset_index_lookup_miss(benchmark::State& s) { offset_index_lookup(s, false); }
BENCHMARK(offset_index_lookup_hit)->RangeMultiplier(10)->Range(10'000, 1'000'000);
BENCHMARK(offset_index_lookup_miss)->RangeMultiplier(10)->Range(10'000, 1'000'000);

// A time index of `entries` entries with timestamps base_ts + 10 * i (even numbers only).
constexpr int64_t ts_base = 1'700'000'000'000;
storage::time_index make_time_index(const fs::path& path, size_t entries) {
  std::vector<uint8_t> bytes(entries * 12);
  for (size_t i = 0; i < entries; ++i) {
    store_be(bytes.data() + i * 12, uint64_t(ts_base + int64_t(i) * 10), 8);
    store_be(bytes.data() + i * 12 + 8, (i + 1) * 16, 4);
  }
  auto f = storage::file::open(path);
  if (!f || !f->pwrite(0, bytes)) throw std::runtime_error("cannot write the time index");
  auto idx = storage::time_index::open(path, index_base, entries * 12 + 12);
  if (!idx || idx->entry_count() != entries) throw std::runtime_error("cannot load the time index");
  return std::move(*idx);
}

enum class ts_query { lookup_before, find_hit, find_miss };

void time_index_bench(benchmark::State& state, ts_query q) {
  const size_t entries = size_t(state.range(0));
  const auto dir = temp_dir("tindex");
  fs::create_directories(dir);
  auto idx = make_time_index(dir / "0.timeindex", entries);
  std::mt19937_64 rng(11);
  std::vector<int64_t> ts(4096);
  for (auto& v : ts) {
    v = ts_base + int64_t(rng() % entries) * 10;
    if (q != ts_query::find_hit) v += 5;  // absent from the index
  }
  size_t i = 0;
  for (auto _ : state) {
    auto e = q == ts_query::lookup_before ? idx.lookup_before(ts[i++ & 4095]) : idx.find_exact(ts[i++ & 4095]);
    if (q == ts_query::find_hit && !e) state.SkipWithError("timestamp not found");
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
  idx.close();
  fs::remove_all(dir);
}
void time_index_lookup(benchmark::State& s) { time_index_bench(s, ts_query::lookup_before); }
void time_index_find_hit(benchmark::State& s) { time_index_bench(s, ts_query::find_hit); }
void time_index_find_miss(benchmark::State& s) { time_index_bench(s, ts_query::find_miss); }
BENCHMARK(time_index_lookup)->RangeMultiplier(10)->Range(10'000, 1'000'000);
BENCHMARK(time_index_find_hit)->RangeMultiplier(10)->Range(10'000, 1'000'000);
BENCHMARK(time_index_find_miss)->RangeMultiplier(10)->Range(10'000, 1'000'000);

void fetch_read(benchmark::State& state) {
  manual_clock clk;
  const auto dir = temp_dir("fetch");
  auto log = open_log(dir, clk);
  auto batch = make_batch(16);
  while (log->size_bytes() < (256u << 20)) {
    if (auto r = log->append(batch, leader_epoch(0)); !r) throw std::runtime_error(r.error().message);
  }
  const int64_t end = log->log_end_offset().value();
  std::mt19937_64 rng(3);
  size_t bytes = 0;
  for (auto _ : state) {
    auto r = log->read(offset(int64_t(rng() % uint64_t(end))), size_t(state.range(0)), offset(end));
    if (!r) state.SkipWithError(r.error().message.c_str());
    else bytes += r->data.size();
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(int64_t(bytes));
  log.reset();
  fs::remove_all(dir);
}
BENCHMARK(fetch_read)->Arg(1 << 20);

}  // namespace

BENCHMARK_MAIN();
