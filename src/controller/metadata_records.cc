#include "gregor/controller/metadata_records.h"

#include <limits>

#include <fmt/format.h>

#include "gregor/base/assert.h"
#include "gregor/base/byte_view.h"
#include "gregor/base/crc32c.h"
#include "gregor/protocol/wire.h"

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

// The payload's own primitives on top of protocol::reader/writer. Strings carry an unsigned
// 16-bit length (up to 64 KiB, not Kafka's signed int16), booleans must be 0 or 1, node lists are
// a u32 count then i32 ids.
void write_str(protocol::writer& w, std::string_view s) {
  // Topic names (<= 249), config names and values, hosts: all far below 64 KiB. Longer input is
  // a programmer error upstream (validation happens before records are built).
  GREGOR_ASSERT(s.size() <= std::numeric_limits<uint16_t>::max());
  w.write_uint16(static_cast<uint16_t>(s.size()));
  w.write_raw(byte_view(s));
}

std::string read_str(protocol::reader& r) {
  const uint16_t n = r.read_uint16();
  return std::string(char_view(r.read_raw(n)));
}

bool read_strict_bool(protocol::reader& r) {
  const auto v = static_cast<uint8_t>(r.read_int8());
  if (v > 1) r.fail(fmt::format("boolean byte {} is neither 0 nor 1", v));
  return v == 1;
}

void write_opt_str(protocol::writer& w, const std::optional<std::string>& s) {
  w.write_bool(s.has_value());
  if (s) write_str(w, *s);
}

std::optional<std::string> read_opt_str(protocol::reader& r) {
  if (!read_strict_bool(r)) return std::nullopt;
  return read_str(r);
}

void write_nodes(protocol::writer& w, const std::vector<node_id>& v) {
  w.write_uint32(static_cast<uint32_t>(v.size()));
  for (auto n : v) w.write_int32(n.value());
}

std::vector<node_id> read_nodes(protocol::reader& r) {
  const uint32_t n = r.read_uint32();
  if (n > r.remaining() / 4) {
    r.fail(fmt::format("{} node ids do not fit in {} bytes", n, r.remaining()));
    return {};
  }
  std::vector<node_id> v;
  v.reserve(n);
  for (uint32_t i = 0; i < n; ++i) v.emplace_back(r.read_int32());
  return v;
}

void encode_payload(protocol::writer& w, const metadata_record& r) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, topic_record>) {
          write_str(w, x.name);
          w.write_uuid(x.topic_id);
          w.write_bool(x.internal);
        } else if constexpr (std::is_same_v<T, partition_record>) {
          w.write_uuid(x.topic_id);
          w.write_int32(x.partition.value());
          w.write_int32(x.leader.value());
          w.write_int32(x.leader_epoch.value());
          write_nodes(w, x.replicas);
          write_nodes(w, x.isr);
        } else if constexpr (std::is_same_v<T, partition_change_record>) {
          w.write_uuid(x.topic_id);
          w.write_int32(x.partition.value());
          w.write_int32(x.leader.value());
          w.write_int32(x.leader_epoch.value());
          write_nodes(w, x.isr);
        } else if constexpr (std::is_same_v<T, remove_topic_record>) {
          w.write_uuid(x.topic_id);
        } else if constexpr (std::is_same_v<T, config_record>) {
          w.write_uuid(x.topic_id);
          write_str(w, x.name);
          write_opt_str(w, x.value);
        } else if constexpr (std::is_same_v<T, broker_record>) {
          w.write_int32(x.id.value());
          write_str(w, x.host);
          w.write_int32(x.port);
          write_opt_str(w, x.rack);
        } else if constexpr (std::is_same_v<T, producer_ids_record>) {
          w.write_int32(x.broker.value());
          w.write_int64(x.next_producer_id);
        } else if constexpr (std::is_same_v<T, broker_config_record>) {
          write_str(w, x.resource);
          write_str(w, x.name);
          write_opt_str(w, x.value);
        }
      },
      r);
}

uint8_t type_of(const metadata_record& r) {
  static constexpr uint8_t types[] = {k_topic, k_partition, k_partition_change, k_remove_topic, k_config, k_broker, k_producer_ids, k_broker_config};
  return types[r.index()];
}

