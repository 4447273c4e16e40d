#include "gregor/storage/transaction_index.h"

#include <algorithm>

#include "endian.h"
#include "gregor/base/log.h"

namespace gregor::storage {

namespace {
void encode(const aborted_txn& e, uint8_t* p) {
  p[0] = uint8_t(uint16_t(transaction_index::entry_version) >> 8);
  p[1] = uint8_t(transaction_index::entry_version);
  detail::store_u64_be(p + 2, uint64_t(e.producer_id));
  detail::store_u64_be(p + 10, uint64_t(e.first_offset));
  detail::store_u64_be(p + 18, uint64_t(e.last_offset));
  detail::store_u64_be(p + 26, uint64_t(e.last_stable_offset));
}
}  // namespace

result<transaction_index, storage_error> transaction_index::open(const std::filesystem::path& path,
                                                                 int64_t next_offset) {
  transaction_index idx;
  idx._path = path;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return idx;
  auto f = file::open(path);
  if (!f) return failure{f.error()};
  idx._file = std::move(*f);
  auto read = idx._file.read_all();
  if (!read) return failure{read.error()};
  const std::vector<uint8_t>& buf = *read;
  for (size_t pos = 0; pos + entry_bytes <= buf.size(); pos += entry_bytes) {
    const uint8_t* p = buf.data() + pos;
    const int16_t version = int16_t((uint16_t(p[0]) << 8) | p[1]);
    aborted_txn e{int64_t(detail::load_u64_be(p + 2)), int64_t(detail::load_u64_be(p + 10)),
                  int64_t(detail::load_u64_be(p + 18)), int64_t(detail::load_u64_be(p + 26))};
    const bool grows = idx._entries.empty() || e.last_offset > idx._entries.back().last_offset;
    if (version != entry_version || !grows || e.last_offset >= next_offset || e.first_offset > e.last_offset)
      break;
    idx._entries.push_back(e);
  }
  const size_t kept = idx._entries.size() * entry_bytes;
  if (kept != buf.size()) {
    log::get("storage").warn("{}: dropping {} bytes of transaction index entries past the log or invalid",
                             path.string(), buf.size() - kept);
    auto t = idx._file.truncate(kept);
    if (!t) return failure{t.error()};
  }
  return idx;
}

result<void, storage_error> transaction_index::ensure_open() {
  if (_file.is_open()) return ok;
  std::error_code ec;
  const bool existed = std::filesystem::exists(_path, ec);
  auto f = file::open(_path);
  if (!f) return failure{f.error()};
  _file = std::move(*f);
  // A file renamed away and recreated starts from the entries still held.
  auto t = _file.truncate(_entries.size() * entry_bytes);
  if (!t || existed) return t;
  // The new file's name is made durable now (once per segment, at its first aborted
  // transaction): the segment's flush syncs only the file's contents, and recovery trusts the
  // `.txnindex` of every segment below the recovery point, so a power cut that took the name
  // would let read_committed consumers see that transaction's records.
  return sync_dir(_path.parent_path());
}

result<void, storage_error> transaction_index::append(const aborted_txn& e) {
  if (!_entries.empty() && e.last_offset <= _entries.back().last_offset)
    return fail(storage_errc::invalid_argument, "{}: aborted transaction at {} is not after the last one at {}",
                _path.string(), e.last_offset, _entries.back().last_offset);
  auto o = ensure_open();
  if (!o) return o;
  uint8_t buf[entry_bytes];
  encode(e, buf);
  auto w = _file.pwrite(_entries.size() * entry_bytes, buf);
  if (!w) return w;
  _entries.push_back(e);
  return ok;
}

result<void, storage_error> transaction_index::truncate_from(int64_t from) {
  size_t keep = _entries.size();
  while (keep > 0 && _entries[keep - 1].last_offset >= from) --keep;
  if (keep == _entries.size()) return ok;
  _entries.resize(keep);
  auto o = ensure_open();
  if (!o) return o;
  return _file.truncate(keep * entry_bytes);
}

result<void, storage_error> transaction_index::remove_markers(const std::vector<int64_t>& last_offsets) {
  const size_t before = _entries.size();
  std::erase_if(_entries, [&](const aborted_txn& e) {
    return std::find(last_offsets.begin(), last_offsets.end(), e.last_offset) != last_offsets.end();
  });
  if (_entries.size() == before) return ok;
  auto o = ensure_open();
  if (!o) return o;
  std::vector<uint8_t> bytes(_entries.size() * entry_bytes);
  for (size_t i = 0; i < _entries.size(); ++i) encode(_entries[i], bytes.data() + i * entry_bytes);
  auto t = _file.truncate(0);
  if (!t) return t;
  return _file.pwrite(0, bytes);
}

bool transaction_index::collect(int64_t fetch_offset, int64_t upper_bound, std::vector<aborted_txn>& out) const {
  for (const auto& e : _entries) {
    if (e.last_offset >= fetch_offset && e.first_offset < upper_bound) out.push_back(e);
    if (e.last_stable_offset >= upper_bound) return true;
  }
  return false;
}

result<void, storage_error> transaction_index::sync() {
  if (!_file.is_open()) return ok;
  return _file.sync();
}

}  // namespace gregor::storage
