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
  int64_t flush_ms = INT64_MAX;            // flush.ms (checked on append and by the server's timer)
  // Retention (cleanup.policy contains "delete"); -1 = unlimited.
  int64_t retention_ms = 604800000;        // retention.ms
  int64_t retention_bytes = -1;            // retention.bytes
  bool delete_enabled = true;              // cleanup.policy contains "delete"
  // Compaction (cleanup.policy contains "compact").
  bool compact = false;
  int64_t delete_retention_ms = 86400000;  // delete.retention.ms (tombstones kept this long)
  int64_t min_compaction_lag_ms = 0;       // min.compaction.lag.ms
  int64_t max_compaction_lag_ms = INT64_MAX;  // max.compaction.lag.ms
  double min_cleanable_dirty_ratio = 0.5;  // min.cleanable.dirty.ratio
  int64_t file_delete_delay_ms = 60000;    // file.delete.delay.ms (".deleted" files kept this long)
  // producer.id.expiration.ms (broker): compaction keeps the newest batch of a producer that wrote
  // within this long (emptied of records if need be), so its idempotence state survives a rebuild.
  int64_t producer_id_expiration_ms = 86400000;
  // log.direct.io (broker, Gregor's own): segments read and append with O_DIRECT.
  bool direct_io = false;
  // With direct_io: appends below this size go through the page cache (segment::limits).
  size_t direct_append_min_bytes = 64 << 10;
};

}  // namespace gregor::storage
