// Test-only stand-in for the parts of gregor_records (record_batch.h) that storage uses, linked
// into storage_tests only while the real library does not exist. Uncompressed batches only.
#include <algorithm>
#include <cstring>

#include "gregor/base/crc32c.h"
#include "gregor/protocol/record_batch.h"

namespace gregor::protocol {
namespace {
uint64_t be(std::span<const uint8_t> b, size_t at, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | b[at + i];
  return v;
}
void put_be(uint8_t* p, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) p[i] = uint8_t(v >> (8 * (n - 1 - i)));
}
void put_varlong(std::vector<uint8_t>& out, int64_t v) {
  uint64_t z = (uint64_t(v) << 1) ^ uint64_t(v >> 63);
  while (z >= 0x80) {
    out.push_back(uint8_t(z | 0x80));
    z >>= 7;
  }
  out.push_back(uint8_t(z));
}
bool get_varlong(std::span<const uint8_t> b, size_t& pos, int64_t& v) {
  uint64_t z = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= b.size()) return false;
    uint8_t c = b[pos++];
    z |= uint64_t(c & 0x7f) << shift;
    if (!(c & 0x80)) {
      v = int64_t(z >> 1) ^ -int64_t(z & 1);
      return true;
    }
  }
  return false;
}
bool get_bytes(std::span<const uint8_t> b, size_t& pos, std::optional<std::string_view>& out) {
  int64_t len;
  if (!get_varlong(b, pos, len)) return false;
  if (len < 0) {
    out.reset();
    return true;
  }
  if (size_t(len) > b.size() - pos) return false;
  out = std::string_view(reinterpret_cast<const char*>(b.data() + pos), size_t(len));
  pos += size_t(len);
  return true;
}
void put_bytes(std::vector<uint8_t>& out, const std::optional<std::string>& s) {
  if (!s) return put_varlong(out, -1);
  put_varlong(out, int64_t(s->size()));
  out.insert(out.end(), s->begin(), s->end());
}
}  // namespace

std::optional<batch_header> parse_batch_header(std::span<const uint8_t> b) {
  if (b.size() < batch_header_size || b[16] != 2) return std::nullopt;
  batch_header h;
  h.base_offset = int64_t(be(b, 0, 8));
  h.batch_length = int32_t(be(b, 8, 4));
  h.partition_leader_epoch = int32_t(be(b, 12, 4));
  h.magic = int8_t(b[16]);
  h.crc = uint32_t(be(b, 17, 4));
  h.attributes = int16_t(be(b, 21, 2));
  h.last_offset_delta = int32_t(be(b, 23, 4));
  h.base_timestamp = int64_t(be(b, 27, 8));
  h.max_timestamp = int64_t(be(b, 35, 8));
  h.producer_id = int64_t(be(b, 43, 8));
  h.producer_epoch = int16_t(be(b, 51, 2));
  h.base_sequence = int32_t(be(b, 53, 4));
  h.records_count = int32_t(be(b, 57, 4));
  return h;
}

void set_base_offset(std::span<uint8_t> batch, int64_t base_offset) {
  put_be(batch.data(), uint64_t(base_offset), 8);
}
void set_partition_leader_epoch(std::span<uint8_t> batch, int32_t epoch) {
  put_be(batch.data() + 12, uint32_t(epoch), 4);
}
uint32_t compute_batch_crc(std::span<const uint8_t> batch) {
  return crc32c(batch.data() + 21, batch.size() - 21);
}
bool batch_crc_ok(std::span<const uint8_t> batch) {
  return batch.size() >= batch_header_size && compute_batch_crc(batch) == uint32_t(be(batch, 17, 4));
}

result<void, batch_error> for_each_record(std::span<const uint8_t> batch,
                                          const std::function<void(const record_view&)>& fn,
                                          size_t) {
  auto h = parse_batch_header(batch);
  if (!h || h->codec() != compression::none || h->total_size() != batch.size()) {
    return failure{batch_error{error_code::corrupt_message, "stub: bad batch"}};
  }
  size_t pos = batch_header_size;
  for (int32_t i = 0; i < h->records_count; ++i) {
    int64_t len, ts_delta, off_delta, nheaders;
    if (!get_varlong(batch, pos, len) || pos + 1 > batch.size()) {
      return failure{batch_error{error_code::corrupt_message, "stub: bad record"}};
    }
    ++pos;  // attributes
    record_view rv;
    if (!get_varlong(batch, pos, ts_delta) || !get_varlong(batch, pos, off_delta) ||
        !get_bytes(batch, pos, rv.key) || !get_bytes(batch, pos, rv.value) ||
        !get_varlong(batch, pos, nheaders)) {
      return failure{batch_error{error_code::corrupt_message, "stub: bad record"}};
    }
    for (int64_t k = 0; k < nheaders; ++k) {
      std::optional<std::string_view> hk, hv;
      if (!get_bytes(batch, pos, hk) || !get_bytes(batch, pos, hv) || !hk) {
        return failure{batch_error{error_code::corrupt_message, "stub: bad header"}};
      }
      rv.headers.push_back({*hk, hv});
    }
    rv.offset = h->base_offset + off_delta;
    rv.timestamp = h->ts_type() == timestamp_type::log_append_time ? h->max_timestamp
                                                                   : h->base_timestamp + ts_delta;
    fn(rv);
  }
  return ok;
}

std::vector<uint8_t> build_batch(const std::vector<record_input>& records, const batch_options& opts) {
  std::vector<uint8_t> out(batch_header_size, 0);
  int64_t max_ts = -1;
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    int64_t ts = r.timestamp == -1 ? opts.base_timestamp : r.timestamp;
    max_ts = std::max(max_ts, ts);
    std::vector<uint8_t> body;
    body.push_back(0);
    put_varlong(body, ts - opts.base_timestamp);
    put_varlong(body, int64_t(i));
    put_bytes(body, r.key);
    put_bytes(body, r.value);
    put_varlong(body, int64_t(r.headers.size()));
    for (const auto& [k, v] : r.headers) {
      put_bytes(body, k);
      put_bytes(body, v);
    }
    put_varlong(out, int64_t(body.size()));
    out.insert(out.end(), body.begin(), body.end());
  }
  uint8_t* p = out.data();
  put_be(p, uint64_t(opts.base_offset), 8);
  put_be(p + 8, uint32_t(out.size() - batch_log_overhead), 4);
  put_be(p + 12, uint32_t(-1), 4);
  p[16] = 2;
  int16_t attrs = int16_t(opts.codec) | (opts.transactional ? 0x10 : 0) | (opts.control ? 0x20 : 0);
  put_be(p + 21, uint16_t(attrs), 2);
  put_be(p + 23, uint32_t(records.empty() ? 0 : records.size() - 1), 4);
  put_be(p + 27, uint64_t(opts.base_timestamp), 8);
  put_be(p + 35, uint64_t(max_ts), 8);
  put_be(p + 43, uint64_t(opts.producer_id), 8);
  put_be(p + 51, uint16_t(opts.producer_epoch), 2);
  put_be(p + 53, uint32_t(opts.base_sequence), 4);
  put_be(p + 57, uint32_t(records.size()), 4);
  put_be(p + 17, compute_batch_crc(out), 4);
  return out;
}

}  // namespace gregor::protocol
