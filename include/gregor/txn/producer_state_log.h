#pragma once
// Producer state on disk: `<partition dir>/<20-digit offset>.snapshot` files (Kafka's naming; the
// body is producer_state's versioned, CRC-checked format) and the rebuild of a partition's state
// at start-up from the newest valid snapshot plus the batches after it. A snapshot named O holds
// the state of every batch below offset O. Written at segment roll (named after the new segment's
// base offset) and at clean shutdown (named after the log end offset).
// Called from the partition's thread; the partition_log must not be appended to meanwhile.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "gregor/base/result.h"
#include "gregor/protocol/record_batch.h"
#include "gregor/storage/partition_log.h"
#include "gregor/storage/storage_error.h"
#include "gregor/txn/producer_state.h"

namespace gregor::txn {

// Snapshots kept per partition after a write; older ones are deleted.
inline constexpr size_t snapshots_retained_max = 3;

std::filesystem::path snapshot_path(const std::filesystem::path& dir, offset at);
// Offsets of the `.snapshot` files in dir, oldest first (other files ignored).
std::vector<int64_t> list_snapshots(const std::filesystem::path& dir);
// Writes the state as the snapshot named `at` (atomically: temp file, fsync, rename), then deletes
// all but the newest snapshots_retained_max. `at` must be >= the state's end offset.
result<void, storage::storage_error> write_snapshot(const std::filesystem::path& dir,
                                                    producer_state& state, offset at);

// Deletes the snapshots named below `log_start` (Kafka's deleteSnapshotsBefore). Returns how many.
size_t delete_snapshots_before(const std::filesystem::path& dir, offset log_start);

// The log start moved (retention, DeleteRecords): trims `state` (producer_state::truncate_head)
// and deletes the snapshots below the new start. Returns the number of producers dropped.
size_t on_log_start_moved(const std::filesystem::path& dir, producer_state& state, offset log_start);

struct rebuild_stats {
  int64_t snapshot_offset = -1;  // the snapshot used, -1 when none
  int64_t batches_replayed = 0;
  int64_t producers = 0;
};
// Replaces `state` with the partition's: loads the newest snapshot at or below both the log end
// offset and the log's txn_index_complete_below() that decodes (corrupt ones and ones past the end
// are deleted, logged), then replays the batches from there to the log end: data batch headers,
// and the COMMIT/ABORT markers of control batches. The aborted-transaction index is rebuilt over
// the replayed range (its entries from the replay start are dropped, every ABORT that ends a
// transaction is appended again) and the log's txn_index_complete_below() raised to its end.
// Replayed batches and markers carry their stored max timestamps, as in Kafka.
result<rebuild_stats, storage::storage_error> rebuild(storage::partition_log& log,
                                                      producer_state& state);
// Brings `state` (which covers the log below its end offset, at or above the log start) up to the
// log end: replays the batches after it as rebuild() does, re-indexing the ABORTs from there.
// Returns the number of batches replayed.
result<int64_t, storage::storage_error> catch_up(storage::partition_log& log, producer_state& state);
// Applies one stored control batch (`batch`, whole, with header `h`) to `state`: a COMMIT/ABORT
// marker ends its producer's transaction (producer_state::record_marker), other control batches
// only move the end offset. The completed transaction, if any; the caller indexes an abort.
std::optional<completed_txn> replay_control_batch(producer_state& state, const protocol::batch_header& h,
                                                  std::span<const uint8_t> batch);

}  // namespace gregor::txn
