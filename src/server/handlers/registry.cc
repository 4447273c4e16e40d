// The one list of APIs this broker serves. Version ranges live in each handler's file.
#include <algorithm>
#include <array>

#include "handlers.h"

namespace gregor::server {
namespace {

std::vector<api_route> build() {
  std::vector<api_route> routes = {
      produce_route(),       fetch_route(),           list_offsets_route(),
      metadata_route(),      api_versions_route(),    create_topics_route(),
      delete_topics_route(), describe_configs_route(), create_partitions_route(),
      describe_cluster_route(),
      delete_records_route(), alter_configs_route(), incremental_alter_configs_route(),
      find_coordinator_route(), join_group_route(), sync_group_route(), heartbeat_route(),
      leave_group_route(), offset_commit_route(), offset_fetch_route(), offset_delete_route(),
      txn_offset_commit_route(),
      list_groups_route(), describe_groups_route(), delete_groups_route(),
      consumer_group_heartbeat_route(), consumer_group_describe_route(),
      init_producer_id_route(), describe_producers_route(), describe_topic_partitions_route(),
      vote_route(), begin_quorum_epoch_route(), end_quorum_epoch_route(), fetch_snapshot_route(),
      describe_quorum_route(), broker_registration_route(), broker_heartbeat_route(),
      allocate_producer_ids_route(), alter_partition_route(), offset_for_leader_epoch_route(),
      describe_log_dirs_route(), alter_partition_reassignments_route(),
      list_partition_reassignments_route(), elect_leaders_route(), update_features_route(),
      add_raft_voter_route(), remove_raft_voter_route(), update_raft_voter_route(),
      add_partitions_to_txn_route(), add_offsets_to_txn_route(), end_txn_route(), write_txn_markers_route(),
      describe_transactions_route(), list_transactions_route(),
      sasl_handshake_route(), sasl_authenticate_route(), create_acls_route(), describe_acls_route(),
      delete_acls_route(), alter_user_scram_credentials_route(), describe_user_scram_credentials_route(),
      describe_client_quotas_route(), alter_client_quotas_route(), envelope_route(),
  };
  std::sort(routes.begin(), routes.end(),
            [](const api_route& a, const api_route& b) { return a.key < b.key; });
  return routes;
}

const std::vector<api_route>& routes() {
  static const std::vector<api_route> r = build();
  return r;
}

}  // namespace

std::span<const api_route> all_routes() { return routes(); }

const api_route* find_route(int16_t key) {
  const auto& r = routes();
  auto it = std::lower_bound(r.begin(), r.end(), key,
                             [](const api_route& a, int16_t k) { return a.key < k; });
  return it != r.end() && it->key == key ? &*it : nullptr;
}

}  // namespace gregor::server
