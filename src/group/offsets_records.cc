#include "gregor/group/offsets_records.h"

#include <algorithm>

#include "gregor/base/byte_view.h"
#include "gregor/protocol/wire.h"

namespace gregor::group {
namespace {

// Kafka's flexible-version pieces the KIP-848 values use that protocol::reader has no call for.
void write_no_tagged_fields(protocol::writer& w) { w.write_unsigned_varint(0); }

void skip_tagged_fields(protocol::reader& r) {
  const uint32_t n = r.read_unsigned_varint();
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    (void)r.read_unsigned_varint();  // tag
    (void)r.read_raw(r.read_unsigned_varint());
  }
}

// A compact array's element count, a null array counting as empty. Fails when the elements,
// at `min_element_bytes` each, cannot fit in what is left.
size_t read_compact_count(protocol::reader& r, size_t min_element_bytes) {
  const int32_t n = r.read_array_length(true, min_element_bytes);
  return n < 0 ? 0 : size_t(n);
}

// Bytes of a group metadata member before its variable-length parts (empty strings and bytes).
size_t member_bytes_min(int16_t version) {
  return 2 + 2 + 2 + 4 + 4 + 4 + (version >= 1 ? 4 : 0) + (version >= 3 ? 2 : 0);
}

}  // namespace

std::vector<uint8_t> encode_offset_key(const std::string& group, const topic_partition& tp) {
  std::vector<uint8_t> out;
  protocol::writer w(out);
  w.write_int16(1);
  w.write_string(group, false);
  w.write_string(tp.topic, false);
  w.write_int32(tp.partition.value());
  return out;
}

std::vector<uint8_t> encode_offset_value(const committed_offset& o) {
  std::vector<uint8_t> out;
  protocol::writer w(out);
  w.write_int16(3);
  w.write_int64(o.offset);
  w.write_int32(o.leader_epoch);
  w.write_string(o.metadata, false);
  w.write_int64(o.commit_timestamp_ms);
  return out;
}

std::vector<uint8_t> encode_group_key(const std::string& group) {
  std::vector<uint8_t> out;
  protocol::writer w(out);
  w.write_int16(2);
  w.write_string(group, false);
  return out;
}

std::vector<uint8_t> encode_group_value(const group_snapshot& s) {
  std::vector<uint8_t> out;
  protocol::writer w(out);
  w.write_int16(3);
  w.write_string(s.protocol_type, false);
  w.write_int32(s.generation);
  w.write_nullable_string(s.protocol_name, false);
  w.write_nullable_string(s.leader, false);
  w.write_int64(s.state_timestamp_ms);
  w.write_array_length(int32_t(s.members.size()), false);
  for (const auto& m : s.members) {
    w.write_string(m.member_id, false);
    w.write_nullable_string(m.instance_id, false);
    w.write_string(m.client_id, false);
    w.write_string(m.client_host, false);
    w.write_int32(m.rebalance_timeout_ms);
    w.write_int32(m.session_timeout_ms);
    w.write_bytes(m.subscription, false);
    w.write_bytes(m.assignment, false);
  }
  return out;
}

std::optional<record_key> decode_key(std::string_view bytes) {
  protocol::reader r(byte_view(bytes));
  int16_t version = r.read_int16();
  if (!r.ok()) return std::nullopt;
  if (version == 0 || version == 1) {
    offset_key k;
    k.group = r.read_string(false);
    k.tp.topic = r.read_string(false);
    k.tp.partition = partition_id{r.read_int32()};
    if (!r.ok()) return std::nullopt;
    return k;
  }
  if (version == 2) {
    group_key k;
    k.group = r.read_string(false);
    if (!r.ok()) return std::nullopt;
    return k;
  }
  if (version >= 3 && version <= 8) {
    cg_key k;
    k.type = cg_record::kind(version);
    k.group = r.read_string(false);
    if (version == 5 || version == 7 || version == 8) k.member = r.read_string(false);
    if (!r.ok() || r.remaining() != 0) return std::nullopt;
    return k;
  }
  return std::nullopt;
}

