#include "gregor/controller/metadata_batch.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "gregor/protocol/record_batch.h"

namespace gregor::controller {

namespace md = protocol::metadata;

namespace {

std::string as_string(std::span<const uint8_t> b) { return std::string(b.begin(), b.end()); }

std::vector<uint8_t> build(offset base, leader_epoch epoch, int64_t append_time_ms, bool control,
                           std::vector<protocol::record_input> recs) {
  GREGOR_ASSERT(!recs.empty());
  protocol::batch_options o;
  o.base_offset = base.value();
  o.base_timestamp = append_time_ms;
  o.control = control;
  auto b = protocol::build_batch(recs, o);
  protocol::set_partition_leader_epoch(b, epoch.value());
  return b;
}

int16_t control_version_of(const md::any_control_record&) { return 0; }

}  // namespace

framed_record frame(md::any_record rec) {
  const int16_t version = std::visit([](const auto& r) { return r.max_version; }, rec);
  return framed_record{std::move(rec), version};
}

std::vector<uint8_t> encode_data_batch(offset base, leader_epoch epoch, int64_t append_time_ms,
                                       std::span<const framed_record> records) {
  std::vector<protocol::record_input> recs;
  recs.reserve(records.size());
  for (const auto& r : records) {
    protocol::record_input in;
    in.value = as_string(md::encode_api_message_and_version(r.message, r.version));
    recs.push_back(std::move(in));
  }
  return build(base, epoch, append_time_ms, false, std::move(recs));
}

std::vector<uint8_t> encode_control_batch(offset base, leader_epoch epoch, int64_t append_time_ms,
                                          std::span<const md::any_control_record> records) {
  std::vector<protocol::record_input> recs;
  for (const auto& r : records) {
    const int16_t version = control_version_of(r);
    std::vector<uint8_t> key;
    protocol::writer kw(key);
    kw.write_int16(0);  // ControlRecordType key version
    kw.write_int16(md::control_type_of(r));
    std::vector<uint8_t> value;
    protocol::writer vw(value);
    md::encode_control_record(vw, r, version);
    protocol::record_input in;
    in.key = as_string(key);
    in.value = as_string(value);
    recs.push_back(std::move(in));
  }
  return build(base, epoch, append_time_ms, true, std::move(recs));
}

result<std::vector<std::span<const uint8_t>>, std::string> split_batches(std::span<const uint8_t> bytes) {
  std::vector<std::span<const uint8_t>> out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    auto rest = bytes.subspan(pos);
    auto h = protocol::parse_batch_header(rest);
    if (!h) return failure{fmt::format("no v2 batch header at byte {}", pos)};
    if (h->batch_length < int32_t(protocol::batch_header_size - protocol::batch_log_overhead) ||
        h->total_size() > rest.size()) {
      return failure{fmt::format("batch at byte {} claims {} bytes, {} are left", pos, h->total_size(),
                                 rest.size())};
    }
    out.push_back(rest.subspan(0, h->total_size()));
    pos += h->total_size();
  }
  return out;
}

result<metadata_batch, std::string> decode_batch(std::span<const uint8_t> batch) {
  auto h = protocol::parse_batch_header(batch);
  if (!h) return failure{std::string("no v2 batch header")};
  if (h->total_size() != batch.size()) {
    return failure{fmt::format("batch claims {} bytes, has {}", h->total_size(), batch.size())};
  }
  if (!protocol::batch_crc_ok(batch)) return failure{fmt::format("batch at offset {} fails its CRC", h->base_offset)};
  metadata_batch out;
  out.base_offset = offset(h->base_offset);
  out.last_offset = offset(h->last_offset());
  out.epoch = leader_epoch(h->partition_leader_epoch);
  out.append_time_ms = h->max_timestamp;
  out.control = h->is_control();
  out.size_bytes = batch.size();
  std::string why;
  auto r = protocol::for_each_record(batch, [&](const protocol::record_view& rv) {
    if (!why.empty()) return;
    if (!rv.value) {
      why = fmt::format("record {} has no value", rv.offset);
      return;
    }
    std::span<const uint8_t> value(reinterpret_cast<const uint8_t*>(rv.value->data()), rv.value->size());
    if (out.control) {
      if (!rv.key || rv.key->size() != 4) {
        why = fmt::format("control record {} has no 4-byte key", rv.offset);
        return;
      }
      protocol::reader kr(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(rv.key->data()), 4));
      const int16_t key_version = kr.read_int16();
      const int16_t type = kr.read_int16();
      if (key_version != 0) {
        why = fmt::format("control record {} has key version {}", rv.offset, key_version);
        return;
      }
      control_record c{type, std::nullopt};
      if (md::find_control_record_type(type)) {
        protocol::reader vr(value);
        c.body = md::decode_control_record(type, 0, vr);
        if (!vr.ok() || !c.body) {
          why = fmt::format("control record {} (type {}): {}", rv.offset, type, vr.error());
          return;
        }
      }
      out.controls.push_back(std::move(c));
      return;
    }
    std::string err;
    auto m = md::decode_api_message_and_version(value, &err);
    if (!m) {
      why = fmt::format("record {}: {}", rv.offset, err);
      return;
    }
    out.records.push_back(std::move(*m));
  });
  if (!r) return failure{r.error().message};
  if (!why.empty()) return failure{why};
  return out;
}

