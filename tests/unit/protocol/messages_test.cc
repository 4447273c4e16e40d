// Proves headers, the API table and generated messages against hand-built Kafka byte sequences
// (golden bytes, both directions) and that hostile message bodies fail cleanly.
#include <gtest/gtest.h>

#include <random>

#include "gregor/protocol/api.h"
#include "gregor/protocol/headers.h"
#include "gregor/protocol/messages/api_versions.h"
#include "gregor/protocol/messages/fetch.h"
#include "gregor/protocol/messages/metadata.h"
#include "gregor/protocol/messages/produce.h"

namespace gregor::protocol {
namespace {
std::vector<uint8_t> bytes(std::initializer_list<int> v) {
  std::vector<uint8_t> out;
  for (int b : v) out.push_back(static_cast<uint8_t>(b));
  return out;
}
}  // namespace

TEST(api_table, lists_apis_sorted_by_key_with_versions) {
  auto apis = all_apis();
  ASSERT_GE(apis.size(), 10u);
  for (size_t i = 1; i < apis.size(); ++i) EXPECT_LT(apis[i - 1].key, apis[i].key);
  const api_info* produce = find_api(0);
  ASSERT_NE(produce, nullptr);
  EXPECT_EQ(produce->name, "Produce");
  EXPECT_EQ(produce->min_version, 0);
  EXPECT_EQ(produce->max_version, 13);
  EXPECT_EQ(produce->flexible_min, 9);
  EXPECT_EQ(find_api(1)->max_version, 18);
  EXPECT_EQ(find_api(3)->max_version, 13);
  EXPECT_EQ(find_api(4), nullptr);
  EXPECT_EQ(find_api(-1), nullptr);
}

TEST(headers, header_versions_follow_flexibility_and_api_versions_is_always_v0) {
  EXPECT_EQ(request_header_version(3, 8), 1);
  EXPECT_EQ(request_header_version(3, 9), 2);
  EXPECT_EQ(response_header_version(3, 8), 0);
  EXPECT_EQ(response_header_version(3, 9), 1);
  EXPECT_EQ(request_header_version(18, 3), 2);
  EXPECT_EQ(response_header_version(18, 3), 0);
  EXPECT_EQ(response_header_version(18, 4), 0);
}

// ApiVersions v3 as librdkafka sends it: header v2 (classic client_id + empty tag section), then
// compact client software name and version and an empty tag section.
const std::vector<uint8_t> api_versions_v3_frame = bytes({
    0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,                    // key 18, v3, corr 1
    0x00, 0x07, 'r', 'd', 'k', 'a', 'f', 'k', 'a',                     // client_id "rdkafka"
    0x00,                                                              // header tags
    0x0b, 'l', 'i', 'b', 'r', 'd', 'k', 'a', 'f', 'k', 'a',            // "librdkafka"
    0x06, '2', '.', '0', '.', '2',                                     // "2.0.2"
    0x00});                                                            // body tags

TEST(golden, api_versions_v3_request_from_librdkafka_decodes) {
  reader r(api_versions_v3_frame);
  request_header h;
  ASSERT_TRUE(decode_request_header(r, h)) << r.error();
  EXPECT_EQ(h.api_key, 18);
  EXPECT_EQ(h.api_version, 3);
  EXPECT_EQ(h.correlation_id, 1);
  EXPECT_EQ(h.client_id, "rdkafka");
  api_versions_request req;
  req.decode(r, h.api_version);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(req.client_software_name, "librdkafka");
  EXPECT_EQ(req.client_software_version, "2.0.2");
}

TEST(golden, api_versions_v3_request_encodes_to_librdkafka_bytes) {
  api_versions_request req;
  req.client_software_name = "librdkafka";
  req.client_software_version = "2.0.2";
  EXPECT_EQ(encode_request(req, 3, 1, "rdkafka"), api_versions_v3_frame);
}

TEST(golden, api_versions_v3_response_uses_header_v0) {
  api_versions_response resp;
  resp.api_keys.push_back({18, 0, 4, {}});
  auto frame = encode_response(resp, 3, 7);
  EXPECT_EQ(frame, bytes({0x00, 0x00, 0x00, 0x07,              // header v0: correlation id only
                          0x00, 0x00,                          // error_code
                          0x02, 0x00, 0x12, 0x00, 0x00, 0x00, 0x04, 0x00,  // [ApiVersion]
                          0x00, 0x00, 0x00, 0x00,              // throttle_time_ms
                          0x00}));                             // no tagged fields (defaults)
}

// Metadata v1 request: header v1, topics ["foo"].
const std::vector<uint8_t> metadata_v1_frame = bytes({
    0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x2a,  // key 3, v1, corr 42
    0x00, 0x03, 'c', 'l', 'i',                       // client_id "cli"
    0x00, 0x00, 0x00, 0x01,                          // one topic
    0x00, 0x03, 'f', 'o', 'o'});

TEST(golden, metadata_v1_request_both_directions) {
  metadata_request req;
  req.topics.emplace();
  req.topics->push_back({});
  req.topics->back().name = "foo";
  EXPECT_EQ(encode_request(req, 1, 42, "cli"), metadata_v1_frame);

  reader r(metadata_v1_frame);
  request_header h;
  ASSERT_TRUE(decode_request_header(r, h));
  metadata_request got;
  got.decode(r, 1);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_TRUE(got.topics.has_value());
  ASSERT_EQ(got.topics->size(), 1u);
  EXPECT_EQ((*got.topics)[0].name, "foo");
  EXPECT_TRUE(got.allow_auto_topic_creation);  // not on the wire before v4: default
}

TEST(golden, metadata_v1_null_topics_means_all) {
  auto body = bytes({0xff, 0xff, 0xff, 0xff});
  reader r(body);
  metadata_request got;
  got.decode(r, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(got.topics.has_value());
}

// Produce v3: null transactional id, acks -1, timeout 30000, topic "t" partition 0, 3 record bytes.
const std::vector<uint8_t> produce_v3_body = bytes({
    0xff, 0xff,                    // transactional_id null
    0xff, 0xff,                    // acks -1
    0x00, 0x00, 0x75, 0x30,        // timeout_ms 30000
    0x00, 0x00, 0x00, 0x01,        // one topic
    0x00, 0x01, 't',               // name
    0x00, 0x00, 0x00, 0x01,        // one partition
    0x00, 0x00, 0x00, 0x00,        // index 0
    0x00, 0x00, 0x00, 0x03, 1, 2, 3});  // records

TEST(golden, produce_v3_request_both_directions) {
  reader r(produce_v3_body);
  produce_request req;
  req.decode(r, 3);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_FALSE(req.transactional_id.has_value());
  EXPECT_EQ(req.acks, -1);
  EXPECT_EQ(req.timeout_ms, 30000);
  ASSERT_EQ(req.topic_data.size(), 1u);
  EXPECT_EQ(req.topic_data[0].name, "t");
  ASSERT_EQ(req.topic_data[0].partition_data.size(), 1u);
  const auto& records = req.topic_data[0].partition_data[0].records;
  ASSERT_TRUE(records.has_value());
  // The records view points into the input buffer: no copy.
  EXPECT_EQ(records->data(), produce_v3_body.data() + produce_v3_body.size() - 3);
  EXPECT_EQ(records->size(), 3u);

  std::vector<uint8_t> out;
  writer w(out);
  req.encode(w, 3);
  EXPECT_EQ(out, produce_v3_body);
  EXPECT_EQ(req.encoded_size(3), out.size());
}

TEST(hostile, metadata_array_count_max_int_fails_without_allocating) {
  auto body = bytes({0x7f, 0xff, 0xff, 0xff, 0x00, 0x01, 'a'});
  reader r(body);
  metadata_request got;
  got.decode(r, 1);
  EXPECT_FALSE(r.ok());
}

TEST(hostile, metadata_topic_name_length_minus_two_fails) {
  auto body = bytes({0x00, 0x00, 0x00, 0x01, 0xff, 0xfe});
  reader r(body);
  metadata_request got;
  got.decode(r, 1);
  EXPECT_FALSE(r.ok());
}

TEST(hostile, compact_array_with_huge_length_fails) {
  auto body = bytes({0xff, 0xff, 0xff, 0xff, 0x0f, 0x00});
  reader r(body);
  metadata_request got;
  got.decode(r, 9);
  EXPECT_FALSE(r.ok());
}

TEST(hostile, request_header_client_id_length_below_minus_one_fails) {
  auto frame = bytes({0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0xff, 0xfd});
  reader r(frame);
  request_header h;
  EXPECT_FALSE(decode_request_header(r, h));
}

TEST(hostile, tagged_field_larger_than_buffer_fails) {
  // ApiVersions v3 body: "", "", one tagged field claiming 10 bytes with 2 present.
  auto body = bytes({0x01, 0x01, 0x01, 0x05, 0x0a, 0xaa, 0xbb});
  reader r(body);
  api_versions_request req;
  req.decode(r, 3);
  EXPECT_FALSE(r.ok());
}

TEST(hostile, known_tagged_field_with_wrong_size_fails) {
  // ApiVersions v3 response with FinalizedFeaturesEpoch (tag 1, int64) given 2 bytes.
  auto body = bytes({0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0xaa, 0xbb});
  reader r(body);
  api_versions_response resp;
  resp.decode(r, 3);
  EXPECT_FALSE(r.ok());
}

TEST(tagged_fields, unknown_tag_is_preserved_through_decode_and_encode) {
  auto body = bytes({0x01, 0x01, 0x01, 0x05, 0x02, 0xaa, 0xbb});
  reader r(body);
  api_versions_request req;
  req.decode(r, 3);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(req.unknown_tagged_fields.size(), 1u);
  EXPECT_EQ(req.unknown_tagged_fields[0].tag, 5u);
  EXPECT_EQ(req.unknown_tagged_fields[0].data, bytes({0xaa, 0xbb}));
  std::vector<uint8_t> out;
  writer w(out);
  req.encode(w, 3);
  EXPECT_EQ(out, body);
}

TEST(tagged_fields, known_tagged_field_round_trips_and_default_is_omitted) {
  fetch_request req;
  req.topics.push_back({});
  req.topics[0].partitions.push_back({});
  req.topics[0].partitions[0].high_watermark = 99;
  std::vector<uint8_t> with_tag, without_tag;
  writer w1(with_tag);
  req.encode(w1, 18);
  req.topics[0].partitions[0].high_watermark = std::numeric_limits<int64_t>::max();
  writer w2(without_tag);
  req.encode(w2, 18);
  EXPECT_EQ(with_tag.size(), without_tag.size() + 1 + 1 + 8 - 0);  // tag, size, int64 (count byte shared)
  reader r(with_tag);
  fetch_request got;
  got.decode(r, 18);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(got.topics[0].partitions[0].high_watermark, 99);
}

// Seeded byte flips of valid encodings must decode (or fail) without crashing; run under
// ASan/UBSan this catches out-of-bounds reads and oversized allocations.
template <class Msg>
void mutate_and_decode(const Msg& m, int16_t version, uint32_t seed) {
  std::vector<uint8_t> good;
  writer w(good);
  m.encode(w, version);
  std::mt19937 rng(seed);
  for (int round = 0; round < 300 && !good.empty(); ++round) {
    auto bad = good;
    int flips = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < flips; ++i) bad[rng() % bad.size()] = static_cast<uint8_t>(rng());
    reader r(bad);
    Msg out;
    out.decode(r, version);
    if (r.ok()) {
      EXPECT_LE(r.position(), bad.size());
    }
  }
}

TEST(hostile, random_byte_flips_never_crash_the_decoders) {
  fetch_response fr;
  fr.responses.resize(2);
  for (auto& t : fr.responses) {
    t.topic = "topic";
    t.partitions.resize(2);
    for (auto& p : t.partitions) {
      p.records = std::span<const uint8_t>(api_versions_v3_frame);
      p.aborted_transactions.emplace(1);
      p.current_leader.leader_id = 3;
    }
  }
  for (int16_t v : {4, 11, 12, 13, 16, 18}) mutate_and_decode(fr, v, 1234 + v);
  metadata_response mr;
  mr.brokers.resize(2);
  mr.topics.resize(2);
  for (auto& t : mr.topics) t.partitions.resize(2);
  for (int16_t v : {0, 1, 8, 9, 12, 13}) mutate_and_decode(mr, v, 99 + v);
  produce_request pr;
  pr.topic_data.resize(1);
  pr.topic_data[0].partition_data.resize(2);
  for (int16_t v : {3, 8, 9, 13}) mutate_and_decode(pr, v, 7 + v);
}

TEST(versions, field_absent_in_version_is_skipped_on_encode) {
  produce_request req;
  req.transactional_id = "tx";  // only v3+
  req.acks = 1;
  std::vector<uint8_t> v2, v3;
  writer w2(v2);
  req.encode(w2, 2);
  writer w3(v3);
  req.encode(w3, 3);
  EXPECT_EQ(v3.size(), v2.size() + 4);
}
}  // namespace gregor::protocol

