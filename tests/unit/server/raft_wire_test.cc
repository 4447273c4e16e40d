// Proves that every Raft core message survives Kafka's wire (to_wire, the generated encode/decode
// at the versions the shell uses, from_wire) unchanged, that entries survive record batches, and
// that requests or batches not for this cluster's metadata partition are refused, not asserted.
#include "../../../src/server/raft_wire.h"
#include "../../../src/server/voter_update.h"

#include <gtest/gtest.h>

#include <type_traits>

#include "gregor/controller/metadata_batch.h"
#include "gregor/controller/metadata_log.h"
#include "gregor/protocol/record_batch.h"

namespace gregor::server {
namespace {

using protocol::error_code;
constexpr std::string_view cluster = "MkU3OEVBNTcwNTJENDM2Qg";

// Encodes `m` at `version` into `buf` and decodes it back (views point into `buf`).
template <class M>
M through_bytes(const M& m, int16_t version, std::vector<uint8_t>& buf) {
  buf.clear();
  protocol::writer w(buf);
  m.encode(w, version);
  protocol::reader r(buf);
  M out;
  out.decode(r, version);
  EXPECT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r.remaining(), 0u);
  return out;
}

// A request's trip: to_wire, bytes, from_wire (which must accept it).
template <class Raft>
Raft request_trip(const Raft& in, int16_t version) {
  std::vector<uint8_t> buf;
  auto wire = [&] {
    if constexpr (std::is_same_v<Raft, raft::fetch_request>) {
      return through_bytes(to_wire(in, cluster, 100, version), version, buf);
    } else {
      return through_bytes(to_wire(in, cluster, version), version, buf);
    }
  }();
  auto out = from_wire(wire, version, cluster);
  EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().why);
  return out ? *out : Raft{};
}

template <class Raft>
Raft response_trip(const Raft& in, int16_t version) {
  std::vector<uint8_t> buf;
  auto wire = through_bytes(to_wire(in, version), version, buf);
  auto out = from_wire(wire, version);
  EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().why);
  return out ? *out : Raft{};
}

std::vector<uint8_t> data_batch(int64_t time_ms, std::string name, int16_t level) {
  protocol::metadata::feature_level_record rec;
  rec.name = std::move(name);
  rec.feature_level = level;
  std::vector<controller::framed_record> recs{controller::frame(rec), controller::frame(rec)};
  return controller::encode_data_batch(offset(0), leader_epoch(0), time_ms, recs);
}

raft::entry data_entry(int64_t base, int32_t epoch) {
  raft::entry e;
  e.base = offset(base);
  e.epoch = leader_epoch(epoch);
  e.record_count = 2;
  e.kind = raft::entry_kind::data;
  e.payload = data_batch(1234, "metadata.version", 21);
  return e;
}

raft::entry leader_change_entry(int64_t base, int32_t epoch) {
  raft::entry e;
  e.base = offset(base);
  e.epoch = leader_epoch(epoch);
  e.record_count = 1;
  e.kind = raft::entry_kind::leader_change;
  e.leader_change.leader = node_id(2);
  e.leader_change.voters = {node_id(1), node_id(2), node_id(3)};
  e.leader_change.granting_voters = {node_id(2), node_id(3)};
  return e;
}

// What the receiver sees of an entry: a data entry's payload is its batch as stamped.
raft::entry as_received(raft::entry e) {
  if (e.kind == raft::entry_kind::data) e.payload = entry_to_batch(e);
  return e;
}

// ---- requests and responses ----

TEST(raft_wire, vote_request_and_pre_vote_survive_the_wire_at_v2) {
  raft::vote_request v{leader_epoch(7), node_id(2), node_id(3), leader_epoch(6), offset(42), true};
  auto out = request_trip(v, raft_vote_version);
  EXPECT_EQ(out.candidate_epoch, v.candidate_epoch);
  EXPECT_EQ(out.candidate, v.candidate);
  EXPECT_EQ(out.voter, v.voter);
  EXPECT_EQ(out.last_offset_epoch, v.last_offset_epoch);
  EXPECT_EQ(out.last_offset, v.last_offset);
  EXPECT_TRUE(out.pre_vote);
  v.pre_vote = false;
  EXPECT_FALSE(request_trip(v, raft_vote_version).pre_vote);
}

