#pragma once
// The cluster metadata image: brokers (epochs, endpoints, fencing), topics with ids, partition
// assignments, leaders, leader and partition epochs, ISR, reassignments, topic and broker configs,
// feature levels (metadata.version) and the producer id high mark, as applied from Kafka's
// metadata records (gregor::protocol::metadata, the records of `__cluster_metadata`).
//
// Owned by metadata_store, which is its only writer (through apply()). Readers get a const
// reference; topic_info pointers stay valid until that topic is removed. Not thread-safe: the
// server reads and writes it from the controller's strand.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gregor/base/types.h"
#include "gregor/controller/metadata_records.h"
#include "gregor/protocol/metadata/all_records.h"

namespace gregor::controller {

// Kafka's LeaderRecoveryState.
enum class leader_recovery_state : int8_t { recovered = 0, recovering = 1 };

struct partition_info {
  partition_id id;
  node_id leader = no_node;
  ::gregor::leader_epoch leader_epoch{0};
  std::vector<node_id> replicas;
  std::vector<node_id> isr;
  int32_t partition_epoch = 0;  // bumps on every change of the partition
  leader_recovery_state recovery_state = leader_recovery_state::recovered;
  std::vector<node_id> adding_replicas{};  // reassignment in progress
  std::vector<node_id> removing_replicas{};
};

struct topic_info {
  std::string name;
  uuid id;
  std::vector<partition_info> partitions;  // index == partition id
  std::map<std::string, std::string> configs;  // topic config overrides only
  bool internal = false;
};

// One listener of a broker (RegisterBrokerRecord's endpoints).
struct broker_endpoint {
  std::string listener;  // listener name, e.g. "PLAINTEXT"
  std::string host;
  int32_t port = 0;
  int16_t security_protocol = 0;  // Kafka's SecurityProtocol id: 0 PLAINTEXT, 1 SSL, 2 SASL_PLAINTEXT, 3 SASL_SSL
  bool operator==(const broker_endpoint&) const = default;
};

struct broker_info {
  node_id id;
  std::string host;  // of the first endpoint (what single-listener callers use)
  int32_t port = 0;
  std::optional<std::string> rack;
  int64_t epoch = 0;  // broker epoch (the offset of its registration)
  uuid incarnation_id{};
  std::vector<broker_endpoint> endpoints{};
  bool fenced = false;
  bool in_controlled_shutdown = false;
};

// A user's SCRAM credential for one mechanism (UserScramCredentialRecord): what the server needs
// to check a SCRAM exchange; the password itself is never stored.
struct scram_credential_entry {
  std::vector<uint8_t> salt, stored_key, server_key;
  int32_t iterations = 0;
  bool operator==(const scram_credential_entry&) const = default;
};

// One ACL (AccessControlEntryRecord), with Kafka's wire codes for the enums.
struct acl_entry {
  uuid id;
  int8_t resource_type = 0;
  std::string resource_name;
  int8_t pattern_type = 0;
  std::string principal;
  std::string host;
  int8_t operation = 0;
  int8_t permission_type = 0;
  bool operator==(const acl_entry&) const = default;
};

// A client quota entity (ClientQuotaRecord's Entity): (entity type, name or nullopt = default),
// sorted by type, e.g. {("client-id", "app"), ("user", nullopt)}.
using quota_entity = std::vector<std::pair<std::string, std::optional<std::string>>>;
// A ClientQuotaRecord naming `entity` and `key` (value and remove left for the caller).
protocol::metadata::client_quota_record client_quota_record_for(const quota_entity& entity, std::string key);

// Kafka's config resource types in ConfigRecord.
inline constexpr int8_t config_resource_topic = 2;
inline constexpr int8_t config_resource_broker = 4;
inline constexpr const char* metadata_version_feature = "metadata.version";
// The metadata.version level Gregor writes when it creates a metadata log and supports at most:
// 30, what Kafka 4.3.1 bootstraps a new cluster with (checked against its own log).
inline constexpr int16_t latest_metadata_version = 30;
// group.version 1: the consumer group protocol (KIP-848), which Gregor serves.
inline constexpr const char* group_version_feature = "group.version";
inline constexpr const char* kraft_version_feature = "kraft.version";
// transaction.version 2: KIP-890 part 2 (an epoch bump per transaction, partitions added by their
// leaders on Produce v12+, EndTxn v5); 1: flexible transaction log records; 0: neither. Kafka 4.x
// bootstraps a new cluster at 2, and so do we; clients read the finalized level from ApiVersions.
inline constexpr const char* transaction_version_feature = "transaction.version";

// The feature levels Gregor supports (ApiVersions' SupportedFeatures, the bounds of
// UpdateFeatures, a broker's registration): metadata.version from 3.3-IV3 (level 7, Kafka 4.x's
// minimum) to latest_metadata_version; kraft.version 1 is the dynamic quorum (KIP-853);
// group.version 1 the consumer group protocol (KIP-848).
struct feature_range {
  const char* name;
  int16_t min;
  int16_t max;
};
inline constexpr feature_range supported_features[] = {
    {metadata_version_feature, 7, latest_metadata_version},
    {kraft_version_feature, 0, 1},
    {group_version_feature, 0, 1},
    {transaction_version_feature, 0, 2},
};
// The range of `name` in supported_features, null when Gregor does not know it.
constexpr const feature_range* supported_feature(std::string_view name) {
  for (const auto& f : supported_features)
    if (name == f.name) return &f;
  return nullptr;
}
// metadata.version's range (a broker registers with it).
inline constexpr const feature_range& metadata_version_range = supported_features[0];

// The FeatureLevelRecords a new metadata log starts with, as `kafka-storage format` writes them:
// metadata.version at latest_metadata_version, group.version 1 and transaction.version 2.
std::vector<protocol::metadata::feature_level_record> bootstrap_features();

// The cluster id in the metadata log (cluster mode): the first elected leader draws one (or takes
// cluster.id) and commits it with the bootstrap metadata.version FeatureLevelRecord, as an unknown
// tagged field (tag `cluster_id_tag`, the id's characters), which Kafka's generated readers skip.
// Snapshots carry it on their metadata.version record. Every node adopts the id it applies.
inline constexpr uint32_t cluster_id_tag = 10000;
// The id a FeatureLevelRecord carries, empty when none.
std::string record_cluster_id(const protocol::metadata::feature_level_record& r);
void set_record_cluster_id(protocol::metadata::feature_level_record& r, std::string_view cluster_id);
// A fresh random cluster id as Kafka prints them (22 characters of URL-safe base64), never the
// zero uuid and never containing '-' (so no tool takes it for an option).
std::string new_cluster_id();

class metadata_image {
 public:
  const std::string& cluster_id() const { return _cluster_id; }
  // The cluster id the applied records carry (see cluster_id_tag), empty when none; the first
  // one applied stays.
  const std::string& log_cluster_id() const { return _log_cluster_id; }
  node_id controller_id() const { return _controller_id; }
  const topic_info* topic(std::string_view name) const;
  const topic_info* topic(uuid id) const;
  const std::map<std::string, topic_info>& topics() const { return _topics; }  // sorted by name
  const std::map<node_id, broker_info>& brokers() const { return _brokers; }
  // Bumps on every applied record (a cheap "has anything changed" check for caches).
  int64_t version() const { return _version; }
  // First producer id not yet handed out in a block (producer_ids_record); 0 when none was.
  int64_t next_producer_id() const { return _next_producer_id; }
  // Dynamic broker configs by resource name ("" = cluster-wide default, "<id>" = one broker).
  const std::map<std::string, std::map<std::string, std::string>>& broker_configs() const {
    return _broker_configs;
  }
  // One resource's dynamic configs (empty when none).
  const std::map<std::string, std::string>& broker_configs(const std::string& resource) const;

