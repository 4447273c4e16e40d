#pragma once
// A deterministic simulation of a KRaft quorum: raft::replica cores on a simulated network (loss,
// duplication, delay, reordering, partitions both ways and one way) and simulated disks (losing
// whatever was not yet durable on a crash), all driven from one uint64 seed, with the safety
// properties checked after every step and liveness checked once the faults stop.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "gregor/raft/replica.h"
#include "sim_support.h"

namespace gregor::raft::sim {

struct options {
  int voters = 3;
  int observers = 1;
  int64_t fault_ms = 20000;       // faults (crashes, partitions, loss, duplication) until then
  int64_t liveness_ms_max = 20000;  // after the faults stop: a leader and a new commit by then
  bool faults = true;
  // Nemesis profile (options_for_seed varies them): crash chance per node per 5 ms step, the
  // disk's fsync latency, the leader's Fetch entry bound, and "buggify": crash a node right after
  // it sends a vote grant or takes leadership, when state is the most fragile.
  double crash_chance = 0.0015;
  int64_t disk_latency_ms_max = 15;
  int32_t fetch_entries_max = 8;
  bool buggify = false;
};

struct stats {
  int64_t elections = 0;       // distinct epochs that had a leader
  int64_t committed = 0;       // entries known committed at the end
  int64_t crashes = 0;
  int64_t snapshots = 0;       // snapshots installed from a leader
  int64_t messages = 0;
  int64_t liveness_ms = 0;     // time from the end of the faults to the commit everywhere
  int64_t voter_changes = 0;   // AddVoter / RemoveVoter the leader accepted (KIP-853)
};

struct outcome {
  bool ok = true;
  std::string failure;  // the first property violated, with the time
  stats counters;
};

// Unlike a real shell, which pairs answers with requests by correlation id, the simulated network
// lets the responder's copy of `request_token` travel back, so answers meant for an earlier run
// of a node reach its next run: a harsher test of the core's own defences.
//
// Voter changes (KIP-853): during the faults the leader is asked now and then to add a node that
// is not a voter (an observer, or a voter removed earlier) or to remove a voter (itself included);
// the state machine's snapshots carry the voter set, so restarts and snapshot installs keep it.
//
// A simple scripted-or-random cluster. `run(seed)` is the randomized nemesis; the step-by-step
// methods let unit tests script a scenario.
class cluster {
 public:
  cluster(uint64_t seed, options opts);
  ~cluster();

  // The randomized run: faults until opts.fault_ms, then heal and wait for liveness.
  outcome run();

  // Scripted control.
  void advance(int64_t ms);  // moves time in 5 ms steps, delivering, ticking, syncing, checking
  bool run_until(const std::function<bool()>& done, int64_t ms_max);
  std::optional<node_id> leader() const;  // the up node in the leader role with the highest epoch
  replica* node(node_id id);
  void isolate(node_id id);          // both ways
  void block(node_id from, node_id to);  // one way
  void heal();
  void crash(node_id id);
  void restart(node_id id);
  bool propose_marker(uint64_t id);  // on the current leader; true if accepted
  bool applied_everywhere(uint64_t id) const;  // every up node's state machine has it
  const outcome& result() const { return _outcome; }
  int64_t now_ms() const { return _now_ms; }

 private:
  struct node_state;
  struct in_flight {
    int64_t deliver_ms;
    uint64_t seq;
    node_id from;
    node_id to;
    message body;
    bool operator>(const in_flight& o) const {
      return deliver_ms != o.deliver_ms ? deliver_ms > o.deliver_ms : seq > o.seq;
    }
  };

  uint64_t random();
  bool chance(double p);
  void fail(const std::string& what);
  void drain(node_state& n);
  void sync(node_state& n);
  void send(node_id from, const outbound_message& m);
  void deliver_due();
  void check();
  void check_leader(node_state& n);
  void check_logs();
  void record_committed(node_state& n);
  void apply(node_state& n, const entry& e);
  void nemesis();
  void maybe_propose();
  void maybe_snapshot(node_state& n);
  void maybe_change_voters();
  void check_voter_changes(node_state& n);
  config make_config(node_id id) const;
  node_state& state(node_id id);

  uint64_t _rng;
  options _opts;
  int64_t _now_ms = 0;
  outcome _outcome;
  std::vector<std::unique_ptr<node_state>> _nodes;
  std::vector<node_id> _voters;
  std::priority_queue<in_flight, std::vector<in_flight>, std::greater<>> _network;
  uint64_t _network_seq = 0;
  std::set<std::pair<int32_t, int32_t>> _blocked;  // (from, to)
  double _loss = 0, _duplication = 0;
  int64_t _delay_max_ms = 1;
  raft_checker _checker;  // election safety, completeness, state-machine safety, log matching
  uint64_t _next_id = 1;
  int64_t _steps = 0;
};

// The options the seed sweep uses for `seed`: 3 or 5 voters, 0 to 2 observers.
options options_for_seed(uint64_t seed);
// One randomized run; on failure the message names the seed.
outcome run_seed(uint64_t seed);

}  // namespace gregor::raft::sim
