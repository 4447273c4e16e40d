#pragma once
// group::consumer_group_coordinator: the KIP-848 consumer group protocol (ConsumerGroupHeartbeat)
// as a pure state machine with server-side assignors (uniform, range), regex subscriptions,
// incremental revocation, the rebalance timeout and persistence as Kafka's records.
//
// Who calls it: the server's group_service on the io thread. Each heartbeat() is answered at
// once. Owns the consumer groups (group epoch, target assignment, members with their epochs and
// current assignments); committed offsets stay in group_coordinator.
// Persistence: every change is turned into Kafka's consumer-group records (types 3-8 of
// __consumer_offsets) by pending_records(), which diffs the groups against what the log holds; the
// caller appends them before answering. replay() rebuilds the groups from those records at
// start-up and finish_replay() restarts the members' timers.
// Invariants: a partition is in at most one member's current assignment; a member's epoch never
// exceeds the group's assignment epoch; a member only gets a partition another member still owns
// after that member revoked it (reported it no longer owns it).
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gregor/base/regex.h"
#include "gregor/base/clock.h"
#include "gregor/base/types.h"
#include "gregor/protocol/error_code.h"

namespace gregor::group {

using assignment_set = std::set<topic_partition>;

// Kafka's INVALID_REGULAR_EXPRESSION (128; 130 is STREAMS_INVALID_TOPOLOGY).
inline constexpr protocol::error_code invalid_regular_expression =
    protocol::error_code::invalid_regular_expression;

// Whether the member's principal may Describe a topic (KIP-848 regex subscriptions only resolve to
// those, Kafka's filterTopicDescribeAuthorizedTopics). Empty: every topic.
using topic_filter = std::function<bool(const std::string& topic)>;

struct cg_heartbeat_input {
  std::string group_id;
  std::string member_id;
  int32_t member_epoch = 0;  // 0 join, -1 leave, -2 static leave
  std::optional<std::string> instance_id;
  std::string client_id;
  std::string client_host;
  int32_t rebalance_timeout_ms = -1;
  std::optional<std::vector<std::string>> subscribed_topics;  // null = unchanged
  std::optional<std::string> subscribed_regex;                 // null = unchanged, "" = none
  std::optional<std::string> server_assignor;                  // null = unchanged
  std::optional<assignment_set> owned;                         // null = unchanged
  topic_filter may_describe;  // the request's principal (kept by the member; empty = unchanged)
};

struct cg_heartbeat_output {
  protocol::error_code error = protocol::error_code::none;
  std::string member_id;
  int32_t member_epoch = 0;
  std::optional<assignment_set> assignment;  // set when it changed (or on join)
};

struct cg_member_description {
  std::string member_id;
  std::optional<std::string> instance_id;
  int32_t member_epoch = 0;
  std::string client_id;
  std::string client_host;
  std::vector<std::string> subscribed_topics;
  std::optional<std::string> subscribed_regex;
  assignment_set assignment;
  assignment_set target;
};
struct cg_description {
  std::string group_id;
  std::string state;  // "Empty", "Assigning", "Reconciling", "Stable"
  std::string assignor;
  int32_t group_epoch = 0;
  int32_t assignment_epoch = 0;
  std::vector<cg_member_description> members;
};

// Target assignment for one topic with Kafka's range assignor rules: members (in the given
// order, sorted by id) get contiguous ranges; previous owners keep up to their quota (their lowest
// partitions first), extras go to the first members that can take one. `previous` is each
// member's partitions of this topic in the current target.
std::map<std::string, std::set<int32_t>> range_assign_topic(
    int32_t partitions, const std::vector<std::string>& members,
    const std::map<std::string, std::set<int32_t>>& previous);

// One persisted piece of a consumer group: Kafka's record type (the key version) and its fields,
// with topics by name (the caller maps them to topic ids). `tombstone` = null value.
struct cg_record {
  enum class kind : int16_t {
    group_metadata = 3,       // epoch
    partition_metadata = 4,   // epoch, partition_counts
    member_metadata = 5,      // member_id, instance_id ... server_assignor
    target_metadata = 6,      // epoch (the assignment epoch)
    target_member = 7,        // member_id, partitions
    current_assignment = 8,   // member_id, epoch, previous_epoch, state, partitions, pending
  };
  kind type = kind::group_metadata;
  std::string group_id;
  std::string member_id;
  bool tombstone = false;
  int32_t epoch = 0;
  std::map<std::string, int32_t> partition_counts;
  std::optional<std::string> instance_id;
  std::optional<std::string> rack_id;
  std::string client_id;
  std::string client_host;
  std::vector<std::string> topics;
  std::optional<std::string> regex;
  int32_t rebalance_timeout_ms = -1;
  std::optional<std::string> server_assignor;
  int32_t previous_epoch = 0;
  int8_t state = 0;  // Kafka's MemberState: 0 stable, 1 unrevoked, 2 unreleased partitions
  assignment_set partitions;
  assignment_set pending;
  bool operator==(const cg_record&) const = default;
};

class consumer_group_coordinator {
 public:
  // partitions_of(topic) gives a topic's partition count (0 when missing).
  using topic_lookup = std::function<int32_t(const std::string&)>;
  // Every topic name, for regex subscriptions.
  using topic_list = std::function<std::vector<std::string>()>;
  consumer_group_coordinator(clock& clk, int32_t session_timeout_ms, topic_lookup topics,
                             topic_list all_topics = {});

