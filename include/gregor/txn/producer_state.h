#pragma once
// producer_state: the idempotence state of one partition, as Kafka keeps it. For every producer id
// that wrote to the partition: its epoch, the sequence ranges and offsets of its last five batches,
// and when it last wrote. A pure core (no I/O, no clock of its own): the server calls check()
// before an append and record() after it, replay() while rebuilding from the log, and expire()
// now and then. Snapshots (encode_snapshot / decode_snapshot) carry the whole state.
//
// Threading: owned by the server's idempotence registry, called from the partition's thread only.
// Invariants: per producer, batches are ordered by offset, at most batches_retained_max of them,
// all of the current epoch; snapshot_offset() is the offset every recorded batch lies below.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

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
  int64_t last_timestamp_ms = -1;      // when it last wrote (drives expiry)

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
  // must continue at last sequence + 1; unknown producer must start at 0. Non-idempotent batches
  // (pid < 0) always pass.
  result<check_verdict, producer_error> check(const batch_identity& b) const;
  // Records an appended batch (call only after check() passed and the append succeeded).
  void record(const batch_identity& b, offset first, offset last, int64_t now_ms);
  // Rebuild from the log: applies a batch already stored, without checks (the log is the truth).
  void replay(const batch_identity& b, offset first, offset last, int64_t timestamp_ms);
  // Removes producers idle for longer than producer.id.expiration.ms. Returns how many went.
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

  // Snapshot file body, format version 1 (all integers big-endian):
  //   magic "GRGPSNAP" | u16 version | u32 crc32c of everything after it |
  //   i64 end offset | u32 producer count |
  //   per producer: i64 pid | i16 epoch | i64 last timestamp | u8 batch count |
  //     per batch: i32 first seq | i32 last seq | i64 first offset | i64 last offset | i64
  //     timestamp
  std::string encode_snapshot() const;
  // Replaces the state with a snapshot's. Refuses (state unchanged) bad magic, version, CRC,
  // counts, or bytes left over; never trusts a count before checking the bytes left.
  result<void, std::string> decode_snapshot(std::string_view bytes);

 private:
  void apply(const batch_identity& b, offset first, offset last, int64_t timestamp_ms);

  int64_t _expiration_ms;
  std::map<producer_id, producer_entry> _producers;
  offset _end_offset{0};
};

inline constexpr std::string_view snapshot_magic = "GRGPSNAP";
inline constexpr uint16_t snapshot_version = 1;

}  // namespace gregor::txn
