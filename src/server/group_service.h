#pragma once
// group_service: the server side of consumer groups. Owns the pure group::group_coordinator
// (classic protocol, committed offsets) and group::consumer_group_coordinator (KIP-848) and wires
// them to the broker: parks JoinGroup/SyncGroup requests until the coordinator answers (one
// asio timer per parked request), ticks the coordinator's timers every 100 ms, writes group
// metadata and offset commits to `__consumer_offsets` (creating the topic on first use) before
// answering, and replays that topic when first used after start-up. An offset commit is answered,
// and becomes visible to OffsetFetch, once the offsets partition's high watermark covers it (the
// ISR has it), as Kafka appends offsets with acks=all; writes apply in their log order. JoinGroup,
// SyncGroup, LeaveGroup and ConsumerGroupHeartbeat are answered likewise only once the high
// watermark covers everything appended to the group's offsets partition before the answer.
//
// Who calls it: the group handlers (find_coordinator.cc ... delete_groups.cc) through
// core::groups(). Threading: the broker's io thread only.
#include <deque>
#include <map>
#include <span>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gregor/group/consumer_group.h"
#include "gregor/group/group_coordinator.h"
#include "core.h"

namespace gregor::server {

inline constexpr std::string_view offsets_topic = "__consumer_offsets";

// Kafka reports a member's host as "/<ip>"; connection_info::peer is "ip:port".
inline std::string client_host_of(const std::string& peer) {
  auto colon = peer.rfind(':');
  return "/" + (colon == std::string::npos ? peer : peer.substr(0, colon));
}

class group_service {
 public:
  explicit group_service(core& c);
  ~group_service();

  // Creates __consumer_offsets (through the controller) when missing, loads the partitions this
  // broker leads, subscribes to replica transitions and starts the tick loop. Called lazily by
  // core::groups(); idempotent, and concurrent callers wait for the first.
  boost::asio::awaitable<void> start();
  // Wakes every parked request (graceful stop) and stops the tick loop.
  void stop();

  struct coordinator_info {
    protocol::error_code error = protocol::error_code::none;
    node_id node = no_node;
    std::string host;
    int32_t port = -1;
  };
  // key_type 0 = group (others: INVALID_REQUEST; transactional ids are txn_service's).
  coordinator_info find_coordinator(const std::string& key, int8_t key_type,
                                    const std::string& listener);
  // NONE when this broker coordinates the group; NOT_COORDINATOR otherwise;
  // COORDINATOR_NOT_AVAILABLE while the offsets topic cannot be used.
  protocol::error_code check_coordinator(const std::string& group_id);
  // The guard of the group APIs that name one group: INVALID_GROUP_ID for an empty id, else
  // check_coordinator.
  protocol::error_code check_group(const std::string& group_id);

  boost::asio::awaitable<group::join_output> join(group::join_input in);
  boost::asio::awaitable<group::sync_output> sync(group::sync_input in);

  group::group_coordinator& coordinator() { return *_coordinator; }
  // KIP-848 consumer groups (ConsumerGroupHeartbeat).
  group::consumer_group_coordinator& consumer_groups() { return *_consumer_groups; }
  // Persists and dispatches whatever the coordinator has queued. Call after every direct call into
  // the coordinator that may change groups (heartbeat, leave, delete).
  void flush();
  // Appends the KIP-848 groups' changed records (group_service::flush calls it too). NONE, or the
  // error of the write; the changes stay pending then and the next call retries them.
  protocol::error_code flush_consumer_groups();

  using offset_writes = std::vector<std::pair<topic_partition, std::optional<group::committed_offset>>>;
  // Appends offset commits (or tombstones for nullopt) of one group to its offsets partition and
  // answers once the partition's high watermark covers them (offsets.commit.timeout.ms at most);
  // the coordinator stores them then, in log order. Kafka's errors for the whole write:
  // NOT_COORDINATOR when leadership moved, COORDINATOR_NOT_AVAILABLE when the ISR is below the
  // offsets topic's min.insync.replicas or the commit timed out (Kafka maps NOT_ENOUGH_REPLICAS
  // and REQUEST_TIMED_OUT so). A timed-out write that commits later still applies.
  boost::asio::awaitable<protocol::error_code> commit_offsets(const std::string& group_id, offset_writes offsets);
  // TxnOffsetCommit: appends the offsets of one group as ONE transactional batch of `producer_id`
  // and `producer_epoch` (transactional attribute, base sequence -1, as Kafka's coordinator writes
  // them) and answers like commit_offsets. Once under the high watermark they are pending
  // transactional offsets of that producer (invisible to OffsetFetch) until txn_marker_appended.
  // The caller validated the group, the member and the transaction.
  boost::asio::awaitable<protocol::error_code> txn_offset_commit(const std::string& group_id, int64_t producer_id,
                                                                 int16_t producer_epoch, offset_writes offsets);
  // Called by the transaction side (WriteTxnMarkers) right after it appended a COMMIT or ABORT
  // control batch of `producer_id` to the offsets partition `offsets_tp`; `end` is the log end
  // offset after it. Applied in log order with the offset writes once the high watermark covers
  // `end`: the producer's pending transactional offsets of every group on that partition are then
  // materialised (commit) or dropped. Ignored when this broker does not lead `offsets_tp` (a later
  // leadership replays the marker from the log).
  void txn_marker_appended(const topic_partition& offsets_tp, int64_t producer_id, bool commit, offset end);
  // The high watermark of `tp` may have moved (the disk writer wrote, a follower fetched): the
  // offset writes and markers it now covers apply at once, not at the next tick.
  void high_watermark_moved(const topic_partition& tp) {
    if (_uncommitted.contains(tp)) apply_committed(tp);
  }
  // Waits until the high watermark of the group's offsets partition covers everything appended to
  // it so far, as Kafka's coordinator runtime answers every group request only once the records it
  // wrote (and those written before it) are committed. NONE; NOT_COORDINATOR when leadership moved
  // meanwhile; COORDINATOR_NOT_AVAILABLE after offsets.commit.timeout.ms.
  boost::asio::awaitable<protocol::error_code> await_committed(const std::string& group_id);

