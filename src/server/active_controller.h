#pragma once
// server::active_controller: the shell of controller::quorum_controller on the node that leads
// the quorum. Between metadata_quorum's controller_ready and controller_lost it holds a
// quorum_controller activated from the committed image; each operation asks it for the records,
// proposes them as one batch through the raft node and answers once that batch is committed
// (and so applied to this node's image). A tick every few hundred milliseconds fences brokers
// whose session expired (broker.session.timeout.ms), which moves their leaderships away, and every
// leader.imbalance.check.interval.seconds, when auto.leader.rebalance.enable, leaderships go back
// to preferred replicas that are in sync.
//
// A decision that produces no records (a no-op, or an error read from the speculative image such
// as TOPIC_ALREADY_EXISTS or FENCED_LEADER_EPOCH) is answered only once every proposal made before
// it has committed, as Kafka's QuorumController defers such answers (proposal_barrier.h); if one of
// those proposals fails or the controller term ends first, it fails with NOT_CONTROLLER.
//
// When not active, every operation fails with NOT_CONTROLLER (the caller forwards or retries).
// If a proposal fails (the quorum refused it, or the leadership went), the speculative state may
// hold records that will never commit: operations are refused until the in-flight ones have
// settled, then, if this node still leads, the controller is rewound to the committed
// image (else the end of the term deactivates it).
//
// Threading: the io thread.
#include <memory>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gregor/base/clock.h"
#include "gregor/config/broker_config.h"
#include "gregor/controller/quorum_controller.h"
#include "controller_client.h"
#include "metadata_quorum.h"
#include "proposal_barrier.h"

namespace gregor::server {

// UpdateFeatures' changes as the controller core takes them.
std::vector<controller::feature_update> to_feature_updates(std::vector<feature_change> changes);

class active_controller {
 public:
  template <class T>
  using outcome = boost::asio::awaitable<result<T, admin_error>>;

  active_controller(boost::asio::io_context& io, metadata_quorum& quorum, const config::broker_config& cfg,
                    clock& clk);
  ~active_controller();

  // metadata_quorum hooks.
  void activate(leader_epoch epoch);
  void deactivate();
  bool active() const { return _qc != nullptr; }
  // Active and still the quorum leader: a caller on this node may use it directly instead of
  // sending the request to the leader's controller listener.
  bool serves_here() const { return _qc != nullptr && _quorum.raft().is_leader(); }

  outcome<created_topic> create_topic(topic_spec spec, bool validate_only);
  outcome<void> delete_topic(std::string name);
  outcome<void> create_partitions(std::string name, int32_t total, std::vector<std::vector<node_id>> assignments,
                                  bool validate_only);
  // resource_type: controller::config_resource_topic or config_resource_broker.
  outcome<void> alter_configs(int8_t resource_type, std::string name, config_changes changes);
  outcome<producer_id_range> allocate_producer_ids(node_id broker, int64_t broker_epoch, int32_t count);
  // The broker's new epoch.
  outcome<int64_t> register_broker(controller::broker_registration r);
  outcome<controller::heartbeat_reply> heartbeat(controller::broker_heartbeat h);
  outcome<controller::partition_state> alter_partition(controller::alter_partition_request r);
  outcome<std::vector<partition_outcome>> alter_partition_reassignments(std::vector<reassignment> items);
  outcome<std::vector<partition_outcome>> elect_leaders(election_kind kind, std::optional<partition_list> partitions);
  outcome<void> update_features(std::vector<feature_change> changes, bool validate_only);
  outcome<void> create_acls(std::vector<controller::acl_entry> acls);
  outcome<std::vector<std::vector<controller::acl_entry>>> delete_acls(std::vector<acl_filter> filters);
  outcome<std::vector<std::optional<admin_error>>> alter_scram_credentials(std::vector<scram_alteration> changes);
  outcome<std::vector<quota_outcome>> alter_client_quotas(std::vector<quota_alteration> entries, bool validate_only);

 private:
  template <class T>
  outcome<T> commit(result<controller::decision<T>, controller::controller_error> d);
  // Commits the records of a multi-partition decision; the per-partition answers once committed.
  outcome<std::vector<partition_outcome>> commit_per_partition(
      controller::decision<std::vector<controller::partition_result>> d);
  // Waits until every proposal made so far has committed; false when one failed or the
  // controller term ended (answer NOT_CONTROLLER).
  boost::asio::awaitable<bool> after_proposed();
  // Proposes `records` as one batch through the barrier; the raft node's answer.
  boost::asio::awaitable<result<offset, std::string>> propose(std::vector<controller::framed_record> records);
  boost::asio::awaitable<void> tick_loop(std::shared_ptr<boost::asio::steady_timer> timer);
  // Back to the committed image once a refused proposal and everything in flight have settled.
  void maybe_reset();
  // Active, and no refused proposal pending a rewind.
  bool accepting() const { return _qc && !_barrier.failed(); }

  boost::asio::io_context& _io;
  metadata_quorum& _quorum;
  controller::quorum_controller_settings _settings;
  clock& _clock;
  bool _auto_rebalance = true;
  int64_t _rebalance_interval_ms = 300'000;
  int64_t _next_rebalance_ms = 0;
  std::unique_ptr<controller::quorum_controller> _qc;
  leader_epoch _epoch{-1};
  proposal_barrier _barrier;
  std::shared_ptr<rpc::wait_list> _settled = std::make_shared<rpc::wait_list>();  // a proposal settled, or reset
  std::shared_ptr<boost::asio::steady_timer> _tick_timer;
  std::shared_ptr<int> _life = std::make_shared<int>(0);
};

}  // namespace gregor::server
