#pragma once
// partition_log: one partition's log, Kafka's on-disk layout: `<dir>/<20-digit base>.log` +
// `.index` + `.timeindex` per segment, and `partition.metadata` ("version: 0\ntopic_id: <id>").
// Owns its segments (ordered by base offset, the last one active) and their files.
// Single-threaded: the owner (the server's partition shard) calls everything from one thread.
// Invariants: segments are contiguous in offset order; log_end_offset() is the next offset to be
// assigned; first segment base <= log_start_offset() <= log_end_offset(); every offset below
// recovery_point() is on stable storage.
// Recovery at open: with a clean-shutdown marker only the indexes' sanity is checked; after a
// crash every segment from the one holding the recovery point on is scanned batch by batch
// (length, CRC, offsets), indexes rebuilt, and the log truncated at the first bad batch (later
// segments are then dropped; also after a closed segment ending short of the next one's base, a
// tail lost in a power cut, unless the log is compacted). Retention renames whole segments to `.deleted` and removes the
// files after file.delete.delay.ms.
// Leader epochs: `leader-epoch-checkpoint` (leader_epoch_cache) records where each partition
// leader epoch started; it is updated (and persisted before the data is written) by appends whose
// epoch is newer than the latest, cut by truncate_to and by log start moves, and rebuilt from the
// batch headers when missing or malformed. Invariant: every entry starts below log_end_offset().
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "gregor/base/byte_buffer.h"
#include "gregor/base/clock.h"
#include "gregor/base/types.h"
#include "gregor/storage/leader_epoch_cache.h"
#include "gregor/storage/log_config.h"
#include "gregor/storage/segment.h"
#include "gregor/storage/tail_cache.h"
#include "gregor/storage/storage_error.h"
#include "gregor/storage/transaction_index.h"

namespace gregor::storage {

struct append_result {
  offset base_offset;  // first offset assigned
  offset last_offset;  // last offset assigned
  int64_t max_timestamp = no_timestamp;  // across the appended batches
  offset log_start_offset;
};

struct read_result {
  byte_buffer data;  // whole batches, back to back (may be empty)
  offset log_start_offset;
  offset log_end_offset;
  // A read asked to share: when one buffer in memory held every batch, they are here as a view
  // (segment::read_or_share) and `data` is empty.
  shared_bytes shared;
  // The batches, wherever they are.
  std::span<const uint8_t> bytes() const {
    return shared.owner ? shared.bytes : std::span<const uint8_t>(data.data(), data.size());
  }
};

struct timestamp_lookup {
  offset found;
  int64_t timestamp = no_timestamp;
};

// What the log directory's checkpoints say about a partition at open (log_manager fills it in).
// Defaults mean "nothing known": every segment is scanned with CRC checks.
class cleaner_thread;

struct open_hints {
  bool clean_shutdown = false;              // the directory's clean-shutdown marker was present
  std::optional<int64_t> recovery_point;    // every offset below it had been fsynced
  std::optional<int64_t> log_start_offset;  // from log-start-offset-checkpoint
  std::optional<int64_t> cleaner_offset;    // from cleaner-offset-checkpoint (compaction progress)
  // Where the active segment keeps copies of its appends for reads near the log end (the owner
  // thread's tail_cache; must outlive the log). nullptr: every read goes to the files.
  tail_cache* cache = nullptr;
  // The log directory's disk writer (disk_writer.h; must outlive the log): appends are queued and
  // written by its thread. nullptr: appends write the files before they return.
  disk_writer* writer = nullptr;
  // Where retention's slow file-system work goes (must outlive the log): removing deleted segments'
  // files once file.delete.delay.ms passed, and the directory fsync after segments were deleted.
  // nullptr: done on the calling thread.
  cleaner_thread* background = nullptr;
};

// What one compaction pass did.
struct compaction_result {
  size_t segments_cleaned = 0;
  size_t records_removed = 0;
  size_t bytes_before = 0;
  size_t bytes_after = 0;
};

// A compaction pass planned on the log's owner thread (plan_compaction) so that the expensive
// part (run_compaction: reading segments, building the key map, writing `.cleaned` files) can run
// on the cleaner thread without touching the partition_log; the swap (apply_compaction) is back
// on the owner thread.
struct compaction_plan {
  struct source {
    int64_t base_offset = 0;
    int64_t next_offset = 0;
    uint64_t size_bytes = 0;  // the swap is skipped if the segment changed meanwhile
  };
  std::filesystem::path dir;
  topic_partition tp;
  std::vector<source> segments;  // the cleanable (closed, older than the lag) ones, oldest first
  size_t first_dirty = 0;        // index of the first segment above the cleaner offset
  int64_t now_ms = 0;
  log_config cfg;
  // log.cleaner.dedupe.buffer.size: the key map stops growing at this many bytes (key bytes + 24
  // per entry, as Kafka's 16-byte hash + offset); the pass then cleans only up to where it got.
  size_t key_map_bytes_max = SIZE_MAX;
  // The aborted transactions overlapping the cleanable segments (from their `.txnindex`es and
  // later ones), by first offset: their data batches go, their markers follow Kafka's rules.
  std::vector<aborted_txn> aborted;
};
struct compaction_output {
  struct cleaned {
    int64_t base_offset = 0;
    uint64_t source_size_bytes = 0;
    uint64_t size_bytes = 0;  // of the .cleaned file
    size_t records_removed = 0;
    // ABORT markers the pass removed: their `.txnindex` entries go with the swap.
    std::vector<int64_t> removed_abort_markers;
  };
  std::vector<cleaned> segments;  // `.cleaned` files written and fsynced, to swap in
  int64_t cleaned_up_to = 0;      // the key map covered every offset below it
};

// What one retention pass did.
struct retention_result {
  size_t segments_deleted = 0;
  size_t bytes_deleted = 0;
};

class partition_log {
 public:
  // Opens the directory, creating it (and an empty first segment) if missing. Loads every segment;
  // the active segment is scanned batch by batch from its last index entry to find the log end
  // offset, and a torn/garbage tail (bad length, bad CRC, partial batch) is truncated at the last
  // valid batch with a logged warning. topic_id is written to partition.metadata when new and
  // checked when present (mismatch → storage_errc::corrupt). A zero topic_id adopts the stored one.
  static result<std::unique_ptr<partition_log>, storage_error> open(std::filesystem::path dir,
                                                                    topic_partition tp,
                                                                    uuid topic_id, log_config cfg,
                                                                    clock& clk,
                                                                    open_hints hints = {});
  ~partition_log();
  partition_log(const partition_log&) = delete;
  partition_log& operator=(const partition_log&) = delete;

