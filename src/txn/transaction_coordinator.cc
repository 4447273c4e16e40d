#include "gregor/txn/transaction_coordinator.h"

#include <algorithm>
#include <utility>

namespace gregor::txn {
namespace {

constexpr int16_t no_epoch = -1;
// Kafka's TransactionMetadata.isEpochExhausted: one epoch stays free for fencing.
constexpr int16_t max_usable_epoch = 32766;

bool exhausted(int16_t epoch) { return epoch >= max_usable_epoch; }

bool is_prepare(txn_state s) { return s == txn_state::prepare_commit || s == txn_state::prepare_abort; }
bool is_complete(txn_state s) { return s == txn_state::complete_commit || s == txn_state::complete_abort; }

bool contains_all(const txn_partitions& have, const txn_partitions& want) {
  for (const auto& [topic, ids] : want) {
    auto it = have.find(topic);
    if (it == have.end()) return false;
    for (int32_t p : ids)
      if (!it->second.contains(p)) return false;
  }
  return true;
}

}  // namespace

transaction_coordinator::transaction_coordinator(coordinator_settings s,
                                                 std::function<std::optional<int64_t>()> next_producer_id)
    : _settings(s), _next_producer_id(std::move(next_producer_id)) {}

void transaction_coordinator::answer(uint64_t ticket, reply r) { _out.replies.emplace_back(ticket, r); }

void transaction_coordinator::prepare(const std::string& id, txn& t, std::optional<txn_value> target,
                                      std::optional<uint64_t> ticket, bool reply_with_target, after_write then) {
  pending_write w;
  w.write_id = _next_write_id++;
  w.target = target;
  if (ticket) w.tickets.push_back(*ticket);
  w.reply_with_target = reply_with_target;
  w.then = then;
  _writes[w.write_id] = id;
  _out.writes.push_back(write_request{w.write_id, t.partition, id, std::move(target)});
  t.pending = std::move(w);
}

error_code transaction_coordinator::check_producer(const txn& t, int64_t producer_id, int16_t producer_epoch) const {
  if (t.value.producer_id != producer_id) return error_code::invalid_producer_id_mapping;
  if (t.value.producer_epoch != producer_epoch) return error_code::producer_fenced;
  return error_code::none;
}

txn_value transaction_coordinator::ending(const txn& t, bool commit, bool bump_epoch, int64_t now) const {
  txn_value v = t.value;
  v.state = commit ? txn_state::prepare_commit : txn_state::prepare_abort;
  v.last_update_ms = now;
  if (bump_epoch && !exhausted(v.producer_epoch)) v.producer_epoch = int16_t(v.producer_epoch + 1);
  return v;
}

// ---- InitProducerId ----

void transaction_coordinator::init_producer_id(uint64_t ticket, const init_input& in, int64_t now) {
  if (in.timeout_ms <= 0 || in.timeout_ms > _settings.max_timeout_ms)
    return answer(ticket, {error_code::invalid_transaction_timeout});
  auto it = _txns.find(in.transactional_id);
  if (it == _txns.end()) {
    auto pid = _next_producer_id();
    if (!pid) return answer(ticket, {error_code::coordinator_load_in_progress});
    txn fresh;
    fresh.partition = in.partition;
    fresh.value.producer_id = *pid;
    fresh.value.producer_epoch = no_epoch;
    fresh.value.timeout_ms = in.timeout_ms;
    fresh.value.state = txn_state::empty;
    fresh.value.last_update_ms = now;
    it = _txns.emplace(in.transactional_id, std::move(fresh)).first;
  }
  txn& t = it->second;
  if (t.pending) return answer(ticket, {error_code::concurrent_transactions});
  // KIP-360: a producer that names an id and epoch is fenced unless the id is the current one
  // (its epoch is checked below), the metadata was just created, or it is a retry after the
  // producer id rotated because its epoch ran out.
  if (in.expected_producer_id != -1 && t.value.producer_epoch != no_epoch &&
      in.expected_producer_id != t.value.producer_id &&
      !(in.expected_producer_id == t.value.previous_producer_id && exhausted(in.expected_producer_epoch)))
    return answer(ticket, {error_code::producer_fenced});

  switch (t.value.state) {
    case txn_state::prepare_commit:
    case txn_state::prepare_abort:
    case txn_state::prepare_epoch_fence:
    case txn_state::dead:
      return answer(ticket, {error_code::concurrent_transactions});
    case txn_state::ongoing: {
      // The previous instance of this producer left a transaction open: abort it under a bumped
      // epoch (fencing that instance); the new one retries until the abort completed.
      prepare(in.transactional_id, t, ending(t, false, true, now), std::nullopt, false, after_write::markers);
      return answer(ticket, {error_code::concurrent_transactions});
    }
    case txn_state::empty:
    case txn_state::complete_commit:
    case txn_state::complete_abort:
      break;
  }

  txn_value v = t.value;
  v.state = txn_state::empty;
  v.partitions.clear();
  v.timeout_ms = in.timeout_ms;
  v.start_ms = -1;
  v.last_update_ms = now;
  v.next_producer_id = -1;
  v.next_producer_epoch = -1;
  int16_t last_epoch = no_epoch;
  if (exhausted(t.value.producer_epoch)) {
    auto pid = _next_producer_id();
    if (!pid) return answer(ticket, {error_code::coordinator_load_in_progress});
    v.previous_producer_id = t.value.producer_id;
    v.producer_id = *pid;
    v.producer_epoch = 0;
  } else if (in.expected_producer_id == -1 || t.value.producer_epoch == no_epoch ||
             in.expected_producer_epoch == t.value.producer_epoch) {
    last_epoch = t.value.producer_epoch;
    v.producer_epoch = int16_t(t.value.producer_epoch + 1);
  } else if (in.expected_producer_epoch == t.last_producer_epoch) {
    // A retry of a bump that already happened: the current epoch again, nothing to write.
    return answer(ticket, {error_code::none, t.value.producer_id, t.value.producer_epoch});
  } else {
    return answer(ticket, {error_code::producer_fenced});
  }
  prepare(in.transactional_id, t, v, ticket, true, after_write::reply);
  if (in.expected_producer_id != -1) t.last_producer_epoch = last_epoch;
}

// ---- AddPartitionsToTxn / AddOffsetsToTxn ----

void transaction_coordinator::add_partitions(uint64_t ticket, const add_input& in, int64_t now) {
  auto it = _txns.find(in.transactional_id);
  if (it == _txns.end()) return answer(ticket, {error_code::invalid_producer_id_mapping});
  txn& t = it->second;
  if (auto e = check_producer(t, in.producer_id, in.producer_epoch); e != error_code::none) return answer(ticket, {e});
  if (t.pending || is_prepare(t.value.state)) return answer(ticket, {error_code::concurrent_transactions});
  if (t.value.state == txn_state::dead || t.value.state == txn_state::prepare_epoch_fence)
    return answer(ticket, {error_code::invalid_txn_state});
  if (t.value.state == txn_state::ongoing && contains_all(t.value.partitions, in.partitions))
    return answer(ticket, {error_code::none, t.value.producer_id, t.value.producer_epoch});
  txn_value v = t.value;
  if (v.state != txn_state::ongoing) {
    v.partitions.clear();
    v.start_ms = now;
  }
  v.state = txn_state::ongoing;
  for (const auto& [topic, ids] : in.partitions) v.partitions[topic].insert(ids.begin(), ids.end());
  v.last_update_ms = now;
  v.client_transaction_version = in.client_transaction_version;
  prepare(in.transactional_id, t, v, ticket, true, after_write::reply);
}

error_code transaction_coordinator::verify(const std::string& transactional_id, int64_t producer_id,
                                           int16_t producer_epoch, const txn_partitions& partitions) const {
  auto it = _txns.find(transactional_id);
  if (it == _txns.end()) return error_code::invalid_producer_id_mapping;
  const txn& t = it->second;
  if (auto e = check_producer(t, producer_id, producer_epoch); e != error_code::none) return e;
  if (t.value.state != txn_state::ongoing || !contains_all(t.value.partitions, partitions))
    return error_code::invalid_txn_state;
  return error_code::none;
}

// ---- EndTxn ----

void transaction_coordinator::end_txn(uint64_t ticket, const end_input& in, int64_t now) {
  auto it = _txns.find(in.transactional_id);
  if (it == _txns.end()) return answer(ticket, {error_code::invalid_producer_id_mapping});
  txn& t = it->second;
  const bool tv2 = in.client_transaction_version >= 2;
  const txn_state done = in.commit ? txn_state::complete_commit : txn_state::complete_abort;
  const txn_state preparing = in.commit ? txn_state::prepare_commit : txn_state::prepare_abort;
  if (t.value.producer_id != in.producer_id) return answer(ticket, {error_code::invalid_producer_id_mapping});
  // TV2 bumps the epoch when a transaction ends: a retry of that EndTxn names the epoch before.
  const bool retry = tv2 && int32_t(in.producer_epoch) + 1 == t.value.producer_epoch &&
                     (t.value.state == done || t.value.state == preparing);
  if (in.producer_epoch != t.value.producer_epoch && !retry) return answer(ticket, {error_code::producer_fenced});
  if (t.pending) return answer(ticket, {error_code::concurrent_transactions});
  const reply current{error_code::none, t.value.producer_id, t.value.producer_epoch};
  switch (t.value.state) {
    case txn_state::ongoing:
      break;
    case txn_state::empty:
      // TV2 lets a producer abort when it has added nothing yet (the epoch still bumps).
      if (tv2 && !in.commit) break;
      return answer(ticket, {error_code::invalid_txn_state});
    case txn_state::complete_commit:
    case txn_state::complete_abort:
      // A retry of the EndTxn that ended it (TV1 keeps the epoch, so any repeat is one).
      if (t.value.state == done && (!tv2 || retry)) return answer(ticket, current);
      // TV2 lets a producer abort when it has added nothing since (the epoch still bumps).
      if (tv2 && !retry && !in.commit) break;
      return answer(ticket, {error_code::invalid_txn_state});
    case txn_state::prepare_commit:
    case txn_state::prepare_abort:
      if (t.value.state == preparing) return answer(ticket, {error_code::concurrent_transactions});
      return answer(ticket, {error_code::invalid_txn_state});
    case txn_state::dead:
    case txn_state::prepare_epoch_fence:
      return answer(ticket, {error_code::invalid_txn_state});
  }
  txn_value v = ending(t, in.commit, tv2, now);
  v.client_transaction_version = std::max(v.client_transaction_version, in.client_transaction_version);
  if (tv2 && exhausted(t.value.producer_epoch)) {
    // No epoch left to bump: the producer continues under a new producer id once this ends.
    auto pid = _next_producer_id();
    if (!pid) return answer(ticket, {error_code::coordinator_load_in_progress});
    v.next_producer_id = *pid;
    v.next_producer_epoch = 0;
  }
  prepare(in.transactional_id, t, v, ticket, true, after_write::markers);
}

// ---- timers ----

void transaction_coordinator::tick(int64_t now) {
  std::vector<std::string> expired;
  for (auto& [id, t] : _txns) {
    if (t.pending) continue;
    const txn_value& v = t.value;
    if (v.state == txn_state::ongoing && v.start_ms >= 0 && now - v.start_ms > int64_t(v.timeout_ms)) {
      // Kafka fences the producer of a timed-out transaction with an epoch bump, then aborts it.
      prepare(id, t, ending(t, false, true, now), std::nullopt, false, after_write::markers);
    } else if ((v.state == txn_state::empty || is_complete(v.state)) &&
               now - v.last_update_ms > _settings.id_expiration_ms) {
      expired.push_back(id);
    }
  }
  for (const auto& id : expired) {
    txn& t = _txns.at(id);
    prepare(id, t, std::nullopt, std::nullopt, false, after_write::forget);
  }
}

// ---- write and marker completions ----

void transaction_coordinator::write_completed(uint64_t write_id, error_code result, int64_t now) {
  auto w = _writes.find(write_id);
  if (w == _writes.end()) return;
  const std::string id = w->second;
  _writes.erase(w);
  auto it = _txns.find(id);
  if (it == _txns.end() || !it->second.pending || it->second.pending->write_id != write_id) return;
  txn& t = it->second;
  pending_write p = std::move(*t.pending);
  t.pending.reset();
  if (result != error_code::none) {
    for (uint64_t ticket : p.tickets) answer(ticket, {result});
    // A transaction that stays prepared still needs its markers and its completion.
    if (is_prepare(t.value.state) && p.target && is_complete(p.target->state))
      _out.markers.push_back(marker_job{id, t.value.producer_id, t.value.producer_epoch,
                                        t.value.state == txn_state::prepare_commit, t.value.partitions});
    return;
  }
  if (!p.target) {
    for (uint64_t ticket : p.tickets) answer(ticket, {error_code::none});
    _txns.erase(it);
    return;
  }
  t.value = *p.target;
  reply r{error_code::none, -1, -1};
  if (p.reply_with_target) {
    r.producer_id = t.value.next_producer_id != -1 ? t.value.next_producer_id : t.value.producer_id;
    r.producer_epoch = t.value.next_producer_id != -1 ? t.value.next_producer_epoch : t.value.producer_epoch;
  }
  for (uint64_t ticket : p.tickets) answer(ticket, r);
  if (p.then == after_write::markers) {
    if (t.value.partitions.empty()) return markers_completed(id, now);
    _out.markers.push_back(marker_job{id, t.value.producer_id, t.value.producer_epoch,
                                      t.value.state == txn_state::prepare_commit, t.value.partitions});
  }
}

void transaction_coordinator::markers_completed(const std::string& transactional_id, int64_t now) {
  auto it = _txns.find(transactional_id);
  if (it == _txns.end()) return;
  txn& t = it->second;
  if (t.pending || !is_prepare(t.value.state)) return;
  txn_value v = t.value;
  v.state = t.value.state == txn_state::prepare_commit ? txn_state::complete_commit : txn_state::complete_abort;
  v.partitions.clear();
  v.last_update_ms = now;
  if (v.next_producer_id != -1) {
    // The epoch ran out: the producer id rotates as the transaction completes.
    v.previous_producer_id = v.producer_id;
    v.producer_id = v.next_producer_id;
    v.producer_epoch = v.next_producer_epoch;
    v.next_producer_id = -1;
    v.next_producer_epoch = -1;
  }
  prepare(transactional_id, t, v, std::nullopt, false, after_write::reply);
}

// ---- loading ----

void transaction_coordinator::load(log_partition partition, const std::string& transactional_id,
                                   const std::optional<txn_value>& value) {
  if (!value) {
    _txns.erase(transactional_id);
    return;
  }
  txn& t = _txns[transactional_id];
  t.partition = partition;
  t.value = *value;
}

void transaction_coordinator::finish_loading(log_partition partition) {
  for (const auto& [id, t] : _txns)
    if (t.partition == partition && !t.pending && is_prepare(t.value.state))
      _out.markers.push_back(marker_job{id, t.value.producer_id, t.value.producer_epoch,
                                        t.value.state == txn_state::prepare_commit, t.value.partitions});
}

void transaction_coordinator::unload(log_partition partition) {
  for (auto it = _txns.begin(); it != _txns.end();) {
    if (it->second.partition != partition) {
      ++it;
      continue;
    }
    if (it->second.pending) {
      for (uint64_t ticket : it->second.pending->tickets) answer(ticket, {error_code::not_coordinator});
      _writes.erase(it->second.pending->write_id);
    }
    it = _txns.erase(it);
  }
}

outbox transaction_coordinator::take_outbox() { return std::exchange(_out, outbox{}); }

std::optional<txn_description> transaction_coordinator::describe(const std::string& transactional_id) const {
  auto it = _txns.find(transactional_id);
  if (it == _txns.end()) return std::nullopt;
  return txn_description{it->first, it->second.value, it->second.pending.has_value()};
}

std::vector<txn_description> transaction_coordinator::list() const {
  std::vector<txn_description> out;
  for (const auto& [id, t] : _txns) out.push_back(txn_description{id, t.value, t.pending.has_value()});
  return out;
}

}  // namespace gregor::txn