TEST(raft_wire, vote_request_at_v0_has_no_voter_id) {
  raft::vote_request v{leader_epoch(7), node_id(2), node_id(3), leader_epoch(6), offset(42), false};
  auto out = request_trip(v, 0);
  EXPECT_EQ(out.voter, no_node);
  EXPECT_EQ(out.candidate, node_id(2));
  EXPECT_EQ(out.last_offset, offset(42));
}

TEST(raft_wire, vote_response_survives_the_wire_without_pre_vote) {
  raft::vote_response v{raft::wire_error::fenced_leader_epoch, {node_id(1), leader_epoch(9)}, true, true};
  auto out = response_trip(v, raft_vote_version);
  EXPECT_EQ(out.error, v.error);
  EXPECT_EQ(out.leader, v.leader);
  EXPECT_TRUE(out.vote_granted);
  EXPECT_FALSE(out.pre_vote);  // not on the wire: the shell sets it from the request
}

TEST(raft_wire, begin_quorum_epoch_survives_the_wire_at_v1_and_v0) {
  raft::begin_quorum_epoch_request q{{node_id(1), leader_epoch(4)}, node_id(3)};
  auto out = request_trip(q, raft_begin_quorum_epoch_version);
  EXPECT_EQ(out.leader, q.leader);
  EXPECT_EQ(out.voter, q.voter);
  auto old = request_trip(q, 0);
  EXPECT_EQ(old.leader, q.leader);
  EXPECT_EQ(old.voter, no_node);
  for (int16_t v : {int16_t(0), raft_begin_quorum_epoch_version}) {
    raft::begin_quorum_epoch_response r{raft::wire_error::not_leader_or_follower, {node_id(2), leader_epoch(5)}};
    auto back = response_trip(r, v);
    EXPECT_EQ(back.error, r.error);
    EXPECT_EQ(back.leader, r.leader);
  }
}

TEST(raft_wire, end_quorum_epoch_keeps_preferred_candidates_in_order_at_v1_and_v0) {
  raft::end_quorum_epoch_request q{{node_id(1), leader_epoch(4)}, {node_id(3), node_id(2)}};
  for (int16_t v : {int16_t(0), raft_end_quorum_epoch_version}) {
    auto out = request_trip(q, v);
    EXPECT_EQ(out.leader, q.leader);
    EXPECT_EQ(out.preferred_candidates, q.preferred_candidates) << "v" << v;
    raft::end_quorum_epoch_response r{raft::wire_error::none, {node_id(1), leader_epoch(4)}};
    auto back = response_trip(r, v);
    EXPECT_EQ(back.error, r.error);
    EXPECT_EQ(back.leader, r.leader);
  }
}

TEST(raft_wire, fetch_request_survives_the_wire_by_name_by_id_and_with_replica_state) {
  raft::fetch_request f;
  f.replica = node_id(3);
  f.current_leader_epoch = leader_epoch(5);
  f.fetch_offset = offset(100);
  f.last_fetched_epoch = leader_epoch(4);
  f.log_start_offset = offset(10);
  f.max_bytes = 65536;
  f.request_token = 77;
  for (int16_t v : {int16_t(12), int16_t(13), int16_t(14), int16_t(15), raft_fetch_version, int16_t(18)}) {
    auto out = request_trip(f, v);
    EXPECT_EQ(out.replica, f.replica) << "v" << v;
    EXPECT_EQ(out.current_leader_epoch, f.current_leader_epoch);
    EXPECT_EQ(out.fetch_offset, f.fetch_offset);
    EXPECT_EQ(out.last_fetched_epoch, f.last_fetched_epoch);
    EXPECT_EQ(out.log_start_offset, f.log_start_offset);
    EXPECT_EQ(out.max_bytes, f.max_bytes);
    EXPECT_EQ(out.request_token, 0u);  // not on the wire
  }
}

