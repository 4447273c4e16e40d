// Proves the wire reader/writer round-trip Kafka primitives and that the reader rejects hostile
// lengths and varints before allocating, with a sticky first error.
#include <gtest/gtest.h>

#include <limits>

#include "gregor/protocol/wire.h"

namespace gregor::protocol {
namespace {
std::vector<uint8_t> bytes(std::initializer_list<int> v) {
  std::vector<uint8_t> out;
  for (int b : v) out.push_back(static_cast<uint8_t>(b));
  return out;
}
}  // namespace

TEST(wire, integers_are_big_endian_and_round_trip) {
  std::vector<uint8_t> buf;
  writer w(buf);
  w.write_int8(-2);
  w.write_int16(0x1234);
  w.write_int32(-1);
  w.write_int64(0x0102030405060708LL);
  w.write_uint32(0xdeadbeef);
  w.write_float64(2.5);
  w.write_bool(true);
  w.write_uuid(uuid{1, 2});
  EXPECT_EQ(buf[1], 0x12);
  EXPECT_EQ(buf[2], 0x34);
  reader r(buf);
  EXPECT_EQ(r.read_int8(), -2);
  EXPECT_EQ(r.read_int16(), 0x1234);
  EXPECT_EQ(r.read_int32(), -1);
  EXPECT_EQ(r.read_int64(), 0x0102030405060708LL);
  EXPECT_EQ(r.read_uint32(), 0xdeadbeefu);
  EXPECT_EQ(r.read_float64(), 2.5);
  EXPECT_TRUE(r.read_bool());
  EXPECT_EQ(r.read_uuid(), (uuid{1, 2}));
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(wire, varints_round_trip_at_the_edges) {
  for (int32_t v : {0, 1, -1, 63, -64, 64, 300, std::numeric_limits<int32_t>::max(),
                    std::numeric_limits<int32_t>::min()}) {
    std::vector<uint8_t> buf;
    writer w(buf);
    w.write_varint(v);
    EXPECT_EQ(buf.size(), varint_size(v));
    reader r(buf);
    EXPECT_EQ(r.read_varint(), v);
    EXPECT_TRUE(r.ok());
  }
  for (int64_t v : {int64_t{0}, int64_t{-1}, std::numeric_limits<int64_t>::max(),
                    std::numeric_limits<int64_t>::min()}) {
    std::vector<uint8_t> buf;
    writer w(buf);
    w.write_varlong(v);
    EXPECT_EQ(buf.size(), varlong_size(v));
    reader r(buf);
    EXPECT_EQ(r.read_varlong(), v);
    EXPECT_TRUE(r.ok());
  }
  std::vector<uint8_t> buf;
  writer w(buf);
  w.write_unsigned_varint(300);
  EXPECT_EQ(buf, bytes({0xac, 0x02}));
}

TEST(wire, varint_longer_than_five_bytes_fails) {
  auto buf = bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x01});
  reader r(buf);
  r.read_unsigned_varint();
  EXPECT_FALSE(r.ok());
}

TEST(wire, varlong_longer_than_ten_bytes_fails) {
  auto buf = bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01});
  reader r(buf);
  r.read_varlong();
  EXPECT_FALSE(r.ok());
}

TEST(wire, a_tagged_field_section_is_skipped_whole_and_a_short_one_fails) {
  std::vector<uint8_t> bytes;
  writer w(bytes);
  w.write_unsigned_varint(2);  // two tagged fields
  w.write_unsigned_varint(0);
  w.write_unsigned_varint(3);
  const uint8_t first[] = {1, 2, 3};
  w.write_raw(first);
  w.write_unsigned_varint(7);
  w.write_unsigned_varint(0);  // an empty one
  w.write_int32(42);           // what follows the section
  reader r(bytes);
  r.skip_tagged_fields();
  EXPECT_EQ(r.read_int32(), 42);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);

  const std::vector<uint8_t> none{0};
  reader empty(none);
  empty.skip_tagged_fields();
  EXPECT_TRUE(empty.ok());
  EXPECT_EQ(empty.remaining(), 0u);

  bytes.resize(4);  // the first field's bytes cut short
  reader cut(bytes);
  cut.skip_tagged_fields();
  EXPECT_FALSE(cut.ok());
}

TEST(wire, strings_classic_and_compact_with_null) {
  std::vector<uint8_t> buf;
  writer w(buf);
  w.write_string("ab", false);
  w.write_string("ab", true);
  w.write_nullable_string(std::nullopt, false);
  w.write_nullable_string(std::nullopt, true);
  EXPECT_EQ(buf, bytes({0x00, 0x02, 'a', 'b', 0x03, 'a', 'b', 0xff, 0xff, 0x00}));
  reader r(buf);
  EXPECT_EQ(r.read_string(false), "ab");
  EXPECT_EQ(r.read_string(true), "ab");
  EXPECT_EQ(r.read_nullable_string(false), std::nullopt);
  EXPECT_EQ(r.read_nullable_string(true), std::nullopt);
  EXPECT_TRUE(r.ok());
}

TEST(wire, null_for_non_nullable_string_fails) {
  auto buf = bytes({0xff, 0xff});
  reader r(buf);
  r.read_string(false);
  EXPECT_FALSE(r.ok());
}

TEST(wire, string_length_minus_two_fails) {
  auto buf = bytes({0xff, 0xfe, 'a', 'b'});
  reader r(buf);
  EXPECT_EQ(r.read_nullable_string(false), std::nullopt);
  EXPECT_FALSE(r.ok());
}

TEST(wire, string_longer_than_buffer_fails_without_allocating) {
  auto buf = bytes({0x7f, 0xff, 'a'});
  reader r(buf);
  EXPECT_EQ(r.read_string(false), "");
  EXPECT_FALSE(r.ok());
}

TEST(wire, compact_bytes_with_huge_length_fail) {
  auto buf = bytes({0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2});
  reader r(buf);
  EXPECT_TRUE(r.read_bytes(true).empty());
  EXPECT_FALSE(r.ok());
}

TEST(wire, array_count_larger_than_buffer_fails) {
  auto buf = bytes({0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1});
  reader r(buf);
  EXPECT_EQ(r.read_array_length(false, 4), 0);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error().find("array length 2147483647 exceeds 4 remaining bytes at offset 0"),
            std::string::npos)
      << r.error();
}

TEST(wire, array_count_below_minus_one_fails) {
  auto buf = bytes({0xff, 0xff, 0xff, 0xfe});
  reader r(buf);
  r.read_array_length(false, 1);
  EXPECT_FALSE(r.ok());
}

TEST(wire, errors_are_sticky_and_keep_the_first_reason) {
  auto buf = bytes({0x01});
  reader r(buf);
  r.read_int32();
  std::string first = r.error();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.read_int8(), 0);
  r.fail("second");
  EXPECT_EQ(r.error(), first);
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(wire, size_counter_matches_writer) {
  std::vector<uint8_t> buf;
  writer w(buf);
  size_counter c;
  for (auto* dummy : {&buf}) {
    (void)dummy;
    w.write_string("hello", true);
    c.write_string("hello", true);
    w.write_nullable_bytes(std::optional<std::vector<uint8_t>>(), false);
    c.write_nullable_bytes(std::optional<std::vector<uint8_t>>(), false);
    w.write_array_length(200, true);
    c.write_array_length(200, true);
    w.write_varlong(-12345678);
    c.write_varlong(-12345678);
  }
  EXPECT_EQ(buf.size(), c.size());
}
}  // namespace gregor::protocol
