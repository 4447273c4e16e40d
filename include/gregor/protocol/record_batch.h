#pragma once
// Record batch v2 (magic 2): header view, in-place rewrites, validation of produced batches, record
// iteration with bounded decompression, and a builder (tests, CLI producer).
//
// Layout (big-endian):
//   0 base_offset i64 | 8 batch_length i32 | 12 partition_leader_epoch i32 | 16 magic i8 |
//  17 crc u32 (CRC32C over bytes 21..end) | 21 attributes i16 | 23 last_offset_delta i32 |
//  27 base_timestamp i64 | 35 max_timestamp i64 | 43 producer_id i64 | 51 producer_epoch i16 |
//  53 base_sequence i32 | 57 records_count i32 | 61 records...
// batch_length counts the bytes after the length field, so a batch occupies 12 + batch_length bytes.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gregor/base/result.h"
#include "gregor/protocol/error_code.h"

namespace gregor::protocol {

inline constexpr size_t batch_header_size = 61;
inline constexpr size_t batch_log_overhead = 12;  // base_offset + batch_length
// validation_options::decompressed_bytes_max when 0: this many times max_message_bytes, and at
// least inflated_bytes_floor.
inline constexpr uint64_t inflated_ratio_max = 2048;
inline constexpr uint64_t inflated_bytes_floor = 64u << 20;

enum class compression : int8_t { none = 0, gzip = 1, snappy = 2, lz4 = 3, zstd = 4 };
enum class timestamp_type : int8_t { create_time = 0, log_append_time = 1 };

struct batch_header {
  int64_t base_offset = 0;
  int32_t batch_length = 0;
  int32_t partition_leader_epoch = -1;
  int8_t magic = 2;
  uint32_t crc = 0;
  int16_t attributes = 0;
  int32_t last_offset_delta = 0;
  int64_t base_timestamp = -1;
  int64_t max_timestamp = -1;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
  int32_t records_count = 0;

