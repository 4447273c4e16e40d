#pragma once
// server::metadata_quorum: this node's place in a multi-node KRaft quorum (cluster mode, when
// controller.quorum.voters or controller.quorum.bootstrap.servers is set). It owns
//   - the connections to the voters' controller listeners: one pool for the quorum's own RPCs
//     (quorum_transport: Vote, BeginQuorumEpoch, EndQuorumEpoch, Fetch and FetchSnapshot on
//     __cluster_metadata, as raft_wire translates them) and one for broker-to-controller requests
//     (registration, heartbeats, forwarded admin requests, DescribeQuorum);
//   - the raft_node (voter when node.id is among the voters, observer otherwise);
//   - the committed metadata image: every committed batch is applied to it in log order, then the
//     `applied` hook runs (core publishes the change to the broker side). `applied_offset()` is
//     the end of the last applied batch, the offset a broker reports in its heartbeats.
// It knows who leads and tells `controller_ready` when this node's own LeaderChange entry commits
// (everything before it is applied, so the image is complete: the active controller may start)
// and `controller_lost` when the leadership ends.
//
// Threading: the io thread; raft_node keeps the metadata log's disk work on its own thread.
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "gregor/base/clock.h"
#include "gregor/base/result.h"
#include "gregor/config/broker_config.h"
#include "gregor/controller/metadata_image.h"
#include "gregor/rpc/node_pool.h"
#include "gregor/rpc/wait_list.h"
#include "raft_node.h"

namespace gregor::server {

// raft_transport over an rpc::node_pool and raft_wire. Pairs answers with requests and copies
// what the wire does not carry (request tokens, the pre-vote flag).
class quorum_transport final : public raft_transport {
 public:
  // `cluster_id` is the quorum's, read at every call: empty (ClusterId null) until it is known.
  quorum_transport(rpc::node_pool& pool, const std::string& cluster_id, int64_t timeout_ms)
      : _pool(pool), _cluster_id(cluster_id), _timeout_ms(timeout_ms) {}
  boost::asio::awaitable<result<raft::message, std::string>> call(node_id to, raft::message request) override;

 private:
  rpc::node_pool& _pool;
  const std::string& _cluster_id;
  int64_t _timeout_ms;
};

class metadata_quorum {
 public:
  struct hooks {
    std::function<void()> applied;                      // the image changed (log order)
    std::function<void(leader_epoch)> controller_ready;  // this node leads and its image is complete
    std::function<void()> controller_lost;              // this node no longer leads
  };

  // `cluster_id`: the configured or stored one, or empty when this node does not know it yet; it
  // then adopts the id the metadata log carries (controller::cluster_id_tag) when it applies it
  // and writes it to meta.properties in `log_dir`.
  metadata_quorum(boost::asio::io_context& io, const config::broker_config& cfg, std::string cluster_id,
                  clock& clk, std::filesystem::path log_dir, class outgoing_tls& tls);
  ~metadata_quorum();

  // Opens the metadata log under `metadata_dir` and joins the quorum.
  result<void, std::string> start(std::filesystem::path metadata_dir, hooks h);
  // Resigns if leading, stops the raft node and closes every connection.
  boost::asio::awaitable<void> stop();

  const controller::metadata_image& image() const { return _image; }
  offset applied_offset() const { return _applied; }
  // Empty until known (see the constructor).
  const std::string& cluster_id() const { return _cluster_id; }
  raft_node& raft() { return *_raft; }
  const raft_node& raft() const { return *_raft; }
  bool is_voter() const { return _voter; }
  // The quorum leader (= active controller) if known.
  std::optional<node_id> leader() const;
  // Connections for broker-to-controller requests, keyed by voter id.
  rpc::node_pool& controllers() { return *_controller_pool; }
  // The voters' controller endpoints (DescribeQuorum's Nodes, DescribeCluster for controllers):
  // controller.quorum.voters at first, then the quorum's current voter set (KIP-853).
  const std::vector<config::quorum_voter>& voters() const { return _voters; }
  // The current voter set with directory ids and every endpoint.
  const raft::voter_set& voter_set() const { return _raft->voters(); }
  // This node's metadata log directory id (meta.properties' directory.id; zero if none).
  const uuid& directory_id() const { return _directory_id; }
  const std::string& controller_listener_name() const { return _controller_listener; }

  // Waits until `pred()` holds (checked after every applied change and leader change) or the
  // timeout passes; returns pred()'s last value.
  boost::asio::awaitable<bool> wait_for(std::function<bool()> pred, int64_t timeout_ms);
  // Wall-clock milliseconds of a monotonic time the core reported (DescribeQuorum timestamps).
  int64_t to_wall_ms(int64_t monotonic_ms) const;

 private:
  void on_apply(const committed_batch& b);
  void on_snapshot(offset end, const std::vector<controller::framed_record>& records);
  void on_leadership(const raft::leadership_change& ch);
  void on_leader_ready(leader_epoch epoch);
  void on_voters(const raft::voter_set& voters);
  // Takes the cluster id of the applied records if this node has none yet.
  void adopt_cluster_id();
  // KIP-853 on a follower voter: sends UpdateRaftVoter to the leader when the voter set's entry
  // for this node has other endpoints than its controller listener (voter_update.h); one request
  // at a time, again after controller.quorum.retry.backoff.ms when it failed.
  void maybe_update_voter();

  boost::asio::io_context& _io;
  const config::broker_config& _cfg;
  std::string _cluster_id;
  clock& _clock;
  std::filesystem::path _log_dir;  // holds meta.properties
  std::vector<config::quorum_voter> _voters;
  std::string _controller_listener;
  bool _voter = false;
  uuid _directory_id;
  std::unique_ptr<rpc::node_pool> _raft_pool;
  std::unique_ptr<rpc::node_pool> _controller_pool;
  std::unique_ptr<quorum_transport> _transport;
  std::unique_ptr<raft_node> _raft;
  controller::metadata_image _image;
  offset _applied{0};
  // Snapshots (metadata.log.max.record.bytes.between.snapshots / .max.snapshot.interval.ms).
  size_t _bytes_since_snapshot = 0;
  int64_t _last_snapshot_ms = 0;
  hooks _hooks;
  bool _leading = false;  // controller_ready was called and controller_lost not since
  bool _voter_update_in_flight = false;
  // Expires with this object: coroutines that outlive it check it after every suspension.
  std::shared_ptr<int> _life = std::make_shared<int>(0);
  rpc::wait_list _changed;
};

// controller.quorum.bootstrap.servers without controller.quorum.voters (a broker of a split
// cluster, as Kafka 4 configures them): asks each bootstrap server in turn for the controllers
// (DescribeCluster with EndpointType 2 on its controller listener) until one answers with the
// voters and the cluster id, retrying for up to `timeout_ms`. Blocking: start-up only.
struct discovered_quorum {
  std::vector<config::quorum_voter> voters;
  std::string cluster_id;
};
result<discovered_quorum, std::string> discover_quorum(const std::vector<std::string>& bootstrap_servers,
                                                       int64_t timeout_ms);

// Cluster mode: this node takes part in a multi-node quorum (voters or bootstrap servers set).
bool cluster_mode(const config::broker_config& cfg);

}  // namespace gregor::server
