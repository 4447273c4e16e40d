#pragma once
// server::core: everything a request handler may touch, wired once by the broker. Handlers get a
// core& and never reach past it into files or sockets.
//
// Threading: one io_context thread (the io thread) runs every handler and every module call, so
// no member needs a lock. Connections' socket I/O runs on net's network threads
// (num.network.threads); disk work on storage's threads (architecture note, "Threads").
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>

#include <boost/asio/io_context.hpp>

#include "gregor/base/clock.h"
#include "gregor/config/broker_config.h"
#include "gregor/controller/metadata_store.h"
#include "gregor/protocol/record_batch.h"
#include "gregor/replication/partition_manager.h"
#include "gregor/storage/log_manager.h"
#include "controller_client.h"
#include "fetch_deferrals.h"
#include "fetch_memory.h"
#include "fetch_session.h"
#include "fetch_waiters.h"
#include "client_quotas.h"
#include "replication_quota.h"

namespace gregor::server {

class oauthbearer_keys;  // oauthbearer_validation.h

// Effective per-topic settings, recomputed whenever the metadata image changes.
struct topic_runtime {
  uuid id;
  int32_t partition_count = 0;
  config::topic_settings settings;
  storage::log_config log;
  bool compacted = false;
  bool log_append_time = false;
};

class core {
 public:
  core(boost::asio::io_context& io, config::broker_config cfg, clock& clk);

  // Opens the metadata store and the log directory, registers this broker and opens every
  // partition the metadata assigns to it. Errors name the directory or file.
  result<void, std::string> open();
  // Flushes and closes every log and the metadata store (graceful stop).
  void close();

  // The metadata publisher: brings the broker side in line with the metadata image after every
  // committed change, in log order. Refreshes topic_runtime and the effective broker config, turns
  // each partition's assignment into replica transitions (partition_manager::apply/stop: opens
  // replicas assigned here, deletes those no longer assigned) and hands the transitions to every
  // subscriber.
  void apply_metadata();
  // Subscribers of replica transitions, called in registration order with each batch that
  // apply_metadata() produced (never empty).
  using transition_listener = std::function<void(std::span<const replication::replica_transition>)>;
  void on_transitions(transition_listener fn) { _transition_listeners.push_back(std::move(fn)); }
  // Subscribers of the effective broker config, called by apply_metadata() after the dynamic
  // broker configs changed (broker.cc: a listener's key store or trust store).
  using config_listener = std::function<void(const config::broker_config&)>;
  void on_config_change(config_listener fn) { _config_listeners.push_back(std::move(fn)); }
  // The client TLS contexts of this node's own connections (listener_tls.h), shared by the
  // replica fetchers, the transaction markers and the quorum's pools, rebuilt on rotation.
  class outgoing_tls& outgoing_tls_contexts() { return *_outgoing_tls; }

  // Every metadata change goes through here (handlers never write the metadata log).
  controller_client& controller() { return *_controller; }
  // The client a request arriving on `listener_name` must use: on a controller listener, requests
  // were forwarded to this node as the active controller and are never forwarded again.
  controller_client& controller_for(const std::string& listener_name) {
    return _controller_listener_client && is_controller_listener(listener_name) ? *_controller_listener_client
                                                                                 : *_controller;
  }
  bool is_controller_listener(const std::string& listener_name) const;

  // Cluster mode (metadata_quorum.h): the quorum membership, this node's active controller (when
  // it has the controller role) and its broker lifecycle (when it has the broker role). All null
  // on a single node, whose one-voter quorum is the metadata store.
  class metadata_quorum* quorum() { return _quorum.get(); }
  class active_controller* active_controller_if_any() { return _active.get(); }
  class broker_lifecycle* lifecycle() { return _lifecycle.get(); }
  class replica_manager* replica_manager_if_any() { return _replication.get(); }
  // Cluster mode: joins the quorum and starts registering (after the listeners are bound, before
  // the io thread runs). A no-op on a single node.
  result<void, std::string> start_cluster();
  // Cluster mode, graceful stop: controlled shutdown of the broker (leaderships move away first),
  // then leaves the quorum (resigning if leading).
  boost::asio::awaitable<void> controlled_shutdown();
  boost::asio::awaitable<void> stop_cluster();
  // The controller id clients are told (Metadata, DescribeCluster on broker listeners): in cluster
  // mode, as Kafka does, a live broker (this one when it is live), since admin requests sent to
  // any broker are forwarded to the active controller; on a single node, itself.
  node_id client_controller_id() const;
  // Unfenced brokers (single node: the registered ones).
  size_t live_broker_count() const;

