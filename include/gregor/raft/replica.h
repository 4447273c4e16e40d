#pragma once
// raft::replica: one node's KRaft state machine (voter or observer), with no I/O, no clock, no
// threads. See src/raft/README.md for the shell's contract (what to persist, when to send).
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

#include "gregor/base/result.h"
#include "gregor/base/types.h"
#include "gregor/raft/messages.h"

namespace gregor::raft {

// Kafka's config names in the comments; defaults are Kafka's.
struct config {
  node_id self = no_node;
  // controller.quorum.voters: the initial voter set (kraft.version 0), used until the log (or the
  // snapshot) holds a voters entry. Their endpoints are only copied into the first voters entry.
  std::vector<node_id> voters;
  std::map<node_id, std::vector<voter_endpoint>> voter_endpoints;
  uuid directory_id;                     // this replica's metadata log directory id (KIP-853)
  int64_t election_timeout_ms = 1000;    // quorum.election.timeout.ms
  int64_t fetch_timeout_ms = 2000;       // quorum.fetch.timeout.ms
  int64_t election_backoff_max_ms = 1000;  // quorum.election.backoff.max.ms
  int64_t request_timeout_ms = 2000;     // quorum.request.timeout.ms: resend an unanswered request
  int64_t retry_backoff_ms = 20;         // quorum.retry.backoff.ms: after an error answer
  // Not a Kafka setting: a prospective or candidate asks again the voters that have not answered
  // after this long, so one lost Vote request does not cost a whole election round.
  int64_t vote_retry_ms = 300;
  int32_t fetch_bytes_max = 1 << 20;     // per Fetch response (at least one entry is always sent)
  int32_t fetch_entries_max = 256;       // per Fetch response
  int32_t snapshot_chunk_bytes_max = 1 << 20;  // per FetchSnapshot response
  int32_t uncommitted_entries_max = 1024;  // leader: propose() refuses beyond this many
  int32_t observers_max = 1024;            // leader: observers tracked for DescribeQuorum
  // AddVoter: the new voter must be an observer that fetched within fetch_timeout_ms with the
  // given directory id and whose log end is at most this many offsets behind the leader's.
  int64_t voter_catch_up_lag_max = 1000;
  // The voter set a snapshot's bytes carry (the shell writes it into the snapshot, Kafka's
  // VotersRecord after the header); nullopt when it holds none. A pure function of the bytes.
  // Unset: snapshots carry no voter set (the state machine's own business).
  std::function<std::optional<voter_set>(const bytes&)> snapshot_voters;
  uint64_t seed = 0;                       // the only source of randomness (election timeouts)
};

// KRaft's QuorumStateData: what must be durable before any message depending on it is sent.
struct quorum_state {
  leader_epoch epoch{0};
  node_id voted_for = no_node;
  node_id leader = no_node;
  bool operator==(const quorum_state&) const = default;
};

// Everything a node had durable when it stopped; handed to the constructor after a restart.
struct persisted_state {
  quorum_state quorum;
  std::optional<snapshot_id> snapshot;  // the latest snapshot, if any
  shared_bytes snapshot_bytes;          // its contents (served to lagging replicas)
  std::vector<entry> log;               // entries after the snapshot, contiguous
};

// Log operations, in the order the shell must apply them to its metadata log.
struct truncate_log { offset end{0}; };        // remove every entry at or after `end`
struct append_log { std::vector<entry> entries; };
struct install_snapshot {                      // write the snapshot, then drop the whole log
  snapshot_id id;
  shared_bytes data;
};
struct delete_log_prefix { offset log_start{0}; };  // entries wholly below it may go
using log_op = std::variant<truncate_log, append_log, install_snapshot, delete_log_prefix>;

enum class role : uint8_t { unattached, prospective, candidate, leader, resigned, follower };
std::string_view to_string(role r);

struct leadership_change {
  leader_and_epoch leader;
  role self_role = role::unattached;
};

// What happened since the last take_output(). The shell handles one output at a time, in order:
//  1. make `quorum` (if set) and every `log_ops` entry durable (write + fsync), in that order;
//  2. call persisted(sequence) (a later call acknowledges all earlier outputs too);
//  3. send `messages`; 4. load `snapshot_to_load`, then apply `committed` in order.
// Messages never leave before what they depend on is durable; that is the whole durability rule.
struct output {
  uint64_t sequence = 0;
  std::optional<quorum_state> quorum;
  std::vector<log_op> log_ops;
  std::vector<outbound_message> messages;
  std::optional<offset> high_watermark;  // set when it advanced
  std::optional<install_snapshot> snapshot_to_load;  // state machine: replace your state with it
  std::vector<entry> committed;          // apply in order (data and leader_change entries)
  std::optional<leadership_change> leadership;  // set when the known leader or our role changed
  // Set when the voter set changed (a voters entry appended or truncated away, a snapshot
  // installed): the shell updates its endpoints. Not a durability matter: it follows the log.
  std::optional<voter_set> voters;
  bool empty() const;
};

enum class raft_error : uint8_t {
  not_leader,         // `leader` says who is, if known
  too_many_pending,   // uncommitted_entries_max reached: retry after the high watermark moves
  invalid_proposal,   // empty batch or record_count < 1
  // Voter changes (KIP-853):
  change_pending,     // another voter change is uncommitted, or this epoch has no commit yet
  duplicate_voter,    // AddVoter: the id is already a voter
  voter_not_found,    // RemoveVoter: no voter with that id and directory id
  not_caught_up,      // AddVoter: not an observer fetching with that directory id, or lagging
  invalid_voter,      // bad id, or the change would leave no voter
};
struct propose_error {
  raft_error error = raft_error::not_leader;
  leader_and_epoch leader;
};
// Offsets given to the proposed batches: [first, last_end).
struct offset_range {
  offset first{0};
  offset last_end{0};
};

// DescribeQuorum's data for one replica.
struct replica_progress {
  node_id id = no_node;
  uuid directory_id;
  offset log_end_offset = no_offset;
  int64_t last_fetch_ms = no_timestamp;
  int64_t last_caught_up_ms = no_timestamp;
};
struct quorum_info {
  leader_and_epoch leader;
  offset high_watermark = no_offset;
  std::vector<replica_progress> voters;
  std::vector<replica_progress> observers;
};

// One node of the controller quorum. Owned and driven by one thread (the shell's, or a test's):
// every input is a method call, every effect goes into the output returned by take_output().
// Invariants: the log is contiguous from log_start_offset(); entry epochs never decrease along
// it; high_watermark() never decreases while the object lives and never passes log_end_offset();
// a leader never truncates its log.
class replica {
 public:
  replica(config cfg, persisted_state state, int64_t now_ms);

