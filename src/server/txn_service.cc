#include "txn_service.h"

#include "sasl_login.h"

#include "broker_endpoint.h"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gregor/base/log.h"
#include "gregor/group/group_coordinator.h"
#include "gregor/protocol/messages/add_partitions_to_txn.h"
#include "gregor/protocol/messages/write_txn_markers.h"
#include "gregor/txn/transaction_log.h"
#include "group_service.h"
#include "idempotence.h"
#include "internal_topic.h"
#include "listener_tls.h"
#include "log_replay.h"

namespace gregor::server {
namespace asio = boost::asio;
using protocol::error_code;

namespace {
spdlog::logger& lg() { return log::get("txn"); }
// How long a state write, a marker or a verification may wait for its answer (Kafka's
// request.timeout.ms for the coordinator's own appends and inter-broker requests).
constexpr int64_t write_timeout_ms = 30000;
constexpr int64_t rpc_timeout_ms = 10000;
// A parked coordinator request never waits longer than this (its write's timeout plus a margin).
constexpr int64_t park_timeout_ms = write_timeout_ms + 5000;
// Marker retries back off from the first to the last value, doubling.
constexpr int64_t marker_backoff_first_ms = 50;
constexpr int64_t marker_backoff_max_ms = 1000;

// The coordinator's append errors as Kafka's TransactionStateManager reports them to clients.
error_code client_error_of_append(error_code e) {
  switch (e) {
    case error_code::none: return e;
    case error_code::not_enough_replicas:
    case error_code::not_enough_replicas_after_append:
    case error_code::request_timed_out:
    case error_code::coordinator_not_available:
      return error_code::coordinator_not_available;
    case error_code::not_leader_or_follower:
    case error_code::kafka_storage_error:
    case error_code::not_coordinator:
      return error_code::not_coordinator;
    default:
      return error_code::unknown_server_error;
  }
}
}  // namespace

// ---- core hooks (declared in core.h) ----
asio::awaitable<txn_service*> core::transactions() {
  auto& keep = transaction_service();
  co_await keep.start();
  co_return &keep;
}

txn_service& core::transaction_service() {
  if (!_txns) _txns = std::make_shared<txn_service>(*this);
  return *_txns;
}

void core::start_transactions_on_leadership(std::span<const replication::replica_transition> ts) {
  if (_txns && (_txns->started() || _txns->stopping())) return;
  for (const auto& t : ts) {
    if (t.tp.topic != transaction_state_topic || t.kind != replication::transition_kind::become_leader) continue;
    // Posted: the service starts after this metadata batch has been applied, not in the middle of it.
    asio::post(_io, [this] {
      asio::co_spawn(_io, [this]() -> asio::awaitable<void> { co_await transactions(); }, asio::detached);
    });
    return;
  }
}

void core::stop_transactions() {
  if (_txns) _txns->stop();
}

asio::awaitable<void> core::shutdown_transactions() {
  if (!_txns) co_return;
  auto keep = _txns;
  co_await keep->shutdown();
}

struct txn_service::waiter {
  explicit waiter(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
  std::optional<txn::reply> answer;
};

txn_service::txn_service(core& c) : _core(c) {
  const auto& cfg = c.config();
  txn::coordinator_settings s;
  s.max_timeout_ms = cfg.transaction_max_timeout_ms;
  s.id_expiration_ms = cfg.transactional_id_expiration_ms;
  _coordinator = std::make_unique<txn::transaction_coordinator>(s, [this]() -> std::optional<int64_t> {
    return std::exchange(_spare_producer_id, std::nullopt);
  });
  _listener = cfg.inter_broker_listener();
  rpc::pool_options o;
  o.client_id = fmt::format("gregor-txn-{}", cfg.node_id.value());
  o.rng_seed ^= uint64_t(cfg.node_id.value()) * 0x9e3779b97f4a7c15ULL;
  if (auto login = sasl_login_for(cfg, _listener, cfg.sasl_mechanism_inter_broker_protocol); login) o.connection.sasl = *login;
  c.outgoing_tls_contexts().use_or_log(o.connection, cfg, _listener);
  _pool = std::make_unique<rpc::node_pool>(c.io().get_executor(), o);
}

txn_service::~txn_service() { _life.reset(); }

asio::awaitable<void> txn_service::start() {
  if (_stopped) co_return;
  if (_started) {
    // Deleted by an admin after it was created (Kafka allows it): create it again, as Kafka does
    // on the next FindCoordinator; its partitions load as their leaderships arrive.
    if (!_recreating && !_core.topic(std::string(transaction_state_topic))) {
      _recreating = true;
      co_await create_topic();
      _recreating = false;
    }
    co_return;
  }
  if (_starting) {
    auto ready = _ready;
    co_await ready->async_wait(asio::as_tuple(asio::use_awaitable));
    co_return;
  }
  _starting = true;
  _ready = std::make_shared<asio::steady_timer>(_core.io(), asio::steady_timer::time_point::max());
  std::string name(transaction_state_topic);
  if (!_core.topic(name)) co_await create_topic();
  const auto* rt = _core.topic(name);
  if (!rt || _stopped) {
    _starting = false;
    _ready->cancel();
    co_return;
  }
  _partitions = rt->partition_count;
  for (int32_t i = 0; i < _partitions; ++i) {
    auto* p = _core.partition(topic_partition{name, partition_id{i}});
    if (p && p->is_leader()) load_partition(*p);
  }
  _core.on_transitions([this](std::span<const replication::replica_transition> ts) { on_transitions(ts); });
  _tick_timer = std::make_shared<asio::steady_timer>(_core.io());
  asio::co_spawn(_core.io(), tick_loop(), asio::detached);
  _started = true;
  _ready->cancel();
  pump();
}

asio::awaitable<void> txn_service::create_topic() {
  const auto& cfg = _core.config();
  std::map<std::string, std::string> configs{
      {"compression.type", "uncompressed"},
      {"min.insync.replicas", std::to_string(cfg.transaction_state_log_min_isr)},
      {"unclean.leader.election.enable", "false"},
      {"segment.bytes", std::to_string(cfg.transaction_state_log_segment_bytes)}};
  co_await create_internal_topic(_core, std::string(transaction_state_topic), cfg.transaction_state_log_num_partitions,
                                 cfg.transaction_state_log_replication_factor, std::move(configs), lg());
}

void txn_service::stop() {
  _stopped = true;
  if (_ready) _ready->cancel();
  if (_tick_timer) _tick_timer->cancel();
  for (auto& [t, w] : _waiters) w->timer.cancel();
}

asio::awaitable<void> txn_service::shutdown() {
  stop();
  co_await _pool->stop();
}

// ---- placement ----
int32_t txn_service::partition_of(const std::string& transactional_id) const {
  int32_t n = _partitions;
  if (n <= 0)
    if (const auto* t = _core.image().topic(transaction_state_topic)) n = int32_t(t->partitions.size());
  // Kafka places transactional ids as groups: abs(String.hashCode) % partition count.
  return n <= 0 ? -1 : group::offsets_partition_for(transactional_id, n);
}

txn_service::coordinator_info txn_service::find_coordinator(const std::string& transactional_id,
                                                            const std::string& listener) {
  coordinator_info out;
  const auto* t = _core.image().topic(transaction_state_topic);
  const int32_t pid = partition_of(transactional_id);
  if (!_started || !t || pid < 0 || pid >= int32_t(t->partitions.size())) {
    out.error = error_code::coordinator_not_available;
    return out;
  }
  const node_id leader = t->partitions[size_t(pid)].leader;
  if (leader == _core.self()) {
    config::listener adv = _core.advertised_for(listener);
    out.node = _core.self();
    out.host = adv.host;
    out.port = adv.port;
    return out;
  }
  auto it = _core.image().brokers().find(leader);
  if (it == _core.image().brokers().end()) {
    out.error = error_code::coordinator_not_available;
    return out;
  }
  const auto ep = _core.endpoint_of(it->second, listener);
  out.node = leader;
  out.host = ep.host;
  out.port = ep.port;
  return out;
}

error_code txn_service::check_coordinator(const std::string& transactional_id) {
  if (!_started) return error_code::coordinator_not_available;
  const int32_t pid = partition_of(transactional_id);
  if (pid < 0) return error_code::coordinator_not_available;
  auto* p = _core.partition(topic_partition{std::string(transaction_state_topic), partition_id{pid}});
  if (!p || !p->is_leader() || !_loaded.contains(pid) || _loaded[pid] != p->epoch())
    return error_code::not_coordinator;
  return error_code::none;
}

bool txn_service::leads(int32_t partition, leader_epoch epoch) {
  auto* p = _core.partition(topic_partition{std::string(transaction_state_topic), partition_id{partition}});
  return p && p->is_leader() && p->epoch() == epoch && !_stopped;
}

// ---- loading ----
void txn_service::on_transitions(std::span<const replication::replica_transition> ts) {
  if (_stopped) return;
  for (const auto& t : ts) {
    // A partition this broker leads no longer: its verification guards go (the next leader
    // verifies again).
    if (t.kind != replication::transition_kind::become_leader)
      std::erase_if(_verified, [&](const auto& e) { return e.first.first == t.tp; });
    if (t.tp.topic != transaction_state_topic) continue;
    if (const auto* rt = _core.topic(std::string(transaction_state_topic))) _partitions = rt->partition_count;
    const int32_t idx = t.tp.partition.value();
    if (_loaded.contains(idx)) {
      _coordinator->unload(idx);
      _loaded.erase(idx);
    }
    if (t.kind == replication::transition_kind::become_leader) {
      if (auto* p = _core.partition(t.tp)) load_partition(*p);
    } else {
      lg().info("no longer transaction coordinator of {}", t.tp);
    }
  }
  pump();
}

void txn_service::load_partition(replication::partition& p) {
  const int32_t idx = p.tp().partition.value();
  _coordinator->unload(idx);
  size_t records = 0;
  replay_log(p, 1 << 20, lg(), [&](const protocol::batch_header& h, std::span<const uint8_t> batch) {
    if (h.is_control()) return;
    auto rr = protocol::for_each_record(batch, [&](const protocol::record_view& rec) {
      if (!rec.key) return;
      auto key = txn::decode_txn_key(std::span<const uint8_t>(
          reinterpret_cast<const uint8_t*>(rec.key->data()), rec.key->size()));
      if (!key) return;
      std::optional<txn::txn_value> value;
      if (rec.value) {
        value = txn::decode_txn_value(std::span<const uint8_t>(
            reinterpret_cast<const uint8_t*>(rec.value->data()), rec.value->size()));
        if (!value) {
          lg().warn("loading {}: undecodable state of transactional id {}", p.tp(), *key);
          return;
        }
      }
      _coordinator->load(idx, *key, value);
      ++records;
    });
    if (!rr) lg().warn("loading {}: bad batch at {}: {}", p.tp(), h.base_offset, rr.error().message);
  });
  _coordinator->finish_loading(idx);
  _loaded[idx] = p.epoch();
  lg().info("became transaction coordinator of {} (coordinator epoch {}): {} records loaded", p.tp(),
            p.epoch().value(), records);
}

// ---- the coordinator's requests ----
asio::awaitable<void> txn_service::refill_producer_id() {
  if (_spare_producer_id) co_return;
  auto np = co_await _core.producers().init_producer_id(no_producer_id, no_producer_epoch);
  if (np.error == error_code::none && !_spare_producer_id) _spare_producer_id = np.pid.value();
}

asio::awaitable<txn::reply> txn_service::park(uint64_t ticket) {
  auto it = _waiters.find(ticket);
  if (it == _waiters.end()) co_return txn::reply{error_code::unknown_server_error};
  auto w = it->second;
  if (!w->answer && !_stopped) {
    w->timer.expires_after(std::chrono::milliseconds(park_timeout_ms));
    co_await w->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  _waiters.erase(ticket);
  if (w->answer) co_return *w->answer;
  co_return txn::reply{error_code::coordinator_not_available};
}

asio::awaitable<txn::reply> txn_service::init_producer_id(txn::init_input in) {
  // As Kafka: the timeout is checked before whether this broker coordinates the id.
  if (in.timeout_ms <= 0 || in.timeout_ms > _core.config().transaction_max_timeout_ms)
    co_return txn::reply{error_code::invalid_transaction_timeout};
  co_await refill_producer_id();
  if (auto e = check_coordinator(in.transactional_id); e != error_code::none) co_return txn::reply{e};
  in.partition = partition_of(in.transactional_id);
  const uint64_t ticket = _next_ticket++;
  _waiters.emplace(ticket, std::make_shared<waiter>(_core.io()));
  _coordinator->init_producer_id(ticket, in, _core.clk().now_ms());
  pump();
  co_return co_await park(ticket);
}

asio::awaitable<txn::reply> txn_service::add_partitions(txn::add_input in) {
  if (auto e = check_coordinator(in.transactional_id); e != error_code::none) co_return txn::reply{e};
  const uint64_t ticket = _next_ticket++;
  _waiters.emplace(ticket, std::make_shared<waiter>(_core.io()));
  _coordinator->add_partitions(ticket, in, _core.clk().now_ms());
  pump();
  co_return co_await park(ticket);
}

asio::awaitable<txn::reply> txn_service::end_txn(txn::end_input in) {
  // TV2 may rotate the producer id when the epoch runs out.
  if (in.client_transaction_version >= 2) co_await refill_producer_id();
  if (auto e = check_coordinator(in.transactional_id); e != error_code::none) co_return txn::reply{e};
  const uint64_t ticket = _next_ticket++;
  _waiters.emplace(ticket, std::make_shared<waiter>(_core.io()));
  _coordinator->end_txn(ticket, in, _core.clk().now_ms());
  pump();
  co_return co_await park(ticket);
}

error_code txn_service::verify(const std::string& transactional_id, int64_t producer_id, int16_t producer_epoch,
                               const txn::txn_partitions& partitions) {
  if (auto e = check_coordinator(transactional_id); e != error_code::none) return e;
  return _coordinator->verify(transactional_id, producer_id, producer_epoch, partitions);
}

std::optional<txn::txn_description> txn_service::describe(const std::string& transactional_id) const {
  return _coordinator->describe(transactional_id);
}

std::vector<txn::txn_description> txn_service::list() const { return _coordinator->list(); }

// ---- driving the core ----
void txn_service::pump() {
  for (;;) {
    txn::outbox out = _coordinator->take_outbox();
    if (out.empty()) return;
    for (auto& [ticket, r] : out.replies) {
      auto it = _waiters.find(ticket);
      if (it == _waiters.end()) continue;
      it->second->answer = r;
      it->second->timer.cancel();
    }
    const int64_t now = _core.clk().now_ms();
    for (auto& w : out.writes) {
      const topic_partition tp{std::string(transaction_state_topic), partition_id{w.partition}};
      auto* p = _core.partition(tp);
      auto loaded = _loaded.find(w.partition);
      if (!p || !p->is_leader() || loaded == _loaded.end() || loaded->second != p->epoch()) {
        _coordinator->write_completed(w.write_id, error_code::not_coordinator, now);
        continue;
      }
      const topic_runtime* rt = _core.topic(tp.topic);
      if (rt && int32_t(p->isr_size()) < rt->settings.min_insync_replicas) {
        _coordinator->write_completed(w.write_id, error_code::coordinator_not_available, now);
        continue;
      }
      protocol::record_input rec;
      auto key = txn::encode_txn_key(w.transactional_id);
      rec.key = std::string(key.begin(), key.end());
      if (w.value) {
        auto v = txn::encode_txn_value(*w.value);
        rec.value = std::string(v.begin(), v.end());
      }
      protocol::batch_options opts;
      opts.base_timestamp = now;
      std::vector<protocol::record_input> recs;
      recs.push_back(std::move(rec));
      auto batch = protocol::build_batch(recs, opts);
      auto appended = p->append(std::span<uint8_t>(batch));
      if (!appended) {
        lg().error("append to {} failed: {}", tp, appended.error().message);
        _coordinator->write_completed(w.write_id, error_code::not_coordinator, now);
        continue;
      }
      _core.waiters().notify(tp);
      asio::co_spawn(_core.io(), run_write(std::move(w), p->epoch(), offset{appended->last_offset.value() + 1}),
                     asio::detached);
    }
    for (auto& job : out.markers) {
      const int32_t idx = partition_of(job.transactional_id);
      auto loaded = _loaded.find(idx);
      if (loaded == _loaded.end()) continue;  // unloaded meanwhile: the next coordinator sends them
      asio::co_spawn(_core.io(), run_markers(std::move(job), idx, loaded->second), asio::detached);
    }
  }
}

asio::awaitable<void> txn_service::run_write(txn::write_request w, leader_epoch epoch, offset end) {
  std::weak_ptr<int> life = _life;
  const topic_partition tp{std::string(transaction_state_topic), partition_id{w.partition}};
  const int64_t deadline = _core.clk().monotonic_ms() + write_timeout_ms;
  error_code result = error_code::none;
  for (;;) {
    if (!leads(w.partition, epoch)) {
      result = error_code::not_coordinator;
      break;
    }
    auto* p = _core.partition(tp);
    if (p->high_watermark() >= end) break;
    const int64_t now = _core.clk().monotonic_ms();
    if (now >= deadline) {
      result = error_code::coordinator_not_available;
      break;
    }
    std::vector<topic_partition> wanted{tp};
    co_await _core.waiters().wait(wanted, deadline - now);
    if (life.expired()) co_return;
  }
  if (result != error_code::none)
    lg().warn("state of transactional id {} not committed: {}", w.transactional_id, protocol::code_of(result));
  _coordinator->write_completed(w.write_id, client_error_of_append(result), _core.clk().now_ms());
  pump();
}

asio::awaitable<void> txn_service::run_markers(txn::marker_job job, int32_t partition, leader_epoch epoch) {
  std::weak_ptr<int> life = _life;
  std::set<topic_partition> remaining;
  for (const auto& [topic, ids] : job.partitions)
    for (int32_t i : ids) remaining.insert(topic_partition{topic, partition_id{i}});
  int64_t backoff = marker_backoff_first_ms;
  while (!remaining.empty()) {
    if (!leads(partition, epoch)) co_return;  // the next coordinator sends them again
    std::map<node_id, std::vector<topic_partition>> by_leader;
    for (auto it = remaining.begin(); it != remaining.end();) {
      const auto* t = _core.image().topic(it->topic);
      if (!t || it->partition.value() >= int32_t(t->partitions.size())) {
        // Deleted since: nothing to mark (Kafka drops such partitions from the job too).
        lg().info("transactional id {}: no marker for {}, which no longer exists", job.transactional_id, *it);
        it = remaining.erase(it);
        continue;
      }
      by_leader[t->partitions[size_t(it->partition.value())].leader].push_back(*it);
      ++it;
    }
    for (auto& [leader, parts] : by_leader) {
      if (leader == no_node) continue;
      auto done = co_await send_markers(leader, job, parts, epoch.value());
      if (life.expired()) co_return;
      for (const auto& tp : done) remaining.erase(tp);
    }
    if (remaining.empty()) break;
    auto timer = std::make_shared<asio::steady_timer>(_core.io(), std::chrono::milliseconds(backoff));
    co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    if (life.expired()) co_return;
    backoff = std::min(backoff * 2, marker_backoff_max_ms);
  }
  if (!leads(partition, epoch)) co_return;
  _coordinator->markers_completed(job.transactional_id, _core.clk().now_ms());
  pump();
}

asio::awaitable<std::set<topic_partition>> txn_service::send_markers(node_id leader, const txn::marker_job& job,
                                                                     std::vector<topic_partition> parts,
                                                                     int32_t coordinator_epoch) {
  std::set<topic_partition> done;
  auto settle = [&](const topic_partition& tp, error_code e) {
    switch (e) {
      case error_code::none:
        done.insert(tp);
        break;
      case error_code::invalid_producer_epoch:
      case error_code::transaction_coordinator_fenced:
        // The partition has seen a newer producer epoch or coordinator: this job is stale (a newer
        // coordinator or epoch took over); Kafka stops sending it too.
        lg().warn("transactional id {}: marker for {} refused ({}), not retried", job.transactional_id, tp,
                  protocol::code_of(e));
        done.insert(tp);
        break;
      default:
        lg().debug("transactional id {}: marker for {} failed ({}), retrying", job.transactional_id, tp,
                   protocol::code_of(e));
        break;
    }
  };
  if (leader == _core.self()) {
    std::vector<marker_write> writes;
    for (const auto& tp : parts)
      writes.push_back(marker_write{tp, job.producer_id, job.producer_epoch, job.commit, coordinator_epoch});
    auto results = co_await write_markers(writes);
    for (size_t i = 0; i < parts.size() && i < results.size(); ++i) settle(parts[i], results[i]);
    co_return done;
  }
  if (!resolve(leader)) co_return done;
  protocol::write_txn_markers_request req;
  auto& m = req.markers.emplace_back();
  m.producer_id = job.producer_id;
  m.producer_epoch = job.producer_epoch;
  m.transaction_result = job.commit;
  m.coordinator_epoch = coordinator_epoch;
  if (auto d = _coordinator->describe(job.transactional_id)) m.transaction_version = int8_t(d->value.client_transaction_version);
  std::map<std::string, size_t> topic_index;
  for (const auto& tp : parts) {
    auto [it, fresh] = topic_index.try_emplace(tp.topic, m.topics.size());
    if (fresh) m.topics.emplace_back().name = tp.topic;
    m.topics[it->second].partition_indexes.push_back(tp.partition.value());
  }
  auto r = co_await _pool->call<protocol::write_txn_markers_request, protocol::write_txn_markers_response>(
      leader, req, rpc::call_options{.timeout_ms = write_timeout_ms + 5000});
  if (!r) {
    lg().debug("transactional id {}: WriteTxnMarkers to broker {} failed: {}", job.transactional_id, leader.value(),
               r.error().message);
    co_return done;
  }
  for (const auto& mr : r->markers)
    for (const auto& t : mr.topics)
      for (const auto& pr : t.partitions)
        settle(topic_partition{t.name, partition_id{pr.partition_index}}, error_code(pr.error_code));
  co_return done;
}

bool txn_service::resolve(node_id broker) { return point_pool_at(*_pool, _core, broker, _listener); }

asio::awaitable<void> txn_service::tick_loop() {
  auto timer = _tick_timer;
  std::weak_ptr<int> life = _life;
  const int64_t interval = std::max(_core.config().transaction_abort_timed_out_transaction_cleanup_interval_ms, 10);
  while (!_stopped) {
    timer->expires_after(std::chrono::milliseconds(interval));
    co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    if (life.expired() || _stopped) break;
    _coordinator->tick(_core.clk().now_ms());
    pump();
  }
}

// ---- partition leader side ----
asio::awaitable<std::vector<error_code>> txn_service::write_markers(std::vector<marker_write> markers) {
  std::weak_ptr<int> life = _life;
  std::vector<error_code> out(markers.size(), error_code::none);
  struct appended {
    leader_epoch epoch;
    offset end;
  };
  std::vector<std::optional<appended>> waits(markers.size());
  for (size_t i = 0; i < markers.size(); ++i) {
    const auto& m = markers[i];
    auto leader = _core.leader_partition(m.tp);
    if (!leader) {
      out[i] = leader.error();
      continue;
    }
    replication::partition* p = *leader;
    auto written = _core.producers().write_marker(*p, producer_id(m.producer_id), producer_epoch(m.producer_epoch),
                                                  m.commit, m.coordinator_epoch);
    if (!written) {
      out[i] = written.error();
      continue;
    }
    const offset end{written->value() + 1};
    _verified.erase({m.tp, m.producer_id});
    // The group coordinator completes the producer's pending offsets once the marker commits.
    if (m.tp.topic == offsets_topic)
      if (auto* g = _core.groups_if_started()) g->txn_marker_appended(m.tp, m.producer_id, m.commit, end);
    _core.waiters().notify(m.tp);
    waits[i] = appended{p->epoch(), end};
  }
  const int64_t deadline = _core.clk().monotonic_ms() + write_timeout_ms;
  for (;;) {
    std::vector<topic_partition> pending;
    for (size_t i = 0; i < markers.size(); ++i) {
      if (!waits[i]) continue;
      auto* cur = _core.partition(markers[i].tp);
      if (!cur || !cur->is_leader() || cur->epoch() != waits[i]->epoch) {
        out[i] = error_code::not_leader_or_follower;
        waits[i].reset();
      } else if (cur->high_watermark() >= waits[i]->end) {
        waits[i].reset();
      } else {
        pending.push_back(markers[i].tp);
      }
    }
    if (pending.empty()) break;
    const int64_t now = _core.clk().monotonic_ms();
    if (now >= deadline || _stopped) {
      for (size_t i = 0; i < markers.size(); ++i)
        if (waits[i]) out[i] = error_code::request_timed_out;
      break;
    }
    co_await _core.waiters().wait(pending, deadline - now);
    if (life.expired()) co_return out;
  }
  co_return out;
}

bool txn_service::still_verified(const topic_partition& tp, int64_t producer_id) const {
  return _verified.contains({tp, producer_id});
}

asio::awaitable<error_code> txn_service::verify_produce(std::string transactional_id, topic_partition tp,
                                                        int64_t producer_id, int16_t producer_epoch, bool add) {
  std::weak_ptr<int> life = _life;
  if (auto it = _verified.find({tp, producer_id}); it != _verified.end() && it->second == producer_epoch)
    co_return error_code::none;
  const auto* t = _core.image().topic(transaction_state_topic);
  const int32_t idx = partition_of(transactional_id);
  if (!t || idx < 0 || idx >= int32_t(t->partitions.size())) co_return error_code::coordinator_not_available;
  const node_id coordinator = t->partitions[size_t(idx)].leader;
  txn::txn_partitions parts;
  parts[tp.topic].insert(tp.partition.value());
  error_code result = error_code::none;
  if (coordinator == _core.self()) {
    // This broker coordinates the id but has not loaded its partition yet (a leadership just
    // moved here): load it first.
    if (!_started) co_await start();
    if (life.expired()) co_return error_code::not_coordinator;
    if (_started && add) {
      txn::add_input in;
      in.transactional_id = transactional_id;
      in.producer_id = producer_id;
      in.producer_epoch = producer_epoch;
      in.partitions = parts;
      in.client_transaction_version = 2;
      auto r = co_await add_partitions(std::move(in));
      if (life.expired()) co_return error_code::not_coordinator;
      result = r.error;
    } else {
      result = _started ? verify(transactional_id, producer_id, producer_epoch, parts) : error_code::not_coordinator;
    }
  } else {
    if (!resolve(coordinator)) co_return error_code::coordinator_not_available;
    protocol::add_partitions_to_txn_request req;
    auto& tr = req.transactions.emplace_back();
    tr.transactional_id = transactional_id;
    tr.producer_id = producer_id;
    tr.producer_epoch = producer_epoch;
    tr.verify_only = !add;
    auto& topic = tr.topics.emplace_back();
    topic.name = tp.topic;
    topic.partitions.push_back(tp.partition.value());
    auto r = co_await _pool->call<protocol::add_partitions_to_txn_request, protocol::add_partitions_to_txn_response>(
        coordinator, req, rpc::call_options{.timeout_ms = rpc_timeout_ms, .max_version = int16_t(add ? 5 : 4)});
    if (life.expired()) co_return error_code::not_coordinator;
    if (!r) {
      lg().debug("verifying {} of transactional id {} with broker {}: {}", tp, transactional_id, coordinator.value(),
                 r.error().message);
      co_return error_code::coordinator_not_available;
    }
    if (r->error_code != 0) result = error_code(r->error_code);
    for (const auto& res : r->results_by_transaction)
      for (const auto& topic_result : res.topic_results)
        for (const auto& pr : topic_result.results_by_partition)
          if (pr.partition_error_code != 0) result = error_code(pr.partition_error_code);
  }
  if (result == error_code::none) _verified[{tp, producer_id}] = producer_epoch;
  co_return result;
}

}  // namespace gregor::server
