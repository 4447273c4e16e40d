#pragma once
// txn::transaction_coordinator: Kafka's transaction coordinator as a pure state machine (no I/O,
// no Asio, no clock reads: every input carries `now`). It owns the metadata of every transactional
// id whose `__transaction_state` partition this broker leads, and decides each transition as
// Kafka's TransactionCoordinator does: InitProducerId (epoch bump, fencing an open transaction by
// aborting it, KIP-360 recovery), AddPartitionsToTxn / AddOffsetsToTxn, the VerifyOnly check of
// KIP-890 part 1, EndTxn (transaction versions 1 and 2: TV2 bumps the epoch on every end), the
// timeout abort and the transactional-id expiration.
//
// Persistence: a transition is first *prepared* (the transactional id gets a pending write; other
// requests for it get CONCURRENT_TRANSACTIONS meanwhile), then written by the caller to the
// partition (the outbox's `writes`), and only once that write is committed does the caller report
// write_completed(); the coordinator then applies it and emits the answers and, for
// PrepareCommit/PrepareAbort, a marker job. The caller writes the COMMIT/ABORT markers to every
// partition of the job and reports markers_completed(); the coordinator then prepares the
// CompleteCommit/CompleteAbort write. A failed write leaves the state as it was and answers the
// waiting request with the write's error.
//
// Who calls it: the server's transaction service on the broker's io thread. Requests that may wait
// for a write carry a caller-chosen ticket and are answered exactly once, through the outbox.
//
// Invariants: at most one pending write per transactional id; a state only changes when its write
// completed; the producer epoch of a transactional id never decreases for a producer id.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gregor/protocol/error_code.h"
#include "gregor/txn/transaction_log.h"

namespace gregor::txn {

using protocol::error_code;

struct coordinator_settings {
  int32_t max_timeout_ms = 900000;          // transaction.max.timeout.ms
  int64_t id_expiration_ms = 604800000;     // transactional.id.expiration.ms
};

// Where the transactional id's record lives: the index of its __transaction_state partition.
using log_partition = int32_t;

struct init_input {
  std::string transactional_id;
  log_partition partition = 0;
  int32_t timeout_ms = 0;
  // KIP-360: the producer id and epoch the client had (-1 for a fresh producer).
  int64_t expected_producer_id = -1;
  int16_t expected_producer_epoch = -1;
};

struct add_input {
  std::string transactional_id;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  txn_partitions partitions;
  // 2 for AddPartitionsToTxn v5+ / implicit adds of KIP-890 part 2, else 1.
  int16_t client_transaction_version = 1;
};

struct end_input {
  std::string transactional_id;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  bool commit = false;
  // 2 for EndTxn v5+, else 1.
  int16_t client_transaction_version = 1;
};

struct reply {
  error_code error = error_code::none;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
};

// The markers of a transaction to write to each of its partitions (WriteTxnMarkers).
struct marker_job {
  std::string transactional_id;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  bool commit = false;
  txn_partitions partitions;
};

struct write_request {
  uint64_t write_id = 0;
  log_partition partition = 0;
  std::string transactional_id;
  std::optional<txn_value> value;  // nullopt: a tombstone
};

struct outbox {
  std::vector<write_request> writes;
  std::vector<std::pair<uint64_t, reply>> replies;  // ticket -> answer
  std::vector<marker_job> markers;
  bool empty() const { return writes.empty() && replies.empty() && markers.empty(); }
};

struct txn_description {
  std::string transactional_id;
  txn_value value;
  bool pending = false;
};

class transaction_coordinator {
 public:
  // `next_producer_id` hands out a fresh producer id, or nullopt when none is available now
  // (the answer is then COORDINATOR_LOAD_IN_PROGRESS, which clients retry).
  transaction_coordinator(coordinator_settings s, std::function<std::optional<int64_t>()> next_producer_id);

  // InitProducerId with a transactional id. INVALID_TRANSACTION_TIMEOUT, CONCURRENT_TRANSACTIONS
  // (a transition is in flight, or an open transaction is being aborted to fence the old
  // producer: the client retries), PRODUCER_FENCED (KIP-360 expected epoch is stale), or the
  // producer id and epoch once the write completed.
  void init_producer_id(uint64_t ticket, const init_input& in, int64_t now);
  // AddPartitionsToTxn / AddOffsetsToTxn (the group's __consumer_offsets partition).
  void add_partitions(uint64_t ticket, const add_input& in, int64_t now);
  // KIP-890 part 1 (AddPartitionsToTxn VerifyOnly from a partition leader): NONE when each
  // partition is part of the producer's ongoing transaction, else the error for all of them.
  error_code verify(const std::string& transactional_id, int64_t producer_id, int16_t producer_epoch,
                    const txn_partitions& partitions) const;
  void end_txn(uint64_t ticket, const end_input& in, int64_t now);
  // Aborts transactions open longer than their timeout (fencing their producer with an epoch
  // bump) and expires idle transactional ids (tombstones).
  void tick(int64_t now);

  // The caller's write `write_id` is committed (NONE) or failed (its error).
  void write_completed(uint64_t write_id, error_code result, int64_t now);
  // Every partition of the marker job of `transactional_id` has its marker.
  void markers_completed(const std::string& transactional_id, int64_t now);

  // Loading a __transaction_state partition after becoming its leader: every record in log
  // order, then finish_loading(), which re-issues the marker jobs of transactions that were
  // preparing to commit or abort.
  void load(log_partition partition, const std::string& transactional_id, const std::optional<txn_value>& value);
  void finish_loading(log_partition partition);
  // Leadership of the partition moved: its transactional ids go; their waiting requests are
  // answered NOT_COORDINATOR.
  void unload(log_partition partition);

  outbox take_outbox();

  std::optional<txn_description> describe(const std::string& transactional_id) const;
  std::vector<txn_description> list() const;

 private:
  enum class after_write { reply, markers, forget };
  struct pending_write {
    uint64_t write_id = 0;
    std::optional<txn_value> target;  // nullopt: tombstone
    std::vector<uint64_t> tickets;    // answered when the write completes
    bool reply_with_target = false;   // answer the producer id and epoch of the target
    after_write then = after_write::reply;
  };
  struct txn {
    log_partition partition = 0;
    txn_value value;
    std::optional<pending_write> pending;
    // The epoch before the last InitProducerId bump (in memory only, as Kafka's
    // lastProducerEpoch): a KIP-360 retry that names it gets the current epoch again.
    int16_t last_producer_epoch = -1;
  };

  void answer(uint64_t ticket, reply r);
  void prepare(const std::string& id, txn& t, std::optional<txn_value> target, std::optional<uint64_t> ticket,
               bool reply_with_target, after_write then);
  // The PrepareCommit/PrepareAbort value ending `t` (TV2 and `fence` bump the epoch).
  txn_value ending(const txn& t, bool commit, bool bump_epoch, int64_t now) const;
  error_code check_producer(const txn& t, int64_t producer_id, int16_t producer_epoch) const;

  coordinator_settings _settings;
  std::function<std::optional<int64_t>()> _next_producer_id;
  std::map<std::string, txn> _txns;
  std::map<uint64_t, std::string> _writes;  // write id -> transactional id
  uint64_t _next_write_id = 1;
  outbox _out;
};

}  // namespace gregor::txn