TEST(raft_wire, fetch_request_carries_the_callers_max_wait_and_kraft_topic_addressing) {
  raft::fetch_request f;
  f.replica = node_id(3);
  auto v17 = to_wire(f, cluster, 500, raft_fetch_version);
  EXPECT_EQ(v17.max_wait_ms, 500);
  EXPECT_EQ(v17.cluster_id, std::string(cluster));
  EXPECT_EQ(v17.replica_state.replica_id, 3);
  ASSERT_EQ(v17.topics.size(), 1u);
  EXPECT_EQ(v17.topics[0].topic_id, controller::metadata_topic_id);
  auto v12 = to_wire(f, cluster, 500, 12);
  EXPECT_EQ(v12.replica_id, 3);
  EXPECT_EQ(v12.topics[0].topic, "__cluster_metadata");
}

TEST(raft_wire, metadata_fetches_are_told_from_partition_fetches_at_every_version) {
  for (int16_t v : {int16_t(12), raft_fetch_version}) {
    auto wire = to_wire(raft::fetch_request{}, cluster, 0, v);
    EXPECT_TRUE(is_metadata_fetch(wire, v)) << "v" << v;
    wire.topics[0].topic = "orders";
    wire.topics[0].topic_id = uuid{5, 6};
    EXPECT_FALSE(is_metadata_fetch(wire, v)) << "v" << v;
  }
}

TEST(raft_wire, fetch_response_with_entries_divergence_and_snapshot_survives_the_wire) {
  raft::fetch_response f;
  f.error = raft::wire_error::none;
  f.current_leader = {node_id(2), leader_epoch(5)};
  f.high_watermark = offset(12);
  f.log_start_offset = offset(3);
  f.records = {leader_change_entry(10, 5), data_entry(11, 5), data_entry(13, 5)};
  for (int16_t v : {int16_t(12), raft_fetch_version}) {
    std::vector<uint8_t> storage, buf;
    auto wire = through_bytes(to_wire(f, v, storage), v, buf);
    auto out = from_wire(wire, v);
    ASSERT_TRUE(out.has_value()) << out.error().why;
    EXPECT_EQ(out->error, f.error);
    EXPECT_EQ(out->current_leader, f.current_leader);
    EXPECT_EQ(out->high_watermark, f.high_watermark);
    EXPECT_EQ(out->log_start_offset, f.log_start_offset);
    EXPECT_FALSE(out->diverging.has_value());
    EXPECT_FALSE(out->snapshot.has_value());
    ASSERT_EQ(out->records.size(), 3u);
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(out->records[i], as_received(f.records[i])) << i;
  }

}

// Fetch responses need storage for their Records.
raft::fetch_response fetch_trip(const raft::fetch_response& in, int16_t version) {
  std::vector<uint8_t> storage, buf;
  auto wire = through_bytes(to_wire(in, version, storage), version, buf);
  auto out = from_wire(wire, version);
  EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().why);
  return out ? *out : raft::fetch_response{};
}

TEST(raft_wire, fetch_response_divergence_at_zero_is_not_mistaken_for_absent) {
  raft::fetch_response d;
  d.error = raft::wire_error::none;
  d.current_leader = {node_id(2), leader_epoch(5)};
  d.high_watermark = no_offset;
  d.diverging = raft::diverging_epoch{leader_epoch(0), offset(0)};
  auto out = fetch_trip(d, raft_fetch_version);
  ASSERT_TRUE(out.diverging.has_value());
  EXPECT_EQ(out.diverging->epoch, leader_epoch(0));
  EXPECT_EQ(out.diverging->end_offset, offset(0));
  EXPECT_EQ(out.high_watermark, no_offset);
  EXPECT_TRUE(out.records.empty());
}