  // Creates a topic with broker defaults (auto-creation from Metadata). Returns the Kafka error.
  boost::asio::awaitable<protocol::error_code> auto_create_topic(const std::string& name);

  const topic_runtime* topic(const std::string& name) const;
  const topic_runtime* topic(uuid id, std::string* name_out) const;
  replication::partition* partition(const topic_partition& tp) { return _partitions->get(tp); }
  // The replica a client request must reach: this broker's leader replica of tp, checked against
  // the client's current leader epoch (-1 = unchecked). Errors: UNKNOWN_TOPIC_OR_PARTITION,
  // NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH (client behind), UNKNOWN_LEADER_EPOCH (ahead).
  result<replication::partition*, protocol::error_code> leader_partition(
      const topic_partition& tp, int32_t current_leader_epoch = -1);

  boost::asio::io_context& io() { return _io; }
  const config::broker_config& config() const { return _cfg; }
  // The http(s) JWKS endpoints of the OAUTHBEARER listeners (set by broker::start; null without).
  void set_oauth_keys(std::shared_ptr<oauthbearer_keys> keys) { _oauth_keys = std::move(keys); }
  const oauthbearer_keys* oauth_keys() const { return _oauth_keys.get(); }
  // The config as loaded at start-up, before dynamic broker configs (AlterConfigs on BROKER).
  const config::broker_config& static_config() const { return _static_cfg; }
  // The single node's metadata store (null in cluster mode).
  controller::metadata_store& metadata() { return *_metadata; }
  bool has_metadata_store() const { return _metadata != nullptr; }
  const controller::metadata_image& image() const;
  fetch_waiters& waiters() { return _waiters; }
  // A partition's high watermark may have moved (a write done, a follower's fetch): the group
  // service applies the offset writes it now covers, and whatever waits on the partition wakes.
  void high_watermark_moved(const topic_partition& tp);
  // KIP-227 incremental fetch sessions (handlers/fetch.cc).
  fetch_session_cache& fetch_sessions() { return _fetch_sessions; }
  // Consumer Fetch records held in memory until written, broker-wide (fetch_memory.h):
  // fetch.memory.max.bytes, by default 2 x fetch.max.bytes (two maximal consumer responses).
  fetch_memory& fetch_memory_account() { return _fetch_memory; }
  // The partitions (and offsets) consumer Fetches left out because their bytes were still on the
  // device (fetch_deferrals.h, handlers/fetch.cc).
  fetch_deferrals& fetch_deferred() { return _fetch_deferred; }
  // Reassignment throttles: the leader- and follower-side byte-rate quotas (replication_quota.h).
  replication_quotas& quotas() { return _quotas; }
  // Client quotas (client_quotas.h: produce and fetch byte rates per user and client id), brought
  // in line with the image's ClientQuotaRecords whenever the image changed.
  client_quota_manager& client_quotas();
  // The log directory and the hosted replicas (log_maintenance.cc: flush, retention, checkpoints).
  storage::log_manager& logs() { return *_logs; }
  replication::partition_manager& partitions() { return *_partitions; }
  // Consumer groups and committed offsets (group_service.cc; created and started on first use).
  boost::asio::awaitable<class group_service*> groups();
  // The group service if something already started it, else nullptr (read-only users such as the
  // metrics collectors must not create __consumer_offsets).
  class group_service* groups_if_started() { return _groups.get(); }
  // Wakes parked JoinGroup/SyncGroup requests and stops the group timers (graceful stop).
  void stop_groups();
  // Transactions (txn_service.cc): the coordinator side, started (and __transaction_state
  // created) on first use; transaction_service() without starting it, for the partition-leader
  // side (markers, KIP-890 verification), which needs no topic of its own.
  boost::asio::awaitable<class txn_service*> transactions();
  class txn_service& transaction_service();
  // Graceful stop: wakes parked transaction requests and stops marker retries; then closes the
  // service's inter-broker connections.
  void stop_transactions();
  void start_transactions_on_leadership(std::span<const replication::replica_transition> ts);
  boost::asio::awaitable<void> shutdown_transactions();
  // Producer ids and per-partition idempotence state (idempotence.cc; created on first use).
  class idempotence& producers();
  // Snapshots the producer state of every loaded partition (graceful stop, before logs close).
  void snapshot_producers();
  clock& clk() { return _clock; }
  node_id self() const { return _cfg.node_id; }

