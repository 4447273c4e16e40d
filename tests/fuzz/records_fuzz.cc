// fuzz_records: record batches as a Produce request carries them and as every reader of the log
// meets them (validate_produce_records, for_each_record, parse_end_txn_marker), and each codec's
// decompression, compression bombs included (the output cap must hold).
//
// Input: a selector byte, then the bytes. Selector & 7: 0-1 = a Produce records blob (bit 0x08
// adds require_keys, 0x10 exactly_one_batch, 0x20 a small max.message.bytes); 2-6 = decompress
// with codec none/gzip/snappy/lz4/zstd. Bit 0x80: before validating, write each batch's correct
// CRC-32C (the fuzzer could rarely get past the CRC check otherwise).
//
// Properties: no crash, no read outside the input, decompression never produces more than its
// cap; what decompresses compresses and decompresses back to the same bytes; a batch that
// validates (its compressed section streamed, inflating to at most `cap`) walks its records
// (for_each_record, streaming with `cap` per record, succeeds and counts records_count records).
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz.h"
#include "gregor/protocol/record_batch.h"
#include "gregor/txn/producer_state.h"

namespace {

using namespace gregor::protocol;

constexpr size_t cap = 4u << 20;

void produce_records(uint8_t selector, gregor::fuzz::input in) {
  std::vector<uint8_t> blob(in.bytes.begin(), in.bytes.end());
  if (selector & 0x80) gregor::fuzz::fix_batch_crcs(blob);
  const std::vector<uint8_t> before = blob;
  validation_options opts;
  opts.decompressed_bytes_max = cap;
  opts.require_keys = selector & 0x08;
  opts.exactly_one_batch = selector & 0x10;
  if (selector & 0x20) opts.max_message_bytes = 512;
  opts.now_ms = 1'700'000'000'000;
  auto batches = validate_produce_records(blob, opts);
  FUZZ_CHECK(blob == before, "validate_produce_records modified its input");
  if (!batches) return;
  for (const auto& b : *batches) {
    FUZZ_CHECK(batch_crc_ok(b.bytes), "a validated batch fails its CRC");
    int32_t count = 0;
    auto walked = for_each_record(b.bytes, [&](const record_view&) { ++count; }, cap);
    FUZZ_CHECK(walked.has_value(), "a validated batch does not walk: %s", walked.error().message.c_str());
    FUZZ_CHECK(count == b.header.records_count, "a validated batch walks %d records, its header says %d", count,
               int(b.header.records_count));
    (void)gregor::txn::parse_end_txn_marker(b.bytes);
  }
}

void codec(compression c, gregor::fuzz::input in) {
  auto out = decompress(c, in.bytes, cap);
  if (!out) return;
  FUZZ_CHECK(out->size() <= cap, "codec %d inflated to %zu bytes past the %zu cap", int(c), out->size(), cap);
  auto packed = compress(c, *out);
  FUZZ_CHECK(packed.has_value(), "codec %d cannot compress what it decompressed", int(c));
  auto back = decompress(c, *packed, cap);
  FUZZ_CHECK(back.has_value() && *back == *out, "codec %d does not round-trip", int(c));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gregor::fuzz::input in{{data, size}};
  const uint8_t selector = in.take_byte();
  switch (selector & 7) {
    case 0:
    case 1:
      produce_records(selector, in);
      break;
    case 7:
      (void)gregor::txn::parse_end_txn_marker(in.bytes);
      break;
    default:
      codec(compression((selector & 7) - 2), in);
      break;
  }
  return 0;
}
