#pragma once
// The Raft core's vocabulary: log entries and the messages replicas exchange. Each message struct
// maps 1:1 onto one KRaft RPC of Kafka (Vote, BeginQuorumEpoch, EndQuorumEpoch, Fetch and
// FetchSnapshot on the `__cluster_metadata` partition); the fields are exactly the ones those RPCs
// carry for a single partition, named as in Kafka's schema files. The Asio shell encodes them.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "gregor/base/types.h"

namespace gregor::raft {

using bytes = std::vector<uint8_t>;
// Snapshot contents are immutable once taken and may be large: shared, never copied.
using shared_bytes = std::shared_ptr<const bytes>;

// Kafka's numeric error codes, the subset the quorum RPCs use (same values as the wire).
enum class wire_error : int16_t {
  none = 0,
  offset_out_of_range = 1,
  not_leader_or_follower = 6,
  invalid_request = 42,
  fenced_leader_epoch = 74,
  unknown_leader_epoch = 75,
  inconsistent_voter_set = 94,
  snapshot_not_found = 98,
  position_out_of_range = 99,
};

enum class entry_kind : uint8_t {
  data,           // a batch of the state machine's records; payload is opaque
  leader_change,  // KRaft's LeaderChangeMessage control batch, written first in every epoch
  voters,         // KRaft's VotersRecord control batch (KIP-853): the voter set from here on
};

// One listener of a voter (VotersRecord.Endpoints): carried for the shell, never used here.
struct voter_endpoint {
  std::string name;
  std::string host;
  uint16_t port = 0;
  bool operator==(const voter_endpoint&) const = default;
};

// One voter (KIP-853's ReplicaKey plus its endpoints). A voter from the static
// controller.quorum.voters config has the zero directory id.
struct voter {
  node_id id = no_node;
  uuid directory_id;
  std::vector<voter_endpoint> endpoints;
  bool operator==(const voter&) const = default;
};
// Sorted by id; ids are unique.
using voter_set = std::vector<voter>;

// What a LeaderChangeMessage control record says (the shell encodes it; the payload stays empty).
struct leader_change_info {
  node_id leader = no_node;
  std::vector<node_id> voters;
  std::vector<node_id> granting_voters;
  bool operator==(const leader_change_info&) const = default;
};

// One entry is one record batch: it occupies offsets [base, base + record_count).
struct entry {
  offset base{0};
  int32_t record_count = 1;
  leader_epoch epoch{0};
  entry_kind kind = entry_kind::data;
  bytes payload;                    // data: the state machine's bytes
  leader_change_info leader_change; // leader_change: who won, with whose votes
  voter_set voters;                 // voters: the complete voter set from this entry on
  offset end() const { return base + record_count; }
  bool operator==(const entry&) const = default;
};

// A proposed batch before the leader assigns it an offset and an epoch.
struct proposal {
  bytes payload;
  int32_t record_count = 1;
};

// Offset and epoch of the last entry covered by a snapshot (Kafka's SnapshotId: EndOffset, Epoch).
struct snapshot_id {
  offset end_offset{0};
  leader_epoch epoch{0};
  auto operator<=>(const snapshot_id&) const = default;
};

struct leader_and_epoch {
  node_id leader = no_node;
  leader_epoch epoch{0};
  auto operator<=>(const leader_and_epoch&) const = default;
};

// VoteRequest (one partition). PreVote (v2+) asks "would you vote for me?" without the voter
// recording a vote. candidate_epoch is Kafka's ReplicaEpoch: for a pre-vote the prospective's
// current epoch (it has not bumped it), for a vote the candidate's new epoch.
struct vote_request {
  leader_epoch candidate_epoch{0};  // ReplicaEpoch
  node_id candidate = no_node;      // ReplicaId
  node_id voter = no_node;          // VoterId (the addressee)
  leader_epoch last_offset_epoch{0};  // LastOffsetEpoch: epoch of the candidate's last entry
  offset last_offset{0};              // LastOffset: the candidate's log end offset
  bool pre_vote = false;              // PreVote
};

// VoteResponse. `pre_vote` is not on the wire: the shell copies it from the request it answers
// (it matches responses to requests by correlation id), so a late pre-vote grant is never
// mistaken for a vote.
struct vote_response {
  wire_error error = wire_error::none;
  leader_and_epoch leader;  // LeaderId, LeaderEpoch: what the voter knows
  bool vote_granted = false;
  bool pre_vote = false;
};

struct begin_quorum_epoch_request {
  leader_and_epoch leader;  // LeaderId, LeaderEpoch
  node_id voter = no_node;  // VoterId
};
struct begin_quorum_epoch_response {
  wire_error error = wire_error::none;
  leader_and_epoch leader;
};

struct end_quorum_epoch_request {
  leader_and_epoch leader;
  std::vector<node_id> preferred_candidates;  // PreferredCandidates, best first
};
struct end_quorum_epoch_response {
  wire_error error = wire_error::none;
  leader_and_epoch leader;
};

// FetchRequest as a replica of the metadata partition sends it (KRaft fields).
struct fetch_request {
  node_id replica = no_node;                   // ReplicaState.ReplicaId
  leader_epoch current_leader_epoch{0};        // CurrentLeaderEpoch
  offset fetch_offset{0};                      // FetchOffset: the replica's log end offset
  leader_epoch last_fetched_epoch{0};          // LastFetchedEpoch: epoch of its last entry
  offset log_start_offset{0};                  // LogStartOffset
  int32_t max_bytes = 1 << 20;                 // MaxBytes (partition)
  uuid directory_id;                           // ReplicaState.ReplicaDirectoryId (v17+)
  uint64_t request_token = 0;  // not on the wire: see `request_token` below
};

struct diverging_epoch {
  leader_epoch epoch{0};
  offset end_offset{0};
};

struct fetch_response {
  wire_error error = wire_error::none;
  leader_and_epoch current_leader;            // CurrentLeader
  offset high_watermark = no_offset;          // HighWatermark (-1: the leader does not know yet)
  offset log_start_offset{0};                 // LogStartOffset
  std::optional<diverging_epoch> diverging;   // DivergingEpoch: truncate, then fetch again
  std::optional<snapshot_id> snapshot;        // SnapshotId: fetch this snapshot instead
  std::vector<entry> records;                 // Records: whole batches from fetch_offset on
  // Not on the wire. The requester's core numbers each Fetch it sends and accepts only the answer
  // to the one it waits for (a late answer to a resent request must not truncate or advance
  // anything). The responder copies it; the requester's shell must set it on the response from
  // its own record of the request (it pairs them by correlation id).
  uint64_t request_token = 0;
};

struct fetch_snapshot_request {
  node_id replica = no_node;             // ReplicaId
  leader_epoch current_leader_epoch{0};  // CurrentLeaderEpoch
  snapshot_id snapshot;                  // SnapshotId
  int64_t position = 0;                  // Position: byte offset into the snapshot
  int32_t max_bytes = 1 << 20;           // MaxBytes
  uint64_t request_token = 0;            // not on the wire, as in fetch_request
};

struct fetch_snapshot_response {
  wire_error error = wire_error::none;
  leader_and_epoch current_leader;  // CurrentLeader
  snapshot_id snapshot;             // SnapshotId
  int64_t size = 0;                 // Size: of the whole snapshot
  int64_t position = 0;             // Position of this chunk
  bytes unaligned_records;          // UnalignedRecords: the chunk
  uint64_t request_token = 0;       // not on the wire, as in fetch_response
};

using message = std::variant<vote_request, vote_response, begin_quorum_epoch_request,
                             begin_quorum_epoch_response, end_quorum_epoch_request,
                             end_quorum_epoch_response, fetch_request, fetch_response,
                             fetch_snapshot_request, fetch_snapshot_response>;

struct outbound_message {
  node_id to = no_node;
  message body;
};

}  // namespace gregor::raft
