#include "replica_manager.h"

#include "sasl_login.h"
#include "listener_tls.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gregor/base/log.h"
#include "gregor/protocol/messages/alter_partition.h"
#include "gregor/protocol/messages/fetch.h"
#include "active_controller.h"
#include "broker_lifecycle.h"
#include "broker_endpoint.h"
#include "core.h"
#include "idempotence.h"
#include "metadata_quorum.h"

namespace gregor::server {
namespace asio = boost::asio;
using protocol::error_code;
namespace {

spdlog::logger& lg() { return log::get("replication"); }

constexpr int64_t isr_check_interval_ms = 250;
// AlterPartition: back-off before the same request goes again, and the wait for one answer.
constexpr int64_t alter_partition_retry_ms = 250;
constexpr int64_t alter_partition_timeout_ms = 10000;

}  // namespace

replica_manager::replica_manager(asio::io_context& io, core& c, metadata_quorum& quorum, active_controller* local,
                                 broker_lifecycle& lifecycle, const config::broker_config& cfg, clock& clk)
    : _io(io), _core(c), _quorum(quorum), _local(local), _lifecycle(lifecycle), _cfg(cfg), _clock(clk) {
  _listener = cfg.inter_broker_listener();
  rpc::pool_options o;
  o.client_id = fmt::format("gregor-replica-{}", cfg.node_id.value());
  o.connection.connect_timeout_ms = cfg.replica_socket_timeout_ms;
  o.rng_seed ^= uint64_t(cfg.node_id.value()) * 0x2545f4914f6cdd1dULL;
  if (auto login = sasl_login_for(cfg, _listener, cfg.sasl_mechanism_inter_broker_protocol); login) o.connection.sasl = *login;
  c.outgoing_tls_contexts().use_or_log(o.connection, cfg, _listener);
  _pool = std::make_unique<rpc::node_pool>(io.get_executor(), o);
}

replica_manager::~replica_manager() { _life.reset(); }

void replica_manager::start() { asio::co_spawn(_io, isr_loop(), asio::detached); }

size_t replica_manager::followed() const {
  size_t n = 0;
  for (const auto& [id, f] : _fetchers) n += f->parts.size();
  return n;
}

std::shared_ptr<replica_manager::fetcher> replica_manager::fetcher_for(node_id leader) {
  auto& f = _fetchers[leader];
  if (!f) {
    f = std::make_shared<fetcher>();
    f->leader = leader;
  }
  if (!f->running && !_stopped) {
    f->running = true;
    asio::co_spawn(_io, fetch_loop(f), asio::detached);
  }
  return f;
}

void replica_manager::on_transitions(std::span<const replication::replica_transition> ts) {
  for (const auto& t : ts) {
    for (auto& [id, f] : _fetchers) f->parts.erase(t.tp);
    if (t.kind == replication::transition_kind::become_follower && t.leader != no_node && t.leader != _cfg.node_id) {
      auto f = fetcher_for(t.leader);
      f->parts.insert(t.tp);
      f->wake.notify_all();
    }
  }
}

bool replica_manager::resolve(node_id broker) { return point_pool_at(*_pool, _core, broker, _listener); }

asio::awaitable<void> replica_manager::fetch_loop(std::shared_ptr<fetcher> f) {
  std::weak_ptr<int> life = _life;
  while (!life.expired() && !_stopped) {
    if (f->parts.empty()) {
      co_await f->wake.wait_until(std::chrono::steady_clock::now() + std::chrono::seconds(1));
      continue;
    }
    const bool fetched = co_await fetch_once(*f);
    if (life.expired() || _stopped) break;
    if (!fetched)
      co_await f->wake.wait_until(std::chrono::steady_clock::now() +
                                  std::chrono::milliseconds(std::min(_cfg.replica_fetch_backoff_ms, 500)));
  }
  if (!life.expired()) f->running = false;
}

asio::awaitable<bool> replica_manager::fetch_once(fetcher& f) {
  std::weak_ptr<int> life = _life;
  if (!resolve(f.leader)) co_return false;
  protocol::fetch_request req;
  req.replica_id = _cfg.node_id.value();
  req.replica_state.replica_id = _cfg.node_id.value();
  req.replica_state.replica_epoch = _lifecycle.broker_epoch();
  req.max_wait_ms = _cfg.replica_fetch_wait_max_ms;
  req.min_bytes = _cfg.replica_fetch_min_bytes;
  req.max_bytes = _cfg.replica_fetch_response_max_bytes;
  // What the session holds, to check the answer against (the replica may have changed meanwhile):
  // an incremental answer may carry any partition of the session, not only those sent this time.
  struct asked {
    topic_partition tp;
    leader_epoch epoch;
  };
  std::map<std::pair<uuid, int32_t>, asked> asked_of;
  std::map<topic_partition, sent_partition> next;
  std::vector<topic_partition> gone;
  // Reassignment throttle (Kafka's shouldFollowerThrottle): while this broker's follower quota is
  // exceeded, throttled partitions not caught up with the leader's high watermark stay out of the
  // request (an incremental session forgets them until they are sent again).
  const bool over_quota =
      _core.quotas().follower.exceeded(_core.config().follower_replication_throttled_rate, _clock.monotonic_ms());
  std::set<topic_partition> throttled;
  size_t skipped = 0;
  for (const auto& tp : f.parts) {
    auto* p = _core.partition(tp);
    const auto* rt = _core.topic(tp.topic);
    if (!p || !rt || p->is_leader() || p->replicas().leader != f.leader) {
      gone.push_back(tp);
      continue;
    }
    if (replica_throttled(_core.image(), "follower.replication.throttled.replicas", tp.topic, tp.partition.value(),
                          _cfg.node_id)) {
      throttled.insert(tp);
      const bool caught_up =
          p->leader_high_watermark() >= offset(0) && p->log().log_end_offset() >= p->leader_high_watermark();
      if (over_quota && !caught_up) {
        ++skipped;
        continue;
      }
    }
    sent_partition sp;
    sp.topic_id = rt->id;
    sp.fetch_offset = p->log().log_end_offset().value();
    sp.current_leader_epoch = p->epoch().value();
    const auto last = p->log().latest_epoch();
    sp.last_fetched_epoch = last == no_leader_epoch ? -1 : last.value();
    sp.log_start_offset = p->log().log_start_offset().value();
    sp.max_bytes = _cfg.replica_fetch_max_bytes;
    next[tp] = sp;
    asked_of[{rt->id, tp.partition.value()}] = asked{tp, p->epoch()};
  }
  for (const auto& tp : gone) f.parts.erase(tp);
  if (next.empty()) co_return skipped == 0;  // all throttled: back off, then look again

  // KIP-227 (Kafka's FetchSessionHandler.build): a full request sends every partition; an
  // incremental one only those added or changed since the last request, and forgets the rest.
  const bool full = f.session_epoch == 0;
  auto add = [&req](const topic_partition& tp, const sent_partition& sp) {
    protocol::fetch_request::fetch_topic* topic = nullptr;
    for (auto& t : req.topics)
      if (t.topic_id == sp.topic_id) topic = &t;
    if (!topic) {
      topic = &req.topics.emplace_back();
      topic->topic = tp.topic;
      topic->topic_id = sp.topic_id;
    }
    auto& part = topic->partitions.emplace_back();
    part.partition = tp.partition.value();
    part.current_leader_epoch = sp.current_leader_epoch;
    part.fetch_offset = sp.fetch_offset;
    part.last_fetched_epoch = sp.last_fetched_epoch;
    part.log_start_offset = sp.log_start_offset;
    part.partition_max_bytes = sp.max_bytes;
  };
  auto forget = [&req](const topic_partition& tp, const sent_partition& sp) {
    protocol::fetch_request::forgotten_topic* topic = nullptr;
    for (auto& t : req.forgotten_topics_data)
      if (t.topic_id == sp.topic_id) topic = &t;
    if (!topic) {
      topic = &req.forgotten_topics_data.emplace_back();
      topic->topic = tp.topic;
      topic->topic_id = sp.topic_id;
    }
    topic->partitions.push_back(tp.partition.value());
  };
  for (const auto& [tp, sp] : next) {
    auto it = f.session.find(tp);
    if (full || it == f.session.end() || it->second != sp) add(tp, sp);
  }
  if (!full) {
    for (const auto& [tp, sp] : f.session) {
      auto it = next.find(tp);
      // A topic recreated under the same name is another partition to the leader (topic ids).
      if (it == next.end() || it->second.topic_id != sp.topic_id) forget(tp, sp);
    }
  }
  req.session_id = f.session_id;
  req.session_epoch = f.session_epoch;
  f.session = std::move(next);

  rpc::call_options opts;
  opts.timeout_ms = int64_t(_cfg.replica_fetch_wait_max_ms) + _cfg.replica_socket_timeout_ms;
  opts.max_version = 15;  // topic ids and ReplicaState; no KIP-853 fields needed
  auto r = co_await _pool->call_reply<protocol::fetch_request, protocol::fetch_response>(f.leader, req, opts);
  if (life.expired() || _stopped) co_return false;
  if (!r) {
    lg().debug("fetch from leader {}: {}", f.leader.value(), r.error().message);
    f.session_epoch = 0;  // the leader may or may not have seen it: start over with a full request
    co_return false;
  }
  const auto& resp = r->body;
  if (resp.error_code != 0) {
    const auto err = error_code(resp.error_code);
    lg().debug("fetch from leader {}: {}", f.leader.value(), protocol::error_name(err));
    // Session errors: the next request is full at once (closing the old session unless unknown).
    if (err == error_code::fetch_session_id_not_found) f.session_id = 0;
    f.session_epoch = 0;
    co_return err == error_code::fetch_session_id_not_found || err == error_code::invalid_fetch_session_epoch ||
              err == error_code::fetch_session_topic_id_error;
  }
  if (r->version < 7 || resp.session_id == 0) {
    // No session (the leader's cache is full, or it closed ours): every request is full.
    f.session_id = 0;
    f.session_epoch = 0;
  } else if (full) {
    f.session_id = resp.session_id;
    f.session_epoch = 1;
  } else {
    f.session_epoch = f.session_epoch == INT32_MAX ? 1 : f.session_epoch + 1;
  }
  bool any_error = false;
  int64_t throttled_bytes = 0;
  std::vector<topic_partition> appended_to;
  for (const auto& t : resp.responses) {
    for (const auto& pd : t.partitions) {
      uuid id = t.topic_id;
      if (r->version < 13) {
        const auto* rt = _core.topic(t.topic);
        if (!rt) continue;
        id = rt->id;
      }
      auto it = asked_of.find({id, pd.partition_index});
      if (it == asked_of.end()) continue;
      const topic_partition& tp = it->second.tp;
      auto* p = _core.partition(tp);
      if (!p || p->is_leader() || p->epoch() != it->second.epoch || p->replicas().leader != f.leader) continue;
      const auto err = error_code(pd.error_code);
      if (err == error_code::offset_out_of_range) {
        // The leader's log starts after our end (retention, or a replica replaced): start over there.
        if (pd.log_start_offset > p->log().log_end_offset().value()) {
          lg().info("{}: log end {} is below the leader's log start {}: starting there", tp,
                    p->log().log_end_offset(), pd.log_start_offset);
          if (auto tr = p->log().truncate_fully_and_start_at(offset(pd.log_start_offset)); !tr)
            lg().error("{}: {}", tp, tr.error().message);
        }
        any_error = true;
        continue;
      }
      if (err != error_code::none) {
        // NOT_LEADER_OR_FOLLOWER, FENCED/UNKNOWN_LEADER_EPOCH, ...: the metadata will say more.
        any_error = true;
        continue;
      }
      if (pd.diverging_epoch.epoch >= 0 || pd.diverging_epoch.end_offset >= 0) {
        // Our tail was written in an epoch the leader does not have (or ends later): cut it
        // where Kafka's fetcher does (replication::follower_truncation_offset).
        auto tr = replication::truncate_after_divergence(p->log(), leader_epoch(pd.diverging_epoch.epoch),
                                                         offset(pd.diverging_epoch.end_offset));
        if (!tr) lg().error("{}: truncation failed: {}", tp, tr.error().message);
        else
          lg().info("{}: truncated to {} (diverging epoch {} ends at {} on leader {})", tp, *tr,
                    pd.diverging_epoch.epoch, pd.diverging_epoch.end_offset, f.leader.value());
        continue;
      }
      if (pd.records && !pd.records->empty()) {
        const offset end_before = p->log().log_end_offset();
        auto appended = p->log().append_with_offsets(*pd.records);
        if (!appended) {
          lg().error("{}: cannot append the leader's batches at {}: {}", tp, p->log().log_end_offset(),
                     appended.error().message);
          any_error = true;
          continue;
        }
        // Producer state and the aborted-transaction index follow the leader's (idempotence.h).
        _core.producers().appended(*p, *pd.records, end_before);
        appended_to.push_back(tp);
        if (throttled.contains(tp)) throttled_bytes += int64_t(pd.records->size());
      }
      const offset hw_before = p->high_watermark();
      p->set_follower_high_watermark(offset(pd.high_watermark));
      // KIP-392: consumers may be parked on this follower's high watermark.
      if (p->high_watermark() != hw_before) _core.waiters().notify(tp);
    }
  }
  if (throttled_bytes > 0) _core.quotas().follower.record(throttled_bytes, _clock.monotonic_ms());
  // The next fetch tells the leader our log end, which counts toward its high watermark: it must
  // be written first (storage/disk_writer.h), and synced when the appends made a flush due, as
  // Kafka's follower has appended (and flushed) before it fetches.
  const int64_t write_deadline = _clock.monotonic_ms() + _cfg.replica_socket_timeout_ms;
  for (;;) {
    std::erase_if(appended_to, [&](const topic_partition& tp) {
      auto* p = _core.partition(tp);
      return !p || p->log().write_failure() ||
             (p->log().written_end_offset() >= p->log().log_end_offset() &&
              p->log().synced_end_offset() >= p->log().sync_requested_end());
    });
    const int64_t now = _clock.monotonic_ms();
    if (appended_to.empty() || now >= write_deadline || life.expired() || _stopped) break;
    co_await _core.waiters().wait(appended_to, write_deadline - now);
    if (life.expired() || _stopped) co_return false;
  }
  co_return !any_error;
}

asio::awaitable<void> replica_manager::isr_loop() {
  std::weak_ptr<int> life = _life;
  while (!life.expired() && !_stopped) {
    co_await _isr_wake.wait_until(std::chrono::steady_clock::now() + std::chrono::milliseconds(isr_check_interval_ms));
    if (life.expired() || _stopped) co_return;
    if (_lifecycle.broker_epoch() < 0) continue;
    const int64_t now = _clock.monotonic_ms();
    struct change {
      topic_partition tp;
      uuid topic_id;
      leader_epoch epoch;
      int32_t partition_epoch;
      std::vector<node_id> isr;
    };
    std::vector<change> changes;
    _core.partitions().for_each([&](replication::partition& p) {
      if (!p.is_leader()) return;
      if (p.isr_change_pending()) return;  // alter_isr() sends it until the answer is definitive
      auto next = p.isr_change(now, _cfg.replica_lag_time_max_ms);
      if (!next) return;
      // KIP-841: a fenced broker, or one shutting down, does not join the ISR (the controller
      // would refuse it with INELIGIBLE_REPLICA); it is proposed again once the image says it may.
      const auto& brokers = _core.image().brokers();
      const auto& isr_now = p.replicas().isr;
      std::erase_if(*next, [&](node_id r) {
        if (std::find(isr_now.begin(), isr_now.end(), r) != isr_now.end()) return false;
        auto b = brokers.find(r);
        return b == brokers.end() || b->second.fenced || b->second.in_controlled_shutdown;
      });
      if (std::is_permutation(next->begin(), next->end(), isr_now.begin(), isr_now.end())) return;
      const auto* rt = _core.topic(p.tp().topic);
      if (!rt) return;
      changes.push_back(change{p.tp(), rt->id, p.epoch(), p.replicas().partition_epoch, *next});
    });
    for (auto& ch : changes) {
      auto* p = _core.partition(ch.tp);
      if (!p) continue;
      lg().info("{}: proposing ISR {} (was {})", ch.tp, fmt::join(ch.isr, ","), fmt::join(p->replicas().isr, ","));
      p->set_pending_isr(ch.isr);
      asio::co_spawn(_io, alter_isr(ch.tp, ch.topic_id, ch.epoch, ch.partition_epoch, std::move(ch.isr)),
                     asio::detached);
    }
  }
}

asio::awaitable<void> replica_manager::alter_isr(topic_partition tp, uuid topic_id, leader_epoch epoch,
                                                 int32_t partition_epoch, std::vector<node_id> isr) {
  std::weak_ptr<int> life = _life;
  // The pending ISR this request is for still stands (same leadership, same partition epoch).
  auto still_pending = [this, &tp, epoch, partition_epoch] {
    auto* p = _core.partition(tp);
    return p && p->is_leader() && p->epoch() == epoch && p->replicas().partition_epoch == partition_epoch &&
           p->isr_change_pending();
  };
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) {
      co_await _isr_wake.wait_until(std::chrono::steady_clock::now() +
                                    std::chrono::milliseconds(alter_partition_retry_ms));
      if (life.expired() || _stopped) co_return;
    }
    if (!still_pending()) co_return;  // the metadata moved on: the pending ISR has ended
    error_code err = co_await send_alter_partition(tp, topic_id, epoch, partition_epoch, isr);
    if (life.expired() || _stopped) co_return;
    switch (after_alter_partition(err)) {
      case alter_partition_next::done:
        lg().info("{}: ISR {} committed", tp, fmt::join(isr, ","));
        co_return;
      case alter_partition_next::drop_pending:
        lg().info("{}: ISR change to {} refused: {}", tp, fmt::join(isr, ","), protocol::error_name(err));
        // Proposed again on a later round, with whatever the metadata then says.
        if (still_pending()) _core.partition(tp)->clear_pending_isr();
        co_return;
      case alter_partition_next::retry:
        if (attempt == 0 || attempt % 40 == 0)
          lg().info("{}: ISR change to {} not settled ({}): sending it again until it is", tp, fmt::join(isr, ","),
                    protocol::error_name(err));
        break;
    }
  }
}