std::optional<committed_offset> decode_offset_value(std::string_view bytes) {
  protocol::reader r(byte_view(bytes));
  int16_t version = r.read_int16();
  if (!r.ok() || version < 0 || version > 3) return std::nullopt;
  committed_offset o;
  o.offset = r.read_int64();
  if (version == 3) o.leader_epoch = r.read_int32();
  o.metadata = r.read_string(false);
  o.commit_timestamp_ms = r.read_int64();
  if (version == 1) (void)r.read_int64();  // expire timestamp
  if (!r.ok()) return std::nullopt;
  return o;
}

std::optional<group_snapshot> decode_group_value(std::string_view bytes) {
  protocol::reader r(byte_view(bytes));
  int16_t version = r.read_int16();
  if (!r.ok() || version < 0 || version > 3) return std::nullopt;
  group_snapshot s;
  s.protocol_type = r.read_string(false);
  s.generation = r.read_int32();
  s.protocol_name = r.read_nullable_string(false);
  s.leader = r.read_nullable_string(false);
  if (version >= 2) s.state_timestamp_ms = r.read_int64();
  const int32_t n = r.read_array_length(false, member_bytes_min(version));
  if (!r.ok() || n < 0) return std::nullopt;
  for (int32_t i = 0; i < n && r.ok(); ++i) {
    member_snapshot m;
    m.member_id = r.read_string(false);
    if (version >= 3) m.instance_id = r.read_nullable_string(false);
    m.client_id = r.read_string(false);
    m.client_host = r.read_string(false);
    m.rebalance_timeout_ms = version >= 1 ? r.read_int32() : 0;
    m.session_timeout_ms = r.read_int32();
    if (version == 0) m.rebalance_timeout_ms = m.session_timeout_ms;
    m.subscription = r.read_nullable_bytes(false).value_or(std::vector<uint8_t>{});
    m.assignment = r.read_nullable_bytes(false).value_or(std::vector<uint8_t>{});
    s.members.push_back(std::move(m));
  }
  if (!r.ok()) return std::nullopt;
  return s;
}

// ---- KIP-848 consumer group records ----
namespace {
using kind = cg_record::kind;

bool has_member(kind k) { return k == kind::member_metadata || k == kind::target_member || k == kind::current_assignment; }

void write_partitions(protocol::writer& w, const assignment_set& set, const topic_id_lookup& ids) {
  std::vector<std::pair<uuid, std::vector<int32_t>>> topics;
  std::string last;
  bool skip = false;
  for (const auto& tp : set) {
    if (topics.empty() || tp.topic != last) {
      last = tp.topic;
      auto id = ids ? ids(tp.topic) : std::nullopt;
      skip = !id;
      if (!skip) topics.emplace_back(*id, std::vector<int32_t>{});
    }
    if (!skip) topics.back().second.push_back(tp.partition.value());
  }
  w.write_array_length(int32_t(topics.size()), true);
  for (const auto& [id, parts] : topics) {
    w.write_uuid(id);
    w.write_array_length(int32_t(parts.size()), true);
    for (int32_t p : parts) w.write_int32(p);
    write_no_tagged_fields(w);
  }
}

assignment_set read_partitions(protocol::reader& r, const topic_name_lookup& names) {
  assignment_set out;
  const size_t n = read_compact_count(r, 16 + 1 + 1);  // id, partitions, tags
  for (size_t i = 0; i < n && r.ok(); ++i) {
    uuid id = r.read_uuid();
    std::vector<int32_t> parts;
    const size_t np = read_compact_count(r, 4);
    for (size_t j = 0; j < np && r.ok(); ++j) parts.push_back(r.read_int32());
    skip_tagged_fields(r);
    auto name = names ? names(id) : std::nullopt;
    if (!name) continue;
    for (int32_t p : parts) out.insert(topic_partition{*name, partition_id{p}});
  }
  return out;
}
}  // namespace

std::vector<uint8_t> encode_cg_key(const cg_record& r) {
  std::vector<uint8_t> out;
  protocol::writer w(out);
  w.write_int16(int16_t(r.type));
  w.write_string(r.group_id, false);
  if (has_member(r.type)) w.write_string(r.member_id, false);
  return out;
}

