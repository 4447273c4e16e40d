#pragma once
// A deterministic simulation of a whole Gregor cluster: controllers (raft::replica voters driving
// controller::quorum_controller, every committed metadata batch applied to a
// controller::metadata_image), brokers (raft::replica observers of the metadata log, registration
// and heartbeats to the active controller, replication::partition_manager + replication::partition
// over real storage::partition_log directories, follower fetches with divergence truncation, ISR
// changes through AlterPartition) and a client writing with acks=all. One uint64 seed drives the
// network (loss, duplication, delay, partitions), the crashes, restarts and pauses, and the writes.
// See README.md for the properties checked and how to replay a seed.
#include <cstdint>
#include <memory>
#include <string>

namespace gregor::cluster_sim {

struct options {
  int controllers = 3;
  int brokers = 4;
  int topics = 2;
  int partitions = 2;              // per topic
  int replication_factor = 3;
  int64_t fault_ms = 30000;        // faults until then
  int64_t heal_ms_max = 40000;     // after the faults: every check of liveness by then
  bool faults = true;
  double crash_chance = 0.0008;    // per node per 5 ms step
  double pause_chance = 0.0008;    // a broker stops (SIGSTOP) for a while
  int64_t disk_latency_ms_max = 10;  // metadata log fsync latency
  double write_chance = 0.3;       // per step: the client sends one write
  // Kafka's BrokerServer rule: a (re)started broker acts on its metadata image (opens replicas,
  // leads, follows) only once it has applied its own registration record, so it never acts on what
  // its previous incarnation was (the registration fences it and moves its leaderships on).
  // Gregor's server (core::apply_metadata) waits the same way since it was found here; with false
  // the simulation does as Gregor did (publish on every applied batch), and a broker replaying its metadata log after a restart leads
  // and acknowledges writes in a stale leader epoch, or with the ISR its previous incarnation had
  // before an expansion it proposed commits (seed 856 loses acknowledged writes).
  bool metadata_catch_up = true;
  // Kafka's AlterPartitionManager rule: a leader keeps its pending ("maximal") ISR, which holds
  // the high watermark back, until the controller's answer is definitive: only
  // INELIGIBLE_REPLICA-like answers ("not applied at this partition epoch") drop it; an
  // unanswered request, NOT_CONTROLLER or a stale-epoch answer sends the same request again until
  // the metadata shows a new partition epoch (which ends the pending ISR). Gregor's
  // replica_manager does the same since it was found here (server::after_alter_partition); it
  // dropped the pending ISR on any error, on a timeout and after 10 s: with false the simulation
  // does that, and an expansion the controller committed although the leader saw
  // it fail lets the high watermark pass the new member, which then leads without the
  // acknowledged writes (seed 5268). See README.md.
  bool alter_partition_keeps_pending = true;
};

struct stats {
  int64_t controller_elections = 0;
  int64_t metadata_offsets = 0;    // committed metadata log length at the end
  int64_t crashes = 0;
  int64_t pauses = 0;
  int64_t network_changes = 0;
  int64_t messages = 0;
  int64_t writes_sent = 0;
  int64_t writes_acked = 0;
  int64_t fencings = 0;            // FenceBrokerRecords and fencing registration changes applied
  int64_t leader_changes = 0;      // partition leader epochs seen (beyond the first)
  int64_t isr_changes = 0;         // AlterPartition requests the controller accepted
  int64_t truncations = 0;         // follower truncations after a diverging epoch
  int64_t metadata_snapshots = 0;  // metadata snapshots loaded from a leader
  int64_t heal_ms = 0;             // from the end of the faults to the checks passing
};

struct outcome {
  bool ok = true;
  std::string failure;  // "seed=N t=...ms: what", with the replay command
  stats counters;
};

options options_for_seed(uint64_t seed);
outcome run_seed(uint64_t seed);
outcome run(uint64_t seed, const options& opts);

}  // namespace gregor::cluster_sim
