#include "gregor/txn/transaction_log.h"

#include <array>

#include "gregor/protocol/wire.h"

namespace gregor::txn {
namespace {

constexpr std::array<std::string_view, 8> state_names = {
    "Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence",
};

void write_tag_i64(protocol::writer& w, uint32_t tag, int64_t v) {
  w.write_unsigned_varint(tag);
  w.write_unsigned_varint(8);
  w.write_int64(v);
}

void write_tag_i16(protocol::writer& w, uint32_t tag, int16_t v) {
  w.write_unsigned_varint(tag);
  w.write_unsigned_varint(2);
  w.write_int16(v);
}

// Skips a tagged-field section, keeping the fields this layout knows.
void read_tags(protocol::reader& r, txn_value* v) {
  const uint32_t n = r.read_unsigned_varint();
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    const uint32_t tag = r.read_unsigned_varint();
    const uint32_t size = r.read_unsigned_varint();
    auto data = r.read_raw(size);
    if (!r.ok() || !v) continue;
    protocol::reader f(data);
    if (tag == 0 && size == 8) v->previous_producer_id = f.read_int64();
    else if (tag == 1 && size == 8) v->next_producer_id = f.read_int64();
    else if (tag == 2 && size == 2) v->client_transaction_version = f.read_int16();
    else if (tag == 3 && size == 2) v->next_producer_epoch = f.read_int16();
  }
}

}  // namespace

std::string_view state_name(txn_state s) {
  const auto i = size_t(int8_t(s));
  return i < state_names.size() ? state_names[i] : std::string_view("Unknown");
}

std::optional<txn_state> state_from_name(std::string_view name) {
  for (size_t i = 0; i < state_names.size(); ++i)
    if (state_names[i] == name) return txn_state(int8_t(i));
  return std::nullopt;
}

std::vector<uint8_t> encode_txn_key(std::string_view transactional_id) {
  std::vector<uint8_t> out;
  protocol::writer w(out);
  w.write_int16(0);
  w.write_string(transactional_id, false);
  return out;
}

std::optional<std::string> decode_txn_key(std::span<const uint8_t> key) {
  protocol::reader r(key);
  if (r.read_int16() != 0) return std::nullopt;
  std::string id = r.read_string(false);
  if (!r.ok() || r.remaining() != 0) return std::nullopt;
  return id;
}

std::vector<uint8_t> encode_txn_value(const txn_value& v) {
  const bool flexible = v.client_transaction_version >= 2;
  std::vector<uint8_t> out;
  protocol::writer w(out);
  w.write_int16(flexible ? 1 : 0);
  w.write_int64(v.producer_id);
  w.write_int16(v.producer_epoch);
  w.write_int32(v.timeout_ms);
  w.write_int8(int8_t(v.state));
  // Kafka writes no partition list (null) for an Empty transaction.
  if (v.state == txn_state::empty) {
    w.write_array_length(-1, flexible);
  } else {
    w.write_array_length(int32_t(v.partitions.size()), flexible);
    for (const auto& [topic, ids] : v.partitions) {
      w.write_string(topic, flexible);
      w.write_array_length(int32_t(ids.size()), flexible);
      for (int32_t p : ids) w.write_int32(p);
      if (flexible) w.write_unsigned_varint(0);
    }
  }
  w.write_int64(v.last_update_ms);
  w.write_int64(v.start_ms);
  if (flexible) {
    uint32_t tags = 0;
    tags += v.previous_producer_id != -1;
    tags += v.next_producer_id != -1;
    tags += v.client_transaction_version != 0;
    tags += v.next_producer_epoch != -1;
    w.write_unsigned_varint(tags);
    if (v.previous_producer_id != -1) write_tag_i64(w, 0, v.previous_producer_id);
    if (v.next_producer_id != -1) write_tag_i64(w, 1, v.next_producer_id);
    if (v.client_transaction_version != 0) write_tag_i16(w, 2, v.client_transaction_version);
    if (v.next_producer_epoch != -1) write_tag_i16(w, 3, v.next_producer_epoch);
  }
  return out;
}

std::optional<txn_value> decode_txn_value(std::span<const uint8_t> value) {
  protocol::reader r(value);
  const int16_t version = r.read_int16();
  if (!r.ok() || version < 0 || version > 1) return std::nullopt;
  const bool flexible = version >= 1;
  txn_value v;
  v.producer_id = r.read_int64();
  v.producer_epoch = r.read_int16();
  v.timeout_ms = r.read_int32();
  const int8_t state = r.read_int8();
  if (state < 0 || state > int8_t(txn_state::prepare_epoch_fence)) return std::nullopt;
  v.state = txn_state(state);
  const int32_t topics = r.read_array_length(flexible, flexible ? 3 : 6);
  for (int32_t i = 0; i < topics && r.ok(); ++i) {
    std::string topic = r.read_string(flexible);
    auto& ids = v.partitions[topic];
    const int32_t n = r.read_array_length(flexible, 4);
    for (int32_t j = 0; j < n && r.ok(); ++j) ids.insert(r.read_int32());
    if (flexible) read_tags(r, nullptr);
  }
  v.last_update_ms = r.read_int64();
  v.start_ms = r.read_int64();
  if (flexible) read_tags(r, &v);
  if (!r.ok() || r.remaining() != 0) return std::nullopt;
  return v;
}

}  // namespace gregor::txn
