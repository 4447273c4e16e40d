#pragma once
// group_service: the server side of consumer groups. Owns the pure group::group_coordinator
// (classic protocol, committed offsets) and group::consumer_group_coordinator (KIP-848) and wires
// them to the broker: parks JoinGroup/SyncGroup requests until the coordinator answers (one
// asio timer per parked request), ticks the coordinator's timers every 100 ms, writes group
// metadata and offset commits to `__consumer_offsets` (creating the topic on first use) before
// answering, and replays that topic when first used after start-up.
//
// Who calls it: the group handlers (find_coordinator.cc ... delete_groups.cc) through
// core::groups(). Threading: the broker's io thread only.
#include <map>
#include <span>
#include <memory>
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
  // key_type 0 = group, 1 = transaction (answered with this broker for now).
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

  // Writes offset commits (or tombstones for nullopt) of one group to its offsets partition; on
  // success stores them in the coordinator. Returns the Kafka error for the whole write.
  protocol::error_code write_offsets(
      const std::string& group_id,
      const std::vector<std::pair<topic_partition, std::optional<group::committed_offset>>>& offsets);

 private:
  struct waiter;
  boost::asio::awaitable<void> tick_loop();
  void load();
  void on_transitions(std::span<const replication::replica_transition> ts);
  void expire_offsets();
  void load_partition(replication::partition& p);
  replication::partition* partition_for(const std::string& group_id);
  protocol::error_code append_records(const std::string& group_id,
                                      std::vector<protocol::record_input> records);
  boost::asio::awaitable<void> park(uint64_t ticket, const std::shared_ptr<waiter>& w,
                                    int64_t timeout_ms);

  core& _core;
  std::unique_ptr<group::group_coordinator> _coordinator;
  std::unique_ptr<group::consumer_group_coordinator> _consumer_groups;
  std::map<uint64_t, std::shared_ptr<waiter>> _waiters;
  std::shared_ptr<boost::asio::steady_timer> _tick_timer;
  uint64_t _next_ticket = 1;
  bool _started = false;
  bool _starting = false;
  std::shared_ptr<boost::asio::steady_timer> _ready;  // cancelled once started
  int64_t _last_expiry_check_ms = 0;
  bool _stopped = false;
  int32_t _partitions = 0;
};

}  // namespace gregor::server
