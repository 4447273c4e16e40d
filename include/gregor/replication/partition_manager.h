#pragma once
// replication::partition_manager: the set of partitions this broker hosts a replica of. Turns the
// metadata image's assignment of each partition into explicit replica transitions (become leader,
// become follower, stop) with the leader epoch and partition epoch they happen at, opens the logs
// through storage::log_manager, hands out replication::partition objects to request handlers, and
// closes/deletes replicas the metadata no longer assigns here.
//
// Who calls it: the server's metadata publisher (core::apply_metadata) after every committed
// metadata change, in log order; handlers look replicas up. Subscribers of the transitions
// (fetch waiters, the group coordinator for __consumer_offsets, idempotence) react to the list
// apply() returns. Threading: the broker's io thread only.
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "gregor/replication/partition.h"
#include "gregor/storage/log_manager.h"

namespace gregor::replication {

// What happened to this broker's replica of one partition.
enum class transition_kind {
  become_leader,    // newly assigned as leader, or the leader epoch moved to this broker
  become_follower,  // newly assigned as follower, or a new leader epoch with another leader
  stop,             // no longer assigned here (the replica's data is deleted)
};

struct replica_transition {
  topic_partition tp;
  transition_kind kind = transition_kind::stop;
  leader_epoch epoch{0};
  int32_t partition_epoch = 0;
  node_id leader = no_node;
};

class partition_manager {
 public:
  partition_manager(storage::log_manager& logs, node_id self) : _logs(logs), _self(self) {}

  // Brings the local replica of tp in line with the metadata's assignment (this broker must be in
  // replicas.replicas): opens it when new (with its checkpointed high watermark), updates its replica set and log config otherwise.
  // Returns the transition when the replica is new or its leader epoch changed (a change of ISR
  // or replicas alone with the same leader epoch is no transition).
  result<std::optional<replica_transition>, storage::storage_error> apply(
      const topic_partition& tp, uuid topic_id, const storage::log_config& cfg, replica_set replicas,
      int64_t now_ms = 0);
  // Closes the replica and deletes its data (the topic or partition is gone, or this broker was
  // removed from its replicas). Returns the stop transition.
  result<replica_transition, storage::storage_error> stop(const topic_partition& tp);

  partition* get(const topic_partition& tp);
  // Every replica's high watermark (for replication-offset-checkpoint).
  std::map<topic_partition, int64_t> high_watermarks() const;
  void for_each(const std::function<void(partition&)>& fn);
  size_t size() const { return _partitions.size(); }

 private:
  storage::log_manager& _logs;
  node_id _self;
  std::map<topic_partition, std::unique_ptr<partition>> _partitions;
};

}  // namespace gregor::replication
