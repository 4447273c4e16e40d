#pragma once
// The broker's static configuration: Kafka's broker config names, their values and defaults,
// loaded once at start-up from YAML plus `--set name=value` overrides. Also the table of Kafka's
// topic-level configs (validation, DescribeConfigs, the effective typed values for a topic).
//
// Owned by app (loads it once) and passed by const reference to every module. The server keeps the
// loaded (static) config and derives the effective one with with_dynamic() after every metadata change.
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gregor/base/result.h"
#include "gregor/base/types.h"

namespace gregor::config {

// One listener: "PLAINTEXT://127.0.0.1:9092" → {name "PLAINTEXT", host "127.0.0.1", port 9092}.
// An empty host means every interface.
struct listener {
  std::string name;
  std::string host;
  int32_t port = 0;
  bool operator==(const listener&) const = default;
};

// One controller quorum voter, from controller.quorum.voters ("1@host:port").
struct quorum_voter {
  ::gregor::node_id id{-1};
  std::string host;
  int32_t port = 0;
  bool operator==(const quorum_voter&) const = default;
};

// Every field carries the Kafka config name in its comment. Fields Kafka only accepts for
// compatibility are kept so that a Kafka server.properties translated to YAML loads unchanged.
struct broker_config {
  // --- identity and cluster ---
  ::gregor::node_id node_id{1};                                // node.id (also accepted: broker.id)
  std::string cluster_id;                              // cluster.id (generated and persisted if empty)
  std::optional<std::string> broker_rack;              // broker.rack
  std::vector<std::string> process_roles{"broker", "controller"};  // process.roles
  std::vector<std::string> controller_quorum_voters;   // controller.quorum.voters ("1@host:port")
  // controller.quorum.voters parsed (load() checks the syntax). Empty with the controller role:
  // this node is the quorum's only voter (the embedded default).
  std::vector<quorum_voter> quorum_voters;
  std::vector<std::string> controller_quorum_bootstrap_servers;  // controller.quorum.bootstrap.servers
  int32_t controller_quorum_election_timeout_ms = 1000;     // controller.quorum.election.timeout.ms
  int32_t controller_quorum_fetch_timeout_ms = 2000;        // controller.quorum.fetch.timeout.ms
  int32_t controller_quorum_election_backoff_max_ms = 1000; // controller.quorum.election.backoff.max.ms
  int32_t controller_quorum_request_timeout_ms = 2000;      // controller.quorum.request.timeout.ms
  int32_t controller_quorum_retry_backoff_ms = 20;          // controller.quorum.retry.backoff.ms
  int32_t metadata_max_retention_ms = 604800000;            // metadata.max.retention.ms
  int64_t metadata_log_max_snapshot_interval_ms = 3600000;  // metadata.log.max.snapshot.interval.ms
  int64_t metadata_log_max_record_bytes_between_snapshots = 20971520;  // metadata.log.max.record.bytes.between.snapshots
  std::vector<std::string> controller_listener_names;  // controller.listener.names
  std::string metadata_log_dir;                        // metadata.log.dir (empty = first log dir)

  // --- network ---
  std::vector<listener> listeners{{"PLAINTEXT", "0.0.0.0", 9092}};  // listeners
  // advertised.listeners (default: listeners, with 0.0.0.0/::/empty host → localhost)
  std::vector<listener> advertised_listeners{{"PLAINTEXT", "localhost", 9092}};
  std::string listener_security_protocol_map;          // listener.security.protocol.map (accepted)
  std::string inter_broker_listener_name;              // inter.broker.listener.name (accepted)
  int32_t socket_request_max_bytes = 104857600;        // socket.request.max.bytes
  int32_t socket_send_buffer_bytes = 102400;           // socket.send.buffer.bytes
  int32_t socket_receive_buffer_bytes = 102400;        // socket.receive.buffer.bytes
  int32_t socket_listen_backlog_size = 50;             // socket.listen.backlog.size
  int64_t connections_max_idle_ms = 600000;            // connections.max.idle.ms
  int32_t max_connections = std::numeric_limits<int32_t>::max();           // max.connections
  int32_t max_connections_per_ip = std::numeric_limits<int32_t>::max();    // max.connections.per.ip
  std::string max_connections_per_ip_overrides;        // max.connections.per.ip.overrides (host:count,...)
  int32_t max_connection_creation_rate = std::numeric_limits<int32_t>::max();  // max.connection.creation.rate
  // Client quotas (server/client_quotas.h) and connection creation rates: Kafka's Rate windows.
  int32_t quota_window_num = 11;                       // quota.window.num
  int32_t quota_window_size_seconds = 1;               // quota.window.size.seconds
  // KIP-599 controller mutation quotas: the token bucket holds rate * num * size seconds.
  int32_t controller_quota_window_num = 11;            // controller.quota.window.num
  int32_t controller_quota_window_size_seconds = 1;    // controller.quota.window.size.seconds
  int32_t queued_max_requests = 500;                   // queued.max.requests
  int64_t queued_max_request_bytes = -1;               // queued.max.request.bytes (-1 = 256 MiB pool)
  int64_t socket_partial_request_timeout_ms = 30000;   // socket.partial.request.timeout.ms (Gregor)
  int32_t num_network_threads = 3;                     // num.network.threads (capped at cores - 1)
  int32_t num_io_threads = 8;                          // num.io.threads (accepted)
  int32_t request_timeout_ms = 30000;                  // request.timeout.ms
  std::vector<std::string> http_listeners{"http://0.0.0.0:9644"};  // http.listeners (Gregor)

