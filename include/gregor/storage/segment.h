#pragma once
// segment: one `<20-digit base offset>.log` file of whole v2 batches back to back, with its sparse
// `.index` and `.timeindex`. Owned by a partition_log and called only from its thread.
// Invariants: batches are whole and in offset order; next_offset() is one past the last offset of
// the last batch (base_offset() when empty); max_timestamp() is the largest batch max timestamp
// (no_timestamp when none), first reached by the batch whose last offset is
// offset_of_max_timestamp().
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gregor/base/byte_buffer.h"
#include "gregor/protocol/record_batch.h"
#include "gregor/storage/disk_writer.h"
#include "gregor/storage/file.h"
#include "gregor/storage/offset_index.h"
#include "gregor/storage/tail_cache.h"
#include "gregor/storage/time_index.h"
#include "gregor/storage/transaction_index.h"

namespace gregor::storage {
namespace detail {
class readahead_job;
class segment_sink;
}

// "00000000000000000042" for 42.
std::string segment_file_stem(int64_t base_offset);

// A device read that a Fetch waits for before it reads (segment::prepare_read): once it is done,
// the read takes its bytes from memory instead of blocking the broker's thread on the device.
// Holds the read's buffer while kept.
class device_read {
 public:
  explicit device_read(std::shared_ptr<detail::readahead_job> job) : _job(std::move(job)) {}
  // Calls fn once the bytes are in memory: at once, on this thread, when they already are; else
  // on the reading thread, where fn must only hand the news on (post to an executor).
  void on_done(std::function<void()> fn) const;
  // Whether the bytes are in memory now.
  bool done() const;

 private:
  std::shared_ptr<detail::readahead_job> _job;
};

// One batch found by scanning a segment file.
struct batch_location {
  uint64_t position = 0;
  protocol::batch_header header;
};

class segment {
 public:
  struct limits {
    int32_t index_interval_bytes = 4096;
    size_t index_bytes_max = 10485760;
    // Read and append through O_DIRECT (file::enable_direct); falls back to buffered I/O where the
    // file system refuses it. Appends then write whole blocks: the last partial block is kept in
    // memory and rewritten with the next append, and the file is zero-padded to a block boundary
    // until the segment is sealed or closed (recovery truncates the padding after a crash).
    bool direct_io = false;
    // With direct_io, appends smaller than this go through the page cache instead: a device round
    // trip (~70 us) would cost a small produce more than the page-cache copy does. Reads take the
    // page cache whenever the whole range is there (file::pread), so mixing stays coherent.
    size_t direct_append_min_bytes = 64 << 10;
    // Where an active segment keeps copies of its appends for reads near the end (tail_cache.h);
    // nullptr: none. Must outlive the segment.
    tail_cache* cache = nullptr;
    // The partition log's disk-writer queue (disk_writer.h): appends are queued and written by
    // the writer thread. nullptr: appends write the file before they return.
    std::shared_ptr<write_queue> queue;
  };

  // Creates a new empty segment (files must not exist yet, or exist empty).
  static result<std::unique_ptr<segment>, storage_error> create(const std::filesystem::path& dir,
                                                                int64_t base_offset, limits lim);
  // Opens an existing segment. An active segment (`active` = true) is recovered: scanned with
  // CRC checks from its last index entry, and a torn or corrupt tail is truncated (logged). A
  // closed segment trusts its indexes when they pass sanity checks and rebuilds them otherwise.
  // `now_ms` seeds the roll clock of a non-empty active segment without timestamps.
  // `full_recovery` (after a crash, for segments past the recovery point): ignore the indexes,
  // scan the whole file with CRC checks, rebuild both indexes and truncate at the first bad batch.
  static result<std::unique_ptr<segment>, storage_error> open(const std::filesystem::path& dir,
                                                              int64_t base_offset, limits lim,
                                                              bool active, int64_t now_ms,
                                                              bool full_recovery = false);

  ~segment();
  segment(const segment&) = delete;
  segment& operator=(const segment&) = delete;