  compression codec() const { return static_cast<compression>(attributes & 0x07); }
  timestamp_type ts_type() const {
    return (attributes & 0x08) ? timestamp_type::log_append_time : timestamp_type::create_time;
  }
  bool is_transactional() const { return attributes & 0x10; }
  bool is_control() const { return attributes & 0x20; }
  bool has_delete_horizon() const { return attributes & 0x40; }
  size_t total_size() const { return batch_log_overhead + size_t(batch_length); }
  int64_t last_offset() const { return base_offset + last_offset_delta; }
};

// Reads the fixed header at the start of `bytes`. Returns nullopt if fewer than 61 bytes are
// present or the magic byte is not 2 (callers that must tell "old magic" from "short" check
// bytes[16] themselves). Does not check the CRC or that the whole batch is present.
std::optional<batch_header> parse_batch_header(std::span<const uint8_t> bytes);

// In-place rewrites of fields outside the CRC (no CRC recomputation needed).
void set_base_offset(std::span<uint8_t> batch, int64_t base_offset);
void set_partition_leader_epoch(std::span<uint8_t> batch, int32_t epoch);
// Marks the batch LogAppendTime with max_timestamp = ts and recomputes the CRC.
void set_log_append_time(std::span<uint8_t> batch, int64_t ts);
// Sets max_timestamp (timestamp type unchanged) and recomputes the CRC.
void set_max_timestamp(std::span<uint8_t> batch, int64_t ts);
// CRC32C over bytes 21..end of one complete batch, and a check against the stored value.
uint32_t compute_batch_crc(std::span<const uint8_t> batch);
bool batch_crc_ok(std::span<const uint8_t> batch);

// ---- validation of a Produce request's records ----
struct validation_options {
  int32_t max_message_bytes = 1048588;  // max.message.bytes: per batch, including the 12-byte overhead
  timestamp_type ts_type = timestamp_type::create_time;
  // message.timestamp.before.max.ms / after.max.ms; a create-time timestamp outside
  // [now - before, now + after] is INVALID_TIMESTAMP. INT64_MAX disables.
  int64_t timestamp_before_max_ms = INT64_MAX;
  int64_t timestamp_after_max_ms = INT64_MAX;
  int64_t now_ms = 0;
  // Cap on the bytes a compressed batch's records section may inflate to; over it the batch is
  // MESSAGE_TOO_LARGE (the Java producer splits such a batch and retries). Memory does not depend
  // on it (validation streams the section through a 1 MiB window); it bounds the CPU one request
  // can take on the io thread. 0: inflated_ratio_max x max_message_bytes, at least 64 MiB (2 GiB
  // with the default max.message.bytes: every gzip, lz4 and snappy batch within max.message.bytes
  // fits, as those codecs cannot exceed ~1032:1; only zstd past 2048:1 is refused).
  size_t decompressed_bytes_max = 0;
  bool require_keys = false;  // cleanup.policy=compact: records without a key are INVALID_RECORD
  // Kafka (Produce v3+) rejects a partition's records holding more than one batch with
  // INVALID_RECORD; set this in the Produce handler to match. Off by default: one or more.
  bool exactly_one_batch = false;
};

struct batch_error {
  error_code code = error_code::none;
  std::string message;  // for the response's error_message and the log
};

struct validated_batch {
  batch_header header;
  std::span<uint8_t> bytes;  // the whole batch, inside the caller's buffer
  // The largest record timestamp as computed from the records (-1 if none carries one). Kafka
  // writes this into the batch's max_timestamp on append rather than trusting the producer's
  // value: call set_max_timestamp(bytes, records_max_timestamp) when it differs.
  int64_t records_max_timestamp = -1;
};

// Validates the records blob of one partition in a Produce request: one or more complete magic-2
// batches (magic 0/1 → UNSUPPORTED_FOR_MESSAGE_FORMAT), CRC32C (CORRUPT_MESSAGE), lengths,
// base offset 0, records_count consistent with last_offset_delta and with the records actually
// present (INVALID_RECORD / CORRUPT_MESSAGE), no control batches from clients (INVALID_RECORD),
// codec 0-4 (UNSUPPORTED_COMPRESSION_TYPE), size limit (MESSAGE_TOO_LARGE), timestamps
// (INVALID_TIMESTAMP). A compressed section is inflated as a stream through a per-thread window of
// 1 MiB and walked record by record (key and value bytes of records larger than the window are
// skipped, not held), so memory stays bounded whatever it inflates to; a stream that cannot be
// decoded is CORRUPT_MESSAGE, a malformed record met before that INVALID_RECORD (Kafka's order).
// Never modifies the bytes.
result<std::vector<validated_batch>, batch_error> validate_produce_records(
    std::span<uint8_t> records, const validation_options& opts);

// ---- records inside a batch ----
struct record_header_view {
  std::string_view key;
  std::optional<std::string_view> value;
};
struct record_view {
  int64_t offset = 0;      // base_offset + offset_delta
  int64_t timestamp = 0;   // base_timestamp + timestamp_delta (or max_timestamp for LogAppendTime)
  std::optional<std::string_view> key;
  std::optional<std::string_view> value;
  std::vector<record_header_view> headers;
};

// Calls fn for every record of one complete batch, decompressing as a stream if needed: the
// section may inflate to any size, each record is held whole (in a buffer grown to the largest
// record) while fn sees it, and a record longer than record_bytes_max fails the call. The views
// are valid only during the call. Fails with CORRUPT_MESSAGE on malformed records.
result<void, batch_error> for_each_record(std::span<const uint8_t> batch,
                                          const std::function<void(const record_view&)>& fn,
                                          size_t record_bytes_max = 64u << 20);

// ---- codecs ----
result<std::vector<uint8_t>, batch_error> compress(compression codec, std::span<const uint8_t> in);
// Decompresses with a hard cap on output; snappy accepts raw and xerial framing.
result<std::vector<uint8_t>, batch_error> decompress(compression codec,
                                                     std::span<const uint8_t> in,
                                                     size_t output_bytes_max);

// ---- building batches (tests, admin CLI producer) ----
struct record_input {
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
  int64_t timestamp = -1;  // -1: use the builder's base timestamp
};
struct batch_options {
  compression codec = compression::none;
  int64_t base_offset = 0;
  int64_t base_timestamp = 0;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
  bool transactional = false;
  bool control = false;
};
std::vector<uint8_t> build_batch(const std::vector<record_input>& records, const batch_options& opts);

}  // namespace gregor::protocol