  // --- security (listener-prefixed forms listener.name.<name>.<key> win: listener_value()) ---
  std::vector<std::string> sasl_enabled_mechanisms{"GSSAPI"};  // sasl.enabled.mechanisms
  std::string sasl_mechanism_inter_broker_protocol = "GSSAPI";  // sasl.mechanism.inter.broker.protocol
  std::string sasl_mechanism_controller_protocol = "GSSAPI";    // sasl.mechanism.controller.protocol
  int32_t sasl_server_max_receive_size = 524288;       // sasl.server.max.receive.size
  int64_t connections_max_reauth_ms = 0;               // connections.max.reauth.ms (0 = never)
  std::string authorizer_class_name;                   // authorizer.class.name ("" = no authorizer)
  std::string super_users;                             // super.users (User:a;User:b)
  bool allow_everyone_if_no_acl_found = false;         // allow.everyone.if.no.acl.found
  std::string principal_builder_class;                 // principal.builder.class (accepted)

  // --- topics and log ---
  std::vector<std::string> log_dirs{"./data"};         // log.dirs (or log.dir)
  int32_t num_partitions = 1;                          // num.partitions
  int16_t default_replication_factor = 1;              // default.replication.factor
  bool auto_create_topics_enable = true;               // auto.create.topics.enable
  bool delete_topic_enable = true;                     // delete.topic.enable
  int32_t message_max_bytes = 1048588;                 // message.max.bytes
  int64_t log_segment_bytes = 1073741824;              // log.segment.bytes
  int64_t log_roll_ms = 604800000;                     // log.roll.ms / log.roll.hours (168)
  int64_t log_roll_jitter_ms = 0;                      // log.roll.jitter.ms / log.roll.jitter.hours
  int32_t log_index_interval_bytes = 4096;             // log.index.interval.bytes
  int32_t log_index_size_max_bytes = 10485760;         // log.index.size.max.bytes
  int64_t log_retention_ms = 604800000;                // log.retention.ms / .minutes / .hours (168)
  int64_t log_retention_bytes = -1;                    // log.retention.bytes
  int64_t log_retention_check_interval_ms = 300000;    // log.retention.check.interval.ms
  int64_t log_local_retention_ms = -2;                 // log.local.retention.ms
  int64_t log_local_retention_bytes = -2;              // log.local.retention.bytes
  int64_t log_flush_interval_messages = std::numeric_limits<int64_t>::max();  // log.flush.interval.messages
  int64_t log_flush_interval_ms = -1;                  // log.flush.interval.ms (-1 = unset: use the scheduler interval)
  int64_t log_flush_scheduler_interval_ms = std::numeric_limits<int64_t>::max();  // log.flush.scheduler.interval.ms
  int32_t log_flush_offset_checkpoint_interval_ms = 60000;  // log.flush.offset.checkpoint.interval.ms
  int64_t log_segment_delete_delay_ms = 60000;         // log.segment.delete.delay.ms
  bool log_preallocate = false;                        // log.preallocate
  bool log_direct_io = true;                           // log.direct.io (Gregor): O_DIRECT segments
  int64_t log_tail_cache_max_bytes = 33554432;         // log.tail.cache.max.bytes (Gregor): recent appends in memory
  int64_t log_async_writes_max_bytes = 67108864;       // log.async.writes.max.bytes (Gregor): disk-writer bound; 0 = inline
  int64_t log_readahead_max_bytes = 50331648;          // log.readahead.max.bytes (Gregor): direct-I/O read buffers
  std::string log_cleanup_policy = "delete";           // log.cleanup.policy
  std::string log_message_timestamp_type = "CreateTime";  // log.message.timestamp.type
  int64_t log_message_timestamp_before_max_ms = std::numeric_limits<int64_t>::max();  // log.message.timestamp.before.max.ms
  int64_t log_message_timestamp_after_max_ms = 3600000;   // log.message.timestamp.after.max.ms
  std::string compression_type = "producer";           // compression.type
  int32_t compression_gzip_level = -1;                 // compression.gzip.level
  int32_t compression_lz4_level = 9;                   // compression.lz4.level
  int32_t compression_zstd_level = 3;                  // compression.zstd.level
  int32_t num_recovery_threads_per_data_dir = 2;       // num.recovery.threads.per.data.dir

