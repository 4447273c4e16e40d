#pragma once
// group::group_coordinator: the classic consumer-group protocol (JoinGroup, SyncGroup, Heartbeat,
// LeaveGroup) and committed offsets, as a pure state machine. No I/O and no Asio.
//
// Who calls it: the server's group_service, on the broker's io thread. Requests go in through
// join()/sync()/heartbeat()/leave()/commit...; JoinGroup and SyncGroup answers may be delayed (a
// rebalance waits for every member), so they are identified by a caller-chosen ticket and come
// out, now or later, in the outbox (take_outbox()). tick(now) drives session, rebalance and
// initial-delay timers. The outbox lists group snapshots to persist BEFORE the completions: the
// caller writes them, then answers.
//
// Owns: every group (members, generation, state, chosen protocol, assignments) and every
// committed offset. Invariants: a group in Stable/CompletingRebalance has a leader that is a
// member; generation only grows; a ticket is completed exactly once.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gregor/base/clock.h"
#include "gregor/base/types.h"
#include "gregor/protocol/error_code.h"

namespace gregor::group {

using protocol::error_code;

enum class group_state { empty, preparing_rebalance, completing_rebalance, stable, dead };
// Kafka's names: "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead".
std::string_view state_name(group_state s);

struct group_settings {
  int32_t initial_rebalance_delay_ms = 3000;
  int32_t min_session_timeout_ms = 6000;
  int32_t max_session_timeout_ms = 1800000;
  int32_t max_size = INT32_MAX;
};

struct protocol_entry {
  std::string name;
  std::vector<uint8_t> metadata;
  friend bool operator==(const protocol_entry&, const protocol_entry&) = default;
};

struct join_input {
  std::string group_id;
  std::string member_id;
  std::optional<std::string> instance_id;
  std::string client_id;
  std::string client_host;
  int32_t session_timeout_ms = 0;
  int32_t rebalance_timeout_ms = -1;  // -1: same as session timeout (v0)
  std::string protocol_type;
  std::vector<protocol_entry> protocols;
  bool require_known_member_id = false;  // JoinGroup v4+
  bool supports_skip_assignment = false;  // JoinGroup v9+
};

struct join_member_info {
  std::string member_id;
  std::optional<std::string> instance_id;
  std::vector<uint8_t> metadata;
};

struct join_output {
  error_code error = error_code::none;
  int32_t generation = -1;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  std::string leader;
  std::string member_id;
  bool skip_assignment = false;
  std::vector<join_member_info> members;  // only for the leader
};

struct sync_input {
  std::string group_id;
  int32_t generation = 0;
  std::string member_id;
  std::optional<std::string> instance_id;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  std::vector<std::pair<std::string, std::vector<uint8_t>>> assignments;
};

struct sync_output {
  error_code error = error_code::none;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  std::vector<uint8_t> assignment;
};

struct leave_member {
  std::string member_id;
  std::optional<std::string> instance_id;
};

struct committed_offset {
  int64_t offset = -1;
  int32_t leader_epoch = -1;
  std::string metadata;
  int64_t commit_timestamp_ms = -1;
  friend bool operator==(const committed_offset&, const committed_offset&) = default;
};

// What is persisted of a group (Kafka's GroupMetadataValue).
struct member_snapshot {
  std::string member_id;
  std::optional<std::string> instance_id;
  std::string client_id;
  std::string client_host;
  int32_t rebalance_timeout_ms = 0;
  int32_t session_timeout_ms = 0;
  std::vector<uint8_t> subscription;
  std::vector<uint8_t> assignment;
  friend bool operator==(const member_snapshot&, const member_snapshot&) = default;
};
struct group_snapshot {
  std::string protocol_type;
  int32_t generation = 0;
  std::optional<std::string> protocol_name;
  std::optional<std::string> leader;
  int64_t state_timestamp_ms = -1;
  std::vector<member_snapshot> members;
  friend bool operator==(const group_snapshot&, const group_snapshot&) = default;
};

struct described_member {
  std::string member_id;
  std::optional<std::string> instance_id;
  std::string client_id;
  std::string client_host;
  std::vector<uint8_t> metadata;
  std::vector<uint8_t> assignment;
};
struct group_description {
  error_code error = error_code::none;
  std::string group_id;
  group_state state = group_state::dead;
  std::string protocol_type;
  std::string protocol_data;
  std::vector<described_member> members;
};
struct group_listing {
  std::string group_id;
  std::string protocol_type;
  group_state state;
};

struct outbox {
  // Groups whose metadata changed: persist (nullopt = tombstone) before answering.
  std::vector<std::pair<std::string, std::optional<group_snapshot>>> persist;
  std::vector<std::pair<uint64_t, join_output>> joins;
  std::vector<std::pair<uint64_t, sync_output>> syncs;
  bool empty() const { return persist.empty() && joins.empty() && syncs.empty(); }
};

class group_coordinator {
 public:
  group_coordinator(clock& clk, group_settings settings);
  ~group_coordinator();

