#include "gregor/storage/leader_epoch_cache.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "gregor/base/log.h"
#include "gregor/storage/cleaner_thread.h"
#include "gregor/storage/disk_writer.h"
#include "gregor/storage/file.h"

namespace gregor::storage {

namespace {
namespace fs = std::filesystem;
constexpr size_t file_bytes_max = 16 << 20;
constexpr size_t entries_max = 1 << 20;

template <class Int>
bool parse_int(std::string_view s, Int& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

std::string_view next_line(std::string_view& rest) {
  auto nl = rest.find('\n');
  std::string_view line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}
}  // namespace

std::string leader_epoch_cache::to_text(const std::vector<epoch_entry>& entries) {
  std::string out = fmt::format("0\n{}\n", entries.size());
  for (const auto& e : entries) out += fmt::format("{} {}\n", e.epoch.value(), e.start_offset.value());
  return out;
}

std::optional<std::vector<epoch_entry>> leader_epoch_cache::parse(std::string_view text) {
  std::string_view rest = text;
  int version = -1;
  size_t count = 0;
  if (!parse_int(next_line(rest), version) || version != 0) return std::nullopt;
  if (!parse_int(next_line(rest), count) || count > entries_max) return std::nullopt;
  std::vector<epoch_entry> out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    std::string_view line = next_line(rest);
    auto sp = line.find(' ');
    if (sp == std::string_view::npos) return std::nullopt;
    int32_t epoch = 0;
    int64_t start = 0;
    if (!parse_int(line.substr(0, sp), epoch) || !parse_int(line.substr(sp + 1), start)) {
      return std::nullopt;
    }
    if (epoch < 0 || start < 0) return std::nullopt;
    if (!out.empty() && (epoch <= out.back().epoch.value() || start < out.back().start_offset.value())) {
      return std::nullopt;
    }
    out.push_back({leader_epoch(epoch), offset(start)});
  }
  while (!rest.empty()) {
    if (!next_line(rest).empty()) return std::nullopt;  // more lines than the count says
  }
  return out;
}

result<leader_epoch_cache, storage_error> leader_epoch_cache::load(const fs::path& dir) {
  leader_epoch_cache c(dir / file_name);
  auto text = read_small_file(c._path, file_bytes_max);
  if (!text) {
    if (text.error().code == storage_errc::not_found) return c;
    return failure{text.error()};
  }
  auto entries = parse(*text);
  if (!entries) return fail(storage_errc::corrupt, "{}: malformed leader epoch checkpoint", c._path.string());
  c._entries = std::move(*entries);
  return c;
}

leader_epoch_cache leader_epoch_cache::empty(const fs::path& dir) {
  return leader_epoch_cache(dir / file_name);
}

result<void, storage_error> leader_epoch_cache::write_version(file_writes& w, const fs::path& path,
                                                             uint64_t version, const std::string& text) {
  std::lock_guard lk(w.mu);
  if (w.retired || version <= w.written) return ok;  // the log is gone, or a newer version is on disk
  auto r = write_file_atomic(path, text);
  if (r) w.written = version;
  return r;
}

void leader_epoch_cache::retire() {
  std::lock_guard lk(_writes->mu);
  _writes->retired = true;
}

std::function<result<void, storage_error>()> leader_epoch_cache::write_job() {
  return [w = _writes, path = _path, version = ++_version, text = to_text(_entries)] {
    return write_version(*w, path, version, text);
  };
}

result<void, storage_error> leader_epoch_cache::persist(cleaner_thread* background) {
  auto write = write_job();
  if (background) {
    auto job = [write, dir = _path.parent_path()] {
      auto r = write();
      // The partition may have been deleted meanwhile (its directory renamed): nothing to write.
      if (!r && fs::exists(dir)) log::get("storage").warn("{}", r.error().message);
    };
    if (background->submit(std::move(job))) return ok;
  }
  return write();
}

result<bool, storage_error> leader_epoch_cache::assign(leader_epoch epoch, offset start, write_queue* queue) {
  if (epoch.value() < 0 || start.value() < 0) return false;
  if (!_entries.empty() && epoch <= _entries.back().epoch) return false;
  while (!_entries.empty() && _entries.back().start_offset >= start) _entries.pop_back();
  _entries.push_back({epoch, start});
  if (queue != nullptr) {
    // Ahead of the data appended from `start` on, which the caller queues next. A retired cache
    // (the log closed or deleted meanwhile) writes nothing and is no failure. The write moves no
    // log data, so it leaves the written end alone (-1).
    queue->push_action(write_job(), -1);
    return true;
  }
  auto p = persist();
  if (!p) return failure{p.error()};
  return true;
}

result<void, storage_error> leader_epoch_cache::truncate_from_end(offset end) {
  const size_t before = _entries.size();
  while (!_entries.empty() && _entries.back().start_offset >= end) _entries.pop_back();
  if (_entries.size() == before) return ok;
  return persist();
}

result<void, storage_error> leader_epoch_cache::truncate_from_start(offset start, cleaner_thread* background) {
  // Keep the last entry starting at or below `start` (it covers `start`) and everything after.
  size_t keep_from = 0;
  for (size_t i = 0; i < _entries.size(); ++i) {
    if (_entries[i].start_offset <= start) keep_from = i;
  }
  if (_entries.empty() || _entries[keep_from].start_offset > start) return ok;  // all above start
  if (keep_from == 0 && _entries[0].start_offset == start) return ok;
  _entries.erase(_entries.begin(), _entries.begin() + std::ptrdiff_t(keep_from));
  _entries[0].start_offset = start;
  return persist(background);
}

result<void, storage_error> leader_epoch_cache::clear() {
  if (_entries.empty()) return ok;
  _entries.clear();
  return persist();
}

result<void, storage_error> leader_epoch_cache::reset(std::vector<epoch_entry> entries) {
  _entries = std::move(entries);
  return persist();
}

epoch_end_offset leader_epoch_cache::end_offset_for(leader_epoch requested, offset log_end) const {
  if (requested.value() < 0 || _entries.empty()) return {};
  if (requested == _entries.back().epoch) return {requested, log_end};
  // The first entry with a higher epoch ends the requested one.
  auto higher = std::upper_bound(_entries.begin(), _entries.end(), requested,
                                 [](leader_epoch e, const epoch_entry& x) { return e < x.epoch; });
  if (higher == _entries.end()) return {};  // newer than anything this log has seen
  if (higher == _entries.begin()) return {requested, higher->start_offset};
  return {std::prev(higher)->epoch, higher->start_offset};
}

std::optional<epoch_entry> leader_epoch_cache::latest() const {
  if (_entries.empty()) return std::nullopt;
  return _entries.back();
}

}  // namespace gregor::storage
