// bench_records: the broker's produce-path work on record batches (src/protocol/records) for batches
// of 1 KiB records: 16 KiB (16 records) and 1 MiB (1024 records), uncompressed and with each codec.
//   validate/<codec>/<records>: validate_produce_records as the Produce handler calls it (one batch,
//     CRC32C, header checks, decompression when compressed, a walk over every record).
//   crc_check/<records>: batch_crc_ok alone (the CRC part of validate).
//   build/<codec>/<records>: build_batch (encode records, compress, CRC) as a producer would.
//   decompress/<codec>/<records>: decompress alone (part of validate for compressed batches).
// bytes_per_second counts the UNCOMPRESSED record bytes (16 KiB or 1 MiB), so codecs compare on
// the same payload; wire_bytes is the size of the (compressed) batch. Values are text-like (words
// from a small vocabulary with numbers), compressing 3-5x.
// Run: build/bin/bench_records [--benchmark_filter=validate]
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "gregor/protocol/record_batch.h"

namespace {
using namespace gregor::protocol;

constexpr int64_t base_ts = 1'700'000'000'000;

// `count` records with a 1 KiB value each (key "user-<n>"), text-like so codecs have work to do.
std::vector<record_input> make_records(size_t count) {
  static const char* words[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
                                "hotel", "india", "juliet", "kilo", "lima", "mike", "november",
                                "oscar", "papa", "quebec", "romeo", "sierra", "tango"};
  uint32_t x = 2463534242u;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
  };
  std::vector<record_input> recs(count);
  for (size_t i = 0; i < count; ++i) {
    recs[i].key = "user-" + std::to_string(next() % 100000);
    std::string v;
    v.reserve(1024);
    while (v.size() < 1024) {
      v += words[next() % 20];
      v += '=';
      v += std::to_string(next() % 1000000);
      v += ' ';
    }
    v.resize(1024);
    recs[i].value = std::move(v);
    recs[i].timestamp = base_ts + int64_t(i);
  }
  return recs;
}

std::vector<uint8_t> make_batch(compression codec, size_t count) {
  batch_options o;
  o.codec = codec;
  o.base_timestamp = base_ts;
  return build_batch(make_records(count), o);
}

void set_counters(benchmark::State& state, size_t wire_bytes) {
  state.SetBytesProcessed(int64_t(state.iterations()) * state.range(1) * 1024);
  state.counters["wire_bytes"] = double(wire_bytes);
}

void validate(benchmark::State& state) {
  auto batch = make_batch(compression(state.range(0)), size_t(state.range(1)));
  validation_options opts;
  opts.max_message_bytes = 8 << 20;
  opts.now_ms = base_ts;
  opts.timestamp_before_max_ms = 7LL * 24 * 3600 * 1000;
  opts.timestamp_after_max_ms = 3600 * 1000;
  opts.exactly_one_batch = true;
  for (auto _ : state) {
    auto r = validate_produce_records(batch, opts);
    if (!r) state.SkipWithError(r.error().message.c_str());
    benchmark::DoNotOptimize(r);
  }
  set_counters(state, batch.size());
}

void crc_check(benchmark::State& state) {
  const auto batch = make_batch(compression::none, size_t(state.range(1)));
  for (auto _ : state) {
    bool good = batch_crc_ok(batch);
    benchmark::DoNotOptimize(good);
  }
  set_counters(state, batch.size());
}

void build(benchmark::State& state) {
  const auto recs = make_records(size_t(state.range(1)));
  batch_options o;
  o.codec = compression(state.range(0));
  o.base_timestamp = base_ts;
  size_t wire = 0;
  for (auto _ : state) {
    auto b = build_batch(recs, o);
    wire = b.size();
    benchmark::DoNotOptimize(b.data());
  }
  set_counters(state, wire);
}

void decompress_section(benchmark::State& state) {
  const auto codec = compression(state.range(0));
  const auto batch = make_batch(codec, size_t(state.range(1)));
  std::span<const uint8_t> section(batch.data() + batch_header_size, batch.size() - batch_header_size);
  for (auto _ : state) {
    auto out = decompress(codec, section, 64u << 20);
    if (!out) state.SkipWithError(out.error().message.c_str());
    benchmark::DoNotOptimize(out);
  }
  set_counters(state, batch.size());
}

// codec ids: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd; records: 16 (16 KiB) and 1024 (1 MiB).
BENCHMARK(validate)->ArgNames({"codec", "records"})->ArgsProduct({{0, 1, 2, 3, 4}, {16, 1024}});
BENCHMARK(crc_check)->ArgNames({"codec", "records"})->ArgsProduct({{0}, {16, 1024}});
BENCHMARK(build)->ArgNames({"codec", "records"})->ArgsProduct({{0, 1, 2, 3, 4}, {16, 1024}});
BENCHMARK(decompress_section)->Name("decompress")->ArgNames({"codec", "records"})->ArgsProduct({{1, 2, 3, 4}, {16, 1024}});

}  // namespace

BENCHMARK_MAIN();