  // Both answer through the outbox under `ticket` (now or after a rebalance).
  void join(uint64_t ticket, join_input in);
  void sync(uint64_t ticket, sync_input in);
  // Parked requests whose connection went away (or which timed out server-side): forget them.
  void cancel(uint64_t ticket);

  error_code heartbeat(const std::string& group_id, const std::string& member_id,
                       const std::optional<std::string>& instance_id, int32_t generation);
  // Per member: NONE, UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID. Unknown group: the error is returned
  // once as the first element with an empty member list (caller decides).
  std::vector<error_code> leave(const std::string& group_id, const std::vector<leave_member>& members,
                                error_code* group_error);

  // Fires expired session / rebalance timers.
  void tick();
  outbox take_outbox();

  // ---- offsets ----
  // Checks whether a commit may be written (generation/member rules, simple commits).
  error_code validate_commit(const std::string& group_id, int32_t generation,
                             const std::string& member_id,
                             const std::optional<std::string>& instance_id);
  // Stores an offset (after it was written to the log at `record_offset`; -1 when unknown).
  // Creates an Empty group if needed.
  void store_offset(const std::string& group_id, const topic_partition& tp, committed_offset o,
                    int64_t record_offset = -1);
  // An offset tombstone: removes the committed offset and every producer's pending transactional
  // offset of `tp` in the group (as Kafka's replay of a tombstone does).
  void erase_offset(const std::string& group_id, const topic_partition& tp);
  std::optional<committed_offset> offset_of(const std::string& group_id,
                                            const topic_partition& tp) const;
  std::map<topic_partition, committed_offset> offsets_of(const std::string& group_id) const;
  // OffsetDelete: GROUP_ID_NOT_FOUND, or per-partition decision via subscribed(): whether the group
  // is live and subscribed to `topic` (GROUP_SUBSCRIBED_TO_TOPIC).
  error_code check_offset_delete(const std::string& group_id) const;
  bool subscribed(const std::string& group_id, const std::string& topic) const;

  // ---- transactional offsets (TxnOffsetCommit, Kafka's pending transactional offset commits) ----
  // Kafka's ClassicGroup.validateOffsetCommit for a transactional commit: a group that does not
  // exist is accepted with generation < 0 (ILLEGAL_GENERATION otherwise); generation -1 with no
  // member id and no instance id (what v0-v2 always send) is accepted in every live state; else
  // the member must be known (UNKNOWN_MEMBER_ID; an instance id mapped to another member:
  // FENCED_INSTANCE_ID; an unknown instance id: UNKNOWN_MEMBER_ID) and in the group's generation
  // (ILLEGAL_GENERATION). Unlike OffsetCommit, never REBALANCE_IN_PROGRESS. Dead group:
  // COORDINATOR_NOT_AVAILABLE.
  error_code validate_txn_commit(const std::string& group_id, int32_t generation,
                                 const std::string& member_id,
                                 const std::optional<std::string>& instance_id) const;
  // A transactional offset commit record of `producer_id`, at log offset `record_offset`, was
  // committed to the log (or replayed): it stays pending, invisible to offset_of()/offsets_of(),
  // until complete_txn() for that producer. Creates an Empty group if needed.
  void store_txn_offset(const std::string& group_id, int64_t producer_id, const topic_partition& tp,
                        committed_offset o, int64_t record_offset);
  // A COMMIT (commit = true) or ABORT marker of `producer_id` in offsets partition
  // `offsets_partition` (of `partitions`): that producer's pending offsets of every group placed
  // on that partition are materialised, each only if its record is later in the log than the
  // committed offset it would replace (Kafka keeps the most recent commit), or dropped.
  void complete_txn(int64_t producer_id, bool commit, int32_t offsets_partition, int32_t partitions);
  // Whether some producer has a pending transactional offset for `tp` in the group (OffsetFetch
  // with require_stable answers UNSTABLE_OFFSET_COMMIT for it).
  bool has_pending_txn_offset(const std::string& group_id, const topic_partition& tp) const;
  // The partitions with a pending transactional offset in the group (any producer), sorted.
  std::vector<topic_partition> pending_txn_partitions(const std::string& group_id) const;
  // Leadership of the group's offsets partition lost: its pending offsets are forgotten (a later
  // leadership replays them from the log).
  void drop_pending_txn_offsets(const std::string& group_id);