  // Appends complete, already-validated batches back to back. Assigns consecutive offsets by
  // rewriting each batch's base offset in place, stamps partition_leader_epoch, writes them with
  // one write, updates indexes. Rolls first when the active segment is non-empty and the append
  // would exceed segment_bytes, segment_ms elapsed since its first batch, or an index is full.
  // Malformed input → invalid_argument (nothing written).
  result<append_result, storage_error> append(std::span<uint8_t> batches, leader_epoch epoch);

  // Appends batches that already carry their offsets and leader epochs (a Raft or data follower
  // copying its leader's log): nothing is rewritten. The batches must be whole v2 batches with a
  // valid CRC, the first starting at log_end_offset() and each following its predecessor;
  // otherwise invalid_argument and nothing is written. Each batch whose partition leader epoch is
  // newer than the latest known one starts that epoch in the leader epoch cache.
  result<append_result, storage_error> append_with_offsets(std::span<const uint8_t> batches);

  // Removes every batch holding an offset >= `end` (a whole batch goes when `end` falls inside
  // it, so the new log end may be below `end`): segments wholly past it are deleted, the one
  // holding it is cut and reopened as the active segment (indexes rebuilt), the leader epoch
  // cache, recovery point and cleaner offset are cut too. `end` >= log_end_offset() does nothing;
  // `end` below the log start empties the log and restarts it at `end`. Returns the new log end.
  // Used after a divergence from the leader. Calls the truncate listener.
  result<offset, storage_error> truncate_to(offset end);
  // Deletes every segment and restarts the log, empty, at `start` (log start = log end = start;
  // leader epochs cleared). For a follower whose log is wholly behind the leader's log start, or
  // that installs a snapshot. Calls the truncate listener.
  result<void, storage_error> truncate_fully_and_start_at(offset start);

  // OffsetForLeaderEpoch: the largest epoch <= `epoch` in this log and the offset where it ended
  // (Kafka's rules, see leader_epoch_cache::end_offset_for).
  epoch_end_offset end_offset_for_epoch(leader_epoch epoch) const;
  // The newest partition leader epoch written to the log, or no_leader_epoch.
  leader_epoch latest_epoch() const;
  const leader_epoch_cache& epochs() const { return *_epochs; }

  // Whole batches starting with the batch that contains `start`, stopping before a batch with
  // base offset >= upper_bound and before exceeding max_bytes, except that the first batch is
  // returned whole when min_one (KIP-74). start outside [log_start, log_end] → offset_out_of_range;
  // start == log_end → empty. With `share`, batches that one buffer in memory holds (a finished
  // readahead, a tail-cache chunk) come back as a view in read_result::shared, not copied.
  result<read_result, storage_error> read(offset start, size_t max_bytes, offset upper_bound,
                                          bool min_one = true, bool share = false) const;

