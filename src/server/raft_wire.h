#pragma once
// raft_wire: the Raft core's messages and entries on Kafka's wire (pure translation, any thread,
// no I/O, no Asio). Owned by the server module; the Asio shell of the controller quorum uses it.
//
// Messages: each raft:: message struct <-> the generated protocol:: struct of the KRaft RPC it
// maps onto, for the single partition `__cluster_metadata`-0 (topic id metadata_topic_id):
//   raft::vote_request / vote_response                        <-> protocol Vote (52)
//   raft::begin_quorum_epoch_request / _response             <-> BeginQuorumEpoch (53)
//   raft::end_quorum_epoch_request / _response               <-> EndQuorumEpoch (54)
//   raft::fetch_request / fetch_response                      <-> Fetch (1), versions 12+ only
//   raft::fetch_snapshot_request / fetch_snapshot_response    <-> FetchSnapshot (59)
// `to_wire` builds the protocol struct for a version; `from_wire` checks and translates a decoded
// one. A request that is not for the metadata partition, or names another cluster, is refused with
// the Kafka error code to answer with (answer with `error_response<R>(code)`, which is what Kafka's
// KRaft client does: a top-level error and no topics). A response with a top-level error, or not
// for the metadata partition, is refused with that code; the shell treats it as a failed request.
//
// Not on the wire (the shell supplies them from its record of the request, see src/raft/README.md):
// vote_response::pre_vote and the request_token of fetch/fetch_snapshot requests and responses;
// `from_wire` leaves them at their defaults. Fetch carries the replica's directory id (v17+, the
// key AddRaftVoter checks); Vote and BeginQuorumEpoch send no directory ids or endpoints.
//
// Entries: one raft::entry is one v2 record batch.
//   data:          payload = one complete data batch (controller::encode_data_batch); the batch's
//                  base offset and partition leader epoch are stamped from the entry.
//   leader_change: a control batch holding one LeaderChangeMessage (v0) with leader, voters and
//                  granting voters; the payload stays empty.
//   voters:        a control batch holding one VotersRecord (v0): id, directory id, endpoints and
//                  kraft.version range 0-1 of each voter (KIP-853).
// A Fetch response's Records are the entries' batches back to back.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gregor/base/result.h"
#include "gregor/base/types.h"
#include "gregor/protocol/error_code.h"
#include "gregor/protocol/messages/begin_quorum_epoch.h"
#include "gregor/protocol/messages/end_quorum_epoch.h"
#include "gregor/protocol/messages/fetch.h"
#include "gregor/protocol/messages/fetch_snapshot.h"
#include "gregor/protocol/messages/vote.h"
#include "gregor/protocol/metadata/voters_record.h"
#include "gregor/raft/messages.h"

