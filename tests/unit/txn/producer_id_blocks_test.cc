// Proves that producer id blocks handed out by the metadata store are persisted before use, so an
// id is never handed out twice, even after the store is reopened, and that the record that carries
// them round-trips and refuses damaged bytes.
#include <random>

#include <gtest/gtest.h>

#include "gregor/base/clock.h"
#include "gregor/controller/metadata_records.h"
#include "gregor/controller/metadata_store.h"
#include "gregor/txn/producer_id_allocator.h"

namespace gregor::txn {
namespace {
namespace fs = std::filesystem;
using controller::metadata_store;

class temp_dir {
 public:
  temp_dir() {
    std::random_device rd;
    _path = fs::temp_directory_path() / fmt::format("gregor-pid-{:x}{:x}", rd(), rd());
    fs::create_directories(_path);
  }
  ~temp_dir() { fs::remove_all(_path); }
  const fs::path& path() const { return _path; }

 private:
  fs::path _path;
};

// The next id, fetching a block from the store when the current one is used up (what
// server::idempotence does through the controller).
std::optional<producer_id> next_id(producer_id_allocator& ids, metadata_store& md) {
  if (ids.used_up()) {
    auto b = md.allocate_producer_ids(md.self(), producer_id_block_size);
    if (!b || !ids.refill(id_block{b->first, b->size}).empty()) return std::nullopt;
  }
  return ids.next();
}

TEST(producer_id_blocks, ids_are_never_reused_after_the_store_is_reopened) {
  temp_dir tmp;
  manual_clock clk;
  int64_t last = -1;
  {
    auto md = metadata_store::open(tmp.path(), node_id(1), "", clk);
    ASSERT_TRUE(md);
    producer_id_allocator ids;
    for (int i = 0; i < 1500; ++i) {
      auto id = next_id(ids, **md);
      ASSERT_TRUE(id);
      EXPECT_GT(id->value(), last);
      last = id->value();
    }
    EXPECT_EQ((*md)->image().next_producer_id(), 2 * producer_id_block_size);
  }
  auto md = metadata_store::open(tmp.path(), node_id(1), "", clk);
  ASSERT_TRUE(md);
  EXPECT_EQ((*md)->image().next_producer_id(), 2 * producer_id_block_size);
  producer_id_allocator ids;
  auto id = next_id(ids, **md);
  ASSERT_TRUE(id);
  EXPECT_GT(id->value(), last);
  EXPECT_EQ(id->value(), 2 * producer_id_block_size);
}

TEST(producer_id_blocks, producer_ids_record_round_trips_and_refuses_a_negative_mark) {
  auto frame = controller::encode_frame({controller::producer_ids_record{node_id(3), 5000}});
  auto d = controller::decode_frame(frame);
  ASSERT_EQ(d.status, controller::decode_status::ok);
  ASSERT_EQ(d.records.size(), 1u);
  auto* r = std::get_if<controller::producer_ids_record>(&d.records[0]);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->broker, node_id(3));
  EXPECT_EQ(r->next_producer_id, 5000);

  auto bad = controller::encode_frame({controller::producer_ids_record{node_id(3), -7}});
  EXPECT_EQ(controller::decode_frame(bad).status, controller::decode_status::corrupt);
}

TEST(producer_id_blocks, image_refuses_a_block_below_the_current_mark) {
  controller::metadata_image img;
  EXPECT_EQ(img.apply(controller::producer_ids_record{node_id(1), 2000}), "");
  EXPECT_NE(img.apply(controller::producer_ids_record{node_id(1), 1000}), "");
  EXPECT_EQ(img.next_producer_id(), 2000);
}

}  // namespace
}  // namespace gregor::txn
