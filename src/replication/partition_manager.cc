#include "gregor/replication/partition_manager.h"

namespace gregor::replication {

result<partition*, storage::storage_error> partition_manager::ensure(
    const topic_partition& tp, uuid topic_id, const storage::log_config& cfg,
    replica_set replicas) {
  if (auto it = _partitions.find(tp); it != _partitions.end()) {
    it->second->log().set_config(cfg);
    it->second->update_replicas(std::move(replicas));
    return it->second.get();
  }
  auto log = _logs.open_partition(tp, topic_id, cfg);
  if (!log) return failure{log.error()};
  auto p = std::make_unique<partition>(**log, _self, std::move(replicas));
  partition* raw = p.get();
  _partitions.emplace(tp, std::move(p));
  return raw;
}

partition* partition_manager::get(const topic_partition& tp) {
  auto it = _partitions.find(tp);
  return it == _partitions.end() ? nullptr : it->second.get();
}

result<void, storage::storage_error> partition_manager::remove(const topic_partition& tp) {
  _partitions.erase(tp);
  return _logs.remove_partition(tp);
}

void partition_manager::for_each(const std::function<void(partition&)>& fn) {
  for (auto& [tp, p] : _partitions) fn(*p);
}

}  // namespace gregor::replication
