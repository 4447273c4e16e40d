#include "gregor/protocol/wire.h"

#include <bit>
#include <cstring>

#include <fmt/format.h>

namespace gregor::protocol {

void reader::fail(std::string why) {
  if (_error.empty()) _error = std::move(why);
  // Park at the end so every later read sees zero bytes left.
  _pos = _buf.size();
}

bool reader::need(size_t n, const char* what) {
  if (!ok()) return false;
  if (n > remaining()) {
    fail(fmt::format("{} needs {} bytes but {} remain at offset {}", what, n, remaining(), _pos));
    return false;
  }
  return true;
}

namespace {
uint64_t load_be(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}
}  // namespace

int8_t reader::read_int8() {
  if (!need(1, "int8")) return 0;
  return static_cast<int8_t>(_buf[_pos++]);
}
int16_t reader::read_int16() {
  if (!need(2, "int16")) return 0;
  auto v = static_cast<int16_t>(load_be(_buf.data() + _pos, 2));
  _pos += 2;
  return v;
}
int32_t reader::read_int32() {
  if (!need(4, "int32")) return 0;
  auto v = static_cast<int32_t>(load_be(_buf.data() + _pos, 4));
  _pos += 4;
  return v;
}
int64_t reader::read_int64() {
  if (!need(8, "int64")) return 0;
  auto v = static_cast<int64_t>(load_be(_buf.data() + _pos, 8));
  _pos += 8;
  return v;
}
uint16_t reader::read_uint16() {
  if (!need(2, "uint16")) return 0;
  auto v = static_cast<uint16_t>(load_be(_buf.data() + _pos, 2));
  _pos += 2;
  return v;
}
uint32_t reader::read_uint32() {
  if (!need(4, "uint32")) return 0;
  auto v = static_cast<uint32_t>(load_be(_buf.data() + _pos, 4));
  _pos += 4;
  return v;
}
double reader::read_float64() {
  if (!need(8, "float64")) return 0;
  uint64_t bits = load_be(_buf.data() + _pos, 8);
  _pos += 8;
  return std::bit_cast<double>(bits);
}
bool reader::read_bool() { return read_int8() != 0; }
uuid reader::read_uuid() {
  if (!need(16, "uuid")) return {};
  uuid u;
  u.hi = load_be(_buf.data() + _pos, 8);
  u.lo = load_be(_buf.data() + _pos + 8, 8);
  _pos += 16;
  return u;
}

uint32_t reader::read_unsigned_varint() {
  uint32_t v = 0;
  for (int i = 0; i < 5; ++i) {
    if (!need(1, "varint")) return 0;
    uint8_t b = _buf[_pos++];
    if (i == 4 && (b & 0xf0) != 0) {
      fail(fmt::format("unsigned varint overflows 32 bits at offset {}", _pos - 1));
      return 0;
    }
    v |= static_cast<uint32_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) return v;
  }
  fail(fmt::format("varint longer than 5 bytes at offset {}", _pos));
  return 0;
}

int32_t reader::read_varint() {
  uint32_t raw = read_unsigned_varint();
  return static_cast<int32_t>((raw >> 1) ^ (~(raw & 1) + 1));
}

int64_t reader::read_varlong() {
  uint64_t v = 0;
  for (int i = 0; i < 10; ++i) {
    if (!need(1, "varlong")) return 0;
    uint8_t b = _buf[_pos++];
    if (i == 9 && (b & 0xfe) != 0) {
      fail(fmt::format("varlong overflows 64 bits at offset {}", _pos - 1));
      return 0;
    }
    v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
  }
  fail(fmt::format("varlong longer than 10 bytes at offset {}", _pos));
  return 0;
}

int64_t reader::read_length(bool compact, bool wide, const char* what) {
  size_t at = _pos;
  int64_t len;
  if (compact) {
    len = static_cast<int64_t>(read_unsigned_varint()) - 1;
  } else {
    len = wide ? read_int32() : read_int16();
  }
  if (!ok()) return -2;
  if (len < -1) {
    fail(fmt::format("{} length {} is negative at offset {}", what, len, at));
    return -2;
  }
  if (len > static_cast<int64_t>(remaining())) {
    fail(fmt::format("{} length {} exceeds {} remaining bytes at offset {}", what, len, remaining(), at));
    return -2;
  }
  return len;
}

std::optional<std::string> reader::read_nullable_string(bool compact) {
  int64_t len = read_length(compact, false, "string");
  if (len < 0) return std::nullopt;
  std::string s(reinterpret_cast<const char*>(_buf.data() + _pos), static_cast<size_t>(len));
  _pos += static_cast<size_t>(len);
  return s;
}

std::string reader::read_string(bool compact) {
  size_t at = _pos;
  int64_t len = read_length(compact, false, "string");
  if (len == -1) fail(fmt::format("non-nullable string is null at offset {}", at));
  if (len < 0) return {};
  std::string s(reinterpret_cast<const char*>(_buf.data() + _pos), static_cast<size_t>(len));
  _pos += static_cast<size_t>(len);
  return s;
}

