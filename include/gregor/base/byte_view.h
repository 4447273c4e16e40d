#pragma once
// Views bytes held as chars (std::string: files, raft payloads, record keys and values) as the
// uint8_t spans protocol::reader and the record batch code take, and back. No copies: the views
// borrow the caller's memory.
#include <cstdint>
#include <span>
#include <string_view>

namespace gregor {

inline std::span<const uint8_t> byte_view(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

inline std::string_view char_view(std::span<const uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace gregor
