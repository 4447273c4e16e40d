// raft_wire: see raft_wire.h.
#include "raft_wire.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <variant>

#include "gregor/base/assert.h"
#include "gregor/controller/metadata_batch.h"
#include "gregor/controller/metadata_log.h"
#include "gregor/protocol/record_batch.h"

namespace gregor::server {

namespace {

using protocol::error_code;

constexpr std::string_view metadata_topic_name = "__cluster_metadata";
constexpr int32_t metadata_partition = 0;

wire_refusal refuse(error_code e, std::string why) { return wire_refusal{e, std::move(why)}; }

// The ClusterId a request carries: null while this node does not know it.
std::optional<std::string> wire_cluster(std::string_view cluster_id) {
  if (cluster_id.empty()) return std::nullopt;
  return std::string(cluster_id);
}

// Checks a request's ClusterId: null is accepted (Kafka's tools send none), and any id while ours
// is not known yet (empty: the first leader has not committed one); another id is not.
std::optional<wire_refusal> check_cluster(const std::optional<std::string>& theirs,
                                          std::string_view ours) {
  if (theirs && !ours.empty() && *theirs != ours) {
    return refuse(error_code::inconsistent_cluster_id,
                  fmt::format("request for cluster '{}', this is '{}'", *theirs, ours));
  }
  return std::nullopt;
}

// The partition type of a topic list type.
template <class Topics>
using partition_of_t = typename decltype(Topics{}.front().partitions)::value_type;

template <class Topics>
result<const partition_of_t<Topics>*, wire_refusal> only_partition(const Topics& topics,
                                                                  auto topic_matches,
                                                                  auto partition_of) {
  if (topics.size() != 1) {
    return failure{refuse(error_code::invalid_request,
                          fmt::format("{} topics, expected exactly one", topics.size()))};
  }
  const auto& t = topics.front();
  if (!topic_matches(t)) {
    return failure{refuse(error_code::invalid_request, "topic is not __cluster_metadata")};
  }
  if (t.partitions.size() != 1) {
    return failure{refuse(error_code::invalid_request,
                          fmt::format("{} partitions, expected exactly one", t.partitions.size()))};
  }
  const auto& p = t.partitions.front();
  if (partition_of(p) != metadata_partition) {
    return failure{refuse(error_code::invalid_request,
                          fmt::format("partition {} is not {}", partition_of(p), metadata_partition))};
  }
  return &p;
}

// The common case: topics named by a `topic_name` field and partitions by `partition_index`.
template <class Topics>
auto only_named_partition(const Topics& topics) {
  return only_partition(
      topics, [](const auto& t) { return t.topic_name == metadata_topic_name; },
      [](const auto& p) { return p.partition_index; });
}

std::optional<wire_refusal> top_level_error(int16_t code) {
  if (code == 0) return std::nullopt;
  return refuse(static_cast<error_code>(code), fmt::format("top-level error code {}", code));
}

raft::wire_error to_raft_error(int16_t code) { return static_cast<raft::wire_error>(code); }
int16_t to_wire_error(raft::wire_error e) { return static_cast<int16_t>(e); }

raft::leader_and_epoch leader_of(int32_t id, int32_t epoch) {
  return raft::leader_and_epoch{node_id(id), leader_epoch(epoch)};
}

void put_be(uint8_t* p, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) *p++ = static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace

// ---- Vote ----

protocol::vote_request to_wire(const raft::vote_request& req, std::string_view cluster_id,
                               int16_t version) {
  GREGOR_ASSERT(!req.pre_vote || version >= 2);
  protocol::vote_request out;
  out.cluster_id = wire_cluster(cluster_id);
  out.voter_id = req.voter.value();
  auto& t = out.topics.emplace_back();
  t.topic_name = std::string(metadata_topic_name);
  auto& p = t.partitions.emplace_back();
  p.partition_index = metadata_partition;
  p.replica_epoch = req.candidate_epoch.value();
  p.replica_id = req.candidate.value();
  p.last_offset_epoch = req.last_offset_epoch.value();
  p.last_offset = req.last_offset.value();
  p.pre_vote = req.pre_vote;
  return out;
}

result<raft::vote_request, wire_refusal> from_wire(const protocol::vote_request& req,
                                                   int16_t version, std::string_view cluster_id) {
  if (auto r = check_cluster(req.cluster_id, cluster_id)) return failure{std::move(*r)};
  auto p = only_named_partition(req.topics);
  if (!p) return failure{p.error()};
  raft::vote_request out;
  out.candidate_epoch = leader_epoch((*p)->replica_epoch);
  out.candidate = node_id((*p)->replica_id);
  out.voter = version >= 1 ? node_id(req.voter_id) : no_node;
  out.last_offset_epoch = leader_epoch((*p)->last_offset_epoch);
  out.last_offset = offset((*p)->last_offset);
  out.pre_vote = version >= 2 && (*p)->pre_vote;
  return out;
}

protocol::vote_response to_wire(const raft::vote_response& resp, int16_t /*version*/) {
  protocol::vote_response out;
  auto& t = out.topics.emplace_back();
  t.topic_name = std::string(metadata_topic_name);
  auto& p = t.partitions.emplace_back();
  p.partition_index = metadata_partition;
  p.error_code = to_wire_error(resp.error);
  p.leader_id = resp.leader.leader.value();
  p.leader_epoch = resp.leader.epoch.value();
  p.vote_granted = resp.vote_granted;
  return out;
}

result<raft::vote_response, wire_refusal> from_wire(const protocol::vote_response& resp,
                                                    int16_t /*version*/) {
  if (auto r = top_level_error(resp.error_code)) return failure{std::move(*r)};
  auto p = only_named_partition(resp.topics);
  if (!p) return failure{p.error()};
  raft::vote_response out;
  out.error = to_raft_error((*p)->error_code);
  out.leader = leader_of((*p)->leader_id, (*p)->leader_epoch);
  out.vote_granted = (*p)->vote_granted;
  return out;
}

// ---- BeginQuorumEpoch ----

protocol::begin_quorum_epoch_request to_wire(const raft::begin_quorum_epoch_request& req,
                                             std::string_view cluster_id, int16_t /*version*/) {
  protocol::begin_quorum_epoch_request out;
  out.cluster_id = wire_cluster(cluster_id);
  out.voter_id = req.voter.value();
  auto& t = out.topics.emplace_back();
  t.topic_name = std::string(metadata_topic_name);
  auto& p = t.partitions.emplace_back();
  p.partition_index = metadata_partition;
  p.leader_id = req.leader.leader.value();
  p.leader_epoch = req.leader.epoch.value();
  return out;
}

result<raft::begin_quorum_epoch_request, wire_refusal> from_wire(
    const protocol::begin_quorum_epoch_request& req, int16_t version, std::string_view cluster_id) {
  if (auto r = check_cluster(req.cluster_id, cluster_id)) return failure{std::move(*r)};
  auto p = only_named_partition(req.topics);
  if (!p) return failure{p.error()};
  raft::begin_quorum_epoch_request out;
  out.leader = leader_of((*p)->leader_id, (*p)->leader_epoch);
  out.voter = version >= 1 ? node_id(req.voter_id) : no_node;
  return out;
}

protocol::begin_quorum_epoch_response to_wire(const raft::begin_quorum_epoch_response& resp,
                                              int16_t /*version*/) {
  protocol::begin_quorum_epoch_response out;
  auto& t = out.topics.emplace_back();
  t.topic_name = std::string(metadata_topic_name);
  auto& p = t.partitions.emplace_back();
  p.partition_index = metadata_partition;
  p.error_code = to_wire_error(resp.error);
  p.leader_id = resp.leader.leader.value();
  p.leader_epoch = resp.leader.epoch.value();
  return out;
}

result<raft::begin_quorum_epoch_response, wire_refusal> from_wire(
    const protocol::begin_quorum_epoch_response& resp, int16_t /*version*/) {
  if (auto r = top_level_error(resp.error_code)) return failure{std::move(*r)};
  auto p = only_named_partition(resp.topics);
  if (!p) return failure{p.error()};
  raft::begin_quorum_epoch_response out;
  out.error = to_raft_error((*p)->error_code);
  out.leader = leader_of((*p)->leader_id, (*p)->leader_epoch);
  return out;
}

// ---- EndQuorumEpoch ----

protocol::end_quorum_epoch_request to_wire(const raft::end_quorum_epoch_request& req,
                                           std::string_view cluster_id, int16_t version) {
  protocol::end_quorum_epoch_request out;
  out.cluster_id = wire_cluster(cluster_id);
  auto& t = out.topics.emplace_back();
  t.topic_name = std::string(metadata_topic_name);
  auto& p = t.partitions.emplace_back();
  p.partition_index = metadata_partition;
  p.leader_id = req.leader.leader.value();
  p.leader_epoch = req.leader.epoch.value();
  for (node_id c : req.preferred_candidates) {
    if (version >= 1) {
      p.preferred_candidates.emplace_back().candidate_id = c.value();
    } else {
      p.preferred_successors.push_back(c.value());
    }
  }
  return out;
}

result<raft::end_quorum_epoch_request, wire_refusal> from_wire(
    const protocol::end_quorum_epoch_request& req, int16_t version, std::string_view cluster_id) {
  if (auto r = check_cluster(req.cluster_id, cluster_id)) return failure{std::move(*r)};
  auto p = only_named_partition(req.topics);
  if (!p) return failure{p.error()};
  raft::end_quorum_epoch_request out;
  out.leader = leader_of((*p)->leader_id, (*p)->leader_epoch);
  if (version >= 1) {
    for (const auto& c : (*p)->preferred_candidates) out.preferred_candidates.push_back(node_id(c.candidate_id));
  } else {
    for (int32_t c : (*p)->preferred_successors) out.preferred_candidates.push_back(node_id(c));
  }
  return out;
}

protocol::end_quorum_epoch_response to_wire(const raft::end_quorum_epoch_response& resp,
                                            int16_t /*version*/) {
  protocol::end_quorum_epoch_response out;
  auto& t = out.topics.emplace_back();
  t.topic_name = std::string(metadata_topic_name);
  auto& p = t.partitions.emplace_back();
  p.partition_index = metadata_partition;
  p.error_code = to_wire_error(resp.error);
  p.leader_id = resp.leader.leader.value();
  p.leader_epoch = resp.leader.epoch.value();
  return out;
}

result<raft::end_quorum_epoch_response, wire_refusal> from_wire(
    const protocol::end_quorum_epoch_response& resp, int16_t /*version*/) {
  if (auto r = top_level_error(resp.error_code)) return failure{std::move(*r)};
  auto p = only_named_partition(resp.topics);
  if (!p) return failure{p.error()};
  raft::end_quorum_epoch_response out;
  out.error = to_raft_error((*p)->error_code);
  out.leader = leader_of((*p)->leader_id, (*p)->leader_epoch);
  return out;
}

// ---- Fetch ----

protocol::fetch_request to_wire(const raft::fetch_request& req, std::string_view cluster_id,
                                int32_t max_wait_ms, int16_t version) {
  GREGOR_ASSERT(version >= raft_fetch_min_version);
  protocol::fetch_request out;
  out.cluster_id = wire_cluster(cluster_id);
  if (version >= 15) {
    out.replica_state.replica_id = req.replica.value();
  } else {
    out.replica_id = req.replica.value();
  }
  out.max_wait_ms = max_wait_ms;
  out.min_bytes = 0;
  out.max_bytes = req.max_bytes;
  out.isolation_level = 0;
  out.session_id = 0;
  out.session_epoch = -1;
  auto& t = out.topics.emplace_back();
  if (version >= 13) {
    t.topic_id = controller::metadata_topic_id;
  } else {
    t.topic = std::string(metadata_topic_name);
  }
  auto& p = t.partitions.emplace_back();
  p.partition = metadata_partition;
  p.current_leader_epoch = req.current_leader_epoch.value();
  p.fetch_offset = req.fetch_offset.value();
  p.last_fetched_epoch = req.last_fetched_epoch.value();
  p.log_start_offset = req.log_start_offset.value();
  p.partition_max_bytes = req.max_bytes;
  if (version >= 17) p.replica_directory_id = req.directory_id;
  return out;
}

namespace {
auto fetch_topic_matches(int16_t version) {
  return [version](const auto& t) {
    return version >= 13 ? t.topic_id == controller::metadata_topic_id
                         : t.topic == metadata_topic_name;
  };
}
}  // namespace

result<raft::fetch_request, wire_refusal> from_wire(const protocol::fetch_request& req,
                                                    int16_t version, std::string_view cluster_id) {
  if (version < raft_fetch_min_version) {
    return failure{refuse(error_code::unsupported_version,
                          fmt::format("Fetch v{} for the metadata partition (needs v{}+)", version,
                                      raft_fetch_min_version))};
  }
  if (auto r = check_cluster(req.cluster_id, cluster_id)) return failure{std::move(*r)};
  auto p = only_partition(req.topics, fetch_topic_matches(version),
                          [](const auto& x) { return x.partition; });
  if (!p) return failure{p.error()};
  raft::fetch_request out;
  out.replica = node_id(version >= 15 ? req.replica_state.replica_id : req.replica_id);
  out.current_leader_epoch = leader_epoch((*p)->current_leader_epoch);
  out.fetch_offset = offset((*p)->fetch_offset);
  out.last_fetched_epoch = leader_epoch((*p)->last_fetched_epoch);
  out.log_start_offset = offset((*p)->log_start_offset);
  out.max_bytes = (*p)->partition_max_bytes;
  if (version >= 17) out.directory_id = (*p)->replica_directory_id;
  return out;
}

bool is_metadata_fetch(const protocol::fetch_request& req, int16_t version) {
  auto matches = fetch_topic_matches(version);
  for (const auto& t : req.topics) {
    if (matches(t)) return true;
  }
  return false;
}

protocol::fetch_response to_wire(const raft::fetch_response& resp, int16_t version,
                                 std::vector<uint8_t>& records_storage) {
  GREGOR_ASSERT(version >= raft_fetch_min_version);
  records_storage.clear();
  entries_to_batches(resp.records, records_storage);
  protocol::fetch_response out;
  auto& t = out.responses.emplace_back();
  if (version >= 13) {
    t.topic_id = controller::metadata_topic_id;
  } else {
    t.topic = std::string(metadata_topic_name);
  }
  auto& p = t.partitions.emplace_back();
  p.partition_index = metadata_partition;
  p.error_code = to_wire_error(resp.error);
  p.high_watermark = resp.high_watermark.value();
  p.log_start_offset = resp.log_start_offset.value();
  p.current_leader.leader_id = resp.current_leader.leader.value();
  p.current_leader.leader_epoch = resp.current_leader.epoch.value();
  if (resp.diverging) {
    p.diverging_epoch.epoch = resp.diverging->epoch.value();
    p.diverging_epoch.end_offset = resp.diverging->end_offset.value();
  }
  if (resp.snapshot) {
    p.snapshot_id.end_offset = resp.snapshot->end_offset.value();
    p.snapshot_id.epoch = resp.snapshot->epoch.value();
  }
  p.records = std::span<const uint8_t>(records_storage);
  return out;
}

result<raft::fetch_response, wire_refusal> from_wire(const protocol::fetch_response& resp,
                                                     int16_t version) {
  if (version >= 7) {
    if (auto r = top_level_error(resp.error_code)) return failure{std::move(*r)};
  }
  auto p = only_partition(resp.responses, fetch_topic_matches(version),
                          [](const auto& x) { return x.partition_index; });
  if (!p) return failure{p.error()};
  raft::fetch_response out;
  out.error = to_raft_error((*p)->error_code);
  out.current_leader = leader_of((*p)->current_leader.leader_id, (*p)->current_leader.leader_epoch);
  out.high_watermark = offset((*p)->high_watermark);
  out.log_start_offset = offset((*p)->log_start_offset);
  // Kafka's defaults (-1, -1) mean "absent"; (0, 0) is a real answer (truncate to 0).
  const auto& d = (*p)->diverging_epoch;
  if (d.epoch != -1 || d.end_offset != -1) {
    out.diverging = raft::diverging_epoch{leader_epoch(d.epoch), offset(d.end_offset)};
  }
  const auto& s = (*p)->snapshot_id;
  if (s.epoch != -1 || s.end_offset != -1) {
    out.snapshot = raft::snapshot_id{offset(s.end_offset), leader_epoch(s.epoch)};
  }
  if ((*p)->records && !(*p)->records->empty()) {
    auto entries = batches_to_entries(*(*p)->records);
    if (!entries) {
      return failure{refuse(error_code::corrupt_message, "fetched records: " + entries.error())};
    }
    out.records = std::move(*entries);
  }
  return out;
}

// ---- FetchSnapshot ----

protocol::fetch_snapshot_request to_wire(const raft::fetch_snapshot_request& req,
                                         std::string_view cluster_id, int16_t /*version*/) {
  protocol::fetch_snapshot_request out;
  out.cluster_id = wire_cluster(cluster_id);
  out.replica_id = req.replica.value();
  out.max_bytes = req.max_bytes;
  auto& t = out.topics.emplace_back();
  t.name = std::string(metadata_topic_name);
  auto& p = t.partitions.emplace_back();
  p.partition = metadata_partition;
  p.current_leader_epoch = req.current_leader_epoch.value();
  p.snapshot_id.end_offset = req.snapshot.end_offset.value();
  p.snapshot_id.epoch = req.snapshot.epoch.value();
  p.position = req.position;
  return out;
}

result<raft::fetch_snapshot_request, wire_refusal> from_wire(
    const protocol::fetch_snapshot_request& req, int16_t /*version*/, std::string_view cluster_id) {
  if (auto r = check_cluster(req.cluster_id, cluster_id)) return failure{std::move(*r)};
  auto p = only_partition(
      req.topics, [](const auto& t) { return t.name == metadata_topic_name; },
      [](const auto& x) { return x.partition; });
  if (!p) return failure{p.error()};
  raft::fetch_snapshot_request out;
  out.replica = node_id(req.replica_id);
  out.current_leader_epoch = leader_epoch((*p)->current_leader_epoch);
  out.snapshot = raft::snapshot_id{offset((*p)->snapshot_id.end_offset),
                                   leader_epoch((*p)->snapshot_id.epoch)};
  out.position = (*p)->position;
  out.max_bytes = req.max_bytes;
  return out;
}

protocol::fetch_snapshot_response to_wire(const raft::fetch_snapshot_response& resp,
                                          int16_t /*version*/) {
  protocol::fetch_snapshot_response out;
  auto& t = out.topics.emplace_back();
  t.name = std::string(metadata_topic_name);
  auto& p = t.partitions.emplace_back();
  p.index = metadata_partition;
  p.error_code = to_wire_error(resp.error);
  p.snapshot_id.end_offset = resp.snapshot.end_offset.value();
  p.snapshot_id.epoch = resp.snapshot.epoch.value();
  p.current_leader.leader_id = resp.current_leader.leader.value();
  p.current_leader.leader_epoch = resp.current_leader.epoch.value();
  p.size = resp.size;
  p.position = resp.position;
  p.unaligned_records = std::span<const uint8_t>(resp.unaligned_records);
  return out;
}

result<raft::fetch_snapshot_response, wire_refusal> from_wire(
    const protocol::fetch_snapshot_response& resp, int16_t /*version*/) {
  if (auto r = top_level_error(resp.error_code)) return failure{std::move(*r)};
  auto p = only_partition(
      resp.topics, [](const auto& t) { return t.name == metadata_topic_name; },
      [](const auto& x) { return x.index; });
  if (!p) return failure{p.error()};
  raft::fetch_snapshot_response out;
  out.error = to_raft_error((*p)->error_code);
  out.current_leader = leader_of((*p)->current_leader.leader_id, (*p)->current_leader.leader_epoch);
  out.snapshot = raft::snapshot_id{offset((*p)->snapshot_id.end_offset),
                                   leader_epoch((*p)->snapshot_id.epoch)};
  out.size = (*p)->size;
  out.position = (*p)->position;
  if ((*p)->unaligned_records) {
    out.unaligned_records.assign((*p)->unaligned_records->begin(), (*p)->unaligned_records->end());
  }
  return out;
}

// ---- entries <-> batches ----

protocol::metadata::voters_record to_voters_record(const raft::voter_set& voters) {
  protocol::metadata::voters_record r;
  r.version = 0;
  for (const auto& v : voters) {
    auto& w = r.voters.emplace_back();
    w.voter_id = v.id.value();
    w.voter_directory_id = v.directory_id;
    for (const auto& ep : v.endpoints) w.endpoints.push_back({ep.name, ep.host, ep.port, {}});
    // KRaft protocol versions this voter supports: 0 (static) and 1 (KIP-853).
    w.kraft_version_feature.min_supported_version = 0;
    w.kraft_version_feature.max_supported_version = 1;
  }
  return r;
}

raft::voter_set from_voters_record(const protocol::metadata::voters_record& r) {
  raft::voter_set out;
  for (const auto& w : r.voters) {
    raft::voter v;
    v.id = node_id(w.voter_id);
    v.directory_id = w.voter_directory_id;
    for (const auto& ep : w.endpoints) v.endpoints.push_back({ep.name, ep.host, ep.port});
    out.push_back(std::move(v));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

std::vector<uint8_t> entry_to_batch(const raft::entry& e, int64_t append_time_ms) {
  if (e.kind == raft::entry_kind::voters) {
    protocol::metadata::any_control_record rec = to_voters_record(e.voters);
    return controller::encode_control_batch(e.base, e.epoch, append_time_ms,
                                            std::span<const protocol::metadata::any_control_record>(&rec, 1));
  }
  if (e.kind == raft::entry_kind::leader_change) {
    protocol::metadata::leader_change_message m;
    m.version = 0;
    m.leader_id = e.leader_change.leader.value();
    for (node_id v : e.leader_change.voters) m.voters.emplace_back().voter_id = v.value();
    for (node_id v : e.leader_change.granting_voters) {
      m.granting_voters.emplace_back().voter_id = v.value();
    }
    protocol::metadata::any_control_record rec = std::move(m);
    return controller::encode_control_batch(e.base, e.epoch, append_time_ms,
                                            std::span<const protocol::metadata::any_control_record>(&rec, 1));
  }
  // The payload was produced by the shell (encode_data_batch): not a v2 batch is a programmer error.
  auto h = protocol::parse_batch_header(e.payload);
  GREGOR_ASSERT(h.has_value() && h->last_offset_delta + 1 == e.record_count);
  std::vector<uint8_t> out = e.payload;
  put_be(out.data(), static_cast<uint64_t>(e.base.value()), 8);
  put_be(out.data() + 12, static_cast<uint32_t>(e.epoch.value()), 4);
  return out;
}

void entries_to_batches(std::span<const raft::entry> entries, std::vector<uint8_t>& out) {
  for (const auto& e : entries) {
    auto b = entry_to_batch(e);
    out.insert(out.end(), b.begin(), b.end());
  }
}

result<std::vector<raft::entry>, std::string> batches_to_entries(std::span<const uint8_t> bytes) {
  auto spans = controller::split_batches(bytes);
  if (!spans) return failure{spans.error()};
  std::vector<raft::entry> out;
  out.reserve(spans->size());
  for (auto s : *spans) {
    auto h = protocol::parse_batch_header(s);
    GREGOR_ASSERT(h.has_value());  // split_batches checked it
    if (!protocol::batch_crc_ok(s)) {
      return failure{fmt::format("batch at offset {} fails its CRC", h->base_offset)};
    }
    if (h->last_offset_delta < 0 || h->records_count != h->last_offset_delta + 1) {
      return failure{fmt::format("batch at offset {} has {} records for last offset delta {}",
                                 h->base_offset, h->records_count, h->last_offset_delta)};
    }
    raft::entry e;
    e.base = offset(h->base_offset);
    e.epoch = leader_epoch(h->partition_leader_epoch);
    e.record_count = h->last_offset_delta + 1;
    if (!h->is_control()) {
      e.kind = raft::entry_kind::data;
      e.payload.assign(s.begin(), s.end());
      out.push_back(std::move(e));
      continue;
    }
    auto b = controller::decode_batch(s);
    if (!b) return failure{b.error()};
    if (b->controls.size() == 1 && b->controls.front().body &&
        std::holds_alternative<protocol::metadata::voters_record>(*b->controls.front().body)) {
      e.kind = raft::entry_kind::voters;
      e.voters = from_voters_record(std::get<protocol::metadata::voters_record>(*b->controls.front().body));
      out.push_back(std::move(e));
      continue;
    }
    if (b->controls.size() != 1 || !b->controls.front().body ||
        !std::holds_alternative<protocol::metadata::leader_change_message>(*b->controls.front().body)) {
      return failure{fmt::format(
          "control batch at offset {} is not one LeaderChangeMessage (first control type {})",
          h->base_offset, b->controls.empty() ? -1 : b->controls.front().type)};
    }
    const auto& m = std::get<protocol::metadata::leader_change_message>(*b->controls.front().body);
    e.kind = raft::entry_kind::leader_change;
    e.leader_change.leader = node_id(m.leader_id);
    for (const auto& v : m.voters) e.leader_change.voters.push_back(node_id(v.voter_id));
    for (const auto& v : m.granting_voters) {
      e.leader_change.granting_voters.push_back(node_id(v.voter_id));
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace gregor::server
