#include "gregor/controller/metadata_log.h"

#include <algorithm>
#include <system_error>

#include <fmt/format.h>

#include "gregor/base/log.h"
#include "gregor/storage/file.h"

namespace gregor::controller {

namespace {
namespace fs = std::filesystem;
constexpr size_t quorum_state_bytes_max = 64 << 10;
// A snapshot is read whole at open; larger files are refused rather than allocated.
constexpr size_t snapshot_bytes_max = size_t(1) << 30;
constexpr size_t read_chunk_bytes = size_t(8) << 20;
constexpr const char* part_suffix = ".part";

spdlog::logger& lg() { return log::get("controller"); }

failure<controller_error> io(std::string msg) {
  return failure{controller_error{controller_errc::io_error, std::move(msg)}};
}
failure<controller_error> io(const storage::storage_error& e) { return io(e.message); }

result<std::vector<uint8_t>, controller_error> read_whole(const fs::path& p) {
  auto f = storage::file::open_read(p);
  if (!f) return io(f.error());
  auto size = f->size();
  if (!size) return io(size.error());
  if (*size > snapshot_bytes_max) return io(fmt::format("{} is {} bytes, over the limit", p.string(), *size));
  std::vector<uint8_t> out(*size);
  auto n = f->pread(0, out);
  if (!n) return io(n.error());
  out.resize(*n);
  return out;
}
}  // namespace

metadata_log::~metadata_log() = default;

result<std::unique_ptr<metadata_log>, controller_error> metadata_log::open(fs::path dir, clock& clk,
                                                                           storage::log_config cfg) {
  std::error_code ec;
  storage::create_dirs(dir, ec);
  if (ec) return io(fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  std::unique_ptr<metadata_log> m(new metadata_log(std::move(dir), clk));

  auto text = storage::read_small_file(m->_dir / quorum_state_file_name, quorum_state_bytes_max);
  if (text) {
    auto q = parse_quorum_state(*text);
    if (!q) return io(fmt::format("{}: {}", (m->_dir / quorum_state_file_name).string(), q.error()));
    m->_recovered.quorum = *q;
  } else if (text.error().code != storage::storage_errc::not_found) {
    return io(text.error());
  }

  auto snaps = m->load_snapshots();
  if (!snaps) return failure{snaps.error()};

  // Recovery of the segments: no checkpoints are kept for this directory, so every segment is
  // scanned with CRC checks and a torn tail cut (the metadata log is small).
  auto log = storage::partition_log::open(m->_dir, topic_partition{"__cluster_metadata", partition_id(0)},
                                          metadata_topic_id, cfg, clk);
  if (!log) return io(log.error());
  m->_log = std::move(*log);
  if (m->_snapshot && m->_log->log_end_offset() < m->_snapshot->end_offset) {
    lg().info("{}: the log ends at {}, below the snapshot {}: restarting it there", m->_dir.string(),
              m->_log->log_end_offset(), snapshot_file_name(*m->_snapshot));
    auto t = m->_log->truncate_fully_and_start_at(m->_snapshot->end_offset);
    if (!t) return io(t.error());
  }
  auto b = m->load_batches();
  if (!b) return failure{b.error()};
  m->_recovered.snapshot = m->_snapshot;
  m->_recovered.log_start_offset = m->_log->log_start_offset();
  m->_recovered.log_end_offset = m->_log->log_end_offset();
  lg().info("{}: metadata log [{}, {}), snapshot {}, {} batches to replay", m->_dir.string(),
            m->_recovered.log_start_offset, m->_recovered.log_end_offset,
            m->_snapshot ? snapshot_file_name(*m->_snapshot) : "none", m->_recovered.batches.size());
  return m;
}

result<void, controller_error> metadata_log::load_snapshots() {
  std::vector<snapshot_id> ids;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.ends_with(std::string(".checkpoint") + part_suffix)) {
      lg().info("{}: removing the unfinished snapshot {}", _dir.string(), name);
      storage::remove_path(e.path(), ec);
      continue;
    }
    if (auto id = parse_snapshot_file_name(name)) ids.push_back(*id);
  }
  if (ec) return io(fmt::format("cannot list {}: {}", _dir.string(), ec.message()));
  std::sort(ids.rbegin(), ids.rend());
  for (const auto& id : ids) {
    auto bytes = read_whole(snapshot_path(id));
    if (!bytes) {
      lg().warn("{}: {}", snapshot_path(id).string(), bytes.error().message);
      continue;
    }
    auto contents = decode_snapshot(*bytes);
    if (!contents) {
      lg().warn("{}: not a valid snapshot ({}); using an older one", snapshot_path(id).string(), contents.error());
      continue;
    }
    _snapshot = id;
    _recovered.snapshot_bytes = std::move(*bytes);
    _recovered.snapshot_contents = std::move(*contents);
    return ok;
  }
  return ok;
}

