#include "broker_lifecycle.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "gregor/base/log.h"
#include "gregor/protocol/messages/broker_heartbeat.h"
#include "gregor/protocol/messages/broker_registration.h"

namespace gregor::server {
namespace asio = boost::asio;
using protocol::error_code;
namespace {

spdlog::logger& lg() { return log::get("cluster"); }

constexpr int64_t retry_ms = 250;
constexpr int64_t call_timeout_ms = 5000;

}  // namespace

broker_lifecycle::broker_lifecycle(asio::io_context& io, metadata_quorum& quorum, active_controller* local,
                                   const config::broker_config& cfg, clock& clk)
    : _io(io), _quorum(quorum), _local(local), _cfg(cfg), _clock(clk) {}

broker_lifecycle::~broker_lifecycle() {
  _life.reset();
  _wake->notify_all();
}

void broker_lifecycle::start(std::vector<controller::broker_endpoint> endpoints) {
  _endpoints = std::move(endpoints);
  asio::co_spawn(_io, run(), asio::detached);
}

void broker_lifecycle::stop() {
  _stopped = true;
  _wake->notify_all();
}

bool broker_lifecycle::local_active() const { return _local && _local->serves_here(); }

asio::awaitable<void> broker_lifecycle::run() {
  std::weak_ptr<int> life = _life;
  auto wake = _wake;
  while (!life.expired() && !_stopped) {
    const bool done = _epoch < 0 ? co_await register_once() : co_await heartbeat_once();
    if (life.expired() || _stopped) co_return;
    // Registered and unfenced: every broker.heartbeat.interval.ms. Until unfenced, during a
    // controlled shutdown and after a failure: sooner, so catching up is noticed at once.
    int64_t wait = done && _epoch >= 0 && !_fenced ? _cfg.broker_heartbeat_interval_ms : retry_ms;
    if (_want_shutdown) wait = std::min<int64_t>(wait, retry_ms);
    co_await wake->wait_until(std::chrono::steady_clock::now() + std::chrono::milliseconds(wait));
  }
}

asio::awaitable<bool> broker_lifecycle::register_once() {
  std::weak_ptr<int> life = _life;
  controller::broker_registration reg;
  reg.id = _cfg.node_id;
  reg.incarnation_id = _incarnation;
  reg.endpoints = _endpoints;
  reg.rack = _cfg.broker_rack;
  reg.previous_broker_epoch = _previous_epoch;
  int64_t epoch = -1;
  // Not before this node knows the cluster's id (it registers with it; the first leader commits
  // it with the bootstrap records).
  if (_quorum.cluster_id().empty()) co_return false;
  if (local_active()) {
    auto r = co_await _local->register_broker(reg);
    if (life.expired()) co_return false;
    if (!r) {
      lg().info("broker registration refused: {}", r.error().message);
      co_return false;
    }
    epoch = *r;
  } else {
    auto leader = _quorum.leader();
    if (!leader) co_return false;
    protocol::broker_registration_request req;
    req.broker_id = reg.id.value();
    req.cluster_id = _quorum.cluster_id();
    req.incarnation_id = reg.incarnation_id;
    for (const auto& e : reg.endpoints)
      req.listeners.push_back({e.listener, e.host, uint16_t(e.port), e.security_protocol, {}});
    req.features.push_back({controller::metadata_version_feature, controller::metadata_version_range.min,
                             controller::metadata_version_range.max, {}});
    req.rack = reg.rack;
    req.previous_broker_epoch = reg.previous_broker_epoch;
    rpc::call_options opts;
    opts.timeout_ms = call_timeout_ms;
    auto r = co_await _quorum.controllers()
                 .call<protocol::broker_registration_request, protocol::broker_registration_response>(*leader, req, opts);
    if (life.expired()) co_return false;
    if (!r) {
      lg().debug("broker registration with controller {}: {}", leader->value(), r.error().message);
      co_return false;
    }
    if (r->error_code != 0) {
      lg().info("broker registration refused by controller {}: {}", leader->value(),
                protocol::error_name(error_code(r->error_code)));
      co_return false;
    }
    epoch = r->broker_epoch;
  }
  _epoch = epoch;
  _previous_epoch = epoch;
  _fenced = true;
  lg().info("registered with the controller: broker {} epoch {}", _cfg.node_id.value(), epoch);
  if (_on_registered) _on_registered();
  // Heartbeat at once: the controller unfences this broker as soon as it has caught up.
  _wake->notify_all();
  co_return true;
}

asio::awaitable<bool> broker_lifecycle::heartbeat_once() {
  std::weak_ptr<int> life = _life;
  controller::broker_heartbeat h;
  h.id = _cfg.node_id;
  h.broker_epoch = _epoch;
  h.current_metadata_offset = _quorum.applied_offset().value();
  h.want_fence = false;
  h.want_shutdown = _want_shutdown;
  controller::heartbeat_reply reply;
  error_code err = error_code::none;
  if (local_active()) {
    auto r = co_await _local->heartbeat(h);
    if (life.expired()) co_return false;
    if (!r) err = r.error().code;
    else reply = *r;
  } else {
    auto leader = _quorum.leader();
    if (!leader) co_return false;
    protocol::broker_heartbeat_request req;
    req.broker_id = h.id.value();
    req.broker_epoch = h.broker_epoch;
    req.current_metadata_offset = h.current_metadata_offset;
    req.want_fence = h.want_fence;
    req.want_shut_down = h.want_shutdown;
    rpc::call_options opts;
    opts.timeout_ms = call_timeout_ms;
    auto r = co_await _quorum.controllers()
                 .call<protocol::broker_heartbeat_request, protocol::broker_heartbeat_response>(*leader, req, opts);
    if (life.expired()) co_return false;
    if (!r) {
      lg().debug("heartbeat to controller {}: {}", leader->value(), r.error().message);
      co_return false;
    }
    err = error_code(r->error_code);
    reply.is_caught_up = r->is_caught_up;
    reply.is_fenced = r->is_fenced;
    reply.should_shutdown = r->should_shut_down;
  }
  if (err == error_code::stale_broker_epoch || err == error_code::broker_id_not_registered) {
    lg().info("the controller does not know this broker's epoch {} ({}): registering again", _epoch,
              protocol::error_name(err));
    _epoch = -1;
    co_return false;
  }
  if (err != error_code::none) co_return false;
  _last_answer = std::chrono::steady_clock::now();
  if (_fenced != reply.is_fenced)
    lg().info("broker {} is {} by the controller", _cfg.node_id.value(), reply.is_fenced ? "fenced" : "unfenced");
  _fenced = reply.is_fenced;
  if (reply.should_shutdown && _want_shutdown) {
    _shutdown_granted = true;
    _wake->notify_all();
  }
  co_return true;
}

asio::awaitable<void> broker_lifecycle::controlled_shutdown(int64_t timeout_ms) {
  if (_epoch < 0) co_return;
  std::weak_ptr<int> life = _life;
  auto wake = _wake;
  _want_shutdown = true;
  lg().info("controlled shutdown: asking the controller to move this broker's leaderships away");
  wake->notify_all();
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::milliseconds(timeout_ms);
  // No controller answering for this long (the quorum stopped too, e.g. every node of a cluster
  // stopped at once) means nobody will move the leaderships: stop without waiting out the bound.
  const auto unanswered = std::chrono::milliseconds(
      std::max<int64_t>(5 * int64_t(_cfg.broker_heartbeat_interval_ms), 2 * int64_t(_cfg.controller_quorum_election_timeout_ms)));
  auto silent = [&] { return std::chrono::steady_clock::now() - std::max(_last_answer, start) >= unanswered; };
  while (!life.expired() && !_shutdown_granted && std::chrono::steady_clock::now() < deadline && !silent())
    co_await wake->wait_until(std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(500)));
  if (life.expired()) co_return;
  if (_shutdown_granted) lg().info("controlled shutdown: the controller agreed");
  else if (std::chrono::steady_clock::now() < deadline)
    lg().warn("controlled shutdown: no controller answered for {} ms, stopping anyway",
              std::chrono::duration_cast<std::chrono::milliseconds>(unanswered).count());
  else lg().warn("controlled shutdown: no answer from the controller in {} ms, stopping anyway", timeout_ms);
}

}  // namespace gregor::server
