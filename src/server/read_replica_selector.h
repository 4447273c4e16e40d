#pragma once
// server::most_caught_up_replica: the choice Kafka's RackAwareReplicaSelector makes (KIP-392) among
// the followers in the consumer's rack when the leader is not in it: the highest log end offset,
// ties broken by the latest last-caught-up time (Kafka's ReplicaView comparator: log end offset,
// then the shortest time since last caught up), then by the lowest broker id (Kafka leaves that
// to set order; a fixed order keeps answers stable).
#include <cstdint>
#include <optional>
#include <span>

#include "gregor/base/types.h"

namespace gregor::server {

struct read_replica_candidate {
  node_id id;
  offset end;                     // log end offset as the leader last saw it
  int64_t last_caught_up_ms = 0;  // monotonic ms (replication::partition::follower_last_caught_up_ms)
};

std::optional<node_id> most_caught_up_replica(std::span<const read_replica_candidate> candidates);

}  // namespace gregor::server
