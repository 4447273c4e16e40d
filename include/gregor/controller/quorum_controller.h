#pragma once
// controller::quorum_controller: the decisions of the active controller, as a pure state machine.
//
// It owns no log and does no I/O. Each operation validates a request against the metadata as it
// will be once everything proposed so far commits (the "speculative" image: the committed image
// the controller was activated with, plus every record it has produced since), and returns the
// records to propose to the Raft quorum, already applied to that image so the next request sees
// them (two CreateTopics of one name cannot both succeed). The shell proposes the records as one
// batch and answers the request once that batch commits; if the leadership is lost before, it
// drops this object and activates a fresh one from the committed image.
//
// Jobs (Kafka's QuorumController): topics (placement over unfenced brokers and racks, explicit
// assignments), partitions, topic and broker configs, producer id blocks, broker registration,
// heartbeats and liveness (a broker silent for broker.session.timeout.ms is fenced and every
// partition it led gets a new leader from the rest of its ISR, with a bumped leader epoch; an
// unclean election only where unclean.leader.election.enable says so), controlled shutdown
// (leadership moves away first) and bringing offline partitions back when an ISR member returns.
//
// Threading: one thread (the shell's). Time comes in as arguments only.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gregor/base/result.h"
#include "gregor/base/types.h"
#include "gregor/controller/metadata_image.h"
#include "gregor/controller/metadata_store.h"
#include "gregor/protocol/metadata/all_records.h"

namespace gregor::controller {

using record_batch_t = std::vector<protocol::metadata::api_message_and_version>;

struct quorum_controller_settings {
  int64_t broker_session_timeout_ms = 9000;      // broker.session.timeout.ms
  bool unclean_leader_election_enable = false;   // unclean.leader.election.enable (broker default)
  int16_t metadata_version = 0;                  // level written at bootstrap (FeatureLevelRecord)
};

// CreateTopics for one topic, after request-level checks. Either assignments (replicas per
// partition, in partition order) or partitions + replication_factor.
struct topic_request {
  std::string name;
  int32_t partitions = 1;
  int16_t replication_factor = 1;
  std::vector<std::vector<node_id>> assignments;
  std::map<std::string, std::string> configs;
};

// BrokerRegistration's content.
struct broker_registration {
  node_id id = no_node;
  uuid incarnation_id;
  std::vector<broker_endpoint> endpoints;
  std::optional<std::string> rack;
  int64_t previous_broker_epoch = -1;
};

// BrokerHeartbeat's content.
struct broker_heartbeat {
  node_id id = no_node;
  int64_t broker_epoch = -1;
  int64_t current_metadata_offset = -1;
  bool want_fence = false;
  bool want_shutdown = false;
};

struct heartbeat_reply {
  bool is_caught_up = false;
  bool is_fenced = true;
  bool should_shutdown = false;
};

// AlterPartition for one partition: its leader proposes a new ISR.
struct alter_partition_request {
  node_id broker = no_node;
  int64_t broker_epoch = -1;
  uuid topic_id;
  int32_t partition = 0;
  leader_epoch epoch{0};
  int32_t partition_epoch = 0;
  std::vector<node_id> new_isr;
};

// The partition as it is once the change commits.
struct partition_state {
  node_id leader = no_node;
  leader_epoch epoch{0};
  std::vector<node_id> isr;
  int32_t partition_epoch = 0;
};

// AlterPartitionReassignments for one partition: `target` is the new replica list, nullopt
// cancels the reassignment in progress.
struct reassignment_request {
  std::string topic;
  int32_t partition = 0;
  std::optional<std::vector<node_id>> target;
};

enum class election_type : int8_t { preferred = 0, unclean = 1 };

// UpdateFeatures for one feature: the new finalized level (0 removes it) and how it may move.
enum class feature_upgrade : int8_t { upgrade = 1, safe_downgrade = 2, unsafe_downgrade = 3 };
struct feature_update {
  std::string feature;
  int16_t level = 0;
  feature_upgrade type = feature_upgrade::upgrade;
};

// The answer for one partition of a multi-partition operation: no error, or the reason.
struct partition_result {
  std::string topic;
  int32_t partition = 0;
  std::optional<controller_error> error;
};

// What an operation decided: records to propose (empty = nothing to commit) and its answer.
template <class T>
struct decision {
  record_batch_t records;
  T reply{};
};

class quorum_controller {
 public:
  explicit quorum_controller(quorum_controller_settings s) : _settings(s) {}

