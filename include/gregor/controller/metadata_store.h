#pragma once
// The metadata store: the single-node state machine of the cluster metadata. Owns the metadata
// log in KRaft's layout (<log dir>/__cluster_metadata-0/, see metadata_log.h: Kafka's records in
// v2 batches, quorum-state, leader-epoch-checkpoint, snapshots), the image applied from it, and
// <log dir>/meta.properties (Kafka's format: version=1, cluster.id, node.id, directory.id).
//
// Every broker is a cluster member: today this node is the single voter and so the controller;
// each open starts a new leader epoch (quorum-state, then a LeaderChangeMessage control batch).
// Created once by the server at start-up; called from one thread/strand (not thread-safe).
// Invariant: the image equals the replay of the log; a change is applied only after its batch is
// written and fsynced. One operation is one batch, so a torn write loses all of it or nothing.
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gregor/base/clock.h"
#include "gregor/base/result.h"
#include "gregor/base/types.h"
#include "gregor/controller/controller_error.h"
#include "gregor/controller/metadata_image.h"
#include "gregor/controller/metadata_log.h"
#include "gregor/controller/metadata_records.h"

namespace gregor::controller {

// A range of producer ids owned by one broker: [first, first + size).
struct producer_id_block {
  node_id broker;
  int64_t first = 0;
  int32_t size = 0;
};

// Largest partition count of one topic: bounds the records and memory one request can create.
inline constexpr int32_t topic_partitions_max = 100000;
// Kafka's topic name length limit.
inline constexpr size_t topic_name_bytes_max = 249;

class metadata_store {
 public:
  // dir = <log_dir>/__cluster_metadata-0. Replays the latest snapshot and the log after it; a torn
  // tail is truncated at the last valid batch. A metadata log of Gregor's former private format
  // (`metadata.log` starting with "GRGMETA") is converted once into Kafka's records and removed.
  // Reads/writes <log_dir>/meta.properties and refuses to start when its node.id or cluster.id differ from ours. An empty cluster id takes the persisted one,
  // or generates one (22-character base64 uuid, as Kafka prints them).
  static result<std::unique_ptr<metadata_store>, controller_error> open(std::filesystem::path log_dir, node_id self,
                                                                        std::string cluster_id_or_empty, clock& clk);
  ~metadata_store();
  metadata_store(const metadata_store&) = delete;
  metadata_store& operator=(const metadata_store&) = delete;

  const metadata_image& image() const { return _image; }
  node_id self() const { return _self; }
  const std::filesystem::path& metadata_dir() const { return _dir; }

  // In-memory liveness (not persisted): brokers register at start-up and on reconnect.
  void register_broker(broker_info b);
  // Brokers that count for replica assignment: the registered ones, or this node alone when none
  // registered yet.
  std::vector<node_id> live_brokers() const;

  // Validates (name rules, partitions >= 1, 1 <= replication_factor <= live brokers; configs are
  // validated by the caller) then, unless validate_only, appends one frame (fsync) and applies it.
  // Assigns a random topic id, replicas round-robin over live brokers, leader = first replica,
  // leader_epoch 0, isr = replicas. With validate_only the returned pointer is null.
  result<const topic_info*, controller_error> create_topic(const std::string& name, int32_t partitions,
                                                           int16_t replication_factor,
                                                           std::map<std::string, std::string> configs,
                                                           bool validate_only);
  result<void, controller_error> delete_topic(const std::string& name);
  result<void, controller_error> create_partitions(const std::string& name, int32_t new_total, bool validate_only);
  // nullopt = remove the override.
  result<void, controller_error> set_topic_configs(const std::string& name,
                                                   std::map<std::string, std::optional<std::string>> changes);
  // Finalized feature levels (UpdateFeatures, decided by quorum_controller::update_features):
  // one fsynced frame of these records.
  result<void, controller_error> set_feature_levels(std::vector<protocol::metadata::feature_level_record> records);
  // Dynamic broker configs of `resource` ("" = cluster-wide default, else a broker id in decimal):
  // one fsynced frame of broker_config_records (nullopt = remove). Values are validated by the
  // caller (config::validate_dynamic_broker_changes).
  result<void, controller_error> set_broker_configs(const std::string& resource,
                                                    std::map<std::string, std::optional<std::string>> changes);
  // Records decided by quorum_controller on a copy of the image (ACLs, SCRAM credentials): one
  // fsynced frame, then applied.
  result<void, controller_error> commit_records(const std::vector<protocol::metadata::api_message_and_version>& records);
  // Leader/ISR change of one partition (for replication; bumps nothing by itself: pass the epoch).
  result<void, controller_error> change_partition(const std::string& name, partition_id p, node_id leader,
                                                  leader_epoch epoch, std::vector<node_id> isr);

  // Hands `broker` the next `count` producer ids [first, first + count) and persists the new
  // high mark first (one fsynced frame), so no id is handed out twice, even after a restart.
  // count must be >= 1.
  result<producer_id_block, controller_error> allocate_producer_ids(node_id broker, int32_t count);

  // Writes a snapshot of the image at the log end (`<end>-<epoch>.checkpoint`, atomically) and
  // returns its id; the log keeps its segments until delete_log_below_snapshot().
  result<snapshot_id, controller_error> write_snapshot();
  // Deletes the metadata log segments wholly below the latest snapshot (and older snapshots).
  result<size_t, controller_error> delete_log_below_snapshot();
  const metadata_log& log() const { return *_log; }
  // The leader epoch this node started when it opened the store (it is the quorum's only voter).
  leader_epoch epoch() const { return _epoch; }

  // "" if ok, else the reason (Kafka's rules: non-empty, not "." or "..", <= 249 chars,
  // only [a-zA-Z0-9._-]).
  static std::string validate_topic_name(std::string_view name);

 private:
  metadata_store(std::filesystem::path dir, node_id self, clock& clk);
  result<void, controller_error> append(std::vector<protocol::metadata::any_record> records);
  // The FeatureLevelRecords a new log starts with (bootstrap_features()).
  result<void, controller_error> append_bootstrap_features();
  result<void, controller_error> replay(recovered_metadata_log& rec);
  result<void, controller_error> convert_legacy(const std::filesystem::path& legacy);
  result<void, controller_error> start_epoch(const recovered_metadata_log& rec, bool fresh);

  std::filesystem::path _dir;
  node_id _self;
  clock& _clock;
  std::unique_ptr<metadata_log> _log;
  leader_epoch _epoch{0};
  metadata_image _image;
  std::map<node_id, broker_info> _registered;
};

// meta.properties, as Kafka writes it in every log directory.
struct meta_properties {
  int32_t version = 1;
  std::string cluster_id;
  ::gregor::node_id node_id{-1};
  std::string directory_id;
};
// Reads <dir>/meta.properties: nullopt when absent; an error when unreadable or malformed.
result<std::optional<meta_properties>, controller_error> read_meta_properties(const std::filesystem::path& dir);
result<void, controller_error> write_meta_properties(const std::filesystem::path& dir, const meta_properties& m);
// The cluster id of `log_dir`: meta.properties must name `self` (and `cluster_id_or_empty` when
// set); the configured id, else the stored one, else `new_cluster_id`, which is then written with
// node.id and a directory.id (kept if there is one, else fresh) when meta.properties has none.
// All three may be empty (a cluster-mode node before it learns the id): meta.properties then gets
// node.id and directory.id only, and the id is written by a later call that names it.
result<std::string, controller_error> claim_meta_properties(const std::filesystem::path& log_dir, node_id self,
                                                             const std::string& cluster_id_or_empty,
                                                             const std::string& new_cluster_id);

}  // namespace gregor::controller
