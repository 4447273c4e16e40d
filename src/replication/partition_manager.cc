#include "gregor/replication/partition_manager.h"

namespace gregor::replication {
namespace {

replica_transition transition_of(const topic_partition& tp, const replica_set& rs, node_id self) {
  return replica_transition{tp, rs.leader == self ? transition_kind::become_leader : transition_kind::become_follower,
                            rs.epoch, rs.partition_epoch, rs.leader};
}

}  // namespace

result<std::optional<replica_transition>, storage::storage_error> partition_manager::apply(
    const topic_partition& tp, uuid topic_id, const storage::log_config& cfg, replica_set replicas,
    int64_t now_ms) {
  if (auto it = _partitions.find(tp); it != _partitions.end()) {
    partition& p = *it->second;
    p.log().set_config(cfg);
    const bool new_epoch = replicas.epoch != p.epoch() || replicas.leader != p.replicas().leader;
    std::optional<replica_transition> t;
    if (new_epoch) t = transition_of(tp, replicas, _self);
    p.update_replicas(std::move(replicas), now_ms);
    return t;
  }
  auto log = _logs.open_partition(tp, topic_id, cfg);
  if (!log) return failure{log.error()};
  replica_transition t = transition_of(tp, replicas, _self);
  auto p = std::make_unique<partition>(**log, _self, std::move(replicas), now_ms);
  if (auto hw = _logs.checkpointed_high_watermark(tp)) p->restore_high_watermark(offset(*hw));
  _partitions.emplace(tp, std::move(p));
  return std::optional<replica_transition>(t);
}

result<replica_transition, storage::storage_error> partition_manager::stop(const topic_partition& tp) {
  replica_transition t{tp, transition_kind::stop, leader_epoch{0}, 0, no_node};
  if (auto it = _partitions.find(tp); it != _partitions.end()) {
    t.epoch = it->second->epoch();
    t.partition_epoch = it->second->replicas().partition_epoch;
    t.leader = it->second->replicas().leader;
    _partitions.erase(it);
  }
  auto r = _logs.remove_partition(tp);
  if (!r) return failure{r.error()};
  return t;
}

partition* partition_manager::get(const topic_partition& tp) {
  auto it = _partitions.find(tp);
  return it == _partitions.end() ? nullptr : it->second.get();
}

std::map<topic_partition, int64_t> partition_manager::high_watermarks() const {
  std::map<topic_partition, int64_t> out;
  for (const auto& [tp, p] : _partitions) out[tp] = p->high_watermark().value();
  return out;
}

void partition_manager::for_each(const std::function<void(partition&)>& fn) {
  for (auto& [tp, p] : _partitions) fn(*p);
}

}  // namespace gregor::replication
