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

template <class Msg>
std::vector<uint8_t> encode_response(const Msg& m, int16_t version, int32_t correlation_id) {
  std::vector<uint8_t> out;
  writer w(out);
  encode_response_header(w, correlation_id, response_header_version(Msg::api_key, version));
  m.encode(w, version);
  return out;
}

}  // namespace gregor::protocol
