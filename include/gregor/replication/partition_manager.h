#pragma once
// replication::partition_manager: the set of partitions this broker hosts a replica of. Opens their
// logs through storage::log_manager, hands out replication::partition objects to request handlers,
// and closes/deletes them when the metadata says so.
//
// Threading: the broker's io thread only.
#include <functional>
#include <map>
#include <memory>

#include "gregor/replication/partition.h"
#include "gregor/storage/log_manager.h"

namespace gregor::replication {

class partition_manager {
 public:
  partition_manager(storage::log_manager& logs, node_id self) : _logs(logs), _self(self) {}

  // Opens (or creates) the replica and updates its replica set if it is already open.
  result<partition*, storage::storage_error> ensure(const topic_partition& tp, uuid topic_id,
                                                    const storage::log_config& cfg,
                                                    replica_set replicas);
  partition* get(const topic_partition& tp);
  // Closes the replica and deletes its data.
  result<void, storage::storage_error> remove(const topic_partition& tp);
  void for_each(const std::function<void(partition&)>& fn);
  size_t size() const { return _partitions.size(); }

 private:
  storage::log_manager& _logs;
  node_id _self;
  std::map<topic_partition, std::unique_ptr<partition>> _partitions;
};

}  // namespace gregor::replication
