// Proves Gregor validates and decodes record batches built by a real client (kafka-python 2.0.2)
// for every codec, including its xerial snappy framing and lz4 frames.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gregor/protocol/record_batch.h"
#include "kafka_python_batches.h"

using namespace gregor::protocol;

namespace {

void expect_client_batch_decodes(std::vector<uint8_t> batch, compression codec) {
  validation_options opts;
  opts.now_ms = 1700000000000;
  opts.timestamp_before_max_ms = 60'000;
  opts.timestamp_after_max_ms = 60'000;
  auto validated = validate_produce_records(batch, opts);
  ASSERT_TRUE(validated) << validated.error().message;
  ASSERT_EQ(validated->size(), 1u);
  EXPECT_EQ((*validated)[0].header.codec(), codec);
  EXPECT_EQ((*validated)[0].header.records_count, 3);

  std::vector<std::string> seen;
  auto r = for_each_record(batch, [&](const record_view& v) {
    std::string line = std::to_string(v.offset) + "@" + std::to_string(v.timestamp) + " " +
                       (v.key ? std::string(*v.key) : "null") + "=" +
                       (v.value ? std::to_string(v.value->size()) + "B" : "null");
    for (const auto& h : v.headers) line += " " + std::string(h.key) + ":" + (h.value ? std::string(*h.value) : "null");
    seen.push_back(line);
  });
  ASSERT_TRUE(r) << r.error().message;
  std::vector<std::string> want = {"0@1700000000000 k0=2B", "1@1700000000005 null=300B h1:a h2:null",
                                   "2@1699999999990 k2=null"};
  EXPECT_EQ(seen, want);
}

}  // namespace

TEST(interop, kafka_python_uncompressed_batch_decodes) {
  expect_client_batch_decodes(kafka_python_batches::none, compression::none);
}
TEST(interop, kafka_python_gzip_batch_decodes) {
  expect_client_batch_decodes(kafka_python_batches::gzip, compression::gzip);
}
TEST(interop, kafka_python_xerial_snappy_batch_decodes) {
  expect_client_batch_decodes(kafka_python_batches::snappy, compression::snappy);
}
TEST(interop, kafka_python_lz4_frame_batch_decodes) {
  expect_client_batch_decodes(kafka_python_batches::lz4, compression::lz4);
}
TEST(interop, kafka_python_zstd_batch_decodes) {
  expect_client_batch_decodes(kafka_python_batches::zstd, compression::zstd);
}