  int64_t base_offset() const { return _base; }
  int64_t next_offset() const { return _next; }
  size_t size_bytes() const { return _size; }
  bool empty() const { return _size == 0; }
  int64_t max_timestamp() const { return _max_ts; }
  int64_t offset_of_max_timestamp() const { return _offset_of_max_ts; }
  // Wall-clock time the segment got its first batch (segment.ms rolls count from it); -1 if empty.
  int64_t first_batch_ms() const { return _first_batch_ms; }
  bool index_full() const { return _offset_index.is_full() || _time_index.is_full(); }
  // Whether reads and appends bypass the page cache (direct_io asked and supported).
  bool direct_io() const { return _log.direct(); }
  // Waits until the disk writer has written every queued append of this segment.
  void settle() const;
  // After settle(): the error that left bytes of this segment unwritten (a failed write), if any.
  std::optional<storage_error> unwritten_failure() const;
  void set_limits(limits lim);
  // Bytes removed from the tail by recovery at open (0 when clean, and when all it cut was the
  // zero padding of direct appends).
  size_t truncated_bytes_at_open() const { return _truncated_at_open; }
  const offset_index& index() const { return _offset_index; }
  const time_index& timeindex() const { return _time_index; }
  // The aborted transactions whose ABORT marker lies in this segment (`.txnindex`, created on the
  // first append; entries past the segment's end are dropped at open).
  const transaction_index& txn_index() const { return _txn_index; }
  result<void, storage_error> append_aborted_txn(const aborted_txn& e) { return _txn_index.append(e); }
  result<void, storage_error> truncate_aborted_txns_from(int64_t from) { return _txn_index.truncate_from(from); }
  result<void, storage_error> remove_aborted_txns(const std::vector<int64_t>& markers) {
    return _txn_index.remove_markers(markers);
  }

  // Appends whole batches (offsets already assigned; headers parsed from `bytes`, in order).
  result<void, storage_error> append(std::span<const uint8_t> bytes,
                                     const std::vector<protocol::batch_header>& headers,
                                     int64_t now_ms);

  // The first batch whose last offset >= target, found via the offset index, or nullopt.
  result<std::optional<batch_location>, storage_error> find_batch(int64_t target) const;
  // The first batch (at or after `from`'s index position) whose max timestamp >= ts, or nullopt.
  result<std::optional<batch_location>, storage_error> find_batch_by_timestamp(int64_t ts) const;
  // Reads [position, position + len) into out (appending); short at end of file.
  result<size_t, storage_error> read(uint64_t position, size_t len, std::vector<uint8_t>& out) const;
  result<size_t, storage_error> read(uint64_t position, size_t len, byte_buffer& out) const;
  // read() into `out`, except that when one buffer in memory holds the whole range (a finished
  // background read, one tail-cache chunk) it is returned in `shared` as a view, not copied, and
  // `out` is left alone. `shared` is empty when the bytes went to `out`.
  result<size_t, storage_error> read_or_share(uint64_t position, size_t len, byte_buffer& out,
                                              shared_bytes& shared) const;
  // With direct I/O: starts reading [position, position + len) in the background (readahead.h),
  // for a read() that starts at `position` next. Bytes past size_bytes() are never read ahead.
  void read_ahead(uint64_t position, size_t len) const;
  // For a read of [position, position + len) about to happen: when part of it would come from
  // the device (not the tail cache, the write queue or the page cache), starts reading that part
  // in the background and returns it to wait for; the read then takes the bytes from memory.
  // find_batch() also walks a finished read's batch headers instead of scanning the file.
  // When the readahead budget (log.readahead.max.bytes) has no room, nothing is prepared and the
  // read waits on the device itself (storage::readahead_refused_reads counts these); with
  // `refused`, sets it then.
  std::optional<device_read> prepare_read(uint64_t position, size_t len, bool* refused = nullptr) const;
  // Where a search for `target` starts: the offset index's entry at or below it.
  uint64_t index_position(int64_t target) const;

