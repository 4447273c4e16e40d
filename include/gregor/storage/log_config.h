#pragma once
// Per-partition log settings, from the topic config with broker defaults (Kafka's names).
#include <cstdint>

namespace gregor::storage {

struct log_config {
  int64_t segment_bytes = 1073741824;      // segment.bytes
  int64_t segment_ms = 604800000;          // segment.ms (roll when the active segment is older)
  int32_t index_interval_bytes = 4096;     // index.interval.bytes
  int32_t segment_index_bytes = 10485760;  // segment.index.bytes (roll when an index would exceed it)
  int64_t flush_messages = INT64_MAX;      // flush.messages (fsync after this many records)
  int64_t flush_ms = INT64_MAX;            // flush.ms (checked on append; no background timer)
};

}  // namespace gregor::storage
