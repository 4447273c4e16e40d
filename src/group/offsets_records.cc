#include "gregor/group/offsets_records.h"

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

}  // namespace gregor::group
