#pragma once
// The route of every API we serve; each is defined in its own file in this directory.
#include "../authorizer.h"
#include "../route.h"

namespace gregor::server {

api_route api_versions_route();
api_route metadata_route();
api_route produce_route();
api_route fetch_route();
api_route list_offsets_route();
api_route create_topics_route();
api_route delete_topics_route();
api_route create_partitions_route();
api_route describe_configs_route();
api_route describe_cluster_route();
// Log durability and runtime topic configs (delete_records.cc, alter_configs.cc, ...).
api_route delete_records_route();
api_route alter_configs_route();
api_route incremental_alter_configs_route();
// Consumer groups and committed offsets (group_service.h).
api_route find_coordinator_route();
api_route join_group_route();
api_route sync_group_route();
api_route heartbeat_route();
api_route leave_group_route();
api_route offset_commit_route();
api_route offset_fetch_route();
api_route offset_delete_route();
api_route txn_offset_commit_route();  // transactional offsets (txn_offset_commit.cc)
api_route list_groups_route();
api_route describe_groups_route();
api_route delete_groups_route();
api_route consumer_group_heartbeat_route();
api_route consumer_group_describe_route();
api_route init_producer_id_route();
api_route add_partitions_to_txn_route();
api_route add_offsets_to_txn_route();
api_route end_txn_route();
api_route write_txn_markers_route();
api_route describe_transactions_route();
api_route list_transactions_route();
api_route describe_producers_route();
api_route describe_topic_partitions_route();
api_route describe_log_dirs_route();
// Reassignments and leader elections (partition_reassignments.cc, elect_leaders.cc).
api_route alter_partition_reassignments_route();
api_route list_partition_reassignments_route();
api_route elect_leaders_route();
// Finalized feature levels (update_features.cc).
api_route update_features_route();
// Security: SASL (sasl.cc), ACLs (acls.cc), SCRAM credentials (scram_credentials.cc).
api_route sasl_handshake_route();
api_route sasl_authenticate_route();
api_route create_acls_route();
api_route describe_acls_route();
api_route delete_acls_route();
api_route alter_user_scram_credentials_route();
api_route describe_user_scram_credentials_route();
api_route describe_client_quotas_route();
api_route alter_client_quotas_route();  // client quotas (alter_client_quotas.cc)
// The controller quorum (quorum_rpcs.cc) and broker-to-controller RPCs (broker_rpcs.cc).
api_route vote_route();
api_route begin_quorum_epoch_route();
api_route end_quorum_epoch_route();
api_route fetch_snapshot_route();
api_route describe_quorum_route();
api_route add_raft_voter_route();
api_route remove_raft_voter_route();
api_route update_raft_voter_route();
api_route broker_registration_route();
api_route broker_heartbeat_route();
api_route allocate_producer_ids_route();
api_route alter_partition_route();
api_route offset_for_leader_epoch_route();
api_route envelope_route();  // a forwarded client request (envelope.cc)

// The controller_client a request must use (controller listener: never forwarded again).
inline controller_client& controller_for(core& c, const request_context& ctx) {
  return c.controller_for(ctx.conn.listener_name);
}

inline int16_t code(protocol::error_code e) { return protocol::code_of(e); }

// Whether the request's principal may perform `op` on the resource (authorizer.h; always when no
// authorizer is configured).
inline bool authorized(request_context& ctx, security::acl_operation op, security::resource_type type,
                       std::string_view name) {
  return !ctx.authz || !ctx.session || ctx.authz->allowed(*ctx.session, op, type, name);
}
inline bool cluster_authorized(request_context& ctx, security::acl_operation op) {
  return authorized(ctx, op, security::resource_type::cluster, security::cluster_resource_name);
}
inline bool topic_authorized(request_context& ctx, security::acl_operation op, std::string_view topic) {
  return authorized(ctx, op, security::resource_type::topic, topic);
}
inline bool group_authorized(request_context& ctx, security::acl_operation op, std::string_view group) {
  return authorized(ctx, op, security::resource_type::group, group);
}
inline bool transactional_id_authorized(request_context& ctx, security::acl_operation op, std::string_view id) {
  return authorized(ctx, op, security::resource_type::transactional_id, id);
}
// Kafka's authorizeByResourceType: allowed on at least one resource of the type (IdempotentWrite's
// fallback: Write on any topic).
inline bool authorized_on_any(request_context& ctx, security::acl_operation op, security::resource_type type) {
  return !ctx.authz || !ctx.session || ctx.authz->allowed_any(*ctx.session, op, type);
}
// The *_authorized_operations bit field of a resource: bit n set when operation code n is allowed
// (every operation the resource type supports when no authorizer is configured), as Kafka's
// AuthHelper.authorizedOperations.
inline int32_t authorized_operations(request_context& ctx, security::resource_type type, std::string_view name) {
  if (!ctx.authz || !ctx.session) return security::supported_operations_bits(type);
  return ctx.authz->authorized_operations(*ctx.session, type, name);
}
using acl_op = security::acl_operation;

// Kafka's authorization of a config resource (DescribeConfigs with DescribeConfigs, the alters with
// AlterConfigs): a topic (2) by the topic (TOPIC_AUTHORIZATION_FAILED), a broker (4) or broker
// logger (8) by the cluster (CLUSTER_AUTHORIZATION_FAILED). Returns the error, none when allowed
// (other resource types are left to the handler).
inline protocol::error_code config_resource_denial(request_context& ctx, int8_t resource_type,
                                                   std::string_view name, security::acl_operation op) {
  switch (resource_type) {
    case 2: return topic_authorized(ctx, op, name) ? protocol::error_code::none
                                                   : protocol::error_code::topic_authorization_failed;
    case 4:
    case 8: return cluster_authorized(ctx, op) ? protocol::error_code::none
                                               : protocol::error_code::cluster_authorization_failed;
    default: return protocol::error_code::none;
  }
}
// The messages of Kafka's Errors for the authorization failures.
inline std::string_view authorization_message(protocol::error_code e) {
  switch (e) {
    case protocol::error_code::topic_authorization_failed: return "Topic authorization failed.";
    case protocol::error_code::group_authorization_failed: return "Group authorization failed.";
    case protocol::error_code::cluster_authorization_failed: return "Cluster authorization failed.";
    case protocol::error_code::transactional_id_authorization_failed: return "Transactional Id authorization failed.";
    default: return "";
  }
}

}  // namespace gregor::server
