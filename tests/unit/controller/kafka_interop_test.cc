// Proves, together with tests/integration/test_metadata_log_format.py (which runs these with
// Kafka's own tools around them), that our metadata log and snapshots are Kafka's: one test writes
// a metadata directory for Kafka's DumpLogSegments to decode, the other reads a directory written
// by a real Kafka 4.3.1 into an image. Without the environment variables the pytest module sets,
// both are skipped.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "gregor/controller/metadata_image.h"
#include "gregor/controller/metadata_log.h"
#include "gregor/controller/metadata_store.h"

using namespace gregor;
using namespace gregor::controller;
namespace fs = std::filesystem;

namespace {
const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}
}  // namespace

// GREGOR_INTEROP_WRITE_DIR=<log dir>: writes a metadata log (topics, configs, producer ids) and a
// snapshot with metadata_store, and `<log dir>/expected.txt` listing what Kafka's tool must show:
// "topic <name> <base64 id> <partitions>", "snapshot <file name>", "segment <file name>".
TEST(kafka_interop, writes_a_metadata_dir_for_kafkas_tools) {
  const char* dir = env("GREGOR_INTEROP_WRITE_DIR");
  if (!dir) GTEST_SKIP() << "set GREGOR_INTEROP_WRITE_DIR (tests/integration/test_metadata_log_format.py)";
  manual_clock clk{1'700'000'000'000};
  auto s = metadata_store::open(dir, node_id(1), "", clk);
  ASSERT_TRUE(s.has_value()) << s.error().message;
  auto& store = **s;
  std::ofstream expected(fs::path(dir) / "expected.txt");
  for (auto [name, parts] : {std::pair<std::string, int>{"interop-alpha", 3}, {"interop-beta", 1}}) {
    auto t = store.create_topic(name, parts, 1, {{"retention.ms", "123456"}}, false);
    ASSERT_TRUE(t.has_value()) << t.error().message;
    expected << "topic " << name << " " << (*t)->id.to_base64() << " " << parts << "\n";
  }
  ASSERT_TRUE(store.set_broker_configs("", {{"log.retention.ms", std::string("5000")}}).has_value());
  ASSERT_TRUE(store.allocate_producer_ids(node_id(1), 1000).has_value());
  auto snap = store.write_snapshot();
  ASSERT_TRUE(snap.has_value()) << snap.error().message;
  ASSERT_TRUE(store.create_topic("interop-gamma", 2, 1, {}, false).has_value());
  expected << "topic interop-gamma " << store.image().topic("interop-gamma")->id.to_base64() << " 2\n";
  expected << "snapshot " << snapshot_file_name(*snap) << "\n";
  expected << "segment 00000000000000000000.log\n";
}

// GREGOR_INTEROP_READ_DIR=<a copy of Kafka's __cluster_metadata-0>, GREGOR_INTEROP_EXPECT_TOPIC,
// GREGOR_INTEROP_EXPECT_PARTITIONS: opens it with metadata_log, applies the snapshot (if any) and
// every batch to an image, and checks that every record applies and the topic is there.
TEST(kafka_interop, reads_a_metadata_dir_written_by_kafka) {
  const char* dir = env("GREGOR_INTEROP_READ_DIR");
  const char* topic = env("GREGOR_INTEROP_EXPECT_TOPIC");
  if (!dir || !topic) GTEST_SKIP() << "set GREGOR_INTEROP_READ_DIR and GREGOR_INTEROP_EXPECT_TOPIC";
  manual_clock clk{1'700'000'000'000};
  auto log = metadata_log::open(dir, clk);
  ASSERT_TRUE(log.has_value()) << log.error().message;
  auto rec = (*log)->take_recovered();
  ASSERT_TRUE(rec.quorum.has_value());
  EXPECT_EQ(rec.quorum->leader_id, node_id(1));
  EXPECT_GE(rec.quorum->leader_epoch, leader_epoch(1));
  metadata_image img;
  size_t records = 0;
  size_t controls = 0;
  if (rec.snapshot_contents) {
    std::cout << "snapshot " << snapshot_file_name(*rec.snapshot) << ": " << rec.snapshot_contents->records.size()
              << " records\n";
    for (const auto& r : rec.snapshot_contents->records) {
      EXPECT_EQ(img.apply(r.message), "");
      ++records;
    }
  }
  for (const auto& b : rec.batches) {
    controls += b.controls.size();
    for (const auto& r : b.records) {
      EXPECT_EQ(img.apply(r.message), "") << "batch at offset " << b.base_offset.value();
      ++records;
    }
  }
  std::cout << "applied " << records << " records, " << controls << " control records, log ["
            << rec.log_start_offset.value() << ", " << rec.log_end_offset.value() << ")\n";
  if (!rec.snapshot_contents) EXPECT_GT(controls, 0u);  // at least one LeaderChangeMessage
  // The whole log as well, from its start (Kafka keeps it next to its snapshot for a while): every
  // batch decodes and applies, and it holds the topic too unless the log was cut below it.
  metadata_image from_log;
  size_t log_records = 0;
  for (offset at = rec.log_start_offset; at < rec.log_end_offset;) {
    auto bytes = (*log)->read(at, 1 << 20);
    ASSERT_TRUE(bytes.has_value()) << bytes.error().message;
    auto batches = decode_batches(*bytes);
    ASSERT_TRUE(batches.has_value()) << batches.error();
    ASSERT_FALSE(batches->empty());
    for (const auto& b : *batches) {
      for (const auto& r : b.records) {
        EXPECT_EQ(from_log.apply(r.message), "") << "batch at offset " << b.base_offset.value();
        ++log_records;
      }
      at = b.last_offset + 1;
    }
  }
  std::cout << "the whole log: " << log_records << " records\n";
  if (rec.log_start_offset == offset(0)) EXPECT_NE(from_log.topic(topic), nullptr);
  const topic_info* t = img.topic(topic);
  ASSERT_NE(t, nullptr) << "topic " << topic << " not in the image";
  if (const char* parts = env("GREGOR_INTEROP_EXPECT_PARTITIONS")) {
    EXPECT_EQ(t->partitions.size(), size_t(std::atoi(parts)));
  }
  std::cout << "topic " << t->name << " " << t->id.to_base64() << " " << t->partitions.size() << "\n";
  ASSERT_TRUE(img.brokers().contains(node_id(1)));
  EXPECT_FALSE(img.brokers().at(node_id(1)).endpoints.empty());
  EXPECT_GT(img.metadata_version(), 0);
  // What our image writes back is a snapshot our own reader accepts.
  auto bytes = encode_snapshot({rec.log_end_offset, rec.quorum->leader_epoch}, img.to_records(), {});
  auto again = decode_snapshot(bytes);
  ASSERT_TRUE(again.has_value()) << again.error();
  metadata_image copy;
  for (const auto& r : again->records) EXPECT_EQ(copy.apply(r.message), "");
  ASSERT_NE(copy.topic(topic), nullptr);
  EXPECT_EQ(copy.topic(topic)->id, t->id);
}
