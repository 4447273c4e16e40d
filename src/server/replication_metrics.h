#pragma once
// Replication health for /metrics, as Kafka's brokers and controller report it:
//   - gregor_under_replicated_partitions / gregor_under_min_isr_partitions: partitions this broker
//     leads (in the committed metadata image) whose ISR is smaller than their replica set / than
//     min(min.insync.replicas, replication factor) (Kafka's ReplicaManager UnderReplicatedPartitions
//     and UnderMinIsrPartitionCount, with Partition.effectiveMinIsr);
//   - gregor_offline_partitions: partitions of the image with no leader, on the active controller
//     only (Kafka's controller OfflinePartitionsCount), so summing over a cluster counts each once;
//   - gregor_isr_shrinks_total / gregor_isr_expands_total: on the leader, each ISR change of a
//     partition it leads as applied from committed metadata (Kafka's IsrShrinksPerSec and
//     IsrExpandsPerSec);
//   - gregor_replica_lag_messages{topic,partition}: on a follower, the leader's high watermark as
//     last fetched minus this replica's log end offset, at least 0 (Kafka's FetcherLagMetrics
//     ConsumerLag).
// The pure parts are separate functions so they can be tested without a broker.
//
// Threading: the io thread (the collector runs on a /metrics scrape, the ISR hook from the metadata
// publisher); the counters are atomic.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "gregor/controller/metadata_image.h"
#include "gregor/metrics/registry.h"
#include "gregor/replication/partition.h"

namespace gregor::server {

class core;

struct partition_health {
  int64_t under_replicated = 0;  // led by `self`, ISR smaller than the replica set
  int64_t under_min_isr = 0;     // led by `self`, ISR smaller than the effective min ISR
  int64_t offline = 0;           // no leader, whoever hosts them
};

// Counts over the image's topics. `min_isr(topic)` is the topic's effective min.insync.replicas.
partition_health partition_health_of(const std::map<std::string, controller::topic_info>& topics, node_id self,
                                     const std::function<int32_t(const std::string&)>& min_isr);

struct isr_change {
  int64_t shrinks = 0;  // 1 when a member left the ISR
  int64_t expands = 0;  // 1 when a member joined it
};

// What applying `after` over `before` did to the ISR of a partition `self` leads in both, in the
// same leadership (leader epoch); a new leadership or a follower's replica is no ISR change.
isr_change isr_change_of(const replication::replica_set& before, const replication::replica_set& after,
                         node_id self);

// Kafka's follower lag: max(0, leader's high watermark - log end offset); nullopt on a leader or
// before the first fetch of this leadership.
std::optional<int64_t> follower_lag(const replication::partition& p);

// Counts an applied replica-set change into gregor_isr_shrinks_total / gregor_isr_expands_total
// (core::apply_metadata calls it for every partition already hosted here).
void record_isr_change(const replication::replica_set& before, const replication::replica_set& after, node_id self);

// Registers both ISR counters at 0 (so they are scraped before the first change) and returns the
// collector of the gauges above.
metrics::collector replication_collector(core& c);

}  // namespace gregor::server
