#pragma once
// metadata_log: the cluster metadata partition on disk, in KRaft's layout:
//   <metadata.log.dir or first log dir>/__cluster_metadata-0/
//     00000000000000000000.log (+ .index, .timeindex)   v2 batches (metadata_batch.h)
//     leader-epoch-checkpoint                            epochs of the Raft leaders
//     partition.metadata                                 Kafka's fixed metadata topic id
//     quorum-state                                       QuorumStateData JSON (metadata_batch.h)
//     <20-digit end offset>-<10-digit epoch>.checkpoint  snapshots
// Owns the directory's files. Synchronous and single-threaded: the Raft shell calls it on its disk
// thread (never the io thread); metadata_store calls it on its own strand.
// Invariants: the log holds whole batches with contiguous offsets; every snapshot file present
// with a valid name is complete (written as `.checkpoint.part`, fsynced, renamed); the latest
// snapshot's end offset is at or above the log start (the log may start below it).
#include <cstdint>
#include <filesystem>
#include <string_view>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "gregor/base/clock.h"
#include "gregor/base/result.h"
#include "gregor/base/types.h"
#include "gregor/controller/controller_error.h"
#include "gregor/controller/metadata_batch.h"
#include "gregor/storage/log_config.h"
#include "gregor/storage/partition_log.h"

namespace gregor::controller {

inline constexpr const char* metadata_dir_name = "__cluster_metadata-0";
inline constexpr const char* quorum_state_file_name = "quorum-state";
// Kafka's fixed topic id of __cluster_metadata (Uuid.METADATA_TOPIC_ID: 0, 1).
inline constexpr uuid metadata_topic_id{0, 1};
inline constexpr std::string_view metadata_topic_name = "__cluster_metadata";

// What open() found on disk.
struct recovered_metadata_log {
  std::optional<quorum_state_file> quorum;  // nullopt: no quorum-state file yet
  std::optional<snapshot_id> snapshot;      // the latest valid snapshot
  std::vector<uint8_t> snapshot_bytes;      // its file's bytes (what FetchSnapshot serves)
  std::optional<decoded_snapshot> snapshot_contents;
  std::vector<metadata_batch> batches;      // the log's batches from the snapshot's end on
  offset log_start_offset{0};
  offset log_end_offset{0};
};

class metadata_log {
 public:
  // Opens (creating) `dir`: reads quorum-state (malformed → error), removes `.checkpoint.part`
  // leftovers, picks the latest snapshot that decodes (others are logged and left), opens the
  // segments (a torn or corrupt tail is truncated at the last valid batch), restarts an empty
  // log at the snapshot's end when the log ends below it, and decodes every batch from the
  // snapshot's end on (a batch with a valid CRC that does not decode is an error, never cut).
  static result<std::unique_ptr<metadata_log>, controller_error> open(std::filesystem::path dir,
                                                                      clock& clk,
                                                                      storage::log_config cfg = {});
  ~metadata_log();
  metadata_log(const metadata_log&) = delete;
  metadata_log& operator=(const metadata_log&) = delete;

  // What open() found (moved out: call once).
  recovered_metadata_log take_recovered() { return std::move(_recovered); }

  // Appends whole batches that carry their offsets and epochs (the first at log_end_offset()).
  // Not durable until flush().
  result<void, controller_error> append(std::span<const uint8_t> batches);
  // Encodes `records` as one data batch at log_end_offset() in `epoch` and appends it.
  result<offset, controller_error> append_records(leader_epoch epoch, int64_t append_time_ms,
                                                  std::span<const framed_record> records);
  // Encodes control messages as one control batch at log_end_offset() and appends it.
  result<offset, controller_error> append_control(
      leader_epoch epoch, int64_t append_time_ms,
      std::span<const protocol::metadata::any_control_record> records);
  result<void, controller_error> flush();
  // Removes every batch at or after `end` (whole batches); returns the new log end.
  result<offset, controller_error> truncate_to(offset end);
  // Writes quorum-state atomically (temp file, fsync, rename, fsync dir).
  result<void, controller_error> write_quorum_state(const quorum_state_file& q);
  // Writes a snapshot file atomically from its bytes (checked with decode_snapshot first). When
  // the log ends below its end offset (a follower installing the leader's snapshot), the log is
  // emptied and restarts there.
  result<void, controller_error> write_snapshot(snapshot_id id, std::span<const uint8_t> bytes);
  // encode_snapshot + write_snapshot.
  result<void, controller_error> write_snapshot(snapshot_id id, std::span<const framed_record> records,
                                                const snapshot_options& opts);
  // Deletes the segments wholly below the latest snapshot's end and the older snapshots;
  // returns how many segments went.
  result<size_t, controller_error> delete_below_snapshot();
  // Whole batches from the one holding `from`, at most max_bytes (at least one batch).
  result<std::vector<uint8_t>, controller_error> read(offset from, size_t max_bytes) const;

  std::optional<snapshot_id> latest_snapshot() const { return _snapshot; }
  std::filesystem::path snapshot_path(snapshot_id id) const { return _dir / snapshot_file_name(id); }
  offset log_start_offset() const { return _log->log_start_offset(); }
  offset log_end_offset() const { return _log->log_end_offset(); }
  // OffsetForLeaderEpoch on the metadata log (Raft's divergence check).
  storage::epoch_end_offset end_offset_for_epoch(leader_epoch e) const {
    return _log->end_offset_for_epoch(e);
  }
  const std::filesystem::path& dir() const { return _dir; }
  result<void, controller_error> close();

 private:
  metadata_log(std::filesystem::path dir, clock& clk) : _dir(std::move(dir)), _clock(clk) {}
  result<void, controller_error> load_snapshots();
  result<void, controller_error> load_batches();

  std::filesystem::path _dir;
  clock& _clock;
  std::unique_ptr<storage::partition_log> _log;
  std::optional<snapshot_id> _snapshot;
  recovered_metadata_log _recovered;
};

}  // namespace gregor::controller