 private:
  struct waiter;
  // An offset write appended to an offsets partition and not yet under its high watermark.
  struct pending_write {
    offset end;  // log end offset right after the append
    std::string group_id;
    offset_writes offsets;  // the batch's records, in order (its last record is at end - 1)
    int64_t producer_id = -1;  // >= 0: transactional offsets of that producer, or a marker's producer
    std::optional<bool> marker;  // a COMMIT (true) / ABORT (false) control batch: no offsets
    bool settled = false;
    protocol::error_code error = protocol::error_code::none;
  };
  // Appends the write and queues it; applies it at once when the high watermark already covers it.
  // `producer_id`/`producer_epoch` >= 0: one transactional batch of that producer.
  protocol::error_code write_offsets(const std::string& group_id, offset_writes offsets,
                                     std::shared_ptr<pending_write>* queued = nullptr,
                                     int64_t producer_id = -1, int16_t producer_epoch = -1);
  // Queues `w` in end-offset order and applies what the high watermark covers.
  void enqueue(const topic_partition& tp, std::shared_ptr<pending_write> w);
  // commit_offsets / txn_offset_commit after the append: waits for the high watermark.
  boost::asio::awaitable<protocol::error_code> await_write(const std::string& group_id,
                                                           std::shared_ptr<pending_write> w);
  // Waits until `tp`'s high watermark reaches `end` while this broker leads it in `epoch`, storing
  // the queued writes it covers (see await_committed for the errors).
  boost::asio::awaitable<protocol::error_code> await_high_watermark(topic_partition tp, offset end,
                                                                   leader_epoch epoch);
  // Stores, in append order, every queued write of `tp` that its leader's high watermark covers.
  void apply_committed(const topic_partition& tp);
  // Settles every queued write of `tp` with `e` (leadership lost).
  void fail_pending(const topic_partition& tp, protocol::error_code e);
  boost::asio::awaitable<void> tick_loop();
  // Creates __consumer_offsets (offsets.topic.* configs); a failure is logged and leaves it missing.
  boost::asio::awaitable<void> create_topic();
  void load();
  void on_transitions(std::span<const replication::replica_transition> ts);
  void expire_offsets();
  void load_partition(replication::partition& p);
  replication::partition* partition_for(const std::string& group_id);
  // `end`, when given, receives the partition's log end offset after the append. `producer_id`
  // >= 0: a transactional batch of that producer and epoch (base sequence -1).
  protocol::error_code append_records(const std::string& group_id,
                                      std::vector<protocol::record_input> records, offset* end = nullptr,
                                      int64_t producer_id = -1, int16_t producer_epoch = -1);
  boost::asio::awaitable<void> park(uint64_t ticket, const std::shared_ptr<waiter>& w,
                                    int64_t timeout_ms);

  core& _core;
  std::unique_ptr<group::group_coordinator> _coordinator;
  std::unique_ptr<group::consumer_group_coordinator> _consumer_groups;
  std::map<uint64_t, std::shared_ptr<waiter>> _waiters;
  std::map<topic_partition, std::deque<std::shared_ptr<pending_write>>> _uncommitted;
  std::shared_ptr<boost::asio::steady_timer> _tick_timer;
  uint64_t _next_ticket = 1;
  bool _started = false;
  bool _starting = false;
  bool _recreating = false;  // started, and creating the topic again after a deletion
  std::shared_ptr<boost::asio::steady_timer> _ready;  // cancelled once started
  int64_t _last_expiry_check_ms = 0;
  bool _stopped = false;
  int32_t _partitions = 0;
};

}  // namespace gregor::server