namespace gregor::protocol {

// Splicing leaves large byte fields out of the buffer; reinserting them gives the plain encoding.
TEST(encode_response_spliced, reassembles_to_the_plain_encoding) {
  std::vector<uint8_t> big(20000), small(100);
  for (size_t i = 0; i < big.size(); ++i) big[i] = uint8_t(i * 7);
  for (size_t i = 0; i < small.size(); ++i) small[i] = uint8_t(i * 3);
  fetch_response resp;
  auto& t = resp.responses.emplace_back();
  t.topic = "t";
  for (int i = 0; i < 3; ++i) {
    auto& p = t.partitions.emplace_back();
    p.partition_index = i;
    p.records = std::span<const uint8_t>(i == 1 ? small : big);
  }
  for (int16_t v : {int16_t(4), int16_t(11), int16_t(12), int16_t(16)}) {
    const auto plain = encode_response(resp, v, 42);
    std::vector<spliced_bytes> splices;
    const auto head = encode_response_spliced(resp, v, 42, splices, 4096);
    ASSERT_EQ(splices.size(), 2u) << "only the two 20000-byte fields are spliced, v" << v;
    std::vector<uint8_t> joined;
    size_t at = 0;
    for (const auto& sp : splices) {
      joined.insert(joined.end(), head.begin() + long(at), head.begin() + long(sp.position));
      joined.insert(joined.end(), sp.bytes.begin(), sp.bytes.end());
      at = sp.position;
    }
    joined.insert(joined.end(), head.begin() + long(at), head.end());
    EXPECT_EQ(joined, plain) << "v" << v;
    EXPECT_EQ(head.size() + 40000, plain.size());
  }
}

}  // namespace gregor::protocol
