#pragma once
// Internal to the records module: big-endian fixed-width access and Kafka's zigzag varints.
// record_reader has a sticky error (as franz-go's reader): after the first failure every read
// returns a default and `failed()` stays true, so callers check once at the end of a record.
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace gregor::protocol::records_detail {

inline uint16_t load_be16(const uint8_t* p) { return uint16_t(p[0]) << 8 | p[1]; }
inline uint32_t load_be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
inline uint64_t load_be64(const uint8_t* p) { return uint64_t(load_be32(p)) << 32 | load_be32(p + 4); }
inline void store_be16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
inline void store_be32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (24 - 8 * i));
}
inline void store_be64(uint8_t* p, uint64_t v) {
  store_be32(p, uint32_t(v >> 32));
  store_be32(p + 4, uint32_t(v));
}

class record_reader {
 public:
  explicit record_reader(std::span<const uint8_t> bytes) : _p(bytes.data()), _end(bytes.data() + bytes.size()) {}

  bool failed() const { return _failed; }
  size_t remaining() const { return size_t(_end - _p); }
  const uint8_t* position() const { return _p; }
  void fail() {
    _failed = true;
    _p = _end;
  }

  int8_t read_int8() {
    if (remaining() < 1) {
      fail();
      return 0;
    }
    return int8_t(*_p++);
  }
  // Zigzag varint of at most 5 bytes (Kafka's ByteUtils.readVarint).
  int32_t read_varint() {
    uint32_t raw = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      if (_p == _end) break;
      uint8_t b = *_p++;
      raw |= uint32_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return int32_t((raw >> 1) ^ (~(raw & 1) + 1));
    }
    fail();
    return 0;
  }
  // Zigzag varlong of at most 10 bytes.
  int64_t read_varlong() {
    uint64_t raw = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (_p == _end) break;
      uint8_t b = *_p++;
      raw |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return int64_t((raw >> 1) ^ (~(raw & 1) + 1));
    }
    fail();
    return 0;
  }
  std::string_view read_bytes(size_t n) {
    if (remaining() < n) {
      fail();
      return {};
    }
    std::string_view v(reinterpret_cast<const char*>(_p), n);
    _p += n;
    return v;
  }

 private:
  const uint8_t* _p;
  const uint8_t* _end;
  bool _failed = false;
};

inline void append_varint(std::vector<uint8_t>& out, int64_t v) {
  uint64_t z = (uint64_t(v) << 1) ^ uint64_t(v >> 63);
  while (z >= 0x80) {
    out.push_back(uint8_t(z | 0x80));
    z >>= 7;
  }
  out.push_back(uint8_t(z));
}

}  // namespace gregor::protocol::records_detail
