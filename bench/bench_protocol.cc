// bench_protocol: encode and decode of whole Produce request and Fetch response frames (header +
// body, as the broker reads and writes them, without the 4-byte size prefix) with the generated
// structs (gregor/protocol/messages/*.h) and api.h.
//   produce_encode|produce_decode/<version>/<partitions>: Produce v7 (classic) and v9 (first
//     flexible version), one 16 KiB batch (16 records of 1 KiB) per partition; decode is what the
//     dispatcher does with a request (decode_request_header + produce_request::decode; records stay
//     views into the frame).
//   fetch_encode|fetch_decode/<version>/<partitions>: Fetch v12 (flexible) response holding 1 MiB
//     of record batches per partition; encode is encode_response (what route.h does), decode is
//     the client side. fetch_encode_spliced is encode_response_spliced (records referenced, not
//     copied); fetch_encode_reserve/_reuse size the frame first with encoded_size().
// bytes_per_second counts the frame size, so it compares with network throughput.
// Run: build/bin/bench_protocol [--benchmark_filter=fetch]
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "gregor/protocol/api.h"
#include "gregor/protocol/messages/fetch.h"
#include "gregor/protocol/messages/produce.h"
#include "gregor/protocol/record_batch.h"

namespace {
using namespace gregor::protocol;

// One batch of `count` records of 1 KiB, keys "key-<i>".
std::vector<uint8_t> make_batch(size_t count) {
  std::vector<record_input> recs(count);
  for (size_t i = 0; i < count; ++i) {
    recs[i].key = "key-" + std::to_string(i);
    recs[i].value = std::string(1024, char('a' + i % 26));
  }
  batch_options o;
  o.base_timestamp = 1'700'000'000'000;
  return build_batch(recs, o);
}

produce_request make_produce(const std::vector<uint8_t>& batch, int partitions) {
  produce_request req;
  req.acks = -1;
  req.timeout_ms = 30000;
  auto& t = req.topic_data.emplace_back();
  t.name = "bench-topic";
  for (int p = 0; p < partitions; ++p) {
    auto& pd = t.partition_data.emplace_back();
    pd.index = p;
    pd.records = std::span<const uint8_t>(batch);
  }
  return req;
}

fetch_response make_fetch(const std::vector<uint8_t>& records, int partitions) {
  fetch_response resp;
  auto& t = resp.responses.emplace_back();
  t.topic = "bench-topic";
  for (int p = 0; p < partitions; ++p) {
    auto& pd = t.partitions.emplace_back();
    pd.partition_index = p;
    pd.high_watermark = 1'000'000;
    pd.last_stable_offset = 1'000'000;
    pd.log_start_offset = 0;
    pd.records = std::span<const uint8_t>(records);
  }
  return resp;
}

// 1 MiB of 16 KiB batches back to back, as a fetch read returns them.
const std::vector<uint8_t>& fetch_records() {
  static const std::vector<uint8_t> records = [] {
    const auto batch = make_batch(16);
    std::vector<uint8_t> out;
    while (out.size() + batch.size() <= (1u << 20)) out.insert(out.end(), batch.begin(), batch.end());
    return out;
  }();
  return records;
}

void produce_encode(benchmark::State& state) {
  const auto version = int16_t(state.range(0));
  const auto batch = make_batch(16);
  const auto req = make_produce(batch, int(state.range(1)));
  size_t bytes = 0;
  for (auto _ : state) {
    auto frame = encode_request(req, version, 42, std::string("bench-client"));
    bytes = frame.size();
    benchmark::DoNotOptimize(frame.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations() * bytes));
}

void produce_decode(benchmark::State& state) {
  const auto version = int16_t(state.range(0));
  const auto batch = make_batch(16);
  const auto frame = encode_request(make_produce(batch, int(state.range(1))), version, 42,
                                    std::string("bench-client"));
  for (auto _ : state) {
    reader r(frame);
    request_header h;
    decode_request_header(r, h);
    produce_request req;
    req.decode(r, h.api_version);
    if (!r.ok()) state.SkipWithError(r.error().c_str());
    benchmark::DoNotOptimize(req);
  }
  state.SetBytesProcessed(int64_t(state.iterations() * frame.size()));
}

void fetch_encode(benchmark::State& state) {
  const auto version = int16_t(state.range(0));
  const auto resp = make_fetch(fetch_records(), int(state.range(1)));
  size_t bytes = 0;
  for (auto _ : state) {
    auto frame = encode_response(resp, version, 42);
    bytes = frame.size();
    benchmark::DoNotOptimize(frame.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations() * bytes));
}

// What encode_response would cost if it sized the frame first (encoded_size) instead of growing
// the vector by doubling: `reserve` allocates a fresh, exactly sized buffer per response, `reuse`
// encodes into one buffer kept across responses (no allocation, no page faults).
void fetch_encode_sized(benchmark::State& state, bool reuse) {
  const auto version = int16_t(state.range(0));
  const auto resp = make_fetch(fetch_records(), int(state.range(1)));
  std::vector<uint8_t> kept;
  size_t bytes = 0;
  for (auto _ : state) {
    std::vector<uint8_t> fresh;
    auto& out = reuse ? kept : fresh;
    out.clear();
    out.reserve(16 + resp.encoded_size(version));
    writer w(out);
    encode_response_header(w, 42, response_header_version(fetch_response::api_key, version));
    resp.encode(w, version);
    bytes = out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations() * bytes));
}
// encode_response_spliced (what route.h does for large responses): records of 4 KiB and more are
// not copied, only listed for the connection's gathered write. bytes_per_second counts the frame
// as sent (buffer + spliced records).
void fetch_encode_spliced(benchmark::State& state) {
  const auto version = int16_t(state.range(0));
  const auto resp = make_fetch(fetch_records(), int(state.range(1)));
  size_t bytes = 0;
  for (auto _ : state) {
    std::vector<spliced_bytes> splices;
    auto frame = encode_response_spliced(resp, version, 42, splices, 4096);
    bytes = frame.size();
    for (const auto& sp : splices) bytes += sp.bytes.size();
    benchmark::DoNotOptimize(frame.data());
    benchmark::DoNotOptimize(splices.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations() * bytes));
}
void fetch_encode_reserve(benchmark::State& state) { fetch_encode_sized(state, false); }
void fetch_encode_reuse(benchmark::State& state) { fetch_encode_sized(state, true); }

