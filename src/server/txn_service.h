#pragma once
// txn_service: the server side of transactions. Two roles, as in Kafka:
//
// 1. Transaction coordinator. Hosts txn::transaction_coordinator for the `__transaction_state`
//    partitions this broker leads (the topic is created on first use, compacted, with the
//    transaction.state.log.* configs), loading a partition's records when it becomes leader and
//    dropping its transactional ids when it stops. It drives the core's outbox: every state write
//    is appended to the partition and reported to the core once the high watermark covers it
//    (acks=all, refused when the ISR is below transaction.state.log.min.isr), requests parked on a
//    ticket are answered when the core answers, and marker jobs are written to every partition of
//    the transaction (locally or with WriteTxnMarkers to the partition's leader), retried until
//    written or until this broker stops coordinating, then reported complete. The coordinator
//    epoch the markers carry is the leader epoch of the transactional id's partition.
//    A tick aborts transactions past their timeout every
//    transaction.abort.timed.out.transaction.cleanup.interval.ms.
// 2. Partition leader. Writes COMMIT/ABORT markers to partitions it leads (WriteTxnMarkers and
//    the coordinator's own jobs) and verifies a transactional Produce with the producer's
//    coordinator before its first batch in a partition (KIP-890 part 1: AddPartitionsToTxn
//    VerifyOnly, remote or local). A verified (partition, producer) stays verified until a marker
//    of that producer lands in the partition (Kafka's VerificationGuard), so a retried batch of a
//    finished transaction cannot open a hanging one.
//
// Who calls it: the transaction handlers (find_coordinator.cc, init_producer_id.cc,
// add_partitions_to_txn.cc, add_offsets_to_txn.cc, end_txn.cc, write_txn_markers.cc,
// describe_transactions.cc, list_transactions.cc) and produce.cc, through core::transactions().
// Threading: the broker's io thread only.
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gregor/rpc/node_pool.h"
#include "gregor/txn/transaction_coordinator.h"
#include "core.h"

namespace gregor::server {

inline constexpr std::string_view transaction_state_topic = "__transaction_state";

class txn_service {
 public:
  explicit txn_service(core& c);
  ~txn_service();

  // Creates __transaction_state when missing, loads the partitions this broker leads and starts
  // the tick loop. Idempotent; concurrent callers wait for the first. Leaves the service unstarted
  // (the next call retries) when the topic cannot be created yet.
  boost::asio::awaitable<void> start();
  bool started() const { return _started; }
  bool stopping() const { return _stopped; }
  // Wakes every parked request, stops retrying markers and the tick loop (graceful stop).
  void stop();
  // Closes the inter-broker connections (after stop(), before the io_context goes).
  boost::asio::awaitable<void> shutdown();

  struct coordinator_info {
    protocol::error_code error = protocol::error_code::none;
    node_id node = no_node;
    std::string host;
    int32_t port = -1;
  };
  // The leader of the transactional id's __transaction_state partition, as seen on `listener`.
  coordinator_info find_coordinator(const std::string& transactional_id, const std::string& listener);
  // NONE when this broker coordinates the id; NOT_COORDINATOR, or COORDINATOR_NOT_AVAILABLE
  // while the topic cannot be used.
  protocol::error_code check_coordinator(const std::string& transactional_id);

  // The coordinator's requests, answered once their state write committed (see
  // txn::transaction_coordinator for the errors). The caller checked check_coordinator().
  boost::asio::awaitable<txn::reply> init_producer_id(txn::init_input in);
  boost::asio::awaitable<txn::reply> add_partitions(txn::add_input in);
  boost::asio::awaitable<txn::reply> end_txn(txn::end_input in);
  protocol::error_code verify(const std::string& transactional_id, int64_t producer_id, int16_t producer_epoch,
                              const txn::txn_partitions& partitions);
  std::optional<txn::txn_description> describe(const std::string& transactional_id) const;
  std::vector<txn::txn_description> list() const;
  // The __transaction_state partition index of a transactional id.
  int32_t partition_of(const std::string& transactional_id) const;