  // For a read(start, max_bytes, ...) about to happen: the device reads it would wait for, started
  // in the background (segment::prepare_read). A caller that waits for them before it reads
  // finds the bytes in memory; none when everything comes from memory (tail cache, write queue,
  // page cache), the offset is out of range, or the readahead budget is spent. With `refused`,
  // sets it when the budget was spent for a part the read needs from the device (a read now
  // would wait on the device on the caller's thread).
  std::vector<device_read> prepare_read(offset start, size_t max_bytes, bool* refused = nullptr) const;

  // First offset whose record timestamp >= ts, or nullopt.
  std::optional<timestamp_lookup> offset_for_timestamp(int64_t ts) const;
  // Offset and timestamp of the (earliest) record with the largest timestamp; nullopt when the log
  // is empty or no record carries a timestamp.
  std::optional<timestamp_lookup> max_timestamp() const;

  offset log_start_offset() const;
  offset log_end_offset() const;
  // Every record below it is in the files (disk_writer.h): log_end_offset() without a disk writer,
  // and once the writer caught up. What acks=1 waits for, and the most a leader's high watermark
  // and its answers to followers may cover.
  offset written_end_offset() const;
  // A failed write or sync by the disk writer (sticky: the log refuses appends until it is reopened).
  std::optional<storage_error> write_failure() const;
  // With a disk writer, a flush that is due (flush.messages, flush.ms) does not run on the owner
  // thread: the append queues a sync behind its writes and returns, and the writer fdatasyncs the
  // files (the active segment's and those of sealed segments above the recovery point) once they
  // are written; many appends queued meanwhile share the next one (a group commit).
  // sync_requested_end(): the end offset the last queued sync covers; synced_end_offset(): every
  // offset below it is on stable storage (the recovery point follows it). An append whose own
  // flush is pending (sync_pending) is acknowledged once synced_end_offset() covers it, as Kafka
  // answers after its synchronous flush. Without a writer, flushes run inline as before.
  offset sync_requested_end() const { return offset(_sync_requested_end); }
  offset synced_end_offset() const;
  bool sync_pending(offset last) const {
    return _sync_requested_end > last.value() && synced_end_offset() <= last;
  }
  // Blocks until the disk writer has written every queued append of this log.
  void settle_writes() const;
  size_t size_bytes() const;
  size_t segment_count() const;
  const topic_partition& tp() const { return _tp; }
  uuid topic_id() const { return _topic_id; }
  const std::filesystem::path& dir() const { return _dir; }
  const log_config& config() const { return _cfg; }
  void set_config(log_config cfg);
  result<void, storage_error> flush();  // fsync active segment + indexes
  // Flushes when flush.ms has passed since the last flush and records are unflushed (timer).
  result<void, storage_error> maybe_flush(int64_t now_ms);
  int64_t unflushed_records() const { return _unflushed_records; }
  // Every offset below it is on stable storage (advanced by flush() and the writer's syncs).
  offset recovery_point() const;