TEST(raft_wire, fetch_response_snapshot_id_and_errors_survive_the_wire) {
  raft::fetch_response s;
  s.error = raft::wire_error::none;
  s.current_leader = {node_id(1), leader_epoch(8)};
  s.snapshot = raft::snapshot_id{offset(500), leader_epoch(7)};
  auto out = fetch_trip(s, raft_fetch_version);
  ASSERT_TRUE(out.snapshot.has_value());
  EXPECT_EQ(*out.snapshot, *s.snapshot);
  EXPECT_FALSE(out.diverging.has_value());

  raft::fetch_response e;
  e.error = raft::wire_error::fenced_leader_epoch;
  e.current_leader = {node_id(1), leader_epoch(8)};
  auto err = fetch_trip(e, raft_fetch_version);
  EXPECT_EQ(err.error, raft::wire_error::fenced_leader_epoch);
  EXPECT_EQ(err.current_leader, e.current_leader);
}

TEST(raft_wire, fetch_snapshot_request_and_response_survive_the_wire) {
  raft::fetch_snapshot_request q;
  q.replica = node_id(3);
  q.current_leader_epoch = leader_epoch(6);
  q.snapshot = {offset(500), leader_epoch(5)};
  q.position = 4096;
  q.max_bytes = 8192;
  for (int16_t v : {int16_t(0), raft_fetch_snapshot_version}) {
    auto out = request_trip(q, v);
    EXPECT_EQ(out.replica, q.replica);
    EXPECT_EQ(out.current_leader_epoch, q.current_leader_epoch);
    EXPECT_EQ(out.snapshot, q.snapshot);
    EXPECT_EQ(out.position, q.position);
    EXPECT_EQ(out.max_bytes, q.max_bytes);

    raft::fetch_snapshot_response r;
    r.error = raft::wire_error::none;
    r.current_leader = {node_id(1), leader_epoch(6)};
    r.snapshot = {offset(500), leader_epoch(5)};
    r.size = 10000;
    r.position = 4096;
    r.unaligned_records = {1, 2, 3, 4, 5};
    auto back = response_trip(r, v);
    EXPECT_EQ(back.error, r.error);
    EXPECT_EQ(back.current_leader, r.current_leader);
    EXPECT_EQ(back.snapshot, r.snapshot);
    EXPECT_EQ(back.size, r.size);
    EXPECT_EQ(back.position, r.position);
    EXPECT_EQ(back.unaligned_records, r.unaligned_records);
  }
}

// ---- refusals ----

TEST(raft_wire, request_for_another_topic_is_refused_with_invalid_request) {
  auto wire = to_wire(raft::vote_request{}, cluster, raft_vote_version);
  wire.topics[0].topic_name = "orders";
  auto out = from_wire(wire, raft_vote_version, cluster);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().error, error_code::invalid_request);

  auto fetch = to_wire(raft::fetch_request{}, cluster, 0, raft_fetch_version);
  fetch.topics[0].topic_id = uuid{7, 7};
  auto f = from_wire(fetch, raft_fetch_version, cluster);
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.error().error, error_code::invalid_request);

  auto by_name = to_wire(raft::fetch_request{}, cluster, 0, 12);
  by_name.topics[0].topic = "orders";
  EXPECT_FALSE(from_wire(by_name, 12, cluster).has_value());
}

TEST(raft_wire, request_for_another_partition_or_several_is_refused) {
  auto wire = to_wire(raft::begin_quorum_epoch_request{}, cluster, raft_begin_quorum_epoch_version);
  wire.topics[0].partitions[0].partition_index = 1;
  auto out = from_wire(wire, raft_begin_quorum_epoch_version, cluster);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().error, error_code::invalid_request);

  auto two = to_wire(raft::fetch_snapshot_request{}, cluster, raft_fetch_snapshot_version);
  two.topics[0].partitions.push_back(two.topics[0].partitions[0]);
  EXPECT_FALSE(from_wire(two, raft_fetch_snapshot_version, cluster).has_value());

  auto none = to_wire(raft::end_quorum_epoch_request{}, cluster, raft_end_quorum_epoch_version);
  none.topics.clear();
  EXPECT_FALSE(from_wire(none, raft_end_quorum_epoch_version, cluster).has_value());
}

