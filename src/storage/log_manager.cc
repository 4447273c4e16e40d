#include "gregor/storage/log_manager.h"

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

#include "gregor/base/log.h"

namespace gregor::storage {

namespace {
namespace fs = std::filesystem;

bool valid_topic_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

constexpr const char* recovery_point_file = "recovery-point-offset-checkpoint";
constexpr const char* log_start_file = "log-start-offset-checkpoint";
constexpr const char* cleaner_offset_file = "cleaner-offset-checkpoint";
constexpr const char* high_watermark_file = "replication-offset-checkpoint";
constexpr const char* clean_shutdown_file = ".kafka_cleanshutdown";
constexpr const char* lock_file = ".lock";
constexpr int checkpoint_version = 0;

// Reads one of Kafka's offset checkpoint files; a malformed file is ignored (logged) as if
// absent, which only costs a full scan.
std::map<topic_partition, int64_t> read_checkpoint(const fs::path& path) {
  auto text = read_small_file(path, 64 << 20);
  if (!text) {
    if (text.error().code != storage_errc::not_found)
      log::get("storage").warn("cannot read {}: {}", path.string(), text.error().message);
    return {};
  }
  auto parsed = parse_offset_checkpoint(*text);
  if (!parsed) {
    log::get("storage").warn("ignoring {}: {}", path.string(), parsed.error());
    return {};
  }
  return std::move(*parsed);
}

std::string random_hex() {
  uuid u = uuid::random();
  return fmt::format("{:016x}{:016x}", u.hi, u.lo);
}
}  // namespace

result<std::map<topic_partition, int64_t>, std::string> parse_offset_checkpoint(std::string_view text) {
  std::map<topic_partition, int64_t> out;
  std::istringstream in{std::string(text)};
  int version = -1;
  int64_t count = -1;
  if (!(in >> version >> count) || version != checkpoint_version || count < 0)
    return failure{fmt::format("bad header (version {})", version)};
  for (int64_t i = 0; i < count; ++i) {
    std::string topic;
    int64_t part = -1, off = -1;
    if (!(in >> topic >> part >> off) || part < 0 || part > INT32_MAX || off < 0)
      return failure{fmt::format("bad entry {}", i)};
    out[topic_partition{topic, partition_id(int32_t(part))}] = off;
  }
  return out;
}

std::string format_offset_checkpoint(const std::map<topic_partition, int64_t>& entries) {
  std::string s = fmt::format("{}\n{}\n", checkpoint_version, entries.size());
  for (const auto& [tp, off] : entries) s += fmt::format("{} {} {}\n", tp.topic, tp.partition.value(), off);
  return s;
}

std::optional<topic_partition> parse_partition_dir_name(std::string_view name) {
  auto dash = name.rfind('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == name.size()) return std::nullopt;
  auto topic = name.substr(0, dash);
  auto part = name.substr(dash + 1);
  if (topic.size() > 249 || topic == "." || topic == ".." ||
      !std::all_of(topic.begin(), topic.end(), valid_topic_char)) {
    return std::nullopt;
  }
  if (part.size() > 10 || !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  int64_t p = 0;
  auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), p);
  if (ec != std::errc{} || ptr != part.data() + part.size() || p > INT32_MAX) return std::nullopt;
  return topic_partition{std::string(topic), partition_id(int32_t(p))};
}

std::string partition_dir_name(const topic_partition& tp) {
  return fmt::format("{}-{}", tp.topic, tp.partition.value());
}

std::string deleted_partition_dir_name(const topic_partition& tp, std::string_view unique) {
  // A legal topic name has up to 249 characters, so "<topic>-<partition>.<unique>-delete" can pass
  // NAME_MAX and the rename fail (the partition then outlives its topic and blocks a topic of the
  // same name). Kafka cuts the topic the same way (LocalLog.logDeleteDirName); only the "-delete"
  // suffix matters when the leftovers are found at open.
  const std::string suffix = fmt::format("-{}.{}-delete", tp.partition.value(), unique);
  const size_t topic_chars = std::min(tp.topic.size(), file_name_bytes_max - std::min(suffix.size(), file_name_bytes_max));
  return tp.topic.substr(0, topic_chars) + suffix;
}

result<std::unique_ptr<log_manager>, storage_error> log_manager::open(fs::path log_dir, clock& clk,
                                                                     size_t tail_cache_bytes,
                                                                     size_t unwritten_bytes_max) {
  auto& lg = log::get("storage");
  std::error_code ec;
  create_dirs(log_dir, ec);
  if (ec) return fail(storage_errc::io_error, "create {}: {}", log_dir.string(), ec.message());
  std::unique_ptr<log_manager> m(new log_manager(std::move(log_dir), clk));
  m->_cache = std::make_unique<tail_cache>(tail_cache_bytes);
  if (unwritten_bytes_max > 0) m->_writer = std::make_unique<disk_writer>(unwritten_bytes_max);
  {
    const fs::path lock_path = m->_dir / lock_file;
    m->_closed_all = true;  // until the lock is ours, destroying m must not touch the directory
    m->_lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (m->_lock_fd < 0)
      return fail(storage_errc::io_error, "open {}: {}", lock_path.string(), std::strerror(errno));
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (::fcntl(m->_lock_fd, F_SETLK, &fl) != 0)
      return fail(storage_errc::io_error,
                  "Failed to acquire lock on file .lock in {}. A Kafka instance in another process or thread is "
                  "using this directory.",
                  m->_dir.string());
    m->_closed_all = false;
  }
  m->_recovery_points = read_checkpoint(m->_dir / recovery_point_file);
  m->_log_starts = read_checkpoint(m->_dir / log_start_file);
  m->_cleaner_offsets = read_checkpoint(m->_dir / cleaner_offset_file);
  m->_high_watermarks = read_checkpoint(m->_dir / high_watermark_file);
  m->_clean_at_open = fs::exists(m->_dir / clean_shutdown_file, ec);
  if (m->_clean_at_open) {
    remove_path(m->_dir / clean_shutdown_file, ec);
    if (ec) return fail(storage_errc::io_error, "remove {}: {}", (m->_dir / clean_shutdown_file).string(), ec.message());
    auto s = sync_dir(m->_dir);
    if (!s) return failure{s.error()};
  }
  lg.info("log dir {}: {} shutdown", m->_dir.string(), m->_clean_at_open ? "clean" : "unclean");
  for (const auto& entry : fs::directory_iterator(m->_dir, ec)) {
    std::string name = entry.path().filename().string();
    if (!entry.is_directory()) continue;  // checkpoint files, meta.properties, locks
    if (name.size() > 7 && name.ends_with("-delete")) {
      lg.info("removing leftover deleted partition directory {}", name);
      std::error_code rm;
      remove_tree(entry.path(), rm);
      if (rm) lg.warn("could not remove {}: {}", entry.path().string(), rm.message());
      continue;
    }
    if (auto tp = parse_partition_dir_name(name)) {
      m->_discovered.push_back(std::move(*tp));
    } else {
      lg.warn("ignoring unrecognised directory {} in {}", name, m->_dir.string());
    }
  }
  if (ec) return fail(storage_errc::io_error, "list {}: {}", m->_dir.string(), ec.message());
  std::sort(m->_discovered.begin(), m->_discovered.end());
  lg.info("log dir {}: {} partition directories found", m->_dir.string(), m->_discovered.size());
  return m;
}

log_manager::~log_manager() {
  (void)close_all();
  if (_lock_fd >= 0) ::close(_lock_fd);  // releases the lock
}

std::vector<topic_partition> log_manager::discovered() const {
  std::lock_guard lock(_mutex);
  return _discovered;
}

result<partition_log*, storage_error> log_manager::open_partition(const topic_partition& tp,
                                                                  uuid topic_id, log_config cfg) {
  std::lock_guard lock(_mutex);
  if (auto it = _logs.find(tp); it != _logs.end()) {
    if (!topic_id.is_zero() && !it->second->topic_id().is_zero() &&
        it->second->topic_id() != topic_id) {
      return fail(storage_errc::corrupt, "{} is open with topic id {}, not {}", tp,
                  it->second->topic_id().to_base64(), topic_id.to_base64());
    }
    return it->second.get();
  }
  if (!parse_partition_dir_name(partition_dir_name(tp))) {
    return fail(storage_errc::invalid_argument, "invalid topic partition name '{}'", tp);
  }
  open_hints hints;
  hints.clean_shutdown = _clean_at_open;
  if (auto it = _recovery_points.find(tp); it != _recovery_points.end()) hints.recovery_point = it->second;
  else hints.clean_shutdown = false;  // a partition the checkpoint does not know is scanned
  if (auto it = _log_starts.find(tp); it != _log_starts.end()) hints.log_start_offset = it->second;
  if (auto it = _cleaner_offsets.find(tp); it != _cleaner_offsets.end()) hints.cleaner_offset = it->second;
  hints.cache = _cache.get();  // with a zero bound it holds nothing but still counts file reads
  hints.writer = _writer.get();
  hints.background = _deleter.get();
  auto pl = partition_log::open(_dir / partition_dir_name(tp), tp, topic_id, cfg, _clk, hints);
  if (!pl) return failure{pl.error()};
  partition_log* raw = pl->get();
  // A truncation below the recovery point this file holds rewrites the checkpoints (on the owner
  // thread, which truncates): else recovery after a power cut would trust, unscanned, what was
  // appended below the old value since.
  raw->set_recovery_point_lowered_listener([this, tp](offset rp) -> result<void, storage_error> {
    {
      std::lock_guard lock(_mutex);
      auto it = _recovery_points.find(tp);
      if (it == _recovery_points.end() || it->second <= rp.value()) return ok;
    }
    return checkpoint();
  });
  _logs.emplace(tp, std::move(*pl));
  if (!std::binary_search(_discovered.begin(), _discovered.end(), tp)) {
    _discovered.insert(std::upper_bound(_discovered.begin(), _discovered.end(), tp), tp);
  }
  return raw;
}

partition_log* log_manager::get(const topic_partition& tp) {
  std::lock_guard lock(_mutex);
  auto it = _logs.find(tp);
  return it == _logs.end() ? nullptr : it->second.get();
}

result<void, storage_error> log_manager::remove_partition(const topic_partition& tp) {
  std::lock_guard lock(_mutex);
  auto& lg = log::get("storage");
  if (auto it = _logs.find(tp); it != _logs.end()) {
    it->second->abandon();
    _logs.erase(it);
  }
  auto path = _dir / partition_dir_name(tp);
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return fail(storage_errc::not_found, "{}: no partition directory {}", tp, path.string());
  }
  auto doomed = _dir / deleted_partition_dir_name(tp, random_hex());
  rename_path(path, doomed, ec);
  if (ec) return fail(storage_errc::io_error, "rename {}: {}", path.string(), ec.message());
  auto s = sync_dir(_dir);
  if (!s) return s;
  _discovered.erase(std::remove(_discovered.begin(), _discovered.end(), tp), _discovered.end());
  _recovery_points.erase(tp);
  _log_starts.erase(tp);
  _cleaner_offsets.erase(tp);
  auto remove = [tp, doomed] {
    std::error_code rm;
    remove_tree(doomed, rm);
    // A "-delete" leftover is removed at the next open.
    if (rm) log::get("storage").warn("{}: could not remove {}: {}", tp, doomed.string(), rm.message());
  };
  if (!_deleter->submit(remove)) remove();
  lg.info("{}: deleted (its files are removed in the background)", tp);
  return ok;
}