  // --- partition leader side ---
  // Appends COMMIT or ABORT markers to partitions this broker leads (all appended first), then
  // waits until the high watermark of each covers its marker (acks=all, as Kafka). Per marker:
  // NONE, or NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, INVALID_PRODUCER_EPOCH,
  // TRANSACTION_COORDINATOR_FENCED, KAFKA_STORAGE_ERROR, REQUEST_TIMED_OUT.
  struct marker_write {
    topic_partition tp;
    int64_t producer_id = -1;
    int16_t producer_epoch = -1;
    bool commit = false;
    int32_t coordinator_epoch = -1;
  };
  boost::asio::awaitable<std::vector<protocol::error_code>> write_markers(std::vector<marker_write> markers);
  // KIP-890 part 1: NONE when a transactional batch of the producer may be appended to `tp`
  // (verified before, or the coordinator confirms the partition is in the producer's ongoing
  // transaction); else the coordinator's answer (INVALID_TXN_STATE, PRODUCER_FENCED,
  // INVALID_PRODUCER_ID_MAPPING, NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, ...). `add` (a
  // transaction-version-2 Produce) adds the partition to the transaction instead of only checking.
  boost::asio::awaitable<protocol::error_code> verify_produce(std::string transactional_id, topic_partition tp,
                                                              int64_t producer_id, int16_t producer_epoch,
                                                              bool add);
  // Still verified (no marker of the producer landed since verify_produce answered NONE).
  bool still_verified(const topic_partition& tp, int64_t producer_id) const;

 private:
  struct waiter;
  boost::asio::awaitable<txn::reply> park(uint64_t ticket);
  // Runs whatever the core queued: state writes, answers, marker jobs.
  void pump();
  boost::asio::awaitable<void> run_write(txn::write_request w, leader_epoch epoch, offset end);
  boost::asio::awaitable<void> run_markers(txn::marker_job job, int32_t partition, leader_epoch epoch);
  // Writes the markers of `parts` led by `leader`; returns the partitions that are done.
  boost::asio::awaitable<std::set<topic_partition>> send_markers(node_id leader, const txn::marker_job& job,
                                                                 std::vector<topic_partition> parts,
                                                                 int32_t coordinator_epoch);
  boost::asio::awaitable<void> tick_loop();
  // Creates __transaction_state (transaction.state.log.* configs); a failure is logged and leaves it missing.
  boost::asio::awaitable<void> create_topic();
  void on_transitions(std::span<const replication::replica_transition> ts);
  void load_partition(replication::partition& p);
  // Points the inter-broker pool at `broker`'s inter-broker listener; false when unknown.
  bool resolve(node_id broker);
  // A fresh producer id for the core (from a one-id stash refilled before each request).
  boost::asio::awaitable<void> refill_producer_id();
  bool leads(int32_t partition, leader_epoch epoch);

  core& _core;
  std::unique_ptr<txn::transaction_coordinator> _coordinator;
  std::unique_ptr<rpc::node_pool> _pool;
  std::string _listener;
  std::map<uint64_t, std::shared_ptr<waiter>> _waiters;
  // The leader epoch each led __transaction_state partition was loaded at.
  std::map<int32_t, leader_epoch> _loaded;
  // KIP-890 verification guards: (partition, producer id) -> epoch verified.
  std::map<std::pair<topic_partition, int64_t>, int16_t> _verified;
  std::optional<int64_t> _spare_producer_id;
  std::shared_ptr<boost::asio::steady_timer> _tick_timer;
  std::shared_ptr<boost::asio::steady_timer> _ready;
  std::shared_ptr<int> _life = std::make_shared<int>(0);
  uint64_t _next_ticket = 1;
  int32_t _partitions = 0;
  bool _started = false;
  bool _starting = false;
  bool _recreating = false;  // started, and creating the topic again after a deletion
  bool _stopped = false;
};

}  // namespace gregor::server