std::optional<metadata_record> decode_payload(uint8_t type, std::span<const uint8_t> payload) {
  protocol::reader rd(payload);
  metadata_record out;
  switch (type) {
    case k_topic: {
      topic_record x;
      x.name = read_str(rd);
      x.topic_id = rd.read_uuid();
      x.internal = read_strict_bool(rd);
      out = std::move(x);
      break;
    }
    case k_partition: {
      partition_record x;
      x.topic_id = rd.read_uuid();
      x.partition = partition_id(rd.read_int32());
      x.leader = node_id(rd.read_int32());
      x.leader_epoch = leader_epoch(rd.read_int32());
      x.replicas = read_nodes(rd);
      x.isr = read_nodes(rd);
      out = std::move(x);
      break;
    }
    case k_partition_change: {
      partition_change_record x;
      x.topic_id = rd.read_uuid();
      x.partition = partition_id(rd.read_int32());
      x.leader = node_id(rd.read_int32());
      x.leader_epoch = leader_epoch(rd.read_int32());
      x.isr = read_nodes(rd);
      out = std::move(x);
      break;
    }
    case k_remove_topic: {
      remove_topic_record x;
      x.topic_id = rd.read_uuid();
      out = x;
      break;
    }
    case k_config: {
      config_record x;
      x.topic_id = rd.read_uuid();
      x.name = read_str(rd);
      x.value = read_opt_str(rd);
      out = std::move(x);
      break;
    }
    case k_broker: {
      broker_record x;
      x.id = node_id(rd.read_int32());
      x.host = read_str(rd);
      x.port = rd.read_int32();
      x.rack = read_opt_str(rd);
      out = std::move(x);
      break;
    }
    case k_producer_ids: {
      producer_ids_record x;
      x.broker = node_id(rd.read_int32());
      x.next_producer_id = rd.read_int64();
      if (x.next_producer_id < 0) return std::nullopt;
      out = x;
      break;
    }
    case k_broker_config: {
      broker_config_record x;
      x.resource = read_str(rd);
      x.name = read_str(rd);
      x.value = read_opt_str(rd);
      out = std::move(x);
      break;
    }
    default:
      return std::nullopt;
  }
  if (!rd.ok() || rd.remaining() != 0) return std::nullopt;
  return out;
}

}  // namespace

std::string encode_frame(const std::vector<metadata_record>& records) {
  std::vector<uint8_t> body;
  protocol::writer w(body);
  w.write_int8(static_cast<int8_t>(metadata_frame_version));
  w.write_uint32(static_cast<uint32_t>(records.size()));
  std::vector<uint8_t> payload;
  for (const auto& r : records) {
    payload.clear();
    protocol::writer pw(payload);
    encode_payload(pw, r);
    w.write_int8(static_cast<int8_t>(type_of(r)));
    w.write_uint32(static_cast<uint32_t>(payload.size()));
    w.write_raw(payload);
  }
  GREGOR_ASSERT(body.size() <= metadata_frame_bytes_max);
  std::vector<uint8_t> header;
  protocol::writer h(header);
  h.write_uint32(static_cast<uint32_t>(body.size()));
  h.write_uint32(crc32c(body.data(), body.size()));
  std::string frame;
  frame.reserve(header.size() + body.size());
  frame.append(char_view(header));
  frame.append(char_view(body));
  return frame;
}

decoded_frame decode_frame(std::string_view bytes) {
  decoded_frame out;
  protocol::reader hdr(byte_view(bytes));
  uint32_t length = hdr.read_uint32();
  uint32_t crc = hdr.read_uint32();
  if (!hdr.ok()) {
    out.why = "frame header cut short";
    return out;
  }
  if (length > metadata_frame_bytes_max) {
    out.status = decode_status::corrupt;
    out.why = fmt::format("frame length {} exceeds the limit", length);
    return out;
  }
  if (length > hdr.remaining()) {
    out.why = fmt::format("frame of {} bytes cut short at {}", length, hdr.remaining());
    return out;
  }
  std::string_view body = bytes.substr(metadata_frame_header_bytes, length);
  if (crc32c(body.data(), body.size()) != crc) {
    out.status = decode_status::corrupt;
    out.why = "frame crc32c mismatch";
    return out;
  }
  protocol::reader rd(byte_view(body));
  auto version = static_cast<uint8_t>(rd.read_int8());
  uint32_t count = rd.read_uint32();
  if (!rd.ok() || version != metadata_frame_version || count > rd.remaining() / 5) {
    out.status = decode_status::corrupt;
    out.why = fmt::format("bad frame version {} or record count {}", version, count);
    return out;
  }
  for (uint32_t i = 0; i < count; ++i) {
    auto type = static_cast<uint8_t>(rd.read_int8());
    uint32_t n = rd.read_uint32();
    std::span<const uint8_t> payload = rd.read_raw(n);
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
  if (!rd.ok() || rd.remaining() != 0) {
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
