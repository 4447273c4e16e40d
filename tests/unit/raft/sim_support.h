#pragma once
// The pieces of the Raft simulation that other simulations reuse (tests/unit/cluster_sim): the
// seeded random source, the simulated disk (what a raft::replica's outputs make durable, and what
// a restart hands back), and the checker of the Raft safety properties (election safety, leader
// completeness, state-machine safety, a monotonic high watermark, log matching).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "gregor/raft/replica.h"

namespace gregor::raft::sim {

// SplitMix64's finalizer: every random number and hash of the simulations goes through it.
uint64_t mix(uint64_t x);

// One seeded stream of numbers.
class random_source {
 public:
  explicit random_source(uint64_t seed) : _state(mix(seed + 0x1234567)) {}
  uint64_t next() {
    _state = mix(_state + 0x9e3779b97f4a7c15ULL);
    return _state;
  }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  bool chance(double p) { return double(next() % 1000000) < p * 1000000.0; }
  uint64_t state() const { return _state; }

 private:
  uint64_t _state;
};

// The log end of what a disk holds.
offset disk_log_end(const persisted_state& d);
// Makes one output durable on `disk` as the shell's contract says (quorum state, then log ops in
// order). Returns "" or why the output does not fit the disk (an append past its end, a
// truncation splitting an entry): a core bug.
std::string persist(persisted_state& disk, const output& out);
// What a restarted node is handed: the disk, less the log entries a snapshot (written by the
// state machine, maybe before the log prefix deletion followed) already covers.
persisted_state restore(const persisted_state& disk);

// A hash of an entry that tells different entries apart (epoch, count, kind, payload bytes).
uint64_t entry_identity(const entry& e);

// The Raft safety properties over a set of replicas. Each method returns "" or the violation.
class raft_checker {
 public:
  // Election safety (one leader per epoch) and leader completeness (a new leader of epoch T holds
  // every entry committed in an epoch before T), for a replica in the leader role. The epoch an
  // entry committed in is bounded from above by the epoch of the nodes that saw it committed (a
  // leader of an old epoch can win late, after a pause, and need not hold later commits).
  std::string check_leader(node_id id, const replica& r);
  // The replica's high watermark never moves back within one run of it, never passes its log
  // end, and what it covers agrees with what every other replica committed.
  std::string record_committed(node_id id, const replica& r);
  // State-machine safety: the entry applied at e.base is the one every other node applied there.
  // `epoch` is the applying node's current epoch.
  std::string record_applied(node_id id, const entry& e, leader_epoch epoch);
  // A node (re)started: its high watermark starts again from what the new core says.
  void restarted(node_id id, const replica& r);
  // Log matching over the replicas that are up.
  std::string check_logs(const std::vector<std::pair<node_id, const replica*>>& up) const;
  // Every committed entry below r's high watermark (and above its log start) is in r's log.
  std::string check_committed_kept(node_id id, const replica& r) const;

  const std::map<int64_t, uint64_t>& committed() const { return _committed; }
  int64_t elections() const { return _elections; }

 private:
  struct per_node {
    offset hw_seen{0};
    offset committed_recorded{0};
  };
  std::map<int32_t, int32_t> _epoch_leaders;  // epoch -> leader
  std::map<int64_t, uint64_t> _committed;     // base offset -> entry identity
  std::map<int64_t, int32_t> _commit_epoch;   // base offset -> epoch it committed in (at most)
  void note_commit_epoch(int64_t base, leader_epoch epoch);
  std::map<int32_t, per_node> _nodes;
  int64_t _elections = 0;
};

}  // namespace gregor::raft::sim