result<std::vector<metadata_batch>, std::string> decode_batches(std::span<const uint8_t> bytes) {
  auto spans = split_batches(bytes);
  if (!spans) return failure{spans.error()};
  std::vector<metadata_batch> out;
  out.reserve(spans->size());
  for (auto s : *spans) {
    auto b = decode_batch(s);
    if (!b) return failure{b.error()};
    out.push_back(std::move(*b));
  }
  return out;
}

// ---- snapshots ----

std::string snapshot_file_name(snapshot_id id) {
  return fmt::format("{:020d}-{:010d}.checkpoint", id.end_offset.value(), id.epoch.value());
}

std::optional<snapshot_id> parse_snapshot_file_name(std::string_view name) {
  constexpr std::string_view suffix = ".checkpoint";
  if (name.size() != 20 + 1 + 10 + suffix.size() || name[20] != '-' ||
      name.substr(31) != suffix) {
    return std::nullopt;
  }
  int64_t end = 0;
  int32_t epoch = 0;
  auto digits = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (!digits(name.substr(0, 20)) || !digits(name.substr(21, 10))) return std::nullopt;
  auto a = std::from_chars(name.data(), name.data() + 20, end);
  auto b = std::from_chars(name.data() + 21, name.data() + 31, epoch);
  if (a.ec != std::errc() || b.ec != std::errc()) return std::nullopt;
  return snapshot_id{offset(end), leader_epoch(epoch)};
}

std::vector<uint8_t> encode_snapshot(snapshot_id id, std::span<const framed_record> records,
                                     const snapshot_options& opts) {
  std::vector<md::any_control_record> head;
  md::snapshot_header_record header;
  header.version = 0;
  header.last_contained_log_timestamp = opts.last_contained_log_timestamp_ms;
  head.emplace_back(header);
  if (opts.kraft_version >= 1) {
    md::kraft_version_record kv;
    kv.version = 0;
    kv.kraft_version = opts.kraft_version;
    head.emplace_back(kv);
    if (opts.voters) head.emplace_back(*opts.voters);
  }
  std::vector<uint8_t> out = encode_control_batch(offset(0), id.epoch, opts.append_time_ms, head);
  int64_t next = int64_t(head.size());
  const size_t per = std::max<size_t>(opts.records_per_batch_max, 1);
  for (size_t i = 0; i < records.size(); i += per) {
    auto part = records.subspan(i, std::min(per, records.size() - i));
    auto b = encode_data_batch(offset(next), id.epoch, opts.append_time_ms, part);
    out.insert(out.end(), b.begin(), b.end());
    next += int64_t(part.size());
  }
  md::snapshot_footer_record footer;
  footer.version = 0;
  std::vector<md::any_control_record> tail{footer};
  auto f = encode_control_batch(offset(next), id.epoch, opts.append_time_ms, tail);
  out.insert(out.end(), f.begin(), f.end());
  return out;
}

result<decoded_snapshot, std::string> decode_snapshot(std::span<const uint8_t> bytes) {
  auto batches = decode_batches(bytes);
  if (!batches) return failure{batches.error()};
  if (batches->size() < 2) return failure{std::string("a snapshot has at least a header and a footer batch")};
  decoded_snapshot out;
  int64_t next = 0;
  bool footer = false;
  for (size_t i = 0; i < batches->size(); ++i) {
    const auto& b = (*batches)[i];
    if (b.base_offset.value() != next) {
      return failure{fmt::format("batch {} starts at offset {}, expected {}", i, b.base_offset, next)};
    }
    next = b.last_offset.value() + 1;
    if (footer) return failure{std::string("batches after the snapshot footer")};
    if (i == 0) {
      if (!b.control || b.controls.empty() || b.controls[0].type != control_snapshot_header || !b.controls[0].body) {
        return failure{std::string("the first batch is not a SnapshotHeaderRecord control batch")};
      }
      out.header = std::get<md::snapshot_header_record>(*b.controls[0].body);
      for (size_t j = 1; j < b.controls.size(); ++j) {
        const auto& c = b.controls[j];
        if (!c.body) continue;
        if (auto* kv = std::get_if<md::kraft_version_record>(&*c.body)) out.kraft_version = *kv;
        if (auto* v = std::get_if<md::voters_record>(&*c.body)) out.voters = *v;
      }
      continue;
    }
    if (b.control) {
      for (const auto& c : b.controls) {
        if (c.type == control_snapshot_footer) footer = true;
        if (!c.body) continue;
        if (auto* kv = std::get_if<md::kraft_version_record>(&*c.body)) out.kraft_version = *kv;
        if (auto* v = std::get_if<md::voters_record>(&*c.body)) out.voters = *v;
      }
      continue;
    }
    for (const auto& r : b.records) out.records.push_back(r);
  }
  if (!footer) return failure{std::string("no SnapshotFooterRecord: the snapshot is incomplete")};
  return out;
}

