#pragma once
// leader_epoch_cache: which leader epoch started at which offset in one partition's log, persisted
// as Kafka's `leader-epoch-checkpoint` in the partition directory:
//   0\n<count>\n<epoch> <start offset>\n...      (version 0; written atomically)
// Owned by a partition_log and called only from its thread. Invariants: entries are strictly
// increasing in both epoch and start offset; the file on disk equals the entries after each
// mutating call returns successfully, except for two queued writes:
//  - truncate_from_start given a background thread (as Kafka does it, KAFKA-15046/16541): until
//    it runs the file may still hold entries below the start, which loading drops again;
//  - assign given the log's write queue: the disk writer writes the file ahead of the appended
//    data queued after it, so the file never misses an epoch that the log's files hold, and the
//    io thread does not wait for the file's fsyncs when a partition sees a new leader epoch.
// Writes never go backwards: each carries a version, and a queued write that finds a newer one
// already written does nothing. Answers OffsetForLeaderEpoch ("end offset of epoch E") with
// Kafka's rules, which followers use to find where their log diverged from the leader's.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gregor/base/types.h"
#include "gregor/storage/storage_error.h"

namespace gregor::storage {

class cleaner_thread;
class write_queue;

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
  // `start` (a stale tail), it is replaced. Persists when something changed: with `queue`, on the
  // disk writer ahead of the writes queued after it (a failed write of the file fails the queue),
  // else now.
  result<bool, storage_error> assign(leader_epoch epoch, offset start, write_queue* queue = nullptr);
  // After truncating the log to end at `end` (exclusive): drops entries starting at or past it.
  result<void, storage_error> truncate_from_end(offset end);
  // After the log start moved to `start`: drops entries wholly below it and moves the first
  // remaining entry's start up to it (Kafka keeps the epoch of the batch that holds `start`).
  // With `background`, the file is written there (retention runs on the io thread, which must
  // not wait for three fsyncs per partition); without, or when its queue is full, now.
  result<void, storage_error> truncate_from_start(offset start, cleaner_thread* background = nullptr);
  // The owning log is closed or deleted: writes still queued do nothing (the directory may be
  // gone, or already hold a new partition of the same name). Waits for one in progress.
  void retire();
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
  // What the threads writing the file share: writes are one at a time, newest version wins.
  struct file_writes {
    std::mutex mu;
    uint64_t written = 0;  // the version the file holds
    bool retired = false;  // retire(): nothing more is written
  };

  explicit leader_epoch_cache(std::filesystem::path path) : _path(std::move(path)) {}
  result<void, storage_error> persist(cleaner_thread* background = nullptr);
  // The write of the entries as they are now, as a new version, for another thread to run (the
  // background thread, the disk writer's queue): writes nothing once retired or outdated.
  std::function<result<void, storage_error>()> write_job();
  static result<void, storage_error> write_version(file_writes& w, const std::filesystem::path& path,
                                                   uint64_t version, const std::string& text);

  std::filesystem::path _path;
  std::vector<epoch_entry> _entries;
  uint64_t _version = 0;  // of _entries; the file holds _writes->written
  std::shared_ptr<file_writes> _writes = std::make_shared<file_writes>();
};

}  // namespace gregor::storage
