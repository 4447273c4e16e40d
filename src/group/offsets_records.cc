#include "gregor/group/offsets_records.h"

#include <algorithm>
#include <cstring>

namespace gregor::group {
namespace {

class writer {
 public:
  void i16(int16_t v) { be(uint64_t(uint16_t(v)), 2); }
  void i32(int32_t v) { be(uint64_t(uint32_t(v)), 4); }
  void i64(int64_t v) { be(uint64_t(v), 8); }
  void str(std::string_view s) {
    i16(int16_t(s.size()));
    _out.insert(_out.end(), s.begin(), s.end());
  }
  void nstr(const std::optional<std::string>& s) {
    if (!s) return i16(-1);
    str(*s);
  }
  void bytes(const std::vector<uint8_t>& b) {
    i32(int32_t(b.size()));
    _out.insert(_out.end(), b.begin(), b.end());
  }
  void i8(int8_t v) { _out.push_back(uint8_t(v)); }
  void uvarint(uint64_t v) {
    while (v >= 0x80) {
      _out.push_back(uint8_t(v | 0x80));
      v >>= 7;
    }
    _out.push_back(uint8_t(v));
  }
  void cstr(std::string_view s) {
    uvarint(s.size() + 1);
    _out.insert(_out.end(), s.begin(), s.end());
  }
  void cnstr(const std::optional<std::string>& s) {
    if (!s) return uvarint(0);
    cstr(*s);
  }
  void carray(size_t n) { uvarint(n + 1); }
  void id(const uuid& u) {
    be(u.hi, 8);
    be(u.lo, 8);
  }
  void no_tags() { uvarint(0); }
  std::vector<uint8_t> take() { return std::move(_out); }

 private:
  void be(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) _out.push_back(uint8_t(v >> (8 * i)));
  }
  std::vector<uint8_t> _out;
};

class reader {
 public:
  explicit reader(std::string_view b) : _b(b) {}
  bool ok() const { return _ok; }
  bool done() const { return _pos == _b.size(); }
  int16_t i16() { return int16_t(be(2)); }
  int32_t i32() { return int32_t(be(4)); }
  int64_t i64() { return int64_t(be(8)); }
  std::optional<std::string> nstr() {
    int16_t n = i16();
    if (n < 0 || !_ok) return std::nullopt;
    if (!need(size_t(n))) return std::nullopt;
    std::string s(_b.substr(_pos, size_t(n)));
    _pos += size_t(n);
    return s;
  }
  std::string str() {
    auto s = nstr();
    if (!s) _ok = false;
    return s.value_or("");
  }
  int8_t i8() { return int8_t(be(1)); }
  uint64_t uvarint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (!need(1)) return 0;
      uint8_t b = uint8_t(_b[_pos++]);
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    _ok = false;
    return 0;
  }
  std::optional<std::string> cnstr() {
    uint64_t n = uvarint();
    if (n == 0 || !_ok) return std::nullopt;
    if (!need(size_t(n - 1))) return std::nullopt;
    std::string s(_b.substr(_pos, size_t(n - 1)));
    _pos += size_t(n - 1);
    return s;
  }
  std::string cstr() {
    auto s = cnstr();
    if (!s) _ok = false;
    return s.value_or("");
  }
  // A compact array's length; bounded by the bytes left (each element takes at least one).
  size_t carray() {
    uint64_t n = uvarint();
    if (n == 0) return 0;
    if (n - 1 > _b.size() - std::min(_pos, _b.size())) {
      _ok = false;
      return 0;
    }
    return size_t(n - 1);
  }
  uuid id() {
    uuid u;
    u.hi = be(8);
    u.lo = be(8);
    return u;
  }
  void skip_tags() {
    uint64_t n = uvarint();
    for (uint64_t i = 0; i < n && _ok; ++i) {
      (void)uvarint();
      uint64_t size = uvarint();
      if (!need(size_t(size))) return;
      _pos += size_t(size);
    }
  }
  std::vector<uint8_t> bytes() {
    int32_t n = i32();
    if (n < 0 || !need(size_t(n))) return {};
    std::vector<uint8_t> v(_b.begin() + _pos, _b.begin() + _pos + n);
    _pos += size_t(n);
    return v;
  }

