#include "metadata_quorum.h"

#include "sasl_login.h"

#include <algorithm>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include "gregor/base/log.h"
#include "gregor/client/client.h"
#include "gregor/controller/metadata_store.h"
#include "gregor/protocol/messages/describe_cluster.h"
#include "gregor/protocol/messages/update_raft_voter.h"
#include "listener_tls.h"
#include "raft_wire.h"
#include "voter_update.h"

namespace gregor::server {
namespace asio = boost::asio;
namespace {

spdlog::logger& lg() { return log::get("cluster"); }

}  // namespace

bool cluster_mode(const config::broker_config& cfg) {
  return !cfg.quorum_voters.empty() || !cfg.controller_quorum_bootstrap_servers.empty();
}

result<discovered_quorum, std::string> discover_quorum(const std::vector<std::string>& bootstrap_servers,
                                                       int64_t timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string last = "no bootstrap server answered";
  auto next_log = std::chrono::steady_clock::now();
  for (;;) {
    for (const auto& server : bootstrap_servers) {
      std::string host;
      uint16_t port = 0;
      if (auto bad = client::parse_host_port(server, host, port); !bad.empty()) {
        return failure{fmt::format("config 'controller.quorum.bootstrap.servers': '{}': {}", server, bad)};
      }
      asio::io_context io;
      client::options o;
      o.client_id = "gregor-bootstrap";
      o.timeout_ms = 5000;
      client::connection conn(io, o);
      if (auto r = conn.open(host, port); !r) {
        last = r.error();
        continue;
      }
      protocol::describe_cluster_request req;
      req.endpoint_type = 2;  // controllers
      auto r = conn.call<protocol::describe_cluster_request, protocol::describe_cluster_response>(req);
      if (!r) {
        last = fmt::format("{}: {}", server, r.error());
        continue;
      }
      if (r->error_code != 0 || r->brokers.empty()) {
        last = fmt::format("{}: DescribeCluster for controllers answered {} {}", server,
                           protocol::error_name(protocol::error_code(r->error_code)), r->error_message.value_or(""));
        continue;
      }
      discovered_quorum out;
      out.cluster_id = r->cluster_id;
      for (const auto& b : r->brokers)
        out.voters.push_back(config::quorum_voter{node_id(b.broker_id), b.host, int32_t(b.port)});
      lg().info("controller quorum discovered through {}: {} voter(s), cluster {}", server, out.voters.size(),
                out.cluster_id);
      return out;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return failure{fmt::format("cannot discover the controller quorum: {}", last)};
    if (now >= next_log) {
      lg().info("waiting for the controllers ({}): {}", fmt::join(bootstrap_servers, ","), last);
      next_log = now + std::chrono::seconds(10);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// ---- quorum_transport ----

namespace {

// One quorum RPC: sends `wire` at `version`, translates the answer back (raft_wire::from_wire) and
// lets `complete` copy what the wire does not carry from the request.
template <class WireReq, class WireResp, class Complete>
asio::awaitable<result<raft::message, std::string>> exchange(rpc::node_pool& pool, node_id to, const WireReq& wire,
                                                            int16_t version, int64_t timeout_ms, Complete complete) {
  rpc::call_options opts;
  opts.timeout_ms = timeout_ms;
  opts.version = version;
  auto r = co_await pool.call_reply<WireReq, WireResp>(to, wire, opts);
  if (!r) co_return failure{r.error().message};
  auto m = from_wire(r->body, r->version);  // copies any records out of r->frame
  if (!m) co_return failure{fmt::format("{} ({})", m.error().why, protocol::error_name(m.error().error))};
  complete(*m);
  co_return raft::message{std::move(*m)};
}

}  // namespace

asio::awaitable<result<raft::message, std::string>> quorum_transport::call(node_id to, raft::message request) {
  // Named locals only in the co_await expressions below (GCC 12 may destroy temporaries of a
  // co_await operand twice).
  const auto none = [](auto&) {};
  if (const auto* v = std::get_if<raft::vote_request>(&request)) {
    const bool pre_vote = v->pre_vote;
    const auto fix = [pre_vote](raft::vote_response& m) { m.pre_vote = pre_vote; };
    const auto wire = to_wire(*v, _cluster_id, raft_vote_version);
    co_return co_await exchange<protocol::vote_request, protocol::vote_response>(_pool, to, wire, raft_vote_version,
                                                                                 _timeout_ms, fix);
  }
  if (const auto* b = std::get_if<raft::begin_quorum_epoch_request>(&request)) {
    const auto wire = to_wire(*b, _cluster_id, raft_begin_quorum_epoch_version);
    co_return co_await exchange<protocol::begin_quorum_epoch_request, protocol::begin_quorum_epoch_response>(
        _pool, to, wire, raft_begin_quorum_epoch_version, _timeout_ms, none);
  }
  if (const auto* e = std::get_if<raft::end_quorum_epoch_request>(&request)) {
    const auto wire = to_wire(*e, _cluster_id, raft_end_quorum_epoch_version);
    co_return co_await exchange<protocol::end_quorum_epoch_request, protocol::end_quorum_epoch_response>(
        _pool, to, wire, raft_end_quorum_epoch_version, _timeout_ms, none);
  }
  if (const auto* f = std::get_if<raft::fetch_request>(&request)) {
    const uint64_t token = f->request_token;
    const auto fix = [token](raft::fetch_response& m) { m.request_token = token; };
    const auto wire = to_wire(*f, _cluster_id, 0, raft_fetch_version);
    co_return co_await exchange<protocol::fetch_request, protocol::fetch_response>(_pool, to, wire, raft_fetch_version,
                                                                                   _timeout_ms, fix);
  }
  if (const auto* s = std::get_if<raft::fetch_snapshot_request>(&request)) {
    const uint64_t token = s->request_token;
    const auto fix = [token](raft::fetch_snapshot_response& m) { m.request_token = token; };
    const auto wire = to_wire(*s, _cluster_id, raft_fetch_snapshot_version);
    co_return co_await exchange<protocol::fetch_snapshot_request, protocol::fetch_snapshot_response>(
        _pool, to, wire, raft_fetch_snapshot_version, _timeout_ms, fix);
  }
  co_return failure{std::string("not a quorum request")};
}

// ---- metadata_quorum ----

metadata_quorum::metadata_quorum(asio::io_context& io, const config::broker_config& cfg, std::string cluster_id,
                                 clock& clk, std::filesystem::path log_dir, outgoing_tls& tls)
    : _io(io), _cfg(cfg), _cluster_id(std::move(cluster_id)), _clock(clk), _log_dir(std::move(log_dir)),
      _voters(cfg.quorum_voters) {
  _controller_listener = cfg.controller_listener_names.empty() ? "CONTROLLER" : cfg.controller_listener_names.front();
  _voter = std::any_of(_voters.begin(), _voters.end(), [&](const auto& v) { return v.id == cfg.node_id; });
  auto pool_opts = [&](std::string role) {
    rpc::pool_options o;
    o.client_id = fmt::format("gregor-{}-{}", role, cfg.node_id.value());
    o.connection.connect_timeout_ms = cfg.controller_quorum_request_timeout_ms;
    o.rng_seed ^= uint64_t(cfg.node_id.value()) * 0x9e3779b97f4a7c15ULL;
    if (auto login = sasl_login_for(cfg, _controller_listener, cfg.sasl_mechanism_controller_protocol); login)
      o.connection.sasl = *login;
    tls.use_or_log(o.connection, cfg, _controller_listener);
    return o;
  };
  _raft_pool = std::make_unique<rpc::node_pool>(io.get_executor(), pool_opts("raft"));
  _controller_pool = std::make_unique<rpc::node_pool>(io.get_executor(), pool_opts("broker"));
  for (const auto& v : _voters) {
    if (v.id == cfg.node_id) continue;
    _raft_pool->set_endpoint(v.id, rpc::endpoint{v.host, uint16_t(v.port)});
  }
  for (const auto& v : _voters) _controller_pool->set_endpoint(v.id, rpc::endpoint{v.host, uint16_t(v.port)});
  _transport = std::make_unique<quorum_transport>(*_raft_pool, _cluster_id, cfg.controller_quorum_request_timeout_ms);
  _image.set_identity(_cluster_id, no_node);
}

metadata_quorum::~metadata_quorum() { _life.reset(); }

result<void, std::string> metadata_quorum::start(std::filesystem::path metadata_dir, hooks h) {
  _hooks = std::move(h);
  raft_node::options o;
  o.core.self = _cfg.node_id;
  for (const auto& v : _voters) {
    o.core.voters.push_back(v.id);
    o.core.voter_endpoints[v.id].push_back(raft::voter_endpoint{_controller_listener, v.host, uint16_t(v.port)});
  }
  // The directory id AddRaftVoter names this replica by (KIP-853): meta.properties of the log
  // directory that holds the metadata log.
  if (auto meta = controller::read_meta_properties(metadata_dir.parent_path()); meta && *meta)
    uuid::from_base64((*meta)->directory_id, _directory_id);
  o.core.directory_id = _directory_id;
  o.core.election_timeout_ms = _cfg.controller_quorum_election_timeout_ms;
  o.core.fetch_timeout_ms = _cfg.controller_quorum_fetch_timeout_ms;
  o.core.election_backoff_max_ms = _cfg.controller_quorum_election_backoff_max_ms;
  o.core.request_timeout_ms = _cfg.controller_quorum_request_timeout_ms;
  o.core.retry_backoff_ms = _cfg.controller_quorum_retry_backoff_ms;
  o.core.seed = uint64_t(_clock.now_ms()) * 0x9e3779b97f4a7c15ULL ^ uint64_t(_cfg.node_id.value());
  o.dir = std::move(metadata_dir);
  raft_node::hooks rh;
  rh.apply = [this](const committed_batch& b) { on_apply(b); };
  rh.load_snapshot = [this](offset end, const std::vector<controller::framed_record>& records) {
    on_snapshot(end, records);
  };
  rh.leadership = [this](const raft::leadership_change& ch) { on_leadership(ch); };
  rh.leader_ready = [this](leader_epoch e) { on_leader_ready(e); };
  rh.voters = [this](const raft::voter_set& v) { on_voters(v); };
  _raft = std::make_unique<raft_node>(_io, std::move(o), *_transport, std::move(rh), _clock);
  if (auto r = _raft->start(); !r) return r;
  lg().info("node {} joined the controller quorum as {} (voters {}, cluster {})", _cfg.node_id.value(),
            _voter ? "a voter" : "an observer", fmt::join(_cfg.controller_quorum_voters, ","),
            _cluster_id.empty() ? "id not known yet" : _cluster_id);
  return ok;
}

asio::awaitable<void> metadata_quorum::stop() {
  if (_raft) co_await _raft->stop();
  co_await _raft_pool->stop();
  co_await _controller_pool->stop();
  _changed.notify_all();
}

std::optional<node_id> metadata_quorum::leader() const {
  if (!_raft) return std::nullopt;
  auto l = _raft->leader();
  if (l.leader == no_node) return std::nullopt;
  return l.leader;
}

void metadata_quorum::on_apply(const committed_batch& b) {
  for (const auto& r : b.records) {
    if (auto why = _image.apply(r.message); !why.empty())
      lg().warn("metadata record at offset {} not applied: {}", b.base, why);
  }
  _applied = b.end;
  adopt_cluster_id();
  maybe_update_voter();
  if (_hooks.applied) _hooks.applied();
  _changed.notify_all();
  _bytes_since_snapshot += b.bytes;
  const int64_t now = _clock.monotonic_ms();
  if (_last_snapshot_ms == 0) _last_snapshot_ms = now;
  const bool by_bytes = int64_t(_bytes_since_snapshot) >= _cfg.metadata_log_max_record_bytes_between_snapshots;
  const bool by_time = _cfg.metadata_log_max_snapshot_interval_ms > 0 &&
                       now - _last_snapshot_ms >= _cfg.metadata_log_max_snapshot_interval_ms;
  if (_bytes_since_snapshot > 0 && (by_bytes || by_time)) {
    _raft->take_snapshot(b.end, b.epoch, _image.to_records());
    _bytes_since_snapshot = 0;
    _last_snapshot_ms = now;
  }
}

void metadata_quorum::on_snapshot(offset end, const std::vector<controller::framed_record>& records) {
  controller::metadata_image fresh;
  for (const auto& r : records)
    if (auto why = fresh.apply(r.message); !why.empty()) lg().warn("snapshot record not applied: {}", why);
  fresh.set_identity(_cluster_id, _image.controller_id());
  _image = std::move(fresh);
  _applied = end;
  _bytes_since_snapshot = 0;
  adopt_cluster_id();
  lg().info("loaded the metadata snapshot ending at offset {}", end);
  if (_hooks.applied) _hooks.applied();
  _changed.notify_all();
}

void metadata_quorum::adopt_cluster_id() {
  const std::string& logged = _image.log_cluster_id();
  if (logged.empty() || logged == _cluster_id) return;
  if (!_cluster_id.empty()) {
    // Only a node started with another cluster.id (or another cluster's meta.properties) gets
    // here; its requests carry its own id, which the quorum refuses (INCONSISTENT_CLUSTER_ID).
    lg().error("the metadata log belongs to cluster '{}', but this node is of cluster '{}'", logged, _cluster_id);
    return;
  }
  if (!_log_dir.empty()) {
    auto r = controller::claim_meta_properties(_log_dir, _cfg.node_id, logged, logged);
    if (!r) {
      lg().error("cannot record cluster id '{}' in {}/meta.properties: {}", logged, _log_dir.string(),
                 r.error().message);
      return;  // tried again at the next applied batch
    }
  }
  _cluster_id = logged;
  _image.set_identity(_cluster_id, _image.controller_id());
  lg().info("this node is of cluster {} (from the metadata log)", _cluster_id);
}

void metadata_quorum::on_leadership(const raft::leadership_change& ch) {
  _image.set_identity(_cluster_id, ch.leader.leader);
  maybe_update_voter();
  if (ch.self_role != raft::role::leader && _leading) {
    _leading = false;
    lg().info("this node is no longer the active controller (epoch {})", ch.leader.epoch);
    if (_hooks.controller_lost) _hooks.controller_lost();
  }
  _changed.notify_all();
}

void metadata_quorum::on_voters(const raft::voter_set& voters) {
  std::vector<config::quorum_voter> next;
  for (const auto& v : voters) {
    // The controller listener's endpoint; a voter that lists none under that name keeps the one
    // we knew (or its first).
    const raft::voter_endpoint* ep = nullptr;
    for (const auto& e : v.endpoints)
      if (e.name == _controller_listener) ep = &e;
    if (!ep && !v.endpoints.empty()) ep = &v.endpoints.front();
    if (ep) {
      next.push_back(config::quorum_voter{v.id, ep->host, int32_t(ep->port)});
      continue;
    }
    auto known = std::find_if(_voters.begin(), _voters.end(), [&](const auto& k) { return k.id == v.id; });
    if (known != _voters.end()) next.push_back(*known);
  }
  const bool was_voter = _voter;
  _voter = std::any_of(voters.begin(), voters.end(), [&](const auto& v) { return v.id == _cfg.node_id; });
  for (const auto& v : next) {
    if (std::find(_voters.begin(), _voters.end(), v) != _voters.end()) continue;  // known as it is
    if (v.id != _cfg.node_id) _raft_pool->set_endpoint(v.id, rpc::endpoint{v.host, uint16_t(v.port)});
    _controller_pool->set_endpoint(v.id, rpc::endpoint{v.host, uint16_t(v.port)});
  }
  if (next != _voters || was_voter != _voter) {
    std::string ids;
    for (const auto& v : voters) ids += fmt::format("{}{}", ids.empty() ? "" : ",", v.id.value());
    lg().info("controller quorum voters now {} (this node is {})", ids, _voter ? "a voter" : "an observer");
  }
  _voters = std::move(next);
  _changed.notify_all();
  maybe_update_voter();
}

void metadata_quorum::maybe_update_voter() {
  if (!_raft || _voter_update_in_flight) return;
  const raft::leader_and_epoch l = _raft->leader();
  const raft::voter_set& set = _raft->voters();
  voter_update_input in;
  in.self = _cfg.node_id;
  in.directory_id = _directory_id;
  // This node's controller listener, as advertised (else as bound by name).
  const config::listener* own = nullptr;
  for (const auto* list : {&_cfg.advertised_listeners, &_cfg.listeners})
    for (const auto& x : *list)
      if (!own && x.name == _controller_listener && !x.host.empty() && x.port > 0) own = &x;
  if (own) in.endpoints.push_back(raft::voter_endpoint{own->name, own->host, uint16_t(own->port)});
  in.follower = _voter && l.leader != no_node && l.leader != _cfg.node_id && !_raft->is_leader();
  in.dynamic_quorum = _raft->voters_are_dynamic();
  in.voters = &set;
  auto update = voter_update_needed(in);
  if (!update) return;
  _voter_update_in_flight = true;
  lg().info("this voter's controller endpoint is {}:{}, the voter set says otherwise: asking leader {} to update it",
            update->endpoints.front().host, update->endpoints.front().port, l.leader.value());
  asio::co_spawn(
      _io,
      [this, life = std::weak_ptr<int>(_life), v = std::move(*update), l]() -> asio::awaitable<void> {
        protocol::update_raft_voter_request req;
        if (!_cluster_id.empty()) req.cluster_id = _cluster_id;
        req.current_leader_epoch = l.epoch.value();
        req.voter_id = v.id.value();
        req.voter_directory_id = v.directory_id;
        for (const auto& e : v.endpoints) req.listeners.push_back({e.name, e.host, e.port, {}});
        req.kraft_version_feature.min_supported_version = 0;
        req.kraft_version_feature.max_supported_version = 1;
        rpc::call_options opts;
        opts.timeout_ms = 30000;
        auto r = co_await _controller_pool->call<protocol::update_raft_voter_request,
                                                 protocol::update_raft_voter_response>(l.leader, req, opts);
        if (life.expired()) co_return;
        if (!r) lg().info("UpdateRaftVoter to leader {}: {}", l.leader.value(), r.error().message);
        else if (r->error_code != 0)
          lg().info("UpdateRaftVoter to leader {}: {}", l.leader.value(),
                    protocol::error_name(protocol::error_code(r->error_code)));
        else lg().info("leader {} committed this voter's endpoints", l.leader.value());
        // Also after a success: this node's voter set shows the new entry once it fetched it.
        asio::steady_timer t(_io, std::chrono::milliseconds(std::max<int64_t>(_cfg.controller_quorum_retry_backoff_ms, 500)));
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        if (life.expired()) co_return;
        _voter_update_in_flight = false;
        maybe_update_voter();  // still differing (a failure, a newer set): ask again
      },
      asio::detached);
}

void metadata_quorum::on_leader_ready(leader_epoch epoch) {
  _leading = true;
  lg().info("this node is the active controller in epoch {} (metadata applied up to offset {})", epoch, _applied);
  if (_hooks.controller_ready) _hooks.controller_ready(epoch);
  _changed.notify_all();
}

asio::awaitable<bool> metadata_quorum::wait_for(std::function<bool()> pred, int64_t timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) co_return false;
    co_await _changed.wait_until(deadline);
  }
  co_return true;
}

int64_t metadata_quorum::to_wall_ms(int64_t monotonic_ms) const {
  if (monotonic_ms < 0) return monotonic_ms;
  return _clock.now_ms() - (_clock.monotonic_ms() - monotonic_ms);
}

}  // namespace gregor::server
