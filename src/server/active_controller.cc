#include "active_controller.h"

#include "security_rules.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gregor/base/log.h"
#include "handlers/topic_errors.h"

namespace gregor::server {
namespace asio = boost::asio;
using protocol::error_code;
namespace {

spdlog::logger& lg() { return log::get("controller"); }

constexpr int64_t tick_interval_ms = 250;

admin_error not_controller() {
  return admin_error{error_code::not_controller, "this node is not the active controller"};
}

}  // namespace

active_controller::active_controller(asio::io_context& io, metadata_quorum& quorum, const config::broker_config& cfg,
                                     clock& clk)
    : _io(io), _quorum(quorum), _clock(clk) {
  _settings.broker_session_timeout_ms = cfg.broker_session_timeout_ms;
  _settings.unclean_leader_election_enable = cfg.unclean_leader_election_enable;
  _settings.metadata_version = controller::latest_metadata_version;
  _auto_rebalance = cfg.auto_leader_rebalance_enable;
  _rebalance_interval_ms = cfg.leader_imbalance_check_interval_seconds * 1000;
}

active_controller::~active_controller() {
  _life.reset();
  if (_tick_timer) _tick_timer->cancel();
  _settled->notify_all();
}

void active_controller::activate(leader_epoch epoch) {
  _epoch = epoch;
  _qc = std::make_unique<controller::quorum_controller>(_settings);
  _qc->activate(_quorum.image(), _clock.monotonic_ms());
  _barrier.reset();
  _settled->notify_all();
  _next_rebalance_ms = _clock.monotonic_ms() + _rebalance_interval_ms;
  // The first leader of a new cluster creates its id (cluster.id or the one this node stored,
  // else a random one) and commits it with the bootstrap records: the log decides it, so a
  // leader that fails before the commit leaves no id behind and the next one draws again.
  const std::string cluster_id = _quorum.cluster_id().empty() ? controller::new_cluster_id() : _quorum.cluster_id();
  auto boot = _qc->bootstrap_records(cluster_id);
  if (!boot.empty()) {
    lg().info("bootstrapping the cluster metadata (metadata.version {}, cluster id {})", _settings.metadata_version,
              cluster_id);
    asio::co_spawn(
        _io,
        [this, life = std::weak_ptr<int>(_life), boot = std::move(boot)]() mutable -> asio::awaitable<void> {
          auto r = co_await propose(std::move(boot));
          if (!life.expired() && !r) lg().warn("bootstrap records not committed: {}", r.error());
        },
        asio::detached);
  }
  if (!_tick_timer) {
    _tick_timer = std::make_shared<asio::steady_timer>(_io);
    asio::co_spawn(_io, tick_loop(_tick_timer), asio::detached);
  }
}

void active_controller::deactivate() {
  if (_qc) lg().info("controller epoch {} ends", _epoch);
  _qc.reset();
  _barrier.reset();
  _settled->notify_all();
}

void active_controller::maybe_reset() {
  if (_barrier.failed() && _barrier.in_flight() == 0 && _qc && _quorum.raft().is_leader()) {
    lg().info("rewinding the controller to the committed metadata (a proposal was refused)");
    _qc->rewind(_quorum.image(), _clock.monotonic_ms());
    _barrier.reset();
    _settled->notify_all();
  }
}

asio::awaitable<result<offset, std::string>> active_controller::propose(std::vector<controller::framed_record> records) {
  std::weak_ptr<int> life = _life;
  auto settled = _settled;
  const uint64_t ticket = _barrier.begin();
  auto r = co_await _quorum.raft().propose(std::move(records));
  if (life.expired()) co_return r;
  _barrier.end(ticket, bool(r));
  if (!r) lg().info("metadata change not committed: {}", r.error());
  maybe_reset();
  settled->notify_all();
  co_return r;
}

asio::awaitable<bool> active_controller::after_proposed() {
  std::weak_ptr<int> life = _life;
  auto settled = _settled;
  const auto mark = _barrier.mark();
  for (;;) {
    const auto s = _barrier.check(mark);
    if (s == proposal_barrier::state::failed) co_return false;
    if (s == proposal_barrier::state::ready) co_return _qc != nullptr;
    // Every settle and reset notifies; the deadline only bounds a wait for a missed wake-up.
    co_await settled->wait_until(std::chrono::steady_clock::now() + std::chrono::seconds(1));
    if (life.expired()) co_return false;
  }
}

template <class T>
active_controller::outcome<T> active_controller::commit(result<controller::decision<T>, controller::controller_error> d) {
  if (!d || d->records.empty()) {
    // Decided from the speculative image: answered once what was proposed before has committed
    // (Kafka's deferred event queue), or NOT_CONTROLLER if it never does.
    const bool settled = co_await after_proposed();
    if (!settled) co_return failure{not_controller()};
    if (!d) co_return failure{admin_error{to_kafka(d.error().code), d.error().message}};
    co_return std::move(d->reply);
  }
  // A refused proposal leaves records in the speculative image that will never commit: everything
  // is refused until propose() rewinds the controller to the committed image (or a new term).
  std::weak_ptr<int> life = _life;
  auto r = co_await propose(std::move(d->records));
  if (life.expired()) co_return failure{not_controller()};
  if (!r) co_return failure{admin_error{error_code::not_controller, r.error()}};
  co_return std::move(d->reply);
}

active_controller::outcome<created_topic> active_controller::create_topic(topic_spec spec, bool validate_only) {
  if (!accepting()) co_return failure{not_controller()};
  controller::topic_request req;
  req.name = std::move(spec.name);
  req.partitions = spec.partitions;
  req.replication_factor = spec.replication_factor;
  req.assignments = std::move(spec.assignments);
  req.configs = std::move(spec.configs);
  auto r = co_await commit(_qc->create_topic(req, validate_only));
  if (!r) co_return failure{r.error()};
  const auto* t = _quorum.image().topic(req.name);
  created_topic out;
  out.id = validate_only ? uuid{} : *r;
  if (t) {
    out.partitions = int32_t(t->partitions.size());
    out.replication_factor = t->partitions.empty() ? 0 : int16_t(t->partitions.front().replicas.size());
  } else {
    out.partitions = req.assignments.empty() ? req.partitions : int32_t(req.assignments.size());
    out.replication_factor =
        req.assignments.empty() ? req.replication_factor : int16_t(req.assignments.front().size());
  }
  co_return out;
}

active_controller::outcome<void> active_controller::delete_topic(std::string name) {
  if (!accepting()) co_return failure{not_controller()};
  auto r = co_await commit(_qc->delete_topic(name));
  if (!r) co_return failure{r.error()};
  co_return ok;
}

active_controller::outcome<void> active_controller::create_partitions(std::string name, int32_t total,
                                                                      std::vector<std::vector<node_id>> assignments,
                                                                      bool validate_only) {
  if (!accepting()) co_return failure{not_controller()};
  auto r = co_await commit(_qc->create_partitions(name, total, assignments, validate_only));
  if (!r) co_return failure{r.error()};
  co_return ok;
}

active_controller::outcome<void> active_controller::alter_configs(int8_t resource_type, std::string name,
                                                                  config_changes changes) {
  if (!accepting()) co_return failure{not_controller()};
  auto r = co_await commit(_qc->alter_configs(resource_type, name, changes));
  if (!r) co_return failure{r.error()};
  co_return ok;
}

active_controller::outcome<producer_id_range> active_controller::allocate_producer_ids(node_id broker,
                                                                                       int64_t broker_epoch,
                                                                                       int32_t count) {
  if (!accepting()) co_return failure{not_controller()};
  auto r = co_await commit(_qc->allocate_producer_ids(broker, broker_epoch, count));
  if (!r) co_return failure{r.error()};
  co_return producer_id_range{r->first, r->size};
}

active_controller::outcome<int64_t> active_controller::register_broker(controller::broker_registration reg) {
  if (!accepting()) co_return failure{not_controller()};
  // The registration record is the first record of the next batch: its offset is the log end now
  // (nothing is appended between this call and the proposal).
  const int64_t at = _quorum.raft().log_end_offset().value();
  auto r = co_await commit(_qc->register_broker(reg, at, _clock.monotonic_ms()));
  if (!r) co_return failure{r.error()};
  lg().info("broker {} registered with epoch {}", reg.id.value(), *r);
  co_return *r;
}

active_controller::outcome<controller::heartbeat_reply> active_controller::heartbeat(controller::broker_heartbeat h) {
  if (!accepting()) co_return failure{not_controller()};
  co_return co_await commit(_qc->heartbeat(h, _clock.monotonic_ms()));
}

active_controller::outcome<controller::partition_state> active_controller::alter_partition(
    controller::alter_partition_request r) {
  if (!accepting()) co_return failure{not_controller()};
  co_return co_await commit(_qc->alter_partition(r));
}

namespace {

std::vector<partition_outcome> to_outcomes(const std::vector<controller::partition_result>& in) {
  std::vector<partition_outcome> out;
  out.reserve(in.size());
  for (const auto& r : in) {
    auto& o = out.emplace_back(partition_outcome{r.topic, r.partition, std::nullopt});
    if (r.error) o.error = admin_error{to_kafka(r.error->code), r.error->message};
  }
  return out;
}

}  // namespace

active_controller::outcome<std::vector<partition_outcome>> active_controller::commit_per_partition(
    controller::decision<std::vector<controller::partition_result>> d) {
  auto outcomes = to_outcomes(d.reply);
  controller::decision<bool> change;
  change.records = std::move(d.records);
  result<controller::decision<bool>, controller::controller_error> decided(std::move(change));
  auto r = co_await commit(std::move(decided));
  if (!r) co_return failure{r.error()};
  co_return outcomes;
}

active_controller::outcome<std::vector<partition_outcome>> active_controller::alter_partition_reassignments(
    std::vector<reassignment> items) {
  if (!accepting()) co_return failure{not_controller()};
  std::vector<controller::reassignment_request> reqs;
  for (auto& i : items) reqs.push_back(controller::reassignment_request{i.topic, i.partition, i.target});
  auto decided = _qc->alter_partition_reassignments(reqs);
  co_return co_await commit_per_partition(std::move(decided));
}

active_controller::outcome<std::vector<partition_outcome>> active_controller::elect_leaders(
    election_kind kind, std::optional<partition_list> partitions) {
  if (!accepting()) co_return failure{not_controller()};
  auto decided = _qc->elect_leaders(static_cast<controller::election_type>(kind), partitions);
  co_return co_await commit_per_partition(std::move(decided));
}

std::vector<controller::feature_update> to_feature_updates(std::vector<feature_change> changes) {
  std::vector<controller::feature_update> out;
  for (auto& c : changes)
    out.push_back({std::move(c.feature), c.level, static_cast<controller::feature_upgrade>(c.upgrade_type)});
  return out;
}

active_controller::outcome<void> active_controller::update_features(std::vector<feature_change> changes,
                                                                    bool validate_only) {
  if (!accepting()) co_return failure{not_controller()};
  const auto updates = to_feature_updates(std::move(changes));
  auto r = co_await commit(_qc->update_features(updates, validate_only));
  if (!r) co_return failure{r.error()};
  co_return ok;
}

active_controller::outcome<void> active_controller::create_acls(std::vector<controller::acl_entry> acls) {
  if (!accepting()) co_return failure{not_controller()};
  using decided_t = result<controller::decision<bool>, controller::controller_error>;
  decided_t d = _qc->create_acls(acls, [] { return uuid::random(); });
  auto r = co_await commit(std::move(d));
  if (!r) co_return failure{r.error()};
  co_return ok;
}

active_controller::outcome<std::vector<std::vector<controller::acl_entry>>> active_controller::delete_acls(
    std::vector<acl_filter> filters) {
  if (!accepting()) co_return failure{not_controller()};
  using reply_t = std::vector<std::vector<controller::acl_entry>>;
  const auto predicates = acl_filter_predicates(filters);
  result<controller::decision<reply_t>, controller::controller_error> d = _qc->delete_acls(predicates);
  co_return co_await commit(std::move(d));
}

active_controller::outcome<std::vector<std::optional<admin_error>>> active_controller::alter_scram_credentials(
    std::vector<scram_alteration> changes) {
  if (!accepting()) co_return failure{not_controller()};
  using reply_t = std::vector<std::optional<controller::controller_error>>;
  const auto scram = to_scram_changes(changes);
  result<controller::decision<reply_t>, controller::controller_error> d = _qc->alter_scram_credentials(scram);
  auto r = co_await commit(std::move(d));
  if (!r) co_return failure{r.error()};
  std::vector<std::optional<admin_error>> out;
  for (const auto& e : *r)
    out.push_back(e ? std::optional<admin_error>(admin_error{to_kafka(e->code), e->message}) : std::nullopt);
  co_return out;
}

active_controller::outcome<std::vector<quota_outcome>> active_controller::alter_client_quotas(
    std::vector<quota_alteration> entries, bool validate_only) {
  if (!accepting()) co_return failure{not_controller()};
  using reply_t = std::vector<controller::quorum_controller::quota_result>;
  result<controller::decision<reply_t>, controller::controller_error> d =
      _qc->alter_client_quotas(entries, validate_only);
  auto r = co_await commit(std::move(d));
  if (!r) co_return failure{r.error()};
  co_return to_quota_outcomes(*r);
}

asio::awaitable<void> active_controller::tick_loop(std::shared_ptr<asio::steady_timer> timer) {
  std::weak_ptr<int> life = _life;
  for (;;) {
    timer->expires_after(std::chrono::milliseconds(tick_interval_ms));
    auto [ec] = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    if (life.expired() || ec == asio::error::operation_aborted) co_return;
    if (!accepting()) continue;
    const int64_t now = _clock.monotonic_ms();
    auto records = _qc->tick(now);
    if (!records.empty())
      lg().info("broker liveness: proposing {} record(s) (fencing, leader re-election)", records.size());
    if (_auto_rebalance && now >= _next_rebalance_ms) {
      _next_rebalance_ms = now + _rebalance_interval_ms;
      for (auto& r : _qc->balance_leaders()) records.push_back(std::move(r));
    }
    if (records.empty()) continue;
    controller::decision<bool> d;
    d.records = std::move(records);
    asio::co_spawn(
        _io,
        [this, life, d = std::move(d)]() mutable -> asio::awaitable<void> {
          if (life.expired()) co_return;
          (void)co_await commit(result<controller::decision<bool>, controller::controller_error>(std::move(d)));
        },
        asio::detached);
  }
}

}  // namespace gregor::server