  // DeleteRecords: moves the log start offset up to `new_start` (never down) and deletes the
  // segments wholly below it. new_start > log_end_offset → offset_out_of_range.
  result<offset, storage_error> advance_log_start_offset(offset new_start, int64_t now_ms);
  // Retention pass: deletes the oldest segments while retention.ms (by the segment's largest
  // timestamp) or retention.bytes is exceeded (only with delete_enabled), and segments wholly
  // below the log start offset. An expired active segment is rolled first. Also removes
  // `.deleted` files older than file.delete.delay.ms.
  result<retention_result, storage_error> enforce_retention(int64_t now_ms);
  // Compaction pass (cleanup.policy contains "compact"; cleaner.cc): over the closed segments
  // older than min.compaction.lag.ms, keeps only the newest record of each key (a record in the
  // active segment does not supersede), drops tombstones whose batch is older than
  // delete.retention.ms, keeps offsets (gaps, never renumbering), re-encodes changed batches with
  // their own codec and leaves unchanged batches byte for byte. A cleaned segment still ends where
  // it did (an empty batch with no producer replaces a removed last batch), so recovery can take a
  // gap at a segment boundary for a tail lost in a power cut; the sealed segments the key map read
  // are fsynced before the first swap. Runs when the dirty ratio reaches
  // min.cleanable.dirty.ratio or max.compaction.lag.ms passed (`force` skips both checks).
  // Each segment is swapped in crash-safely: `.cleaned` written and fsynced, renamed `.swap`, the
  // old files renamed `.deleted`, `.swap` renamed into place (a `.swap` found at open completes it).
  // Synchronous: plan_compaction + run_compaction + apply_compaction.
  // Transactions (Kafka's rules): nothing at or past `first_unstable` (the partition's last stable
  // offset, which the caller knows) is cleanable; records of aborted transactions go; a COMMIT or
  // ABORT marker whose transaction has no data left in the cleaned range is stamped with a delete
  // horizon (now + delete.retention.ms, Kafka's KIP-534 batch attribute) and removed by the first
  // pass after it (an ABORT's `.txnindex` entry with it), unless it is the newest batch of a
  // producer that wrote within producer.id.expiration.ms.
  result<compaction_result, storage_error> compact(int64_t now_ms, bool force = false,
                                                   size_t key_map_bytes_max = SIZE_MAX,
                                                   int64_t first_unstable = INT64_MAX);
  // The cleaner-thread split of compact(): nullopt when nothing is due. run_compaction uses only
  // the plan and the files (callable from any thread while the owner keeps appending, reading,
  // even deleting segments); apply_compaction swaps in every cleaned segment that is still the
  // same closed segment it was planned from (others' `.cleaned` files are removed).
  std::optional<compaction_plan> plan_compaction(int64_t now_ms, bool force,
                                                 size_t key_map_bytes_max = SIZE_MAX,
                                                 int64_t first_unstable = INT64_MAX) const;
  static result<compaction_output, storage_error> run_compaction(const compaction_plan& plan);
  result<compaction_result, storage_error> apply_compaction(const compaction_output& out, int64_t now_ms);
  // Offsets below it have been compacted (kept in cleaner-offset-checkpoint).
  offset cleaner_offset() const { return offset(_cleaned_up_to); }
  // Removes `.deleted` files whose delay passed (all of them when force).
  void remove_deleted_files(int64_t now_ms, bool force = false);
  result<void, storage_error> close();  // flush; the log is unusable afterwards
  // Closes the files without flushing them: the log is about to be deleted (Kafka does not flush
  // a deleted log either). The log is unusable afterwards.
  void abandon();
  bool closed() const { return _closed; }
  // Called after every roll with the new active segment's base offset, before anything is appended
  // to it (the idempotence module snapshots producer state there). Empty = none.
  void set_roll_listener(std::function<void(offset new_segment_base)> fn) {
    _on_roll = std::move(fn);
  }
  // Called after truncate_to / truncate_fully_and_start_at with the new log end offset, so the
  // owner of state derived from the log (producer state snapshots past the end) can drop it.
  void set_truncate_listener(std::function<void(offset new_log_end)> fn) {
    _on_truncate = std::move(fn);
  }
  // Called by truncate_to / truncate_fully_and_start_at, before they return, when the recovery
  // point went down: the log_manager rewrites its checkpoint, or a power cut after later appends
  // below the old checkpointed value would have recovery trust them unscanned (Kafka's
  // LogManager.truncateTo does the same). Its failure is the truncation's.
  void set_recovery_point_lowered_listener(std::function<result<void, storage_error>(offset)> fn) {
    _on_recovery_point_lowered = std::move(fn);
  }
  // ---- aborted-transaction index (`.txnindex` per segment, transaction_index.h) ----
  // Records an aborted transaction in the segment holding its ABORT marker (e.last_offset, which
  // must be in the log and after the last entry of that segment).
  result<void, storage_error> add_aborted_txn(const aborted_txn& e);
  // Drops every entry whose marker is at or after `from` (a producer state rebuild replays them).
  result<void, storage_error> remove_aborted_txns_from(offset from);
  // Kafka's collectAbortedTransactions: the aborted transactions overlapping
  // [fetch_offset, upper_bound) (last offset >= fetch_offset, first offset < upper_bound), from the
  // segment holding fetch_offset on, stopping at the first entry whose last stable offset reaches
  // upper_bound.
  std::vector<aborted_txn> collect_aborted_txns(offset fetch_offset, offset upper_bound) const;
  // Every ABORT marker below this offset has its index entry. At open: the log end after a clean
  // shutdown, else the base of the first segment recovery scanned (its entries may be stale or
  // missing); lowered by truncation. The owner of producer state replays from at most here when it
  // rebuilds (re-adding entries) and raises it once its state follows every append.
  offset txn_index_complete_below() const { return offset(_txn_index_complete_below); }
  void set_txn_index_complete_below(offset o) {
    _txn_index_complete_below = std::min(o.value(), log_end_offset().value());
  }