// ---- quorum-state ----

std::string encode_quorum_state(const quorum_state_file& q) {
  return fmt::format(
      R"({{"leaderId":{},"leaderEpoch":{},"votedId":{},"votedDirectoryId":"{}","data_version":1}})",
      q.leader_id.value(), q.leader_epoch.value(), q.voted_id.value(), q.voted_directory_id.to_base64());
}

namespace {
// A flat JSON object reader for quorum-state: string keys, scalar values we read, nested values
// (data_version 0's "currentVoters") skipped with bracket matching. Depth and size are bounded by
// the caller's file size cap.
class json_scanner {
 public:
  explicit json_scanner(std::string_view s) : _s(s) {}
  void ws() {
    while (_p < _s.size() && (_s[_p] == ' ' || _s[_p] == '\n' || _s[_p] == '\r' || _s[_p] == '\t')) ++_p;
  }
  bool eat(char c) {
    ws();
    if (_p < _s.size() && _s[_p] == c) {
      ++_p;
      return true;
    }
    return false;
  }
  std::optional<std::string> string() {
    ws();
    if (_p >= _s.size() || _s[_p] != '"') return std::nullopt;
    std::string out;
    for (++_p; _p < _s.size(); ++_p) {
      char c = _s[_p];
      if (c == '"') {
        ++_p;
        return out;
      }
      if (c == '\\') {
        if (++_p >= _s.size()) return std::nullopt;
        c = _s[_p];
      }
      out.push_back(c);
    }
    return std::nullopt;
  }
  // A number, true/false/null, or a string, as its raw text (strings unquoted); nested values
  // are skipped and returned as "".
  std::optional<std::string> value() {
    ws();
    if (_p >= _s.size()) return std::nullopt;
    if (_s[_p] == '"') return string();
    if (_s[_p] == '[' || _s[_p] == '{') {
      int depth = 0;
      while (_p < _s.size()) {
        char c = _s[_p];
        if (c == '"') {
          if (!string()) return std::nullopt;
          continue;
        }
        if (c == '[' || c == '{') ++depth;
        if (c == ']' || c == '}') --depth;
        ++_p;
        if (depth == 0) return std::string();
      }
      return std::nullopt;
    }
    size_t start = _p;
    while (_p < _s.size() && _s[_p] != ',' && _s[_p] != '}' && _s[_p] != ' ' && _s[_p] != '\n') ++_p;
    if (_p == start) return std::nullopt;
    return std::string(_s.substr(start, _p - start));
  }
  bool at_end() {
    ws();
    return _p == _s.size();
  }

 private:
  std::string_view _s;
  size_t _p = 0;
};

template <class Int>
bool to_int(const std::string& s, Int& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}
}  // namespace

result<quorum_state_file, std::string> parse_quorum_state(std::string_view json) {
  json_scanner sc(json);
  if (!sc.eat('{')) return failure{std::string("quorum-state is not a JSON object")};
  quorum_state_file q;
  std::optional<int> data_version;
  bool first = true;
  while (!sc.eat('}')) {
    if (!first && !sc.eat(',')) return failure{std::string("quorum-state: expected ',' or '}'")};
    first = false;
    auto key = sc.string();
    if (!key || !sc.eat(':')) return failure{std::string("quorum-state: expected a \"key\":")};
    auto v = sc.value();
    if (!v) return failure{fmt::format("quorum-state: bad value of {}", *key)};
    int32_t i = 0;
    if (*key == "leaderId" || *key == "leaderEpoch" || *key == "votedId" || *key == "data_version") {
      if (!to_int(*v, i)) return failure{fmt::format("quorum-state: {} is not an int32: {}", *key, *v)};
      if (*key == "leaderId") q.leader_id = node_id(i);
      if (*key == "leaderEpoch") q.leader_epoch = leader_epoch(i);
      if (*key == "votedId") q.voted_id = node_id(i);
      if (*key == "data_version") data_version = i;
    } else if (*key == "votedDirectoryId") {
      if (!uuid::from_base64(*v, q.voted_directory_id)) {
        return failure{fmt::format("quorum-state: votedDirectoryId is not a uuid: {}", *v)};
      }
    }
  }
  if (!sc.at_end()) return failure{std::string("quorum-state: bytes after the object")};
  if (!data_version || (*data_version != 0 && *data_version != 1)) {
    return failure{std::string("quorum-state: missing or unsupported data_version")};
  }
  return q;
}

}  // namespace gregor::controller