std::optional<std::vector<uint8_t>> encode_cg_value(const cg_record& r, const topic_id_lookup& ids) {
  if (r.tombstone) return std::nullopt;
  std::vector<uint8_t> out;
  protocol::writer w(out);
  w.write_int16(0);
  switch (r.type) {
    case kind::group_metadata:
    case kind::target_metadata:
      w.write_int32(r.epoch);
      break;
    case kind::partition_metadata:
      w.write_int32(r.epoch);
      w.write_array_length(int32_t(r.partition_counts.size()), true);
      for (const auto& [name, n] : r.partition_counts) {
        w.write_uuid(ids ? ids(name).value_or(uuid{}) : uuid{});
        w.write_string(name, true);
        w.write_int32(n);
        w.write_array_length(0, true);  // partition racks
        write_no_tagged_fields(w);
      }
      break;
    case kind::member_metadata:
      w.write_nullable_string(r.instance_id, true);
      w.write_nullable_string(r.rack_id, true);
      w.write_string(r.client_id, true);
      w.write_string(r.client_host, true);
      w.write_array_length(int32_t(r.topics.size()), true);
      for (const auto& t : r.topics) w.write_string(t, true);
      w.write_nullable_string(r.regex, true);
      w.write_int32(r.rebalance_timeout_ms);
      w.write_nullable_string(r.server_assignor, true);
      break;
    case kind::target_member:
      write_partitions(w, r.partitions, ids);
      break;
    case kind::current_assignment:
      w.write_int32(r.epoch);
      w.write_int32(r.previous_epoch);
      w.write_int8(r.state);
      write_partitions(w, r.partitions, ids);
      write_partitions(w, r.pending, ids);
      break;
  }
  write_no_tagged_fields(w);
  return out;
}

std::optional<cg_record> decode_cg_record(const cg_key& key, std::optional<std::string_view> value,
                                          const topic_name_lookup& names) {
  cg_record out;
  out.type = key.type;
  out.group_id = key.group;
  out.member_id = key.member;
  if (!value) {
    out.tombstone = true;
    return out;
  }
  protocol::reader r(byte_view(*value));
  if (r.read_int16() != 0 || !r.ok()) return std::nullopt;
  switch (key.type) {
    case kind::group_metadata:
    case kind::target_metadata:
      out.epoch = r.read_int32();
      break;
    case kind::partition_metadata: {
      out.epoch = r.read_int32();
      const size_t n = read_compact_count(r, 16 + 1 + 4 + 1 + 1);  // id, name, count, racks, tags
      for (size_t i = 0; i < n && r.ok(); ++i) {
        (void)r.read_uuid();
        std::string name = r.read_string(true);
        int32_t count = r.read_int32();
        const size_t racks = read_compact_count(r, 4 + 1 + 1);  // partition, racks, tags
        for (size_t j = 0; j < racks && r.ok(); ++j) {
          (void)r.read_int32();
          const size_t nr = read_compact_count(r, 1);
          for (size_t k = 0; k < nr && r.ok(); ++k) (void)r.read_string(true);
          skip_tagged_fields(r);
        }
        skip_tagged_fields(r);
        if (r.ok()) out.partition_counts[name] = count;
      }
      break;
    }
    case kind::member_metadata: {
      out.instance_id = r.read_nullable_string(true);
      out.rack_id = r.read_nullable_string(true);
      out.client_id = r.read_string(true);
      out.client_host = r.read_string(true);
      const size_t n = read_compact_count(r, 1);
      for (size_t i = 0; i < n && r.ok(); ++i) out.topics.push_back(r.read_string(true));
      out.regex = r.read_nullable_string(true);
      out.rebalance_timeout_ms = r.read_int32();
      out.server_assignor = r.read_nullable_string(true);
      break;
    }
    case kind::target_member:
      out.partitions = read_partitions(r, names);
      break;
    case kind::current_assignment:
      out.epoch = r.read_int32();
      out.previous_epoch = r.read_int32();
      out.state = r.read_int8();
      out.partitions = read_partitions(r, names);
      out.pending = read_partitions(r, names);
      break;
  }
  skip_tagged_fields(r);
  if (!r.ok()) return std::nullopt;
  return out;
}

}  // namespace gregor::group
