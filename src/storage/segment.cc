#include "gregor/storage/segment.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <system_error>
#include <thread>

#include <unistd.h>

#include "batch_scanner.h"
#include "held_descriptors.h"
#include "readahead.h"
#include "gregor/base/log.h"

namespace gregor::storage {

namespace {
namespace fs = std::filesystem;

fs::path with_ext(const fs::path& dir, int64_t base, const char* ext) {
  return dir / (segment_file_stem(base) + ext);
}
}  // namespace

std::string segment_file_stem(int64_t base_offset) { return fmt::format("{:020d}", base_offset); }

result<std::unique_ptr<segment>, storage_error> segment::create(const fs::path& dir,
                                                                int64_t base_offset, limits lim) {
  return open(dir, base_offset, lim, /*active=*/true, /*now_ms=*/0);
}

result<std::unique_ptr<segment>, storage_error> segment::open(const fs::path& dir,
                                                              int64_t base_offset, limits lim,
                                                              bool active, int64_t now_ms,
                                                              bool full_recovery) {
  std::unique_ptr<segment> s(new segment());
  s->_dir = dir;
  s->_base = base_offset;
  s->_next = base_offset;
  s->_limits = lim;
  std::error_code ec;
  bool index_missing = !fs::exists(with_ext(dir, base_offset, ".index"), ec) ||
                       !fs::exists(with_ext(dir, base_offset, ".timeindex"), ec);
  auto log = file::open(with_ext(dir, base_offset, ".log"));
  if (!log) return failure{log.error()};
  s->_log = std::move(*log);
  auto size = s->_log.size();
  if (!size) return failure{size.error()};
  if (*size > UINT32_MAX) {
    return fail(storage_errc::corrupt, "{} is larger than 4 GiB", s->_log.path().string());
  }
  auto oi = offset_index::open(with_ext(dir, base_offset, ".index"), base_offset, *size,
                               lim.index_bytes_max);
  if (!oi) return failure{oi.error()};
  s->_offset_index = std::move(*oi);
  auto ti = time_index::open(with_ext(dir, base_offset, ".timeindex"), base_offset,
                             lim.index_bytes_max);
  if (!ti) return failure{ti.error()};
  s->_time_index = std::move(*ti);
  s->_size = *size;
  if (*size == 0) {
    if (s->_offset_index.entry_count() || s->_time_index.entry_count()) {
      auto c = s->_offset_index.clear();
      if (!c) return failure{c.error()};
      c = s->_time_index.clear();
      if (!c) return failure{c.error()};
    }
    auto tx = transaction_index::open(with_ext(dir, base_offset, ".txnindex"), s->_next);
    if (!tx) return failure{tx.error()};
    s->_txn_index = std::move(*tx);
    s->_sink = std::make_shared<detail::segment_sink>(s->_log, s->_size, lim.direct_append_min_bytes);
    s->_queue = lim.queue;
    if (lim.direct_io) {
      auto d = s->start_direct(active);
      if (!d) return failure{d.error()};
    }
    if (active && lim.cache) s->_cached = lim.cache->make_region(s->_size);
    return s;
  }

  bool rebuild = index_missing || !s->_offset_index.sane() || !s->_time_index.sane();
  if (rebuild || full_recovery) {
    if (rebuild) log::get("storage").warn("{}: rebuilding indexes", s->_log.path().string());
    auto c = s->_offset_index.clear();
    if (!c) return failure{c.error()};
    c = s->_time_index.clear();
    if (!c) return failure{c.error()};
  }
  auto r = active ? s->recover_active(now_ms) : s->load_closed();
  if (!r) return failure{r.error()};
  if (!active && (rebuild || full_recovery || s->_truncated_at_open > 0 || s->_cut_padding)) {
    // A closed segment's time index ends with its max timestamp (as seal() leaves it).
    auto a = s->_time_index.maybe_append(s->_max_ts, s->_offset_of_max_ts, true);
    if (!a) return failure{a.error()};
  }
  // After recovery: entries whose marker the log no longer holds go.
  auto tx = transaction_index::open(with_ext(dir, base_offset, ".txnindex"), s->_next);
  if (!tx) return failure{tx.error()};
  s->_txn_index = std::move(*tx);
  s->_sink = std::make_shared<detail::segment_sink>(s->_log, s->_size, lim.direct_append_min_bytes);
  s->_queue = lim.queue;
  if (lim.direct_io) {
    auto d = s->start_direct(active);
    if (!d) return failure{d.error()};
  }
  if (active && lim.cache) s->_cached = lim.cache->make_region(s->_size);
  return s;
}

namespace detail {

// The write side of a segment: its file and, with direct I/O, the bytes of the block holding the
// end of the log. Used by one thread at a time: the disk writer's while writes are queued, the
// segment's owner otherwise (after write_queue::settle, or when the log has no queue).
class segment_sink final : public write_target {
 public:
  segment_sink(file& log, uint64_t size, size_t direct_min) : _log(&log), direct_min(direct_min) {
    _written.store(size, std::memory_order_release);
    file_len = size;
    kicked = size;
  }
  result<void, storage_error> write(std::span<const uint8_t> bytes) override;
  result<void, storage_error> append_direct(std::span<const uint8_t> bytes);
  void advance_tail(std::span<const uint8_t> bytes);
  // The segment stops being active: cut the direct-I/O padding, no more direct appends.
  void seal();