 private:
  bool need(size_t n) {
    if (!_ok || _pos + n > _b.size()) {
      _ok = false;
      return false;
    }
    return true;
  }
  uint64_t be(int n) {
    if (!need(size_t(n))) return 0;
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = v << 8 | uint8_t(_b[_pos + i]);
    _pos += size_t(n);
    return v;
  }
  std::string_view _b;
  size_t _pos = 0;
  bool _ok = true;
};

}  // namespace

std::vector<uint8_t> encode_offset_key(const std::string& group, const topic_partition& tp) {
  writer w;
  w.i16(1);
  w.str(group);
  w.str(tp.topic);
  w.i32(tp.partition.value());
  return w.take();
}

std::vector<uint8_t> encode_offset_value(const committed_offset& o) {
  writer w;
  w.i16(3);
  w.i64(o.offset);
  w.i32(o.leader_epoch);
  w.str(o.metadata);
  w.i64(o.commit_timestamp_ms);
  return w.take();
}

std::vector<uint8_t> encode_group_key(const std::string& group) {
  writer w;
  w.i16(2);
  w.str(group);
  return w.take();
}

std::vector<uint8_t> encode_group_value(const group_snapshot& s) {
  writer w;
  w.i16(3);
  w.str(s.protocol_type);
  w.i32(s.generation);
  w.nstr(s.protocol_name);
  w.nstr(s.leader);
  w.i64(s.state_timestamp_ms);
  w.i32(int32_t(s.members.size()));
  for (const auto& m : s.members) {
    w.str(m.member_id);
    w.nstr(m.instance_id);
    w.str(m.client_id);
    w.str(m.client_host);
    w.i32(m.rebalance_timeout_ms);
    w.i32(m.session_timeout_ms);
    w.bytes(m.subscription);
    w.bytes(m.assignment);
  }
  return w.take();
}

std::optional<record_key> decode_key(std::string_view bytes) {
  reader r(bytes);
  int16_t version = r.i16();
  if (!r.ok()) return std::nullopt;
  if (version == 0 || version == 1) {
    offset_key k;
    k.group = r.str();
    k.tp.topic = r.str();
    k.tp.partition = partition_id{r.i32()};
    if (!r.ok()) return std::nullopt;
    return k;
  }
  if (version == 2) {
    group_key k;
    k.group = r.str();
    if (!r.ok()) return std::nullopt;
    return k;
  }
  if (version >= 3 && version <= 8) {
    cg_key k;
    k.type = cg_record::kind(version);
    k.group = r.str();
    if (version == 5 || version == 7 || version == 8) k.member = r.str();
    if (!r.ok() || !r.done()) return std::nullopt;
    return k;
  }
  return std::nullopt;
}

std::optional<committed_offset> decode_offset_value(std::string_view bytes) {
  reader r(bytes);
  int16_t version = r.i16();
  if (!r.ok() || version < 0 || version > 3) return std::nullopt;
  committed_offset o;
  o.offset = r.i64();
  if (version == 3) o.leader_epoch = r.i32();
  o.metadata = r.str();
  o.commit_timestamp_ms = r.i64();
  if (version == 1) (void)r.i64();  // expire timestamp
  if (!r.ok()) return std::nullopt;
  return o;
}

std::optional<group_snapshot> decode_group_value(std::string_view bytes) {
  reader r(bytes);
  int16_t version = r.i16();
  if (!r.ok() || version < 0 || version > 3) return std::nullopt;
  group_snapshot s;
  s.protocol_type = r.str();
  s.generation = r.i32();
  s.protocol_name = r.nstr();
  s.leader = r.nstr();
  if (version >= 2) s.state_timestamp_ms = r.i64();
  int32_t n = r.i32();
  if (!r.ok() || n < 0 || n > 1'000'000) return std::nullopt;
  for (int32_t i = 0; i < n && r.ok(); ++i) {
    member_snapshot m;
    m.member_id = r.str();
    if (version >= 3) m.instance_id = r.nstr();
    m.client_id = r.str();
    m.client_host = r.str();
    m.rebalance_timeout_ms = version >= 1 ? r.i32() : 0;
    m.session_timeout_ms = r.i32();
    if (version == 0) m.rebalance_timeout_ms = m.session_timeout_ms;
    m.subscription = r.bytes();
    m.assignment = r.bytes();
    s.members.push_back(std::move(m));
  }
  if (!r.ok()) return std::nullopt;
  return s;
}

