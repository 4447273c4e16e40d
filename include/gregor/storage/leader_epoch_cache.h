#pragma once
// leader_epoch_cache: which leader epoch started at which offset in one partition's log, persisted
// as Kafka's `leader-epoch-checkpoint` in the partition directory:
//   0\n<count>\n<epoch> <start offset>\n...      (version 0; written atomically)
// Owned by a partition_log and called only from its thread. Invariants: entries are strictly
// increasing in both epoch and start offset; the file on disk always equals the entries after each
// mutating call returns successfully. Answers OffsetForLeaderEpoch ("end offset of epoch E") with
// Kafka's rules, which followers use to find where their log diverged from the leader's.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "gregor/base/types.h"
#include "gregor/storage/storage_error.h"

namespace gregor::storage {

struct epoch_entry {
  leader_epoch epoch;
  offset start_offset;
  auto operator<=>(const epoch_entry&) const = default;
};

// The answer to "end offset of epoch E": the largest epoch <= E the log knows and the first offset
// after it (the start of the next epoch, or the log end for the latest one). Both are the
// sentinels (no_leader_epoch, no_offset) when the log cannot answer (E is newer than any epoch it
// has, or the log has no epochs).
struct epoch_end_offset {
  leader_epoch epoch = no_leader_epoch;
  offset end_offset = no_offset;
  auto operator<=>(const epoch_end_offset&) const = default;
};

class leader_epoch_cache {
 public:
  static constexpr const char* file_name = "leader-epoch-checkpoint";

  // Loads `<dir>/leader-epoch-checkpoint`. A missing file is an empty cache; a malformed one
  // (bad version, count, lines, or entries out of order) is corrupt, so the caller can rebuild
  // the cache from the log's batches.
  static result<leader_epoch_cache, storage_error> load(const std::filesystem::path& dir);
  // An empty cache writing to `<dir>/leader-epoch-checkpoint` (nothing is written until a change).
  static leader_epoch_cache empty(const std::filesystem::path& dir);

  // Records that `epoch` starts at `start`. No-op when epoch < 0 or not newer than the latest
  // epoch (a batch of an older epoch must not reorder the cache). When an entry starts at or past
  // `start` (a stale tail), it is replaced. Persists when something changed.
  result<bool, storage_error> assign(leader_epoch epoch, offset start);
  // After truncating the log to end at `end` (exclusive): drops entries starting at or past it.
  result<void, storage_error> truncate_from_end(offset end);
  // After the log start moved to `start`: drops entries wholly below it and moves the first
  // remaining entry's start up to it (Kafka keeps the epoch of the batch that holds `start`).
  result<void, storage_error> truncate_from_start(offset start);
  // Empties the cache (the log was deleted or restarted at a new offset).
  result<void, storage_error> clear();
  // Replaces every entry (a rebuild from the log); persists.
  result<void, storage_error> reset(std::vector<epoch_entry> entries);

  // OffsetForLeaderEpoch: see epoch_end_offset. `log_end` answers for the latest epoch.
  epoch_end_offset end_offset_for(leader_epoch requested, offset log_end) const;
  // The latest epoch and where it started, or nullopt when empty.
  std::optional<epoch_entry> latest() const;
  const std::vector<epoch_entry>& entries() const { return _entries; }
  const std::filesystem::path& path() const { return _path; }

  // The file's text for these entries (also used by tests to write a file by hand).
  static std::string to_text(const std::vector<epoch_entry>& entries);
  // Parses the file's text; nullopt when malformed.
  static std::optional<std::vector<epoch_entry>> parse(std::string_view text);

 private:
  explicit leader_epoch_cache(std::filesystem::path path) : _path(std::move(path)) {}
  result<void, storage_error> persist() const;

  std::filesystem::path _path;
  std::vector<epoch_entry> _entries;
};

}  // namespace gregor::storage
