#pragma once
// The controller_client implementations of cluster mode.
//
//   - forwarding_controller_client: what a broker's handlers use. When this node is the active
//     controller the change goes straight to active_controller; otherwise the request is sent
//     (CreateTopics, DeleteTopics, CreatePartitions, IncrementalAlterConfigs, AllocateProducerIds,
//     AlterPartitionReassignments, ElectLeaders, UpdateFeatures, AlterClientQuotas, ..., as Kafka's brokers forward them) to the quorum leader's controller listener, retried on
//     NOT_CONTROLLER or a lost connection until the request's deadline, and answered only once
//     this broker's own image shows the change (so the client's next request here sees it).
//   - active_only_controller_client: what requests arriving on a controller listener use. They
//     were forwarded to this node because it was believed to lead: they are never forwarded again
//     (NOT_CONTROLLER sends the sender back to look for the leader).
//
// Threading: the io thread.
#include <functional>

#include <boost/asio/awaitable.hpp>

#include "active_controller.h"
#include "controller_client.h"
#include "metadata_quorum.h"

namespace gregor::server {

// How long a forwarded admin change may take, leader search and retries included.
inline constexpr int64_t controller_request_timeout_ms = 30000;

class active_only_controller_client final : public controller_client {
 public:
  explicit active_only_controller_client(active_controller* active) : _active(active) {}
  outcome<created_topic> create_topic(topic_spec spec, bool validate_only, mutation_requester* who = nullptr) override;
  outcome<void> delete_topic(std::string name, mutation_requester* who = nullptr) override;
  outcome<void> create_partitions(std::string name, int32_t total, std::vector<std::vector<node_id>> assignments,
                                  bool validate_only, mutation_requester* who = nullptr) override;
  outcome<void> alter_topic_configs(std::string name, config_changes changes) override;
  outcome<void> alter_broker_configs(std::string resource, config_changes changes) override;
  // Only through AllocateProducerIds (which names the broker epoch): refused here.
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
  active_controller* _active;  // null on a broker-only node
};

class forwarding_controller_client final : public controller_client {
 public:
  // `broker_epoch` tells this broker's current epoch (AllocateProducerIds carries it).
  forwarding_controller_client(metadata_quorum& quorum, active_controller* local,
                               std::function<int64_t()> broker_epoch)
      : _quorum(quorum), _local(local), _broker_epoch(std::move(broker_epoch)) {}

  bool forwards_mutations() const override { return !local_active(); }
  outcome<created_topic> create_topic(topic_spec spec, bool validate_only, mutation_requester* who = nullptr) override;
  outcome<void> delete_topic(std::string name, mutation_requester* who = nullptr) override;
  outcome<void> create_partitions(std::string name, int32_t total, std::vector<std::vector<node_id>> assignments,
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
  // This node leads and its controller is active.
  bool local_active() const;
  // Sends `req` to the active controller until it answers with something other than
  // NOT_CONTROLLER (`not_controller(resp)`), or the deadline passes. With `who`, inside an
  // Envelope on the client's behalf, at the client's version (mutation_requester).
  template <class Req, class Resp>
  boost::asio::awaitable<result<Resp, admin_error>> send(const Req& req, std::function<bool(const Resp&)> not_controller,
                                                         mutation_requester* who = nullptr);
  outcome<void> alter_configs(int8_t type, std::string name, config_changes changes);

  metadata_quorum& _quorum;
  active_controller* _local;
  std::function<int64_t()> _broker_epoch;
};

}  // namespace gregor::server
