#include "gregor/replication/partition.h"

#include <algorithm>

namespace gregor::replication {

offset follower_truncation_offset(const storage::partition_log& log, leader_epoch diverging_epoch,
                                  offset diverging_end) {
  const auto mine = log.end_offset_for_epoch(diverging_epoch);
  offset target = log.log_start_offset();
  if (mine.epoch != no_leader_epoch && mine.end_offset >= offset(0))
    target = mine.epoch == diverging_epoch ? std::min(mine.end_offset, diverging_end) : mine.end_offset;
  return std::min(target, log.log_end_offset());
}

result<offset, storage::storage_error> truncate_after_divergence(storage::partition_log& log,
                                                                 leader_epoch diverging_epoch, offset diverging_end) {
  const offset target = follower_truncation_offset(log, diverging_epoch, diverging_end);
  if (auto r = log.truncate_to(target); !r) return failure(r.error());
  return target;
}

partition::partition(storage::partition_log& log, node_id self, replica_set replicas, int64_t now_ms)
    : _log(log), _self(self), _replicas(std::move(replicas)) {
  _epoch_start = _log.log_end_offset();
  if (is_leader())
    for (node_id r : _replicas.isr)
      if (r != _self) _followers[r].last_caught_up_ms = now_ms;
  recompute_high_watermark();
}

result<storage::append_result, storage::storage_error> partition::append(
    std::span<uint8_t> batches) {
  // Never in a leader epoch older than one the log already holds: a broker acting on stale
  // metadata (replaying its metadata log after a restart) would otherwise write an older epoch
  // after a newer one, a tail that the diverging-epoch check of follower fetches cannot find.
  const leader_epoch latest = _log.latest_epoch();
  if (latest != no_leader_epoch && _replicas.epoch < latest)
    return storage::fail(storage::storage_errc::invalid_argument,
                         "leader epoch {} is older than the epoch {} the log already holds", _replicas.epoch.value(),
                         latest.value());
  auto r = _log.append(batches, _replicas.epoch);
  if (r) recompute_high_watermark();
  return r;
}

void partition::update_follower_end_offset(node_id follower, offset end_offset) {
  _follower_end_offsets[follower] = end_offset;
  recompute_high_watermark();
}

void partition::update_replicas(replica_set replicas, int64_t now_ms) {
  const bool new_term = replicas.epoch != _replicas.epoch || replicas.leader != _replicas.leader;
  const bool new_partition_epoch = replicas.partition_epoch != _replicas.partition_epoch;
  _replicas = std::move(replicas);
  if (new_term) {
    // A new leadership: what followers reported to an earlier leader means nothing now. Every ISR
    // member starts as caught up (Kafka does the same), so a fresh leader does not shrink at once.
    _follower_end_offsets.clear();
    _followers.clear();
    _pending_isr.reset();
    _leader_high_watermark = offset(-1);
    _epoch_start = _log.log_end_offset();
    if (is_leader())
      for (node_id r : _replicas.isr)
        if (r != _self) _followers[r].last_caught_up_ms = now_ms;
  } else if (new_partition_epoch) {
    _pending_isr.reset();
  }
  recompute_high_watermark();
}

bool partition::on_follower_fetch(node_id follower, offset fetch_offset, int64_t now_ms) {
  const offset before = _high_watermark;
  auto& f = _followers[follower];
  // A follower can only reach what the leader has written (it is served no further).
  const offset leader_end = _log.written_end_offset();
  if (fetch_offset >= leader_end) f.last_caught_up_ms = now_ms;
  else if (f.last_fetch_ms > 0 && fetch_offset >= f.leader_end_at_last_fetch)
    f.last_caught_up_ms = std::max(f.last_caught_up_ms, f.last_fetch_ms);
  f.end = fetch_offset;
  f.last_fetch_ms = now_ms;
  f.leader_end_at_last_fetch = leader_end;
  _follower_end_offsets[follower] = fetch_offset;
  recompute_high_watermark();
  return _high_watermark > before;
}

std::optional<std::vector<node_id>> partition::isr_change(int64_t now_ms, int64_t lag_max_ms) const {
  if (!is_leader() || _pending_isr) return std::nullopt;
  std::vector<node_id> next;
  bool changed = false;
  for (node_id r : _replicas.replicas) {
    const bool in_isr = std::find(_replicas.isr.begin(), _replicas.isr.end(), r) != _replicas.isr.end();
    if (r == _self) {
      next.push_back(r);
      changed |= !in_isr;
      continue;
    }
    auto it = _followers.find(r);
    if (in_isr) {
      const int64_t caught_up = it == _followers.end() ? 0 : it->second.last_caught_up_ms;
      if (now_ms - caught_up > lag_max_ms) {
        changed = true;  // shrink
        continue;
      }
      next.push_back(r);
    } else if (it != _followers.end() && it->second.end >= _high_watermark && it->second.end >= _epoch_start) {
      next.push_back(r);  // expand
      changed = true;
    }
  }
  if (!changed) return std::nullopt;
  return next;
}

void partition::set_pending_isr(std::vector<node_id> isr) {
  _pending_isr = std::move(isr);
  recompute_high_watermark();
}

storage::epoch_end_offset partition::end_offset_for_epoch(leader_epoch e) const {
  auto eo = _log.end_offset_for_epoch(e);
  if (eo.epoch == no_leader_epoch && e >= leader_epoch(0) && e <= _replicas.epoch) {
    const leader_epoch latest = _log.latest_epoch();
    eo.epoch = latest == no_leader_epoch ? e : std::min(latest, e);
    eo.end_offset = _log.log_end_offset();
  }
  return eo;
}

void partition::set_follower_high_watermark(offset leader_hw) {
  if (is_leader()) return;
  _leader_high_watermark = leader_hw;
  _high_watermark = std::max(_log.log_start_offset(), std::min(leader_hw, _log.log_end_offset()));
}

void partition::restore_high_watermark(offset hw) {
  _high_watermark = std::max(_high_watermark, std::max(_log.log_start_offset(), std::min(hw, _log.log_end_offset())));
}

std::optional<offset> partition::follower_end_offset(node_id follower) const {
  auto it = _follower_end_offsets.find(follower);
  if (it == _follower_end_offsets.end()) return std::nullopt;
  return it->second;
}

std::optional<int64_t> partition::follower_last_caught_up_ms(node_id follower) const {
  auto it = _followers.find(follower);
  if (it == _followers.end()) return std::nullopt;
  return it->second.last_caught_up_ms;
}

void partition::recompute_high_watermark() {
  if (!is_leader()) {
    // A follower's high watermark comes from its leader (set_follower_high_watermark); a
    // truncation may have cut the log below it.
    _high_watermark = std::max(_log.log_start_offset(), std::min(_high_watermark, _log.log_end_offset()));
    return;
  }
  // The leader's own replica counts up to what its disk writer wrote (storage/disk_writer.h): no
  // record is committed that a crash of this process could still take.
  offset written = _log.written_end_offset();
  // A flush the appends made due (flush.messages / flush.ms, queued to the disk writer) is done
  // before they count, as Kafka raises the high watermark only after its synchronous flush.
  if (_log.sync_requested_end() > _log.synced_end_offset()) written = std::min(written, _log.synced_end_offset());
  offset hw = written;
  auto count = [&](node_id r) {
    if (r == _self) return;
    auto it = _follower_end_offsets.find(r);
    hw = std::min(hw, it == _follower_end_offsets.end() ? offset{0} : it->second);
  };
  // While an ISR change is pending, both the current and the proposed members count (Kafka's
  // "maximal ISR"): the high watermark never passes a replica that may still be in the ISR.
  for (node_id r : _replicas.isr) count(r);
  if (_pending_isr)
    for (node_id r : *_pending_isr) count(r);
  // The high watermark never moves backwards while this replica leads.
  _high_watermark = std::max(_high_watermark, std::min(hw, written));
  _high_watermark = std::max(_high_watermark, _log.log_start_offset());
}

}  // namespace gregor::replication
