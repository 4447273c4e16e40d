// bench_crc32c: throughput of gregor::crc32c (src/base/crc32c.cc) from 64 B to 1 MiB, in bytes/s
// (Google Benchmark prints it as "bytes_per_second"; 1 G/s = 2^30 B/s). The input stays in cache
// (L1 up to 16 KiB, L2/L3 beyond), so this is the instruction-bound figure. `single_lane` is the
// plain one-chain _mm_crc32_u64 loop for comparison: the three-lane code should be ~3x faster on
// inputs of a few KiB and more.
// Run: build/bin/bench_crc32c [--benchmark_filter=crc32c/65536]
#include <cstring>
#include <vector>

#include <benchmark/benchmark.h>

#include "gregor/base/crc32c.h"

#if defined(__SSE4_2__)
#include <nmmintrin.h>
#endif

namespace {

std::vector<uint8_t> make_input(size_t n) {
  std::vector<uint8_t> v(n);
  uint32_t x = 0x12345678u;
  for (auto& b : v) {
    x = x * 1664525u + 1013904223u;
    b = uint8_t(x >> 24);
  }
  return v;
}

void crc32c(benchmark::State& state) {
  const auto in = make_input(size_t(state.range(0)));
  uint32_t crc = 0;
  for (auto _ : state) {
    crc = gregor::crc32c(in.data(), in.size(), crc);
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * state.range(0));
}
BENCHMARK(crc32c)->RangeMultiplier(4)->Range(64, 1 << 20);

#if defined(__SSE4_2__)
// One dependent chain of 8-byte CRC32 instructions: the latency-bound baseline.
void single_lane(benchmark::State& state) {
  const auto in = make_input(size_t(state.range(0)));
  uint64_t crc = 0;
  for (auto _ : state) {
    uint64_t s = ~uint32_t(crc);
    for (size_t i = 0; i + 8 <= in.size(); i += 8) {
      uint64_t v;
      std::memcpy(&v, in.data() + i, 8);
      s = _mm_crc32_u64(s, v);
    }
    crc = ~uint32_t(s);
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * state.range(0));
}
BENCHMARK(single_lane)->RangeMultiplier(16)->Range(64, 1 << 20);
#endif

}  // namespace

BENCHMARK_MAIN();
