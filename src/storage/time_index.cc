#include "gregor/storage/time_index.h"

#include <algorithm>

#include "endian.h"
#include "gregor/base/log.h"

namespace gregor::storage {

result<time_index, storage_error> time_index::open(const std::filesystem::path& path,
                                                   int64_t base_offset, size_t max_bytes) {
  auto f = file::open(path);
  if (!f) return failure{f.error()};
  time_index idx;
  idx._file = std::move(*f);
  idx._base = base_offset;
  idx._max_bytes = max_bytes;
  auto read = idx._file.read_all();
  if (!read) return failure{read.error()};
  const std::vector<uint8_t>& buf = *read;
  size_t whole = buf.size() / entry_bytes;
  if (whole * entry_bytes != buf.size()) idx._sane = false;
  for (size_t i = 0; i < whole; ++i) {
    const uint8_t* p = buf.data() + i * entry_bytes;
    entry e{int64_t(detail::load_u64_be(p)), base_offset + int64_t(detail::load_u32_be(p + 8))};
    bool grows = idx._entries.empty() || (e.timestamp > idx._entries.back().timestamp &&
                                          e.offset >= idx._entries.back().offset);
    if (!grows || e.timestamp < 0) {
      idx._sane = false;
      break;
    }
    idx._entries.push_back(e);
  }
  if (idx.size_bytes() != buf.size()) {
    log::get("storage").warn("{}: dropping {} bytes of invalid time index entries",
                             path.string(), buf.size() - idx.size_bytes());
    auto t = idx._file.truncate(idx.size_bytes());
    if (!t) return failure{t.error()};
  }
  return idx;
}

std::optional<time_index::entry> time_index::lookup_before(int64_t ts) const {
  auto it = std::lower_bound(_entries.begin(), _entries.end(), ts,
                             [](const entry& e, int64_t t) { return e.timestamp < t; });
  if (it == _entries.begin()) return std::nullopt;
  return *(it - 1);
}

std::optional<time_index::entry> time_index::find_exact(int64_t ts) const {
  auto it = std::lower_bound(_entries.begin(), _entries.end(), ts,
                             [](const entry& e, int64_t t) { return e.timestamp < t; });
  if (it == _entries.end() || it->timestamp != ts) return std::nullopt;
  return *it;
}

std::optional<time_index::entry> time_index::last() const {
  if (_entries.empty()) return std::nullopt;
  return _entries.back();
}

result<void, storage_error> time_index::maybe_append(int64_t ts, int64_t offset,
                                                     bool skip_full_check) {
  if (ts < 0) return ok;
  if (!_entries.empty() && ts <= _entries.back().timestamp) return ok;
  if (!skip_full_check && is_full()) return ok;
  GREGOR_ASSERT(offset >= _base);
  GREGOR_ASSERT(offset - _base <= int64_t(UINT32_MAX));
  GREGOR_ASSERT(_entries.empty() || offset >= _entries.back().offset);
  uint8_t buf[entry_bytes];
  detail::store_u64_be(buf, uint64_t(ts));
  detail::store_u32_be(buf + 8, uint32_t(offset - _base));
  auto w = _file.pwrite(size_bytes(), buf);
  if (!w) return w;
  _entries.push_back({ts, offset});
  return ok;
}

result<void, storage_error> time_index::truncate_above(int64_t last_offset) {
  size_t keep = _entries.size();
  while (keep > 0 && _entries[keep - 1].offset > last_offset) --keep;
  if (keep == _entries.size()) return ok;
  _entries.resize(keep);
  return _file.truncate(size_bytes());
}

result<void, storage_error> time_index::clear() {
  _entries.clear();
  _sane = true;
  return _file.truncate(0);
}

}  // namespace gregor::storage
