// partition_log::compact (the log cleaner of one partition). See partition_log.h for the contract.
// Kept apart from partition_log.cc: it is the only code that rewrites batches.
#include <algorithm>
#include <map>
#include <set>
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
  // An emptied batch (kept for producer state) is written uncompressed, as Kafka's empty header.
  const int16_t attributes = records.empty() ? int16_t(h.attributes & ~int16_t(0x07)) : h.attributes;
  if (records.empty() || h.codec() == protocol::compression::none) {
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
  put_be(out, uint64_t(uint16_t(attributes)), 2);
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

// The empty batch that keeps a cleaned segment's end when its last batch went: `last`'s offsets
// and leader epoch; no records, no timestamp (-1: the segment's max timestamp, time index,
// ListOffsets answers stay those of its remaining records), no producer, no attribute bits.
result<std::vector<uint8_t>, storage_error> filler_batch(const protocol::batch_header& last) {
  protocol::batch_header f = last;
  f.attributes = 0;
  f.base_timestamp = -1;
  f.max_timestamp = -1;
  f.producer_id = -1;
  f.producer_epoch = -1;
  f.base_sequence = -1;
  return rebuild_batch(f, {});
}

// Calls fn(header, whole batch bytes) for every batch of a segment file (`size` bytes), one batch in
// memory at a time; with headers_only, fn gets only the header bytes.
template <class Fn>
result<void, storage_error> for_each_batch(const file& f, uint64_t size, const topic_partition& tp,
                                           int64_t base, bool headers_only, Fn&& fn) {
  std::vector<uint8_t> buf;
  for (uint64_t pos = 0; pos < size;) {
    buf.resize(protocol::batch_header_size);
    auto n = f.pread(pos, buf);
    if (!n) return failure{n.error()};
    auto h = protocol::parse_batch_header(buf);
    if (!h || *n < protocol::batch_header_size || h->total_size() > size - pos ||
        h->batch_length < int32_t(protocol::batch_header_size - protocol::batch_log_overhead)) {
      return fail(storage_errc::corrupt, "{}: unreadable batch at {} of segment {}", tp, pos, base);
    }
    if (!headers_only) {
      buf.resize(h->total_size());
      n = f.pread(pos, buf);
      if (!n) return failure{n.error()};
      if (*n != h->total_size()) return fail(storage_errc::io_error, "{}: short read in segment {}", tp, base);
    }
    auto r = fn(*h, std::span<const uint8_t>(buf));
    if (!r) return r;
    pos += h->total_size();
  }
  return ok;
}

// Opens a planned source segment and checks it is still the size it was planned at.
result<file, storage_error> open_source(const compaction_plan& plan, const compaction_plan::source& src) {
  auto f = file::open_read(plan.dir / (segment_file_stem(src.base_offset) + ".log"));
  if (!f) return failure{f.error()};
  auto sz = f->size();
  if (!sz) return failure{sz.error()};
  if (*sz < src.size_bytes)
    return fail(storage_errc::corrupt, "{}: segment {} shrank while being cleaned", plan.tp, src.base_offset);
  return f;
}

}  // namespace

namespace {

// Kafka's CleanedTransactionMetadata: walks a range of the log in offset order with the aborted
// transactions overlapping it and tells, batch by batch, what the cleaner may drop.
class txn_tracker {
 public:
  explicit txn_tracker(const std::vector<aborted_txn>& aborted) : _aborted(aborted) {}

  // A data batch: true when it belongs to an aborted transaction (all its records go).
  bool aborted_batch(const protocol::batch_header& h) {
    consume_up_to(h.last_offset());
    if (!h.is_transactional() || h.producer_id < 0) return false;
    if (auto it = _ongoing_aborted.find(h.producer_id); it != _ongoing_aborted.end()) {
      it->second = true;  // data of this aborted transaction seen in the range
      return true;
    }
    _ongoing_committed.insert(h.producer_id);
    return false;
  }
  // A COMMIT/ABORT marker: true when no data of its transaction was seen in the range (the marker
  // may go once its delete horizon passed).
  bool marker_discardable(const protocol::batch_header& h, bool commit) {
    consume_up_to(h.last_offset());
    if (commit) return _ongoing_committed.erase(h.producer_id) == 0;
    auto it = _ongoing_aborted.find(h.producer_id);
    if (it == _ongoing_aborted.end()) return true;
    const bool seen = it->second;
    _ongoing_aborted.erase(it);
    return !seen;
  }

