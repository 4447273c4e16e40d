#pragma once
// partition_log: one partition's log, Kafka's on-disk layout: `<dir>/<20-digit base>.log` +
// `.index` + `.timeindex` per segment, and `partition.metadata` ("version: 0\ntopic_id: <id>").
// Owns its segments (ordered by base offset, the last one active) and their files.
// Single-threaded: the owner (the server's partition shard) calls everything from one thread.
// Invariants: segments are contiguous in offset order; log_end_offset() is the next offset to be
// assigned; log_start_offset() is the first segment's base offset.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "gregor/base/clock.h"
#include "gregor/base/types.h"
#include "gregor/storage/log_config.h"
#include "gregor/storage/segment.h"
#include "gregor/storage/storage_error.h"

namespace gregor::storage {

struct append_result {
  offset base_offset;  // first offset assigned
  offset last_offset;  // last offset assigned
  int64_t max_timestamp = no_timestamp;  // across the appended batches
  offset log_start_offset;
};

struct read_result {
  std::vector<uint8_t> data;  // whole batches, back to back (may be empty)
  offset log_start_offset;
  offset log_end_offset;
};

struct timestamp_lookup {
  offset found;
  int64_t timestamp = no_timestamp;
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
                                                                    clock& clk);
  ~partition_log();
  partition_log(const partition_log&) = delete;
  partition_log& operator=(const partition_log&) = delete;

  // Appends complete, already-validated batches back to back. Assigns consecutive offsets by
  // rewriting each batch's base offset in place, stamps partition_leader_epoch, writes them with
  // one write, updates indexes. Rolls first when the active segment is non-empty and the append
  // would exceed segment_bytes, segment_ms elapsed since its first batch, or an index is full.
  // Malformed input → invalid_argument (nothing written).
  result<append_result, storage_error> append(std::span<uint8_t> batches, leader_epoch epoch);

  // Whole batches starting with the batch that contains `start`, stopping before a batch with
  // base offset >= upper_bound and before exceeding max_bytes, except that the first batch is
  // returned whole when min_one (KIP-74). start outside [log_start, log_end] → offset_out_of_range;
  // start == log_end → empty.
  result<read_result, storage_error> read(offset start, size_t max_bytes, offset upper_bound,
                                          bool min_one = true) const;

  // First offset whose record timestamp >= ts, or nullopt.
  std::optional<timestamp_lookup> offset_for_timestamp(int64_t ts) const;
  // Offset and timestamp of the (earliest) record with the largest timestamp; nullopt when the log
  // is empty or no record carries a timestamp.
  std::optional<timestamp_lookup> max_timestamp() const;

  offset log_start_offset() const;
  offset log_end_offset() const;
  size_t size_bytes() const;
  size_t segment_count() const;
  const topic_partition& tp() const { return _tp; }
  uuid topic_id() const { return _topic_id; }
  const std::filesystem::path& dir() const { return _dir; }
  const log_config& config() const { return _cfg; }
  void set_config(log_config cfg);
  result<void, storage_error> flush();  // fsync active segment + indexes
  result<void, storage_error> close();  // flush; the log is unusable afterwards
  bool closed() const { return _closed; }
  // Base offsets of all segments, oldest first (tests, admin tools).
  std::vector<int64_t> segment_base_offsets() const;

 private:
  partition_log(std::filesystem::path dir, topic_partition tp, uuid topic_id, log_config cfg,
                clock& clk);
  result<void, storage_error> load();
  result<void, storage_error> load_metadata();
  result<void, storage_error> roll();
  bool should_roll(size_t append_bytes, int64_t last_offset) const;
  segment::limits limits() const;
  size_t segment_for(int64_t off) const;  // index into _segments; requires non-empty

  std::filesystem::path _dir;
  topic_partition _tp;
  uuid _topic_id;
  log_config _cfg;
  clock& _clk;
  std::vector<std::unique_ptr<segment>> _segments;
  int64_t _unflushed_records = 0;
  int64_t _last_flush_ms = 0;
  bool _closed = false;
};

}  // namespace gregor::storage
