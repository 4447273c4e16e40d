#pragma once
// Strong identifier types shared across module boundaries. An offset is not an int64 and a node
// id is not an int32: mixing them up is a compile error. `.value()` unwraps at the wire.
#include <compare>
#include <cstdint>
#include <functional>
#include <string>

#include <fmt/format.h>

namespace gregor {

template <class Tag, class Rep>
class strong_int {
 public:
  using rep = Rep;
  constexpr strong_int() = default;
  constexpr explicit strong_int(Rep v) : _v(v) {}
  constexpr Rep value() const { return _v; }
  constexpr auto operator<=>(const strong_int&) const = default;
  constexpr strong_int& operator++() {
    ++_v;
    return *this;
  }
  constexpr strong_int operator+(Rep d) const { return strong_int(_v + d); }
  constexpr strong_int operator-(Rep d) const { return strong_int(_v - d); }
  constexpr Rep operator-(strong_int o) const { return _v - o._v; }
  constexpr strong_int& operator+=(Rep d) {
    _v += d;
    return *this;
  }

 private:
  Rep _v{};
};

using offset = strong_int<struct offset_tag, int64_t>;
using leader_epoch = strong_int<struct leader_epoch_tag, int32_t>;
using node_id = strong_int<struct node_id_tag, int32_t>;
using partition_id = strong_int<struct partition_id_tag, int32_t>;
using producer_id = strong_int<struct producer_id_tag, int64_t>;
using producer_epoch = strong_int<struct producer_epoch_tag, int16_t>;

// Named sentinels: never a bare -1 in code that means one of these.
inline constexpr offset no_offset{-1};
inline constexpr leader_epoch no_leader_epoch{-1};
inline constexpr node_id no_node{-1};
inline constexpr producer_id no_producer_id{-1};
inline constexpr producer_epoch no_producer_epoch{-1};
// Timestamps are milliseconds since the Unix epoch; -1 means "none" as on the wire.
inline constexpr int64_t no_timestamp = -1;

struct topic_partition {
  std::string topic;
  partition_id partition;
  auto operator<=>(const topic_partition&) const = default;
};

// A 128-bit UUID as Kafka uses it for topic ids. All-zero is Kafka's "no id".
struct uuid {
  uint64_t hi = 0;
  uint64_t lo = 0;
  auto operator<=>(const uuid&) const = default;
  bool is_zero() const { return hi == 0 && lo == 0; }
  static uuid random();
  // Kafka prints topic ids as URL-safe base64 without padding (22 characters).
  std::string to_base64() const;
  static bool from_base64(std::string_view text, uuid& out);
};

}  // namespace gregor

template <class Tag, class Rep>
struct std::hash<gregor::strong_int<Tag, Rep>> {
  size_t operator()(gregor::strong_int<Tag, Rep> v) const noexcept {
    return std::hash<Rep>{}(v.value());
  }
};
template <>
struct std::hash<gregor::topic_partition> {
  size_t operator()(const gregor::topic_partition& tp) const noexcept {
    return std::hash<std::string>{}(tp.topic) * 31 + std::hash<int32_t>{}(tp.partition.value());
  }
};
template <>
struct std::hash<gregor::uuid> {
  size_t operator()(const gregor::uuid& u) const noexcept { return u.hi ^ (u.lo * 0x9e3779b97f4a7c15ULL); }
};

template <class Tag, class Rep>
struct fmt::formatter<gregor::strong_int<Tag, Rep>> : fmt::formatter<Rep> {
  auto format(gregor::strong_int<Tag, Rep> v, fmt::format_context& ctx) const {
    return fmt::formatter<Rep>::format(v.value(), ctx);
  }
};
template <>
struct fmt::formatter<gregor::topic_partition> : fmt::formatter<std::string_view> {
  auto format(const gregor::topic_partition& tp, fmt::format_context& ctx) const {
    return fmt::format_to(ctx.out(), "{}-{}", tp.topic, tp.partition.value());
  }
};