// ---- KIP-848 consumer group records ----
namespace {
using kind = cg_record::kind;

bool has_member(kind k) { return k == kind::member_metadata || k == kind::target_member || k == kind::current_assignment; }

void write_partitions(writer& w, const assignment_set& set, const topic_id_lookup& ids) {
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
  w.carray(topics.size());
  for (const auto& [id, parts] : topics) {
    w.id(id);
    w.carray(parts.size());
    for (int32_t p : parts) w.i32(p);
    w.no_tags();
  }
}

assignment_set read_partitions(reader& r, const topic_name_lookup& names) {
  assignment_set out;
  const size_t n = r.carray();
  for (size_t i = 0; i < n && r.ok(); ++i) {
    uuid id = r.id();
    std::vector<int32_t> parts;
    const size_t np = r.carray();
    for (size_t j = 0; j < np && r.ok(); ++j) parts.push_back(r.i32());
    r.skip_tags();
    auto name = names ? names(id) : std::nullopt;
    if (!name) continue;
    for (int32_t p : parts) out.insert(topic_partition{*name, partition_id{p}});
  }
  return out;
}
}  // namespace

std::vector<uint8_t> encode_cg_key(const cg_record& r) {
  writer w;
  w.i16(int16_t(r.type));
  w.str(r.group_id);
  if (has_member(r.type)) w.str(r.member_id);
  return w.take();
}

std::optional<std::vector<uint8_t>> encode_cg_value(const cg_record& r, const topic_id_lookup& ids) {
  if (r.tombstone) return std::nullopt;
  writer w;
  w.i16(0);
  switch (r.type) {
    case kind::group_metadata:
    case kind::target_metadata:
      w.i32(r.epoch);
      break;
    case kind::partition_metadata:
      w.i32(r.epoch);
      w.carray(r.partition_counts.size());
      for (const auto& [name, n] : r.partition_counts) {
        w.id(ids ? ids(name).value_or(uuid{}) : uuid{});
        w.cstr(name);
        w.i32(n);
        w.carray(0);  // partition racks
        w.no_tags();
      }
      break;
    case kind::member_metadata:
      w.cnstr(r.instance_id);
      w.cnstr(r.rack_id);
      w.cstr(r.client_id);
      w.cstr(r.client_host);
      w.carray(r.topics.size());
      for (const auto& t : r.topics) w.cstr(t);
      w.cnstr(r.regex);
      w.i32(r.rebalance_timeout_ms);
      w.cnstr(r.server_assignor);
      break;
    case kind::target_member:
      write_partitions(w, r.partitions, ids);
      break;
    case kind::current_assignment:
      w.i32(r.epoch);
      w.i32(r.previous_epoch);
      w.i8(r.state);
      write_partitions(w, r.partitions, ids);
      write_partitions(w, r.pending, ids);
      break;
  }
  w.no_tags();
  return w.take();
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
  reader r(*value);
  if (r.i16() != 0 || !r.ok()) return std::nullopt;
  switch (key.type) {
    case kind::group_metadata:
    case kind::target_metadata:
      out.epoch = r.i32();
      break;
    case kind::partition_metadata: {
      out.epoch = r.i32();
      const size_t n = r.carray();
      for (size_t i = 0; i < n && r.ok(); ++i) {
        (void)r.id();
        std::string name = r.cstr();
        int32_t count = r.i32();
        const size_t racks = r.carray();
        for (size_t j = 0; j < racks && r.ok(); ++j) {
          (void)r.i32();
          const size_t nr = r.carray();
          for (size_t k = 0; k < nr && r.ok(); ++k) (void)r.cstr();
          r.skip_tags();
        }
        r.skip_tags();
        if (r.ok()) out.partition_counts[name] = count;
      }
      break;
    }
    case kind::member_metadata: {
      out.instance_id = r.cnstr();
      out.rack_id = r.cnstr();
      out.client_id = r.cstr();
      out.client_host = r.cstr();
      const size_t n = r.carray();
      for (size_t i = 0; i < n && r.ok(); ++i) out.topics.push_back(r.cstr());
      out.regex = r.cnstr();
      out.rebalance_timeout_ms = r.i32();
      out.server_assignor = r.cnstr();
      break;
    }
    case kind::target_member:
      out.partitions = read_partitions(r, names);
      break;
    case kind::current_assignment:
      out.epoch = r.i32();
      out.previous_epoch = r.i32();
      out.state = r.i8();
      out.partitions = read_partitions(r, names);
      out.pending = read_partitions(r, names);
      break;
  }
  r.skip_tags();
  if (!r.ok()) return std::nullopt;
  return out;
}

}  // namespace gregor::group
