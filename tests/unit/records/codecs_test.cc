// Proves every codec round-trips, snappy decodes both raw and xerial framing, corrupt or truncated
// input fails cleanly, and decompression bombs stop at the output cap.
#include <gtest/gtest.h>
#include <snappy.h>
#include <zstd.h>

#include <random>
#include <string>
#include <vector>

#include "gregor/protocol/record_batch.h"

using gregor::protocol::compress;
using gregor::protocol::compression;
using gregor::protocol::decompress;
using gregor::protocol::error_code;

namespace {

constexpr compression all_codecs[] = {compression::none, compression::gzip, compression::snappy, compression::lz4,
                                      compression::zstd};
constexpr compression real_codecs[] = {compression::gzip, compression::snappy, compression::lz4, compression::zstd};

std::vector<uint8_t> mixed_bytes(size_t n, uint32_t seed) {
  // Half random, half repetitive so the codecs have something to find.
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = (i / 64) % 2 ? uint8_t(rng()) : uint8_t('a' + i % 7);
  return v;
}

std::vector<uint8_t> raw_snappy(const std::vector<uint8_t>& in) {
  std::string out;
  snappy::Compress(reinterpret_cast<const char*>(in.data()), in.size(), &out);
  return {out.begin(), out.end()};
}

}  // namespace

TEST(codecs, every_codec_round_trips_sizes_from_empty_to_300k) {
  for (auto codec : all_codecs)
    for (size_t n : {0u, 1u, 100u, 65536u, 300000u}) {
      auto in = mixed_bytes(n, uint32_t(n));
      auto packed = compress(codec, in);
      ASSERT_TRUE(packed) << int(codec);
      auto unpacked = decompress(codec, *packed, n + 10);
      ASSERT_TRUE(unpacked) << int(codec) << " n=" << n << ": " << unpacked.error().message;
      EXPECT_EQ(*unpacked, in) << int(codec) << " n=" << n;
    }
}

TEST(codecs, output_exactly_at_the_cap_is_accepted_and_one_byte_over_is_refused) {
  for (auto codec : all_codecs) {
    auto in = mixed_bytes(5000, 9);
    auto packed = compress(codec, in);
    ASSERT_TRUE(packed);
    EXPECT_TRUE(decompress(codec, *packed, 5000)) << int(codec);
    auto over = decompress(codec, *packed, 4999);
    ASSERT_FALSE(over) << int(codec);
    EXPECT_EQ(over.error().code, error_code::corrupt_message);
    EXPECT_NE(over.error().message.find("limit"), std::string::npos) << over.error().message;
  }
}

TEST(codecs, decompression_bombs_stop_at_a_small_cap) {
  std::vector<uint8_t> zeros(50u << 20, 0);  // 50 MiB of zeros compresses ~1000x
  for (auto codec : real_codecs) {
    auto packed = compress(codec, zeros);
    ASSERT_TRUE(packed);
    auto r = decompress(codec, *packed, 64 * 1024);
    ASSERT_FALSE(r) << int(codec);
    EXPECT_EQ(r.error().code, error_code::corrupt_message);
  }
}

TEST(codecs, zstd_frame_with_forged_small_content_size_is_not_trusted) {
  // A frame declaring a content size far below its real output must not overrun the buffer or
  // be accepted; the cap still applies to what is really produced.
  std::vector<uint8_t> in(1u << 20, 'x');
  auto packed = compress(compression::zstd, in);
  ASSERT_TRUE(packed);
  auto r = decompress(compression::zstd, *packed, 1000);
  EXPECT_FALSE(r);
  unsigned long long declared = ZSTD_getFrameContentSize(packed->data(), packed->size());
  EXPECT_EQ(declared, in.size());
}

TEST(codecs, snappy_raw_framing_decodes) {
  auto in = mixed_bytes(100000, 4);
  auto raw = raw_snappy(in);
  auto out = decompress(compression::snappy, raw, in.size());
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(*out, in);
}

TEST(codecs, snappy_output_uses_xerial_framing_with_blocks) {
  auto in = mixed_bytes(100000, 5);
  auto packed = compress(compression::snappy, in);
  ASSERT_TRUE(packed);
  const uint8_t magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
  ASSERT_GE(packed->size(), 16u);
  EXPECT_TRUE(std::equal(magic, magic + 8, packed->begin()));
  auto out = decompress(compression::snappy, *packed, in.size());
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, in);
}

TEST(codecs, snappy_raw_block_declaring_more_than_the_cap_is_refused_before_decoding) {
  auto raw = raw_snappy(std::vector<uint8_t>(1u << 20, 0));
  auto r = decompress(compression::snappy, raw, 1000);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, error_code::corrupt_message);
}

TEST(codecs, xerial_block_length_past_the_end_is_corrupt) {
  auto packed = *compress(compression::snappy, mixed_bytes(1000, 6));
  packed[16] = 0x7f;  // block length high byte
  auto r = decompress(compression::snappy, packed, 1u << 20);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, error_code::corrupt_message);
}

TEST(codecs, truncated_compressed_input_fails_for_every_codec) {
  auto in = mixed_bytes(20000, 7);
  for (auto codec : real_codecs) {
    auto packed = *compress(codec, in);
    for (size_t cut : {size_t(0), size_t(1), packed.size() / 2, packed.size() - 1}) {
      std::vector<uint8_t> part(packed.begin(), packed.begin() + cut);
      auto r = decompress(codec, part, 1u << 20);
      EXPECT_FALSE(r && *r == in) << int(codec) << " cut " << cut;
      if (!r) {
        EXPECT_EQ(r.error().code, error_code::corrupt_message);
      }
    }
  }
}

TEST(codecs, garbage_input_fails_cleanly_for_every_codec) {
  std::mt19937 rng(8);
  for (auto codec : real_codecs)
    for (int trial = 0; trial < 50; ++trial) {
      std::vector<uint8_t> junk(rng() % 200);
      for (auto& b : junk) b = uint8_t(rng());
      auto r = decompress(codec, junk, 1u << 16);
      if (r) {
        EXPECT_LE(r->size(), 1u << 16);
      }
    }
}

TEST(codecs, unknown_codec_id_is_unsupported) {
  std::vector<uint8_t> in{1, 2, 3};
  auto r = decompress(static_cast<compression>(5), in, 100);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, error_code::unsupported_compression_type);
}