  cg_heartbeat_output heartbeat(cg_heartbeat_input in);
  // Removes members whose session expired and fences members that did not revoke within their
  // rebalance timeout.
  void tick();

  // The records that bring __consumer_offsets up to date with the groups, in write order. Call
  // records_written() once they are in the log; until then every call returns them again.
  std::vector<cg_record> pending_records() const;
  void records_written();
  // Start-up: applies one record read back from __consumer_offsets (in log order).
  void replay(const cg_record& r);
  // Start-up done: members' session and rebalance timers start now; each member is sent its
  // assignment on its next heartbeat.
  void finish_replay();

  bool has_group(const std::string& group_id) const;
  // OffsetCommit with a member epoch: NONE, UNKNOWN_MEMBER_ID or STALE_MEMBER_EPOCH.
  protocol::error_code validate_commit(const std::string& group_id, const std::string& member_id,
                                       int32_t member_epoch) const;
  // TxnOffsetCommit v3+ (Kafka's ConsumerGroup.validateOffsetCommit, transactional): NONE when the
  // group has no members and the epoch is < 0, or when no member, epoch (-1) or instance is named;
  // else UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION (a stale member epoch, as Kafka maps it).
  protocol::error_code validate_txn_commit(const std::string& group_id, const std::string& member_id,
                                           const std::optional<std::string>& instance_id,
                                           int32_t member_epoch) const;
  std::vector<std::pair<std::string, std::string>> list() const;  // (group id, state)
  std::optional<cg_description> describe(const std::string& group_id) const;
  // Deletes an empty group: NONE, GROUP_ID_NOT_FOUND or NON_EMPTY_GROUP.
  protocol::error_code delete_group(const std::string& group_id);
  bool subscribed(const std::string& group_id, const std::string& topic) const;
  // Drops the group's state without writing anything: this coordinator no longer leads its
  // offsets partition (or the partition was deleted); a later leadership replays it from the log.
  void forget_group(const std::string& group_id);

 private:
  struct member {
    std::string id;
    std::optional<std::string> instance_id;
    std::string client_id;
    std::string client_host;
    int32_t epoch = 0;
    int32_t previous_epoch = -1;
    int32_t rebalance_timeout_ms = -1;
    std::vector<std::string> topics;
    std::optional<std::string> regex;
    // Regex matches are filtered by it: the topics the member's principal may Describe, as of
    // now (its last heartbeat's principal, ACLs read when the target is computed).
    topic_filter may_describe;
    std::optional<std::string> server_assignor;
    assignment_set current;
    assignment_set pending_revocation;
    bool sent_current = false;
    int64_t last_heartbeat_ms = 0;
    int64_t revoke_deadline_ms = -1;  // set while pending_revocation is not empty
  };
  struct group {
    int32_t epoch = 0;
    int32_t assignment_epoch = 0;
    std::map<std::string, member> members;
    std::map<std::string, assignment_set> target;
    std::map<std::string, int32_t> partition_counts;  // of subscribed topics at the last assignment
  };
  // What the log holds, per group.
  struct persisted {
    std::optional<cg_record> metadata, partitions, target_metadata;
    std::map<std::string, cg_record> members, targets, currents;
  };
  void compute_target(group& g);
  void assign_uniform(group& g, const std::string& topic, int32_t n,
                      const std::vector<std::string>& subs, std::map<std::string, assignment_set>& next);
  void reconcile(group& g, member& m);
  void remove_member(group& g, const std::string& id);
  std::map<std::string, int32_t> subscribed_counts(const group& g) const;
  // The member's topics: its names plus the current topics its regex matches.
  std::set<std::string> topics_of(const member& m) const;
  const gregor::regex* compiled(const std::string& pattern) const;
  std::string assignor_of(const group& g) const;
  std::string state_of(const group& g) const;
  persisted snapshot(const std::string& gid, const group& g) const;
  void set_pending(member& m, int64_t now_ms);

  clock& _clock;
  int32_t _session_timeout_ms;
  topic_lookup _topics;
  topic_list _all_topics;
  std::map<std::string, group> _groups;
  std::map<std::string, persisted> _persisted;
  std::set<std::string> _dirty;
  mutable std::map<std::string, std::shared_ptr<gregor::regex>> _regexes;
  mutable std::vector<std::string> _topic_names;                          // at the last resolution
  mutable std::map<std::string, std::set<std::string>> _resolved;         // pattern -> topics
};

}  // namespace gregor::group
