// fuzz_state: the records a broker replays from its own internal topics and state files after a
// restart: __consumer_offsets keys and values (classic offsets and groups, KIP-848 consumer group
// records), __transaction_state keys and values, and producer-state snapshot files.
//
// Input: a selector byte, then the bytes. Selector % 6: 0 an offsets-topic key; 1 an offset
// commit value; 2 a classic group value; 3 a KIP-848 record (a key then, after a 2-byte length, its
// value); 4 a transaction-log key and value (same split); 5 a producer snapshot.
//
// Properties: no crash, no out-of-bounds read; what decodes re-encodes to bytes that decode and
// re-encode to the same bytes; a producer snapshot that loads re-encodes to one that loads.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fuzz.h"
#include "gregor/group/offsets_records.h"
#include "gregor/txn/producer_state.h"
#include "gregor/txn/transaction_log.h"

namespace {

using namespace gregor;

std::string_view as_text(const std::vector<uint8_t>& v) { return {reinterpret_cast<const char*>(v.data()), v.size()}; }

// (first, rest) split by a 2-byte big-endian length prefix.
std::pair<std::span<const uint8_t>, std::span<const uint8_t>> split(fuzz::input in) {
  if (in.bytes.size() < 2) return {{}, {}};
  const size_t n = std::min<size_t>(size_t(in.bytes[0]) << 8 | in.bytes[1], in.bytes.size() - 2);
  return {in.bytes.subspan(2, n), in.bytes.subspan(2 + n)};
}

template <class Decode, class Encode>
void round_trip(std::string_view bytes, Decode decode, Encode encode, const char* what) {
  auto once = decode(bytes);
  if (!once) return;
  const std::vector<uint8_t> e1 = encode(*once);
  auto twice = decode(as_text(e1));
  FUZZ_CHECK(twice.has_value(), "%s: a re-encoded value does not decode", what);
  FUZZ_CHECK(encode(*twice) == e1, "%s: decode(encode(v)) re-encodes differently", what);
}

std::optional<uuid> id_of(const std::string& topic) {
  if (topic.empty()) return std::nullopt;
  return uuid{std::hash<std::string>{}(topic), 1};
}

void kip848_record(fuzz::input in) {
  auto [key_bytes, value_bytes] = split(in);
  auto key = group::decode_key({reinterpret_cast<const char*>(key_bytes.data()), key_bytes.size()});
  if (!key || !std::holds_alternative<group::cg_key>(*key)) return;
  const auto& ck = std::get<group::cg_key>(*key);
  std::optional<std::string_view> value;
  if (!value_bytes.empty()) value = std::string_view(reinterpret_cast<const char*>(value_bytes.data()), value_bytes.size());
  // Every id names a topic in this lookup, so nothing is dropped and the record re-encodes whole.
  auto names = [](const uuid& id) -> std::optional<std::string> { return "t" + std::to_string(id.hi ^ id.lo); };
  auto rec = group::decode_cg_record(ck, value, names);
  if (!rec) return;
  (void)group::encode_cg_key(*rec);
  (void)group::encode_cg_value(*rec, id_of);
}

void txn_log(fuzz::input in) {
  auto [key, value] = split(in);
  if (auto id = txn::decode_txn_key(key)) {
    auto again = txn::decode_txn_key(txn::encode_txn_key(*id));
    FUZZ_CHECK(again && *again == *id, "transaction-log key does not round-trip");
  }
  if (auto v = txn::decode_txn_value(value)) {
    const auto e1 = txn::encode_txn_value(*v);
    auto again = txn::decode_txn_value(e1);
    FUZZ_CHECK(again.has_value(), "a re-encoded transaction-log value does not decode");
    FUZZ_CHECK(txn::encode_txn_value(*again) == e1, "transaction-log value: decode(encode(v)) re-encodes differently");
  }
}

void producer_snapshot(fuzz::input in) {
  txn::producer_state state(7 * 24 * 3600 * 1000LL);
  if (!state.decode_snapshot(in.text())) return;
  const std::string e1 = state.encode_snapshot();
  txn::producer_state again(7 * 24 * 3600 * 1000LL);
  auto loaded = again.decode_snapshot(e1);
  FUZZ_CHECK(loaded.has_value(), "a re-encoded producer snapshot does not load: %s", loaded.error().c_str());
  FUZZ_CHECK(again.encode_snapshot() == e1, "producer snapshot: decode(encode(s)) re-encodes differently");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::input in{{data, size}};
  const uint8_t selector = in.take_byte();
  switch (selector % 6) {
    case 0:
      if (auto key = group::decode_key(in.text())) {
        if (auto* k = std::get_if<group::offset_key>(&*key)) {
          auto again = group::decode_key(as_text(group::encode_offset_key(k->group, k->tp)));
          FUZZ_CHECK(again && std::holds_alternative<group::offset_key>(*again), "offset key does not round-trip");
        }
      }
      break;
    case 1:
      round_trip(in.text(), group::decode_offset_value, group::encode_offset_value, "offset commit value");
      break;
    case 2:
      round_trip(in.text(), group::decode_group_value, group::encode_group_value, "group value");
      break;
    case 3: kip848_record(in); break;
    case 4: txn_log(in); break;
    case 5: producer_snapshot(in); break;
  }
  return 0;
}