std::optional<std::span<const uint8_t>> reader::read_nullable_bytes_view(bool compact) {
  int64_t len = read_length(compact, true, "bytes");
  if (len < 0) return std::nullopt;
  auto view = _buf.subspan(_pos, static_cast<size_t>(len));
  _pos += static_cast<size_t>(len);
  return view;
}

std::optional<std::vector<uint8_t>> reader::read_nullable_bytes(bool compact) {
  auto view = read_nullable_bytes_view(compact);
  if (!view) return std::nullopt;
  return std::vector<uint8_t>(view->begin(), view->end());
}

std::vector<uint8_t> reader::read_bytes(bool compact) {
  size_t at = _pos;
  int64_t len = read_length(compact, true, "bytes");
  if (len == -1) fail(fmt::format("non-nullable bytes are null at offset {}", at));
  if (len < 0) return {};
  std::vector<uint8_t> out(_buf.begin() + static_cast<ptrdiff_t>(_pos),
                           _buf.begin() + static_cast<ptrdiff_t>(_pos + static_cast<size_t>(len)));
  _pos += static_cast<size_t>(len);
  return out;
}

int32_t reader::read_array_length(bool compact, size_t min_element_size) {
  size_t at = _pos;
  int64_t n = compact ? static_cast<int64_t>(read_unsigned_varint()) - 1 : read_int32();
  if (!ok()) return 0;
  if (n < -1) {
    fail(fmt::format("array length {} is negative at offset {}", n, at));
    return 0;
  }
  if (n > 0 && static_cast<uint64_t>(n) * std::max<size_t>(min_element_size, 1) > remaining()) {
    fail(fmt::format("array length {} exceeds {} remaining bytes at offset {}", n, remaining(), at));
    return 0;
  }
  return static_cast<int32_t>(n);
}

std::span<const uint8_t> reader::read_raw(size_t n) {
  if (!need(n, "raw bytes")) return {};
  auto view = _buf.subspan(_pos, n);
  _pos += n;
  return view;
}

void reader::skip_tagged_fields() {
  const uint32_t tags = read_unsigned_varint();
  for (uint32_t i = 0; i < tags && ok(); ++i) {
    read_unsigned_varint();
    read_raw(read_unsigned_varint());
  }
}

void writer::write_float64(double v) { write_be(std::bit_cast<uint64_t>(v), 8); }

void writer::write_unsigned_varint(uint32_t v) {
  while (v >= 0x80) {
    _out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  _out.push_back(static_cast<uint8_t>(v));
}

void writer::write_varint(int32_t v) {
  write_unsigned_varint((static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31));
}

void writer::write_varlong(int64_t v) {
  uint64_t z = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  while (z >= 0x80) {
    _out.push_back(static_cast<uint8_t>(z | 0x80));
    z >>= 7;
  }
  _out.push_back(static_cast<uint8_t>(z));
}

void writer::write_string(std::string_view s, bool compact) {
  if (compact) write_unsigned_varint(static_cast<uint32_t>(s.size() + 1));
  else write_int16(static_cast<int16_t>(s.size()));
  _out.insert(_out.end(), s.begin(), s.end());
}

void writer::write_nullable_string(const std::optional<std::string>& s, bool compact) {
  if (s) return write_string(*s, compact);
  if (compact) write_unsigned_varint(0);
  else write_int16(-1);
}

void writer::write_bytes(std::span<const uint8_t> b, bool compact) {
  if (compact) write_unsigned_varint(static_cast<uint32_t>(b.size() + 1));
  else write_int32(static_cast<int32_t>(b.size()));
  if (_splices != nullptr && !b.empty() && b.size() >= _splice_min_bytes) {
    _splices->push_back(spliced_bytes{_out.size(), b});
    return;
  }
  write_raw(b);
}

void writer::write_nullable_bytes(const std::optional<std::span<const uint8_t>>& b, bool compact) {
  if (b) return write_bytes(*b, compact);
  if (compact) write_unsigned_varint(0);
  else write_int32(-1);
}

void writer::write_nullable_bytes(const std::optional<std::vector<uint8_t>>& b, bool compact) {
  if (b) return write_bytes(*b, compact);
  if (compact) write_unsigned_varint(0);
  else write_int32(-1);
}

void writer::write_array_length(int32_t n, bool compact) {
  if (compact) write_unsigned_varint(static_cast<uint32_t>(n + 1));
  else write_int32(n);
}

size_t unsigned_varint_size(uint32_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
size_t varint_size(int32_t v) {
  return unsigned_varint_size((static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31));
}
size_t varlong_size(int64_t v) {
  uint64_t z = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  size_t n = 1;
  while (z >= 0x80) {
    z >>= 7;
    ++n;
  }
  return n;
}

}  // namespace gregor::protocol
