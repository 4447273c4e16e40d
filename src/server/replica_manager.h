#pragma once
// server::replica_manager: the Asio shell of data replication on a broker in cluster mode.
//
//   - Followers: one fetcher per leader broker (Kafka's ReplicaFetcherThread, on the io thread as
//     a coroutine). It sends Fetch with this broker's replica id for every partition it follows
//     from that leader (fetch offset = log end offset, last fetched epoch, current leader epoch)
//     in ONE KIP-227 fetch session per leader (Kafka's FetchSessionHandler): a full request opens
//     it, then each request carries only the partitions whose fetch parameters changed plus the
//     ones it stopped following (forgotten); a session error (unknown id, wrong epoch) or a failed
//     round makes the next request full again. It
//     appends the leader's batches verbatim with their offsets (partition_log::append_with_offsets),
//     truncates to the leader's epoch boundary when the answer names a diverging epoch, and takes
//     the leader's high watermark. Partitions join and leave fetchers on replica transitions.
//     Reassignment throttle: while the follower quota (core::quotas(), replication_quota.h) is
//     exceeded, throttled partitions not caught up with the leader's high watermark are left out
//     of the request (the session forgets them until they are sent again).
//   - Leaders: every few hundred milliseconds each led partition is asked for an ISR change
//     (replication::partition::isr_change: shrink followers not caught up for
//     replica.lag.time.max.ms, expand caught-up ones); a change is sent to the active controller
//     as AlterPartition with the partition epoch and stays pending until the metadata shows it.
//     As Kafka's AlterPartitionManager and Partition do, the pending ("maximal") ISR, over which
//     the high watermark is computed, is kept until the answer is definitive: the same request is
//     sent again (every 250 ms) after a lost answer, a timeout, NOT_CONTROLLER or any other error,
//     until the metadata shows a new partition epoch or leader epoch (which ends the pending ISR);
//     only an answer that proves the change was not applied (INELIGIBLE_REPLICA,
//     OPERATION_NOT_ATTEMPTED, INVALID_REQUEST) drops it. Dropping it on a failure the controller
//     in fact committed would let the high watermark pass a new ISR member that could then be
//     elected without the acknowledged records.
//
// The leader side of follower Fetch (tracking follower offsets, the high watermark, divergence)
// is in handlers/fetch.cc and replication::partition.
//
// Threading: the io thread.
#include <map>
#include <memory>
#include <set>
#include <span>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "gregor/base/clock.h"
#include "gregor/config/broker_config.h"
#include "cluster_rules.h"
#include "gregor/replication/partition_manager.h"
#include "gregor/rpc/node_pool.h"
#include "gregor/rpc/wait_list.h"

namespace gregor::server {

class core;
class metadata_quorum;

class active_controller;
class broker_lifecycle;

class replica_manager {
 public:
  replica_manager(boost::asio::io_context& io, core& c, metadata_quorum& quorum, active_controller* local,
                  broker_lifecycle& lifecycle, const config::broker_config& cfg, clock& clk);
  ~replica_manager();

  void start();
  void on_transitions(std::span<const replication::replica_transition> ts);
  boost::asio::awaitable<void> stop();

  // Follower partitions being fetched, per leader (tests, metrics).
  size_t followed() const;

 private:
  // What the leader's fetch session holds for one partition, as last sent.
  struct sent_partition {
    uuid topic_id;
    int64_t fetch_offset = 0;
    int32_t current_leader_epoch = -1;
    int32_t last_fetched_epoch = -1;
    int64_t log_start_offset = -1;
    int32_t max_bytes = 0;
    friend bool operator==(const sent_partition&, const sent_partition&) = default;
  };
  struct fetcher {
    node_id leader;
    std::set<topic_partition> parts;
    // The KIP-227 session with the leader: id 0 = none yet; epoch 0 = the next request is full.
    int32_t session_id = 0;
    int32_t session_epoch = 0;
    std::map<topic_partition, sent_partition> session;
    rpc::wait_list wake;
    bool running = false;
  };

  std::shared_ptr<fetcher> fetcher_for(node_id leader);
  boost::asio::awaitable<void> fetch_loop(std::shared_ptr<fetcher> f);
  // One Fetch round to f->leader; false when it failed (back off).
  boost::asio::awaitable<bool> fetch_once(fetcher& f);
  boost::asio::awaitable<void> isr_loop();
  boost::asio::awaitable<void> alter_isr(topic_partition tp, uuid topic_id, leader_epoch epoch, int32_t partition_epoch,
                                         std::vector<node_id> isr);
  // One AlterPartition to the active controller (in-process or over the controller listener);
  // its error (REQUEST_TIMED_OUT when unanswered).
  boost::asio::awaitable<protocol::error_code> send_alter_partition(const topic_partition& tp, uuid topic_id,
                                                                    leader_epoch epoch, int32_t partition_epoch,
                                                                    const std::vector<node_id>& isr);
  // Points the pool at `broker`'s inter-broker endpoint from the image; false when unknown.
  bool resolve(node_id broker);

  boost::asio::io_context& _io;
  core& _core;
  metadata_quorum& _quorum;
  active_controller* _local;
  broker_lifecycle& _lifecycle;
  const config::broker_config& _cfg;
  clock& _clock;
  std::string _listener;  // inter-broker listener name
  std::unique_ptr<rpc::node_pool> _pool;
  std::map<node_id, std::shared_ptr<fetcher>> _fetchers;
  bool _stopped = false;
  rpc::wait_list _isr_wake;
  std::shared_ptr<int> _life = std::make_shared<int>(0);
};

}  // namespace gregor::server
