#pragma once
// server::controller_client: the one door through which this broker changes cluster metadata.
//
// Architecture ("Metadata flow"): a handler proposes a change and awaits its commit; it never
// writes the metadata log itself. Each call completes once the change is committed by the active
// controller AND applied to this broker's metadata image (so the handler's answer and any request
// that follows see it), or with the Kafka error the controller gave. Implementations:
//   - single_node_controller (single_node_controller.cc): this node is the only voter; changes go
//     to its metadata store.
//   - the Raft-backed controller and the forwarding client (active controller elsewhere) slot in
//     behind the same interface.
// Validation that needs only the request (duplicate names, config syntax) stays in the handlers;
// validation against the metadata (topic exists, enough brokers) is the controller's.
//
// Threading: called on the broker's io thread from handler coroutines. Implementations may
// suspend (disk, network) but resume on the io thread.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "gregor/base/result.h"
#include "gregor/controller/metadata_image.h"
#include "gregor/controller/quorum_controller.h"
#include "gregor/base/types.h"
#include "gregor/protocol/error_code.h"

namespace gregor::server {

// A Kafka-visible failure of a metadata change: the code for the response and its message.
struct admin_error {
  protocol::error_code code = protocol::error_code::unknown_server_error;
  std::string message;
};

// Config name -> new value; nullopt removes the override (back to the default).
using config_changes = std::map<std::string, std::optional<std::string>>;

// One topic to create. Either `assignments` (one replica list per partition, in partition order;
// partitions and replication_factor then follow from it) or partitions/replication_factor.
struct topic_spec {
  std::string name;
  int32_t partitions = 1;
  int16_t replication_factor = 1;
  std::vector<std::vector<node_id>> assignments;
  std::map<std::string, std::string> configs;  // validated topic config overrides
};

struct created_topic {
  uuid id;  // zero for validate_only
  int32_t partitions = 0;
  int16_t replication_factor = 0;
};

// Producer ids [first, first + size) handed to one broker.
struct producer_id_range {
  int64_t first = 0;
  int32_t size = 0;
};

// One partition of AlterPartitionReassignments: the new replicas, or nullopt to cancel.
struct reassignment {
  std::string topic;
  int32_t partition = 0;
  std::optional<std::vector<node_id>> target;
};

// The outcome for one partition of a multi-partition change (reassignment, election).
struct partition_outcome {
  std::string topic;
  int32_t partition = 0;
  std::optional<admin_error> error;
};

// ElectLeaders' ElectionType.
enum class election_kind : int8_t { preferred = 0, unclean = 1 };
// UpdateFeatures for one feature: the new finalized level (0 removes it); upgrade_type 1 upgrade,
// 2 safe downgrade, 3 unsafe downgrade (Kafka's UpgradeType).
struct feature_change {
  std::string feature;
  int16_t level = 0;
  int8_t upgrade_type = 1;
};
using partition_list = std::vector<std::pair<std::string, int32_t>>;

// An ACL filter as DescribeAcls/DeleteAcls carry it: Kafka's wire codes (1 = ANY; pattern type 2
// = MATCH), nullopt strings match anything.
struct acl_filter {
  int8_t resource_type = 1;
  std::optional<std::string> resource_name;
  int8_t pattern_type = 1;
  std::optional<std::string> principal;
  std::optional<std::string> host;
  int8_t operation = 1;
  int8_t permission_type = 1;
};

// One change of AlterUserScramCredentials: a deletion (remove), or an upsertion with the salt and
// salted password the client computed (the server keeps only StoredKey and ServerKey).
struct scram_alteration {
  std::string user;
  int8_t mechanism = 0;  // 1 SCRAM-SHA-256, 2 SCRAM-SHA-512
  bool remove = false;
  int32_t iterations = 0;
  std::vector<uint8_t> salt;
  std::vector<uint8_t> salted_password;
};

// One entry of AlterClientQuotas as the request carries it (entity pairs in request order, ops),
// and the answer for one distinct entity.
using quota_alteration = controller::quorum_controller::quota_alteration;
struct quota_outcome {
  controller::quota_entity entity;  // sorted by type
  std::optional<admin_error> error;
};

// Who asked for a topic mutation (CreateTopics, DeleteTopics, CreatePartitions), when the change
// goes to an active controller on another node. KIP-599's controller mutation quota is the active
// controller's (one bucket per user / client id for the whole cluster), so the forwarding client
// sends the change inside an Envelope (KIP-590) carrying the client's principal, address, client id
// and request version (strict or permissive quota), as Kafka's brokers forward them; the
// controller's throttle time comes back in `throttle_ms` (the largest of the calls).
struct mutation_requester {
  std::string principal = "User:ANONYMOUS";  // "Type:Name"
  std::string host;                          // the client's address
  std::string client_id;
  int16_t version = 0;      // the client's request version (of the API being forwarded)
  int32_t throttle_ms = 0;  // out
};

class controller_client {
 public:
  template <class T>
  using outcome = boost::asio::awaitable<result<T, admin_error>>;

  virtual ~controller_client() = default;

  // True when topic mutations go to an active controller on another node (the quota is charged
  // there, through the mutation_requester); false when this node's controller carries them out.
  virtual bool forwards_mutations() const { return false; }
  // `who`: see mutation_requester (null: a change of the broker's own, never quota-limited).
  virtual outcome<created_topic> create_topic(topic_spec spec, bool validate_only,
                                              mutation_requester* who = nullptr) = 0;
  virtual outcome<void> delete_topic(std::string name, mutation_requester* who = nullptr) = 0;
  // Grows `name` to `total` partitions; `assignments` (optional) lists the replicas of each new one.
  virtual outcome<void> create_partitions(std::string name, int32_t total,
                                          std::vector<std::vector<node_id>> assignments,
                                          bool validate_only, mutation_requester* who = nullptr) = 0;
  virtual outcome<void> alter_topic_configs(std::string name, config_changes changes) = 0;
  // resource: "" for the cluster-wide default, else a broker id in decimal.
  virtual outcome<void> alter_broker_configs(std::string resource, config_changes changes) = 0;
  virtual outcome<producer_id_range> allocate_producer_ids(node_id broker, int32_t count) = 0;
  // Starts or cancels reassignments; one outcome per item, in order.
  virtual outcome<std::vector<partition_outcome>> alter_partition_reassignments(std::vector<reassignment> items) = 0;
  // nullopt = every partition (then only partitions that needed an election are reported).
  virtual outcome<std::vector<partition_outcome>> elect_leaders(election_kind kind,
                                                                std::optional<partition_list> partitions) = 0;
  // All or nothing (Kafka's rules: controller::quorum_controller::update_features).
  virtual outcome<void> update_features(std::vector<feature_change> changes, bool validate_only) = 0;
  // ACLs (validated by the handler): existing equal bindings are kept, not duplicated.
  virtual outcome<void> create_acls(std::vector<controller::acl_entry> acls) = 0;
  // Per filter, the ACLs it matched (all of them removed).
  virtual outcome<std::vector<std::vector<controller::acl_entry>>> delete_acls(std::vector<acl_filter> filters) = 0;
  // One result per change, in order (validated by the handler: mechanism, iterations, duplicates).
  virtual outcome<std::vector<std::optional<admin_error>>> alter_scram_credentials(
      std::vector<scram_alteration> changes) = 0;
  // One outcome per distinct entity (Kafka's rules: controller::quorum_controller::alter_client_quotas).
  virtual outcome<std::vector<quota_outcome>> alter_client_quotas(std::vector<quota_alteration> entries,
                                                                  bool validate_only) = 0;
};

}  // namespace gregor::server
