#include "gregor/txn/producer_state.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "gregor/base/byte_view.h"
#include "gregor/base/crc32c.h"
#include "gregor/protocol/record_batch.h"
#include "gregor/protocol/wire.h"

namespace gregor::txn {
namespace {

// Sequences wrap from INT32_MAX to 0. Compared in 64 bits: `last + 1` on INT32_MAX would be
// signed overflow, which the optimiser may assume never happens.
bool in_sequence(int32_t last, int32_t next) {
  return int64_t(next) == int64_t(last) + 1 ||
         (next == 0 && last == std::numeric_limits<int32_t>::max());
}

constexpr size_t header_bytes = 8 + 2 + 4;            // magic, version, crc
constexpr size_t producer_bytes_min = 8 + 2 + 8 + 1;  // pid, epoch, timestamp, batch count
constexpr size_t batch_bytes = 4 + 4 + 8 + 8 + 8;

}  // namespace

int32_t batch_identity::last_sequence() const {
  if (base_sequence < 0) return no_sequence;
  const int64_t last = int64_t(base_sequence) + last_offset_delta;
  if (last > std::numeric_limits<int32_t>::max())
    return int32_t(last - std::numeric_limits<int32_t>::max() - 1);
  return int32_t(last);
}

result<check_verdict, producer_error> producer_state::check(const batch_identity& b,
                                                            append_origin origin) const {
  if (!b.idempotent()) {
    if (b.transactional && origin != append_origin::replication)
      return failure{producer_error{producer_errc::invalid_record,
                                    "a transactional batch must carry a producer id"}};
    return check_verdict{};
  }
  if (origin == append_origin::replication) return check_verdict{};
  const producer_entry* e = find(b.pid);
  if (origin == append_origin::coordinator) {
    // Kafka's AppendOrigin.COORDINATOR: the epoch is checked, sequences are not.
    if (e && b.epoch < e->epoch)
      return failure{producer_error{producer_errc::invalid_producer_epoch,
                                    fmt::format("producer {} epoch {} is older than its current epoch {}", b.pid,
                                                b.epoch, e->epoch)}};
    return check_txn_state(e, b);
  }
  // No state here (never written, expired, or removed by retention or DeleteRecords): Kafka's
  // ProducerAppendInfo accepts any first sequence since KIP-360 (no UNKNOWN_PRODUCER_ID), and
  // the producer's entry starts with this batch.
  if (!e) return check_verdict{};
  if (b.epoch < e->epoch)
    return failure{
        producer_error{producer_errc::invalid_producer_epoch,
                       fmt::format("producer {} epoch {} is older than its current epoch {}", b.pid,
                                   b.epoch, e->epoch)}};
  if (b.epoch == e->epoch) {
    const int32_t last = b.last_sequence();
    for (const auto& m : e->batches)
      if (m.first_sequence == b.base_sequence && m.last_sequence == last) return check_verdict{m};
    if (!in_sequence(e->last_sequence(), b.base_sequence))
      return failure{producer_error{
          producer_errc::out_of_order_sequence,
          fmt::format(
              "producer {} epoch {}: batch sequence {} does not follow the last sequence {}", b.pid,
              b.epoch, b.base_sequence, e->last_sequence())}};
    return check_txn_state(e, b);
  }
  if (b.base_sequence != 0)
    return failure{
        producer_error{producer_errc::out_of_order_sequence,
                       fmt::format("producer {} new epoch {} must start at sequence 0, not {}",
                                   b.pid, b.epoch, b.base_sequence)}};
  return check_txn_state(e, b);
}

result<check_verdict, producer_error> producer_state::check_txn_state(const producer_entry* e,
                                                                      const batch_identity& b) {
  // Kafka's appendDataBatch: a transaction in progress only takes transactional batches.
  if (e && e->current_txn_first_offset && !b.transactional)
    return failure{producer_error{
        producer_errc::invalid_txn_state,
        fmt::format("producer {} sent a non-transactional batch while its transaction from offset {} is ongoing",
                    b.pid, *e->current_txn_first_offset)}};
  return check_verdict{};
}

result<void, producer_error> producer_state::check_marker(producer_id pid, producer_epoch epoch,
                                                          int32_t coordinator_epoch) const {
  const producer_entry* e = find(pid);
  if (!e) return ok;
  if (epoch < e->epoch)
    return failure{producer_error{producer_errc::invalid_producer_epoch,
                                  fmt::format("marker for producer {} at epoch {} is older than its current epoch {}",
                                              pid, epoch, e->epoch)}};
  if (coordinator_epoch < e->coordinator_epoch)
    return failure{producer_error{
        producer_errc::coordinator_fenced,
        fmt::format("marker for producer {} from coordinator epoch {} is older than the last one, {}", pid,
                    coordinator_epoch, e->coordinator_epoch)}};
  return ok;
}

void producer_state::end_txn(producer_entry& e) {
  if (!e.current_txn_first_offset) return;
  _ongoing.erase(*e.current_txn_first_offset);
  e.current_txn_first_offset.reset();
}

std::optional<completed_txn> producer_state::record_marker(producer_id pid, producer_epoch epoch,
                                                           end_txn_marker m, offset at, int64_t timestamp_ms) {
  if (at + 1 > _end_offset) _end_offset = at + 1;
  auto& e = _producers[pid];
  e.pid = pid;
  if (epoch != e.epoch) {
    // Kafka's maybeUpdateProducerEpoch: a bumped epoch (transaction version 2) starts a new
    // sequence space.
    e.epoch = epoch;
    e.batches.clear();
  }
  std::optional<completed_txn> done;
  if (e.current_txn_first_offset) {
    done = completed_txn{pid, *e.current_txn_first_offset, at, !m.commit};
    _unreplicated[*e.current_txn_first_offset] = at;
  }
  end_txn(e);
  e.coordinator_epoch = m.coordinator_epoch;
  e.last_timestamp_ms = timestamp_ms;
  return done;
}

offset producer_state::last_stable_offset_after(const completed_txn& t) const {
  for (const auto& [first, pid] : _ongoing)
    if (pid != t.pid) return first;
  return t.last_offset + 1;
}

std::optional<offset> producer_state::first_unstable_offset() const {
  std::optional<offset> out;
  if (!_ongoing.empty()) out = _ongoing.begin()->first;
  if (!_unreplicated.empty() && (!out || _unreplicated.begin()->first < *out)) out = _unreplicated.begin()->first;
  return out;
}

offset producer_state::last_stable_offset(offset high_watermark) {
  std::erase_if(_unreplicated, [&](const auto& kv) { return kv.second < high_watermark; });
  const auto first = first_unstable_offset();
  return first && *first < high_watermark ? *first : high_watermark;
}

void producer_state::apply(const batch_identity& b, offset first, offset last,
                           int64_t timestamp_ms) {
  auto& e = _producers[b.pid];
  e.pid = b.pid;
  if (b.epoch != e.epoch) {
    // A new epoch starts a new sequence space: the old batches can no longer be duplicates.
    e.epoch = b.epoch;
    e.batches.clear();
  }
  e.batches.push_back(
      batch_metadata{b.base_sequence, b.last_sequence(), first, last, timestamp_ms});
  if (b.transactional && !e.current_txn_first_offset) {
    e.current_txn_first_offset = first;
    _ongoing[first] = b.pid;
  }
  while (e.batches.size() > batches_retained_max) e.batches.pop_front();
  e.last_timestamp_ms = timestamp_ms;
}

void producer_state::record(const batch_identity& b, offset first, offset last, int64_t timestamp_ms) {
  if (last + 1 > _end_offset) _end_offset = last + 1;
  if (!b.idempotent()) return;
  apply(b, first, last, timestamp_ms);
}

void producer_state::replay(const batch_identity& b, offset first, offset last,
                            int64_t timestamp_ms) {
  record(b, first, last, timestamp_ms);
}

size_t producer_state::expire(int64_t now_ms) {
  size_t n = 0;
  for (auto it = _producers.begin(); it != _producers.end();) {
    if (!it->second.current_txn_first_offset && now_ms - it->second.last_timestamp_ms > _expiration_ms) {
      it = _producers.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

size_t producer_state::truncate_head(offset log_start) {
  size_t n = 0;
  for (auto it = _producers.begin(); it != _producers.end();) {
    if (it->second.batches.empty() || it->second.last_offset() < log_start) {
      end_txn(it->second);
      it = _producers.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  std::erase_if(_unreplicated, [&](const auto& kv) { return kv.second < log_start; });
  return n;
}

const producer_entry* producer_state::find(producer_id pid) const {
  auto it = _producers.find(pid);
  return it == _producers.end() ? nullptr : &it->second;
}

void producer_state::clear() {
  _producers.clear();
  _ongoing.clear();
  _unreplicated.clear();
  _end_offset = offset(0);
}

std::string producer_state::encode_snapshot() const {
  std::vector<uint8_t> body;
  protocol::writer w(body);
  w.write_int64(_end_offset.value());
  w.write_uint32(uint32_t(_producers.size()));
  for (const auto& [pid, e] : _producers) {
    w.write_int64(pid.value());
    w.write_int16(e.epoch.value());
    w.write_int64(e.last_timestamp_ms);
    w.write_int32(e.coordinator_epoch);
    w.write_int64(e.current_txn_first_offset ? e.current_txn_first_offset->value() : -1);
    w.write_int8(int8_t(uint8_t(e.batches.size())));
    for (const auto& m : e.batches) {
      w.write_int32(m.first_sequence);
      w.write_int32(m.last_sequence);
      w.write_int64(m.first_offset.value());
      w.write_int64(m.last_offset.value());
      w.write_int64(m.timestamp_ms);
    }
  }
  std::vector<uint8_t> header;
  protocol::writer h(header);
  h.write_raw(byte_view(snapshot_magic));
  h.write_uint16(snapshot_version);
  h.write_uint32(crc32c(body.data(), body.size()));
  std::string out;
  out.reserve(header.size() + body.size());
  out.append(char_view(header));
  out.append(char_view(body));
  return out;
}

result<void, std::string> producer_state::decode_snapshot(std::string_view bytes) {
  if (bytes.size() < header_bytes || bytes.substr(0, snapshot_magic.size()) != snapshot_magic)
    return failure{std::string("not a producer snapshot (bad magic or too short)")};
  protocol::reader h(byte_view(bytes.substr(snapshot_magic.size())));
  const uint16_t version = h.read_uint16();
  const uint32_t crc = h.read_uint32();
  if (version < snapshot_version_min || version > snapshot_version)
    return failure{fmt::format("unsupported snapshot version {}", version)};
  const size_t producer_bytes = producer_bytes_min + (version >= 2 ? 4 + 8 : 0);
  std::string_view body = bytes.substr(header_bytes);
  if (crc32c(body.data(), body.size()) != crc)
    return failure{std::string("snapshot crc32c mismatch")};

  protocol::reader r(byte_view(body));
  const int64_t end = r.read_int64();
  const uint32_t count = r.read_uint32();
  if (!r.ok() || end < 0 || count > r.remaining() / producer_bytes)
    return failure{fmt::format("bad snapshot header (end offset {}, {} producers)", end, count)};
  std::map<producer_id, producer_entry> producers;
  for (uint32_t i = 0; i < count; ++i) {
    producer_entry e;
    e.pid = producer_id(r.read_int64());
    e.epoch = producer_epoch(r.read_int16());
    e.last_timestamp_ms = r.read_int64();
    int64_t txn_first = -1;
    if (version >= 2) {
      e.coordinator_epoch = r.read_int32();
      txn_first = r.read_int64();
    }
    if (txn_first >= 0) e.current_txn_first_offset = offset(txn_first);
    const uint8_t batches = uint8_t(r.read_int8());
    if (!r.ok() || e.pid.value() < 0 || batches > batches_retained_max || txn_first < -1 || txn_first >= end ||
        batches > r.remaining() / batch_bytes)
      return failure{fmt::format("bad producer entry {} in snapshot", i)};
    for (uint8_t j = 0; j < batches; ++j) {
      batch_metadata m;
      m.first_sequence = r.read_int32();
      m.last_sequence = r.read_int32();
      m.first_offset = offset(r.read_int64());
      m.last_offset = offset(r.read_int64());
      m.timestamp_ms = r.read_int64();
      e.batches.push_back(m);
    }
    if (!producers.emplace(e.pid, std::move(e)).second)
      return failure{fmt::format("producer listed twice in snapshot (entry {})", i)};
  }
  if (!r.ok() || r.remaining() != 0)
    return failure{std::string("snapshot has bytes left over or is cut short")};
  std::map<offset, producer_id> ongoing;
  for (const auto& [pid, e] : producers)
    if (e.current_txn_first_offset && !ongoing.emplace(*e.current_txn_first_offset, pid).second)
      return failure{fmt::format("two ongoing transactions start at offset {} in snapshot", *e.current_txn_first_offset)};
  _producers = std::move(producers);
  _ongoing = std::move(ongoing);
  _unreplicated.clear();
  _end_offset = offset(end);
  return ok;
}

std::optional<end_txn_marker> parse_end_txn_marker(std::span<const uint8_t> batch) {
  auto h = protocol::parse_batch_header(batch);
  if (!h || !h->is_control() || h->records_count != 1) return std::nullopt;
  std::optional<end_txn_marker> out;
  bool bad = false;
  auto r = protocol::for_each_record(batch, [&](const protocol::record_view& rec) {
    if (!rec.key || rec.key->size() < 4 || !rec.value || rec.value->size() < 6) {
      bad = true;
      return;
    }
    protocol::reader k(byte_view(*rec.key));
    const int16_t key_version = k.read_int16();
    const int16_t type = k.read_int16();
    protocol::reader v(byte_view(*rec.value));
    (void)v.read_int16();  // value version: Kafka reads version 0's fields from any version
    const int32_t coordinator_epoch = v.read_int32();
    if (key_version != 0 || (type != 0 && type != 1)) {
      bad = true;
      return;
    }
    out = end_txn_marker{type == 1, coordinator_epoch};
  });
  if (!r || bad) return std::nullopt;
  return out;
}

std::vector<uint8_t> build_end_txn_marker_batch(producer_id pid, producer_epoch epoch, end_txn_marker m,
                                                int64_t timestamp_ms) {
  std::vector<uint8_t> key, value;
  protocol::writer k(key);
  k.write_int16(0);
  k.write_int16(m.commit ? 1 : 0);
  protocol::writer v(value);
  v.write_int16(0);
  v.write_int32(m.coordinator_epoch);
  protocol::batch_options opts;
  opts.base_timestamp = timestamp_ms;
  opts.producer_id = pid.value();
  opts.producer_epoch = epoch.value();
  opts.base_sequence = no_sequence;
  opts.transactional = true;
  opts.control = true;
  protocol::record_input rec;
  rec.key = std::string(char_view(key));
  rec.value = std::string(char_view(value));
  rec.timestamp = timestamp_ms;
  return protocol::build_batch({rec}, opts);
}

}  // namespace gregor::txn