  // Called when the segment stops being active: records the final max timestamp in the time index
  // and fsyncs everything.
  result<void, storage_error> seal();
  // seal() without the fsync: a roll must not stall the broker's thread on writeback. The log
  // follows with sync_in_background(); its flush() still syncs every segment above the recovery
  // point itself, so the recovery point never depends on the background sync.
  result<void, storage_error> seal_without_sync();
  // fdatasyncs the three files on a detached thread through duplicated descriptors (safe if the
  // segment is deleted meanwhile). Falls back to a synchronous sync if no thread can be started.
  void sync_in_background() const;
  // The roll's seal without waiting for queued writes: the time index gets its final entry now,
  // and the disk writer cuts the padding after the segment's last queued write, then syncs it in
  // the background. Without a queue: seal_without_sync() + sync_in_background().
  result<void, storage_error> seal_in_queue();
  result<void, storage_error> flush();
  void close();
  // Removes the three files (retention/delete); the segment is unusable afterwards.
  result<void, storage_error> remove_files();
  // Renames the files (and the `.txnindex`, unless keep_txn_index: a compaction swap keeps it for
  // the cleaned segment) to `<name>.deleted` and closes them (removal comes later); returns the
  // new paths. The segment is unusable afterwards.
  result<std::vector<std::filesystem::path>, storage_error> mark_deleted(bool keep_txn_index = false);
  // Last modification time of the .log file in ms (retention of segments without timestamps).
  int64_t last_modified_ms() const;

  // Duplicates of the .log, .index, .timeindex and .txnindex descriptors, for an fdatasync on
  // another thread (the caller closes them): the writer's queued syncs, the background sync
  // after a roll.
  std::vector<int> dup_for_sync() const;

 private:
  segment() = default;
  result<void, storage_error> recover_active(int64_t now_ms);
  result<void, storage_error> load_closed();
  // Scans from `position` (CRC-checked when verify), rebuilding index entries for every batch
  // after `position` and truncating the file at the first bad batch.
  result<void, storage_error> scan_from(uint64_t position, bool index_first, bool verify);
  // Whether [_size, file_size) is the zero padding a direct append leaves (less than a block).
  bool tail_is_direct_io_padding(size_t file_size) const;
  void note_batch(const protocol::batch_header& h);
  result<void, storage_error> index_batch(const protocol::batch_header& h, uint64_t position,
                                          bool skip_if_indexed);
  // Direct-I/O set-up after open/recovery: the O_DIRECT descriptor and, for an active segment,
  // the bytes of the last partial block.
  result<void, storage_error> start_direct(bool active);
  // find_batch's walk over batches from `pos` on, some of them still queued for the disk writer.
  result<std::optional<batch_location>, storage_error> find_unwritten_batch(uint64_t pos, int64_t target) const;
  // With `share`: a range that one buffer holds whole (one tail-cache chunk, a readahead that may
  // be shared) goes to *share as a view and `out` is left alone; any other range is copied.
  template <class Buffer>
  result<size_t, storage_error> read_into(uint64_t position, size_t len, Buffer& out,
                                          shared_bytes* share = nullptr) const;
  template <class Buffer>
  result<size_t, storage_error> read_file_into(uint64_t position, size_t len, Buffer& out,
                                               shared_bytes* share = nullptr) const;
  // Cuts the zero padding of direct appends (at seal and close).
  result<void, storage_error> trim_padding();

  std::filesystem::path _dir;
  int64_t _base = 0;
  int64_t _next = 0;
  size_t _size = 0;
  limits _limits;
  file _log;
  offset_index _offset_index;
  time_index _time_index;
  transaction_index _txn_index;
  int64_t _max_ts = -1;
  int64_t _offset_of_max_ts = -1;
  int64_t _first_batch_ms = -1;
  size_t _bytes_since_index_entry = 0;
  size_t _truncated_at_open = 0;
  bool _cut_padding = false;  // recovery cut direct-I/O padding (not counted as truncation)
  // The write side (the file and the direct-I/O tail block), shared with queued writes.
  std::shared_ptr<detail::segment_sink> _sink;
  std::shared_ptr<write_queue> _queue;  // limits::queue
  // Background reads of this segment's file (read_ahead, prepare_read), oldest first; a read that
  // starts inside one takes it (at most ahead_jobs_max are kept).
  mutable std::vector<std::shared_ptr<detail::readahead_job>> _ahead;
  static constexpr size_t ahead_jobs_max = 4;
  // The bytes the file holds: size_bytes() less what the disk writer has not written yet.
  uint64_t written_size() const;
  void keep_ahead(std::shared_ptr<detail::readahead_job> job) const;
  // Of the background reads that hold `position`, the one that reaches furthest (or end()).
  std::vector<std::shared_ptr<detail::readahead_job>>::iterator ahead_holding(uint64_t position) const;
  // The cached suffix of the file (segments created or opened active with limits::cache set);
  // kept after the roll, dropped at close.
  std::shared_ptr<tail_cache::region> _cached;  // the next read's bytes, maybe
};

}  // namespace gregor::storage
