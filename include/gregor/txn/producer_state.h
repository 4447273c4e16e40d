#pragma once
// producer_state: the idempotence and transaction state of one partition, as Kafka's
// ProducerStateManager keeps it. For every producer id that wrote to the partition: its epoch, the
// sequence ranges and offsets of its last five batches, when it last wrote, the first offset of its
// ongoing transaction and the coordinator epoch of its last transaction marker. A pure core (no
// I/O, no clock of its own): the server calls check() before an append and record() after it
// (check_marker() / record_marker() for COMMIT and ABORT control batches), replay() while
// rebuilding from the log, and expire() now and then. Snapshots (encode_snapshot /
// decode_snapshot) carry the whole state except the completed transactions not yet below the
// high watermark (as Kafka's).
//
// Threading: owned by the server's idempotence registry, called from the partition's thread only.
// Invariants: per producer, batches are ordered by offset, at most batches_retained_max of them,
// all of the current epoch; end_offset() is the offset every recorded batch lies below; ongoing()
// holds exactly the producers whose current_txn_first_offset is set, keyed by it.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gregor/base/result.h"
#include "gregor/base/types.h"

namespace gregor::txn {

// Kafka keeps the metadata of this many batches per producer (the client's max in-flight limit).
inline constexpr size_t batches_retained_max = 5;
// "No sequence yet" (Kafka's RecordBatch.NO_SEQUENCE).
inline constexpr int32_t no_sequence = -1;

// The idempotence-relevant part of one batch's header.
struct batch_identity {
  producer_id pid = no_producer_id;
  producer_epoch epoch = no_producer_epoch;
  int32_t base_sequence = no_sequence;
  int32_t last_offset_delta = 0;  // record count - 1
  bool transactional = false;     // attributes bit 4

  // Last sequence of the batch, wrapping past INT32_MAX to 0 as Kafka does.
  int32_t last_sequence() const;
  bool idempotent() const { return pid.value() >= 0; }
};

// One batch a producer appended.
struct batch_metadata {
  int32_t first_sequence = 0;
  int32_t last_sequence = 0;
  offset first_offset;
  offset last_offset;
  int64_t timestamp_ms = -1;
};

struct producer_entry {
  producer_id pid = no_producer_id;
  producer_epoch epoch = no_producer_epoch;
  std::deque<batch_metadata> batches;  // oldest first, at most batches_retained_max
  // Kafka's lastTimestamp: the max timestamp of its latest batch or marker (the append time
  // under LogAppendTime), so a client's own timestamps drive expiry, as in Kafka.
  int64_t last_timestamp_ms = -1;
  int32_t coordinator_epoch = -1;      // of its last transaction marker (-1: none yet)
  // First offset of its ongoing transaction: set by its first transactional batch after a marker,
  // cleared by the next marker.
  std::optional<offset> current_txn_first_offset;

  int32_t last_sequence() const {
    return batches.empty() ? no_sequence : batches.back().last_sequence;
  }
  offset last_offset() const { return batches.empty() ? offset(-1) : batches.back().last_offset; }
};

// Why a batch is refused; the server maps these to Kafka error codes in one place.
enum class producer_errc {
  invalid_producer_epoch,  // epoch below the producer's current one
  out_of_order_sequence,   // a gap, or a new epoch that does not start at sequence 0
  unknown_producer_id,     // no state for the producer and the batch does not start at 0
  invalid_txn_state,       // a non-transactional batch while the producer's transaction is ongoing
  coordinator_fenced,      // a marker from a coordinator epoch older than the producer's last one
  invalid_record,          // a transactional batch without a producer id
};

// Who an append comes from (Kafka's AppendOrigin). client: every check. coordinator (a
// coordinator's own writes, e.g. transactional offset commits in __consumer_offsets, which carry a
// producer id but no sequence): epochs and transaction state, no sequence or duplicate checks.
// replication (a follower copying the leader): no checks, the leader already made them.
enum class append_origin { client, coordinator, replication };

// The control record of a COMMIT or ABORT control batch (Kafka's EndTransactionMarker).
struct end_txn_marker {
  bool commit = false;
  int32_t coordinator_epoch = 0;
};
// A transaction a marker ended (Kafka's CompletedTxn): its first data offset and the marker's.
struct completed_txn {
  producer_id pid = no_producer_id;
  offset first_offset;
  offset last_offset;
  bool aborted = false;
};
struct producer_error {
  producer_errc code;
  std::string message;
};

// Verdict on a batch that may be appended.
struct check_verdict {
  // Set when the batch is a retry of one already in the log: answer with its offsets, append
  // nothing (the client sees success, as with Kafka's DUPLICATE_SEQUENCE_NUMBER handling).
  std::optional<batch_metadata> duplicate_of;
};

class producer_state {
 public:
  explicit producer_state(int64_t producer_id_expiration_ms)
      : _expiration_ms(producer_id_expiration_ms) {}

  // Kafka's rules, in Kafka's order: stale epoch → invalid_producer_epoch; same epoch and a
  // retained batch with the same sequence range → duplicate; new epoch must start at 0; same epoch
  // must continue at last sequence + 1; an unknown producer may start anywhere (KIP-360); a non-transactional
  // batch while the producer's transaction is ongoing → invalid_txn_state. Non-idempotent batches
  // (pid < 0) always pass unless transactional (invalid_record). `origin` relaxes the rules
  // (append_origin above).
  result<check_verdict, producer_error> check(const batch_identity& b,
                                              append_origin origin = append_origin::client) const;
  // Records an appended batch (call only after check() passed and the append succeeded). A
  // transactional batch starts the producer's transaction when none is ongoing. `timestamp_ms`:
  // the batch's max timestamp as stored.
  void record(const batch_identity& b, offset first, offset last, int64_t timestamp_ms);
  // Rebuild from the log: applies a batch already stored, without checks (the log is the truth).
  void replay(const batch_identity& b, offset first, offset last, int64_t timestamp_ms);

