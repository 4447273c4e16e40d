#pragma once
// Shared by the fuzz targets (tests/fuzz/*_fuzz.cc): an input cursor that hands out a selector
// byte and the rest, and FUZZ_CHECK, which ends the process (a finding) when a property of the
// decoder fails: e.g. re-encoding what was decoded and decoding that again must give the same bytes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "gregor/protocol/record_batch.h"

#define FUZZ_CHECK(cond, ...)                                                      \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "fuzz: check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                           \
      std::fputc('\n', stderr);                                                    \
      std::abort();                                                                \
    }                                                                              \
  } while (0)

namespace gregor::fuzz {

struct input {
  std::span<const uint8_t> bytes;
  // The first byte (0 when empty), removed from the input.
  uint8_t take_byte() {
    if (bytes.empty()) return 0;
    uint8_t b = bytes[0];
    bytes = bytes.subspan(1);
    return b;
  }
  std::string_view text() const { return {reinterpret_cast<const char*>(bytes.data()), bytes.size()}; }
};

// Writes the right CRC-32C into every whole v2 batch at the start of `blob` (back to back), so
// that mutations reach what lies behind the CRC check.
inline void fix_batch_crcs(std::vector<uint8_t>& blob) {
  size_t pos = 0;
  while (blob.size() - pos >= 61) {
    const uint32_t len = uint32_t(blob[pos + 8]) << 24 | uint32_t(blob[pos + 9]) << 16 |
                         uint32_t(blob[pos + 10]) << 8 | blob[pos + 11];
    if (len < 49 || len > blob.size() - pos - 12) return;
    std::span<uint8_t> batch(blob.data() + pos, 12 + size_t(len));
    const uint32_t crc = protocol::compute_batch_crc(batch);
    batch[17] = uint8_t(crc >> 24);
    batch[18] = uint8_t(crc >> 16);
    batch[19] = uint8_t(crc >> 8);
    batch[20] = uint8_t(crc);
    pos += batch.size();
  }
}

}  // namespace gregor::fuzz
