#include "gregor/protocol/headers.h"

#include "gregor/protocol/api.h"

namespace gregor::protocol {

namespace {
bool is_flexible(int16_t api_key, int16_t api_version) {
  const api_info* api = find_api(api_key);
  return api != nullptr && api_version >= api->flexible_min;
}

void read_tagged_section(reader& r, std::vector<tagged_field>& out) {
  uint32_t n = r.read_unsigned_varint();
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    uint32_t tag = r.read_unsigned_varint();
    uint32_t size = r.read_unsigned_varint();
    auto body = r.read_raw(size);
    if (!r.ok()) return;
    out.push_back({tag, std::vector<uint8_t>(body.begin(), body.end())});
  }
}

void write_tagged_section(writer& w, const std::vector<tagged_field>& fields) {
  w.write_unsigned_varint(static_cast<uint32_t>(fields.size()));
  for (const auto& f : fields) {
    w.write_unsigned_varint(f.tag);
    w.write_unsigned_varint(static_cast<uint32_t>(f.data.size()));
    w.write_raw(f.data);
  }
}
}  // namespace

int16_t request_header_version(int16_t api_key, int16_t api_version) {
  return is_flexible(api_key, api_version) ? 2 : 1;
}

int16_t response_header_version(int16_t api_key, int16_t api_version) {
  if (api_key == 18) return 0;
  return is_flexible(api_key, api_version) ? 1 : 0;
}

bool decode_request_header(reader& r, request_header& out) {
  out.api_key = r.read_int16();
  out.api_version = r.read_int16();
  out.correlation_id = r.read_int32();
  out.client_id = r.read_nullable_string(false);
  out.unknown_tagged_fields.clear();
  if (r.ok() && request_header_version(out.api_key, out.api_version) >= 2) {
    read_tagged_section(r, out.unknown_tagged_fields);
  }
  return r.ok();
}

void encode_request_header(writer& w, const request_header& h) {
  w.write_int16(h.api_key);
  w.write_int16(h.api_version);
  w.write_int32(h.correlation_id);
  w.write_nullable_string(h.client_id, false);
  if (request_header_version(h.api_key, h.api_version) >= 2) {
    write_tagged_section(w, h.unknown_tagged_fields);
  }
}

void encode_response_header(writer& w, int32_t correlation_id, int16_t header_version) {
  w.write_int32(correlation_id);
  if (header_version >= 1) w.write_unsigned_varint(0);
}

}  // namespace gregor::protocol