  // Starts a term as active controller from the committed image. Every registered broker gets a
  // full session from now (liveness is not in the log, as in Kafka).
  void activate(const metadata_image& committed, int64_t now_ms);
  // Same term, back to the committed image after a proposal was refused (what it had applied to
  // the speculative image will never commit). Liveness goes on: a broker keeps the heartbeat it
  // last sent (a silent broker is still fenced on time); only brokers new to the map start now.
  void rewind(const metadata_image& committed, int64_t now_ms);
  const metadata_image& image() const { return _image; }

  // Records an empty cluster needs first (metadata.version), applied to the speculative image
  // like any decision. Empty when already there. A non-empty `cluster_id` rides on the
  // metadata.version record (cluster_id_tag): the log then decides the cluster's id.
  record_batch_t bootstrap_records(std::string_view cluster_id = {});

  result<decision<uuid>, controller_error> create_topic(const topic_request& req, bool validate_only);
  result<decision<bool>, controller_error> delete_topic(const std::string& name);
  result<decision<bool>, controller_error> create_partitions(const std::string& name, int32_t total,
                                                             const std::vector<std::vector<node_id>>& assignments,
                                                             bool validate_only);
  // nullopt = remove. resource_type is config_resource_topic or config_resource_broker.
  result<decision<bool>, controller_error> alter_configs(int8_t resource_type, const std::string& resource_name,
                                                         const std::map<std::string, std::optional<std::string>>& changes);
  // UpdateFeatures, all or nothing as Kafka's FeatureControlManager decides it: one
  // FeatureLevelRecord per level that changes. INVALID_UPDATE_VERSION (naming the feature) for a
  // feature or level outside supported_features, a lower level without a downgrade type, a higher
  // one with a downgrade type, any metadata.version downgrade, or kraft.version (the quorum's own).
  result<decision<bool>, controller_error> update_features(const std::vector<feature_update>& updates,
                                                           bool validate_only);
  // CreateAcls: one AccessControlEntryRecord per ACL not already there (an equal binding under
  // any id counts as there, as in Kafka), with ids from `new_id` (the acl's own id is ignored).
  decision<bool> create_acls(const std::vector<acl_entry>& acls, const std::function<uuid()>& new_id);
  // DeleteAcls: for each filter (a predicate built by the caller from Kafka's filter), the ACLs it
  // matches; each is removed once (one RemoveAccessControlEntryRecord) even when several filters
  // match it, and reported under every filter that matched it, as Kafka does.
  decision<std::vector<std::vector<acl_entry>>> delete_acls(
      const std::vector<std::function<bool(const acl_entry&)>>& filters);
  // AlterUserScramCredentials, after the request-level checks: credential = nullopt deletes the
  // user's credential for that mechanism (resource_not_found when it has none); otherwise it is
  // set. One result per change, in order; failed changes write nothing.
  struct scram_change {
    std::string user;
    int8_t mechanism = 0;
    std::optional<scram_credential_entry> credential;
  };
  decision<std::vector<std::optional<controller_error>>> alter_scram_credentials(const std::vector<scram_change>& changes);

  // AlterClientQuotas (Kafka's ClientQuotaControlManager). An entity is a set of (type, name)
  // pairs, name nullopt = the default entity; a type named twice keeps its last name, as Kafka's
  // request parsing does. Per distinct entity, in order of first appearance, one result:
  // INVALID_REQUEST for an empty entity, an unknown entity type, an empty name, ip combined with
  // user or client-id, an ip that is not an address literal, a key the entity type does not take
  // (user/client-id: producer_byte_rate, consumer_byte_rate (whole numbers), request_percentage,
  // controller_mutation_rate; ip: connection_creation_rate (a whole number up to INT_MAX)), a
  // value <= 0, a fractional value for a whole-number key, a key twice in one entry, or an entity
  // twice in one request ("Ignoring duplicate entity"). A failed entity writes nothing; the others
  // write one ClientQuotaRecord per key whose value changes (a removal only where the key is
  // set). validate_only: the same answers, no records.
  struct quota_op {
    std::string key;
    double value = 0;
    bool remove = false;
  };
  struct quota_alteration {
    std::vector<std::pair<std::string, std::optional<std::string>>> entity;  // as the request lists it
    std::vector<quota_op> ops;
  };
  struct quota_result {
    quota_entity entity;  // sorted by type
    std::optional<controller_error> error;
  };
  decision<std::vector<quota_result>> alter_client_quotas(const std::vector<quota_alteration>& alterations,
                                                          bool validate_only);

