#pragma once
// One place that maps the controller's errors to Kafka error codes for the topic admin APIs.
#include "gregor/controller/metadata_store.h"
#include "gregor/protocol/error_code.h"

namespace gregor::server {

inline protocol::error_code to_kafka(controller::controller_errc e) {
  using controller::controller_errc;
  using protocol::error_code;
  switch (e) {
    case controller_errc::topic_already_exists: return error_code::topic_already_exists;
    case controller_errc::unknown_topic: return error_code::unknown_topic_or_partition;
    case controller_errc::invalid_topic: return error_code::invalid_topic_exception;
    case controller_errc::invalid_partitions: return error_code::invalid_partitions;
    case controller_errc::invalid_replication_factor: return error_code::invalid_replication_factor;
    case controller_errc::invalid_config: return error_code::invalid_config;
    case controller_errc::io_error: return error_code::kafka_storage_error;
    case controller_errc::inconsistent_cluster_id: return error_code::inconsistent_cluster_id;
    case controller_errc::invalid_replica_assignment: return error_code::invalid_replica_assignment;
    case controller_errc::invalid_request: return error_code::invalid_request;
    case controller_errc::broker_not_registered: return error_code::broker_id_not_registered;
    case controller_errc::stale_broker_epoch: return error_code::stale_broker_epoch;
    case controller_errc::duplicate_broker_registration: return error_code::duplicate_broker_registration;
    case controller_errc::unknown_topic_id: return error_code::unknown_topic_id;
    case controller_errc::not_leader_or_follower: return error_code::not_leader_or_follower;
    case controller_errc::fenced_leader_epoch: return error_code::fenced_leader_epoch;
    case controller_errc::invalid_update_version: return error_code::invalid_update_version;
    case controller_errc::ineligible_replica: return error_code::ineligible_replica;
    case controller_errc::no_reassignment_in_progress: return error_code::no_reassignment_in_progress;
    case controller_errc::election_not_needed: return error_code::election_not_needed;
    case controller_errc::preferred_leader_not_available: return error_code::preferred_leader_not_available;
    case controller_errc::resource_not_found: return error_code::resource_not_found;
    case controller_errc::eligible_leaders_not_available: return error_code::eligible_leaders_not_available;
  }
  return error_code::unknown_server_error;
}

}  // namespace gregor::server