  // A marker of `pid` at `epoch` from a coordinator at `coordinator_epoch`, before it is written
  // (Kafka's appendEndTxnMarker checks): epoch below the producer's → invalid_producer_epoch;
  // coordinator epoch below the producer's last one → coordinator_fenced. A producer without
  // state passes (Kafka writes the marker anyway).
  result<void, producer_error> check_marker(producer_id pid, producer_epoch epoch,
                                            int32_t coordinator_epoch) const;
  // Records a marker written (or replayed, replicated) at `at`: ends the producer's ongoing
  // transaction, takes the marker's epoch (a new one, as transaction version 2 bumps it, starts a
  // new sequence space) and coordinator epoch. Returns the completed transaction, or nullopt when
  // none was ongoing (such a marker moves no stable offset and indexes nothing, as Kafka's). A
  // completed transaction keeps the offsets from its first one unstable until the high watermark
  // passes its marker (last_stable_offset).
  std::optional<completed_txn> record_marker(producer_id pid, producer_epoch epoch, end_txn_marker m,
                                             offset at, int64_t timestamp_ms);
  // The partition's last stable offset just after `t` completed, as the aborted-transaction index
  // records it (Kafka's lastStableOffset(completedTxn)): the first offset of the earliest other
  // ongoing transaction, else the marker's offset + 1.
  offset last_stable_offset_after(const completed_txn& t) const;
  // The smallest first offset of an ongoing transaction or of a completed one whose marker is not
  // yet below the high watermark; nullopt when none.
  std::optional<offset> first_unstable_offset() const;
  // min(high watermark, first unstable offset), after forgetting the completed transactions whose
  // marker lies below `high_watermark` (Kafka's onHighWatermarkUpdated + updateLSO).
  offset last_stable_offset(offset high_watermark);
  // Ongoing transactions: first offset → producer.
  const std::map<offset, producer_id>& ongoing() const { return _ongoing; }

  // Removes producers idle for longer than producer.id.expiration.ms, except those with an
  // ongoing transaction (Kafka's isProducerExpired). Returns how many went.
  size_t expire(int64_t now_ms);
  // The log start offset moved to `log_start` (retention, DeleteRecords): producers whose last
  // batch lies wholly below it are dropped, as Kafka's ProducerStateManager.truncateHead; a
  // retained producer keeps its batches (a retry of one below the start is still a duplicate).
  // Returns how many producers went.
  size_t truncate_head(offset log_start);

  const producer_entry* find(producer_id pid) const;
  const std::map<producer_id, producer_entry>& producers() const { return _producers; }
  // One past the last offset any recorded batch covers (what a snapshot is named after).
  offset end_offset() const { return _end_offset; }
  void set_end_offset(offset o) { _end_offset = o; }
  void set_expiration_ms(int64_t ms) { _expiration_ms = ms; }
  void clear();

  // Snapshot file body, format version 2 (all integers big-endian):
  //   magic "GRGPSNAP" | u16 version | u32 crc32c of everything after it |
  //   i64 end offset | u32 producer count |
  //   per producer: i64 pid | i16 epoch | i64 last timestamp |
  //     [v2: i32 coordinator epoch | i64 ongoing transaction's first offset, -1 when none] |
  //     u8 batch count |
  //     per batch: i32 first seq | i32 last seq | i64 first offset | i64 last offset | i64
  //     timestamp
  // Version 1 is the same without the bracketed fields (no transactions); it still loads.
  std::string encode_snapshot() const;
  // Replaces the state with a snapshot's (v1 or v2). Refuses (state unchanged) bad magic,
  // version, CRC, counts, or bytes left over; never trusts a count before checking the bytes left.
  result<void, std::string> decode_snapshot(std::string_view bytes);

 private:
  void apply(const batch_identity& b, offset first, offset last, int64_t timestamp_ms);

  void end_txn(producer_entry& e);
  static result<check_verdict, producer_error> check_txn_state(const producer_entry* e, const batch_identity& b);

  int64_t _expiration_ms;
  std::map<producer_id, producer_entry> _producers;
  std::map<offset, producer_id> _ongoing;     // first offset → producer with that transaction
  std::map<offset, offset> _unreplicated;     // completed: first offset → marker offset
  offset _end_offset{0};
};

inline constexpr std::string_view snapshot_magic = "GRGPSNAP";
inline constexpr uint16_t snapshot_version = 2;
inline constexpr uint16_t snapshot_version_min = 1;

// ---- transaction markers (control batches) ----
// Kafka's control record layout: key = version i16 (0) | type i16 (0 ABORT, 1 COMMIT); value =
// version i16 (0) | coordinator epoch i32.
// The marker of a control batch (whole batch bytes, CRC not checked); nullopt when the batch is
// not a control batch, its record is malformed, or it is another control type (LEADER_CHANGE ...).
std::optional<end_txn_marker> parse_end_txn_marker(std::span<const uint8_t> batch);
// A control batch (attributes: control + transactional) holding one marker record for `pid` at
// `epoch`, base offset 0, no sequence, timestamp `timestamp_ms`: ready for partition::append.
std::vector<uint8_t> build_end_txn_marker_batch(producer_id pid, producer_epoch epoch, end_txn_marker m,
                                                int64_t timestamp_ms);

}  // namespace gregor::txn
