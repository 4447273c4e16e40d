#include "gregor/controller/metadata_records.h"

#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "gregor/base/assert.h"
#include "gregor/base/crc32c.h"

namespace gregor::controller {
namespace {

enum record_type : uint8_t {
  k_topic = 1,
  k_partition = 2,
  k_partition_change = 3,
  k_remove_topic = 4,
  k_config = 5,
  k_broker = 6,
  k_producer_ids = 7,
  k_broker_config = 8,
};

class writer {
 public:
  explicit writer(std::string& out) : _out(out) {}
  void u8(uint8_t v) { _out.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) { be(v, 2); }
  void u32(uint32_t v) { be(v, 4); }
  void i32(int32_t v) { be(static_cast<uint32_t>(v), 4); }
  void u64(uint64_t v) { be(v, 8); }
  void boolean(bool v) { u8(v ? 1 : 0); }
  void id(const uuid& u) {
    u64(u.hi);
    u64(u.lo);
  }
  void str(std::string_view s) {
    // Topic names (<= 249), config names and values, hosts: all far below 64 KiB. Longer input is
    // a programmer error upstream (validation happens before records are built).
    GREGOR_ASSERT(s.size() <= std::numeric_limits<uint16_t>::max());
    u16(static_cast<uint16_t>(s.size()));
    _out.append(s);
  }
  void opt_str(const std::optional<std::string>& s) {
    boolean(s.has_value());
    if (s) str(*s);
  }
  void nodes(const std::vector<node_id>& v) {
    u32(static_cast<uint32_t>(v.size()));
    for (auto n : v) i32(n.value());
  }

 private:
  void be(uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) _out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
  std::string& _out;
};

// Sticky-error reader: after the first failure every read returns a default; check ok() once.
class reader {
 public:
  explicit reader(std::string_view in) : _in(in) {}
  bool ok() const { return _ok; }
  size_t left() const { return _in.size() - _pos; }
  uint8_t u8() { return static_cast<uint8_t>(be(1)); }
  uint16_t u16() { return static_cast<uint16_t>(be(2)); }
  uint32_t u32() { return static_cast<uint32_t>(be(4)); }
  int32_t i32() { return static_cast<int32_t>(static_cast<uint32_t>(be(4))); }
  uint64_t u64() { return be(8); }
  bool boolean() {
    uint8_t v = u8();
    if (v > 1) _ok = false;
    return v == 1;
  }
  uuid id() {
    uuid u;
    u.hi = u64();
    u.lo = u64();
    return u;
  }
  std::string str() {
    uint16_t n = u16();
    if (!_ok || n > left()) {
      _ok = false;
      return {};
    }
    std::string s(_in.substr(_pos, n));
    _pos += n;
    return s;
  }
  std::optional<std::string> opt_str() {
    if (!boolean()) return std::nullopt;
    return str();
  }
  std::vector<node_id> nodes() {
    uint32_t n = u32();
    if (!_ok || n > left() / 4) {
      _ok = false;
      return {};
    }
    std::vector<node_id> v;
    v.reserve(n);
    for (uint32_t i = 0; i < n; ++i) v.emplace_back(i32());
    return v;
  }
  std::string_view take(size_t n) {
    if (!_ok || n > left()) {
      _ok = false;
      return {};
    }
    auto s = _in.substr(_pos, n);
    _pos += n;
    return s;
  }

 private:
  uint64_t be(int bytes) {
    if (!_ok || left() < static_cast<size_t>(bytes)) {
      _ok = false;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(_in[_pos + i]);
    _pos += bytes;
    return v;
  }
  std::string_view _in;
  size_t _pos = 0;
  bool _ok = true;
};

void encode_payload(writer& w, const metadata_record& r) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, topic_record>) {
          w.str(x.name);
          w.id(x.topic_id);
          w.boolean(x.internal);
        } else if constexpr (std::is_same_v<T, partition_record>) {
          w.id(x.topic_id);
          w.i32(x.partition.value());
          w.i32(x.leader.value());
          w.i32(x.leader_epoch.value());
          w.nodes(x.replicas);
          w.nodes(x.isr);
        } else if constexpr (std::is_same_v<T, partition_change_record>) {
          w.id(x.topic_id);
          w.i32(x.partition.value());
          w.i32(x.leader.value());
          w.i32(x.leader_epoch.value());
          w.nodes(x.isr);
        } else if constexpr (std::is_same_v<T, remove_topic_record>) {
          w.id(x.topic_id);
        } else if constexpr (std::is_same_v<T, config_record>) {
          w.id(x.topic_id);
          w.str(x.name);
          w.opt_str(x.value);
        } else if constexpr (std::is_same_v<T, broker_record>) {
          w.i32(x.id.value());
          w.str(x.host);
          w.i32(x.port);
          w.opt_str(x.rack);
        } else if constexpr (std::is_same_v<T, producer_ids_record>) {
          w.i32(x.broker.value());
          w.u64(static_cast<uint64_t>(x.next_producer_id));
        } else if constexpr (std::is_same_v<T, broker_config_record>) {
          w.str(x.resource);
          w.str(x.name);
          w.opt_str(x.value);
        }
      },
      r);
}

