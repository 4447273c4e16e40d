#pragma once
// The controller module's expected failures, mapped to Kafka error codes by the server in one
// place (server/handlers/topic_errors.h).
#include <string>

namespace gregor::controller {

enum class controller_errc {
  topic_already_exists,
  unknown_topic,
  invalid_topic,
  invalid_partitions,
  invalid_replication_factor,
  invalid_config,
  io_error,  // also: metadata log files that are unreadable or corrupt beyond a torn tail
  inconsistent_cluster_id,  // meta.properties names another cluster or node (refuse to start)
  invalid_replica_assignment,     // an explicit assignment names unknown brokers or repeats one
  invalid_request,                // a malformed registration or heartbeat
  broker_not_registered,          // a heartbeat or request from a broker the controller does not know
  stale_broker_epoch,             // from an older incarnation of the broker
  duplicate_broker_registration,  // another live process registered this broker id
  // AlterPartition (an ISR change from a partition leader):
  unknown_topic_id,               // no topic with that id
  not_leader_or_follower,         // the sender does not lead the partition (or no such partition)
  fenced_leader_epoch,            // the sender's leader epoch is not the partition's
  invalid_update_version,         // the sender's partition epoch is stale
  ineligible_replica,             // a new ISR member is fenced, shutting down or not a replica
  // Reassignments and leader elections:
  no_reassignment_in_progress,    // a cancellation for a partition that is not being reassigned
  election_not_needed,            // the partition already has the leader the election would pick
  preferred_leader_not_available, // the preferred replica is not in the ISR or not live
  eligible_leaders_not_available, // no live replica may lead (an unclean election found none)
  // Credentials:
  resource_not_found,             // deletion of a SCRAM credential the user does not have
};
struct controller_error {
  controller_errc code = controller_errc::io_error;
  std::string message;
};

}  // namespace gregor::controller