 private:
  void consume_up_to(int64_t off) {
    while (_next < _aborted.size() && _aborted[_next].first_offset <= off)
      _ongoing_aborted.emplace(_aborted[_next++].producer_id, false);
  }
  const std::vector<aborted_txn>& _aborted;
  size_t _next = 0;
  std::map<int64_t, bool> _ongoing_aborted;  // producer -> data seen
  std::set<int64_t> _ongoing_committed;
};

// The marker type of a transaction control batch: true = COMMIT, false = ABORT, nullopt for other
// control records (key: version i16, type i16).
std::optional<bool> marker_type(std::span<const uint8_t> whole) {
  std::optional<bool> out;
  auto r = protocol::for_each_record(whole, [&](const protocol::record_view& rv) {
    if (!rv.key || rv.key->size() < 4) return;
    const int16_t type = int16_t((uint16_t(uint8_t((*rv.key)[2])) << 8) | uint8_t((*rv.key)[3]));
    if (type == 0 || type == 1) out = type == 1;
  });
  if (!r) return std::nullopt;
  return out;
}

}  // namespace

std::optional<compaction_plan> partition_log::plan_compaction(int64_t now_ms, bool force,
                                                              size_t key_map_bytes_max,
                                                              int64_t first_unstable) const {
  if (_closed || !_cfg.compact || _segments.size() < 2) return std::nullopt;
  // The cleaner reads the closed segments' files through its own descriptors: their queued writes
  // and the roll's padding cut (disk_writer.h) must be done first.
  settle_writes();
  // Cleanable: closed segments whose newest record is older than min.compaction.lag.ms.
  size_t cleanable = 0;
  while (cleanable + 1 < _segments.size()) {
    const auto& seg = *_segments[cleanable];
    // Kafka never cleans at or past the last stable offset: an open transaction may still abort.
    if (seg.next_offset() > first_unstable) break;
    if (_cfg.min_compaction_lag_ms > 0 && seg.max_timestamp() >= 0 &&
        now_ms - seg.max_timestamp() < _cfg.min_compaction_lag_ms)
      break;
    ++cleanable;
  }
  if (cleanable == 0) return std::nullopt;
  size_t first_dirty = cleanable;
  for (size_t i = 0; i < cleanable; ++i) {
    if (_segments[i]->next_offset() > _cleaned_up_to) {
      first_dirty = i;
      break;
    }
  }
  if (force) {
    first_dirty = 0;  // a forced pass rebuilds the key map over every cleanable segment
  } else {
    size_t total = 0, dirty = 0;
    int64_t oldest_dirty_ts = INT64_MAX;
    for (size_t i = 0; i < cleanable; ++i) {
      total += _segments[i]->size_bytes();
      if (i >= first_dirty) {
        dirty += _segments[i]->size_bytes();
        if (_segments[i]->max_timestamp() >= 0)
          oldest_dirty_ts = std::min(oldest_dirty_ts, _segments[i]->max_timestamp());
      }
    }
    const bool overdue = _cfg.max_compaction_lag_ms != INT64_MAX && oldest_dirty_ts != INT64_MAX &&
                         now_ms - oldest_dirty_ts > _cfg.max_compaction_lag_ms;
    if (dirty == 0 || (total > 0 && double(dirty) / double(total) < _cfg.min_cleanable_dirty_ratio &&
                       !overdue))
      return std::nullopt;
  }
  compaction_plan plan;
  plan.dir = _dir;
  plan.tp = _tp;
  plan.first_dirty = first_dirty;
  plan.now_ms = now_ms;
  plan.cfg = _cfg;
  plan.key_map_bytes_max = key_map_bytes_max;
  for (size_t i = 0; i < cleanable; ++i) {
    plan.segments.push_back({_segments[i]->base_offset(), _segments[i]->next_offset(),
                             uint64_t(_segments[i]->size_bytes())});
  }
  plan.aborted = collect_aborted_txns(offset(_segments.front()->base_offset()),
                                      offset(_segments[cleanable - 1]->next_offset()));
  std::sort(plan.aborted.begin(), plan.aborted.end(),
            [](const aborted_txn& a, const aborted_txn& b) { return a.first_offset < b.first_offset; });
  return plan;
}

