#pragma once
// replication::partition: this broker's replica of one partition. Owns the partition's leader epoch,
// replica set, ISR and high watermark on top of the storage log. Today every partition has one
// replica (this broker) so the ISR is {self} and the high watermark follows the log end offset, but
// the high watermark is tracked separately so followers can slot in without changing callers.
//
// Threading: called only from the broker's io thread. No Asio here: waking waiters on append is the
// caller's business (append returns what changed).
#include <map>
#include <memory>
#include <vector>

#include "gregor/base/result.h"
#include "gregor/base/types.h"
#include "gregor/storage/partition_log.h"

namespace gregor::replication {

// A partition's assignment as the metadata image states it.
struct replica_set {
  leader_epoch epoch{0};
  node_id leader = no_node;
  std::vector<node_id> replicas;
  std::vector<node_id> isr;
  // Bumps on every change of the partition's replicas, ISR or leader (Kafka's partition epoch);
  // AlterPartition requests carry it so the controller refuses stale ISR changes.
  int32_t partition_epoch = 0;
};

class partition {
 public:
  partition(storage::partition_log& log, node_id self, replica_set replicas);

  const topic_partition& tp() const { return _log.tp(); }
  storage::partition_log& log() { return _log; }
  const storage::partition_log& log() const { return _log; }

  bool is_leader() const { return _replicas.leader == _self; }
  leader_epoch epoch() const { return _replicas.epoch; }
  const replica_set& replicas() const { return _replicas; }
  size_t isr_size() const { return _replicas.isr.size(); }

  // The offset below which records are committed (visible to consumers). Minimum log end offset
  // over the ISR; with ISR = {self} it equals the log end offset.
  offset high_watermark() const { return _high_watermark; }
  // Last stable offset: equals the high watermark until transactions exist.
  offset last_stable_offset() const { return _high_watermark; }

  // Leader append of validated batches; advances the high watermark as the ISR allows.
  result<storage::append_result, storage::storage_error> append(std::span<uint8_t> batches);

  // Records a follower's log end offset (from its fetch); recomputes the high watermark.
  void update_follower_end_offset(node_id follower, offset end_offset);
  void update_replicas(replica_set replicas);

 private:
  void recompute_high_watermark();

  storage::partition_log& _log;
  node_id _self;
  replica_set _replicas;
  std::map<node_id, offset> _follower_end_offsets;
  offset _high_watermark{0};
};

}  // namespace gregor::replication
