#pragma once
// Kafka request and response headers.
//
// Request header v1: api_key i16, api_version i16, correlation_id i32, client_id (classic nullable
// string). v2 adds a tagged-field section. client_id stays a classic (int16-length) string even in
// v2. Response header v0: correlation_id i32; v1 adds a tagged-field section. Flexible request
// versions use request header v2 / response header v1, except that ApiVersions responses always
// use response header v0 so that clients can parse them before knowing our versions.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gregor/protocol/wire.h"

namespace gregor::protocol {

struct request_header {
  int16_t api_key = 0;
  int16_t api_version = 0;
  int32_t correlation_id = 0;
  std::optional<std::string> client_id;
  std::vector<tagged_field> unknown_tagged_fields;
  bool operator==(const request_header&) const = default;
};

// 2 if (api_key, api_version) is flexible, else 1. Unknown API keys get 1.
int16_t request_header_version(int16_t api_key, int16_t api_version);
// 1 if flexible, else 0; ApiVersions (18) is always 0.
int16_t response_header_version(int16_t api_key, int16_t api_version);

// Decodes a request header from the start of a frame, picking v1/v2 from the api key and version
// read first. Returns false (and leaves r not ok) on bad input.
bool decode_request_header(reader& r, request_header& out);
void encode_request_header(writer& w, const request_header& h);
void encode_response_header(writer& w, int32_t correlation_id, int16_t header_version);

}  // namespace gregor::protocol