void log_manager::wait_for_deletions() { _deleter->wait_idle(); }

result<void, storage_error> log_manager::flush_all() {
  std::lock_guard lock(_mutex);
  result<void, storage_error> first = ok;
  for (auto& [tp, pl] : _logs) {
    auto f = pl->flush();
    if (!f && first) first = f;
  }
  return first;
}

result<void, storage_error> log_manager::checkpoint() {
  std::lock_guard lock(_mutex);
  return write_checkpoint(collect_locked());
}

log_manager::checkpoint_contents log_manager::collect_checkpoint() {
  std::lock_guard lock(_mutex);
  return collect_locked();
}

log_manager::checkpoint_contents log_manager::collect_locked() {
  for (auto& [tp, pl] : _logs) {
    if (pl->closed()) continue;
    _recovery_points[tp] = pl->recovery_point().value();
    _log_starts[tp] = pl->log_start_offset().value();
    if (pl->cleaner_offset().value() > 0) _cleaner_offsets[tp] = pl->cleaner_offset().value();
  }
  checkpoint_contents out;
  out.seq = ++_checkpoint_seq;
  out.files.emplace_back(recovery_point_file, format_offset_checkpoint(_recovery_points));
  out.files.emplace_back(log_start_file, format_offset_checkpoint(_log_starts));
  // Only compacted partitions that were cleaned have entries.
  out.files.emplace_back(cleaner_offset_file, format_offset_checkpoint(_cleaner_offsets));
  return out;
}

