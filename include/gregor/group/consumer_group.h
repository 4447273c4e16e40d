#pragma once
// group::consumer_group_coordinator: the KIP-848 consumer group protocol (ConsumerGroupHeartbeat)
// as a pure state machine with a server-side uniform assignor and incremental revocation.
//
// Who calls it: the server's group_service on the io thread. Each heartbeat() is answered at
// once. Owns the consumer groups (group epoch, target assignment, members with their epochs and
// current assignments); committed offsets stay in group_coordinator.
// Invariants: a partition is in at most one member's current assignment; a member's epoch never
// exceeds the group's assignment epoch; a member only gets a partition another member still owns
// after that member revoked it (reported it no longer owns it).
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gregor/base/clock.h"
#include "gregor/base/types.h"
#include "gregor/protocol/error_code.h"

namespace gregor::group {

using assignment_set = std::set<topic_partition>;

struct cg_heartbeat_input {
  std::string group_id;
  std::string member_id;
  int32_t member_epoch = 0;  // 0 join, -1 leave, -2 static leave
  std::optional<std::string> instance_id;
  std::string client_id;
  std::string client_host;
  int32_t rebalance_timeout_ms = -1;
  std::optional<std::vector<std::string>> subscribed_topics;  // null = unchanged
  std::optional<assignment_set> owned;                         // null = unchanged
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
  assignment_set assignment;
  assignment_set target;
};
struct cg_description {
  std::string group_id;
  std::string state;  // "Empty", "Assigning", "Reconciling", "Stable"
  int32_t group_epoch = 0;
  int32_t assignment_epoch = 0;
  std::vector<cg_member_description> members;
};

class consumer_group_coordinator {
 public:
  // partitions_of(topic) gives a topic's partition count (0 when missing).
  using topic_lookup = std::function<int32_t(const std::string&)>;
  consumer_group_coordinator(clock& clk, int32_t session_timeout_ms, topic_lookup topics);

  cg_heartbeat_output heartbeat(cg_heartbeat_input in);
  // Removes members whose session expired.
  void tick();

  bool has_group(const std::string& group_id) const;
  // OffsetCommit with a member epoch: NONE, UNKNOWN_MEMBER_ID or STALE_MEMBER_EPOCH.
  protocol::error_code validate_commit(const std::string& group_id, const std::string& member_id,
                                       int32_t member_epoch) const;
  std::vector<std::pair<std::string, std::string>> list() const;  // (group id, state)
  std::optional<cg_description> describe(const std::string& group_id) const;
  // Deletes an empty group: NONE, GROUP_ID_NOT_FOUND or NON_EMPTY_GROUP.
  protocol::error_code delete_group(const std::string& group_id);
  bool subscribed(const std::string& group_id, const std::string& topic) const;

 private:
  struct member {
    std::string id;
    std::optional<std::string> instance_id;
    std::string client_id;
    std::string client_host;
    int32_t epoch = 0;
    std::vector<std::string> topics;
    assignment_set current;
    assignment_set pending_revocation;
    bool sent_current = false;
    int64_t last_heartbeat_ms = 0;
  };
  struct group {
    int32_t epoch = 0;
    int32_t assignment_epoch = 0;
    std::map<std::string, member> members;
    std::map<std::string, assignment_set> target;
    std::map<std::string, int32_t> partition_counts;  // of subscribed topics at the last assignment
  };
  void compute_target(group& g);
  void reconcile(group& g, member& m);
  void remove_member(group& g, const std::string& id);
  std::map<std::string, int32_t> subscribed_counts(const group& g) const;
  std::string state_of(const group& g) const;

  clock& _clock;
  int32_t _session_timeout_ms;
  topic_lookup _topics;
  std::map<std::string, group> _groups;
};

}  // namespace gregor::group