void fetch_decode(benchmark::State& state) {
  const auto version = int16_t(state.range(0));
  const auto frame = encode_response(make_fetch(fetch_records(), int(state.range(1))), version, 42);
  for (auto _ : state) {
    reader r(frame);
    r.read_int32();  // correlation id
    if (response_header_version(fetch_response::api_key, version) >= 1) r.read_unsigned_varint();
    fetch_response resp;
    resp.decode(r, version);
    if (!r.ok()) state.SkipWithError(r.error().c_str());
    benchmark::DoNotOptimize(resp);
  }
  state.SetBytesProcessed(int64_t(state.iterations() * frame.size()));
}

BENCHMARK(produce_encode)->ArgNames({"v", "partitions"})->ArgsProduct({{7, 9}, {1, 8}});
BENCHMARK(produce_decode)->ArgNames({"v", "partitions"})->ArgsProduct({{7, 9}, {1, 8}});
BENCHMARK(fetch_encode)->ArgNames({"v", "partitions"})->ArgsProduct({{12}, {1, 8}});
BENCHMARK(fetch_encode_spliced)->ArgNames({"v", "partitions"})->ArgsProduct({{12}, {1, 8}});
BENCHMARK(fetch_encode_reserve)->ArgNames({"v", "partitions"})->ArgsProduct({{12}, {1, 8}});
BENCHMARK(fetch_encode_reuse)->ArgNames({"v", "partitions"})->ArgsProduct({{12}, {1, 8}});
BENCHMARK(fetch_decode)->ArgNames({"v", "partitions"})->ArgsProduct({{12}, {1, 8}});

}  // namespace

BENCHMARK_MAIN();
