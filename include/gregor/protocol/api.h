#pragma once
// The table of Kafka APIs we have schemas for (generated from src/protocol/schema), and helpers to
// build whole request/response frame bodies (header + message, without the 4-byte size prefix).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gregor/protocol/headers.h"
#include "gregor/protocol/wire.h"

namespace gregor::protocol {

struct api_info {
  int16_t key;
  std::string_view name;  // Kafka's name, e.g. "Produce"
  int16_t min_version;
  int16_t max_version;
  int16_t flexible_min;  // first flexible version, INT16_MAX if none
};

// Every API we have schemas for, sorted by key.
std::span<const api_info> all_apis();
// nullptr if unknown.
const api_info* find_api(int16_t key);

template <class Msg>
std::vector<uint8_t> encode_request(const Msg& m, int16_t version, int32_t correlation_id,
                                    std::optional<std::string> client_id) {
  std::vector<uint8_t> out;
  out.reserve(m.encoded_size(version) + 16 + (client_id ? client_id->size() : 0));
  writer w(out);
  request_header h;
  h.api_key = Msg::api_key;
  h.api_version = version;
  h.correlation_id = correlation_id;
  h.client_id = std::move(client_id);
  encode_request_header(w, h);
  m.encode(w, version);
  return out;
}

namespace detail {
// Without a splice sink every field is copied and the buffer is sized once (growing a large
// response by doubling costs a fresh mapping per step).
template <class Msg>
std::vector<uint8_t> encode_response_to(const Msg& m, int16_t version, int32_t correlation_id,
                                        std::vector<spliced_bytes>* splices, size_t splice_min_bytes) {
  std::vector<uint8_t> out;
  writer w(out);
  if (splices != nullptr) w.splice_large_bytes(splices, splice_min_bytes);
  else out.reserve(m.encoded_size(version) + 16);  // + the response header
  encode_response_header(w, correlation_id, response_header_version(Msg::api_key, version));
  m.encode(w, version);
  return out;
}
}  // namespace detail

template <class Msg>
std::vector<uint8_t> encode_response(const Msg& m, int16_t version, int32_t correlation_id) {
  return detail::encode_response_to(m, version, correlation_id, nullptr, 0);
}

// As encode_response, but bytes/records fields of at least `splice_min_bytes` are left out of the
// returned buffer and listed in `splices` (see writer::splice_large_bytes): the caller writes both
// in one gathered write, so large records are not copied into the response.
template <class Msg>
std::vector<uint8_t> encode_response_spliced(const Msg& m, int16_t version, int32_t correlation_id,
                                             std::vector<spliced_bytes>& splices,
                                             size_t splice_min_bytes) {
  return detail::encode_response_to(m, version, correlation_id, &splices, splice_min_bytes);
}

}  // namespace gregor::protocol
