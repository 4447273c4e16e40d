#pragma once
// replication::partition: this broker's replica of one partition. Owns the partition's leader epoch,
// replica set, ISR and high watermark on top of the storage log. Today every partition has one
// replica (this broker) so the ISR is {self} and the high watermark follows the log end offset, but
// the high watermark is tracked separately so followers can slot in without changing callers.
//
// Threading: called only from the broker's io thread. No Asio here: waking waiters on append is the
// caller's business (append returns what changed).
#include <map>
#include <optional>
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

// Follower: where to cut `log` after the leader answered a fetch with a diverging epoch (the
// largest epoch <= the follower's last fetched epoch the leader has, and where it ends there).
// Kafka's rule (AbstractFetcherThread): when the follower has that epoch, the earlier of the two
// ends; when its largest epoch at or below it is an older one, the end of that older epoch (the
// next fetch asks again from there); when it has none at or below it, its log start. Never past
// the log end. The result is below the log end whenever the log holds a batch of a newer epoch
// than the leader's answer, so the follower always makes progress.
offset follower_truncation_offset(const storage::partition_log& log, leader_epoch diverging_epoch,
                                  offset diverging_end);
// Cuts `log` there (the follower fetcher's and the simulation's one way to do it); the offset cut to.
result<offset, storage::storage_error> truncate_after_divergence(storage::partition_log& log,
                                                                 leader_epoch diverging_epoch, offset diverging_end);

class partition {
 public:
  partition(storage::partition_log& log, node_id self, replica_set replicas, int64_t now_ms = 0);

  const topic_partition& tp() const { return _log.tp(); }
  storage::partition_log& log() { return _log; }
  const storage::partition_log& log() const { return _log; }

  // This broker leads per the metadata, and that metadata is not older than the log: a log that
  // holds a newer leader epoch than the one this replica is told to lead in means its metadata is
  // stale (a broker replaying its metadata log after a restart, behind a deposed controller).
  // Such a replica is no leader: it takes no writes, answers no follower (whose truncation it
  // would direct from a log it got in a later epoch) and proposes no ISR until the metadata
  // catches up.
  bool is_leader() const { return _replicas.leader == _self && !stale_leader_epoch(); }
  bool stale_leader_epoch() const {
    const leader_epoch latest = _log.latest_epoch();
    return latest != no_leader_epoch && _replicas.epoch < latest;
  }
  leader_epoch epoch() const { return _replicas.epoch; }
  const replica_set& replicas() const { return _replicas; }
  size_t isr_size() const { return _replicas.isr.size(); }

  // The offset below which records are committed (visible to consumers). Minimum log end offset
  // over the ISR; with ISR = {self} it equals the log end offset.
  offset high_watermark() const { return _high_watermark; }
  // The log's written end moved (storage/disk_writer.h): a leader's high watermark may follow.
  void on_log_written() { recompute_high_watermark(); }
  // The high watermark: this replica knows nothing of transactions. The last stable offset (which
  // ongoing transactions hold back) is server::idempotence::last_stable_offset.
  offset last_stable_offset() const { return _high_watermark; }

  // Leader append of validated batches; advances the high watermark as the ISR allows.
  result<storage::append_result, storage::storage_error> append(std::span<uint8_t> batches);

  // Records a follower's log end offset (from its fetch); recomputes the high watermark.
  void update_follower_end_offset(node_id follower, offset end_offset);
  // Leader: `follower` fetched from `fetch_offset` (its log end offset) at now_ms. Tracks when it
  // was last caught up (Kafka's rule: it fetched from at least the leader's log end offset, or from
  // at least the leader's log end offset of its previous fetch, as of that previous fetch).
  // Returns true when the high watermark advanced.
  bool on_follower_fetch(node_id follower, offset fetch_offset, int64_t now_ms);
  // Leader: the ISR this replica should propose now, or nullopt (no change, or a change is
  // pending at the controller). Shrinks: followers not caught up for more than lag_max_ms
  // (replica.lag.time.max.ms). Expands: replicas whose log end offset reached the high watermark
  // and the start of this leader's epoch.
  std::optional<std::vector<node_id>> isr_change(int64_t now_ms, int64_t lag_max_ms) const;
  // Leader: an ISR change was sent to the controller; until the metadata shows a new partition
  // epoch no other is proposed, and the high watermark counts the union of both ISRs.
  void set_pending_isr(std::vector<node_id> isr);
  void clear_pending_isr() { _pending_isr.reset(); recompute_high_watermark(); }
  bool isr_change_pending() const { return _pending_isr.has_value(); }
  // Leader: OffsetForLeaderEpoch / the diverging-epoch check of follower fetches. The log's answer
  // (storage::partition_log::end_offset_for_epoch), except for an epoch newer than any batch in
  // the log but not newer than this leader's epoch: Kafka's leader records its epoch's start when
  // it is elected, so there the answer is (latest epoch in the log, log end offset).
  storage::epoch_end_offset end_offset_for_epoch(leader_epoch e) const;
  // Follower: the leader's high watermark (kept at or below this replica's log end offset).
  void set_follower_high_watermark(offset leader_hw);
  // At open: the high watermark from replication-offset-checkpoint (kept within the log), so a
  // restarted leader serves what was committed before without waiting for its followers.
  void restore_high_watermark(offset hw);
  // The follower's log end offset as the leader last saw it (DescribeLogDirs, lag metrics).
  std::optional<offset> follower_end_offset(node_id follower) const;
  // Leader: when `follower` was last caught up (monotonic ms, Kafka's lastCaughtUpTimeMs), as
  // on_follower_fetch tracks it; nullopt for a replica not tracked (never fetched, not in the ISR
  // at election).
  std::optional<int64_t> follower_last_caught_up_ms(node_id follower) const;
  void update_replicas(replica_set replicas, int64_t now_ms = 0);
  // Follower: the leader's high watermark as last received, uncapped (-1 before the first
  // fetch). Kafka's follower lag (FetcherLagMetrics ConsumerLag) is this minus the log end offset.
  offset leader_high_watermark() const { return _leader_high_watermark; }

 private:
  void recompute_high_watermark();

  struct follower_state {
    offset end{-1};
    int64_t last_caught_up_ms = 0;
    int64_t last_fetch_ms = 0;
    offset leader_end_at_last_fetch{0};
  };

  storage::partition_log& _log;
  node_id _self;
  replica_set _replicas;
  std::map<node_id, offset> _follower_end_offsets;
  std::map<node_id, follower_state> _followers;
  std::optional<std::vector<node_id>> _pending_isr;
  offset _epoch_start{0};  // log end offset when this replica became leader in this epoch
  offset _high_watermark{0};
  offset _leader_high_watermark{-1};
};

}  // namespace gregor::replication