  // --- log cleaner (compaction) ---
  bool log_cleaner_enable = true;                      // log.cleaner.enable
  int32_t log_cleaner_threads = 1;                     // log.cleaner.threads
  int64_t log_cleaner_delete_retention_ms = 86400000;  // log.cleaner.delete.retention.ms
  int64_t log_cleaner_min_compaction_lag_ms = 0;       // log.cleaner.min.compaction.lag.ms
  int64_t log_cleaner_max_compaction_lag_ms = std::numeric_limits<int64_t>::max();  // log.cleaner.max.compaction.lag.ms
  double log_cleaner_min_cleanable_ratio = 0.5;        // log.cleaner.min.cleanable.ratio
  int64_t log_cleaner_backoff_ms = 15000;              // log.cleaner.backoff.ms
  int64_t log_cleaner_dedupe_buffer_size = 134217728;  // log.cleaner.dedupe.buffer.size (bytes)

  // --- replication ---
  int32_t min_insync_replicas = 1;                     // min.insync.replicas
  bool unclean_leader_election_enable = false;         // unclean.leader.election.enable
  int64_t replica_lag_time_max_ms = 30000;             // replica.lag.time.max.ms
  int32_t replica_fetch_max_bytes = 1048576;           // replica.fetch.max.bytes
  int32_t replica_fetch_response_max_bytes = 10485760; // replica.fetch.response.max.bytes
  int32_t replica_fetch_wait_max_ms = 500;             // replica.fetch.wait.max.ms
  int32_t replica_fetch_min_bytes = 1;                 // replica.fetch.min.bytes
  int32_t replica_fetch_backoff_ms = 1000;             // replica.fetch.backoff.ms
  int32_t replica_socket_timeout_ms = 30000;           // replica.socket.timeout.ms
  int32_t num_replica_fetchers = 1;                    // num.replica.fetchers
  // KIP-392: the leader's choice of a replica for consumers to fetch from. Empty = the leader only
  // (Kafka's default); org.apache.kafka.common.replica.RackAwareReplicaSelector = an in-sync replica
  // in the consumer's rack (Fetch v11+ rack_id).
  std::string replica_selector_class;                  // replica.selector.class
  int64_t replica_high_watermark_checkpoint_interval_ms = 5000;  // replica.high.watermark.checkpoint.interval.ms
  bool auto_leader_rebalance_enable = true;            // auto.leader.rebalance.enable
  int64_t leader_imbalance_check_interval_seconds = 300;  // leader.imbalance.check.interval.seconds
  // Reassignment throttles (kafka-reassign-partitions --throttle sets them, --verify clears them).
  // Enforced on replica fetches (server/replication_quota.h); the log-dir move one is not enforced.
  int64_t leader_replication_throttled_rate = INT64_MAX;    // leader.replication.throttled.rate
  int64_t follower_replication_throttled_rate = INT64_MAX;  // follower.replication.throttled.rate
  int64_t replica_alter_log_dirs_io_max_bytes_per_second = INT64_MAX;  // replica.alter.log.dirs.io.max.bytes.per.second
  int32_t fetch_max_bytes = 57671680;                  // fetch.max.bytes
  int64_t fetch_memory_max_bytes = -1;                 // fetch.memory.max.bytes (Gregor; -1 = 2 x fetch.max.bytes)
  int32_t broker_heartbeat_interval_ms = 2000;         // broker.heartbeat.interval.ms
  int32_t broker_session_timeout_ms = 9000;            // broker.session.timeout.ms

