#pragma once
// server::single_node_controller: the controller_client of a node that is the only voter of its
// controller quorum. Changes go to this node's metadata store (validated there against the image,
// written and fsynced as one batch, applied), then core::apply_metadata() publishes them to the
// broker side (replica transitions, topic settings) before the call completes.
//
// Owned by core. Threading: the io thread only.
#include "controller_client.h"

namespace gregor::server {

class core;

class single_node_controller final : public controller_client {
 public:
  explicit single_node_controller(core& c) : _core(c) {}

  outcome<created_topic> create_topic(topic_spec spec, bool validate_only, mutation_requester* who = nullptr) override;
  outcome<void> delete_topic(std::string name, mutation_requester* who = nullptr) override;
  outcome<void> create_partitions(std::string name, int32_t total,
                                  std::vector<std::vector<node_id>> assignments,
                                  bool validate_only, mutation_requester* who = nullptr) override;
  outcome<void> alter_topic_configs(std::string name, config_changes changes) override;
  outcome<void> alter_broker_configs(std::string resource, config_changes changes) override;
  outcome<producer_id_range> allocate_producer_ids(node_id broker, int32_t count) override;
  outcome<std::vector<partition_outcome>> alter_partition_reassignments(std::vector<reassignment> items) override;
  outcome<std::vector<partition_outcome>> elect_leaders(election_kind kind, std::optional<partition_list> partitions) override;
  outcome<void> update_features(std::vector<feature_change> changes, bool validate_only) override;
  outcome<void> create_acls(std::vector<controller::acl_entry> acls) override;
  outcome<std::vector<std::vector<controller::acl_entry>>> delete_acls(std::vector<acl_filter> filters) override;
  outcome<std::vector<std::optional<admin_error>>> alter_scram_credentials(std::vector<scram_alteration> changes) override;
  outcome<std::vector<quota_outcome>> alter_client_quotas(std::vector<quota_alteration> entries,
                                                          bool validate_only) override;

 private:
  core& _core;
};

}  // namespace gregor::server
