// partition_log::compact (the log cleaner of one partition). See partition_log.h for the contract.
// Kept apart from partition_log.cc: it is the only code that rewrites batches.
#include <map>
#include <system_error>

#include "batch_scanner.h"
#include "gregor/base/crc32c.h"
#include "gregor/base/log.h"
#include "gregor/storage/partition_log.h"

namespace gregor::storage {
namespace {
namespace fs = std::filesystem;

void put_varint(std::vector<uint8_t>& out, int64_t v) {
  uint64_t z = (uint64_t(v) << 1) ^ uint64_t(v >> 63);
  while (z >= 0x80) {
    out.push_back(uint8_t(z | 0x80));
    z >>= 7;
  }
  out.push_back(uint8_t(z));
}

void put_be(std::vector<uint8_t>& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(uint8_t(v >> (8 * i)));
}

void put_bytes(std::vector<uint8_t>& out, const std::optional<std::string_view>& s) {
  if (!s) {
    put_varint(out, -1);
    return;
  }
  put_varint(out, int64_t(s->size()));
  out.insert(out.end(), s->begin(), s->end());
}

// One record of a v2 batch with its original offset and timestamp deltas.
void encode_record(std::vector<uint8_t>& out, const protocol::record_view& rv,
                   const protocol::batch_header& h) {
  std::vector<uint8_t> body;
  body.push_back(0);  // attributes
  const int64_t ts_delta =
      h.ts_type() == protocol::timestamp_type::log_append_time ? 0 : rv.timestamp - h.base_timestamp;
  put_varint(body, ts_delta);
  put_varint(body, rv.offset - h.base_offset);
  put_bytes(body, rv.key);
  put_bytes(body, rv.value);
  put_varint(body, int64_t(rv.headers.size()));
  for (const auto& hd : rv.headers) {
    put_bytes(body, hd.key);
    put_bytes(body, hd.value);
  }
  put_varint(out, int64_t(body.size()));
  out.insert(out.end(), body.begin(), body.end());
}

// Rebuilds a batch keeping header fields (base offset, last offset delta, timestamps, producer
// fields, attributes and codec) with only the kept records.
result<std::vector<uint8_t>, storage_error> rebuild_batch(const protocol::batch_header& h,
                                                          const std::vector<std::vector<uint8_t>>& records) {
  std::vector<uint8_t> plain;
  for (const auto& r : records) plain.insert(plain.end(), r.begin(), r.end());
  std::vector<uint8_t> payload;
  if (h.codec() == protocol::compression::none) {
    payload = std::move(plain);
  } else {
    auto c = protocol::compress(h.codec(), plain);
    if (!c) return fail(storage_errc::corrupt, "compress: {}", c.error().message);
    payload = std::move(*c);
  }
  std::vector<uint8_t> out;
  out.reserve(protocol::batch_header_size + payload.size());
  put_be(out, uint64_t(h.base_offset), 8);
  put_be(out, uint64_t(uint32_t(protocol::batch_header_size - protocol::batch_log_overhead + payload.size())), 4);
  put_be(out, uint64_t(uint32_t(h.partition_leader_epoch)), 4);
  out.push_back(2);
  put_be(out, 0, 4);  // crc, below
  put_be(out, uint64_t(uint16_t(h.attributes)), 2);
  put_be(out, uint64_t(uint32_t(h.last_offset_delta)), 4);
  put_be(out, uint64_t(h.base_timestamp), 8);
  put_be(out, uint64_t(h.max_timestamp), 8);
  put_be(out, uint64_t(h.producer_id), 8);
  put_be(out, uint64_t(uint16_t(h.producer_epoch)), 2);
  put_be(out, uint64_t(uint32_t(h.base_sequence)), 4);
  put_be(out, uint64_t(uint32_t(records.size())), 4);
  out.insert(out.end(), payload.begin(), payload.end());
  uint32_t crc = protocol::compute_batch_crc(out);
  for (int i = 0; i < 4; ++i) out[17 + i] = uint8_t(crc >> (8 * (3 - i)));
  return out;
}

// Calls fn(header, whole batch bytes) for every batch of a segment, one batch in memory at a time.
template <class Fn>
result<void, storage_error> for_each_batch(const segment& seg, const topic_partition& tp, Fn&& fn) {
  std::vector<uint8_t> buf;
  for (uint64_t pos = 0; pos < seg.size_bytes();) {
    buf.clear();
    auto n = seg.read(pos, protocol::batch_header_size, buf);
    if (!n) return failure{n.error()};
    auto h = protocol::parse_batch_header(buf);
    if (!h || *n < protocol::batch_header_size || h->total_size() > seg.size_bytes() - pos ||
        h->batch_length < int32_t(protocol::batch_header_size - protocol::batch_log_overhead)) {
      return fail(storage_errc::corrupt, "{}: unreadable batch at {} of segment {}", tp, pos, seg.base_offset());
    }
    buf.clear();
    n = seg.read(pos, h->total_size(), buf);
    if (!n) return failure{n.error()};
    if (*n != h->total_size()) return fail(storage_errc::io_error, "{}: short read in segment {}", tp, seg.base_offset());
    auto r = fn(*h, std::span<const uint8_t>(buf));
    if (!r) return r;
    pos += h->total_size();
  }
  return ok;
}

}  // namespace

result<compaction_result, storage_error> partition_log::compact(int64_t now_ms, bool force) {
  compaction_result cr;
  if (_closed || !_cfg.compact || _segments.size() < 2) return cr;
  auto& lg = log::get("storage");
  // Cleanable: closed segments whose newest record is older than min.compaction.lag.ms.
  size_t cleanable = 0;
  while (cleanable + 1 < _segments.size()) {
    const auto& seg = *_segments[cleanable];
    if (_cfg.min_compaction_lag_ms > 0 && seg.max_timestamp() >= 0 &&
        now_ms - seg.max_timestamp() < _cfg.min_compaction_lag_ms)
      break;
    ++cleanable;
  }
  if (cleanable == 0) return cr;
  if (!force) {
    size_t total = 0, dirty = 0;
    int64_t oldest_dirty_ts = INT64_MAX;
    for (size_t i = 0; i < cleanable; ++i) {
      total += _segments[i]->size_bytes();
      if (_segments[i]->next_offset() > _cleaned_up_to) {
        dirty += _segments[i]->size_bytes();
        if (_segments[i]->max_timestamp() >= 0)
          oldest_dirty_ts = std::min(oldest_dirty_ts, _segments[i]->max_timestamp());
      }
    }
    const bool overdue = _cfg.max_compaction_lag_ms != INT64_MAX && oldest_dirty_ts != INT64_MAX &&
                         now_ms - oldest_dirty_ts > _cfg.max_compaction_lag_ms;
    if (dirty == 0 || (total > 0 && double(dirty) / double(total) < _cfg.min_cleanable_dirty_ratio &&
                       !overdue))
      return cr;
  }

  // Pass 1: the newest offset of every key in the cleanable segments.
  std::map<std::string, int64_t, std::less<>> newest;
  for (size_t i = 0; i < cleanable; ++i) {
    auto scanned = for_each_batch(*_segments[i], _tp, [&](const protocol::batch_header& h,
                                                          std::span<const uint8_t> whole)
                                                          -> result<void, storage_error> {
      if (h.is_control()) return ok;
      auto r = protocol::for_each_record(whole, [&](const protocol::record_view& rv) {
        if (!rv.key) return;
        auto it = newest.find(*rv.key);
        if (it == newest.end()) newest.emplace(std::string(*rv.key), rv.offset);
        else it->second = std::max(it->second, rv.offset);
      });
      if (!r) return fail(storage_errc::corrupt, "{}: {}", _tp, r.error().message);
      return ok;
    });
    if (!scanned) return failure{scanned.error()};
  }

  // Pass 2: rewrite each cleanable segment; swap it in only when something changed.
  for (size_t i = 0; i < cleanable; ++i) {
    auto& seg = _segments[i];
    const int64_t base = seg->base_offset();
    const auto stem = segment_file_stem(base);
    const fs::path log_path = _dir / (stem + ".log");
    const fs::path cleaned = _dir / (stem + ".log.cleaned");
    const fs::path swap = _dir / (stem + ".log.swap");
    auto cf = file::open(cleaned);
    if (!cf) return failure{cf.error()};
    if (auto t = cf->truncate(0); !t) return failure{t.error()};
    uint64_t written = 0;
    auto emit = [&](std::span<const uint8_t> bytes) -> result<void, storage_error> {
      auto w = cf->pwrite(written, bytes);
      if (!w) return w;
      written += bytes.size();
      return ok;
    };
    size_t removed = 0;
    auto pass = for_each_batch(*seg, _tp, [&](const protocol::batch_header& hh,
                                              std::span<const uint8_t> whole)
                                              -> result<void, storage_error> {
      const protocol::batch_header* h = &hh;
      if (h->is_control()) return emit(whole);
      const bool tombstones_expire = now_ms - h->max_timestamp > _cfg.delete_retention_ms;
      std::vector<std::vector<uint8_t>> kept;
      int32_t total = 0;
      auto r = protocol::for_each_record(whole, [&](const protocol::record_view& rv) {
        ++total;
        if (rv.key) {
          auto it = newest.find(*rv.key);
          if (it != newest.end() && it->second != rv.offset) return;
          if (!rv.value && tombstones_expire) return;
        }
        kept.emplace_back();
        encode_record(kept.back(), rv, *h);
      });
      if (!r) return fail(storage_errc::corrupt, "{}: {}", _tp, r.error().message);
      removed += size_t(total) - kept.size();
      if (kept.size() == size_t(total)) return emit(whole);
      if (kept.empty()) return ok;
      auto b = rebuild_batch(*h, kept);
      if (!b) return failure{b.error()};
      return emit(*b);
    });
    std::error_code ec;
    if (!pass || removed == 0) {
      cf->close();
      fs::remove(cleaned, ec);
      if (!pass) return failure{pass.error()};
      continue;
    }
    if (auto s = cf->sync(); !s) return failure{s.error()};
    cf->close();
    cr.segments_cleaned++;
    cr.records_removed += removed;
    cr.bytes_before += seg->size_bytes();
    cr.bytes_after += written;

    fs::rename(cleaned, swap, ec);
    if (ec) return fail(storage_errc::io_error, "rename {}: {}", cleaned.string(), ec.message());
    auto sd = sync_dir(_dir);
    if (!sd) return failure{sd.error()};
    // From here a crash completes the swap at the next open.
    auto old = seg->mark_deleted();
    if (!old) return failure{old.error()};
    _pending_deletes.push_back(pending_delete{std::move(*old), now_ms});
    fs::rename(swap, log_path, ec);
    if (ec) return fail(storage_errc::io_error, "rename {}: {}", swap.string(), ec.message());
    sd = sync_dir(_dir);
    if (!sd) return failure{sd.error()};
    auto reopened = segment::open(_dir, base, limits(), /*active=*/false, now_ms, /*full_recovery=*/true);
    if (!reopened) return failure{reopened.error()};
    seg = std::move(*reopened);
  }
  _cleaned_up_to = _segments[cleanable - 1]->next_offset();
  if (cr.segments_cleaned > 0) {
    lg.info("{}: compacted {} segment(s): {} records removed, {} -> {} bytes", _tp,
            cr.segments_cleaned, cr.records_removed, cr.bytes_before, cr.bytes_after);
  }
  return cr;
}

}  // namespace gregor::storage