namespace gregor::server {

// The versions the quorum shell sends (all Gregor nodes support them; Kafka 4.3.1 does too).
// Vote v2 is the first with PreVote; Fetch v17 is the newest Kafka's KRaft client sends without the
// follower high watermark (v18 works too).
inline constexpr int16_t raft_vote_version = 2;
inline constexpr int16_t raft_begin_quorum_epoch_version = 1;
inline constexpr int16_t raft_end_quorum_epoch_version = 1;
inline constexpr int16_t raft_fetch_version = 17;
inline constexpr int16_t raft_fetch_snapshot_version = 1;
// Fetch below v12 has no LastFetchedEpoch / DivergingEpoch: useless to KRaft, refused.
inline constexpr int16_t raft_fetch_min_version = 12;

// Why a decoded message was not translated: the Kafka error code to answer a request with (or the
// one a response carried), and a human-readable reason for logs.
struct wire_refusal {
  protocol::error_code error = protocol::error_code::invalid_request;
  std::string why;
};

// The answer to a refused request: a top-level error code and nothing else. R is any of the five
// protocol response structs above.
template <class R>
R error_response(protocol::error_code error) {
  R r;
  r.error_code = static_cast<int16_t>(error);
  return r;
}

// ---- Vote (versions 0-2; v0 carries no VoterId, v0-1 no PreVote) ----
// Asserts !req.pre_vote || version >= 2 (the shell must not send a pre-vote to a peer without v2).
protocol::vote_request to_wire(const raft::vote_request& req, std::string_view cluster_id,
                               int16_t version);
// At v0 `voter` comes back as no_node (not on the wire).
result<raft::vote_request, wire_refusal> from_wire(const protocol::vote_request& req,
                                                   int16_t version, std::string_view cluster_id);
protocol::vote_response to_wire(const raft::vote_response& resp, int16_t version);
// pre_vote comes back false: set it from the request this answers.
result<raft::vote_response, wire_refusal> from_wire(const protocol::vote_response& resp,
                                                    int16_t version);

// ---- BeginQuorumEpoch (versions 0-1; v0 carries no VoterId) ----
protocol::begin_quorum_epoch_request to_wire(const raft::begin_quorum_epoch_request& req,
                                             std::string_view cluster_id, int16_t version);
result<raft::begin_quorum_epoch_request, wire_refusal> from_wire(
    const protocol::begin_quorum_epoch_request& req, int16_t version, std::string_view cluster_id);
protocol::begin_quorum_epoch_response to_wire(const raft::begin_quorum_epoch_response& resp,
                                              int16_t version);
result<raft::begin_quorum_epoch_response, wire_refusal> from_wire(
    const protocol::begin_quorum_epoch_response& resp, int16_t version);

// ---- EndQuorumEpoch (versions 0-1: PreferredSuccessors at v0, PreferredCandidates at v1) ----
protocol::end_quorum_epoch_request to_wire(const raft::end_quorum_epoch_request& req,
                                           std::string_view cluster_id, int16_t version);
result<raft::end_quorum_epoch_request, wire_refusal> from_wire(
    const protocol::end_quorum_epoch_request& req, int16_t version, std::string_view cluster_id);
protocol::end_quorum_epoch_response to_wire(const raft::end_quorum_epoch_response& resp,
                                            int16_t version);
result<raft::end_quorum_epoch_response, wire_refusal> from_wire(
    const protocol::end_quorum_epoch_response& resp, int16_t version);

// ---- Fetch (versions 12-18: topic name at v12, topic id from v13, ReplicaState from v15) ----
// MinBytes 0, MaxBytes = PartitionMaxBytes = req.max_bytes, no fetch session (SessionEpoch -1).
// Asserts version >= raft_fetch_min_version.
protocol::fetch_request to_wire(const raft::fetch_request& req, std::string_view cluster_id,
                                int32_t max_wait_ms, int16_t version);
// Versions below 12 are refused with UNSUPPORTED_VERSION. The request's MaxWaitMs (for long
// polling) is read by the shell from `req.max_wait_ms` directly.
result<raft::fetch_request, wire_refusal> from_wire(const protocol::fetch_request& req,
                                                    int16_t version, std::string_view cluster_id);
// True when the request names the metadata topic (by name before v13, by id from v13): the shell's
// router sends such Fetches to the quorum (which answers them with from_wire's checks), all others
// to the partition fetch path.
bool is_metadata_fetch(const protocol::fetch_request& req, int16_t version);
// The returned struct's Records view `records_storage`, which this fills with the entries'
// batches (entry_to_batch each, back to back): keep it alive and unchanged until encoded.
// Asserts version >= raft_fetch_min_version.
protocol::fetch_response to_wire(const raft::fetch_response& resp, int16_t version,
                                 std::vector<uint8_t>& records_storage);
// Records are decoded with batches_to_entries (a corrupt batch refuses the whole response with
// CORRUPT_MESSAGE). request_token comes back 0: set it from the request this answers.
result<raft::fetch_response, wire_refusal> from_wire(const protocol::fetch_response& resp,
                                                     int16_t version);

// ---- FetchSnapshot (versions 0-1) ----
protocol::fetch_snapshot_request to_wire(const raft::fetch_snapshot_request& req,
                                         std::string_view cluster_id, int16_t version);
result<raft::fetch_snapshot_request, wire_refusal> from_wire(
    const protocol::fetch_snapshot_request& req, int16_t version, std::string_view cluster_id);
// The returned struct's UnalignedRecords view resp.unaligned_records: keep `resp` alive.
protocol::fetch_snapshot_response to_wire(const raft::fetch_snapshot_response& resp,
                                          int16_t version);
result<raft::fetch_snapshot_response, wire_refusal> from_wire(
    const protocol::fetch_snapshot_response& resp, int16_t version);

// ---- entries <-> batches ----
// The batch of `e` at e.base in e.epoch. data: a copy of e.payload (asserted to be at least a v2
// batch header, with lastOffsetDelta + 1 == e.record_count) with base offset (bytes 0-7) and partition leader epoch (bytes 12-15, outside the
// CRC) overwritten. leader_change: a control batch with one LeaderChangeMessage whose CreateTime
// is `append_time_ms` (0 by default, so every replica's copy is byte-identical).
std::vector<uint8_t> entry_to_batch(const raft::entry& e, int64_t append_time_ms = 0);
// The VotersRecord of a voter set and back (ids sorted).
protocol::metadata::voters_record to_voters_record(const raft::voter_set& voters);
raft::voter_set from_voters_record(const protocol::metadata::voters_record& r);
// Appends entry_to_batch(e) for each entry to `out`.
void entries_to_batches(std::span<const raft::entry> entries, std::vector<uint8_t>& out);
// Whole v2 batches back to back -> entries (CRC checked). record_count = lastOffsetDelta + 1,
// which must equal the batch's record count. A data batch becomes a data entry whose payload is the
// whole batch; a control batch whose single record is a LeaderChangeMessage becomes a
// leader_change entry, one whose single record is a VotersRecord a voters entry; any other control
// batch (snapshot header/footer, KRaft version, transaction markers) is refused, as is a trailing
// partial batch.
result<std::vector<raft::entry>, std::string> batches_to_entries(std::span<const uint8_t> bytes);

}  // namespace gregor::server
