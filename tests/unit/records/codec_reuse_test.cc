// Proves that decompression into reused buffers and per-thread codec contexts (the produce path's
// fast path) gives the same results as fresh ones: stale bytes never leak into the output, the
// cap holds even when the reused buffer is larger, a context left mid-frame by an error decodes
// the next frame correctly, and validation of batches of mixed codecs and sizes stays exact.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "codecs.h"
#include "gregor/protocol/record_batch.h"

using namespace gregor::protocol;
using gregor::protocol::records_detail::decompress_into;

namespace {

constexpr compression real_codecs[] = {compression::gzip, compression::snappy, compression::lz4, compression::zstd};

std::vector<uint8_t> text_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = uint8_t('a' + rng() % 8);
  return v;
}

std::vector<record_input> records_of(size_t count, size_t value_bytes, uint32_t seed) {
  std::vector<record_input> recs(count);
  for (size_t i = 0; i < count; ++i) {
    auto v = text_bytes(value_bytes, seed + uint32_t(i));
    recs[i].key = "k" + std::to_string(i);
    recs[i].value = std::string(v.begin(), v.end());
  }
  return recs;
}

}  // namespace

TEST(decompress_into, a_reused_buffer_returns_only_the_new_output_for_every_codec) {
  std::vector<uint8_t> buf;
  for (auto codec : {compression::none, compression::gzip, compression::snappy, compression::lz4, compression::zstd}) {
    const auto big = text_bytes(300'000, 1);
    const auto small = text_bytes(1000, 2);
    auto n = decompress_into(codec, *compress(codec, big), 1u << 20, buf);
    ASSERT_TRUE(n) << int(codec);
    ASSERT_EQ(*n, big.size());
    EXPECT_TRUE(std::equal(big.begin(), big.end(), buf.begin()));
    const size_t capacity = buf.size();
    n = decompress_into(codec, *compress(codec, small), 1u << 20, buf);
    ASSERT_TRUE(n) << int(codec);
    ASSERT_EQ(*n, small.size()) << int(codec);
    EXPECT_TRUE(std::equal(small.begin(), small.end(), buf.begin())) << int(codec);
    EXPECT_GE(buf.size(), capacity) << "the buffer is kept, not shrunk";
  }
}

TEST(decompress_into, the_cap_holds_when_the_reused_buffer_is_larger_than_the_cap) {
  std::vector<uint8_t> buf(1u << 20);
  const auto in = text_bytes(50'000, 3);
  for (auto codec : real_codecs) {
    auto packed = *compress(codec, in);
    auto r = decompress_into(codec, packed, 49'999, buf);
    ASSERT_FALSE(r) << int(codec);
    EXPECT_EQ(r.error().code, error_code::corrupt_message) << int(codec);
    auto exact = decompress_into(codec, packed, 50'000, buf);
    ASSERT_TRUE(exact) << int(codec);
    EXPECT_EQ(*exact, in.size());
  }
}

TEST(decompress, a_context_left_mid_frame_by_an_error_decodes_the_next_frame) {
  const auto in = text_bytes(200'000, 4);
  for (auto codec : real_codecs) {
    auto packed = *compress(codec, in);
    std::vector<uint8_t> truncated(packed.begin(), packed.begin() + packed.size() / 2);
    EXPECT_FALSE(decompress(codec, truncated, 1u << 20)) << int(codec);
    EXPECT_FALSE(decompress(codec, packed, 1000)) << int(codec) << ": over the cap";
    auto good = decompress(codec, packed, 1u << 20);
    ASSERT_TRUE(good) << int(codec);
    EXPECT_EQ(*good, in) << int(codec);
  }
}

TEST(decompress, snappy_xerial_blocks_whose_total_exceeds_the_cap_are_refused_before_decoding) {
  const auto in = text_bytes(100'000, 5);  // four xerial blocks of at most 32 KiB
  auto packed = *compress(compression::snappy, in);
  // Garbage in the first block's payload (16-byte xerial header, 4-byte block length, 3-byte
  // varint of 32768): the over-cap total is reported, so no block was decoded first.
  for (size_t i = 23; i < 73; ++i) packed[i] = 0xff;
  auto r = decompress(compression::snappy, packed, 99'999);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, error_code::corrupt_message);
  EXPECT_NE(r.error().message.find("limit"), std::string::npos) << r.error().message;
  auto corrupt = decompress(compression::snappy, packed, 1u << 20);  // lengths pass, block 1 fails
  ASSERT_FALSE(corrupt);
  EXPECT_NE(corrupt.error().message.find("corrupt block"), std::string::npos) << corrupt.error().message;
}

TEST(validate_produce_records, batches_of_mixed_codecs_and_sizes_validate_exactly_in_turn) {
  validation_options opts;
  opts.max_message_bytes = 16 << 20;
  for (int round = 0; round < 2; ++round)
    for (auto codec : real_codecs)
      for (size_t count : {size_t(600), size_t(3)}) {
        batch_options o;
        o.codec = codec;
        o.base_timestamp = 1000;
        auto recs = records_of(count, 1024, uint32_t(count));
        recs.back().timestamp = 5000 + int64_t(count);
        auto batch = build_batch(recs, o);
        auto r = validate_produce_records(batch, opts);
        ASSERT_TRUE(r) << int(codec) << " " << count << ": " << r.error().message;
        ASSERT_EQ(r->size(), 1u);
        EXPECT_EQ((*r)[0].records_max_timestamp, 5000 + int64_t(count));
        // A record cut short inside the compressed payload is caught with a stale, larger buffer.
        auto short_recs = recs;
        short_recs.pop_back();
        auto short_batch = build_batch(short_recs, o);
        // Claim one more record than the payload holds, and fix the CRC so only the walk can tell.
        const int32_t claimed = int32_t(count);
        for (int i = 0; i < 4; ++i) short_batch[57 + i] = uint8_t(claimed >> (24 - 8 * i));
        for (int i = 0; i < 4; ++i) short_batch[23 + i] = uint8_t((claimed - 1) >> (24 - 8 * i));
        const uint32_t crc = compute_batch_crc(short_batch);
        for (int i = 0; i < 4; ++i) short_batch[17 + i] = uint8_t(crc >> (24 - 8 * i));
        auto bad = validate_produce_records(short_batch, opts);
        ASSERT_FALSE(bad) << int(codec) << " " << count;
        EXPECT_EQ(bad.error().code, error_code::invalid_record) << bad.error().message;
      }
}