result<void, storage_error> log_manager::write_checkpoint(const checkpoint_contents& c) {
  std::lock_guard lock(_write_mutex);
  for (const auto& [name, text] : c.files) {
    auto& written = _written[name];
    if (written > c.seq) continue;  // newer contents are there already
    if (auto r = write_file_atomic(_dir / name, text); !r) return r;
    written = c.seq;
  }
  return ok;
}

std::optional<int64_t> log_manager::checkpointed_high_watermark(const topic_partition& tp) const {
  std::lock_guard lock(_mutex);
  auto it = _high_watermarks.find(tp);
  if (it == _high_watermarks.end()) return std::nullopt;
  return it->second;
}

result<void, storage_error> log_manager::checkpoint_high_watermarks(std::map<topic_partition, int64_t> hws) {
  auto c = collect_high_watermarks(std::move(hws));
  return c ? write_checkpoint(*c) : ok;
}

std::optional<log_manager::checkpoint_contents> log_manager::collect_high_watermarks(
    std::map<topic_partition, int64_t> hws) {
  std::lock_guard lock(_mutex);
  if (hws == _high_watermarks) return std::nullopt;
  _high_watermarks = std::move(hws);
  checkpoint_contents out;
  out.seq = ++_checkpoint_seq;
  out.files.emplace_back(high_watermark_file, format_offset_checkpoint(_high_watermarks));
  return out;
}

result<void, storage_error> log_manager::close_all() {
  std::lock_guard lock(_mutex);
  if (_logs.empty() && _closed_all) return ok;
  result<void, storage_error> first = ok;
  for (auto& [tp, pl] : _logs) {
    auto f = pl->flush();
    if (!f && first) first = f;
  }
  auto cp = write_checkpoint(collect_locked());
  if (!cp && first) first = cp;
  for (auto& [tp, pl] : _logs) {
    auto c = pl->close();
    if (!c && first) first = c;
  }
  _logs.clear();
  _closed_all = true;
  // The marker says "everything above is complete"; only written when every step succeeded.
  if (first) {
    auto m = write_file_atomic(_dir / clean_shutdown_file, "");
    if (!m) return m;
  }
  return first;
}

}  // namespace gregor::storage
