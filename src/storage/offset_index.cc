#include "gregor/storage/offset_index.h"

#include <algorithm>

#include "endian.h"
#include "gregor/base/log.h"

namespace gregor::storage {

result<offset_index, storage_error> offset_index::open(const std::filesystem::path& path,
                                                       int64_t base_offset, size_t log_size,
                                                       size_t max_bytes) {
  auto f = file::open(path);
  if (!f) return failure{f.error()};
  offset_index idx;
  idx._file = std::move(*f);
  idx._base = base_offset;
  idx._max_bytes = max_bytes;
  auto read = idx._file.read_all();
  if (!read) return failure{read.error()};
  const std::vector<uint8_t>& buf = *read;
  size_t whole = buf.size() / entry_bytes;
  if (whole * entry_bytes != buf.size()) idx._sane = false;
  idx._entries.reserve(whole);
  for (size_t i = 0; i < whole; ++i) {
    const uint8_t* p = buf.data() + i * entry_bytes;
    packed e{detail::load_u32_be(p), detail::load_u32_be(p + 4)};
    bool grows = idx._entries.empty() ||
                 (e.relative > idx._entries.back().relative &&
                  e.position > idx._entries.back().position);
    if (!grows || e.position >= log_size) {
      idx._sane = false;
      break;
    }
    idx._entries.push_back(e);
  }
  if (idx.size_bytes() != buf.size()) {
    log::get("storage").warn("{}: dropping {} bytes of invalid offset index entries",
                             path.string(), buf.size() - idx.size_bytes());
    auto t = idx._file.truncate(idx.size_bytes());
    if (!t) return failure{t.error()};
  }
  return idx;
}

offset_index::entry offset_index::lookup(int64_t target) const {
  if (target < _base || _entries.empty()) return {_base, 0};
  int64_t rel = target - _base;
  if (rel > int64_t(UINT32_MAX)) rel = UINT32_MAX;
  // First entry with relative > rel, then step back.
  auto it = std::upper_bound(_entries.begin(), _entries.end(), uint32_t(rel),
                             [](uint32_t r, const packed& e) { return r < e.relative; });
  if (it == _entries.begin()) return {_base, 0};
  --it;
  return {_base + int64_t(it->relative), it->position};
}

std::optional<offset_index::entry> offset_index::last() const {
  if (_entries.empty()) return std::nullopt;
  return entry{_base + int64_t(_entries.back().relative), _entries.back().position};
}

result<void, storage_error> offset_index::append(int64_t offset, uint32_t position) {
  GREGOR_ASSERT(offset >= _base);
  GREGOR_ASSERT(offset - _base <= int64_t(UINT32_MAX));
  packed e{uint32_t(offset - _base), position};
  GREGOR_ASSERT(_entries.empty() || e.relative > _entries.back().relative);
  GREGOR_ASSERT(_entries.empty() || e.position > _entries.back().position);
  uint8_t buf[entry_bytes];
  detail::store_u32_be(buf, e.relative);
  detail::store_u32_be(buf + 4, e.position);
  auto w = _file.pwrite(size_bytes(), buf);
  if (!w) return w;
  _entries.push_back(e);
  return ok;
}

result<void, storage_error> offset_index::clear() {
  _entries.clear();
  _sane = true;
  return _file.truncate(0);
}

}  // namespace gregor::storage
