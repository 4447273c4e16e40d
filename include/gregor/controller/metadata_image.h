#pragma once
// The cluster metadata image: brokers, topics with ids, partition assignments, leaders, leader
// epochs, ISR and topic config overrides, as applied from metadata records.
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

namespace gregor::controller {

struct partition_info {
  partition_id id;
  node_id leader = no_node;
  ::gregor::leader_epoch leader_epoch{0};
  std::vector<node_id> replicas;
  std::vector<node_id> isr;
};

struct topic_info {
  std::string name;
  uuid id;
  std::vector<partition_info> partitions;  // index == partition id
  std::map<std::string, std::string> configs;  // topic config overrides only
  bool internal = false;
};

struct broker_info {
  node_id id;
  std::string host;
  int32_t port = 0;
  std::optional<std::string> rack;
};

class metadata_image {
 public:
  const std::string& cluster_id() const { return _cluster_id; }
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

  // Applies one record. Returns "" or why the record does not fit the image (a partition of an
  // unknown topic, a topic id reused); such a record changes nothing.
  std::string apply(const metadata_record& r);

  void set_identity(std::string cluster_id, node_id controller) {
    _cluster_id = std::move(cluster_id);
    _controller_id = controller;
  }
  void put_broker(broker_info b);

 private:
  std::string _cluster_id;
  node_id _controller_id = no_node;
  std::map<std::string, topic_info> _topics;
  std::unordered_map<uuid, std::string> _names_by_id;
  std::map<node_id, broker_info> _brokers;
  int64_t _version = 0;
  int64_t _next_producer_id = 0;
  std::map<std::string, std::map<std::string, std::string>> _broker_configs;
};

}  // namespace gregor::controller