  // Base offsets of all segments, oldest first (tests, admin tools).
  std::vector<int64_t> segment_base_offsets() const;

 private:
  partition_log(std::filesystem::path dir, topic_partition tp, uuid topic_id, log_config cfg,
                clock& clk);
  result<void, storage_error> load(const open_hints& hints);
  // Renames the oldest segment's files to `.deleted` and drops it (never the last one).
  result<size_t, storage_error> delete_oldest_segment(int64_t now_ms);
  result<void, storage_error> load_metadata();
  // Loads leader-epoch-checkpoint, rebuilding it from the batch headers when missing (with data
  // in the log) or malformed, then cuts it to [log start, log end).
  result<void, storage_error> load_epochs();
  // Writes batches whose offsets are final (both append paths), rolling first when due.
  result<void, storage_error> write_batches(std::span<const uint8_t> batches,
                                            const std::vector<protocol::batch_header>& headers,
                                            int64_t first, int64_t last);
  // Closes and removes the files of the segments from index `from` on.
  void drop_segments_from(size_t from);
  result<void, storage_error> roll();
  bool should_roll(size_t append_bytes, int64_t last_offset) const;
  segment::limits limits() const;
  size_t segment_for(int64_t off) const;  // index into _segments; requires non-empty
  // Queues a sync of what is appended so far behind the writes (a disk writer is set); false
  // when the descriptors could not be duplicated (the caller flushes inline instead).
  bool request_sync();
  // Folds the writer's syncs into _recovery_point (the queue settled, before a truncation).
  void absorb_syncs();

  std::filesystem::path _dir;
  topic_partition _tp;
  uuid _topic_id;
  log_config _cfg;
  tail_cache* _cache = nullptr;
  cleaner_thread* _background = nullptr;  // open_hints::background
  // fsyncs the directory after segments were deleted: on the background thread when there is one
  // (Kafka does not wait for it either; a crash before it leaves a deleted segment that the log
  // start offset checkpoint or the next retention pass removes again). While one is pending,
  // flush() and the writer's syncs sync the directory first themselves: a power cut could
  // otherwise bring back deleted segments that were never synced in front of flushed ones, and
  // recovery cuts the log at the first segment that ends short.
  result<void, storage_error> sync_dir_after_delete();
  std::shared_ptr<write_queue> _queue;  // from open_hints::writer; nullptr: appends write inline
  clock& _clk;
  std::vector<std::unique_ptr<segment>> _segments;
  int64_t _unflushed_records = 0;
  int64_t _last_flush_ms = 0;
  int64_t _log_start = 0;
  int64_t _cleaned_up_to = 0;  // compaction: offsets below were cleaned (checkpointed)
  int64_t _recovery_point = 0;
  // The writer's syncs (request_sync): shared with the queued actions, which may run after a
  // truncation replaced the segments (their descriptors are duplicates).
  struct sync_state {
    std::atomic<int64_t> synced_end{0};
    std::mutex mutex;
    std::optional<storage_error> failure;  // guarded by mutex; sticky
    std::atomic<bool> failed{false};       // set with failure (read without the mutex)
    // Directory fsyncs after deletions: requested (numbered) and the highest one done.
    std::atomic<uint64_t> dir_syncs_requested{0};
    std::atomic<uint64_t> dir_synced{0};
  };
  // Syncs `dir` when a requested directory fsync has not run yet (any thread).
  static result<void, storage_error> sync_dir_if_pending(sync_state& state, const std::filesystem::path& dir);
  std::shared_ptr<sync_state> _sync = std::make_shared<sync_state>();
  int64_t _sync_requested_end = 0;
  int64_t _txn_index_complete_below = INT64_MAX;  // lowered at open (recovery), by truncation
  struct pending_delete {
    std::vector<std::filesystem::path> files;
    int64_t since_ms = 0;
  };
  std::vector<pending_delete> _pending_deletes;
  std::function<void(offset)> _on_roll;
  std::function<void(offset)> _on_truncate;
  std::function<result<void, storage_error>(offset)> _on_recovery_point_lowered;
  std::optional<leader_epoch_cache> _epochs;  // set by open()
  bool _closed = false;
  // Where the last read() stopped: the batch holding `offset` starts at `position` of `seg`. A
  // consumer's next fetch starts there, so read() skips find_batch (an index lookup and a header
  // read, a device round trip with direct I/O) when the batch it finds there holds the offset.
  struct read_hint {
    const segment* seg = nullptr;
    int64_t offset = -1;
    uint64_t position = 0;
  };
  mutable read_hint _read_hint;
};

}  // namespace gregor::storage