  // --- consumer groups and offsets ---
  int32_t offsets_topic_num_partitions = 50;           // offsets.topic.num.partitions
  int16_t offsets_topic_replication_factor = 3;        // offsets.topic.replication.factor (capped to live brokers)
  int32_t offsets_topic_segment_bytes = 104857600;     // offsets.topic.segment.bytes
  int32_t offsets_load_buffer_size = 5242880;          // offsets.load.buffer.size
  int32_t offset_metadata_max_bytes = 4096;            // offset.metadata.max.bytes
  int32_t offsets_commit_timeout_ms = 5000;            // offsets.commit.timeout.ms
  int64_t offsets_retention_minutes = 10080;           // offsets.retention.minutes
  int64_t offsets_retention_check_interval_ms = 600000;  // offsets.retention.check.interval.ms
  int32_t group_initial_rebalance_delay_ms = 3000;     // group.initial.rebalance.delay.ms
  int32_t group_min_session_timeout_ms = 6000;         // group.min.session.timeout.ms
  int32_t group_max_session_timeout_ms = 1800000;      // group.max.session.timeout.ms
  int32_t group_max_size = std::numeric_limits<int32_t>::max();  // group.max.size
  std::vector<std::string> group_coordinator_rebalance_protocols{"classic", "consumer"};  // group.coordinator.rebalance.protocols
  int32_t group_consumer_session_timeout_ms = 45000;   // group.consumer.session.timeout.ms
  int32_t group_consumer_heartbeat_interval_ms = 5000; // group.consumer.heartbeat.interval.ms
  int32_t group_consumer_max_size = std::numeric_limits<int32_t>::max();  // group.consumer.max.size

  // --- transactions and idempotence ---
  int32_t transaction_state_log_num_partitions = 50;   // transaction.state.log.num.partitions
  int16_t transaction_state_log_replication_factor = 3;  // transaction.state.log.replication.factor
  int32_t transaction_state_log_min_isr = 2;           // transaction.state.log.min.isr
  int32_t transaction_state_log_segment_bytes = 104857600;  // transaction.state.log.segment.bytes
  int32_t transaction_max_timeout_ms = 900000;         // transaction.max.timeout.ms
  int32_t transactional_id_expiration_ms = 604800000;  // transactional.id.expiration.ms
  int32_t transaction_abort_timed_out_transaction_cleanup_interval_ms = 10000;  // transaction.abort.timed.out.transaction.cleanup.interval.ms
  int32_t producer_id_expiration_ms = 86400000;        // producer.id.expiration.ms
  int32_t max_incremental_fetch_session_cache_slots = 1000;  // max.incremental.fetch.session.cache.slots

  // --- Gregor-specific ---
  std::string log_level = "info";                      // log.level

  // process.roles contains broker / controller.
  bool is_broker() const;
  bool is_controller() const;
  // The listener other brokers and controllers reach this node's broker side on:
  // inter.broker.listener.name, else the first non-controller listener.
  std::string inter_broker_listener() const;

  // Keys set explicitly in the file or by --set, with the text given (after YAML flattening and
  // list joining). DescribeConfigs reports these as STATIC_BROKER_CONFIG, the rest DEFAULT_CONFIG.
  std::map<std::string, std::string> explicit_values;
  bool is_set(std::string_view key) const { return explicit_values.count(std::string(key)) != 0; }