TEST(raft_wire, request_from_another_cluster_is_refused_with_inconsistent_cluster_id) {
  auto wire = to_wire(raft::fetch_request{}, "other-cluster", 0, raft_fetch_version);
  auto out = from_wire(wire, raft_fetch_version, cluster);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().error, error_code::inconsistent_cluster_id);
  EXPECT_EQ(static_cast<int16_t>(out.error().error), 104);

  auto vote = to_wire(raft::vote_request{}, "other-cluster", raft_vote_version);
  EXPECT_EQ(from_wire(vote, raft_vote_version, cluster).error().error,
            error_code::inconsistent_cluster_id);
}

TEST(raft_wire, request_without_a_cluster_id_is_accepted) {
  auto wire = to_wire(raft::vote_request{}, cluster, raft_vote_version);
  wire.cluster_id.reset();
  EXPECT_TRUE(from_wire(wire, raft_vote_version, cluster).has_value());
}

// A node that has not learnt its cluster's id yet (the first leader creates it in the log) sends
// ClusterId null and accepts any id; once it knows the id it refuses others again.
TEST(raft_wire, a_node_without_a_cluster_id_sends_null_and_accepts_any_id) {
  const std::string unknown;
  EXPECT_FALSE(to_wire(raft::vote_request{}, unknown, raft_vote_version).cluster_id.has_value());
  EXPECT_FALSE(to_wire(raft::begin_quorum_epoch_request{}, unknown, raft_begin_quorum_epoch_version).cluster_id);
  EXPECT_FALSE(to_wire(raft::end_quorum_epoch_request{}, unknown, raft_end_quorum_epoch_version).cluster_id);
  EXPECT_FALSE(to_wire(raft::fetch_request{}, unknown, 0, raft_fetch_version).cluster_id.has_value());
  EXPECT_FALSE(to_wire(raft::fetch_snapshot_request{}, unknown, raft_fetch_snapshot_version).cluster_id);

  auto fetch = to_wire(raft::fetch_request{}, "some-cluster", 0, raft_fetch_version);
  EXPECT_TRUE(from_wire(fetch, raft_fetch_version, unknown).has_value());
  auto vote = to_wire(raft::vote_request{}, "some-cluster", raft_vote_version);
  EXPECT_TRUE(from_wire(vote, raft_vote_version, unknown).has_value());
  EXPECT_EQ(from_wire(vote, raft_vote_version, cluster).error().error, error_code::inconsistent_cluster_id);
}

TEST(raft_wire, fetch_below_v12_is_refused_with_unsupported_version) {
  protocol::fetch_request old;
  auto out = from_wire(old, 11, cluster);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().error, error_code::unsupported_version);
}

TEST(raft_wire, response_with_a_top_level_error_is_refused_with_that_code) {
  auto wire = error_response<protocol::fetch_response>(error_code::inconsistent_cluster_id);
  std::vector<uint8_t> buf;
  auto out = from_wire(through_bytes(wire, raft_fetch_version, buf), raft_fetch_version);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().error, error_code::inconsistent_cluster_id);

  auto vote = error_response<protocol::vote_response>(error_code::invalid_request);
  EXPECT_EQ(vote.error_code, 42);
  EXPECT_TRUE(vote.topics.empty());
  EXPECT_EQ(from_wire(vote, raft_vote_version).error().error, error_code::invalid_request);
}

TEST(raft_wire, fetch_response_with_a_corrupt_batch_is_refused_with_corrupt_message) {
  raft::fetch_response f;
  f.records = {data_entry(0, 1)};
  std::vector<uint8_t> storage, buf;
  auto wire = to_wire(f, raft_fetch_version, storage);
  storage.back() ^= 0xff;  // a record byte: the CRC no longer matches
  auto decoded = through_bytes(wire, raft_fetch_version, buf);
  auto out = from_wire(decoded, raft_fetch_version);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().error, error_code::corrupt_message);
}

// ---- entries and batches ----