  // SCRAM credentials by user, then by mechanism type (1 SCRAM-SHA-256, 2 SCRAM-SHA-512).
  const std::map<std::string, std::map<int8_t, scram_credential_entry>>& scram_credentials() const {
    return _scram;
  }
  // ACLs by id, and a counter that bumps on every ACL change (authorizer caches rebuild on it).
  const std::map<uuid, acl_entry>& acls() const { return _acls; }
  int64_t acl_version() const { return _acl_version; }
  // Client quotas by entity: quota name (producer_byte_rate, ...) -> value.
  const std::map<quota_entity, std::map<std::string, double>>& client_quotas() const { return _quotas; }

  // Finalized feature levels by name (FeatureLevelRecord), e.g. "metadata.version".
  const std::map<std::string, int16_t>& features() const { return _features; }
  // metadata.version's feature level, 0 when none was recorded.
  int16_t metadata_version() const;

  // Applies one of Kafka's records. Returns "" or why the record does not fit the image (a
  // partition of an unknown topic, a topic id reused, a fence of an unknown broker); such a record
  // changes nothing. Record types the image does not keep (delegation tokens, transaction markers
  // of the log, NoOp) are accepted and ignored.
  std::string apply(const protocol::metadata::any_record& r);

  // A record of Gregor's former GRGMETA format (metadata_records.h) as Kafka's records, given this
  // image's state (a topic config names the topic; an old partition change carried its epoch, so
  // it becomes a whole PartitionRecord). Empty when it has no Kafka form (broker_record:
  // registrations are not persisted) or names an unknown topic or partition.
  std::vector<protocol::metadata::any_record> from_legacy(const metadata_record& r) const;
  // from_legacy, then apply each (the conversion of old logs, and callers of the old records).
  std::string apply(const metadata_record& legacy);

  // The whole image as Kafka's records, in the order Kafka writes a snapshot: features, brokers,
  // topics with their partitions, configs, producer ids, client quotas, SCRAM credentials, ACLs. Applying them to an empty image gives
  // this image back (less the identity set by set_identity).
  std::vector<protocol::metadata::api_message_and_version> to_records() const;

  void set_identity(std::string cluster_id, node_id controller) {
    _cluster_id = std::move(cluster_id);
    _controller_id = controller;
  }
  void put_broker(broker_info b);

 private:
  std::string _cluster_id;
  std::string _log_cluster_id;
  node_id _controller_id = no_node;
  std::map<std::string, topic_info> _topics;
  std::unordered_map<uuid, std::string> _names_by_id;
  std::map<node_id, broker_info> _brokers;
  int64_t _version = 0;
  int64_t _next_producer_id = 0;
  std::map<std::string, std::map<std::string, std::string>> _broker_configs;
  std::map<std::string, int16_t> _features;
  std::map<std::string, std::map<int8_t, scram_credential_entry>> _scram;
  std::map<uuid, acl_entry> _acls;
  int64_t _acl_version = 0;
  std::map<quota_entity, std::map<std::string, double>> _quotas;
};

}  // namespace gregor::controller
