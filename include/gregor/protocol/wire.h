#pragma once
// Kafka wire primitives: a bounds-checked reader with a sticky error, a writer appending to a
// caller-owned vector, and a size_counter with the writer's interface (used by encoded_size and to
// size tagged fields before writing them).
//
// All multi-byte integers are big-endian. "Compact" forms (flexible versions) carry lengths as
// unsigned varints of length + 1 (0 = null); classic forms use int16 (strings) or int32 (bytes,
// arrays) lengths with -1 = null.
//
// The reader never trusts a length: every length and count is checked against remaining() before
// anything is allocated, and the first failure is recorded and makes every later read return a
// default value. Callers read a whole message and check ok() once at the end.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gregor/base/types.h"

namespace gregor::protocol {

// A tagged field the generated code does not know; kept verbatim and re-emitted on encode.
struct tagged_field {
  uint32_t tag = 0;
  std::vector<uint8_t> data;
  bool operator==(const tagged_field&) const = default;
};

// Reads Kafka primitives from a borrowed buffer. Owns nothing; spans it returns point into the
// buffer given to the constructor, which must outlive them. Not thread-safe.
class reader {
 public:
  explicit reader(std::span<const uint8_t> buf) : _buf(buf) {}

  bool ok() const { return _error.empty(); }
  const std::string& error() const { return _error; }
  size_t position() const { return _pos; }
  size_t remaining() const { return _buf.size() - _pos; }
  std::span<const uint8_t> rest() const { return _buf.subspan(_pos); }

  int8_t read_int8();
  int16_t read_int16();
  int32_t read_int32();
  int64_t read_int64();
  uint16_t read_uint16();
  uint32_t read_uint32();
  double read_float64();
  bool read_bool();
  uuid read_uuid();
  int32_t read_varint();
  int64_t read_varlong();
  uint32_t read_unsigned_varint();

  // Strings: classic = int16 length, compact = unsigned varint length + 1. A null where a
  // non-nullable string is expected fails.
  std::string read_string(bool compact);
  std::optional<std::string> read_nullable_string(bool compact);
  // Bytes: classic = int32 length, compact = unsigned varint length + 1.
  std::vector<uint8_t> read_bytes(bool compact);
  std::optional<std::vector<uint8_t>> read_nullable_bytes(bool compact);
  // A view of nullable bytes into the input buffer (used for "records").
  std::optional<std::span<const uint8_t>> read_nullable_bytes_view(bool compact);
  // Array element count; -1 means null. Fails (returning 0) if the count is below -1 or if
  // count * min_element_size exceeds remaining(), so callers may resize() to the result.
  int32_t read_array_length(bool compact, size_t min_element_size);
  // `n` raw bytes as a view; fails if fewer remain.
  std::span<const uint8_t> read_raw(size_t n);
  // A tagged-field section (count, then tag, size and bytes of each), skipped unread.
  void skip_tagged_fields();

  // Records the first failure (later ones are ignored) and makes the reader unusable.
  void fail(std::string why);

 private:
  bool need(size_t n, const char* what);
  // Length of a string/bytes field: returns -1 for null, -2 after a failure.
  int64_t read_length(bool compact, bool wide, const char* what);

  std::span<const uint8_t> _buf;
  size_t _pos = 0;
  std::string _error;
};

// Appends Kafka primitives to a caller-owned vector.
// A byte field left out of a writer's output on request (see writer::splice_large_bytes): the
// encoded message is the output with `bytes` inserted at `position`.
struct spliced_bytes {
  size_t position = 0;
  std::span<const uint8_t> bytes;
};

class writer {
 public:
  explicit writer(std::vector<uint8_t>& out) : _out(out) {}

  // From now on, a bytes/records field of at least `min_bytes` is not copied into the output:
  // its length prefix is written and the field itself recorded in `sink`, in order. The caller
  // sends the output and the spliced views in one gathered write and keeps their memory alive
  // until then (Fetch responses: records read from the log are never copied a second time).
  void splice_large_bytes(std::vector<spliced_bytes>* sink, size_t min_bytes) {
    _splices = sink;
    _splice_min_bytes = min_bytes;
  }

  size_t size() const { return _out.size(); }

