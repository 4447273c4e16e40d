#pragma once
// The bytes of the cluster metadata log as KRaft writes them (pure functions, any thread):
//
// Data batch: a v2 record batch (no compression, CreateTime = the append time) whose records have
//   a null key and a value = ApiMessageAndVersion: unsigned varint frame version (1), unsigned
//   varint record type (api key), unsigned varint record version, the record's body. The batch's
//   partition leader epoch is the Raft epoch.
// Control batch: attributes bit 5 set; each record's key = int16 version (0) + int16 control type,
//   value = the control message (whose schema starts with its own int16 Version field).
//   LeaderChangeMessage (2), SnapshotHeaderRecord (3), SnapshotFooterRecord (4),
//   KRaftVersionRecord (5), VotersRecord (6).
// Snapshot (`<20-digit end offset>-<10-digit epoch>.checkpoint`): batches from offset 0 in the
//   snapshot's epoch: first a control batch with SnapshotHeaderRecord (then KRaftVersionRecord and
//   VotersRecord when kraft.version >= 1), data batches holding the whole image, and a last
//   control batch with SnapshotFooterRecord.
// quorum-state: JSON of QuorumStateData v1 plus "data_version", e.g.
//   {"leaderId":1,"leaderEpoch":3,"votedId":-1,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1}
//
// Decoders never trust a length and return why they refuse.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gregor/base/result.h"
#include "gregor/base/types.h"
#include "gregor/protocol/metadata/all_records.h"

namespace gregor::controller {

// A metadata record and the version it is (to be) written in.
using framed_record = protocol::metadata::api_message_and_version;
// Writes `rec` in its newest version Kafka 4.3.1 writes (the schema's max version).
framed_record frame(protocol::metadata::any_record rec);

// One control record: its type, and its decoded body when the type carries one we know
// (commit/abort markers and unknown types keep only the type).
struct control_record {
  int16_t type = 0;
  std::optional<protocol::metadata::any_control_record> body;
};

// Control types (Kafka's ControlRecordType).
inline constexpr int16_t control_abort = 0;
inline constexpr int16_t control_commit = 1;
inline constexpr int16_t control_leader_change = 2;
inline constexpr int16_t control_snapshot_header = 3;
inline constexpr int16_t control_snapshot_footer = 4;
inline constexpr int16_t control_kraft_version = 5;
inline constexpr int16_t control_voters = 6;

struct metadata_batch {
  offset base_offset{0};
  offset last_offset{0};
  leader_epoch epoch{0};
  int64_t append_time_ms = no_timestamp;  // the batch's max timestamp
  bool control = false;
  std::vector<framed_record> records;    // data batches
  std::vector<control_record> controls;  // control batches
  size_t size_bytes = 0;                 // of the encoded batch
};

// Encodes `records` (at least one) as one data batch at `base` in `epoch`.
std::vector<uint8_t> encode_data_batch(offset base, leader_epoch epoch, int64_t append_time_ms,
                                       std::span<const framed_record> records);
// Encodes control messages (at least one) as one control batch (each in version 0).
std::vector<uint8_t> encode_control_batch(offset base, leader_epoch epoch, int64_t append_time_ms,
                                          std::span<const protocol::metadata::any_control_record> records);
// Decodes one whole batch (CRC checked; must be exactly one batch).
result<metadata_batch, std::string> decode_batch(std::span<const uint8_t> batch);
// Decodes back-to-back whole batches (a segment's contents, a snapshot file).
result<std::vector<metadata_batch>, std::string> decode_batches(std::span<const uint8_t> bytes);
// Splits back-to-back batches into spans of whole batches (header checks only).
result<std::vector<std::span<const uint8_t>>, std::string> split_batches(std::span<const uint8_t> bytes);

// ---- snapshots ----
struct snapshot_id {
  offset end_offset{0};     // every record below it is in the snapshot
  leader_epoch epoch{0};    // the epoch of the last record it covers
  auto operator<=>(const snapshot_id&) const = default;
};
// "00000000000000000042-0000000003.checkpoint"
std::string snapshot_file_name(snapshot_id id);
std::optional<snapshot_id> parse_snapshot_file_name(std::string_view name);

struct snapshot_options {
  int64_t last_contained_log_timestamp_ms = 0;  // append time of the last record covered
  int64_t append_time_ms = 0;                   // timestamp of the snapshot's batches
  int16_t kraft_version = 0;                    // >= 1: KRaftVersionRecord (+ VotersRecord) too
  std::optional<protocol::metadata::voters_record> voters;
  size_t records_per_batch_max = 1000;          // image records per data batch
};
// The snapshot file's bytes for the image `records` (the whole state at id.end_offset).
std::vector<uint8_t> encode_snapshot(snapshot_id id, std::span<const framed_record> records,
                                     const snapshot_options& opts);
struct decoded_snapshot {
  protocol::metadata::snapshot_header_record header;
  std::optional<protocol::metadata::kraft_version_record> kraft_version;
  std::optional<protocol::metadata::voters_record> voters;
  std::vector<framed_record> records;
};
// Checks the structure (header first, footer last, CRCs, contiguous offsets) and decodes it.
result<decoded_snapshot, std::string> decode_snapshot(std::span<const uint8_t> bytes);

// ---- quorum-state ----
struct quorum_state_file {
  node_id leader_id = no_node;
  ::gregor::leader_epoch leader_epoch{-1};
  node_id voted_id = no_node;
  uuid voted_directory_id;
  bool operator==(const quorum_state_file&) const = default;
};
std::string encode_quorum_state(const quorum_state_file& q);
// Accepts data_version 0 (with its extra fields ignored) and 1; unknown keys are ignored.
result<quorum_state_file, std::string> parse_quorum_state(std::string_view json);

}  // namespace gregor::controller
