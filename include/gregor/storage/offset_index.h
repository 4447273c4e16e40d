#pragma once
// offset_index: a segment's sparse offset index, Kafka's `.index` format. Each 8-byte entry is
// (relative offset u32 BE, file position u32 BE) and says "the batch whose LAST offset is
// base+relative starts at this position in the .log". One entry per index.interval.bytes of log.
// Owned by a segment; single-threaded like its owner. Entries are kept in memory (8 bytes each)
// and appended to the file; unlike Kafka the file is not preallocated or memory-mapped, so its
// size is always a whole number of entries.
// Invariant: relative offsets and positions are both strictly increasing.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "gregor/storage/file.h"

namespace gregor::storage {

class offset_index {
 public:
  static constexpr size_t entry_bytes = 8;
  struct entry {
    int64_t offset = 0;  // absolute
    uint32_t position = 0;
  };

  // Opens (creating if missing) and loads the file. Entries that break the invariant, point at or
  // past `log_size`, or a partial trailing entry, are dropped and the file truncated; `sane()`
  // then reports false so the owner can decide to rebuild.
  static result<offset_index, storage_error> open(const std::filesystem::path& path,
                                                  int64_t base_offset, size_t log_size,
                                                  size_t max_bytes);

  // The entry with the largest offset <= target, or {base_offset, 0} when there is none.
  entry lookup(int64_t target) const;
  std::optional<entry> last() const;
  size_t entry_count() const { return _entries.size(); }
  size_t size_bytes() const { return _entries.size() * entry_bytes; }
  // True when one more entry would exceed segment.index.bytes.
  bool is_full() const { return size_bytes() + entry_bytes > _max_bytes; }
  void set_max_bytes(size_t max_bytes) { _max_bytes = max_bytes; }
  bool sane() const { return _sane; }

  // Appends an entry; offsets/positions must grow (GREGOR_ASSERT: the segment computes them).
  result<void, storage_error> append(int64_t offset, uint32_t position);
  // Drops every entry (before a rebuild).
  result<void, storage_error> clear();
  result<void, storage_error> sync() { return _file.sync(); }
  int dup_for_sync() const { return _file.dup_for_sync(); }
  void close() { _file.close(); }
  result<void, storage_error> rename(const std::filesystem::path& to) { return _file.rename(to); }

 private:
  struct packed {
    uint32_t relative;
    uint32_t position;
  };
  file _file;
  int64_t _base = 0;
  size_t _max_bytes = 0;
  bool _sane = true;
  std::vector<packed> _entries;
};

}  // namespace gregor::storage