TEST(raft_wire, data_entry_batch_is_stamped_with_offset_and_epoch_and_decodes_intact) {
  auto e = data_entry(41, 6);
  auto batch = entry_to_batch(e);
  auto h = protocol::parse_batch_header(batch);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->base_offset, 41);
  EXPECT_EQ(h->partition_leader_epoch, 6);
  auto decoded = controller::decode_batch(batch);
  ASSERT_TRUE(decoded.has_value()) << decoded.error();
  EXPECT_EQ(decoded->base_offset, offset(41));
  EXPECT_EQ(decoded->last_offset, offset(42));
  EXPECT_EQ(decoded->epoch, leader_epoch(6));
  EXPECT_EQ(decoded->append_time_ms, 1234);
  EXPECT_FALSE(decoded->control);
  ASSERT_EQ(decoded->records.size(), 2u);
  const auto* rec = std::get_if<protocol::metadata::feature_level_record>(&decoded->records[0].message);
  ASSERT_NE(rec, nullptr);
  EXPECT_EQ(rec->name, "metadata.version");
  EXPECT_EQ(rec->feature_level, 21);
}

TEST(raft_wire, data_entry_survives_a_batch_with_its_payload_stamped) {
  auto e = data_entry(41, 6);
  auto back = batches_to_entries(entry_to_batch(e));
  ASSERT_TRUE(back.has_value()) << back.error();
  ASSERT_EQ(back->size(), 1u);
  const auto& got = back->front();
  EXPECT_EQ(got.kind, raft::entry_kind::data);
  EXPECT_EQ(got.base, offset(41));
  EXPECT_EQ(got.epoch, leader_epoch(6));
  EXPECT_EQ(got.record_count, 2);
  EXPECT_EQ(got.payload, entry_to_batch(e));
  EXPECT_EQ(entry_to_batch(got), got.payload);  // stamping again changes nothing
}

TEST(raft_wire, leader_change_entry_becomes_a_leader_change_control_batch_and_back) {
  auto e = leader_change_entry(10, 5);
  auto batch = entry_to_batch(e, 999);
  auto decoded = controller::decode_batch(batch);
  ASSERT_TRUE(decoded.has_value()) << decoded.error();
  EXPECT_TRUE(decoded->control);
  EXPECT_EQ(decoded->base_offset, offset(10));
  EXPECT_EQ(decoded->epoch, leader_epoch(5));
  EXPECT_EQ(decoded->append_time_ms, 999);
  ASSERT_EQ(decoded->controls.size(), 1u);
  EXPECT_EQ(decoded->controls[0].type, controller::control_leader_change);

  auto back = batches_to_entries(batch);
  ASSERT_TRUE(back.has_value()) << back.error();
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ(back->front(), e);
}

TEST(raft_wire, voters_entry_becomes_a_voters_record_control_batch_and_back) {
  raft::entry e;
  e.base = offset(7);
  e.epoch = leader_epoch(3);
  e.kind = raft::entry_kind::voters;
  e.voters = {raft::voter{node_id(1), uuid{}, {{"CONTROLLER", "10.0.0.1", 9093}}},
              raft::voter{node_id(4), uuid{0x1234, 0x5678}, {{"CONTROLLER", "10.0.0.4", 9093}, {"OTHER", "h", 1}}}};
  auto batch = entry_to_batch(e);
  auto decoded = controller::decode_batch(batch);
  ASSERT_TRUE(decoded.has_value()) << decoded.error();
  EXPECT_TRUE(decoded->control);
  ASSERT_EQ(decoded->controls.size(), 1u);
  EXPECT_EQ(decoded->controls[0].type, protocol::metadata::voters_record::control_type);
  auto back = batches_to_entries(batch);
  ASSERT_TRUE(back.has_value()) << back.error();
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ(back->front(), e);
}

TEST(raft_wire, fetch_request_carries_the_directory_id_from_v17) {
  raft::fetch_request f;
  f.replica = node_id(9);
  f.directory_id = uuid{7, 8};
  EXPECT_EQ(request_trip(f, raft_fetch_version).directory_id, f.directory_id);
  EXPECT_TRUE(request_trip(f, 15).directory_id.is_zero());  // no such field before v17
}

