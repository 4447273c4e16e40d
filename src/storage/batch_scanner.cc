#include "batch_scanner.h"

#include <algorithm>

namespace gregor::storage::detail {

namespace {
constexpr size_t header_chunk_bytes = 16 * 1024;
constexpr size_t whole_chunk_bytes = 1024 * 1024;
}  // namespace

result<bool, storage_error> batch_scanner::ensure(uint64_t pos, size_t len) {
  if (pos >= _buf_pos && pos + len <= _buf_pos + _buf.size()) return true;
  size_t want = std::max(len, _whole ? whole_chunk_bytes : header_chunk_bytes);
  want = size_t(std::min<uint64_t>(want, _end - pos));
  _buf.resize(want);
  auto n = _file.pread(pos, _buf);
  if (!n) return failure{n.error()};
  _buf.resize(*n);
  _buf_pos = pos;
  return *n >= len;
}

result<scan_status, storage_error> batch_scanner::next(batch_location& out,
                                                       std::span<const uint8_t>* bytes) {
  if (_pos >= _end) return scan_status::end;
  if (_end - _pos < protocol::batch_header_size) {
    _reason = fmt::format("partial batch header ({} bytes) at position {}", _end - _pos, _pos);
    return scan_status::torn;
  }
  auto have = ensure(_pos, protocol::batch_header_size);
  if (!have) return failure{have.error()};
  if (!*have) {
    _reason = fmt::format("file shorter than expected at position {}", _pos);
    return scan_status::torn;
  }
  std::span<const uint8_t> head(_buf.data() + (_pos - _buf_pos), protocol::batch_header_size);
  auto h = protocol::parse_batch_header(head);
  if (!h) {
    _reason = fmt::format("bad magic {} at position {}", int(head[16]), _pos);
    return scan_status::corrupt;
  }
  if (h->batch_length < int32_t(protocol::batch_header_size - protocol::batch_log_overhead) ||
      h->last_offset_delta < 0 || h->base_offset < 0) {
    _reason = fmt::format("bad batch length {} / last offset delta {} / base offset {} at position {}",
                          h->batch_length, h->last_offset_delta, h->base_offset, _pos);
    return scan_status::corrupt;
  }
  size_t total = h->total_size();
  if (total > _end - _pos) {
    _reason = fmt::format("partial batch at position {}: {} bytes declared, {} present", _pos,
                          total, _end - _pos);
    return scan_status::torn;
  }
  if (_whole) {
    auto all = ensure(_pos, total);
    if (!all) return failure{all.error()};
    if (!*all) {
      _reason = fmt::format("file shorter than expected at position {}", _pos);
      return scan_status::torn;
    }
    std::span<const uint8_t> batch(_buf.data() + (_pos - _buf_pos), total);
    if (_verify && !protocol::batch_crc_ok(batch)) {
      _reason = fmt::format("CRC mismatch in batch at position {} (base offset {})", _pos,
                            h->base_offset);
      return scan_status::corrupt;
    }
    if (bytes) *bytes = batch;
  }
  out.position = _pos;
  out.header = *h;
  _pos += total;
  return scan_status::batch;
}

}  // namespace gregor::storage::detail
