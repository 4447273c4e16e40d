#pragma once
// Big-endian load/store helpers for the index file formats (internal to storage).
#include <cstdint>

namespace gregor::storage::detail {

inline uint32_t load_u32_be(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}
inline uint64_t load_u64_be(const uint8_t* p) {
  return (uint64_t(load_u32_be(p)) << 32) | load_u32_be(p + 4);
}
inline void store_u32_be(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}
inline void store_u64_be(uint8_t* p, uint64_t v) {
  store_u32_be(p, uint32_t(v >> 32));
  store_u32_be(p + 4, uint32_t(v));
}

}  // namespace gregor::storage::detail