  void step(node_id from, const message& m);
  void tick(int64_t now_ms);
  result<offset_range, propose_error> propose(std::vector<proposal> batches);
  // The shell made output `sequence` (and all earlier ones) durable.
  void persisted(uint64_t sequence);
  // The state machine wrote a snapshot covering every entry below `end` (an entry boundary at or
  // below the high watermark); `epoch` is the epoch of the last entry it covers.
  void snapshot_taken(offset end, leader_epoch epoch, shared_bytes data);
  // Graceful shutdown of a leader: resign and tell the voters (EndQuorumEpoch).
  void resign();
  // KIP-853 on the leader: append a voters entry with `v` added (or the voter removed). The new
  // set rules at once (uncommitted, as on every replica that appends it); the change is done
  // when the high watermark passes the returned range. One change at a time, and only once this
  // epoch has a commit. A leader that removes itself resigns when the removal commits.
  result<offset_range, propose_error> add_voter(voter v);
  result<offset_range, propose_error> remove_voter(node_id id, uuid directory_id);
  // KIP-853's UpdateVoter: the voter with v's id and directory id gets v's endpoints (same rules).
  result<offset_range, propose_error> update_voter(voter v);

  output take_output();

  role current_role() const { return _role; }
  bool is_voter() const { return _is_voter; }
  leader_and_epoch leader() const { return {_quorum.leader, _quorum.epoch}; }
  leader_epoch epoch() const { return _quorum.epoch; }
  offset high_watermark() const { return _hw; }
  offset log_start_offset() const { return _log_start; }
  offset log_end_offset() const;
  const std::deque<entry>& log() const { return _log; }
  quorum_info describe_quorum() const;
  // The voter set now (the latest voters entry of the log, else the snapshot's, else the config).
  const voter_set& voters() const { return _voter_history.back().set; }
  // The voter set in force at `end` (for a snapshot ending there): the last voters entry below it.
  const voter_set& voters_at(offset end) const;

 private:
  struct peer_state {
    offset end = no_offset;          // its log end, as its last valid Fetch said
    int64_t last_fetch_ms = no_timestamp;
    int64_t last_caught_up_ms = no_timestamp;
    bool begin_epoch_acked = false;
    int64_t begin_epoch_sent_ms = no_timestamp;
    uuid directory_id;               // as its last Fetch said
  };
  // A voter set and the offset of the entry that set it (no_offset: the base, from the config or
  // the snapshot, below the log start).
  struct voters_since {
    offset at = no_offset;
    voter_set set;
  };
  struct epoch_start {
    leader_epoch epoch;
    offset start;
  };
  struct snapshot_download {
    snapshot_id id;
    bytes data;
    int64_t size = -1;
  };