  void write_int8(int8_t v) { _out.push_back(static_cast<uint8_t>(v)); }
  void write_int16(int16_t v) { write_be(static_cast<uint16_t>(v), 2); }
  void write_int32(int32_t v) { write_be(static_cast<uint32_t>(v), 4); }
  void write_int64(int64_t v) { write_be(static_cast<uint64_t>(v), 8); }
  void write_uint16(uint16_t v) { write_be(v, 2); }
  void write_uint32(uint32_t v) { write_be(v, 4); }
  void write_float64(double v);
  void write_bool(bool v) { _out.push_back(v ? 1 : 0); }
  void write_uuid(const uuid& v) {
    write_be(v.hi, 8);
    write_be(v.lo, 8);
  }
  void write_varint(int32_t v);
  void write_varlong(int64_t v);
  void write_unsigned_varint(uint32_t v);
  void write_raw(std::span<const uint8_t> bytes) { _out.insert(_out.end(), bytes.begin(), bytes.end()); }

  void write_string(std::string_view s, bool compact);
  void write_nullable_string(const std::optional<std::string>& s, bool compact);
  void write_bytes(std::span<const uint8_t> b, bool compact);
  void write_nullable_bytes(const std::optional<std::span<const uint8_t>>& b, bool compact);
  void write_nullable_bytes(const std::optional<std::vector<uint8_t>>& b, bool compact);
  // -1 (null) or a count, in classic (int32) or compact (unsigned varint + 1) form.
  void write_array_length(int32_t n, bool compact);

 private:
  void write_be(uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) _out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t>& _out;
  std::vector<spliced_bytes>* _splices = nullptr;
  size_t _splice_min_bytes = 0;
};

// Bytes an unsigned varint / zig-zag varint takes on the wire.
size_t unsigned_varint_size(uint32_t v);
size_t varint_size(int32_t v);
size_t varlong_size(int64_t v);

// Counts the bytes a sequence of writer calls would produce, without producing them.
class size_counter {
 public:
  size_t size() const { return _n; }

  void write_int8(int8_t) { _n += 1; }
  void write_int16(int16_t) { _n += 2; }
  void write_int32(int32_t) { _n += 4; }
  void write_int64(int64_t) { _n += 8; }
  void write_uint16(uint16_t) { _n += 2; }
  void write_uint32(uint32_t) { _n += 4; }
  void write_float64(double) { _n += 8; }
  void write_bool(bool) { _n += 1; }
  void write_uuid(const uuid&) { _n += 16; }
  void write_varint(int32_t v) { _n += varint_size(v); }
  void write_varlong(int64_t v) { _n += varlong_size(v); }
  void write_unsigned_varint(uint32_t v) { _n += unsigned_varint_size(v); }
  void write_raw(std::span<const uint8_t> bytes) { _n += bytes.size(); }

  void write_string(std::string_view s, bool compact) { add_length(s.size(), compact, 2); }
  void write_nullable_string(const std::optional<std::string>& s, bool compact) {
    if (s) write_string(*s, compact);
    else _n += compact ? 1 : 2;
  }
  void write_bytes(std::span<const uint8_t> b, bool compact) { add_length(b.size(), compact, 4); }
  void write_nullable_bytes(const std::optional<std::span<const uint8_t>>& b, bool compact) {
    if (b) write_bytes(*b, compact);
    else _n += compact ? 1 : 4;
  }
  void write_nullable_bytes(const std::optional<std::vector<uint8_t>>& b, bool compact) {
    if (b) write_bytes(*b, compact);
    else _n += compact ? 1 : 4;
  }
  void write_array_length(int32_t n, bool compact) {
    _n += compact ? unsigned_varint_size(static_cast<uint32_t>(n + 1)) : 4;
  }

 private:
  void add_length(size_t len, bool compact, size_t classic_prefix) {
    _n += len + (compact ? unsigned_varint_size(static_cast<uint32_t>(len + 1)) : classic_prefix);
  }
  size_t _n = 0;
};

namespace detail {
// Equality for "records" views: same presence and same bytes.
inline bool records_equal(const std::optional<std::span<const uint8_t>>& a,
                          const std::optional<std::span<const uint8_t>>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  return a->size() == b->size() &&
         (a->empty() || std::equal(a->begin(), a->end(), b->begin()));
}
}  // namespace detail

}  // namespace gregor::protocol
