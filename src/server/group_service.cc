#include "group_service.h"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gregor/base/log.h"
#include "gregor/group/offsets_records.h"
#include "internal_topic.h"
#include "log_replay.h"

namespace gregor::server {
namespace asio = boost::asio;
using protocol::error_code;

namespace {
spdlog::logger& lg() { return log::get("group"); }
constexpr int64_t tick_interval_ms = 100;
// A parked JoinGroup/SyncGroup never waits longer than its rebalance timeout plus this margin.
constexpr int64_t park_margin_ms = 5000;

// A control record's key is (version int16, type int16): 0 = ABORT, 1 = COMMIT. nullopt for any
// other type (or a malformed key), which replay ignores.
std::optional<bool> control_record_commit(const std::optional<std::string_view>& key) {
  if (!key || key->size() < 4) return std::nullopt;
  const auto b = [&](size_t i) { return uint8_t((*key)[i]); };
  const int16_t type = int16_t(uint16_t(b(2)) << 8 | b(3));
  if (type == 0) return false;
  if (type == 1) return true;
  return std::nullopt;
}
}  // namespace

// ---- core hooks (declared in core.h) ----
boost::asio::awaitable<group_service*> core::groups() {
  if (!_groups) _groups = std::make_shared<group_service>(*this);
  auto keep = _groups;  // the service outlives this coroutine
  co_await keep->start();
  co_return keep.get();
}

void core::stop_groups() {
  if (_groups) _groups->stop();
}

struct group_service::waiter {
  explicit waiter(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
  std::optional<group::join_output> join;
  std::optional<group::sync_output> sync;
};

group_service::group_service(core& c) : _core(c) {
  const auto& cfg = c.config();
  group::group_settings s;
  s.initial_rebalance_delay_ms = cfg.group_initial_rebalance_delay_ms;
  s.min_session_timeout_ms = cfg.group_min_session_timeout_ms;
  s.max_session_timeout_ms = cfg.group_max_session_timeout_ms;
  s.max_size = cfg.group_max_size;
  _coordinator = std::make_unique<group::group_coordinator>(c.clk(), s);
  _consumer_groups = std::make_unique<group::consumer_group_coordinator>(
      c.clk(), cfg.group_consumer_session_timeout_ms,
      [&c](const std::string& topic) {
        const topic_runtime* rt = c.topic(topic);
        return rt ? rt->partition_count : 0;
      },
      [&c] {
        std::vector<std::string> names;
        for (const auto& [name, t] : c.image().topics()) names.push_back(name);
        return names;
      });
}

group_service::~group_service() = default;

asio::awaitable<void> group_service::start() {
  if (_started) {
    // Deleted by an admin after it was created (Kafka allows it): create it again, as Kafka does
    // on the next FindCoordinator; its partitions load as their leaderships arrive.
    if (!_stopped && !_recreating && !_core.topic(std::string(offsets_topic))) {
      _recreating = true;
      co_await create_topic();
      _recreating = false;
    }
    co_return;
  }
  if (_starting) {
    // Another request is creating or loading the offsets topic: wait for it (the timer is
    // cancelled when it is done).
    auto ready = _ready;
    co_await ready->async_wait(asio::as_tuple(asio::use_awaitable));
    co_return;
  }
  _starting = true;
  _ready = std::make_shared<asio::steady_timer>(_core.io(), asio::steady_timer::time_point::max());
  std::string name(offsets_topic);
  if (!_core.topic(name)) co_await create_topic();
  if (const auto* rt = _core.topic(name)) {
    _partitions = rt->partition_count;
  } else {
    // Not created (too few brokers, no controller): the next request that needs it tries again.
    _starting = false;
    _ready->cancel();
    co_return;
  }
  load();
  // From now on, offsets partitions are loaded when this broker becomes their leader and their
  // groups unloaded when it stops leading them.
  _core.on_transitions([this](std::span<const replication::replica_transition> ts) { on_transitions(ts); });
  _last_expiry_check_ms = _core.clk().monotonic_ms();
  _tick_timer = std::make_shared<asio::steady_timer>(_core.io());
  asio::co_spawn(_core.io(), tick_loop(), asio::detached);
  _started = true;
  _ready->cancel();
}

asio::awaitable<void> group_service::create_topic() {
  const auto& cfg = _core.config();
  std::map<std::string, std::string> configs{
      {"compression.type", "producer"}, {"segment.bytes", std::to_string(cfg.offsets_topic_segment_bytes)}};
  co_await create_internal_topic(_core, std::string(offsets_topic), cfg.offsets_topic_num_partitions,
                                 cfg.offsets_topic_replication_factor, std::move(configs), lg());
}

void group_service::on_transitions(std::span<const replication::replica_transition> ts) {
  if (_stopped) return;
  for (const auto& t : ts) {
    if (t.tp.topic != offsets_topic) continue;
    if (const auto* rt = _core.topic(std::string(offsets_topic))) _partitions = rt->partition_count;
    if (t.kind == replication::transition_kind::become_leader) {
      if (auto* p = _core.partition(t.tp)) {
        load_partition(*p);
        _consumer_groups->finish_replay();
        lg().info("became coordinator of {} (leader epoch {})", t.tp, t.epoch);
      }
      continue;
    }
    // Groups of a partition this broker no longer leads are answered with NOT_COORDINATOR by
    // check_coordinator(); drop their state so a later leadership reloads it from the log.
    fail_pending(t.tp, error_code::not_coordinator);
    size_t unloaded = 0;
    for (const auto& g : _coordinator->list()) {
      if (group::offsets_partition_for(g.group_id, _partitions) != t.tp.partition.value()) continue;
      _coordinator->forget_group(g.group_id);
      ++unloaded;
    }
    for (const auto& [gid, state] : _consumer_groups->list()) {
      if (group::offsets_partition_for(gid, _partitions) != t.tp.partition.value()) continue;
      _consumer_groups->forget_group(gid);
      ++unloaded;
    }
    lg().info("no longer coordinator of {}: {} groups unloaded", t.tp, unloaded);
  }
}

void group_service::stop() {
  _stopped = true;
  if (_ready) _ready->cancel();
  if (_tick_timer) _tick_timer->cancel();
  for (auto& [t, w] : _waiters) w->timer.cancel();
}

asio::awaitable<void> group_service::tick_loop() {
  auto timer = _tick_timer;  // keeps the timer alive for this coroutine
  while (!_stopped) {
    timer->expires_after(std::chrono::milliseconds(tick_interval_ms));
    co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    if (_stopped) break;
    _coordinator->tick();
    _consumer_groups->tick();
    flush();
    std::vector<topic_partition> queued;
    for (const auto& [tp, q] : _uncommitted) queued.push_back(tp);
    for (const auto& tp : queued) apply_committed(tp);
    const int64_t now = _core.clk().monotonic_ms();
    if (now - _last_expiry_check_ms >= _core.config().offsets_retention_check_interval_ms) {
      _last_expiry_check_ms = now;
      expire_offsets();
    }
  }
}

void group_service::expire_offsets() {
  const int64_t retention_ms = _core.config().offsets_retention_minutes * 60'000;
  std::map<std::string, std::vector<std::pair<topic_partition, std::optional<group::committed_offset>>>> by_group;
  for (auto& [gid, tp] : _coordinator->expired_offsets(retention_ms)) by_group[gid].emplace_back(tp, std::nullopt);
  for (auto& [gid, tombstones] : by_group) {
    if (check_coordinator(gid) != error_code::none) continue;
    if (write_offsets(gid, std::move(tombstones)) != error_code::none) continue;
    lg().info("group {}: {} committed offsets expired", gid, tombstones.size());
    // Not while a transaction may still commit offsets of the group (Kafka keeps it too).
    if (_coordinator->offsets_of(gid).empty() && _coordinator->pending_txn_partitions(gid).empty() &&
        _coordinator->state_of(gid) == group::group_state::empty) {
      std::vector<topic_partition> ignored;
      _coordinator->delete_group(gid, &ignored);
    }
  }
  flush();
}

// ---- placement ----
replication::partition* group_service::partition_for(const std::string& group_id) {
  if (_partitions <= 0) return nullptr;
  partition_id p{group::offsets_partition_for(group_id, _partitions)};
  return _core.partition(topic_partition{std::string(offsets_topic), p});
}

group_service::coordinator_info group_service::find_coordinator(const std::string& key,
                                                                int8_t key_type,
                                                                const std::string& listener) {
  coordinator_info out;
  auto self = [&] {
    config::listener adv = _core.advertised_for(listener);
    out.node = _core.self();
    out.host = adv.host;
    out.port = adv.port;
  };
  if (key_type != 0) {  // transactional ids: txn_service::find_coordinator
    out.error = error_code::invalid_request;
    return out;
  }
  if (_partitions <= 0) {
    out.error = error_code::coordinator_not_available;
    return out;
  }
  const auto* t = _core.image().topic(offsets_topic);
  const int32_t pid = group::offsets_partition_for(key, _partitions);
  if (!t || pid >= int32_t(t->partitions.size())) {
    out.error = error_code::coordinator_not_available;
    return out;
  }
  const node_id leader = t->partitions[size_t(pid)].leader;
  if (leader == _core.self()) {
    self();
    return out;
  }
  auto it = _core.image().brokers().find(leader);
  if (it == _core.image().brokers().end()) {
    out.error = error_code::coordinator_not_available;
    return out;
  }
  out.node = leader;
  out.host = it->second.host;
  out.port = it->second.port;
  return out;
}

error_code group_service::check_coordinator(const std::string& group_id) {
  if (_partitions <= 0) return error_code::coordinator_not_available;
  replication::partition* p = partition_for(group_id);
  if (!p || !p->is_leader()) return error_code::not_coordinator;
  return error_code::none;
}

error_code group_service::check_group(const std::string& group_id) {
  return group_id.empty() ? error_code::invalid_group_id : check_coordinator(group_id);
}

// ---- parking ----
asio::awaitable<void> group_service::park(uint64_t ticket, const std::shared_ptr<waiter>& w,
                                          int64_t timeout_ms) {
  if (w->join || w->sync || _stopped) co_return;
  w->timer.expires_after(std::chrono::milliseconds(timeout_ms));
  co_await w->timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<group::join_output> group_service::join(group::join_input in) {
  const uint64_t ticket = _next_ticket++;
  auto w = std::make_shared<waiter>(_core.io());
  _waiters.emplace(ticket, w);
  const int64_t timeout = int64_t(std::max(in.rebalance_timeout_ms, in.session_timeout_ms)) +
                          _core.config().group_initial_rebalance_delay_ms + park_margin_ms;
  const std::string group_id = in.group_id;
  _coordinator->join(ticket, std::move(in));
  flush();
  co_await park(ticket, w, timeout);
  _waiters.erase(ticket);
  if (w->join) {
    // Nobody hears of a generation the offsets partition has not committed.
    if (auto e = co_await await_committed(group_id); e != error_code::none) {
      group::join_output failed;
      failed.error = e;
      failed.member_id = w->join->member_id;
      co_return failed;
    }
    co_return std::move(*w->join);
  }
  _coordinator->cancel(ticket);
  group::join_output o;
  o.error = _stopped ? error_code::coordinator_not_available : error_code::rebalance_in_progress;
  co_return o;
}

asio::awaitable<group::sync_output> group_service::sync(group::sync_input in) {
  const uint64_t ticket = _next_ticket++;
  auto w = std::make_shared<waiter>(_core.io());
  _waiters.emplace(ticket, w);
  const int64_t timeout = int64_t(_core.config().group_max_session_timeout_ms) + park_margin_ms;
  const std::string group_id = in.group_id;
  _coordinator->sync(ticket, std::move(in));
  flush();
  co_await park(ticket, w, timeout);
  _waiters.erase(ticket);
  if (w->sync) {
    // Nobody hears of an assignment the offsets partition has not committed.
    if (auto e = co_await await_committed(group_id); e != error_code::none) {
      group::sync_output failed;
      failed.error = e;
      co_return failed;
    }
    co_return std::move(*w->sync);
  }
  _coordinator->cancel(ticket);
  group::sync_output o;
  o.error = _stopped ? error_code::coordinator_not_available : error_code::rebalance_in_progress;
  co_return o;
}

error_code group_service::flush_consumer_groups() {
  auto records = _consumer_groups->pending_records();
  if (records.empty()) return error_code::none;
  // One batch per offsets partition, in the coordinator's order.
  std::map<std::string, std::vector<protocol::record_input>> by_group;
  auto ids = [this](const std::string& name) -> std::optional<uuid> {
    const topic_runtime* rt = _core.topic(name);
    if (!rt) return std::nullopt;
    return rt->id;
  };
  std::vector<std::string> order;
  for (const auto& r : records) {
    protocol::record_input rec;
    auto key = group::encode_cg_key(r);
    rec.key = std::string(key.begin(), key.end());
    if (auto v = group::encode_cg_value(r, ids)) rec.value = std::string(v->begin(), v->end());
    auto [it, fresh] = by_group.try_emplace(r.group_id);
    if (fresh) order.push_back(r.group_id);
    it->second.push_back(std::move(rec));
  }
  error_code result = error_code::none;
  for (const auto& gid : order) {
    if (auto e = append_records(gid, std::move(by_group[gid])); e != error_code::none) {
      lg().warn("consumer group {}: state not persisted: {}", gid, protocol::code_of(e));
      result = e;
    }
  }
  // On failure the groups stay dirty and the next flush writes the difference again.
  if (result == error_code::none) _consumer_groups->records_written();
  return result;
}

void group_service::flush() {
  flush_consumer_groups();
  group::outbox out = _coordinator->take_outbox();
  if (out.empty()) return;
  // Group metadata first: nobody hears about an assignment the log does not hold.
  for (auto& [gid, snap] : out.persist) {
    protocol::record_input rec;
    auto key = group::encode_group_key(gid);
    rec.key = std::string(key.begin(), key.end());
    if (snap) {
      auto v = group::encode_group_value(*snap);
      rec.value = std::string(v.begin(), v.end());
    }
    std::vector<protocol::record_input> recs;
    recs.push_back(std::move(rec));
    if (auto e = append_records(gid, std::move(recs)); e != error_code::none)
      lg().warn("group {}: metadata not persisted: {}", gid, protocol::code_of(e));
  }
  for (auto& [ticket, o] : out.joins) {
    auto it = _waiters.find(ticket);
    if (it == _waiters.end()) continue;
    it->second->join = std::move(o);
    it->second->timer.cancel();
  }
  for (auto& [ticket, o] : out.syncs) {
    auto it = _waiters.find(ticket);
    if (it == _waiters.end()) continue;
    it->second->sync = std::move(o);
    it->second->timer.cancel();
  }
}

// ---- the offsets topic ----
error_code group_service::append_records(const std::string& group_id,
                                         std::vector<protocol::record_input> records, offset* end,
                                         int64_t producer_id, int16_t producer_epoch) {
  replication::partition* p = partition_for(group_id);
  if (!p) return error_code::coordinator_not_available;
  if (!p->is_leader()) return error_code::not_coordinator;
  protocol::batch_options opts;
  opts.base_timestamp = _core.clk().now_ms();
  if (producer_id >= 0) {
    // As Kafka's coordinator writes a transactional offset commit: no sequence (-1).
    opts.producer_id = producer_id;
    opts.producer_epoch = producer_epoch;
    opts.base_sequence = -1;
    opts.transactional = true;
  }
  auto batch = protocol::build_batch(records, opts);
  auto r = p->append(std::span<uint8_t>(batch));
  if (!r) {
    lg().error("append to {} failed: {}", p->tp(), r.error().message);
    return error_code::coordinator_not_available;
  }
  if (end) *end = offset{r->last_offset.value() + 1};
  _core.waiters().notify(p->tp());
  return error_code::none;
}

error_code group_service::write_offsets(const std::string& group_id, offset_writes offsets,
                                         std::shared_ptr<pending_write>* queued, int64_t producer_id,
                                         int16_t producer_epoch) {
  if (offsets.empty()) return error_code::none;
  replication::partition* p = partition_for(group_id);
  if (!p) return error_code::coordinator_not_available;
  if (!p->is_leader()) return error_code::not_coordinator;
  // acks=all, as Kafka writes offsets: refused before the append when the ISR is too small.
  if (const topic_runtime* rt = _core.topic(std::string(offsets_topic));
      rt && int32_t(p->isr_size()) < rt->settings.min_insync_replicas)
    return error_code::coordinator_not_available;
  std::vector<protocol::record_input> recs;
  for (const auto& [tp, o] : offsets) {
    protocol::record_input rec;
    auto key = group::encode_offset_key(group_id, tp);
    rec.key = std::string(key.begin(), key.end());
    if (o) {
      auto v = group::encode_offset_value(*o);
      rec.value = std::string(v.begin(), v.end());
    }
    recs.push_back(std::move(rec));
  }
  offset end{0};
  if (auto e = append_records(group_id, std::move(recs), &end, producer_id, producer_epoch); e != error_code::none)
    return e;
  auto w = std::make_shared<pending_write>();
  w->end = end;
  w->group_id = group_id;
  w->offsets = std::move(offsets);
  w->producer_id = producer_id;
  if (queued) *queued = w;
  enqueue(p->tp(), std::move(w));
  return error_code::none;
}

void group_service::enqueue(const topic_partition& tp, std::shared_ptr<pending_write> w) {
  auto& queue = _uncommitted[tp];
  // Appends happen in queue order on the io thread; a marker reported late still lands in place.
  auto at = std::upper_bound(queue.begin(), queue.end(), w->end,
                             [](offset end, const std::shared_ptr<pending_write>& q) { return end < q->end; });
  queue.insert(at, std::move(w));
  apply_committed(tp);
}

asio::awaitable<error_code> group_service::commit_offsets(const std::string& group_id, offset_writes offsets) {
  std::shared_ptr<pending_write> w;
  const error_code e = write_offsets(group_id, std::move(offsets), &w);
  if (e != error_code::none || !w) co_return e;
  co_return co_await await_write(group_id, std::move(w));
}

asio::awaitable<error_code> group_service::txn_offset_commit(const std::string& group_id, int64_t producer_id,
                                                             int16_t producer_epoch, offset_writes offsets) {
  if (producer_id < 0) co_return error_code::invalid_producer_id_mapping;
  std::shared_ptr<pending_write> w;
  const error_code e = write_offsets(group_id, std::move(offsets), &w, producer_id, producer_epoch);
  if (e != error_code::none || !w) co_return e;
  co_return co_await await_write(group_id, std::move(w));
}

void group_service::txn_marker_appended(const topic_partition& offsets_tp, int64_t producer_id, bool commit,
                                        offset end) {
  if (offsets_tp.topic != offsets_topic) return;
  auto* p = _core.partition(offsets_tp);
  if (!p || !p->is_leader()) return;
  auto w = std::make_shared<pending_write>();
  w->end = end;
  w->producer_id = producer_id;
  w->marker = commit;
  enqueue(offsets_tp, std::move(w));
}

asio::awaitable<error_code> group_service::await_write(const std::string& group_id, std::shared_ptr<pending_write> w) {
  replication::partition* p = partition_for(group_id);
  if (!p) co_return error_code::coordinator_not_available;
  const error_code waited = co_await await_high_watermark(p->tp(), w->end, p->epoch());
  // A write settled by a leadership change carries that error; one the wait gave up on stays
  // queued and still applies if it commits later.
  if (w->settled) co_return w->error;
  co_return waited == error_code::none ? error_code::coordinator_not_available : waited;
}

asio::awaitable<error_code> group_service::await_committed(const std::string& group_id) {
  replication::partition* p = partition_for(group_id);
  if (!p) co_return error_code::coordinator_not_available;
  if (!p->is_leader()) co_return error_code::not_coordinator;
  co_return co_await await_high_watermark(p->tp(), p->log().log_end_offset(), p->epoch());
}

asio::awaitable<error_code> group_service::await_high_watermark(topic_partition tp, offset end, leader_epoch epoch) {
  const int64_t deadline = _core.clk().monotonic_ms() + std::max(_core.config().offsets_commit_timeout_ms, 1);
  for (;;) {
    auto* cur = _core.partition(tp);
    if (!cur || !cur->is_leader() || cur->epoch() != epoch) {
      // A new epoch may have truncated what this broker appended: nothing of it is vouched for.
      fail_pending(tp, error_code::not_coordinator);
      co_return error_code::not_coordinator;
    }
    apply_committed(tp);
    if (cur->high_watermark() >= end) co_return error_code::none;
    const int64_t now = _core.clk().monotonic_ms();
    if (now >= deadline || _stopped) co_return error_code::coordinator_not_available;
    std::vector<topic_partition> wanted{tp};
    co_await _core.waiters().wait(wanted, deadline - now);
  }
}

void group_service::apply_committed(const topic_partition& tp) {
  auto it = _uncommitted.find(tp);
  if (it == _uncommitted.end()) return;
  auto* p = _core.partition(tp);
  if (!p || !p->is_leader()) return;
  auto& queue = it->second;
  while (!queue.empty() && p->high_watermark() >= queue.front()->end) {
    auto w = std::move(queue.front());
    queue.pop_front();
    if (w->marker) {
      _coordinator->complete_txn(w->producer_id, *w->marker, tp.partition.value(), _partitions);
    } else {
      // The batch's records sit at end - size .. end - 1.
      int64_t record_offset = w->end.value() - int64_t(w->offsets.size());
      for (const auto& [otp, o] : w->offsets) {
        if (!o) _coordinator->erase_offset(w->group_id, otp);
        else if (w->producer_id >= 0) _coordinator->store_txn_offset(w->group_id, w->producer_id, otp, *o, record_offset);
        else _coordinator->store_offset(w->group_id, otp, *o, record_offset);
        ++record_offset;
      }
    }
    w->settled = true;
  }
  if (queue.empty()) _uncommitted.erase(it);
}

void group_service::fail_pending(const topic_partition& tp, error_code e) {
  auto it = _uncommitted.find(tp);
  if (it == _uncommitted.end()) return;
  for (auto& w : it->second) {
    w->settled = true;
    w->error = e;
  }
  _uncommitted.erase(it);
}

void group_service::load() {
  size_t loaded = 0;
  for (int32_t i = 0; i < _partitions; ++i) {
    auto* p = _core.partition(topic_partition{std::string(offsets_topic), partition_id{i}});
    if (!p || !p->is_leader()) continue;
    load_partition(*p);
    ++loaded;
  }
  _consumer_groups->finish_replay();
  auto groups = _coordinator->list();
  lg().info("loaded {} partitions of {}: {} groups, {} consumer groups", loaded, offsets_topic, groups.size(),
            _consumer_groups->list().size());
}

void group_service::load_partition(replication::partition& p) {
  replay_log(p, size_t(_core.config().offsets_load_buffer_size), lg(),
             [&](const protocol::batch_header& header, std::span<const uint8_t> batch) {
    const protocol::batch_header* h = &header;
    if (h->is_control()) {
      // A transaction marker (WriteTxnMarkers): completes that producer's pending offsets.
      auto rr = protocol::for_each_record(batch, [&](const protocol::record_view& rec) {
        if (auto commit = control_record_commit(rec.key))
          _coordinator->complete_txn(h->producer_id, *commit, p.tp().partition.value(), _partitions);
      });
      if (!rr) lg().warn("loading {}: bad control batch at {}: {}", p.tp(), h->base_offset, rr.error().message);
      return;
    }
    const int64_t txn_producer = h->is_transactional() ? h->producer_id : -1;
    auto rr = protocol::for_each_record(batch, [&](const protocol::record_view& rec) {
      if (!rec.key) return;
      auto key = group::decode_key(*rec.key);
      if (!key) return;
      if (auto* ok = std::get_if<group::offset_key>(&*key)) {
        if (!rec.value) {
          _coordinator->erase_offset(ok->group, ok->tp);
          return;
        }
        auto v = group::decode_offset_value(*rec.value);
        if (!v) return;
        if (txn_producer >= 0) _coordinator->store_txn_offset(ok->group, txn_producer, ok->tp, *v, rec.offset);
        else _coordinator->store_offset(ok->group, ok->tp, *v, rec.offset);
      } else if (auto* gk = std::get_if<group::group_key>(&*key)) {
        if (!rec.value) {
          _coordinator->unload_group(gk->group);
          return;
        }
        if (auto v = group::decode_group_value(*rec.value)) _coordinator->load_group(gk->group, *v);
      } else if (auto* ck = std::get_if<group::cg_key>(&*key)) {
        std::optional<std::string_view> value;
        if (rec.value) value = std::string_view(*rec.value);
        auto names = [this](const uuid& id) -> std::optional<std::string> {
          std::string name;
          if (!_core.topic(id, &name)) return std::nullopt;
          return name;
        };
        if (auto r = group::decode_cg_record(*ck, value, names)) _consumer_groups->replay(*r);
        else lg().warn("loading {}: bad consumer group record for {}", p.tp(), ck->group);
      }
    });
    if (!rr) lg().warn("loading {}: bad batch at {}: {}", p.tp(), h->base_offset, rr.error().message);
  });
}

}  // namespace gregor::server
