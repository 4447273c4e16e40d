// bench_recovery: how long a partition log takes to open after a crash (every segment scanned with
// CRC checks and indexes rebuilt, as with no recovery-point checkpoint) versus after a clean
// shutdown, for a log of a given size. Reports seconds per GiB ("s_per_GiB").
// Run: build/bin/bench_recovery [--benchmark_filter=...]; the data lives in $TMPDIR.
#include <filesystem>
#include <random>

#include <benchmark/benchmark.h>

#include "gregor/base/clock.h"
#include "gregor/protocol/record_batch.h"
#include "gregor/storage/partition_log.h"

namespace {
namespace fs = std::filesystem;
using namespace gregor;

struct prepared_log {
  fs::path dir;
  size_t bytes = 0;
};

// Writes `mib` MiB of 16 KiB batches (16 records of 1 KiB) into a fresh log and closes it.
prepared_log prepare(int64_t mib) {
  std::random_device rd;
  prepared_log p;
  p.dir = fs::temp_directory_path() / fmt::format("gregor-recovery-bench-{:x}", rd());
  manual_clock clk;
  storage::log_config cfg;
  cfg.segment_bytes = 256 << 20;
  auto log = storage::partition_log::open(p.dir, {"bench", partition_id(0)}, uuid{1, 2}, cfg, clk);
  if (!log) throw std::runtime_error(log.error().message);
  std::vector<protocol::record_input> recs(16);
  for (size_t i = 0; i < recs.size(); ++i) {
    recs[i].key = fmt::format("key-{}", i);
    recs[i].value = std::string(1024, char('a' + i));
  }
  protocol::batch_options o;
  o.base_timestamp = clk.now_ms();
  const auto batch = protocol::build_batch(recs, o);
  while ((*log)->size_bytes() < size_t(mib) << 20) {
    auto copy = batch;
    if (auto r = (*log)->append(copy, leader_epoch(0)); !r) throw std::runtime_error(r.error().message);
  }
  p.bytes = (*log)->size_bytes();
  (void)(*log)->close();
  return p;
}

void open_log(benchmark::State& state, bool crashed) {
  auto p = prepare(state.range(0));
  manual_clock clk;
  storage::open_hints hints;
  if (!crashed) {
    hints.clean_shutdown = true;
    hints.recovery_point = INT64_MAX;
  }
  for (auto _ : state) {
    auto log = storage::partition_log::open(p.dir, {"bench", partition_id(0)}, uuid{}, {}, clk, hints);
    if (!log) state.SkipWithError(log.error().message.c_str());
    benchmark::DoNotOptimize(log);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(p.bytes));
  state.counters["s_per_GiB"] = benchmark::Counter(
      double(p.bytes) / double(1 << 30), benchmark::Counter::kIsIterationInvariantRate |
                                              benchmark::Counter::kInvert);
  fs::remove_all(p.dir);
}

void recovery_after_crash(benchmark::State& state) { open_log(state, true); }
void open_after_clean_shutdown(benchmark::State& state) { open_log(state, false); }

BENCHMARK(recovery_after_crash)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(open_after_clean_shutdown)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
