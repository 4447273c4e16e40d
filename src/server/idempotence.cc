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
                             h.base_sequence, h.last_offset_delta, h.is_transactional()};
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
    case txn::producer_errc::invalid_txn_state:
      return protocol::error_code::invalid_txn_state;
    case txn::producer_errc::coordinator_fenced:
      return protocol::error_code::transaction_coordinator_fenced;
    case txn::producer_errc::invalid_record:
      return protocol::error_code::invalid_record;
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
  // The state of this very log, never cut under it since it was built.
  const bool same = entry.log == &log && entry.topic_id == log.topic_id() && entry.state && !entry.stale &&
                    entry.truncated && !*entry.truncated;
  const int64_t now_ms = _clock.now_ms();
  const offset end = same ? entry.state->end_offset() : offset(-1);
  if (same && end < log.log_end_offset() && end >= log.log_start_offset()) {
    // Someone appended without telling us (a coordinator writing its own records): replay just
    // what is new rather than rebuilding.
    auto c = txn::catch_up(log, *entry.state);
    if (!c) {
      lg().error("{}: cannot catch producer state up with the log: {}", p.tp(), c.error().message);
      entry.stale = true;
      return load(p);
    }
  } else if (!same || end != log.log_end_offset()) {
    // The listener may point at the state about to be replaced.
    log.set_roll_listener(nullptr);
    entry.log = &log;
    entry.topic_id = log.topic_id();
    entry.state = std::make_unique<txn::producer_state>(_cfg.producer_id_expiration_ms);
    entry.stale = false;
    // A truncation (follower divergence, restart at the leader's log start) invalidates the state.
    entry.truncated = std::make_shared<bool>(false);
    log.set_truncate_listener([flag = entry.truncated](offset) { *flag = true; });
    entry.last_expiry_ms = now_ms;
    auto r = txn::rebuild(log, *entry.state);
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
                                       std::span<const protocol::validated_batch> batches,
                                       txn::append_origin origin) {
  idempotence_verdict out;
  txn::producer_state* st = load(p);
  if (!st) {
    out.error = protocol::error_code::kafka_storage_error;
    out.message = "producer state of this partition cannot be loaded";
    return out;
  }
  for (size_t i = 0; i < batches.size(); ++i) {
    auto v = st->check(identity_of(batches[i].header), origin);
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
                         std::span<const protocol::validated_batch> batches, offset base,
                         int64_t log_append_time_ms) {
  auto it = _partitions.find(p.tp());
  if (it == _partitions.end() || it->second.log != &p.log())
    return;  // rebuilt from the log next time
  offset next = base;
  for (const auto& b : batches) {
    offset last = next + b.header.last_offset_delta;
    const int64_t stored_max_ts = log_append_time_ms >= 0 ? log_append_time_ms : b.records_max_timestamp;
    it->second.state->record(identity_of(b.header), next, last, stored_max_ts);
    next = last + 1;
  }
  note_current(p);
}

txn::producer_state* idempotence::loaded_at(replication::partition& p, offset end) {
  auto it = _partitions.find(p.tp());
  if (it == _partitions.end()) return nullptr;
  loaded& e = it->second;
  if (e.log != &p.log() || e.topic_id != p.log().topic_id() || !e.state || e.stale || !e.truncated ||
      *e.truncated || e.state->end_offset() != end)
    return nullptr;
  return e.state.get();
}

void idempotence::note_current(replication::partition& p) {
  // A state that follows every append keeps the aborted-transaction index complete: a later
  // rebuild need not replay from further back than here.
  if (loaded_at(p, p.log().log_end_offset())) p.log().set_txn_index_complete_below(p.log().log_end_offset());
}

void idempotence::index_aborted(replication::partition& p, txn::producer_state& st, const txn::completed_txn& t) {
  const storage::aborted_txn entry{t.pid.value(), t.first_offset.value(), t.last_offset.value(),
                                   st.last_stable_offset_after(t).value()};
  auto a = p.log().add_aborted_txn(entry);
  if (a) return;
  lg().error("{}: cannot index the aborted transaction of producer {} [{}, {}]: {}; rebuilding at next use", p.tp(),
             t.pid, t.first_offset, t.last_offset, a.error().message);
  p.log().set_txn_index_complete_below(std::min(p.log().txn_index_complete_below(), t.last_offset));
  if (auto it = _partitions.find(p.tp()); it != _partitions.end()) it->second.stale = true;
}

result<offset, protocol::error_code> idempotence::write_marker(replication::partition& p, producer_id pid,
                                                                producer_epoch epoch, bool commit,
                                                                int32_t coordinator_epoch) {
  if (!p.is_leader()) return failure{protocol::error_code::not_leader_or_follower};
  txn::producer_state* st = load(p);
  if (!st) return failure{protocol::error_code::kafka_storage_error};
  if (auto c = st->check_marker(pid, epoch, coordinator_epoch); !c) {
    lg().debug("{}: marker refused: {}", p.tp(), c.error().message);
    return failure{to_error_code(c.error().code)};
  }
  const int64_t now_ms = _clock.now_ms();
  const txn::end_txn_marker m{commit, coordinator_epoch};
  std::vector<uint8_t> batch = txn::build_end_txn_marker_batch(pid, epoch, m, now_ms);
  auto appended = p.append(batch);
  if (!appended) {
    lg().error("{}: cannot append the {} marker of producer {}: {}", p.tp(), commit ? "COMMIT" : "ABORT", pid,
               appended.error().message);
    return failure{protocol::error_code::kafka_storage_error};
  }
  const offset at = appended->base_offset;
  // The append may have rolled: `st` is still the partition's state (load() is not called again).
  auto done = st->record_marker(pid, epoch, m, at, now_ms);
  if (done && done->aborted) index_aborted(p, *st, *done);
  note_current(p);
  if (_on_stable_offset) _on_stable_offset(p.tp());
  return at;
}

void idempotence::appended(replication::partition& p, std::span<const uint8_t> batches, offset end_before) {
  txn::producer_state* st = loaded_at(p, end_before);
  if (!st) {
    // Not following this log yet (or it moved under us): rebuild, which covers these batches.
    load(p);
    if (_on_stable_offset) _on_stable_offset(p.tp());
    return;
  }
  bool markers = false;
  while (auto h = protocol::parse_batch_header(batches)) {
    if (h->batch_length <= 0 || h->total_size() > batches.size()) break;
    const auto whole = batches.first(h->total_size());
    batches = batches.subspan(h->total_size());
    if (h->is_control()) {
      markers = true;
      auto done = txn::replay_control_batch(*st, *h, whole);
      if (done && done->aborted) index_aborted(p, *st, *done);
    } else {
      st->replay(identity_of(*h), offset(h->base_offset), offset(h->last_offset()), h->max_timestamp);
    }
  }
  if (st->end_offset() != p.log().log_end_offset()) {
    lg().warn("{}: producer state ends at {} after an append ending at {}; rebuilding at next use", p.tp(),
              st->end_offset(), p.log().log_end_offset());
    if (auto it = _partitions.find(p.tp()); it != _partitions.end()) it->second.stale = true;
    return;
  }
  note_current(p);
  if (markers && _on_stable_offset) _on_stable_offset(p.tp());
}

offset idempotence::last_stable_offset(replication::partition& p, bool load_if_needed) {
  txn::producer_state* st = load_if_needed ? load(p) : loaded_at(p, p.log().log_end_offset());
  if (!st) return p.high_watermark();
  return st->last_stable_offset(p.high_watermark());
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
  if (!_producers) {
    _producers = std::make_shared<idempotence>(_cfg, _clock, image(), *_controller);
    _producers->set_stable_offset_listener([this](const topic_partition& tp) { waiters().notify(tp); });
  }
  return *_producers;
}

void core::snapshot_producers() {
  if (!_producers || !_partitions) return;
  _producers->snapshot_all([this](const topic_partition& tp) { return _partitions->get(tp); });
}

}  // namespace gregor::server