uint8_t type_of(const metadata_record& r) {
  static constexpr uint8_t types[] = {k_topic, k_partition, k_partition_change, k_remove_topic, k_config, k_broker, k_producer_ids, k_broker_config};
  return types[r.index()];
}

std::optional<metadata_record> decode_payload(uint8_t type, std::string_view payload) {
  reader rd(payload);
  metadata_record out;
  switch (type) {
    case k_topic: {
      topic_record x;
      x.name = rd.str();
      x.topic_id = rd.id();
      x.internal = rd.boolean();
      out = std::move(x);
      break;
    }
    case k_partition: {
      partition_record x;
      x.topic_id = rd.id();
      x.partition = partition_id(rd.i32());
      x.leader = node_id(rd.i32());
      x.leader_epoch = leader_epoch(rd.i32());
      x.replicas = rd.nodes();
      x.isr = rd.nodes();
      out = std::move(x);
      break;
    }
    case k_partition_change: {
      partition_change_record x;
      x.topic_id = rd.id();
      x.partition = partition_id(rd.i32());
      x.leader = node_id(rd.i32());
      x.leader_epoch = leader_epoch(rd.i32());
      x.isr = rd.nodes();
      out = std::move(x);
      break;
    }
    case k_remove_topic: {
      remove_topic_record x;
      x.topic_id = rd.id();
      out = x;
      break;
    }
    case k_config: {
      config_record x;
      x.topic_id = rd.id();
      x.name = rd.str();
      x.value = rd.opt_str();
      out = std::move(x);
      break;
    }
    case k_broker: {
      broker_record x;
      x.id = node_id(rd.i32());
      x.host = rd.str();
      x.port = rd.i32();
      x.rack = rd.opt_str();
      out = std::move(x);
      break;
    }
    case k_producer_ids: {
      producer_ids_record x;
      x.broker = node_id(rd.i32());
      x.next_producer_id = static_cast<int64_t>(rd.u64());
      if (x.next_producer_id < 0) return std::nullopt;
      out = x;
      break;
    }
    case k_broker_config: {
      broker_config_record x;
      x.resource = rd.str();
      x.name = rd.str();
      x.value = rd.opt_str();
      out = std::move(x);
      break;
    }
    default:
      return std::nullopt;
  }
  if (!rd.ok() || rd.left() != 0) return std::nullopt;
  return out;
}

}  // namespace

std::string encode_frame(const std::vector<metadata_record>& records) {
  std::string body;
  writer w(body);
  w.u8(metadata_frame_version);
  w.u32(static_cast<uint32_t>(records.size()));
  for (const auto& r : records) {
    std::string payload;
    writer pw(payload);
    encode_payload(pw, r);
    w.u8(type_of(r));
    w.u32(static_cast<uint32_t>(payload.size()));
    body.append(payload);
  }
  GREGOR_ASSERT(body.size() <= metadata_frame_bytes_max);
  std::string frame;
  writer fw(frame);
  fw.u32(static_cast<uint32_t>(body.size()));
  fw.u32(crc32c(body.data(), body.size()));
  frame.append(body);
  return frame;
}

decoded_frame decode_frame(std::string_view bytes) {
  decoded_frame out;
  reader hdr(bytes);
  uint32_t length = hdr.u32();
  uint32_t crc = hdr.u32();
  if (!hdr.ok()) {
    out.why = "frame header cut short";
    return out;
  }
  if (length > metadata_frame_bytes_max) {
    out.status = decode_status::corrupt;
    out.why = fmt::format("frame length {} exceeds the limit", length);
    return out;
  }
  if (length > hdr.left()) {
    out.why = fmt::format("frame of {} bytes cut short at {}", length, hdr.left());
    return out;
  }
  std::string_view body = bytes.substr(metadata_frame_header_bytes, length);
  if (crc32c(body.data(), body.size()) != crc) {
    out.status = decode_status::corrupt;
    out.why = "frame crc32c mismatch";
    return out;
  }
  reader rd(body);
  uint8_t version = rd.u8();
  uint32_t count = rd.u32();
  if (!rd.ok() || version != metadata_frame_version || count > rd.left() / 5) {
    out.status = decode_status::corrupt;
    out.why = fmt::format("bad frame version {} or record count {}", version, count);
    return out;
  }
  for (uint32_t i = 0; i < count; ++i) {
    uint8_t type = rd.u8();
    uint32_t n = rd.u32();
    std::string_view payload = rd.take(n);
    if (!rd.ok()) break;
    auto r = decode_payload(type, payload);
    if (!r) {
      out.status = decode_status::corrupt;
      out.why = fmt::format("record {} of type {} does not decode", i, type);
      out.records.clear();
      return out;
    }
    out.records.push_back(std::move(*r));
  }
  if (!rd.ok() || rd.left() != 0) {
    out.status = decode_status::corrupt;
    out.why = "records do not fill the frame exactly";
    out.records.clear();
    return out;
  }
  out.status = decode_status::ok;
  out.frame_bytes = metadata_frame_header_bytes + length;
  return out;
}

}  // namespace gregor::controller