TEST(raft_wire, several_entries_survive_back_to_back_batches) {
  std::vector<raft::entry> in{leader_change_entry(0, 1), data_entry(1, 1), data_entry(3, 1),
                              leader_change_entry(5, 2), data_entry(6, 2)};
  std::vector<uint8_t> bytes;
  entries_to_batches(in, bytes);
  auto back = batches_to_entries(bytes);
  ASSERT_TRUE(back.has_value()) << back.error();
  ASSERT_EQ(back->size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) EXPECT_EQ((*back)[i], as_received(in[i])) << i;
  EXPECT_TRUE(batches_to_entries({}).has_value());
}

TEST(raft_wire, batches_with_a_bad_crc_or_a_partial_tail_are_refused) {
  auto batch = entry_to_batch(data_entry(0, 1));
  auto corrupt = batch;
  corrupt[corrupt.size() - 3] ^= 0x01;
  EXPECT_FALSE(batches_to_entries(corrupt).has_value());

  auto partial = batch;
  partial.resize(partial.size() - 1);
  EXPECT_FALSE(batches_to_entries(partial).has_value());

  auto two = batch;
  two.insert(two.end(), batch.begin(), batch.begin() + 20);
  EXPECT_FALSE(batches_to_entries(two).has_value());

  std::vector<uint8_t> garbage(100, 0xab);
  EXPECT_FALSE(batches_to_entries(garbage).has_value());
}

TEST(raft_wire, control_batches_other_than_leader_change_are_refused) {
  protocol::metadata::snapshot_header_record header;
  header.version = 0;
  header.last_contained_log_timestamp = 0;
  protocol::metadata::any_control_record rec = header;
  auto batch = controller::encode_control_batch(offset(0), leader_epoch(1), 0,
                                                std::span<const protocol::metadata::any_control_record>(&rec, 1));
  auto out = batches_to_entries(batch);
  ASSERT_FALSE(out.has_value());
}

// UpdateRaftVoter, the voter's side: a follower of a dynamic quorum (kraft.version 1) whose
// controller endpoint differs from its VotersRecord entry asks for its own; nothing otherwise.
TEST(voter_update, a_follower_whose_endpoint_moved_asks_for_its_current_one) {
  const uuid dir = uuid::random();
  raft::voter_set voters{
      raft::voter{node_id(1), uuid::random(), {{"CONTROLLER", "10.0.0.1", 9093}}},
      raft::voter{node_id(2), dir, {{"CONTROLLER", "10.0.0.2", 9093}}},
  };
  voter_update_input in;
  in.self = node_id(2);
  in.directory_id = dir;
  in.endpoints = {{"CONTROLLER", "10.0.0.2", 9193}};
  in.follower = true;
  in.dynamic_quorum = true;
  in.voters = &voters;
  auto v = voter_update_needed(in);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->id, node_id(2));
  EXPECT_EQ(v->directory_id, dir);
  EXPECT_EQ(v->endpoints, in.endpoints);

  auto same = in;
  same.endpoints = {{"CONTROLLER", "10.0.0.2", 9093}};
  EXPECT_FALSE(voter_update_needed(same)) << "nothing differs";
  auto reordered = in;
  voters[1].endpoints = {{"A", "h", 1}, {"B", "h", 2}};
  reordered.endpoints = {{"B", "h", 2}, {"A", "h", 1}};
  EXPECT_FALSE(voter_update_needed(reordered)) << "the order of the endpoints does not count";
  voters[1].endpoints = {{"CONTROLLER", "10.0.0.2", 9093}};

  auto static_quorum = in;
  static_quorum.dynamic_quorum = false;
  EXPECT_FALSE(voter_update_needed(static_quorum)) << "kraft.version 0";
  auto leading = in;
  leading.follower = false;
  EXPECT_FALSE(voter_update_needed(leading)) << "only a follower asks";
  auto other_directory = in;
  other_directory.directory_id = uuid::random();
  EXPECT_FALSE(voter_update_needed(other_directory)) << "another replica of the same id";
  auto observer = in;
  observer.self = node_id(3);
  EXPECT_FALSE(voter_update_needed(observer)) << "not a voter";
  auto no_endpoints = in;
  no_endpoints.endpoints.clear();
  EXPECT_FALSE(voter_update_needed(no_endpoints));
}

}  // namespace
}  // namespace gregor::server
