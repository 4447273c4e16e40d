#pragma once
// server::idempotence: wires the txn module into the broker. Owns the producer id allocator (its
// blocks come from the controller, AllocateProducerIds) and the producer state of every partition it has seen,
// loaded lazily on first use (newest snapshot plus the log after it) and snapshotted at every
// segment roll (storage's roll listener) and at close. It is the partition-leader side of
// transactions: ongoing transactions per producer, the transaction markers (write_marker), the
// aborted-transaction index of the log (`.txnindex`, appended when an ABORT ends a transaction,
// on leaders and followers alike) and the last stable offset.
//
// Callers: the Produce handler (check() before append, record() after), WriteTxnMarkers
// (write_marker), the follower fetcher and any other writer of a log (appended()), Fetch and
// ListOffsets (last_stable_offset), InitProducerId and DescribeProducers, and core::close().
// Threading: the broker's single io thread.
// Invariant: a loaded state's end offset equals its log's end offset between requests; when it
// does not, the state catches up with the log (someone appended elsewhere: the new batches are
// replayed) or, when the log was replaced or truncated, is rebuilt (both also index the ABORTs of
// the replayed range).
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "gregor/base/clock.h"
#include "gregor/config/broker_config.h"
#include <boost/asio/awaitable.hpp>

#include "gregor/controller/metadata_image.h"
#include "gregor/protocol/error_code.h"
#include "gregor/protocol/record_batch.h"
#include "gregor/replication/partition.h"
#include "gregor/txn/producer_id_allocator.h"
#include "gregor/txn/producer_state.h"
#include "controller_client.h"

namespace gregor::server {

// What the Produce handler does with a partition's batches.
struct idempotence_verdict {
  protocol::error_code error = protocol::error_code::none;  // refuse with this when not none
  std::string message;
  // A retry of batches already in the log: answer with these offsets, append nothing.
  std::optional<txn::batch_metadata> duplicate_of;
};

struct new_producer {
  protocol::error_code error = protocol::error_code::none;
  producer_id pid = no_producer_id;
  producer_epoch epoch = no_producer_epoch;
};

class idempotence {
 public:
  // `image` is the broker's metadata image (the cluster's producer id high mark); blocks of ids
  // come from `controller`.
  idempotence(const config::broker_config& cfg, clock& clk, const controller::metadata_image& image,
              controller_client& controller);

  // InitProducerId without a transactional id: a new producer id with epoch 0, or, when the client
  // names a producer id this cluster handed out and its epoch (v3+, KIP-360), the same id with the
  // epoch bumped (a new id once the epoch is exhausted).
  boost::asio::awaitable<new_producer> init_producer_id(producer_id pid, producer_epoch epoch);

  // Kafka's idempotence and transaction-state rules for the validated batches of one partition's
  // produce (INVALID_TXN_STATE for a non-transactional batch during the producer's transaction).
  // A coordinator writing its own batches (transactional offset commits: a producer id, no
  // sequence) passes txn::append_origin::coordinator.
  idempotence_verdict check(replication::partition& p,
                            std::span<const protocol::validated_batch> batches,
                            txn::append_origin origin = txn::append_origin::client);
  // After a successful append of those batches starting at `base`: a transactional batch starts
  // its producer's transaction (the last stable offset stops there until its marker).
  // `log_append_time_ms`: the append time written into the batches under LogAppendTime, else -1
  // (each batch's records' max timestamp is what was stored).
  void record(replication::partition& p, std::span<const protocol::validated_batch> batches,
              offset base, int64_t log_append_time_ms);

  // Appends a COMMIT or ABORT control batch of producer `pid` at `epoch` to the leader
  // partition `p`, ends the producer's ongoing transaction (the LSO moves; an ABORT is
  // indexed in .txnindex). Returns the marker's offset, or INVALID_PRODUCER_EPOCH,
  // TRANSACTION_COORDINATOR_FENCED, NOT_LEADER_OR_FOLLOWER, KAFKA_STORAGE_ERROR.
  // A marker for a producer with no ongoing transaction is still written (as Kafka does); the
  // caller (WriteTxnMarkers) then waits for the high watermark to pass the returned offset.
  result<offset, protocol::error_code> write_marker(replication::partition& p, producer_id pid,
                                                    producer_epoch epoch, bool commit,
                                                    int32_t coordinator_epoch);

  // Batches appended to `p`'s log by another path than produce/write_marker, offsets assigned:
  // the follower fetcher (append_with_offsets) and coordinators writing their own records.
  // `end_before` is the log end offset before that append. Applied without checks (Kafka's
  // AppendOrigin.REPLICATION): data batches, transaction markers, ABORTs indexed. A state that did
  // not cover exactly the log up to `end_before` is rebuilt from the log instead (so a follower
  // always has the state and index it needs the day it becomes leader).
  void appended(replication::partition& p, std::span<const uint8_t> batches, offset end_before);

  // The partition's last stable offset: min(high watermark, first offset of an ongoing
  // transaction or of a completed one whose marker is not yet below the high watermark). Loads
  // the state if needed; the high watermark when it cannot be loaded (logged).
  // `load_if_needed` false: only a state already following the log is used (the high watermark
  // otherwise), for callers that must not trigger a rebuild (follower fetches on the leader).
  offset last_stable_offset(replication::partition& p, bool load_if_needed = true);

  // Called with a partition whose last stable offset may have moved without its high watermark
  // moving (a marker landed): core wires it to the fetch waiters.
  void set_stable_offset_listener(std::function<void(const topic_partition&)> fn) {
    _on_stable_offset = std::move(fn);
  }

  // The partition's producer state, loaded if needed (nullptr if it cannot be rebuilt).
  const txn::producer_state* state(replication::partition& p);

  // The partition's log start may have moved (retention, DeleteRecords): when it did, drops the
  // loaded state's producers wholly below it and deletes the snapshots below it
  // (txn::on_log_start_moved). Cheap when nothing moved; log_maintenance calls it every tick.
  void log_start_moved(replication::partition& p);

  // Writes a snapshot at the log end of every loaded partition whose log is still open. Called by
  // core::close() before the logs close.
  void snapshot_all(const std::function<replication::partition*(const topic_partition&)>& live);

 private:
  struct loaded {
    storage::partition_log* log = nullptr;
    uuid topic_id;
    std::unique_ptr<txn::producer_state> state;
    int64_t last_expiry_ms = 0;
    int64_t log_start = -1;  // the log start last trimmed to (log_start_moved)
    bool stale = false;      // rebuild at next use (an index write failed, a replay disagreed)
    std::shared_ptr<bool> truncated;  // set by the log's truncate listener: rebuild at next use
  };
  txn::producer_state* load(replication::partition& p);
  // The loaded state of `p` when it covers exactly the log below `end` (nullptr otherwise).
  txn::producer_state* loaded_at(replication::partition& p, offset end);
  // The state follows the log to its end: raise the log's txn_index_complete_below().
  void note_current(replication::partition& p);
  // An ABORT ended `t`: index it (and on failure have the index rebuilt from before it).
  void index_aborted(replication::partition& p, txn::producer_state& st, const txn::completed_txn& t);

  const config::broker_config& _cfg;
  clock& _clock;
  const controller::metadata_image& _image;
  controller_client& _controller;
  txn::producer_id_allocator _ids;
  std::map<topic_partition, loaded> _partitions;
  std::function<void(const topic_partition&)> _on_stable_offset;
};

// The one place producer-state refusals become Kafka error codes.
protocol::error_code to_error_code(txn::producer_errc e);

}  // namespace gregor::server