  file* _log;
  size_t direct_min;
  // Direct appends: the bytes of the block holding the end of the log (fewer than
  // file::direct_align), kept current by every append (direct or buffered).
  std::vector<uint8_t> tail;
  size_t file_len = 0;          // length of the .log file on disk (>= written(); larger by the padding)
  bool appendable = false;      // direct appends allowed: the tail is loaded
  bool direct_refused = false;  // the file system refused a direct write (EINVAL)
  // Buffered appends: where the last start_writeback ended. Left alone, the kernel writes dirty
  // pages back once they are dirty_expire_centisecs (30 s) old, i.e. ~30 s of every partition's
  // appends in one burst; measured on a 3-broker cluster at 10 MB/s acks=all, the appends and
  // follower writes queued behind such a burst held acks=all produces for 100-300 ms while no
  // io thread ran late (bench/experiments/cluster_loop_lag.py). Writing back every
  // `writeback_chunk` keeps each burst small.
  uint64_t kicked = 0;
  static constexpr uint64_t writeback_chunk = 512 * 1024;
};

result<void, storage_error> segment_sink::write(std::span<const uint8_t> bytes) {
  const uint64_t at = written();
  bool done = false;
  if (appendable && bytes.size() >= direct_min) {
    auto w = append_direct(bytes);
    if (w) {
      done = true;
    } else if (w.error().code == storage_errc::invalid_argument) {
      log::get("storage").warn("{}: {}; using buffered I/O for this segment", _log->path().string(),
                               w.error().message);
      appendable = false;
      direct_refused = true;
    } else {
      return w;
    }
  }
  if (!done) {
    auto w = _log->pwrite(at, bytes);
    if (!w) {
      // Best effort: do not leave a partial batch behind (this also cuts any padding).
      if (_log->truncate(at)) file_len = at;
      return w;
    }
    if (appendable) advance_tail(bytes);
    // Whole pages only: the partial last page is written again by the next append.
    const uint64_t end = (at + bytes.size()) / 4096 * 4096;
    if (end >= kicked + writeback_chunk) {
      _log->start_writeback(kicked, end - kicked);
      kicked = end;
    }
  }
  file_len = std::max<size_t>(file_len, at + bytes.size());
  _written.store(at + bytes.size(), std::memory_order_release);
  return ok;
}

result<void, storage_error> segment_sink::append_direct(std::span<const uint8_t> bytes) {
  // The stream tail + bytes goes out in aligned pieces of at most 4 MiB through the per-thread
  // staging buffer (so a huge append does not grow it), the last one zero-padded.
  constexpr size_t align = file::direct_align;
  constexpr size_t piece_max = size_t(4) << 20;
  const uint64_t size = written();
  const size_t head = tail.size();
  const uint64_t at = size - head;
  const size_t used = head + bytes.size();
  const size_t total = (used + align - 1) / align * align;
  const size_t new_size = size + bytes.size();
  const size_t new_head = new_size % align;
  std::vector<uint8_t> new_tail;
  for (size_t done = 0; done < total;) {
    const size_t piece = std::min(piece_max, total - done);
    auto buf = direct_scratch(piece);
    // Stream bytes [done, done + piece): the old tail first, then `bytes`, then zeros.
    size_t filled = 0;
    if (done < head) {
      filled = std::min(head - done, piece);
      std::memcpy(buf.data(), tail.data() + done, filled);
    }
    if (filled < piece && done + filled < used) {
      const size_t from = done + filled - head;
      const size_t n = std::min(piece - filled, bytes.size() - from);
      std::memcpy(buf.data() + filled, bytes.data() + from, n);
      filled += n;
    }
    std::memset(buf.data() + filled, 0, piece - filled);
    auto w = _log->pwrite_direct(at + done, buf);
    if (!w) {
      // Blocks past the end may hold part of this write: cut them (best effort; recovery would too).
      if (_log->truncate(size)) file_len = size;
      return w;
    }
    done += piece;
    if (done == total && new_head > 0) {
      const uint8_t* t = buf.data() + (piece - (total - (new_size - new_head - at)));
      new_tail.assign(t, t + new_head);
    }
  }
  file_len = std::max<size_t>(file_len, at + total);
  tail = std::move(new_tail);
  return ok;
}

void segment_sink::advance_tail(std::span<const uint8_t> bytes) {
  // The new last partial block lies within old tail + bytes (both in memory).
  const size_t new_size = written() + bytes.size();
  const size_t new_head = new_size % file::direct_align;
  if (bytes.size() >= new_head) {
    tail.assign(bytes.end() - std::ptrdiff_t(new_head), bytes.end());
  } else {
    tail.insert(tail.end(), bytes.begin(), bytes.end());
  }
  GREGOR_ASSERT(tail.size() == new_head);
}

void segment_sink::seal() {
  const uint64_t size = written();
  if (file_len > size && _log->truncate(size)) file_len = size;  // else close() tries again
  appendable = false;
  tail = {};
}

void sync_and_close(const std::vector<int>& fds) {
  for (int fd : fds) {
    (void)::fdatasync(fd);  // best effort: partition_log::flush() syncs again before trusting it
    ::close(fd);
  }
}

// fdatasyncs and closes `fds` on a detached thread (inline if none can be started).
void sync_detached(std::vector<int> fds) {
  try {
    std::thread([fds] { sync_and_close(fds); }).detach();
  } catch (const std::system_error&) {
    sync_and_close(fds);
  }
}

}  // namespace detail

segment::~segment() { settle(); }

void segment::settle() const {
  // Also when every byte is written: a queued seal (seal_in_queue) may still touch the sink.
  if (_queue) _queue->settle();
}

result<void, storage_error> segment::seal_in_queue() {
  if (!_queue) {
    auto s = seal_without_sync();
    if (s) sync_in_background();
    return s;
  }
  auto a = _time_index.maybe_append(_max_ts, _offset_of_max_ts, /*skip_full_check=*/true);
  if (!a) return a;
  // The descriptors are duplicated now (the segment may be closed before the sync runs); the
  // writer cuts the padding after the segment's last write, then syncs on a detached thread. A
  // seal dropped unrun (after a failed write) closes them with itself.
  _queue->push_action([sink = _sink, held = detail::held_descriptors(dup_for_sync())] {
    sink->seal();
    detail::sync_detached(held.release());
    return ok;
  }, _next);
  return ok;
}

result<void, storage_error> segment::start_direct(bool active) {
  auto d = _log.enable_direct();
  if (!d) return failure{d.error()};
  if (!*d) {
    static bool logged = false;
    if (!logged) {
      logged = true;
      log::get("storage").warn("{}: the file system refuses O_DIRECT; using buffered I/O",
                               _log.path().string());
    }
    return ok;
  }
  if (!active) return ok;
  auto len = _log.size();
  if (!len) return failure{len.error()};
  _sink->file_len = std::max(*len, _size);
  const size_t head = _size % file::direct_align;
  _sink->tail.resize(head);
  if (head > 0) {
    auto n = _log.pread(_size - head, _sink->tail);
    if (!n) return failure{n.error()};
    if (*n != head) {
      return fail(storage_errc::io_error, "{}: short read of the last block ({} of {} bytes)",
                  _log.path().string(), *n, head);
    }
  }
  _sink->appendable = true;
  return ok;
}

result<void, storage_error> segment::trim_padding() {
  settle();
  if (!_sink || _sink->file_len <= _size) return ok;
  auto t = _log.truncate(_size);
  if (!t) return t;
  _sink->file_len = _size;
  return ok;
}

void segment::set_limits(limits lim) {
  settle();
  if (_sink) _sink->direct_min = lim.direct_append_min_bytes;
  _queue = lim.queue;
  _limits = lim;
  _offset_index.set_max_bytes(lim.index_bytes_max);
  _time_index.set_max_bytes(lim.index_bytes_max);
}

void segment::note_batch(const protocol::batch_header& h) {
  if (h.max_timestamp > _max_ts) {
    _max_ts = h.max_timestamp;
    _offset_of_max_ts = h.last_offset();
  }
  _next = h.last_offset() + 1;
}

result<void, storage_error> segment::index_batch(const protocol::batch_header& h,
                                                 uint64_t position, bool skip) {
  // Kafka's rule: index the batch that starts once more than index.interval.bytes were appended
  // since the last entry.
  if (!skip && _bytes_since_index_entry > size_t(_limits.index_interval_bytes) &&
      !_offset_index.is_full()) {
    auto a = _offset_index.append(h.last_offset(), uint32_t(position));
    if (!a) return a;
    a = _time_index.maybe_append(_max_ts, _offset_of_max_ts);
    if (!a) return a;
    _bytes_since_index_entry = 0;
  }
  _bytes_since_index_entry += h.total_size();
  return ok;
}

result<void, storage_error> segment::scan_from(uint64_t position, bool index_first, bool verify) {
  detail::batch_scanner sc(_log, position, _size, /*whole=*/verify, verify);
  const size_t file_size = _size;
  const int64_t indexed_offset = index_first ? _offset_index.last()->offset : -1;
  _size = position;
  bool first = true;
  for (;;) {
    batch_location loc;
    auto st = sc.next(loc, nullptr);
    if (!st) return failure{st.error()};
    std::string why;
    if (*st == detail::scan_status::batch) {
      const auto& h = loc.header;
      if (h.base_offset < _next || h.last_offset() - _base > int64_t(UINT32_MAX)) {
        why = fmt::format("batch at position {} has offsets {}..{}, expected >= {}", loc.position,
                          h.base_offset, h.last_offset(), _next);
      } else if (first && index_first && h.last_offset() != indexed_offset) {
        why = fmt::format("index entry for offset {} points at a batch ending at {}",
                          indexed_offset, h.last_offset());
      } else {
        note_batch(h);
        auto ix = index_batch(h, loc.position, first && index_first);
        if (!ix) return ix;
        _size = loc.position + h.total_size();
        first = false;
        continue;
      }
    } else if (*st == detail::scan_status::end) {
      break;
    } else {
      why = sc.reason();
    }
    if (first && index_first) {
      // The last index entry is not trustworthy: rebuild everything from the start.
      log::get("storage").warn("{}: {}; rebuilding indexes", _log.path().string(), why);
      auto c = _offset_index.clear();
      if (!c) return c;
      c = _time_index.clear();
      if (!c) return c;
      _size = file_size;
      _next = _base;
      _max_ts = -1;
      _offset_of_max_ts = -1;
      _bytes_since_index_entry = 0;
      return scan_from(0, false, verify);
    }
    // Padding is not damage: nothing was lost, and what follows the segment stays trusted.
    const bool padding = tail_is_direct_io_padding(file_size);
    if (padding) {
      log::get("storage").info("{}: cutting {} bytes of direct-I/O block padding at position {}",
                               _log.path().string(), file_size - _size, _size);
    } else {
      log::get("storage").warn("{}: truncating {} bytes at position {}: {}", _log.path().string(),
                               file_size - _size, _size, why);
    }
    auto t = _log.truncate(_size);
    if (!t) return t;
    if (padding) {
      _cut_padding = true;
    } else {
      _truncated_at_open = file_size - _size;
    }
    break;
  }
  return _time_index.truncate_above(_next - 1);
}

bool segment::tail_is_direct_io_padding(size_t file_size) const {
  // What a direct append leaves after the last batch: zeros up to the next block boundary.
  if (file_size <= _size || file_size % file::direct_align != 0 ||
      file_size - _size >= file::direct_align) {
    return false;
  }
  std::vector<uint8_t> rest(file_size - _size);
  auto n = _log.pread(_size, rest);
  return n && *n == rest.size() && std::all_of(rest.begin(), rest.end(), [](uint8_t b) { return b == 0; });
}

result<void, storage_error> segment::recover_active(int64_t now_ms) {
  if (auto t = _time_index.last()) {
    _max_ts = t->timestamp;
    _offset_of_max_ts = t->offset;
  }
  auto last = _offset_index.last();
  auto r = last ? scan_from(last->position, true, true) : scan_from(0, false, true);
  if (!r) return r;
  if (_size > 0) {
    detail::batch_scanner sc(_log, 0, _size, false, false);
    batch_location loc;
    auto st = sc.next(loc, nullptr);
    if (!st) return failure{st.error()};
    _first_batch_ms = (*st == detail::scan_status::batch && loc.header.max_timestamp >= 0)
                          ? loc.header.max_timestamp
                          : now_ms;
  }
  return ok;
}

result<void, storage_error> segment::load_closed() {
  if (auto t = _time_index.last()) {
    _max_ts = t->timestamp;
    _offset_of_max_ts = t->offset;
  }
  auto last = _offset_index.last();
  if (!last) {
    // Either a small segment or a rebuild: scan (and verify) the whole thing.
    return scan_from(0, false, true);
  }
  return scan_from(last->position, true, false);
}

result<void, storage_error> segment::append(std::span<const uint8_t> bytes,
                                            const std::vector<protocol::batch_header>& headers,
                                            int64_t now_ms) {
  GREGOR_ASSERT(_size + bytes.size() <= UINT32_MAX);
  GREGOR_ASSERT(!headers.empty());
  if (_queue) {
    // The disk writer writes it (disk_writer.h); reads find the bytes in the queue meanwhile.
    // (partition_log refuses appends after a failed write, so there is no failure check here.)
    _queue->push(_sink, _size, std::vector<uint8_t>(bytes.begin(), bytes.end()), headers.back().last_offset() + 1);
  } else {
    auto w = _sink->write(bytes);
    if (_sink->direct_refused) {
      _sink->direct_refused = false;
      _ahead.clear();
      _log.disable_direct();
    }
    if (!w) return w;
  }
  if (_cached) _cached->append(_size, bytes);
  uint64_t pos = _size;
  for (const auto& h : headers) {
    GREGOR_ASSERT(h.base_offset >= _next);
    note_batch(h);
    auto ix = index_batch(h, pos, false);
    if (!ix) return ix;
    pos += h.total_size();
  }
  GREGOR_ASSERT(pos == _size + bytes.size());
  _size = pos;
  if (_first_batch_ms < 0) _first_batch_ms = now_ms;
  return ok;
}

std::optional<storage_error> segment::unwritten_failure() const {
  settle();
  if (!_sink || _sink->written() >= _size) return std::nullopt;
  if (auto f = _queue ? _queue->failure() : std::nullopt) return f;
  return storage_error{storage_errc::io_error, fmt::format("{}: bytes from position {} were never written",
                                                           _log.path().string(), _sink->written())};
}

result<std::optional<batch_location>, storage_error> segment::find_batch(int64_t target) const {
  auto e = _offset_index.lookup(target);
  // Batches the disk writer has not written yet are not in the file: scan what is there, then walk
  // the queued ones' headers in memory.
  const uint64_t limit = written_size();
  uint64_t scan_from = e.position;
  if (auto it = ahead_holding(scan_from); it != _ahead.end()) {
    // A finished background read holds the batches from the entry on (prepare_read): walk their
    // headers there, then in the cached tail or the file from where its bytes end.
    const auto& job = *it;
    auto bytes = job->if_done();
    for (; bytes;) {
      const uint64_t skip = scan_from - job->position();
      if (scan_from >= limit || skip + protocol::batch_header_size > bytes->size()) break;
      auto h = protocol::parse_batch_header(bytes->subspan(skip, protocol::batch_header_size));
      if (!h || h->total_size() < protocol::batch_header_size || scan_from + h->total_size() > limit) break;
      if (h->last_offset() >= target) return std::optional<batch_location>{batch_location{scan_from, *h}};
      scan_from += h->total_size();
    }
  }
  if (_cached && _cached->holds(scan_from)) {
    // The batches from here on are in memory: walk their headers there.
    uint64_t pos = scan_from;
    std::array<uint8_t, protocol::batch_header_size> buf;
    while (pos < _size && _cached->copy(pos, buf)) {
      auto h = protocol::parse_batch_header(buf);
      if (!h || h->total_size() < protocol::batch_header_size || pos + h->total_size() > _size) break;
      if (h->last_offset() >= target) return std::optional<batch_location>{batch_location{pos, *h}};
      pos += h->total_size();
    }
    if (pos >= _size) return std::optional<batch_location>{};
    // Unreadable here (never expected: appends are validated): let the file scan report it.
  }
  detail::batch_scanner sc(_log, scan_from, limit, false, false);
  for (;;) {
    batch_location loc;
    auto st = sc.next(loc, nullptr);
    if (!st) return failure{st.error()};
    if (*st == detail::scan_status::end) {
      if (limit < _size) return find_unwritten_batch(std::max<uint64_t>(scan_from, limit), target);
      return std::optional<batch_location>{};
    }
    if (*st != detail::scan_status::batch) {
      return fail(storage_errc::corrupt, "{}: {}", _log.path().string(), sc.reason());
    }
    if (loc.header.last_offset() >= target) return std::optional<batch_location>{loc};
  }
}

result<std::optional<batch_location>, storage_error> segment::find_unwritten_batch(uint64_t pos,
                                                                                  int64_t target) const {
  // Every batch before `pos` ends below the target. read_into() takes each header from the queue,
  // or from the file once the writer got there.
  while (pos < _size) {
    std::vector<uint8_t> buf;
    auto n = read_into(pos, protocol::batch_header_size, buf);
    if (!n) return failure{n.error()};
    auto h = *n == protocol::batch_header_size ? protocol::parse_batch_header(buf) : std::nullopt;
    if (!h || h->total_size() < protocol::batch_header_size || pos + h->total_size() > _size)
      return fail(storage_errc::corrupt, "{}: no readable batch header at position {}", _log.path().string(), pos);
    if (h->last_offset() >= target) return std::optional<batch_location>{batch_location{pos, *h}};
    pos += h->total_size();
  }
  return std::optional<batch_location>{};
}

result<std::optional<batch_location>, storage_error> segment::find_batch_by_timestamp(
    int64_t ts) const {
  settle();
  uint64_t start = 0;
  if (auto te = _time_index.lookup_before(ts)) start = _offset_index.lookup(te->offset).position;
  detail::batch_scanner sc(_log, start, _size, false, false);
  for (;;) {
    batch_location loc;
    auto st = sc.next(loc, nullptr);
    if (!st) return failure{st.error()};
    if (*st == detail::scan_status::end) return std::optional<batch_location>{};
    if (*st != detail::scan_status::batch) {
      return fail(storage_errc::corrupt, "{}: {}", _log.path().string(), sc.reason());
    }
    if (loc.header.max_timestamp >= ts) return std::optional<batch_location>{loc};
  }
}

namespace {
template <class Buffer>
result<size_t, storage_error> pread_append(const file& f, uint64_t position, size_t len, Buffer& out) {
  size_t old = out.size();
  out.resize(old + len);
  auto n = f.pread(position, std::span<uint8_t>(out.data() + old, len));
  if (!n) {
    out.resize(old);
    return failure{n.error()};
  }
  out.resize(old + *n);
  return *n;
}
}  // namespace

template <class Buffer>
result<size_t, storage_error> segment::read_into(uint64_t position, size_t len, Buffer& out,
                                                 shared_bytes* share) const {
  if (_cached && position < _size && len > 0) {
    if (_cached->holds(position)) {
      const size_t n = size_t(std::min<uint64_t>(len, _size - position));
      if (share) {
        if (auto view = _cached->share(position, n)) {
          *share = std::move(*view);
          return n;
        }
      }
      return _cached->read(position, n, out);
    }
    const uint64_t start = _cached->start();
    if (_cached->holds(start) && position < start && position + len > start) {
      // The range ends in memory: the file only up to where the cached tail starts.
      auto head = read_into(position, size_t(start - position), out);
      if (!head || *head < start - position) return head;
      return *head + _cached->read(start, std::min<uint64_t>(position + len, _size) - start, out);
    }
  }
  if (_queue && len > 0 && position < _size && std::min<uint64_t>(position + len, _size) > _sink->written()) {
    // Part of the range is still queued for the disk writer: the file holds what lies below
    // `start`, the queue the rest.
    const uint64_t end = std::min<uint64_t>(position + len, _size);
    std::vector<uint8_t> queued;
    const uint64_t start = _queue->copy_unwritten(_sink.get(), position, end, queued);
    size_t got = 0;
    if (start > position) {
      auto head = read_file_into(position, size_t(start - position), out);
      if (!head || *head < start - position) return head;
      got = *head;
    }
    const size_t old = out.size();
    out.resize(old + queued.size());
    if (!queued.empty()) std::memcpy(out.data() + old, queued.data(), queued.size());
    return got + queued.size();
  }
  return read_file_into(position, len, out, share);
}

template <class Buffer>
result<size_t, storage_error> segment::read_file_into(uint64_t position, size_t len, Buffer& out,
                                                      shared_bytes* share) const {
  if (_limits.cache && len > 0) _limits.cache->count_miss(std::min<uint64_t>(len, _size - std::min<uint64_t>(position, _size)));
  auto it = ahead_holding(position);
  if (it != _ahead.end() && len > 0) {
    // A background read holds the start of the range: take its bytes (the read is taken with
    // them; waiting blocks only for a readahead nobody waited for, never for a prepared read).
    auto job = std::move(*it);
    _ahead.erase(it);
    auto bytes = job->wait();
    const uint64_t skip = position - job->position();
    const size_t take = skip < bytes.size() ? std::min<size_t>(bytes.size() - size_t(skip), len) : 0;
    if (share && take == len && job->may_share()) {
      *share = shared_bytes{std::move(job), bytes.subspan(size_t(skip), take)};
      return take;
    }
    const size_t old = out.size();
    out.resize(old + take);
    if (take > 0) std::memcpy(out.data() + old, bytes.data() + skip, take);
    if (take == len) return take;
    auto more = pread_append(_log, position + take, len - take, out);
    if (!more) {
      out.resize(old);
      return failure{more.error()};
    }
    return take + *more;
  }
  return pread_append(_log, position, len, out);
}

result<size_t, storage_error> segment::read(uint64_t position, size_t len, byte_buffer& out) const {
  return read_into(position, len, out);
}

result<size_t, storage_error> segment::read_or_share(uint64_t position, size_t len, byte_buffer& out,
                                                     shared_bytes& shared) const {
  shared = {};
  return read_into(position, len, out, &shared);
}

result<size_t, storage_error> segment::read(uint64_t position, size_t len,
                                            std::vector<uint8_t>& out) const {
  return read_into(position, len, out);
}

void segment::read_ahead(uint64_t position, size_t len) const {
  const uint64_t written = written_size();
  if (!_log.direct() || position >= written) return;
  if (_cached && position >= _cached->start()) return;  // the next read comes from memory
  len = std::min<size_t>(len, written - position);
  keep_ahead(detail::schedule_readahead(_log.direct_fd(), position, len));
}

std::optional<device_read> segment::prepare_read(uint64_t position, size_t len, bool* refused) const {
  if (!_log.is_open() || len == 0) return std::nullopt;
  // Bytes the disk writer has not written yet are read from its queue, the cached tail from
  // memory: only what lies below both comes from the file.
  uint64_t end = std::min<uint64_t>(position + len, written_size());
  if (_cached) {
    if (_cached->holds(position)) return std::nullopt;
    if (_cached->holds(_cached->start())) end = std::min<uint64_t>(end, std::max<uint64_t>(_cached->start(), position));
  }
  if (position >= end) return std::nullopt;
  // Finished reads that end at or before this one's start are behind their reader: their buffers
  // go back to the pool rather than waiting to be pushed out.
  std::erase_if(_ahead, [&](const auto& j) { return j->end_position() <= position && j->if_done(); });
  for (const auto& job : _ahead)
    if (job->covers(position) && job->end_position() >= end) return device_read(job);
  if (_log.in_page_cache(position, size_t(end - position))) return std::nullopt;
  auto job = detail::schedule_readahead(_log.read_fd(), position, size_t(end - position));
  if (!job) {  // over the readahead budget: the read goes to the device itself
    if (refused) *refused = true;
    return std::nullopt;
  }
  keep_ahead(job);
  return device_read(std::move(job));
}

uint64_t segment::written_size() const { return _sink ? std::min<uint64_t>(_sink->written(), _size) : _size; }

uint64_t segment::index_position(int64_t target) const { return _offset_index.lookup(target).position; }

std::vector<std::shared_ptr<detail::readahead_job>>::iterator segment::ahead_holding(uint64_t position) const {
  auto it = _ahead.end();  // of those that hold `position`, the one that reaches furthest
  for (auto j = _ahead.begin(); j != _ahead.end(); ++j)
    if ((*j)->covers(position) && (it == _ahead.end() || (*j)->end_position() > (*it)->end_position())) it = j;
  return it;
}

void segment::keep_ahead(std::shared_ptr<detail::readahead_job> job) const {
  if (!job) return;
  if (_ahead.size() >= ahead_jobs_max) _ahead.erase(_ahead.begin());
  _ahead.push_back(std::move(job));
}

void device_read::on_done(std::function<void()> fn) const { _job->on_done(std::move(fn)); }

bool device_read::done() const { return _job->if_done().has_value(); }

result<void, storage_error> segment::seal() {
  auto a = seal_without_sync();
  if (!a) return a;
  return flush();
}

result<void, storage_error> segment::seal_without_sync() {
  auto t = trim_padding();
  if (!t) return t;
  _sink->appendable = false;
  _sink->tail = {};
  return _time_index.maybe_append(_max_ts, _offset_of_max_ts, /*skip_full_check=*/true);
}

std::vector<int> segment::dup_for_sync() const {
  std::vector<int> fds;
  for (int fd : {_log.dup_for_sync(), _offset_index.dup_for_sync(), _time_index.dup_for_sync(),
                 _txn_index.dup_for_sync()})
    if (fd >= 0) fds.push_back(fd);
  return fds;
}

void segment::sync_in_background() const { detail::sync_detached(dup_for_sync()); }

result<void, storage_error> segment::flush() {
  if (auto u = unwritten_failure()) return failure{*u};
  auto s = _log.sync();
  if (!s) return s;
  s = _offset_index.sync();
  if (!s) return s;
  s = _txn_index.sync();
  if (!s) return s;
  return _time_index.sync();
}

void segment::close() {
  _ahead.clear();
  _cached.reset();
  if (_log.is_open()) (void)trim_padding();  // best effort: a crash leaves it to recovery too
  if (_sink) _sink->appendable = false;
  _log.close();
  _offset_index.close();
  _time_index.close();
  _txn_index.close();
}

result<std::vector<fs::path>, storage_error> segment::mark_deleted(bool keep_txn_index) {
  std::vector<fs::path> out;
  for (const char* ext : {".log", ".index", ".timeindex", ".txnindex"}) {
    if (keep_txn_index && std::string_view(ext) == ".txnindex") continue;
    auto from = with_ext(_dir, _base, ext);
    auto to = from;
    to += ".deleted";
    std::error_code ec;
    rename_path(from, to, ec);
    if (ec && ec != std::errc::no_such_file_or_directory) {
      return fail(storage_errc::io_error, "rename {}: {}", from.string(), ec.message());
    }
    if (!ec) out.push_back(to);
  }
  close();
  return out;
}

int64_t segment::last_modified_ms() const {
  std::error_code ec;
  auto t = fs::last_write_time(with_ext(_dir, _base, ".log"), ec);
  if (ec) return 0;
  auto sys = std::chrono::file_clock::to_sys(t);
  return std::chrono::duration_cast<std::chrono::milliseconds>(sys.time_since_epoch()).count();
}

result<void, storage_error> segment::remove_files() {
  close();
  for (const char* ext : {".log", ".index", ".timeindex", ".txnindex"}) {
    std::error_code ec;
    remove_path(with_ext(_dir, _base, ext), ec);
    if (ec) return fail(storage_errc::io_error, "remove {}: {}", with_ext(_dir, _base, ext).string(), ec.message());
  }
  return ok;
}

}  // namespace gregor::storage