  // Dynamic broker configs from the metadata log, already applied to the fields above by
  // with_dynamic(): cluster-wide defaults (resource name "", DYNAMIC_DEFAULT_BROKER_CONFIG) and
  // this broker's own (resource name "<node.id>", DYNAMIC_BROKER_CONFIG, which wins).
  std::map<std::string, std::string> dynamic_default_values;
  std::map<std::string, std::string> dynamic_broker_values;
};

// Loads the config: the embedded default when `file` is empty, else the file; then `sets` in order
// (the later wins, and a --set wins over the file). Never throws: returns the config or one clear
// sentence naming the offending key, e.g.
//   "unknown config 'log.dir.s' in gregor.yaml (did you mean 'log.dirs'?)"
//   "config 'num.partitions' = 'abc': expected an integer >= 1"
result<broker_config, std::string> load(const std::optional<std::filesystem::path>& file,
                                        const std::vector<std::pair<std::string, std::string>>& sets);

// Loads from YAML text (used by load and tests). `origin` names the source in error messages.
result<broker_config, std::string> load_yaml(std::string_view yaml_text, std::string_view origin,
                                             const std::vector<std::pair<std::string, std::string>>& sets);

// Splits a `--set` argument "name=value" (value may contain '='); an error names the argument.
result<std::pair<std::string, std::string>, std::string> parse_set_arg(std::string_view arg);

// The embedded default used when no file is given (a one-node broker on :9092, data in ./data).
std::string_view embedded_default_yaml();

// Parses "NAME://host:port" (host may be empty or a bracketed IPv6 literal). Empty on success,
// else the reason.
std::string parse_listener(std::string_view text, listener& out);

// Every broker config name we know (for did-you-mean and tooling), sorted.
std::vector<std::string> known_broker_config_names();

// Security protocol of a listener from listener.security.protocol.map (a name that is itself a
// protocol maps to it; without a map every listener is PLAINTEXT).
std::string security_protocol_of(const broker_config& b, std::string_view listener_name);
// A config as set for one listener: `listener.name.<lowercase listener>.<key>` when set (a dynamic
// per-broker value over the static one), else the plain `<key>` when set explicitly, else nullopt (the caller applies the default). SASL JAAS
// configs are mechanism-prefixed: key = "<lowercase mechanism>.sasl.jaas.config".
std::optional<std::string> listener_value(const broker_config& b, std::string_view listener_name,
                                          std::string_view key);
// The listener's sasl.enabled.mechanisms (listener-prefixed value, else the broker-wide one).
std::vector<std::string> listener_sasl_mechanisms(const broker_config& b, std::string_view listener_name);

// ---- topic-level configs ----

// DescribeConfigs v3+ config types.
namespace config_type {
inline constexpr int8_t unknown = 0, boolean = 1, string = 2, int_ = 3, short_ = 4, long_ = 5,
                        double_ = 6, list = 7, class_ = 8, password = 9;
}
// DescribeConfigs config sources.
namespace config_source {
inline constexpr int8_t unknown = 0, topic_config = 1, dynamic_broker_config = 2,
                        dynamic_default_broker_config = 3, static_broker_config = 4,
                        default_config = 5, dynamic_broker_logger_config = 6;
}

struct config_synonym {
  std::string name;
  std::string value;
  bool is_null = false;
  int8_t source = config_source::default_config;
};

struct config_entry_desc {
  std::string name;
  std::string value;
  bool is_null = false;
  int8_t source = config_source::default_config;
  int8_t type = config_type::unknown;
  bool read_only = false;
  bool sensitive = false;
  std::string documentation;
  std::vector<config_synonym> synonyms;
};

// True if `name` is a topic config Kafka defines (CreateTopics/AlterConfigs refuse others).
bool is_topic_config(std::string_view name);
// Every topic config name we know, sorted.
std::vector<std::string> topic_config_names();

// Validates one topic config override: empty string if fine, else the sentence for INVALID_CONFIG
// (unknown names included).
std::string validate_topic_config(std::string_view name, std::string_view value);

// Every topic config, with overrides applied (source TOPIC_CONFIG) or the broker value (source
// STATIC_BROKER_CONFIG if set in the file/--set, else DEFAULT_CONFIG), with synonyms as Kafka
// lists them (the topic override first, then each broker synonym's static value and default).
std::vector<config_entry_desc> describe_topic_configs(const std::map<std::string, std::string>& overrides,
                                                      const broker_config& b);

// Every broker config with its value and source (DescribeConfigs on BROKER "<node.id>"): the
// dynamic per-broker value, else the dynamic cluster default, else the static value, else the
// default, with synonyms in that order. Configs Kafka cannot change at runtime are read-only.
std::vector<config_entry_desc> describe_broker_configs(const broker_config& b);
// DescribeConfigs on BROKER "" (the cluster-wide default): only the dynamic default configs, as
// Kafka lists them (source DYNAMIC_DEFAULT_BROKER_CONFIG, synonyms: default, static, default).
std::vector<config_entry_desc> describe_default_broker_configs(const broker_config& b);

// ---- dynamic broker configs (Kafka's DynamicBrokerConfig) ----

// True for the broker configs Kafka lets AlterConfigs/IncrementalAlterConfigs change at runtime
// and Gregor applies: the broker synonyms of topic configs (log.retention.ms, log.segment.bytes,
// log.roll.ms, log.cleanup.policy, log.flush.interval.*, message.max.bytes, ...), the log
// cleaner's (log.cleaner.threads, .dedupe.buffer.size, .backoff.ms), the thread pools' num.*
// and producer.id.expiration.ms: all cluster-wide (settable at "" and per broker). And a listener's
// key store and trust store (Kafka's SslConfigs.RECONFIGURABLE_CONFIGS with the listener prefix:
// listener.name.<listener>.ssl.keystore.location, ...), per broker only.
bool is_dynamic_broker_config(std::string_view name);
// Dynamic configs Kafka accepts only on a broker's own resource ("<node id>"), never at the
// cluster default: listener.name.<listener>.ssl.{keystore,truststore}.*, ssl.key.password.
bool is_per_broker_config(std::string_view name);
// Every dynamic broker config name, sorted.
std::vector<std::string> dynamic_broker_config_names();

// Validates a change of dynamic broker configs (nullopt = delete) for the resource "" (cluster
// default) or "<node id>" (per_broker). "" if fine, else Kafka's INVALID_REQUEST message:
//   "Cannot update these configs dynamically: Set(auto.create.topics.enable)"
//   "Invalid value abc for configuration log.retention.ms: expected an integer >= -1"
//   "These security configs can be dynamically updated only per-listener using the listener
//    prefix: Set(ssl.keystore.location)"
//   "Cannot update these configs at default cluster level, broker id must be specified:
//    Set(listener.name.ssl.ssl.keystore.location)" (per_broker false: the resource "")
// Unknown names are refused too ("Unknown broker config name: x"; Kafka would store them).
// Whether a new key store loads is the server's check (it has the listeners).
std::string validate_dynamic_broker_changes(const std::map<std::string, std::optional<std::string>>& changes,
                                            bool per_broker);

// The effective config: `static_cfg` (as loaded) with the dynamic defaults, then this broker's
// dynamic values, applied in Kafka's precedence (log.retention.ms over .minutes over .hours, across
// levels). Dynamic values that are not dynamic configs or do not parse are skipped and named in
// `skipped` (a record written by another version). The maps are kept in the result for describe.
broker_config with_dynamic(const broker_config& static_cfg,
                           const std::map<std::string, std::string>& defaults,
                           const std::map<std::string, std::string>& per_broker,
                           std::vector<std::string>* skipped = nullptr);

// The typed, effective values of a topic's configs for the server (overrides over broker values).
// Overrides are assumed validated; an unparsable one falls back to the broker value.
struct topic_settings {
  int64_t segment_bytes = 0, segment_ms = 0, retention_ms = 0, retention_bytes = 0;
  int32_t max_message_bytes = 0, index_interval_bytes = 0, segment_index_bytes = 0;
  int64_t flush_messages = 0, flush_ms = 0;
  std::string cleanup_policy, message_timestamp_type, compression_type;
  int64_t message_timestamp_before_max_ms = 0, message_timestamp_after_max_ms = 0;
  int32_t min_insync_replicas = 1;
  // Added beyond the brief's list:
  int64_t segment_jitter_ms = 0, delete_retention_ms = 0, min_compaction_lag_ms = 0,
          max_compaction_lag_ms = 0, file_delete_delay_ms = 0;
  double min_cleanable_dirty_ratio = 0.5;
  bool preallocate = false, unclean_leader_election_enable = false;
  int64_t producer_id_expiration_ms = 86400000;  // broker-wide (compaction keeps producer state)
  bool direct_io = false;                        // broker-wide: log.direct.io
  bool compact() const { return cleanup_policy.find("compact") != std::string::npos; }
  bool delete_enabled() const { return cleanup_policy.find("delete") != std::string::npos; }
};
topic_settings effective_topic_settings(const std::map<std::string, std::string>& overrides,
                                        const broker_config& b);

// Parses one "id@host:port" voter (host may be a bracketed IPv6 literal). "" or the reason.
std::string parse_quorum_voter(std::string_view text, quorum_voter& out);

// Levenshtein distance, for did-you-mean suggestions.
size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace gregor::config
