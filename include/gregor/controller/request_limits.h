#pragma once
// controller::request_limits: how much one admin request may ask the controller to create, as
// Kafka bounds it. Pure functions, shared by the request handlers that create topics (CreateTopics,
// Metadata's auto-creation) and proven by tests/unit/controller/request_limits_test.cc.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gregor::controller {

// Kafka's per-request partition limit (ReplicationControlManager.validateTotalNumberOfPartitions,
// MAX_PARTITIONS_PER_BATCH = 10000): one CreateTopics request, or the topics one Metadata request
// auto-creates (Kafka sends them to its controller as one CreateTopics request), may ask for at
// most this many partitions in all; above it the controller throws PolicyViolationException with
// this message, every topic of the request is answered POLICY_VIOLATION, and nothing is created.
inline constexpr int64_t partitions_per_request_max = 10000;
inline constexpr std::string_view excessive_partitions_message = "Excessively large number of partitions per request.";

// The partitions one topic of a CreateTopics request counts for, as Kafka counts them: its
// assignments when it has some, else num_partitions (-1: the broker's num.partitions), nothing
// when num_partitions is otherwise not positive (that topic then fails on its own).
inline int64_t requested_partitions(int32_t num_partitions, size_t assignments, int32_t default_partitions) {
  if (assignments > 0) return int64_t(assignments);
  if (num_partitions == -1) return default_partitions;
  return num_partitions > 0 ? num_partitions : 0;
}

inline bool excessive_partitions_per_request(int64_t total) { return total > partitions_per_request_max; }

}  // namespace gregor::controller