  // Handlers.
  void on(node_id from, const vote_request& m);
  void on(node_id from, const vote_response& m);
  void on(node_id from, const begin_quorum_epoch_request& m);
  void on(node_id from, const begin_quorum_epoch_response& m);
  void on(node_id from, const end_quorum_epoch_request& m);
  void on(node_id from, const end_quorum_epoch_response& m);
  void on(node_id from, const fetch_request& m);
  void on(node_id from, const fetch_response& m);
  void on(node_id from, const fetch_snapshot_request& m);
  void on(node_id from, const fetch_snapshot_response& m);

  // Transitions.
  void become_unattached(leader_epoch epoch, node_id voted_for);
  void become_follower(leader_epoch epoch, node_id leader);
  void become_prospective();
  void become_candidate();
  void become_leader();
  void become_resigned(bool tell_voters);
  // A message said a newer epoch (or this epoch's leader) exists: adopt it. Returns true if the
  // sender's epoch is older than ours (the caller answers with a fencing error).
  bool observe_leader(leader_and_epoch seen);

  // Log.
  leader_epoch last_epoch() const;
  void append(entry e);
  void truncate(offset end);
  // The end offset of `epoch` in our log (start of the next larger epoch), and the largest epoch
  // <= `epoch` we know; nullopt if the answer is below the log start.
  std::optional<diverging_epoch> end_offset_for_epoch(leader_epoch epoch) const;
  size_t index_of(offset o) const;  // first entry with end() > o
  bool log_up_to_date(leader_epoch last_epoch, offset end) const;

  // Leader.
  void update_leader_high_watermark();
  void send_begin_quorum_epoch(int64_t now_ms, bool only_due);
  fetch_response make_fetch_response(const fetch_request& m);
  // Follower / observer.
  void send_fetch();
  void send_fetch_snapshot();
  void advance_high_watermark(offset hw);
  void emit_committed();
  void send_votes(bool pre_vote, bool only_unanswered);
  void count_vote(node_id from, bool granted);

  int64_t random_election_timeout_ms();
  int64_t random_backoff_ms();
  uint64_t next_random();
  size_t majority() const { return _voter_ids.size() / 2 + 1; }
  size_t granted_voters() const;
  // Voters.
  voter_set base_voters(const shared_bytes& snapshot_bytes) const;
  void voters_changed();
  result<offset_range, propose_error> append_voters(voter_set next);
  bool voter_change_pending() const;
  bool is_voter_id(node_id id) const;
  leader_and_epoch advertised_leader() const;
  void persist_quorum();
  void send(node_id to, message m);
  void note_leadership();

  config _cfg;
  bool _is_voter = false;
  std::vector<voters_since> _voter_history;  // ascending `at`; front is the base, never empty
  std::vector<node_id> _voter_ids;           // ids of voters(), sorted
  uint64_t _rng;
  int64_t _now_ms;
  role _role = role::unattached;
  quorum_state _quorum;

  // Log and snapshot.
  std::deque<entry> _log;
  offset _log_start{0};
  std::optional<snapshot_id> _snapshot;
  shared_bytes _snapshot_bytes;
  std::vector<epoch_start> _epochs;  // epoch history: epoch -> first offset
  offset _hw{0};
  offset _applied{0};                // next offset to hand to the state machine
  offset _persisted_end{0};          // durable prefix of the in-memory log
  std::deque<std::pair<uint64_t, offset>> _unacked;  // output sequence -> log end after it
  uint64_t _next_sequence = 1;

  // Timers (absolute ms; -1 off).
  int64_t _election_deadline_ms = -1;  // unattached / prospective / candidate / resigned
  int64_t _vote_retry_ms = -1;         // prospective / candidate: ask the silent voters again
  int64_t _fetch_deadline_ms = -1;     // follower: leader silent this long -> election
  int64_t _request_deadline_ms = -1;   // follower/observer: resend an unanswered fetch
  int64_t _last_leader_contact_ms = no_timestamp;
  bool _fetch_in_flight = false;
  uint64_t _fetch_token = 0;           // the token of the Fetch/FetchSnapshot we wait for
  std::optional<snapshot_download> _download;
  size_t _observer_cursor = 0;         // observer without a leader: which voter to ask next

  // Elections.
  std::vector<node_id> _granted;
  std::vector<node_id> _rejected;

  // Leader.
  std::map<node_id, peer_state> _voter_progress;
  std::map<node_id, peer_state> _observer_progress;
  offset _epoch_start_offset{0};
  int64_t _leader_since_ms = 0;

  leader_and_epoch _last_reported_leader{no_node, no_leader_epoch};
  role _last_reported_role = role::unattached;
  bool _reported_once = false;
  output _out;
};

}  // namespace gregor::raft
