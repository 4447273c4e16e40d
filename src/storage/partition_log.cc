#include "gregor/storage/partition_log.h"
#include "gregor/storage/cleaner_thread.h"

#include <unistd.h>

#include <algorithm>
#include <set>
#include <system_error>

#include "gregor/base/assert.h"
#include "gregor/base/log.h"
#include "held_descriptors.h"

namespace gregor::storage {

namespace {
namespace fs = std::filesystem;
constexpr const char* metadata_file_name = "partition.metadata";
// Reads at least this large (per segment) schedule a readahead of the next step (direct I/O).
constexpr size_t readahead_min_bytes = size_t(64) << 10;

bool is_segment_stem(std::string_view s) {
  return s.size() == 20 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Calls fn with the header of every batch of a segment, reading it in chunks (the leader epoch
// rebuild; the segment was already checked at open, a bad header here is corrupt).
template <class Fn>
result<void, storage_error> for_each_batch_header(const segment& seg, Fn&& fn) {
  constexpr size_t chunk_bytes = size_t(1) << 20;
  std::vector<uint8_t> buf;
  uint64_t pos = 0;
  while (pos < seg.size_bytes()) {
    buf.clear();
    auto n = seg.read(pos, std::min<uint64_t>(chunk_bytes, seg.size_bytes() - pos), buf);
    if (!n) return failure{n.error()};
    size_t off = 0;
    while (off + protocol::batch_header_size <= buf.size()) {
      auto h = protocol::parse_batch_header(std::span<const uint8_t>(buf).subspan(off));
      if (!h || h->batch_length < int32_t(protocol::batch_header_size - protocol::batch_log_overhead)) {
        return fail(storage_errc::corrupt, "segment {}: unreadable batch at position {}",
                    seg.base_offset(), pos + off);
      }
      fn(*h);
      off += h->total_size();
    }
    if (off == 0) {
      return fail(storage_errc::corrupt, "segment {}: short batch at position {}", seg.base_offset(), pos);
    }
    pos += off;
  }
  return ok;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}
}  // namespace

partition_log::partition_log(fs::path dir, topic_partition tp, uuid topic_id, log_config cfg,
                             clock& clk)
    : _dir(std::move(dir)), _tp(std::move(tp)), _topic_id(topic_id), _cfg(cfg), _clk(clk) {}

partition_log::~partition_log() {
  if (!_closed) {
    for (auto& s : _segments) s->close();
  }
}

result<std::unique_ptr<partition_log>, storage_error> partition_log::open(
    fs::path dir, topic_partition tp, uuid topic_id, log_config cfg, clock& clk, open_hints hints) {
  std::error_code ec;
  create_dirs(dir, ec);
  if (ec) return fail(storage_errc::io_error, "create {}: {}", dir.string(), ec.message());
  std::unique_ptr<partition_log> pl(
      new partition_log(std::move(dir), std::move(tp), topic_id, cfg, clk));
  pl->_cache = hints.cache;
  pl->_background = hints.background;
  if (hints.writer) pl->_queue = hints.writer->make_queue(pl->_tp, 0);
  auto m = pl->load_metadata();
  if (!m) return failure{m.error()};
  auto l = pl->load(hints);
  if (!l) return failure{l.error()};
  pl->_last_flush_ms = clk.now_ms();
  const int64_t first_base = pl->_segments.front()->base_offset();
  pl->_log_start = std::clamp(hints.log_start_offset.value_or(first_base), first_base,
                              pl->_segments.back()->next_offset());
  // What recovery left is made durable now, so the recovery point can be the log end (after a
  // clean shutdown it already is).
  if (!hints.clean_shutdown) {
    auto f = pl->_segments.back()->flush();
    if (!f) return failure{f.error()};
  }
  pl->_recovery_point = pl->_segments.back()->next_offset();
  if (pl->_queue) pl->_queue->reset_written_end(pl->_recovery_point);
  pl->_txn_index_complete_below = std::min(pl->_txn_index_complete_below, pl->_recovery_point);
  auto e = pl->load_epochs();
  if (!e) return failure{e.error()};
  pl->_cleaned_up_to = std::clamp<int64_t>(hints.cleaner_offset.value_or(0), 0, pl->_recovery_point);
  log::get("storage").info("{}: opened, {} segment(s), offsets [{}, {})", pl->_tp,
                           pl->_segments.size(), pl->log_start_offset(), pl->log_end_offset());
  return pl;
}

result<void, storage_error> partition_log::load_metadata() {
  auto path = _dir / metadata_file_name;
  auto text = read_small_file(path, 64 * 1024);
  if (!text) {
    if (text.error().code != storage_errc::not_found) return failure{text.error()};
    if (_topic_id.is_zero()) return ok;
    return write_file_atomic(path, fmt::format("version: 0\ntopic_id: {}\n", _topic_id.to_base64()));
  }
  std::string_view rest = *text;
  std::optional<std::string> version;
  std::optional<uuid> stored;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    line = trim(line);
    if (line.empty()) continue;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      return fail(storage_errc::corrupt, "{}: malformed line '{}'", path.string(), line);
    }
    auto key = trim(line.substr(0, colon));
    auto value = trim(line.substr(colon + 1));
    if (key == "version") {
      version = std::string(value);
    } else if (key == "topic_id") {
      uuid u;
      if (!uuid::from_base64(value, u)) {
        return fail(storage_errc::corrupt, "{}: bad topic_id '{}'", path.string(), value);
      }
      stored = u;
    }
  }
  if (version != "0") {
    return fail(storage_errc::corrupt, "{}: unsupported version '{}'", path.string(),
                version.value_or("<missing>"));
  }
  if (!stored) return fail(storage_errc::corrupt, "{}: no topic_id", path.string());
  if (!_topic_id.is_zero() && *stored != _topic_id) {
    return fail(storage_errc::corrupt, "{}: topic id mismatch: stored {}, expected {}",
                path.string(), stored->to_base64(), _topic_id.to_base64());
  }
  _topic_id = *stored;
  return ok;
}

segment::limits partition_log::limits() const {
  return segment::limits{std::max<int32_t>(_cfg.index_interval_bytes, 0),
                         size_t(std::max<int32_t>(_cfg.segment_index_bytes, 0)), _cfg.direct_io,
                         _cfg.direct_append_min_bytes, _cache, _queue};
}

result<void, storage_error> partition_log::load(const open_hints& hints) {
  auto& lg = log::get("storage");
  std::set<int64_t> bases;
  std::vector<fs::path> index_files;
  std::error_code ec;
  // A `.log.swap` is a complete, fsynced cleaned segment: finish its swap before anything else.
  for (const auto& entry : fs::directory_iterator(_dir, ec)) {
    std::string name = entry.path().filename().string();
    if (!ends_with(name, ".log.swap")) continue;
    fs::path final_path = _dir / name.substr(0, name.size() - 5);
    lg.warn("{}: completing the interrupted swap of {}", _tp, final_path.filename().string());
    rename_path(entry.path(), final_path, ec);
    if (ec) return fail(storage_errc::io_error, "rename {}: {}", entry.path().string(), ec.message());
    auto stem = final_path.stem().string();
    remove_path(_dir / (stem + ".index"), ec);
    remove_path(_dir / (stem + ".timeindex"), ec);
  }
  if (ec) return fail(storage_errc::io_error, "list {}: {}", _dir.string(), ec.message());
  for (const auto& entry : fs::directory_iterator(_dir, ec)) {
    if (!entry.is_regular_file()) continue;
    std::string name = entry.path().filename().string();
    std::string stem = entry.path().stem().string();
    std::string ext = entry.path().extension().string();
    if (ends_with(name, ".deleted") || ends_with(name, ".cleaned") || ends_with(name, ".tmp")) {
      lg.info("{}: removing leftover {}", _tp, name);
      remove_path(entry.path(), ec);
      continue;
    }
    if (ext == ".log" && is_segment_stem(stem)) {
      bases.insert(std::stoll(stem));
    } else if ((ext == ".index" || ext == ".timeindex" || ext == ".txnindex") && is_segment_stem(stem)) {
      index_files.push_back(entry.path());
    } else if (ext == ".snapshot" && is_segment_stem(stem)) {
      continue;  // producer state snapshots, owned by the txn module
    } else if (name == metadata_file_name || name == leader_epoch_cache::file_name) {
      continue;  // read after the segments (load_metadata, load_epochs)
    } else if (name == "quorum-state" || ends_with(name, ".checkpoint") ||
               ends_with(name, ".checkpoint.part")) {
      continue;  // the cluster metadata partition's Raft state and snapshots (controller module)
    } else {
      lg.warn("{}: ignoring unrecognised file {}", _tp, name);
    }
  }
  if (ec) return fail(storage_errc::io_error, "list {}: {}", _dir.string(), ec.message());
  for (const auto& p : index_files) {
    if (!bases.contains(std::stoll(p.stem().string()))) {
      lg.warn("{}: removing orphan index {}", _tp, p.filename().string());
      remove_path(p, ec);
    }
  }
  if (bases.empty()) {
    auto s = segment::create(_dir, 0, limits());
    if (!s) return failure{s.error()};
    _segments.push_back(std::move(*s));
    return sync_dir(_dir);
  }
  // After a crash, every segment that may hold offsets at or past the recovery point is scanned in
  // full: the one containing it and all later ones. No checkpoint means recovery point 0.
  const std::vector<int64_t> base_list(bases.begin(), bases.end());
  const int64_t recovery_point = hints.clean_shutdown ? INT64_MAX : hints.recovery_point.value_or(0);
  if (!hints.clean_shutdown) {
    lg.info("{}: recovering after an unclean shutdown from recovery point {}", _tp, recovery_point);
  }
  for (size_t i = 0; i < base_list.size(); ++i) {
    const int64_t base = base_list[i];
    const bool active = i + 1 == base_list.size();
    const bool full = !hints.clean_shutdown && (active || base_list[i + 1] > recovery_point);
    if (full) _txn_index_complete_below = std::min(_txn_index_complete_below, base);
    auto s = segment::open(_dir, base, limits(), active, _clk.now_ms(), full);
    if (!s) return failure{s.error()};
    if (!_segments.empty() && _segments.back()->next_offset() > base) {
      return fail(storage_errc::corrupt, "{}: segment {} ends at {}, past the next segment's base {}",
                  _tp, _segments.back()->base_offset(), _segments.back()->next_offset(), base);
    }
    const bool truncated = (*s)->truncated_bytes_at_open() > 0;
    if (truncated) {
      lg.warn("{}: recovered segment {}: truncated {} bytes of torn/corrupt tail", _tp, base,
              (*s)->truncated_bytes_at_open());
    }
    // A scanned closed segment that ends short of the next one's base lost its tail at a batch
    // boundary: a power cut took what was not yet fsynced (a roll only syncs the sealed segment in
    // the background) while the next segment's name, synced at the roll, survived. Left as it
    // is, the log would have a hole and an end past data it does not hold. Compacted logs too:
    // the cleaner keeps every segment's end (an empty batch in place of a removed last batch,
    // fsynced before the swap), so no legitimate gap lies at a segment boundary. Except below the
    // cleaner offset: the cleaned section is durable before that checkpoint names it, and logs
    // compacted before the cleaner kept segment ends (Gregor before 2026-12-04) have real gaps
    // there, which must not cost them everything after.
    const bool cleaned = !active && hints.cleaner_offset && base_list[i + 1] <= *hints.cleaner_offset;
    const bool lost_tail = full && !active && !cleaned && (*s)->next_offset() < base_list[i + 1];
    if (lost_tail && !truncated) {
      lg.warn("{}: recovered segment {} ends at {}, short of the next segment at {}: tail lost",
              _tp, base, (*s)->next_offset(), base_list[i + 1]);
    }
    _segments.push_back(std::move(*s));
    if ((truncated || lost_tail) && !active) {
      // Kafka's rule: what follows a truncated segment cannot be trusted to be contiguous.
      for (size_t j = i + 1; j < base_list.size(); ++j) {
        lg.warn("{}: dropping segment {} after the truncated segment {}", _tp, base_list[j], base);
        for (const char* ext : {".log", ".index", ".timeindex", ".txnindex"}) {
          remove_path(_dir / (segment_file_stem(base_list[j]) + ext), ec);
        }
      }
      // The truncated segment becomes the active one: reopen it as such.
      _segments.back()->close();
      _segments.pop_back();
      auto again = segment::open(_dir, base, limits(), true, _clk.now_ms(), false);
      if (!again) return failure{again.error()};
      _segments.push_back(std::move(*again));
      return sync_dir(_dir);
    }
  }
  return ok;
}

offset partition_log::log_start_offset() const { return offset(_log_start); }

result<void, storage_error> partition_log::add_aborted_txn(const aborted_txn& e) {
  if (_closed) return fail(storage_errc::invalid_argument, "{}: log is closed", _tp);
  if (e.last_offset < _segments.front()->base_offset() || e.last_offset >= log_end_offset().value())
    return fail(storage_errc::invalid_argument, "{}: aborted transaction marker {} is outside the log [{}, {})", _tp,
                e.last_offset, _segments.front()->base_offset(), log_end_offset());
  return _segments[segment_for(e.last_offset)]->append_aborted_txn(e);
}

result<void, storage_error> partition_log::remove_aborted_txns_from(offset from) {
  for (auto it = _segments.rbegin(); it != _segments.rend(); ++it) {
    auto t = (*it)->truncate_aborted_txns_from(from.value());
    if (!t) return t;
    if ((*it)->base_offset() <= from.value()) break;
  }
  return ok;
}

std::vector<aborted_txn> partition_log::collect_aborted_txns(offset fetch_offset, offset upper_bound) const {
  std::vector<aborted_txn> out;
  if (_segments.empty() || fetch_offset >= upper_bound) return out;
  size_t i = fetch_offset.value() < _segments.front()->base_offset() ? 0 : segment_for(fetch_offset.value());
  for (; i < _segments.size(); ++i)
    if (_segments[i]->txn_index().collect(fetch_offset.value(), upper_bound.value(), out)) break;
  return out;
}
offset partition_log::log_end_offset() const { return offset(_segments.back()->next_offset()); }

offset partition_log::written_end_offset() const {
  const offset end = log_end_offset();
  if (!_queue) return end;
  return std::min(end, offset(_queue->written_end()));
}

std::optional<storage_error> partition_log::write_failure() const {
  // The fast path of every append: two atomic loads, no mutex.
  if (!_queue || (!_queue->failed() && !_sync->failed.load(std::memory_order_acquire))) return std::nullopt;
  if (auto f = _queue->failure()) return f;
  std::lock_guard lk(_sync->mutex);
  return _sync->failure;
}

void partition_log::settle_writes() const {
  if (_queue) _queue->settle();
}

size_t partition_log::size_bytes() const {
  size_t total = 0;
  for (const auto& s : _segments) total += s->size_bytes();
  return total;
}

size_t partition_log::segment_count() const { return _segments.size(); }

std::vector<int64_t> partition_log::segment_base_offsets() const {
  std::vector<int64_t> out;
  for (const auto& s : _segments) out.push_back(s->base_offset());
  return out;
}

void partition_log::set_config(log_config cfg) {
  _cfg = cfg;
  for (auto& s : _segments) s->set_limits(limits());
}

size_t partition_log::segment_for(int64_t off) const {
  auto it = std::upper_bound(_segments.begin(), _segments.end(), off,
                             [](int64_t o, const auto& s) { return o < s->base_offset(); });
  return it == _segments.begin() ? 0 : size_t(it - _segments.begin()) - 1;
}

bool partition_log::should_roll(size_t append_bytes, int64_t last_offset) const {
  const segment& a = *_segments.back();
  if (a.empty()) return false;
  int64_t segment_bytes = std::clamp<int64_t>(_cfg.segment_bytes, 1, INT32_MAX);
  if (int64_t(a.size_bytes() + append_bytes) > segment_bytes) return true;
  if (a.first_batch_ms() >= 0 && _clk.now_ms() - a.first_batch_ms() > _cfg.segment_ms) return true;
  if (a.index_full()) return true;
  return last_offset - a.base_offset() > INT32_MAX;
}

result<void, storage_error> partition_log::roll() {
  auto& old = *_segments.back();
  // With a disk writer the roll does not wait for the old segment's queued writes.
  auto sealed = old.seal_in_queue();
  if (!sealed) return sealed;
  int64_t base = old.next_offset();
  auto s = segment::create(_dir, base, limits());
  if (!s) return failure{s.error()};
  _segments.push_back(std::move(*s));
  log::get("storage").debug("{}: rolled new segment at offset {}", _tp, base);
  auto synced = sync_dir(_dir);
  if (synced && _on_roll) _on_roll(offset(base));
  return synced;
}

result<append_result, storage_error> partition_log::append(std::span<uint8_t> batches,
                                                           leader_epoch epoch) {
  if (_closed) return fail(storage_errc::invalid_argument, "{}: log is closed", _tp);
  if (auto f = write_failure())
    return fail(storage_errc::io_error, "{}: an earlier write failed ({}); no appends until the broker restarts", _tp,
                f->message);
  if (batches.empty()) return fail(storage_errc::invalid_argument, "{}: empty append", _tp);
  if (batches.size() > size_t(INT32_MAX)) {
    return fail(storage_errc::invalid_argument, "{}: append of {} bytes", _tp, batches.size());
  }
  std::vector<protocol::batch_header> headers;
  int64_t offsets = 0;
  for (size_t pos = 0; pos < batches.size();) {
    auto h = protocol::parse_batch_header(batches.subspan(pos));
    if (!h || h->batch_length < int32_t(protocol::batch_header_size - protocol::batch_log_overhead) ||
        h->total_size() > batches.size() - pos || h->last_offset_delta < 0) {
      return fail(storage_errc::invalid_argument, "{}: malformed batch at byte {} of append", _tp, pos);
    }
    offsets += int64_t(h->last_offset_delta) + 1;
    pos += h->total_size();
    headers.push_back(*h);
  }
  const int64_t first = log_end_offset().value();
  int64_t next = first;
  int64_t max_ts = no_timestamp;
  size_t pos = 0;
  for (auto& h : headers) {
    auto bytes = batches.subspan(pos, h.total_size());
    protocol::set_base_offset(bytes, next);
    protocol::set_partition_leader_epoch(bytes, epoch.value());
    h.base_offset = next;
    h.partition_leader_epoch = epoch.value();
    next = h.last_offset() + 1;
    max_ts = std::max(max_ts, h.max_timestamp);
    pos += h.total_size();
  }
  // The epoch's start is persisted before the data (by the disk writer, ahead of the data in this
  // log's queue, or here without one): after a crash the checkpoint may name an offset past the
  // log end (cut at open), never miss an epoch the log holds.
  auto e = _epochs->assign(epoch, offset(first), _queue.get());
  if (!e) return failure{e.error()};
  auto w = write_batches(batches, headers, first, next - 1);
  if (!w) return failure{w.error()};
  return append_result{offset(first), offset(next - 1), max_ts, log_start_offset()};
}

result<void, storage_error> partition_log::write_batches(
    std::span<const uint8_t> batches, const std::vector<protocol::batch_header>& headers,
    int64_t first, int64_t last) {
  auto undo_epochs = [&] { (void)_epochs->truncate_from_end(log_end_offset()); };
  if (should_roll(batches.size(), last)) {
    auto r = roll();
    if (!r) {
      undo_epochs();
      return r;
    }
  }
  if (last - _segments.back()->base_offset() > INT32_MAX) {
    undo_epochs();
    return fail(storage_errc::invalid_argument, "{}: append spans too many offsets", _tp);
  }
  auto w = _segments.back()->append(batches, headers, _clk.now_ms());
  if (!w) {
    undo_epochs();
    return w;
  }
  _unflushed_records += last - first + 1;
  if (_unflushed_records >= _cfg.flush_messages ||
      (_cfg.flush_ms != INT64_MAX && _clk.now_ms() - _last_flush_ms >= _cfg.flush_ms)) {
    if (!_queue || !request_sync()) {
      auto f = flush();
      if (!f) return f;
    }
  }
  return ok;
}

bool partition_log::request_sync() {
  std::vector<int> fds;
  const int64_t rp = recovery_point().value();
  // Sealed segments above the recovery point: their background sync after the roll may not have
  // run yet, and the recovery point will cover them.
  for (size_t i = 0; i + 1 < _segments.size(); ++i) {
    if (_segments[i]->next_offset() <= rp) continue;
    auto more = _segments[i]->dup_for_sync();
    fds.insert(fds.end(), more.begin(), more.end());
  }
  auto active = _segments.back()->dup_for_sync();
  if (active.empty()) {  // not even the .log descriptor could be duplicated (out of descriptors)
    for (int fd : fds) ::close(fd);
    return false;
  }
  fds.insert(fds.end(), active.begin(), active.end());
  const int64_t end = log_end_offset().value();
  // The descriptors close with the action, also when it never runs (dropped after a failed write).
  detail::held_descriptors held(std::move(fds));
  // Runs on the writer thread after this log's queued writes (not at all after a failed one).
  _queue->push_action(
      [state = _sync, held = std::move(held), end, dir = _dir] {
        std::optional<storage_error> failed;
        if (auto d = sync_dir_if_pending(*state, dir); !d) failed = d.error();
        for (int fd : held.fds()) {
          if (failed) break;
          if (auto r = file::sync_descriptor(fd, dir); !r) {
            failed = r.error();
            break;
          }
        }
        if (failed) {
          log::get("storage").error("{}; the partition takes no more appends until the broker restarts",
                                    failed->message);
          std::lock_guard lk(state->mutex);
          if (!state->failure) state->failure = std::move(failed);
          state->failed.store(true, std::memory_order_release);
          return ok;  // reported through the sync state, which refuses appends
        }
        int64_t cur = state->synced_end.load(std::memory_order_relaxed);
        while (cur < end && !state->synced_end.compare_exchange_weak(cur, end, std::memory_order_release)) {
        }
        return ok;
      },
      end);
  _sync_requested_end = end;
  _unflushed_records = 0;
  _last_flush_ms = _clk.now_ms();
  return true;
}

void partition_log::absorb_syncs() {
  _recovery_point = std::max(_recovery_point,
                             std::min(_sync->synced_end.load(std::memory_order_acquire), log_end_offset().value()));
}

offset partition_log::synced_end_offset() const {
  return offset(std::max(_recovery_point, _sync->synced_end.load(std::memory_order_acquire)));
}

offset partition_log::recovery_point() const {
  return offset(std::max(_recovery_point,
                         std::min(_sync->synced_end.load(std::memory_order_acquire), log_end_offset().value())));
}

result<append_result, storage_error> partition_log::append_with_offsets(
    std::span<const uint8_t> batches) {
  if (_closed) return fail(storage_errc::invalid_argument, "{}: log is closed", _tp);
  if (auto f = write_failure())
    return fail(storage_errc::io_error, "{}: an earlier write failed ({}); no appends until the broker restarts", _tp,
                f->message);
  if (batches.empty()) return fail(storage_errc::invalid_argument, "{}: empty append", _tp);
  if (batches.size() > size_t(INT32_MAX)) {
    return fail(storage_errc::invalid_argument, "{}: append of {} bytes", _tp, batches.size());
  }
  std::vector<protocol::batch_header> headers;
  const int64_t first = log_end_offset().value();
  int64_t next = first;
  int64_t max_ts = no_timestamp;
  for (size_t pos = 0; pos < batches.size();) {
    auto rest = batches.subspan(pos);
    auto h = protocol::parse_batch_header(rest);
    if (!h || h->batch_length < int32_t(protocol::batch_header_size - protocol::batch_log_overhead) ||
        h->total_size() > rest.size() || h->last_offset_delta < 0) {
      return fail(storage_errc::invalid_argument, "{}: malformed batch at byte {} of append", _tp, pos);
    }
    if (!protocol::batch_crc_ok(rest.subspan(0, h->total_size()))) {
      return fail(storage_errc::invalid_argument, "{}: batch at byte {} of append fails its CRC",
                  _tp, pos);
    }
    if (h->base_offset != next) {
      return fail(storage_errc::invalid_argument,
                  "{}: batch at byte {} starts at offset {}, the log continues at {}", _tp, pos,
                  h->base_offset, next);
    }
    next = h->last_offset() + 1;
    max_ts = std::max(max_ts, h->max_timestamp);
    pos += h->total_size();
    headers.push_back(*h);
  }
  for (const auto& h : headers) {
    auto e = _epochs->assign(leader_epoch(h.partition_leader_epoch), offset(h.base_offset), _queue.get());
    if (!e) {
      (void)_epochs->truncate_from_end(log_end_offset());
      return failure{e.error()};
    }
  }
  auto w = write_batches(batches, headers, first, next - 1);
  if (!w) return failure{w.error()};
  return append_result{offset(first), offset(next - 1), max_ts, log_start_offset()};
}

void partition_log::drop_segments_from(size_t from) {
  while (_segments.size() > from) {
    auto r = _segments.back()->remove_files();
    if (!r) log::get("storage").warn("{}: {}", _tp, r.error().message);
    _segments.pop_back();
  }
}

result<offset, storage_error> partition_log::truncate_to(offset end) {
  if (_closed) return fail(storage_errc::invalid_argument, "{}: log is closed", _tp);
  if (end >= log_end_offset()) return log_end_offset();
  if (end.value() < 0) return fail(storage_errc::invalid_argument, "{}: truncate to {}", _tp, end);
  // Queued writes and syncs finish first; the recovery point takes in what they synced, so
  // lowering it below is noticed (and checkpointed).
  settle_writes();
  absorb_syncs();
  if (end.value() < _log_start || end.value() <= _segments.front()->base_offset()) {
    auto r = truncate_fully_and_start_at(end);
    if (!r) return failure{r.error()};
    return log_end_offset();
  }
  _read_hint = {};
  size_t i = segment_for(end.value());
  uint64_t cut = 0;
  if (_segments[i]->base_offset() == end.value()) {
    // The cut falls on a segment boundary: the previous segment keeps all it has.
    --i;
    cut = _segments[i]->size_bytes();
  } else {
    auto fb = _segments[i]->find_batch(end.value());
    if (!fb) return failure{fb.error()};
    cut = *fb ? (*fb)->position : _segments[i]->size_bytes();
  }
  drop_segments_from(i + 1);
  // Cut the file with the segment closed, then reopen it as the active one: a full recovery scan
  // rebuilds both indexes for exactly what is left (and loads the direct-I/O tail).
  const int64_t base = _segments[i]->base_offset();
  _segments[i]->close();
  _segments.pop_back();
  std::error_code ec;
  resize_path(_dir / (segment_file_stem(base) + ".log"), cut, ec);
  if (ec) return fail(storage_errc::io_error, "{}: truncate segment {}: {}", _tp, base, ec.message());
  auto s = segment::open(_dir, base, limits(), /*active=*/true, _clk.now_ms(), /*full_recovery=*/true);
  if (!s) return failure{s.error()};
  _segments.push_back(std::move(*s));
  auto f = _segments.back()->flush();
  if (!f) return failure{f.error()};
  auto d = sync_dir(_dir);
  if (!d) return failure{d.error()};
  const int64_t leo = log_end_offset().value();
  const bool lowered = leo < _recovery_point;
  _recovery_point = std::min(_recovery_point, leo);
  _sync->synced_end.store(std::min(_sync->synced_end.load(), leo));
  _sync_requested_end = std::min(_sync_requested_end, leo);
  _txn_index_complete_below = std::min(_txn_index_complete_below, leo);
  _cleaned_up_to = std::min(_cleaned_up_to, leo);
  _unflushed_records = 0;
  auto e = _epochs->truncate_from_end(log_end_offset());
  if (!e) return failure{e.error()};
  if (_queue) _queue->reset_written_end(leo);
  log::get("storage").info("{}: truncated to {} (asked {})", _tp, leo, end);
  if (_on_truncate) _on_truncate(log_end_offset());
  if (lowered && _on_recovery_point_lowered) {
    auto c = _on_recovery_point_lowered(recovery_point());
    if (!c) return failure{c.error()};
  }
  return log_end_offset();
}

result<void, storage_error> partition_log::truncate_fully_and_start_at(offset start) {
  if (_closed) return fail(storage_errc::invalid_argument, "{}: log is closed", _tp);
  if (start.value() < 0) return fail(storage_errc::invalid_argument, "{}: restart at {}", _tp, start);
  settle_writes();
  absorb_syncs();
  _read_hint = {};
  drop_segments_from(0);
  auto s = segment::create(_dir, start.value(), limits());
  if (!s) return failure{s.error()};
  _segments.push_back(std::move(*s));
  auto d = sync_dir(_dir);
  if (!d) return failure{d.error()};
  _log_start = start.value();
  const bool lowered = start.value() < _recovery_point;
  _recovery_point = start.value();
  _sync->synced_end.store(start.value());
  _sync_requested_end = start.value();
  _txn_index_complete_below = start.value();
  _cleaned_up_to = start.value();
  _unflushed_records = 0;
  auto e = _epochs->clear();
  if (!e) return failure{e.error()};
  if (_queue) _queue->reset_written_end(start.value());
  log::get("storage").info("{}: emptied, restarting at offset {}", _tp, start);
  if (_on_truncate) _on_truncate(start);
  if (lowered && _on_recovery_point_lowered) return _on_recovery_point_lowered(recovery_point());
  return ok;
}

epoch_end_offset partition_log::end_offset_for_epoch(leader_epoch epoch) const {
  return _epochs->end_offset_for(epoch, log_end_offset());
}

leader_epoch partition_log::latest_epoch() const {
  auto l = _epochs->latest();
  return l ? l->epoch : no_leader_epoch;
}

result<void, storage_error> partition_log::load_epochs() {
  auto& lg = log::get("storage");
  auto loaded = leader_epoch_cache::load(_dir);
  const bool has_data = log_end_offset().value() > _segments.front()->base_offset();
  bool rebuild = false;
  if (!loaded) {
    if (loaded.error().code != storage_errc::corrupt) return failure{loaded.error()};
    lg.warn("{}: {}; rebuilding it from the log", _tp, loaded.error().message);
    _epochs = leader_epoch_cache::empty(_dir);
    rebuild = true;
  } else {
    _epochs = std::move(*loaded);
    rebuild = has_data && !fs::exists(_epochs->path());
  }
  if (rebuild) {
    std::vector<epoch_entry> entries;
    for (const auto& seg : _segments) {
      auto r = for_each_batch_header(*seg, [&](const protocol::batch_header& h) {
        if (h.partition_leader_epoch < 0) return;
        if (entries.empty() || h.partition_leader_epoch > entries.back().epoch.value()) {
          entries.push_back({leader_epoch(h.partition_leader_epoch), offset(h.base_offset)});
        }
      });
      if (!r) return r;
    }
    auto r = _epochs->reset(std::move(entries));
    if (!r) return r;
  }
  auto e = _epochs->truncate_from_end(log_end_offset());
  if (!e) return e;
  return _epochs->truncate_from_start(log_start_offset());
}

std::vector<device_read> partition_log::prepare_read(offset start, size_t max_bytes, bool* refused) const {
  std::vector<device_read> out;
  const int64_t s = start.value();
  if (_closed || _segments.empty() || s < log_start_offset().value() || s >= log_end_offset().value()) return out;
  // The same segments and positions read() takes. Without a hint the search starts at the
  // offset index's entry, up to an index interval (and a batch) below the batch: the background
  // read starts there too, so that find_batch walks its headers in memory.
  size_t budget = std::max(max_bytes, protocol::batch_header_size);
  const size_t first = segment_for(s);
  for (size_t i = first; i < _segments.size() && budget > 0; ++i) {
    const segment& seg = *_segments[i];
    uint64_t pos = 0;
    size_t want = budget;
    size_t slack = 0;
    if (i == first) {
      if (_read_hint.seg == &seg && _read_hint.offset == s) {
        pos = _read_hint.position;
      } else {
        pos = seg.index_position(s);
        slack = size_t(std::max(_cfg.index_interval_bytes, 0)) + (size_t(64) << 10);
        want += slack;
      }
    }
    if (pos >= seg.size_bytes()) continue;
    if (auto r = seg.prepare_read(pos, want, refused)) out.push_back(std::move(*r));
    // What read() takes from this segment at most (it starts up to `slack` above `pos`).
    const uint64_t avail = seg.size_bytes() - pos;
    const uint64_t taken = avail > slack ? avail - slack : 0;
    budget = taken >= budget ? 0 : budget - size_t(taken);
  }
  return out;
}

result<read_result, storage_error> partition_log::read(offset start, size_t max_bytes,
                                                       offset upper_bound, bool min_one, bool share) const {
  if (_closed) return fail(storage_errc::invalid_argument, "{}: log is closed", _tp);
  const int64_t s = start.value();
  read_result rr{{}, log_start_offset(), log_end_offset(), {}};
  if (s < rr.log_start_offset.value() || s > rr.log_end_offset.value()) {
    return fail(storage_errc::offset_out_of_range, "{}: offset {} outside [{}, {}]", _tp, s,
                rr.log_start_offset, rr.log_end_offset);
  }
  if (s == rr.log_end_offset.value()) return rr;
  size_t budget = max_bytes;
  bool first_batch = true;
  bool stop = false;
  // A shared view becomes a copy in rr.data when more bytes must follow it.
  auto unshare = [&rr] {
    if (!rr.shared.owner) return;
    rr.data.assign(rr.shared.bytes.begin(), rr.shared.bytes.end());
    rr.shared = {};
  };
  for (size_t i = segment_for(s); i < _segments.size() && !stop; ++i) {
    const segment& seg = *_segments[i];
    uint64_t pos = 0;
    bool hinted = false;
    if (first_batch) {
      if (_read_hint.seg == &seg && _read_hint.offset == s && _read_hint.position < seg.size_bytes()) {
        pos = _read_hint.position;
        hinted = true;
      } else {
        auto fb = seg.find_batch(s);
        if (!fb) return failure{fb.error()};
        if (!*fb) continue;
        pos = (*fb)->position;
      }
    }
    if (pos >= seg.size_bytes()) continue;
    unshare();  // an earlier segment's view, followed by this segment's bytes
    size_t avail = 0;
    size_t want = 0;
    const size_t region_start = rr.data.size();
    // This segment's bytes: the shared view, or rr.data from region_start on.
    auto region = [&]() -> const uint8_t* {
      return rr.shared.owner ? rr.shared.bytes.data() : rr.data.data() + region_start;
    };
    auto read_from = [&](uint64_t at) {
      avail = seg.size_bytes() - at;
      want = std::min(avail, budget);
      if (first_batch && min_one) want = std::max(want, std::min(avail, protocol::batch_header_size));
      if (share && region_start == 0) return seg.read_or_share(at, want, rr.data, rr.shared);
      return seg.read(at, want, rr.data);
    };
    auto n = read_from(pos);
    if (!n) return failure{n.error()};
    if (hinted) {
      // Trust the hint only if the batch there holds the offset (offsets are unique in the log,
      // so that batch is the one find_batch would return); else look it up and read again.
      auto h = protocol::parse_batch_header(std::span<const uint8_t>(region(), *n));
      if (!h || h->base_offset > s || h->last_offset() < s) {
        rr.data.resize(region_start);
        rr.shared = {};
        _read_hint = {};
        auto fb = seg.find_batch(s);
        if (!fb) return failure{fb.error()};
        if (!*fb) continue;
        pos = (*fb)->position;
        n = read_from(pos);
        if (!n) return failure{n.error()};
      }
    }
    size_t region_len = *n;
    size_t off = 0;
    int64_t next_offset = -1;  // one past the last batch taken from this segment
    for (;;) {
      if (region_len - off < protocol::batch_header_size) {
        if (!(off == region_len && want == avail)) stop = true;  // budget, not segment end
        break;
      }
      auto h = protocol::parse_batch_header(std::span<const uint8_t>(region() + off, region_len - off));
      if (!h || h->batch_length < int32_t(protocol::batch_header_size - protocol::batch_log_overhead)) {
        log::get("storage").error("{}: unreadable batch in segment {} at position {}", _tp,
                                  seg.base_offset(), pos + off);
        if (region_start + off == 0) {
          return fail(storage_errc::corrupt, "{}: unreadable batch at position {} of segment {}",
                      _tp, pos + off, seg.base_offset());
        }
        stop = true;
        break;
      }
      if (h->base_offset >= upper_bound.value()) {
        stop = true;
        break;
      }
      size_t total = h->total_size();
      if (total > avail - off) {
        return fail(storage_errc::corrupt, "{}: batch at position {} of segment {} runs past its end",
                    _tp, pos + off, seg.base_offset());
      }
      if (off + total > region_len) {
        if (!(first_batch && min_one)) {
          stop = true;
          break;
        }
        // KIP-74: the first batch is returned whole even when larger than max_bytes.
        unshare();
        auto more = seg.read(pos + region_len, off + total - region_len, rr.data);
        if (!more) return failure{more.error()};
        region_len += *more;
        if (off + total > region_len) {
          return fail(storage_errc::io_error, "{}: short read in segment {}", _tp, seg.base_offset());
        }
      }
      off += total;
      next_offset = h->last_offset() + 1;
      first_batch = false;
    }
    if (rr.shared.owner) {
      rr.shared.bytes = rr.shared.bytes.first(off);
      if (off == 0) rr.shared = {};
    } else {
      rr.data.resize(region_start + off);
    }
    if (off > 0) _read_hint = {&seg, next_offset, pos + off};
    // A large sequential read (a consumer catching up) of a direct-I/O segment: read the next
    // step in the background while this one is sent.
    if (off >= readahead_min_bytes && seg.direct_io()) seg.read_ahead(pos + off, want);
    budget = off >= budget ? 0 : budget - off;
    if (budget == 0) stop = true;
  }
  return rr;
}

std::optional<timestamp_lookup> partition_log::offset_for_timestamp(int64_t ts) const {
  for (const auto& seg : _segments) {
    if (seg->max_timestamp() < 0 || seg->max_timestamp() < ts) continue;
    auto fb = seg->find_batch_by_timestamp(ts);
    if (!fb) {
      log::get("storage").error("{}: offset_for_timestamp: {}", _tp, fb.error().message);
      return std::nullopt;
    }
    if (!*fb) continue;
    const auto& h = (*fb)->header;
    std::vector<uint8_t> buf;
    auto n = seg->read((*fb)->position, h.total_size(), buf);
    std::optional<timestamp_lookup> found;
    if (n && *n == h.total_size()) {
      auto r = protocol::for_each_record(buf, [&](const protocol::record_view& rv) {
        if (!found && rv.timestamp >= ts) found = timestamp_lookup{offset(rv.offset), rv.timestamp};
      });
      if (!r) found.reset();
    }
    if (!found) found = timestamp_lookup{offset(h.base_offset), h.max_timestamp};
    // Records below the log start offset (DeleteRecords) are gone for readers.
    if (found->found.value() < _log_start) found->found = offset(_log_start);
    return found;
  }
  return std::nullopt;
}

std::optional<timestamp_lookup> partition_log::max_timestamp() const {
  const segment* best = nullptr;
  for (const auto& seg : _segments) {
    if (seg->max_timestamp() >= 0 && (!best || seg->max_timestamp() > best->max_timestamp())) {
      best = seg.get();
    }
  }
  if (!best) return std::nullopt;
  const int64_t ts = best->max_timestamp();
  timestamp_lookup fallback{offset(best->offset_of_max_timestamp()), ts};
  auto fb = best->find_batch(best->offset_of_max_timestamp());
  if (!fb || !*fb) return fallback;
  const auto& h = (*fb)->header;
  std::vector<uint8_t> buf;
  auto n = best->read((*fb)->position, h.total_size(), buf);
  if (!n || *n != h.total_size()) return fallback;
  std::optional<timestamp_lookup> found;
  auto r = protocol::for_each_record(buf, [&](const protocol::record_view& rv) {
    if (!found && rv.timestamp == ts) found = timestamp_lookup{offset(rv.offset), rv.timestamp};
  });
  if (!r || !found) return fallback;
  return found;
}

result<void, storage_error> partition_log::flush() {
  if (_closed) return fail(storage_errc::invalid_argument, "{}: log is closed", _tp);
  settle_writes();
  absorb_syncs();
  if (auto d = sync_dir_if_pending(*_sync, _dir); !d) return d;
  // Sealed segments above the recovery point were synced in the background after their roll;
  // sync them here too, so the recovery point only covers what this call made durable.
  for (size_t i = 0; i + 1 < _segments.size(); ++i) {
    if (_segments[i]->next_offset() <= _recovery_point) continue;
    auto f = _segments[i]->flush();
    if (!f) return f;
  }
  auto f = _segments.back()->flush();
  if (!f) return f;
  _unflushed_records = 0;
  _last_flush_ms = _clk.now_ms();
  _recovery_point = _segments.back()->next_offset();
  return ok;
}

result<void, storage_error> partition_log::maybe_flush(int64_t now_ms) {
  if (_closed || _unflushed_records == 0 || _cfg.flush_ms == INT64_MAX || _cfg.flush_ms < 0) return ok;
  if (now_ms - _last_flush_ms < _cfg.flush_ms) return ok;
  if (_queue && request_sync()) return ok;
  return flush();
}

result<size_t, storage_error> partition_log::delete_oldest_segment(int64_t now_ms) {
  GREGOR_ASSERT(_segments.size() > 1);
  auto& seg = *_segments.front();
  const size_t bytes = seg.size_bytes();
  const int64_t base = seg.base_offset();
  auto moved = seg.mark_deleted();
  if (!moved) return failure{moved.error()};
  _segments.erase(_segments.begin());
  _log_start = std::max(_log_start, _segments.front()->base_offset());
  _pending_deletes.push_back(pending_delete{std::move(*moved), now_ms});
  log::get("storage").info("{}: deleted segment {} ({} bytes); log start offset {}", _tp, base,
                           bytes, _log_start);
  return bytes;
}

result<offset, storage_error> partition_log::advance_log_start_offset(offset new_start,
                                                                      int64_t now_ms) {
  if (_closed) return fail(storage_errc::invalid_argument, "{}: log is closed", _tp);
  const int64_t target = new_start.value();
  if (target > log_end_offset().value() || target < 0) {
    return fail(storage_errc::offset_out_of_range, "{}: cannot move the log start to {} (log end {})",
                _tp, target, log_end_offset());
  }
  if (target <= _log_start) return log_start_offset();
  _log_start = target;
  log::get("storage").info("{}: log start offset advanced to {}", _tp, _log_start);
  while (_segments.size() > 1 && _segments[1]->base_offset() <= _log_start) {
    auto d = delete_oldest_segment(now_ms);
    if (!d) return failure{d.error()};
  }
  auto s = sync_dir_after_delete();
  if (!s) return failure{s.error()};
  auto e = _epochs->truncate_from_start(log_start_offset(), _background);
  if (!e) return failure{e.error()};
  return log_start_offset();
}

result<retention_result, storage_error> partition_log::enforce_retention(int64_t now_ms) {
  retention_result rr;
  if (_closed) return rr;
  remove_deleted_files(now_ms);
  auto expired = [&](const segment& seg) {
    if (!_cfg.delete_enabled || _cfg.retention_ms < 0 || seg.empty()) return false;
    int64_t ts = seg.max_timestamp() >= 0 ? seg.max_timestamp() : seg.last_modified_ms();
    return now_ms - ts > _cfg.retention_ms;
  };
  // An expired active segment is rolled first so that it can go too (Kafka does the same).
  if (expired(*_segments.back())) {
    bool all_expired = true;
    for (const auto& seg : _segments) all_expired = all_expired && (seg->empty() || expired(*seg));
    if (all_expired) {
      auto r = roll();
      if (!r) return failure{r.error()};
    }
  }
  int64_t excess = (_cfg.delete_enabled && _cfg.retention_bytes >= 0)
                       ? int64_t(size_bytes()) - _cfg.retention_bytes
                       : 0;
  while (_segments.size() > 1) {
    const segment& seg = *_segments.front();
    bool below_start = _segments[1]->base_offset() <= _log_start;
    bool too_big = excess > 0 && excess - int64_t(seg.size_bytes()) >= 0;
    // Empty closed segments (everything compacted away) never hold retention back.
    if (!below_start && !too_big && !expired(seg) && !seg.empty()) break;
    auto d = delete_oldest_segment(now_ms);
    if (!d) return failure{d.error()};
    excess -= int64_t(*d);
    rr.segments_deleted++;
    rr.bytes_deleted += *d;
  }
  if (rr.segments_deleted > 0) {
    auto s = sync_dir_after_delete();
    if (!s) return failure{s.error()};
    auto e = _epochs->truncate_from_start(log_start_offset(), _background);
    if (!e) return failure{e.error()};
  }
  return rr;
}

void partition_log::remove_deleted_files(int64_t now_ms, bool force) {
  std::vector<std::filesystem::path> due;
  auto it = std::remove_if(_pending_deletes.begin(), _pending_deletes.end(), [&](pending_delete& p) {
    if (!force && now_ms - p.since_ms < _cfg.file_delete_delay_ms) return false;
    for (auto& f : p.files) due.push_back(std::move(f));
    return true;
  });
  _pending_deletes.erase(it, _pending_deletes.end());
  if (due.empty()) return;
  auto remove = [due = std::move(due)] {
    std::error_code ec;
    for (const auto& f : due) remove_path(f, ec);
  };
  // Unlinking a large file takes the file system a while: not on the owner thread when there is
  // a background thread (at close the files go at once).
  if (force || !_background || !_background->submit(remove)) remove();
}

namespace {
void raise_to(std::atomic<uint64_t>& a, uint64_t v) {
  uint64_t cur = a.load();
  while (cur < v && !a.compare_exchange_weak(cur, v)) {
  }
}
}  // namespace

result<void, storage_error> partition_log::sync_dir_if_pending(sync_state& state, const fs::path& dir) {
  const uint64_t want = state.dir_syncs_requested.load();
  if (state.dir_synced.load() >= want) return ok;
  auto s = sync_dir(dir);
  if (s) raise_to(state.dir_synced, want);
  return s;
}

result<void, storage_error> partition_log::sync_dir_after_delete() {
  const uint64_t n = ++_sync->dir_syncs_requested;
  if (_background) {
    auto sync = [dir = _dir, tp = _tp, state = _sync, n] {
      auto s = sync_dir(dir);
      if (s) raise_to(state->dir_synced, n);
      // The partition may have been deleted meanwhile (its directory renamed): nothing to sync.
      if (!s && std::filesystem::exists(dir)) log::get("storage").warn("{}: {}", tp, s.error().message);
    };
    if (_background->submit(sync)) return ok;
  }
  auto s = sync_dir(_dir);
  if (s) raise_to(_sync->dir_synced, n);
  return s;
}

void partition_log::abandon() {
  if (_closed) return;
  if (_epochs) _epochs->retire();
  for (auto& s : _segments) s->close();
  _closed = true;
}

result<void, storage_error> partition_log::close() {
  if (_closed) return ok;
  auto f = flush();
  if (_epochs) _epochs->retire();
  remove_deleted_files(0, /*force=*/true);
  for (auto& s : _segments) s->close();
  _closed = true;
  return f;
}

}  // namespace gregor::storage