  result<decision<producer_id_block>, controller_error> allocate_producer_ids(node_id broker, int64_t broker_epoch,
                                                                              int32_t count);

  // BrokerRegistration: `record_offset` is the offset the registration record will get (it is the
  // broker's new epoch, as in Kafka). A new incarnation of a registered broker replaces it.
  result<decision<int64_t>, controller_error> register_broker(const broker_registration& r, int64_t record_offset,
                                                              int64_t now_ms);
  // BrokerHeartbeat: refreshes the session; unfences a broker caught up to its registration;
  // fences on request; controlled shutdown moves leadership away. Errors: broker_not_registered,
  // stale_broker_epoch.
  result<decision<heartbeat_reply>, controller_error> heartbeat(const broker_heartbeat& h, int64_t now_ms);
  // AlterPartition (Kafka's rules): the sender must be the registered leader of the partition at
  // its leader and partition epochs; the new ISR must contain it and only unfenced replicas not
  // shutting down. Errors: stale_broker_epoch, unknown_topic_id, not_leader_or_follower,
  // fenced_leader_epoch, invalid_update_version, ineligible_replica, invalid_request.
  result<decision<partition_state>, controller_error> alter_partition(const alter_partition_request& req);
  // AlterPartitionReassignments (KIP-455, as KRaft does it): the partition's replicas become the
  // target followed by the replicas being removed; the added ones join as followers and, once every
  // one of them is in the ISR, the reassignment completes in the same change that lets them in:
  // replicas = target, the removed ones leave the ISR (and the leadership, with a bumped leader
  // epoch). A target already covered by the ISR completes at once. Errors per partition:
  // unknown_topic, invalid_replica_assignment, no_reassignment_in_progress (cancel of none).
  decision<std::vector<partition_result>> alter_partition_reassignments(const std::vector<reassignment_request>& reqs);
  // ElectLeaders. Preferred: the first replica leads if it is in the ISR and live
  // (preferred_leader_not_available otherwise, election_not_needed if it leads already).
  // Unclean: a leaderless partition gets a leader from its ISR, else from any live replica
  // (eligible_leaders_not_available if none; election_not_needed if it has a leader).
  // `partitions` nullopt = every partition, and then only partitions that needed an election are
  // reported, as Kafka does.
  decision<std::vector<partition_result>> elect_leaders(
      election_type type, const std::optional<std::vector<std::pair<std::string, int32_t>>>& partitions);
  // auto.leader.rebalance.enable: preferred elections wherever the preferred replica is in the
  // ISR and live but does not lead.
  record_batch_t balance_leaders();
  // Fences brokers whose session expired and re-elects the leaders they held.
  record_batch_t tick(int64_t now_ms);

 private:
  void apply(record_batch_t& out, protocol::metadata::any_record r, int16_t version);
  std::vector<node_id> usable_brokers() const;
  std::vector<std::vector<node_id>> place(int32_t first_partition, int32_t count, int16_t rf, uint64_t seed) const;
  bool unclean_allowed(const topic_info& t) const;
  // Records that take `broker` out of every ISR and leadership it holds (fencing, shutdown).
  void move_away_from(node_id broker, record_batch_t& out);
  // Records that give leaderless partitions whose ISR holds `broker` that broker as leader.
  void restore_leaders_with(node_id broker, record_batch_t& out);
  // After a change of the partition: completes its reassignment if every added replica is now in
  // the ISR (one more PartitionChangeRecord).
  void maybe_complete_reassignment(const uuid& topic, int32_t partition, record_batch_t& out);
  // The error of electing a leader of the kind `type` for partition `p` of `t` now, or the record.
  std::optional<controller_error> elect(const topic_info& t, const partition_info& p, election_type type,
                                        record_batch_t& out);
  bool usable(node_id b) const;
  // Kafka's leader choice: the first of `replicas`, in their order, that is in `eligible` and
  // usable; no_node when none is.
  node_id first_usable(const std::vector<node_id>& replicas, const std::vector<node_id>& eligible) const;

  quorum_controller_settings _settings;
  metadata_image _image;
  std::map<node_id, int64_t> _last_heartbeat_ms;
  std::map<node_id, int64_t> _registration_offset;  // broker epoch = offset of its registration
};

}  // namespace gregor::controller