  // offsets.retention.minutes: offsets of groups that have been Empty for longer than the
  // retention (consumer groups), or whose commit is older than it (groups never joined: simple
  // commits); never one with a pending transactional offset for the same partition. The caller
  // tombstones them (write) and then calls delete_group on groups left empty (and without pending
  // transactional offsets).
  std::vector<std::pair<std::string, topic_partition>> expired_offsets(int64_t retention_ms) const;

  // ---- admin ----
  std::vector<group_listing> list() const;
  group_description describe(const std::string& group_id) const;
  // NONE (deleted: tombstones go to the outbox), GROUP_ID_NOT_FOUND or NON_EMPTY_GROUP.
  // Offsets deleted are reported through `deleted_offsets` for tombstoning, including partitions
  // with only a pending transactional offset (their pending offsets go with the group).
  error_code delete_group(const std::string& group_id, std::vector<topic_partition>* deleted_offsets);

  // ---- loading from the log ----
  void load_group(const std::string& group_id, const group_snapshot& s);
  void unload_group(const std::string& group_id);  // tombstone seen while loading
  // Drops everything held for the group (members, committed and pending transactional offsets):
  // this coordinator no longer leads its offsets partition, or the partition is gone. A later
  // leadership loads it again from the log.
  void forget_group(const std::string& group_id);

  bool has_group(const std::string& group_id) const;
  std::optional<group_state> state_of(const std::string& group_id) const;
  int32_t generation_of(const std::string& group_id) const;

 private:
  struct member;
  struct group;
  group* find(const std::string& id);
  const group* find(const std::string& id) const;
  group& get_or_create(const std::string& id);
  void add_member_and_rebalance(group& g, uint64_t ticket, join_input& in, std::string member_id);
  void update_member_and_rebalance(group& g, member& m, uint64_t ticket, join_input& in);
  void prepare_rebalance(group& g, const char* reason);
  void maybe_complete_join(group& g);
  void complete_join(group& g);
  void remove_member(group& g, const std::string& member_id, const char* reason);
  void reply_join(group& g, member& m, error_code err);
  void fail_pending_syncs(group& g, error_code err);
  void persist(group& g);
  std::optional<std::string> select_protocol(const group& g) const;
  bool supports_protocols(const group& g, const std::string& type,
                          const std::vector<protocol_entry>& protocols) const;
  std::string new_member_id(const std::string& prefix);
  group_snapshot snapshot(const group& g) const;

  clock& _clock;
  group_settings _settings;
  std::map<std::string, std::unique_ptr<group>> _groups;
  outbox _out;
  uint64_t _member_seq = 0;
};

// Java's String.hashCode() of a UTF-8 group id (over its UTF-16 code units), as Kafka uses to place
// a group on partition abs(hash) % offsets.topic.num.partitions.
int32_t java_string_hash(std::string_view s);
int32_t offsets_partition_for(std::string_view group_id, int32_t partitions);

// Topics listed in a consumer-protocol Subscription (ConsumerProtocolSubscription v0-v3). Empty
// on malformed input.
std::vector<std::string> subscription_topics(const std::vector<uint8_t>& metadata);

}  // namespace gregor::group
