#pragma once
// server::cluster_rules: the decisions of the cluster glue that keep acknowledged writes, as pure
// functions shared by the server (core, broker_lifecycle, replica_manager) and the cluster
// simulation (tests/unit/cluster_sim), so the model and the real code cannot drift apart. The
// third rule, deferred controller answers, is proposal_barrier.h.
#include <cstdint>

#include "gregor/base/types.h"
#include "gregor/protocol/error_code.h"

namespace gregor::server {

// Kafka's BrokerServer rule: a broker publishes its metadata image (replica transitions, the
// metadata cache) only once the metadata it applied (`applied_end`, one past the last applied
// offset) holds its own registration record, whose offset is its broker epoch (-1: not yet
// registered). By then the image holds what the registration did: the new incarnation is fenced
// and its previous incarnation's leaderships have moved on. Before that, a restarted broker
// replaying its old metadata log would lead and follow in what its previous incarnation was.
inline bool caught_up_with_registration(int64_t broker_epoch, offset applied_end) {
  return broker_epoch >= 0 && applied_end.value() > broker_epoch;
}

// What a partition leader does after an AlterPartition answer. As Kafka's AlterPartitionManager
// and Partition do, the pending ("maximal") ISR, over which the high watermark is computed, is
// kept until the answer is definitive. Dropping it on a failure the controller in fact committed
// would let the high watermark pass a new ISR member that could then be elected without the
// acknowledged records.
enum class alter_partition_next {
  done,          // accepted: the pending ISR ends when the metadata shows the new partition epoch
  drop_pending,  // the controller did not apply it at the current partition epoch: propose anew
  retry,         // outcome unknown, or the metadata will show what happened: send it again
};
inline alter_partition_next after_alter_partition(protocol::error_code err) {
  using protocol::error_code;
  switch (err) {
    case error_code::none:
      return alter_partition_next::done;
    // The controller says the request was not applied at the partition epoch it names; no past
    // or future controller applies it either (Kafka's Partition.handleAlterPartitionError).
    case error_code::ineligible_replica:
    case error_code::operation_not_attempted:
    case error_code::invalid_request:
      return alter_partition_next::drop_pending;
    default:
      // NOT_CONTROLLER, REQUEST_TIMED_OUT, a lost answer: unknown. FENCED_LEADER_EPOCH,
      // INVALID_UPDATE_VERSION, NEW_LEADER_ELECTED, UNKNOWN_TOPIC_*: the partition moved on, and
      // the metadata will show it (ending the pending ISR); until then the same request again.
      return alter_partition_next::retry;
  }
}

}  // namespace gregor::server