result<compaction_output, storage_error> partition_log::run_compaction(const compaction_plan& plan) {
  compaction_output out;
  const auto& tp = plan.tp;
  const auto& cfg = plan.cfg;
  // Pass 1a (headers only): the newest batch of every producer in the cleanable segments.
  std::map<int64_t, int64_t> producer_last;
  std::map<int64_t, int64_t> producer_newest;  // data or marker
  for (const auto& src : plan.segments) {
    auto f = open_source(plan, src);
    if (!f) return failure{f.error()};
    auto r = for_each_batch(*f, src.size_bytes, tp, src.base_offset, /*headers_only=*/true,
                            [&](const protocol::batch_header& h, std::span<const uint8_t>) -> result<void, storage_error> {
                              if (!h.is_control() && h.producer_id >= 0) {
                                auto& last = producer_last[h.producer_id];
                                last = std::max(last, h.last_offset());
                              }
                              if (h.producer_id >= 0) {
                                auto& newest = producer_newest[h.producer_id];
                                newest = std::max(newest, h.last_offset());
                              }
                              return ok;
                            });
    if (!r) return failure{r.error()};
  }
  // Pass 1b: the newest offset of every key from the first dirty segment on, until the key map is
  // full (log.cleaner.dedupe.buffer.size). Offsets from `map_end` on are not covered by the map.
  std::map<std::string, int64_t, std::less<>> newest;
  size_t map_bytes = 0;
  constexpr size_t entry_overhead_bytes = 24;
  bool full = false;
  size_t end = plan.segments.size();  // segments [0, end) are cleaned
  int64_t map_end = plan.segments.empty() ? 0 : plan.segments.back().next_offset;
  // Records of aborted transactions never enter the map: they must not supersede anything.
  txn_tracker map_txns(plan.aborted);
  for (size_t i = plan.first_dirty; i < plan.segments.size() && !full; ++i) {
    const auto& src = plan.segments[i];
    auto f = open_source(plan, src);
    if (!f) return failure{f.error()};
    auto scanned = for_each_batch(*f, src.size_bytes, tp, src.base_offset, false,
                                  [&](const protocol::batch_header& h, std::span<const uint8_t> whole)
                                      -> result<void, storage_error> {
      if (full) return ok;
      if (h.is_control()) {
        if (auto type = marker_type(whole); type && h.producer_id >= 0) map_txns.marker_discardable(h, *type);
        return ok;
      }
      if (map_txns.aborted_batch(h)) return ok;
      auto r = protocol::for_each_record(whole, [&](const protocol::record_view& rv) {
        if (full || !rv.key) return;
        auto it = newest.find(*rv.key);
        if (it != newest.end()) {
          it->second = std::max(it->second, rv.offset);
          return;
        }
        if (!newest.empty() && map_bytes + rv.key->size() + entry_overhead_bytes > plan.key_map_bytes_max) {
          full = true;
          map_end = rv.offset;
          end = i + 1;
          return;
        }
        map_bytes += rv.key->size() + entry_overhead_bytes;
        newest.emplace(std::string(*rv.key), rv.offset);
      });
      if (!r) return fail(storage_errc::corrupt, "{}: {}", tp, r.error().message);
      return ok;
    });
    if (!scanned) return failure{scanned.error()};
  }
  if (full) {
    log::get("storage").info("{}: cleaner key map full ({} keys, {} bytes): cleaning up to offset {}", tp,
                             newest.size(), map_bytes, map_end);
  }
  out.cleaned_up_to = map_end;

  // Pass 2: rewrite each segment up to where the map reached into `<seg>.log.cleaned`.
  std::error_code ec;
  txn_tracker txns(plan.aborted);
  // Kafka retains the newest batch of a producer active within producer.id.expiration.ms.
  auto producer_keeps = [&](const protocol::batch_header& h, const std::map<int64_t, int64_t>& newest) {
    auto last = newest.find(h.producer_id);
    return h.producer_id >= 0 && last != newest.end() && last->second == h.last_offset() &&
           plan.now_ms - h.max_timestamp < cfg.producer_id_expiration_ms;
  };
  for (size_t i = 0; i < end; ++i) {
    const auto& src = plan.segments[i];
    auto in = open_source(plan, src);
    if (!in) return failure{in.error()};
    const fs::path cleaned = plan.dir / (segment_file_stem(src.base_offset) + ".log.cleaned");
    auto cf = file::open(cleaned);
    if (!cf) return failure{cf.error()};
    if (auto t = cf->truncate(0); !t) return failure{t.error()};
    uint64_t written = 0;
    int64_t emitted_end = src.base_offset;         // one past the last batch written
    std::optional<protocol::batch_header> last_in;  // the source's last batch
    auto emit = [&](std::span<const uint8_t> bytes) -> result<void, storage_error> {
      auto w = cf->pwrite(written, bytes);
      if (!w) return w;
      written += bytes.size();
      if (auto h = protocol::parse_batch_header(bytes)) emitted_end = h->last_offset() + 1;
      return ok;
    };
    size_t removed = 0;
    bool rewritten = false;  // a batch changed without losing records (a marker's delete horizon)
    std::vector<int64_t> removed_aborts;
    auto pass = for_each_batch(*in, src.size_bytes, tp, src.base_offset, false,
                               [&](const protocol::batch_header& hh, std::span<const uint8_t> whole)
                                   -> result<void, storage_error> {
      const protocol::batch_header* h = &hh;
      last_in = hh;
      if (h->is_control()) {
        const auto type = h->producer_id >= 0 ? marker_type(whole) : std::nullopt;
        if (!type || !txns.marker_discardable(*h, *type) || producer_keeps(*h, producer_newest)) return emit(whole);
        if (h->has_delete_horizon()) {
          if (plan.now_ms < h->base_timestamp) return emit(whole);
          removed += size_t(std::max(h->records_count, 0));
          if (!*type) removed_aborts.push_back(h->base_offset);
          return ok;
        }
        // Its transaction's data is gone: the marker stays delete.retention.ms more (KIP-534).
        protocol::batch_header stamped = *h;
        stamped.attributes = int16_t(stamped.attributes | 0x40);
        stamped.base_timestamp = plan.now_ms + cfg.delete_retention_ms;
        std::vector<std::vector<uint8_t>> recs;
        auto r = protocol::for_each_record(whole, [&](const protocol::record_view& rv) {
          recs.emplace_back();
          encode_record(recs.back(), rv, stamped);
        });
        if (!r) return fail(storage_errc::corrupt, "{}: {}", tp, r.error().message);
        auto b = rebuild_batch(stamped, recs);
        if (!b) return failure{b.error()};
        rewritten = true;
        return emit(*b);
      }
      const bool aborted = txns.aborted_batch(*h);
      const bool tombstones_expire = plan.now_ms - h->max_timestamp > cfg.delete_retention_ms;
      std::vector<std::vector<uint8_t>> kept;
      int32_t total = 0;
      auto r = protocol::for_each_record(whole, [&](const protocol::record_view& rv) {
        ++total;
        if (aborted) return;  // an aborted transaction's records go, whatever their keys
        // Only offsets the key map covers may go: a newer record of the key exists, or it is a
        // tombstone past delete.retention.ms (whose older records went in earlier passes).
        if (rv.key && rv.offset < map_end) {
          auto it = newest.find(*rv.key);
          if (it != newest.end() && it->second > rv.offset) return;
          if (!rv.value && tombstones_expire) return;
        }
        kept.emplace_back();
        encode_record(kept.back(), rv, *h);
      });
      if (!r) return fail(storage_errc::corrupt, "{}: {}", tp, r.error().message);
      removed += size_t(total) - kept.size();
      if (kept.size() == size_t(total)) return emit(whole);
      if (kept.empty()) {
        // Kafka keeps the last batch of an active producer, emptied, so the producer's sequence
        // and epoch survive in the log and its retry after compaction is still deduplicated.
        if (!producer_keeps(*h, producer_last)) return ok;
      }
      auto b = rebuild_batch(*h, kept);
      if (!b) return failure{b.error()};
      return emit(*b);
    });
    if (!pass || (removed == 0 && !rewritten)) {
      cf->close();
      remove_path(cleaned, ec);
      if (!pass) {
        for (const auto& c : out.segments)
          remove_path(plan.dir / (segment_file_stem(c.base_offset) + ".log.cleaned"), ec);
        return failure{pass.error()};
      }
      continue;
    }
    // The cleaned segment still ends where the source did: when its last batch went, an empty
    // batch (no records, no producer, not transactional) takes its offsets. A cleaned segment
    // never ends short of the next segment's base, so recovery can read such a gap as a tail a
    // power cut took (partition_log::load) in compacted logs too.
    if (last_in && emitted_end < last_in->last_offset() + 1) {
      auto f = filler_batch(*last_in);
      if (!f) return failure{f.error()};
      if (auto w = emit(*f); !w) return failure{w.error()};
    }
    if (auto sy = cf->sync(); !sy) return failure{sy.error()};
    cf->close();
    out.segments.push_back({src.base_offset, src.size_bytes, written, removed, std::move(removed_aborts)});
  }
  return out;
}

