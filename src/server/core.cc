#include "core.h"

#include <set>

#include "group_service.h"

#include "active_controller.h"
#include "broker_lifecycle.h"
#include "cluster_controller_client.h"
#include "listener_tls.h"
#include "metadata_quorum.h"
#include "replica_manager.h"
#include "replication_metrics.h"
#include "single_node_controller.h"

#include "gregor/base/log.h"
#include "gregor/storage/file.h"
#include "gregor/storage/readahead_budget.h"

namespace gregor::server {
namespace {
spdlog::logger& lg() { return log::get("server"); }
}  // namespace

storage::log_config to_log_config(const config::topic_settings& s) {
  storage::log_config c;
  c.segment_bytes = s.segment_bytes;
  c.segment_ms = s.segment_ms;
  c.index_interval_bytes = s.index_interval_bytes;
  c.segment_index_bytes = s.segment_index_bytes;
  c.flush_messages = s.flush_messages;
  c.flush_ms = s.flush_ms;
  c.retention_ms = s.retention_ms;
  c.retention_bytes = s.retention_bytes;
  c.delete_enabled = s.delete_enabled();
  c.compact = s.compact();
  c.delete_retention_ms = s.delete_retention_ms;
  c.min_compaction_lag_ms = s.min_compaction_lag_ms;
  c.max_compaction_lag_ms = s.max_compaction_lag_ms;
  c.min_cleanable_dirty_ratio = s.min_cleanable_dirty_ratio;
  c.file_delete_delay_ms = s.file_delete_delay_ms;
  c.producer_id_expiration_ms = s.producer_id_expiration_ms;
  c.direct_io = s.direct_io;
  return c;
}

core::core(boost::asio::io_context& io, config::broker_config cfg, clock& clk)
    : _io(io), _cfg(cfg), _static_cfg(std::move(cfg)), _clock(clk), _waiters(io),
      _fetch_sessions(size_t(std::max(_static_cfg.max_incremental_fetch_session_cache_slots, 0)),
                      fetch_session_eviction_ms_default, uint64_t(uuid::random().lo)),
      _fetch_memory(_static_cfg.fetch_memory_max_bytes > 0 ? size_t(_static_cfg.fetch_memory_max_bytes)
                                                           : 2 * size_t(std::max(_static_cfg.fetch_max_bytes, 1024))),
      _client_quotas(client_quota_settings{
          .window_ms = int64_t(_static_cfg.quota_window_size_seconds) * 1000,
          .samples = _static_cfg.quota_window_num,
          .controller_window_ms = int64_t(_static_cfg.controller_quota_window_size_seconds) * 1000,
          .controller_samples = _static_cfg.controller_quota_window_num}),
      _outgoing_tls(std::make_shared<outgoing_tls>(io)) {}

client_quota_manager& core::client_quotas() {
  const auto& img = image();
  if (&img != _client_quotas_image || img.version() != _client_quotas_version) {
    _client_quotas.set_quotas(img.client_quotas());
    _client_quotas_image = &img;
    _client_quotas_version = img.version();
  }
  return _client_quotas;
}

result<void, std::string> core::open() {
  if (_cfg.log_dirs.empty()) return failure{std::string("config 'log.dirs' is empty")};
  std::filesystem::path dir = _cfg.log_dirs.front();
  if (_cfg.log_dirs.size() > 1)
    lg().warn("log.dirs has {} entries; this version stores data in the first, {}",
              _cfg.log_dirs.size(), dir.string());
  std::error_code ec;
  storage::create_dirs(dir, ec);  // fsynced into its parent: a power cut must not take it
  if (ec) return failure{fmt::format("cannot create log directory {}: {}", dir.string(), ec.message())};

  if (cluster_mode(_cfg)) {
    std::string new_cluster_id;
    if (_cfg.quorum_voters.empty()) {
      // A node given only controller.quorum.bootstrap.servers (a broker of a split cluster, or a
      // controller about to be added with AddRaftVoter, KIP-853): learn the voters and the cluster
      // id from the controllers. It joins as an observer unless it is already among the voters;
      // the quorum's log then says who the voters are.
      auto found = discover_quorum(_cfg.controller_quorum_bootstrap_servers, 300000);
      if (!found) return failure{found.error()};
      _static_cfg.quorum_voters = found->voters;
      _cfg.quorum_voters = found->voters;
      new_cluster_id = found->cluster_id;
    }
    // Without cluster.id and meta.properties' id the node starts not knowing its cluster's id
    // (empty): the first elected leader creates it in the metadata log, and every node adopts
    // it from there (metadata_quorum::adopt_cluster_id).
    auto cid = controller::claim_meta_properties(dir, _cfg.node_id, _cfg.cluster_id, new_cluster_id);
    if (!cid) return failure{fmt::format("cannot use log directory {}: {}", dir.string(), cid.error().message)};
    _quorum = std::make_shared<metadata_quorum>(_io, _static_cfg, *cid, _clock, dir, *_outgoing_tls);
    if (_cfg.is_controller()) _active = std::make_shared<active_controller>(_io, *_quorum, _static_cfg, _clock);
    if (_cfg.is_broker()) {
      _lifecycle = std::make_shared<broker_lifecycle>(_io, *_quorum, _active.get(), _static_cfg, _clock);
    }
    _controller = std::make_unique<forwarding_controller_client>(
        *_quorum, _active.get(), [this] { return _lifecycle ? _lifecycle->broker_epoch() : -1; });
    _controller_listener_client = std::make_unique<active_only_controller_client>(_active.get());
    _metadata_dir = dir / controller::metadata_dir_name;
  } else {
    auto md = controller::metadata_store::open(dir, _cfg.node_id, _cfg.cluster_id, _clock);
    if (!md) return failure{fmt::format("cannot open metadata in {}: {}", dir.string(), md.error().message)};
    _metadata = std::move(*md);
    _controller = std::make_unique<single_node_controller>(*this);
  }
  // Parked fetches of a replica that changes role answer at once (NOT_LEADER_OR_FOLLOWER, or the
  // new leader epoch) instead of waiting out their max wait.
  // A follower's parked fetch answers at once when this broker begins to lead a partition that
  // follower replicates: its next request adds the partition to its session (fetch_waiters.h).
  on_transitions([this](std::span<const replication::replica_transition> ts) {
    std::set<node_id> followers;
    for (const auto& t : ts) {
      _waiters.notify(t.tp);
      if (t.kind != replication::transition_kind::become_leader) continue;
      if (auto* p = _partitions->get(t.tp))
        for (node_id r : p->replicas().replicas)
          if (r != _cfg.node_id) {
            followers.insert(r);
            _waiters.expect_join(r, t.tp, _clock.monotonic_ms());
          }
    }
    for (node_id r : followers) _waiters.notify_replica(r);
  });

  // Becoming a leader of __transaction_state starts the transaction coordinator, which loads the
  // partition and finishes the transactions it left prepared (txn_service.cc).
  on_transitions([this](std::span<const replication::replica_transition> ts) { start_transactions_on_leadership(ts); });

  if (_lifecycle) {
    _replication = std::make_shared<replica_manager>(_io, *this, *_quorum, _active.get(), *_lifecycle, _static_cfg,
                                                     _clock);
    on_transitions([this](std::span<const replication::replica_transition> ts) { _replication->on_transitions(ts); });
  }
  storage::set_readahead_max_bytes(size_t(_cfg.log_readahead_max_bytes));
  auto logs = storage::log_manager::open(dir, _clock, size_t(_cfg.log_tail_cache_max_bytes),
                                        size_t(_cfg.log_async_writes_max_bytes));
  if (!logs) return failure{fmt::format("cannot open log directory {}: {}", dir.string(), logs.error().message)};
  _logs = std::move(*logs);
  if (auto* w = _logs->writer()) {
    // The disk writer reports each round of writes from its thread; the io thread takes it on.
    // It runs until _logs goes, possibly after _life did: it touches only the io_context (which
    // outlives the core) until the posted handler finds the core still alive.
    w->set_listener([this, &io = _io, life = std::weak_ptr<int>(_life)](std::vector<topic_partition> tps) {
      boost::asio::post(io, [this, life, tps = std::move(tps)] {
        if (life.expired()) return;
        on_writes_done(tps);
      });
    });
  }
  _partitions = std::make_unique<replication::partition_manager>(*_logs, _cfg.node_id);

  if (_metadata) {
    config::listener adv = advertised_for(_cfg.listeners.empty() ? "" : _cfg.listeners.front().name);
    _metadata->register_broker(controller::broker_info{_cfg.node_id, adv.host, adv.port, std::nullopt});
  }
  apply_metadata();
  lg().info("node {} of cluster {}: {} topics, {} partitions open in {}", _cfg.node_id,
            image().cluster_id(), image().topics().size(), _partitions->size(), dir.string());
  return ok;
}

void core::on_writes_done(const std::vector<topic_partition>& tps) {
  for (const auto& tp : tps) {
    if (auto* p = _partitions ? _partitions->get(tp) : nullptr) p->on_log_written();
    high_watermark_moved(tp);
  }
}

void core::high_watermark_moved(const topic_partition& tp) {
  if (auto* g = groups_if_started()) g->high_watermark_moved(tp);
  _waiters.notify(tp);
}

const controller::metadata_image& core::image() const {
  return _quorum ? _quorum->image() : _metadata->image();
}

bool core::is_controller_listener(const std::string& listener_name) const {
  return std::find(_cfg.controller_listener_names.begin(), _cfg.controller_listener_names.end(), listener_name) !=
         _cfg.controller_listener_names.end();
}

node_id core::client_controller_id() const {
  if (!_quorum) return image().controller_id();
  const auto& brokers = image().brokers();
  if (auto it = brokers.find(self()); it != brokers.end() && !it->second.fenced) return self();
  for (const auto& [id, b] : brokers)
    if (!b.fenced) return id;
  return no_node;
}

size_t core::live_broker_count() const {
  if (_metadata) return std::max<size_t>(_metadata->live_brokers().size(), 1);
  size_t n = 0;
  for (const auto& [id, b] : image().brokers())
    if (!b.fenced) ++n;
  return n;
}

result<void, std::string> core::start_cluster() {
  if (!_quorum) return ok;
  metadata_quorum::hooks h;
  h.applied = [this] { apply_metadata(); };
  h.controller_ready = [this](leader_epoch e) {
    if (_active) _active->activate(e);
  };
  h.controller_lost = [this] {
    if (_active) _active->deactivate();
  };
  if (auto r = _quorum->start(_metadata_dir, std::move(h)); !r) return r;
  if (_lifecycle) {
    std::vector<controller::broker_endpoint> endpoints;
    const auto& adv = _cfg.advertised_listeners.empty() ? _cfg.listeners : _cfg.advertised_listeners;
    for (const auto& l : adv) {
      if (is_controller_listener(l.name)) continue;
      auto a = advertised_for(l.name);
      endpoints.push_back(controller::broker_endpoint{l.name, a.host, a.port, 0});
    }
    // The registration's answer may come after its record was applied here: check again then.
    _lifecycle->on_registered([this] { apply_metadata(); });
    _lifecycle->start(std::move(endpoints));
  }
  if (_replication) _replication->start();
  return ok;
}

boost::asio::awaitable<void> core::controlled_shutdown() {
  if (_lifecycle) co_await _lifecycle->controlled_shutdown(_cfg.broker_session_timeout_ms);
}

boost::asio::awaitable<void> core::stop_cluster() {
  if (_lifecycle) _lifecycle->stop();
  if (_replication) co_await _replication->stop();
  if (_active) _active->deactivate();
  if (_quorum) co_await _quorum->stop();
}

void core::close() {
  _waiters.notify_all();
  snapshot_producers();
  if (_logs && _partitions) {
    if (auto r = _logs->checkpoint_high_watermarks(_partitions->high_watermarks()); !r)
      lg().error("high watermark checkpoint: {}", r.error().message);
  }
  if (_logs) {
    if (auto r = _logs->close_all(); !r) lg().error("closing logs: {}", r.error().message);
  }
}

void core::apply_metadata() {
  // Cluster mode, broker role: as Kafka's BrokerServer installs its metadata publishers only once
  // the broker caught up to its own registration record, nothing is published (no replica
  // transitions, no topic_runtime, no dynamic configs) until the metadata this node applied holds
  // the RegisterBrokerRecord of this incarnation. A restarted broker replaying its old metadata log
  // thus never leads or follows in what its previous incarnation was; clients meanwhile get
  // NOT_LEADER_OR_FOLLOWER / UNKNOWN_TOPIC_OR_PARTITION.
  if (_lifecycle && !_lifecycle->metadata_published()) {
    const int64_t registration = _lifecycle->broker_epoch();
    const offset applied = _quorum->applied_offset();
    if (!caught_up_with_registration(registration, applied)) return;
    _lifecycle->set_metadata_published();
    lg().info("caught up with the metadata log at offset {} (this broker's registration at {}): publishing the "
              "metadata image",
              applied.value(), registration);
  }
  const auto& img = image();
  // Dynamic broker configs (metadata log) over the static config; recomputed only when they change.
  const auto& dyn_default = img.broker_configs("");
  const auto& dyn_broker = img.broker_configs(std::to_string(_static_cfg.node_id.value()));
  if (dyn_default != _cfg.dynamic_default_values || dyn_broker != _cfg.dynamic_broker_values) {
    std::vector<std::string> skipped;
    _cfg = config::with_dynamic(_static_cfg, dyn_default, dyn_broker, &skipped);
    for (const auto& name : skipped) lg().warn("ignoring stored dynamic broker config '{}'", name);
    lg().info("dynamic broker configs: {} cluster default(s), {} for this broker",
              _cfg.dynamic_default_values.size(), _cfg.dynamic_broker_values.size());
    for (const auto& fn : _config_listeners) fn(_cfg);
  }
  std::unordered_map<std::string, topic_runtime> next;
  std::vector<replication::replica_transition> transitions;
  for (const auto& [name, t] : img.topics()) {
    topic_runtime rt;
    rt.id = t.id;
    rt.partition_count = int32_t(t.partitions.size());
    rt.settings = config::effective_topic_settings(t.configs, _cfg);
    rt.log = to_log_config(rt.settings);
    rt.compacted = rt.settings.cleanup_policy.find("compact") != std::string::npos;
    rt.log_append_time = rt.settings.message_timestamp_type == "LogAppendTime";
    for (const auto& p : t.partitions) {
      bool mine = std::find(p.replicas.begin(), p.replicas.end(), _cfg.node_id) != p.replicas.end();
      if (!mine) continue;
      replication::replica_set rs{p.leader_epoch, p.leader, p.replicas, p.isr, p.partition_epoch};
      topic_partition tp{name, p.id};
      const auto* before = _partitions->get(tp);
      const offset hw_before = before ? before->high_watermark() : offset(-1);
      const auto rs_before = before && before->is_leader() ? std::optional(before->replicas()) : std::nullopt;
      auto r = _partitions->apply(tp, t.id, rt.log, rs, _clock.monotonic_ms());
      if (rs_before) record_isr_change(*rs_before, rs, self());  // gregor_isr_shrinks/expands_total
      if (!r) lg().error("cannot open partition {}: {}", tp, r.error().message);
      else if (*r) transitions.push_back(**r);
      // An ISR shrink can advance the high watermark: acks=all produces waiting for it answer now.
      if (const auto* after = _partitions->get(tp); after && before && after->high_watermark() > hw_before)
        _waiters.notify(tp);
    }
    next.emplace(name, std::move(rt));
  }
  // Replicas whose topic (or partition) no longer exists here are stopped and deleted.
  std::vector<topic_partition> gone;
  _partitions->for_each([&](replication::partition& p) {
    const auto* t = img.topic(p.tp().topic);
    const auto idx = size_t(p.tp().partition.value());
    const bool assigned = t && t->id == p.log().topic_id() && idx < t->partitions.size() &&
                          std::find(t->partitions[idx].replicas.begin(), t->partitions[idx].replicas.end(),
                                    _cfg.node_id) != t->partitions[idx].replicas.end();
    if (!assigned) gone.push_back(p.tp());
  });
  for (const auto& tp : gone) {
    lg().info("deleting partition {}", tp);
    auto r = _partitions->stop(tp);
    if (!r) lg().error("deleting {}: {}", tp, r.error().message);
    else transitions.push_back(*r);
  }
  _topics = std::move(next);
  if (transitions.empty()) return;
  if (_quorum) {
    size_t leads = 0, follows = 0, stops = 0;
    for (const auto& t : transitions)
      (t.kind == replication::transition_kind::become_leader     ? leads
       : t.kind == replication::transition_kind::become_follower ? follows
                                                                 : stops)++;
    lg().info("replica transitions at metadata offset {}: {} to leader, {} to follower, {} stopped",
              _quorum->applied_offset().value(), leads, follows, stops);
  }
  // A listener may subscribe another one (a service starting as it sees a transition): iterate over
  // the subscribers as they were, so the vector may grow meanwhile; new ones see the next batch.
  const auto listeners = _transition_listeners;
  for (const auto& fn : listeners) fn(transitions);
}

boost::asio::awaitable<protocol::error_code> core::auto_create_topic(const std::string& name) {
  topic_spec spec;
  spec.name = name;
  spec.partitions = _cfg.num_partitions;
  spec.replication_factor = _cfg.default_replication_factor;
  auto r = co_await _controller->create_topic(std::move(spec), false);
  if (!r) {
    if (r.error().code == protocol::error_code::topic_already_exists) co_return protocol::error_code::none;
    co_return r.error().code;
  }
  lg().info("auto-created topic {} with {} partitions", name, _cfg.num_partitions);
  co_return protocol::error_code::none;
}

const topic_runtime* core::topic(const std::string& name) const {
  auto it = _topics.find(name);
  return it == _topics.end() ? nullptr : &it->second;
}

const topic_runtime* core::topic(uuid id, std::string* name_out) const {
  const auto* t = image().topic(id);
  if (!t) return nullptr;
  if (name_out) *name_out = t->name;
  return topic(t->name);
}

result<replication::partition*, protocol::error_code> core::leader_partition(
    const topic_partition& tp, int32_t current_leader_epoch) {
  using protocol::error_code;
  const topic_runtime* rt = topic(tp.topic);
  replication::partition* p = rt ? _partitions->get(tp) : nullptr;
  if (!p) {
    // Kafka: a partition the metadata knows but this broker holds no replica of is
    // NOT_LEADER_OR_FOLLOWER (the client refreshes its metadata), not an unknown partition.
    const bool known = rt && tp.partition.value() >= 0 && tp.partition.value() < rt->partition_count;
    return failure{known ? error_code::not_leader_or_follower : error_code::unknown_topic_or_partition};
  }
  if (!p->is_leader()) return failure{error_code::not_leader_or_follower};
  if (current_leader_epoch >= 0 && current_leader_epoch != p->epoch().value())
    return failure{current_leader_epoch < p->epoch().value() ? error_code::fenced_leader_epoch
                                                             : error_code::unknown_leader_epoch};
  return p;
}

config::listener core::endpoint_of(const controller::broker_info& b,
                                   const std::string& listener_name) const {
  if (b.id == self()) return advertised_for(listener_name);
  for (const auto& e : b.endpoints)
    if (e.listener == listener_name) return config::listener{listener_name, e.host, e.port};
  return config::listener{listener_name, b.host, b.port};
}

config::listener core::advertised_for(const std::string& listener_name) const {
  const auto& adv = _cfg.advertised_listeners.empty() ? _cfg.listeners : _cfg.advertised_listeners;
  config::listener out{"PLAINTEXT", "localhost", 9092};
  for (size_t i = 0; i < adv.size(); ++i) {
    if (adv[i].name == listener_name || i == 0) out = adv[i];
    if (adv[i].name == listener_name) break;
  }
  if (out.host.empty() || out.host == "0.0.0.0" || out.host == "::") out.host = "localhost";
  // A listener bound to port 0 advertises the port it actually got.
  if (out.port == 0) {
    for (size_t i = 0; i < _cfg.listeners.size() && i < _bound_ports.size(); ++i)
      if (_cfg.listeners[i].name == out.name) out.port = _bound_ports[i];
  }
  return out;
}

void core::set_bound_ports(std::vector<uint16_t> ports) {
  _bound_ports = std::move(ports);
  if (_metadata) {  // single node (in cluster mode start_cluster() registers with the bound ports)
    config::listener adv = advertised_for(_cfg.listeners.empty() ? "" : _cfg.listeners.front().name);
    _metadata->register_broker(controller::broker_info{_cfg.node_id, adv.host, adv.port, std::nullopt});
  }
}

}  // namespace gregor::server
