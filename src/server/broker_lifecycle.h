#pragma once
// server::broker_lifecycle: a broker's membership in the cluster, as Kafka's BrokerLifecycleManager
// does it. At start it registers with the active controller (BrokerRegistration: listeners, rack,
// a fresh incarnation id, the previous epoch) and gets its broker epoch; then it heartbeats every
// broker.heartbeat.interval.ms with the metadata offset it has applied (BrokerHeartbeat). The
// controller unfences it once it has caught up with its own registration and fences it when the
// heartbeats stop for broker.session.timeout.ms. A heartbeat answered STALE_BROKER_EPOCH or
// BROKER_ID_NOT_REGISTERED (the controller lost it, e.g. a new controller after a restart of all
// voters) registers again.
//
// controlled_shutdown() (SIGTERM): heartbeats with WantShutDown until the controller answers
// ShouldShutDown (every leadership moved to another replica), the bound passes, or no controller
// has answered for max(5 heartbeat intervals, 2 election timeouts) (Kafka waits up to 5 minutes;
// with the quorum gone too, nobody would ever answer).
//
// The active controller is reached in-process when this node is it, else over the controller
// listener of the quorum leader (metadata_quorum::controllers()).
//
// Threading: the io thread.
#include <chrono>
#include <functional>
#include <memory>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "gregor/base/clock.h"
#include "gregor/config/broker_config.h"
#include "gregor/controller/quorum_controller.h"
#include "active_controller.h"
#include "cluster_rules.h"
#include "metadata_quorum.h"

namespace gregor::server {

class broker_lifecycle {
 public:
  broker_lifecycle(boost::asio::io_context& io, metadata_quorum& quorum, active_controller* local,
                   const config::broker_config& cfg, clock& clk);
  ~broker_lifecycle();

  // Starts registering and heartbeating with these endpoints (the advertised broker listeners).
  void start(std::vector<controller::broker_endpoint> endpoints);
  // Asks the controller to move this broker's leaderships away; returns when it agreed or after
  // `timeout_ms`.
  boost::asio::awaitable<void> controlled_shutdown(int64_t timeout_ms);
  void stop();

  // Called after every successful registration (the broker epoch is known from then on).
  void on_registered(std::function<void()> fn) { _on_registered = std::move(fn); }

  // Whether this incarnation's metadata publishing started (core::apply_metadata, which sets it
  // once caught_up_with_registration holds; it stays set).
  bool metadata_published() const { return _metadata_published; }
  void set_metadata_published() { _metadata_published = true; }

  // -1 until registered. The offset of this incarnation's RegisterBrokerRecord in the metadata log.
  int64_t broker_epoch() const { return _epoch; }
  bool fenced() const { return _fenced; }

 private:
  boost::asio::awaitable<void> run();
  // One registration or heartbeat round; returns false when it failed (retry sooner).
  boost::asio::awaitable<bool> register_once();
  boost::asio::awaitable<bool> heartbeat_once();
  bool local_active() const;

  boost::asio::io_context& _io;
  metadata_quorum& _quorum;
  active_controller* _local;
  const config::broker_config& _cfg;
  clock& _clock;
  std::vector<controller::broker_endpoint> _endpoints;
  std::function<void()> _on_registered;
  bool _metadata_published = false;
  uuid _incarnation = uuid::random();
  int64_t _epoch = -1;
  int64_t _previous_epoch = -1;
  bool _fenced = true;
  bool _want_shutdown = false;
  bool _shutdown_granted = false;
  // When a controller last answered a heartbeat (controlled_shutdown stops waiting after a silence).
  std::chrono::steady_clock::time_point _last_answer{};
  bool _stopped = false;
  std::shared_ptr<rpc::wait_list> _wake = std::make_shared<rpc::wait_list>();
  std::shared_ptr<int> _life = std::make_shared<int>(0);
};

}  // namespace gregor::server
