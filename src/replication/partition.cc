#include "gregor/replication/partition.h"

#include <algorithm>

namespace gregor::replication {

partition::partition(storage::partition_log& log, node_id self, replica_set replicas)
    : _log(log), _self(self), _replicas(std::move(replicas)) {
  recompute_high_watermark();
}

result<storage::append_result, storage::storage_error> partition::append(
    std::span<uint8_t> batches) {
  auto r = _log.append(batches, _replicas.epoch);
  if (r) recompute_high_watermark();
  return r;
}

void partition::update_follower_end_offset(node_id follower, offset end_offset) {
  _follower_end_offsets[follower] = end_offset;
  recompute_high_watermark();
}

void partition::update_replicas(replica_set replicas) {
  _replicas = std::move(replicas);
  recompute_high_watermark();
}

void partition::recompute_high_watermark() {
  offset hw = _log.log_end_offset();
  for (node_id r : _replicas.isr) {
    if (r == _self) continue;
    auto it = _follower_end_offsets.find(r);
    hw = std::min(hw, it == _follower_end_offsets.end() ? offset{0} : it->second);
  }
  // The high watermark never moves backwards while this replica leads.
  _high_watermark = std::max(_high_watermark, std::min(hw, _log.log_end_offset()));
  _high_watermark = std::max(_high_watermark, _log.log_start_offset());
}

}  // namespace gregor::replication
