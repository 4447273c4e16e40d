#pragma once
// time_index: a segment's sparse time index, Kafka's `.timeindex` format. Each 12-byte entry is
// (timestamp i64 BE, relative offset u32 BE): "records up to and including the batch whose last
// offset is base+relative have timestamps <= timestamp, and that batch is the first to reach it".
// An entry is appended only when the segment's max timestamp grew since the last entry, at the
// same moments as offset index entries, plus once when the segment is rolled (so the last entry of
// a closed segment is its max timestamp). Owned by a segment; single-threaded. Not preallocated.
// Invariant: timestamps strictly increase, offsets never decrease.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "gregor/storage/file.h"

namespace gregor::storage {

class time_index {
 public:
  static constexpr size_t entry_bytes = 12;
  struct entry {
    int64_t timestamp = 0;
    int64_t offset = 0;  // absolute
  };

  // Opens (creating if missing) and loads; bad or partial trailing entries are dropped and the
  // file truncated, and `sane()` turns false. Entries beyond the log's end are dropped by the
  // segment (truncate_above) once it knows where the log ends.
  static result<time_index, storage_error> open(const std::filesystem::path& path,
                                                int64_t base_offset, size_t max_bytes);

  // The entry with the largest timestamp < ts, or nullopt.
  std::optional<entry> lookup_before(int64_t ts) const;
  // The first entry whose timestamp equals ts, or nullopt.
  std::optional<entry> find_exact(int64_t ts) const;
  std::optional<entry> last() const;
  size_t entry_count() const { return _entries.size(); }
  size_t size_bytes() const { return _entries.size() * entry_bytes; }
  bool is_full() const { return size_bytes() + entry_bytes > _max_bytes; }
  void set_max_bytes(size_t max_bytes) { _max_bytes = max_bytes; }
  bool sane() const { return _sane; }

  // Appends (ts, offset) if ts is greater than the last entry's timestamp; otherwise does nothing.
  // When skip_full_check is false and the index is full, does nothing either.
  result<void, storage_error> maybe_append(int64_t ts, int64_t offset, bool skip_full_check = false);
  // Drops entries whose offset is > last_offset (recovery truncated the log below them).
  result<void, storage_error> truncate_above(int64_t last_offset);
  result<void, storage_error> clear();
  result<void, storage_error> sync() { return _file.sync(); }
  int dup_for_sync() const { return _file.dup_for_sync(); }
  void close() { _file.close(); }
  result<void, storage_error> rename(const std::filesystem::path& to) { return _file.rename(to); }

 private:
  file _file;
  int64_t _base = 0;
  size_t _max_bytes = 0;
  bool _sane = true;
  std::vector<entry> _entries;
};

}  // namespace gregor::storage