result<compaction_result, storage_error> partition_log::apply_compaction(const compaction_output& out,
                                                                        int64_t now_ms) {
  compaction_result cr;
  std::error_code ec;
  // A cleaned segment lost the records the key map found newer ones for, anywhere below
  // `cleaned_up_to`. Once swapped in it is durable, so those newer records must be too: else a
  // power cut that takes them (a rolled segment is only synced in the background) leaves a key
  // with no value at all. Sync the sealed segments the map read that are above the recovery point.
  if (!_closed && !out.segments.empty()) {
    for (size_t i = 0; i + 1 < _segments.size() && _segments[i]->base_offset() < out.cleaned_up_to; ++i) {
      if (_segments[i]->next_offset() <= _recovery_point) continue;
      auto f = _segments[i]->flush();
      if (!f) return failure{f.error()};
    }
  }
  for (const auto& c : out.segments) {
    const auto stem = segment_file_stem(c.base_offset);
    const fs::path log_path = _dir / (stem + ".log");
    const fs::path cleaned = _dir / (stem + ".log.cleaned");
    const fs::path swap = _dir / (stem + ".log.swap");
    // Still the same closed segment it was planned from? (Retention or a truncation may have
    // removed or changed it meanwhile; then the cleaned copy is stale.)
    auto it = std::find_if(_segments.begin(), _segments.end(),
                           [&](const auto& sg) { return sg->base_offset() == c.base_offset; });
    if (_closed || it == _segments.end() || std::next(it) == _segments.end() ||
        (*it)->size_bytes() != c.source_size_bytes) {
      remove_path(cleaned, ec);
      continue;
    }
    auto& seg = *it;
    rename_path(cleaned, swap, ec);
    if (ec) return fail(storage_errc::io_error, "rename {}: {}", cleaned.string(), ec.message());
    auto sd = sync_dir(_dir);
    if (!sd) return failure{sd.error()};
    // From here a crash completes the swap at the next open.
    cr.segments_cleaned++;
    cr.records_removed += c.records_removed;
    cr.bytes_before += seg->size_bytes();
    cr.bytes_after += c.size_bytes;
    auto old = seg->mark_deleted(/*keep_txn_index=*/true);
    if (!old) return failure{old.error()};
    _pending_deletes.push_back(pending_delete{std::move(*old), now_ms});
    rename_path(swap, log_path, ec);
    if (ec) return fail(storage_errc::io_error, "rename {}: {}", swap.string(), ec.message());
    sd = sync_dir(_dir);
    if (!sd) return failure{sd.error()};
    auto reopened = segment::open(_dir, c.base_offset, limits(), /*active=*/false, now_ms, /*full_recovery=*/true);
    if (!reopened) return failure{reopened.error()};
    seg = std::move(*reopened);
    // The removed ABORT markers' index entries go too: a consumer must not wait for a marker that
    // is no longer there. (A crash between the swap and this rewrite leaves such an entry behind.)
    if (!c.removed_abort_markers.empty()) {
      auto t = seg->remove_aborted_txns(c.removed_abort_markers);
      if (!t) return failure{t.error()};
    }
  }
  if (!_closed) _cleaned_up_to = std::max(_cleaned_up_to, std::min(out.cleaned_up_to, _segments.back()->base_offset()));
  if (cr.segments_cleaned > 0) {
    log::get("storage").info("{}: compacted {} segment(s): {} records removed, {} -> {} bytes", _tp,
                             cr.segments_cleaned, cr.records_removed, cr.bytes_before, cr.bytes_after);
  }
  return cr;
}

result<compaction_result, storage_error> partition_log::compact(int64_t now_ms, bool force,
                                                                size_t key_map_bytes_max, int64_t first_unstable) {
  auto plan = plan_compaction(now_ms, force, key_map_bytes_max, first_unstable);
  if (!plan) return compaction_result{};
  auto out = run_compaction(*plan);
  if (!out) return failure{out.error()};
  return apply_compaction(*out, now_ms);
}

}  // namespace gregor::storage
