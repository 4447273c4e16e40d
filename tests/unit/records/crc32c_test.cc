// Proves gregor::crc32c matches the CRC32C standard vectors and a bitwise reference on every
// length, alignment and lane path (single lane, short three-lane chunks, long three-lane chunks).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "gregor/base/crc32c.h"

namespace {

// Bit-at-a-time reference, independent of the implementation under test.
uint32_t crc32c_reference(const uint8_t* p, size_t n, uint32_t crc = 0) {
  uint32_t c = ~crc;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
  }
  return ~c;
}

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = uint8_t(rng());
  return v;
}

}  // namespace

TEST(crc32c, check_value_of_123456789_is_e3069283) {
  std::string s = "123456789";
  EXPECT_EQ(gregor::crc32c(s.data(), s.size()), 0xE3069283u);
}

TEST(crc32c, rfc3720_vectors) {
  std::vector<uint8_t> zeros(32, 0x00), ones(32, 0xFF), inc(32), dec(32);
  for (int i = 0; i < 32; ++i) {
    inc[i] = uint8_t(i);
    dec[i] = uint8_t(31 - i);
  }
  EXPECT_EQ(gregor::crc32c(zeros.data(), 32), 0x8A9136AAu);
  EXPECT_EQ(gregor::crc32c(ones.data(), 32), 0x62A8AB43u);
  EXPECT_EQ(gregor::crc32c(inc.data(), 32), 0x46DD794Eu);
  EXPECT_EQ(gregor::crc32c(dec.data(), 32), 0x113FDB5Cu);
}

TEST(crc32c, empty_input_is_zero) { EXPECT_EQ(gregor::crc32c(nullptr, 0), 0u); }

TEST(crc32c, every_length_to_300_and_misaligned_starts_match_reference) {
  auto data = random_bytes(300 + 16, 1);
  for (size_t start = 0; start < 16; ++start)
    for (size_t len = 0; len <= 300; ++len)
      ASSERT_EQ(gregor::crc32c(data.data() + start, len), crc32c_reference(data.data() + start, len))
          << "start " << start << " len " << len;
}

TEST(crc32c, large_inputs_across_lane_boundaries_match_reference) {
  auto data = random_bytes(3 * 4096 * 3 + 3 * 256 * 2 + 77, 2);
  for (size_t len : {767u, 768u, 769u, 12287u, 12288u, 12289u, 12288u + 768u + 5u, 40000u}) {
    if (len > data.size()) continue;
    for (size_t start : {0u, 1u, 3u, 7u}) {
      size_t n = std::min(len, data.size() - start);
      ASSERT_EQ(gregor::crc32c(data.data() + start, n), crc32c_reference(data.data() + start, n))
          << "start " << start << " len " << n;
    }
  }
}

TEST(crc32c, incremental_updates_equal_one_shot) {
  auto data = random_bytes(20000, 3);
  uint32_t one_shot = gregor::crc32c(data.data(), data.size());
  for (size_t split : {0u, 1u, 100u, 12288u, 19999u, 20000u}) {
    uint32_t c = gregor::crc32c(data.data(), split);
    c = gregor::crc32c(data.data() + split, data.size() - split, c);
    EXPECT_EQ(c, one_shot) << "split " << split;
  }
}
