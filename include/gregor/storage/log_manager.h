#pragma once
// log_manager: every partition log under one log directory (`log.dirs` entry). Owns the
// partition_log objects it opens. Directory entries are `<topic>-<partition>` (split at the LAST
// '-'); `<topic>-<p>.<hex>-delete` entries are leftovers of deletions and are removed at open.
// Thread-safety: the map of partitions is guarded by a mutex, so shards may open/get/remove
// concurrently; each partition_log itself is single-threaded (its shard's).
//
// Checkpoints (Kafka's file names and text format "<version>\n<count>\n<topic> <partition>
// <offset>\n..." with version 0, written atomically: temp, fsync, rename, fsync dir):
//   recovery-point-offset-checkpoint  every offset below it was fsynced (crash recovery starts there)
//   log-start-offset-checkpoint       log start offsets moved by DeleteRecords/retention
//   cleaner-offset-checkpoint         compacted partitions: offsets below were cleaned (a restart
//                                     resumes the cleaner there instead of recleaning)
//   replication-offset-checkpoint     high watermarks, given by replication (a restarted replica
//                                     does not start from 0)
//   .kafka_cleanshutdown              written by close_all(); present at open = no scan needed.
// open() reads them and removes the marker, so a crash afterwards is seen as unclean.
// `.lock` (Kafka's): open() takes a POSIX write lock on it for the manager's lifetime and refuses a
// directory another process holds (another broker, or Kafka's own tools such as the metadata shell
// see the directory in use, as they do with Kafka's broker).
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <string>
#include <utility>
#include <vector>

#include "gregor/storage/cleaner_thread.h"
#include "gregor/storage/partition_log.h"

namespace gregor::storage {

// Parses "<topic>-<partition>" (split at the last '-'); nullopt if it does not look like one.
std::optional<topic_partition> parse_partition_dir_name(std::string_view name);
// Kafka's offset checkpoint text (recovery-point-offset-checkpoint and its siblings): "0\n<count>\n"
// then "<topic> <partition> <offset>" lines. An error says what is malformed.
result<std::map<topic_partition, int64_t>, std::string> parse_offset_checkpoint(std::string_view text);
std::string format_offset_checkpoint(const std::map<topic_partition, int64_t>& entries);
std::string partition_dir_name(const topic_partition& tp);
// The name a removed partition's directory is renamed to before its files are deleted in the
// background: "<topic>-<partition>.<unique>-delete", the topic cut to keep it within NAME_MAX.
inline constexpr size_t file_name_bytes_max = 255;
std::string deleted_partition_dir_name(const topic_partition& tp, std::string_view unique);

class log_manager {
 public:
  // tail_cache_bytes: the bound of the logs' tail cache (tail_cache.h, log.tail.cache.max.bytes);
  // 0 = none, every read goes to the files. unwritten_bytes_max: with > 0, a disk writer thread
  // (disk_writer.h) writes the logs' appends, holding at most that many unwritten bytes
  // (log.async.writes.max.bytes); 0 = appends write the files before they return.
  static result<std::unique_ptr<log_manager>, storage_error> open(std::filesystem::path log_dir,
                                                                  clock& clk,
                                                                  size_t tail_cache_bytes = 0,
                                                                  size_t unwritten_bytes_max = 0);
  ~log_manager();

  // Partition directories found at open (to reopen after restart), sorted.
  std::vector<topic_partition> discovered() const;
  // Opens (creating when missing) the partition's log; returns the open one if already open
  // (a different non-zero topic id → corrupt).
  result<partition_log*, storage_error> open_partition(const topic_partition& tp, uuid topic_id,
                                                       log_config cfg);
  partition_log* get(const topic_partition& tp);  // nullptr if not open
  // Closes the partition (if open, without flushing it), renames its directory to
  // "<topic>-<p>.<hex>-delete" and removes that on a background thread (unlinking gigabytes takes
  // long and must not stall the io thread; Kafka deletes asynchronously too). A crash leaves the
  // "-delete" directory to the next open. not_found when neither open nor on disk.
  result<void, storage_error> remove_partition(const topic_partition& tp);
  // Blocks until every removed partition's files are gone (tests, shutdown tooling).
  void wait_for_deletions();
  result<void, storage_error> flush_all();
  // replication-offset-checkpoint (Kafka's name and text format): each replica's high watermark.
  // Replication owns the values; storage keeps the file. The one read at open, and a rewrite of
  // the whole file with `hws` (skipped when nothing changed).
  std::optional<int64_t> checkpointed_high_watermark(const topic_partition& tp) const;
  result<void, storage_error> checkpoint_high_watermarks(std::map<topic_partition, int64_t> hws);
  // Writes the checkpoint files from the open logs (entries of unopened partitions are kept).
  result<void, storage_error> checkpoint();

  // The same in two steps, so the fsyncs can run off the io thread: collect on the logs' owner
  // thread (it reads the open logs), write from any thread. Writes are serialised, and a file is
  // never replaced by contents collected before the ones it holds (a late background write
  // cannot move a checkpoint back).
  struct checkpoint_contents {
    std::vector<std::pair<std::string, std::string>> files;  // file name in the log dir, text
    uint64_t seq = 0;                                         // collection order
  };
  checkpoint_contents collect_checkpoint();
  // nullopt when `hws` is what was collected last time.
  std::optional<checkpoint_contents> collect_high_watermarks(std::map<topic_partition, int64_t> hws);
  result<void, storage_error> write_checkpoint(const checkpoint_contents& c);
  // Closes every log, writes the checkpoints and the clean-shutdown marker.
  result<void, storage_error> close_all();
  // True when the directory's clean-shutdown marker was present at open.
  bool opened_after_clean_shutdown() const { return _clean_at_open; }
  const std::filesystem::path& dir() const { return _dir; }
  // The recently appended bytes every open log keeps in memory (counters readable from any thread).
  const tail_cache& cache() const { return *_cache; }
  // The directory's disk writer; nullptr when appends write inline.
  disk_writer* writer() const { return _writer.get(); }

 private:
  log_manager(std::filesystem::path dir, clock& clk) : _dir(std::move(dir)), _clk(clk) {}

  std::filesystem::path _dir;
  clock& _clk;
  // Declared before the logs: their segments' regions go first.
  std::unique_ptr<tail_cache> _cache;
  // Declared before the logs too: their queues' writes finish before it stops.
  std::unique_ptr<disk_writer> _writer;
  mutable std::mutex _mutex;
  std::vector<topic_partition> _discovered;
  std::map<topic_partition, std::unique_ptr<partition_log>> _logs;
  bool _clean_at_open = false;
  bool _closed_all = false;
  int _lock_fd = -1;  // <dir>/.lock, write-locked (fcntl) while this manager lives
  // Removes deleted partitions' directories. Declared last: destroyed first, it drops what is
  // still queued (left to the next open) and waits for the directory being removed.
  std::unique_ptr<cleaner_thread> _deleter = std::make_unique<cleaner_thread>(size_t(1) << 20);
  std::map<topic_partition, int64_t> _recovery_points;
  std::map<topic_partition, int64_t> _log_starts;
  std::map<topic_partition, int64_t> _cleaner_offsets;
  std::map<topic_partition, int64_t> _high_watermarks;  // replication-offset-checkpoint
  checkpoint_contents collect_locked();
  uint64_t _checkpoint_seq = 0;               // under _mutex
  std::mutex _write_mutex;                    // taken after _mutex, never before
  std::map<std::string, uint64_t> _written;  // file name -> seq of the contents it holds
};

}  // namespace gregor::storage