  // The host and port this broker advertises on the named listener (the connection's listener).
  config::listener advertised_for(const std::string& listener_name) const;
  // A broker's host and port as clients on this listener must see them.
  config::listener endpoint_of(const controller::broker_info& b,
                               const std::string& listener_name) const;
  // Ports actually bound (set by the broker after listening; used when a listener asked for port 0).
  void set_bound_ports(std::vector<uint16_t> ports);

 private:
  boost::asio::io_context& _io;
  config::broker_config _cfg;  // effective: _static_cfg with the dynamic broker configs applied
  config::broker_config _static_cfg;  // as loaded (file and --set)
  clock& _clock;
  std::unique_ptr<controller::metadata_store> _metadata;
  std::unique_ptr<controller_client> _controller;
  std::unique_ptr<controller_client> _controller_listener_client;  // cluster mode
  std::shared_ptr<class metadata_quorum> _quorum;      // shared_ptr: the types are incomplete here
  std::shared_ptr<class active_controller> _active;
  std::shared_ptr<class broker_lifecycle> _lifecycle;
  std::shared_ptr<class replica_manager> _replication;  // cluster mode, broker role
  std::shared_ptr<oauthbearer_keys> _oauth_keys;
  std::filesystem::path _metadata_dir;
  std::vector<transition_listener> _transition_listeners;
  std::vector<config_listener> _config_listeners;
  std::unique_ptr<storage::log_manager> _logs;
  std::unique_ptr<replication::partition_manager> _partitions;
  std::unordered_map<std::string, topic_runtime> _topics;
  fetch_waiters _waiters;
  fetch_session_cache _fetch_sessions;
  fetch_memory _fetch_memory;
  fetch_deferrals _fetch_deferred;
  replication_quotas _quotas;
  client_quota_manager _client_quotas;
  const controller::metadata_image* _client_quotas_image = nullptr;  // the image they were taken from
  int64_t _client_quotas_version = -1;                               // at this version
  std::vector<uint16_t> _bound_ports;
  std::shared_ptr<class idempotence> _producers;  // shared_ptr: the type is incomplete here
  std::shared_ptr<class group_service> _groups;  // shared_ptr: the type is incomplete here
  std::shared_ptr<class outgoing_tls> _outgoing_tls;  // before the pools that use it
  std::shared_ptr<class txn_service> _txns;      // shared_ptr: the type is incomplete here
  // Expires with the core: completions the disk writer posted to the io thread skip a dead core.
  std::shared_ptr<int> _life = std::make_shared<int>(0);
  // On the io thread, after the disk writer wrote appends of these partitions (or failed): the
  // leader's high watermark may move, acks=1 produces and parked fetches may be answered.
  void on_writes_done(const std::vector<topic_partition>& tps);
};

// Builds the storage config of a topic from its effective settings.
storage::log_config to_log_config(const config::topic_settings& s);

}  // namespace gregor::server
