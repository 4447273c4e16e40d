#include "idempotence.h"

#include "core.h"

#include <algorithm>
#include <limits>

#include "gregor/base/log.h"
#include "gregor/txn/producer_state_log.h"

namespace gregor::server {
namespace {

spdlog::logger& lg() {
  return log::get("txn");
}

txn::batch_identity identity_of(const protocol::batch_header& h) {
  return txn::batch_identity{producer_id(h.producer_id), producer_epoch(h.producer_epoch),
                             h.base_sequence, h.last_offset_delta};
}

// Idle producers are looked for at most this often per partition (Kafka checks every 10 minutes;
// we check more often so that short expirations in tests take effect promptly).
constexpr int64_t expiry_check_interval_ms_max = 10'000;

}  // namespace

protocol::error_code to_error_code(txn::producer_errc e) {
  switch (e) {
    case txn::producer_errc::invalid_producer_epoch:
      return protocol::error_code::invalid_producer_epoch;
    case txn::producer_errc::out_of_order_sequence:
      return protocol::error_code::out_of_order_sequence_number;
    case txn::producer_errc::unknown_producer_id:
      return protocol::error_code::unknown_producer_id;
  }
  return protocol::error_code::unknown_server_error;
}

idempotence::idempotence(const config::broker_config& cfg, clock& clk, const controller::metadata_image& image,
                         controller_client& controller)
    : _cfg(cfg), _clock(clk), _image(image), _controller(controller) {}

boost::asio::awaitable<new_producer> idempotence::init_producer_id(producer_id pid, producer_epoch epoch) {
  const bool names_producer = pid.value() >= 0 || epoch.value() >= 0;
  if (names_producer) {
    if (pid.value() < 0 || epoch.value() < 0)
      co_return new_producer{protocol::error_code::invalid_request, no_producer_id, no_producer_epoch};
    // Only ids this cluster handed out keep their id; the last usable epoch forces a new id.
    if (pid.value() < _image.next_producer_id() && epoch.value() < std::numeric_limits<int16_t>::max() - 1)
      co_return new_producer{protocol::error_code::none, pid, producer_epoch(int16_t(epoch.value() + 1))};
  }
  if (_ids.used_up()) {
    auto b = co_await _controller.allocate_producer_ids(node_id(_cfg.node_id), txn::producer_id_block_size);
    // Another request may have refilled while this one waited: keep its block, drop this one.
    if (b && _ids.used_up()) {
      if (auto why = _ids.refill(txn::id_block{b->first, b->size}); !why.empty()) lg().error("{}", why);
      else lg().info("producer id block [{}, {}) allocated", b->first, b->first + b->size);
    } else if (!b) {
      lg().error("cannot allocate a producer id block: {}", b.error().message);
    }
  }
  auto id = _ids.next();
  if (!id)
    co_return new_producer{protocol::error_code::coordinator_not_available, no_producer_id, no_producer_epoch};
  co_return new_producer{protocol::error_code::none, *id, producer_epoch(0)};
}

txn::producer_state* idempotence::load(replication::partition& p) {
  storage::partition_log& log = p.log();
  auto& entry = _partitions[p.tp()];
  const bool fresh = entry.log == &log && entry.topic_id == log.topic_id() && entry.state &&
                     entry.state->end_offset() == log.log_end_offset();
  const int64_t now_ms = _clock.now_ms();
  if (!fresh) {
    // The listener may point at the state about to be replaced.
    log.set_roll_listener(nullptr);
    entry.log = &log;
    entry.topic_id = log.topic_id();
    entry.state = std::make_unique<txn::producer_state>(_cfg.producer_id_expiration_ms);
    entry.last_expiry_ms = now_ms;
    auto r = txn::rebuild(log, *entry.state, now_ms);
    if (!r) {
      lg().error("{}: cannot rebuild producer state: {}", p.tp(), r.error().message);
      _partitions.erase(p.tp());
      return nullptr;
    }
    lg().info("{}: producer state rebuilt: {} producers, snapshot {}, {} batches replayed", p.tp(),
              r->producers, r->snapshot_offset, r->batches_replayed);
    txn::producer_state* st = entry.state.get();
    std::filesystem::path dir = log.dir();
    topic_partition tp = p.tp();
    log.set_roll_listener([st, dir, tp](offset base) {
      // Only a state that covers exactly the offsets below the new segment may be named after it
      // (a stale one is rebuilt from the log at its next use instead).
      if (st->end_offset() != base) return;
      if (auto w = txn::write_snapshot(dir, *st, base); !w)
        lg().warn("{}: cannot write producer snapshot at {}: {}", tp, base, w.error().message);
    });
  }
  const int64_t interval =
      std::min<int64_t>(expiry_check_interval_ms_max, _cfg.producer_id_expiration_ms);
  if (now_ms - entry.last_expiry_ms >= interval) {
    entry.last_expiry_ms = now_ms;
    if (size_t n = entry.state->expire(now_ms); n > 0)
      lg().info("{}: {} idle producers expired", p.tp(), n);
  }
  return entry.state.get();
}

idempotence_verdict idempotence::check(replication::partition& p,
                                       std::span<const protocol::validated_batch> batches) {
  idempotence_verdict out;
  txn::producer_state* st = load(p);
  if (!st) {
    out.error = protocol::error_code::kafka_storage_error;
    out.message = "producer state of this partition cannot be loaded";
    return out;
  }
  for (size_t i = 0; i < batches.size(); ++i) {
    auto v = st->check(identity_of(batches[i].header));
    if (!v) {
      out.error = to_error_code(v.error().code);
      out.message = std::move(v.error().message);
      lg().debug("{}: {}", p.tp(), out.message);
      return out;
    }
    // Kafka takes one batch per partition (v3+); a duplicate inside a multi-batch request (v0-2
    // carry no producer ids in practice) answers for the first batch only.
    if (v->duplicate_of && i == 0) out.duplicate_of = v->duplicate_of;
  }
  return out;
}

void idempotence::record(replication::partition& p,
                         std::span<const protocol::validated_batch> batches, offset base) {
  auto it = _partitions.find(p.tp());
  if (it == _partitions.end() || it->second.log != &p.log())
    return;  // rebuilt from the log next time
  const int64_t now_ms = _clock.now_ms();
  offset next = base;
  for (const auto& b : batches) {
    offset last = next + b.header.last_offset_delta;
    it->second.state->record(identity_of(b.header), next, last, now_ms);
    next = last + 1;
  }
}

const txn::producer_state* idempotence::state(replication::partition& p) {
  return load(p);
}

void idempotence::log_start_moved(replication::partition& p) {
  auto it = _partitions.find(p.tp());
  if (it == _partitions.end() || !it->second.state || it->second.log != &p.log()) return;
  // producer.id.expiration.ms is a dynamic broker config: loaded states follow it here too.
  it->second.state->set_expiration_ms(_cfg.producer_id_expiration_ms);
  const offset start = p.log().log_start_offset();
  if (start.value() == it->second.log_start) return;
  it->second.log_start = start.value();
  if (size_t n = txn::on_log_start_moved(p.log().dir(), *it->second.state, start); n > 0)
    lg().info("{}: {} producers below the log start {} dropped", p.tp(), n, start);
}

void idempotence::snapshot_all(
    const std::function<replication::partition*(const topic_partition&)>& live) {
  for (auto& [tp, e] : _partitions) {
    replication::partition* p = live(tp);
    // Only logs still open and still the ones the state was built from.
    if (!p || &p->log() != e.log || e.log->closed() || !e.state) continue;
    if (e.state->end_offset() != e.log->log_end_offset()) continue;  // stale: rebuilt at next start
    if (auto w = txn::write_snapshot(e.log->dir(), *e.state, e.log->log_end_offset()); !w)
      lg().warn("{}: cannot write producer snapshot at close: {}", tp, w.error().message);
  }
}

}  // namespace gregor::server

namespace gregor::server {

idempotence& core::producers() {
  if (!_producers) _producers = std::make_shared<idempotence>(_cfg, _clock, image(), *_controller);
  return *_producers;
}

void core::snapshot_producers() {
  if (!_producers || !_partitions) return;
  _producers->snapshot_all([this](const topic_partition& tp) { return _partitions->get(tp); });
}

}  // namespace gregor::server