result<void, controller_error> metadata_log::load_batches() {
  offset from = std::max(_log->log_start_offset(), _snapshot ? _snapshot->end_offset : offset(0));
  const offset end = _log->log_end_offset();
  while (from < end) {
    auto r = _log->read(from, read_chunk_bytes, offset(INT64_MAX), true);
    if (!r) return io(r.error());
    if (r->data.empty()) break;
    auto batches = decode_batches(std::span<const uint8_t>(r->data.data(), r->data.size()));
    if (!batches) {
      return io(fmt::format("{}: a metadata batch from offset {} on does not decode: {}", _dir.string(), from,
                            batches.error()));
    }
    for (auto& b : *batches) {
      from = b.last_offset + 1;
      if (b.base_offset < (_snapshot ? _snapshot->end_offset : offset(0))) continue;
      _recovered.batches.push_back(std::move(b));
    }
  }
  return ok;
}

result<void, controller_error> metadata_log::append(std::span<const uint8_t> batches) {
  auto r = _log->append_with_offsets(batches);
  if (!r) return io(r.error());
  return ok;
}

result<offset, controller_error> metadata_log::append_records(leader_epoch epoch, int64_t append_time_ms,
                                                              std::span<const framed_record> records) {
  const offset base = log_end_offset();
  auto b = encode_data_batch(base, epoch, append_time_ms, records);
  auto a = append(b);
  if (!a) return failure{a.error()};
  return base;
}

result<offset, controller_error> metadata_log::append_control(
    leader_epoch epoch, int64_t append_time_ms, std::span<const protocol::metadata::any_control_record> records) {
  const offset base = log_end_offset();
  auto b = encode_control_batch(base, epoch, append_time_ms, records);
  auto a = append(b);
  if (!a) return failure{a.error()};
  return base;
}

result<void, controller_error> metadata_log::flush() {
  auto f = _log->flush();
  if (!f) return io(f.error());
  return ok;
}

result<offset, controller_error> metadata_log::truncate_to(offset end) {
  auto t = _log->truncate_to(end);
  if (!t) return io(t.error());
  return *t;
}

result<void, controller_error> metadata_log::write_quorum_state(const quorum_state_file& q) {
  auto w = storage::write_file_atomic(_dir / quorum_state_file_name, encode_quorum_state(q));
  if (!w) return io(w.error());
  return ok;
}

result<void, controller_error> metadata_log::write_snapshot(snapshot_id id, std::span<const uint8_t> bytes) {
  auto check = decode_snapshot(bytes);
  if (!check) return io(fmt::format("refusing to write snapshot {}: {}", snapshot_file_name(id), check.error()));
  const fs::path final_path = snapshot_path(id);
  fs::path part = final_path;
  part += part_suffix;
  {
    auto f = storage::file::open(part);
    if (!f) return io(f.error());
    auto t = f->truncate(0);
    if (!t) return io(t.error());
    auto w = f->pwrite(0, bytes);
    if (!w) return io(w.error());
    auto s = f->sync();
    if (!s) return io(s.error());
  }
  std::error_code ec;
  storage::rename_path(part, final_path, ec);
  if (ec) return io(fmt::format("rename {}: {}", part.string(), ec.message()));
  auto d = storage::sync_dir(_dir);
  if (!d) return io(d.error());
  if (!_snapshot || *_snapshot < id) _snapshot = id;
  if (log_end_offset() < id.end_offset) {
    auto t = _log->truncate_fully_and_start_at(id.end_offset);
    if (!t) return io(t.error());
  }
  lg().info("{}: wrote snapshot {}", _dir.string(), snapshot_file_name(id));
  return ok;
}

result<void, controller_error> metadata_log::write_snapshot(snapshot_id id, std::span<const framed_record> records,
                                                            const snapshot_options& opts) {
  auto bytes = encode_snapshot(id, records, opts);
  return write_snapshot(id, std::span<const uint8_t>(bytes));
}

result<size_t, controller_error> metadata_log::delete_below_snapshot() {
  if (!_snapshot) return size_t(0);
  const size_t before = _log->segment_count();
  const offset target = std::min(_snapshot->end_offset, _log->log_end_offset());
  auto a = _log->advance_log_start_offset(target, _clock.now_ms());
  if (!a) return io(a.error());
  _log->remove_deleted_files(_clock.now_ms(), /*force=*/true);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(_dir, ec)) {
    auto id = parse_snapshot_file_name(e.path().filename().string());
    if (id && *id < *_snapshot) {
      lg().info("{}: removing the older snapshot {}", _dir.string(), e.path().filename().string());
      storage::remove_path(e.path(), ec);
    }
  }
  auto d = storage::sync_dir(_dir);
  if (!d) return io(d.error());
  return before - _log->segment_count();
}

result<std::vector<uint8_t>, controller_error> metadata_log::read(offset from, size_t max_bytes) const {
  auto r = _log->read(from, max_bytes, offset(INT64_MAX), true);
  if (!r) return io(r.error());
  return std::vector<uint8_t>(r->data.data(), r->data.data() + r->data.size());
}

result<void, controller_error> metadata_log::close() {
  if (!_log) return ok;
  auto c = _log->close();
  if (!c) return io(c.error());
  return ok;
}

}  // namespace gregor::controller