asio::awaitable<error_code> replica_manager::send_alter_partition(const topic_partition& tp, uuid topic_id,
                                                                  leader_epoch epoch, int32_t partition_epoch,
                                                                  const std::vector<node_id>& isr) {
  std::weak_ptr<int> life = _life;
  const int64_t broker_epoch = _lifecycle.broker_epoch();
  if (broker_epoch < 0) co_return error_code::stale_broker_epoch;  // registering again
  if (_local && _local->serves_here()) {
    controller::alter_partition_request r{_cfg.node_id, broker_epoch, topic_id, tp.partition.value(), epoch,
                                          partition_epoch, isr};
    auto out = co_await _local->alter_partition(std::move(r));
    if (life.expired()) co_return error_code::request_timed_out;
    co_return out ? error_code::none : out.error().code;
  }
  auto leader = _quorum.leader();
  if (!leader) co_return error_code::not_controller;
  protocol::alter_partition_request req;
  req.broker_id = _cfg.node_id.value();
  req.broker_epoch = broker_epoch;
  auto& t = req.topics.emplace_back();
  t.topic_id = topic_id;
  auto& pd = t.partitions.emplace_back();
  pd.partition_index = tp.partition.value();
  pd.leader_epoch = epoch.value();
  pd.partition_epoch = partition_epoch;
  for (auto id : isr) {
    pd.new_isr.push_back(id.value());
    pd.new_isr_with_epochs.push_back({id.value(), -1, {}});
  }
  rpc::call_options opts;
  opts.timeout_ms = alter_partition_timeout_ms;
  auto r = co_await _quorum.controllers()
               .call<protocol::alter_partition_request, protocol::alter_partition_response>(*leader, req, opts);
  if (life.expired()) co_return error_code::request_timed_out;
  if (!r) {
    lg().debug("{}: AlterPartition to controller {}: {}", tp, leader->value(), r.error().message);
    co_return error_code::request_timed_out;
  }
  if (r->error_code != 0) co_return error_code(r->error_code);
  if (!r->topics.empty() && !r->topics[0].partitions.empty()) co_return error_code(r->topics[0].partitions[0].error_code);
  co_return error_code::none;
}

asio::awaitable<void> replica_manager::stop() {
  _stopped = true;
  for (auto& [id, f] : _fetchers) f->wake.notify_all();
  _isr_wake.notify_all();
  co_await _pool->stop();
}

}  // namespace gregor::server
