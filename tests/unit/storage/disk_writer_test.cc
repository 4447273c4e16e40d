// Proves that the disk writer writes each queue's bytes in order off the caller's thread, that a
// log whose appends are still queued reads them back, keeps its written end below them and
// catches up, that a failed write is sticky (appends refused, reads below it still served), and
// that back-pressure bounds the unwritten bytes.
#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <random>

#include <filesystem>

#include <gtest/gtest.h>

#include "gregor/base/clock.h"
#include "gregor/protocol/record_batch.h"
#include "gregor/storage/disk_writer.h"
#include "gregor/storage/leader_epoch_cache.h"
#include "gregor/storage/partition_log.h"
#include "gregor/storage/power_fault.h"
#include "test_env.h"

namespace gregor::storage {
namespace {
namespace fs = std::filesystem;

constexpr int64_t t0 = 1'700'000'000'000;

// A target that records what it got and, while closed, holds the writer thread in write().
class gate_target : public write_target {
 public:
  result<void, storage_error> write(std::span<const uint8_t> bytes) override {
    std::unique_lock lk(_mu);
    _entered = true;
    _cv.notify_all();
    _cv.wait(lk, [&] { return _open; });
    if (_fail_next) {
      _fail_next = false;
      return fail(storage_errc::io_error, "injected");
    }
    got.insert(got.end(), bytes.begin(), bytes.end());
    _written.store(written() + bytes.size(), std::memory_order_release);
    return ok;
  }
  void close_gate() {
    std::lock_guard lk(_mu);
    _open = false;
  }
  void open_gate() {
    std::lock_guard lk(_mu);
    _open = true;
    _cv.notify_all();
  }
  void wait_entered() {
    std::unique_lock lk(_mu);
    _cv.wait(lk, [&] { return _entered; });
  }
  void fail_next() {
    std::lock_guard lk(_mu);
    _fail_next = true;
  }
  std::vector<uint8_t> got;

 private:
  std::mutex _mu;
  std::condition_variable _cv;
  bool _open = true;
  bool _entered = false;
  bool _fail_next = false;
};

std::vector<uint8_t> bytes_of(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(seed + i * 13);
  return v;
}

TEST(disk_writer_test, writes_in_order_off_the_callers_thread_and_reports_progress) {
  // Before the writer: its thread may still report a round after settle() returned, until joined.
  std::mutex mu;
  std::vector<topic_partition> reported;
  disk_writer w(1 << 20);
  w.set_listener([&](std::vector<topic_partition> tps) {
    std::lock_guard lk(mu);
    reported.insert(reported.end(), tps.begin(), tps.end());
  });
  auto t = std::make_shared<gate_target>();
  t->close_gate();
  const topic_partition tp{"a", partition_id(3)};
  auto q = w.make_queue(tp, 10);
  std::vector<uint8_t> all;
  uint64_t pos = 0;
  for (int i = 0; i < 5; ++i) {
    auto b = bytes_of(100 + i, uint8_t(i));
    all.insert(all.end(), b.begin(), b.end());
    q->push(t, pos, b, 11 + i);
    pos += b.size();
  }
  t->wait_entered();  // the writer holds the first write: nothing is written yet
  EXPECT_EQ(q->written_end(), 10);
  EXPECT_FALSE(q->idle());
  // Everything is readable from the queue meanwhile, from any position.
  std::vector<uint8_t> out;
  EXPECT_EQ(q->copy_unwritten(t.get(), 150, pos, out), 150u);
  EXPECT_EQ(out, std::vector<uint8_t>(all.begin() + 150, all.end()));
  t->open_gate();
  q->settle();
  EXPECT_TRUE(q->idle());
  EXPECT_EQ(q->written_end(), 15);
  EXPECT_EQ(t->got, all);
  EXPECT_EQ(w.unwritten_bytes(), 0u);
  EXPECT_EQ(w.writes(), 5u);
  EXPECT_EQ(w.written_bytes(), all.size());
  // Written bytes are the file's now: nothing left to copy, and the answer says so.
  out.clear();
  EXPECT_EQ(q->copy_unwritten(t.get(), 0, pos, out), pos);
  EXPECT_TRUE(out.empty());
  for (;;) {  // the listener runs after the round, on the writer thread
    std::lock_guard lk(mu);
    if (!reported.empty()) break;
  }
  std::lock_guard lk(mu);
  EXPECT_EQ(reported.front(), tp);
}

TEST(disk_writer_test, a_failed_write_is_sticky_and_drops_the_queued_rest) {
  disk_writer w(1 << 20);
  auto t = std::make_shared<gate_target>();
  auto q = w.make_queue({"a", partition_id(0)}, 0);
  q->push(t, 0, bytes_of(10, 1), 1);
  q->settle();
  t->close_gate();
  t->fail_next();
  q->push(t, 10, bytes_of(10, 2), 2);
  q->push(t, 20, bytes_of(10, 3), 3);
  t->open_gate();
  q->settle();
  ASSERT_TRUE(q->failure());
  EXPECT_EQ(q->failure()->message, "injected");
  EXPECT_EQ(q->written_end(), 1);
  EXPECT_EQ(t->got.size(), 10u);  // the third write was dropped, not written after the hole
  EXPECT_EQ(w.unwritten_bytes(), 0u);
  EXPECT_EQ(w.failures(), 1u);
}

TEST(disk_writer_test, push_waits_for_room_when_the_bound_is_reached) {
  disk_writer w(1000);
  auto t = std::make_shared<gate_target>();
  auto q = w.make_queue({"a", partition_id(0)}, 0);
  t->close_gate();
  q->push(t, 0, bytes_of(600, 1), 1);
  t->wait_entered();
  std::atomic<bool> pushed{false};
  std::thread other([&] {
    q->push(t, 600, bytes_of(600, 2), 2);  // 1200 > 1000: waits until the first is written
    pushed = true;
  });
  // The second push cannot finish while the first write is held (it would exceed the bound).
  while (w.full_waits() == 0) std::this_thread::yield();
  EXPECT_FALSE(pushed.load());
  EXPECT_LE(w.unwritten_bytes(), 1000u);
  t->open_gate();
  other.join();
  q->settle();
  EXPECT_TRUE(pushed.load());
  EXPECT_EQ(t->got.size(), 1200u);
}

result<append_result, storage_error> append(partition_log& log, std::vector<uint8_t> b, int32_t epoch) {
  return log.append(b, leader_epoch(epoch));
}

struct scratch {
  fs::path path;
  scratch() {
    std::random_device rd;
    path = fs::temp_directory_path() / fmt::format("gregor-writer-{:x}{:x}", rd(), rd());
    fs::create_directories(path);
  }
  ~scratch() { fs::remove_all(path); }
};

struct queued_log_test : ::testing::TestWithParam<bool> {  // param: direct I/O
  scratch tmp;
  manual_clock clk{t0};
  disk_writer writer{8 << 20};
  topic_partition tp{"t", partition_id(0)};
  // Another queue whose held write keeps the writer thread busy, so the log's appends stay queued.
  std::shared_ptr<gate_target> blocker = std::make_shared<gate_target>();
  std::shared_ptr<write_queue> blocker_queue = writer.make_queue({"blocker", partition_id(0)}, 0);

  std::unique_ptr<partition_log> open(disk_writer* w, int64_t segment_bytes = 1 << 30,
                                      int64_t flush_messages = INT64_MAX) {
    log_config cfg;
    cfg.segment_bytes = segment_bytes;
    cfg.flush_messages = flush_messages;
    cfg.direct_io = GetParam();
    cfg.direct_append_min_bytes = 0;
    open_hints h;
    h.writer = w;
    auto r = partition_log::open(tmp.path / "t-0", tp, uuid{1, 2}, cfg, clk, h);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? std::move(*r) : nullptr;
  }
  void hold_writer() {
    blocker->close_gate();
    blocker_queue->push(blocker, blocker->written(), bytes_of(1, 0), 1);
    blocker->wait_entered();
  }
  void release_writer() {
    blocker->open_gate();
    blocker_queue->settle();
  }
  // The device fails before the held writer gets to `log`'s queued writes: the first of them
  // fails, the rest of its queue is dropped.
  void fail_queued_writes(partition_log& log) {
    power_fault::install();
    power_fault::power_off(1, power_fault::cut_mode::keep_all);
    release_writer();
    log.settle_writes();
    power_fault::restore_power();
    power_fault::uninstall();
  }
  std::vector<uint8_t> read_from(partition_log& log, int64_t off) {
    auto r = log.read(offset(off), 64 << 20, offset(INT64_MAX), true);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? std::vector<uint8_t>(r->data.begin(), r->data.end()) : std::vector<uint8_t>{};
  }
};

TEST_P(queued_log_test, queued_appends_read_back_and_the_written_end_catches_up) {
  auto log = open(&writer);
  // Some written data first.
  for (int i = 0; i < 3; ++i) {
    auto b = test_env::batch_of(4, t0 + i, 3000);
    ASSERT_TRUE(log->append(b, leader_epoch(1)));
  }
  log->settle_writes();
  const offset written_before = log->written_end_offset();
  EXPECT_EQ(written_before, log->log_end_offset());
  hold_writer();
  for (int i = 0; i < 40; ++i) {
    auto b = test_env::batch_of(1 + i % 3, t0 + 10 + i, 100 + 5000 * (i % 4));
    ASSERT_TRUE(log->append(b, leader_epoch(1)));
  }
  ASSERT_GT(log->log_end_offset(), written_before);
  // Nothing of it is written while the writer is held.
  EXPECT_EQ(log->written_end_offset(), written_before);
  // Every position reads the same bytes now (from the queue) as after the writes (from files).
  std::vector<std::vector<uint8_t>> queued;
  for (int64_t off = 0; off < log->log_end_offset().value(); off += 2) queued.push_back(read_from(*log, off));
  release_writer();
  log->settle_writes();
  EXPECT_EQ(log->written_end_offset(), log->log_end_offset());
  ASSERT_TRUE(log->close());
  log.reset();
  auto plain = open(nullptr);
  size_t i = 0;
  for (int64_t off = 0; off < plain->log_end_offset().value(); off += 2, ++i)
    ASSERT_EQ(read_from(*plain, off), queued[i]) << "offset " << off;
  EXPECT_EQ(i, queued.size());
}

TEST_P(queued_log_test, a_roll_does_not_wait_for_the_old_segments_writes) {
  auto log = open(&writer, 64 << 10);
  hold_writer();
  // With the writer held, appends still roll (a roll that waited would never return here).
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(append(*log, test_env::batch_of(2, t0 + i, 5000), 1));
  ASSERT_GT(log->segment_count(), 2u);
  EXPECT_EQ(log->written_end_offset(), offset(0));
  std::vector<std::vector<uint8_t>> queued;
  for (int64_t off = 0; off < log->log_end_offset().value(); ++off) queued.push_back(read_from(*log, off));
  release_writer();
  log->settle_writes();
  EXPECT_EQ(log->written_end_offset(), log->log_end_offset());
  // Sealed segments end where their last batch does: the writer cut the direct-I/O padding.
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(tmp.path / "t-0"))
    if (e.path().extension() == ".log") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  ASSERT_EQ(files.size(), log->segment_count());
  files.pop_back();  // the active one may be padded until it is sealed or closed
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t pos = 0;
    while (pos + protocol::batch_header_size <= data.size()) {
      auto h = protocol::parse_batch_header(std::span<const uint8_t>(data).subspan(pos));
      if (!h || h->total_size() < protocol::batch_header_size) break;
      pos += h->total_size();
    }
    EXPECT_EQ(pos, data.size()) << f;
  }
  ASSERT_TRUE(log->close());
  log.reset();
  auto plain = open(nullptr, 64 << 10);
  for (int64_t off = 0; off < plain->log_end_offset().value(); ++off)
    ASSERT_EQ(read_from(*plain, off), queued[size_t(off)]) << "offset " << off;
}

TEST_P(queued_log_test, truncation_and_flush_wait_for_queued_writes) {
  auto log = open(&writer);
  hold_writer();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(append(*log, test_env::batch_of(2, t0 + i, 700), 1));
  EXPECT_LT(log->written_end_offset(), log->log_end_offset());
  std::thread release([&] { release_writer(); });
  // truncate_to cuts the file only after the writes it would race with were done.
  auto t = log->truncate_to(offset(7));
  release.join();
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(log->log_end_offset(), offset(6));  // whole batches of 2
  EXPECT_EQ(log->written_end_offset(), offset(6));
  ASSERT_TRUE(append(*log, test_env::batch_of(2, t0 + 50, 700), 2));
  ASSERT_TRUE(log->flush());
  EXPECT_EQ(log->written_end_offset(), offset(8));
  EXPECT_EQ(log->recovery_point(), offset(8));
  ASSERT_TRUE(log->close());
  log.reset();
  auto again = open(nullptr);
  EXPECT_EQ(again->log_end_offset(), offset(8));
  auto r = again->read(offset(6), 1 << 20, offset(INT64_MAX), true);
  ASSERT_TRUE(r);
  auto h = protocol::parse_batch_header(std::span<const uint8_t>(r->data.data(), r->data.size()));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->partition_leader_epoch, 2);
}

TEST_P(queued_log_test, a_failed_write_stops_appends_and_keeps_what_was_written_readable) {
  auto log = open(&writer);
  ASSERT_TRUE(append(*log, test_env::batch_of(3, t0, 500), 1));
  ASSERT_TRUE(log->flush());  // settles, then syncs: the recovery point is 3
  const auto written = read_from(*log, 0);
  hold_writer();
  ASSERT_TRUE(append(*log, test_env::batch_of(3, t0 + 1, 500), 1));
  fail_queued_writes(*log);
  ASSERT_TRUE(log->write_failure());
  EXPECT_EQ(log->written_end_offset(), offset(3));
  EXPECT_EQ(log->log_end_offset(), offset(6));
  auto refused = append(*log, test_env::batch_of(1, t0 + 2, 500), 1);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, storage_errc::io_error);
  EXPECT_FALSE(log->flush());  // the recovery point must not pass the hole
  EXPECT_EQ(log->recovery_point(), offset(3));
  auto r = log->read(offset(0), 1 << 20, log->written_end_offset(), true);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(std::vector<uint8_t>(r->data.begin(), r->data.end()), written);
  log->abandon();
  log.reset();
  // Reopened (the restart): recovery keeps the written batch and nothing after it.
  auto again = open(&writer);
  EXPECT_EQ(again->log_end_offset(), offset(3));
  EXPECT_FALSE(again->write_failure());
  ASSERT_TRUE(append(*again, test_env::batch_of(1, t0 + 3, 500), 1));
  again->settle_writes();
  EXPECT_EQ(again->written_end_offset(), offset(4));
}

// The actions queued behind a failed write are dropped unrun: a roll's seal and a due flush hold
// duplicated descriptors of the log's files, which must close with them (a broker whose disk
// keeps failing would otherwise run out of descriptors).
size_t open_descriptors() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

TEST_P(queued_log_test, dropped_seals_and_flushes_close_their_descriptors) {
  const size_t before = open_descriptors();
  {
    auto log = open(&writer, /*segment_bytes=*/1024, /*flush_messages=*/1);
    hold_writer();
    ASSERT_TRUE(append(*log, test_env::batch_of(3, t0, 500), 1));      // queued: the write that fails
    ASSERT_TRUE(append(*log, test_env::batch_of(3, t0 + 1, 500), 1));  // rolls: the seal queues behind it
    ASSERT_GE(log->segment_count(), 2u);
    fail_queued_writes(*log);
    ASSERT_TRUE(log->write_failure());
    log->abandon();
  }
  EXPECT_EQ(open_descriptors(), before) << "descriptors of dropped actions leaked";
}

// A new leader epoch's checkpoint entry is written by the disk writer, ahead of the data queued
// after it: the append returns while the writer is held (the io thread never waits for the
// checkpoint's fsyncs), OffsetForLeaderEpoch answers from memory at once, and the file gains the
// entry only when the writer runs. A follower's append of batches of two new epochs queues both.
// When the checkpoint cannot be written, the data behind it is dropped, so the files never hold
// an epoch the checkpoint misses.
std::vector<epoch_entry> checkpoint_on_disk(const fs::path& dir) {
  auto c = leader_epoch_cache::load(dir);
  EXPECT_TRUE(c) << (c ? "" : c.error().message);
  return c ? c->entries() : std::vector<epoch_entry>{};
}

std::vector<uint8_t> follower_batch(int records, int64_t ts, int64_t base, int32_t epoch) {
  auto b = test_env::batch_of(records, ts, 700);
  protocol::set_base_offset(b, base);  // outside the CRC, as a leader's offsets and epoch are
  protocol::set_partition_leader_epoch(b, epoch);
  return b;
}

TEST_P(queued_log_test, a_new_epochs_checkpoint_entry_is_written_by_the_writer_ahead_of_its_data) {
  const fs::path dir = tmp.path / "t-0";
  auto log = open(&writer);
  ASSERT_TRUE(append(*log, test_env::batch_of(2, t0, 700), 1));
  log->settle_writes();
  const std::vector<epoch_entry> first{{leader_epoch(1), offset(0)}};
  ASSERT_EQ(checkpoint_on_disk(dir), first);

  hold_writer();
  ASSERT_TRUE(append(*log, test_env::batch_of(2, t0 + 1, 700), 2));
  EXPECT_EQ(log->end_offset_for_epoch(leader_epoch(1)), (epoch_end_offset{leader_epoch(1), offset(2)}));
  EXPECT_EQ(log->latest_epoch(), leader_epoch(2));
  EXPECT_EQ(checkpoint_on_disk(dir), first) << "written on the caller's thread";
  std::vector<uint8_t> two;
  for (auto& b : {follower_batch(2, t0 + 2, 4, 3), follower_batch(1, t0 + 3, 6, 5)}) two.insert(two.end(), b.begin(), b.end());
  ASSERT_TRUE(log->append_with_offsets(two));
  EXPECT_EQ(log->log_end_offset(), offset(7));
  EXPECT_EQ(log->written_end_offset(), offset(2));
  EXPECT_EQ(checkpoint_on_disk(dir), first);
  release_writer();
  log->settle_writes();
  const std::vector<epoch_entry> all{{leader_epoch(1), offset(0)}, {leader_epoch(2), offset(2)},
                                     {leader_epoch(3), offset(4)}, {leader_epoch(5), offset(6)}};
  EXPECT_EQ(checkpoint_on_disk(dir), all);
  EXPECT_EQ(log->written_end_offset(), offset(7));

  // The device fails before the writer gets to the next epoch's entry: its data is dropped too.
  hold_writer();
  ASSERT_TRUE(append(*log, test_env::batch_of(2, t0 + 4, 700), 6));
  fail_queued_writes(*log);
  ASSERT_TRUE(log->write_failure());
  EXPECT_EQ(log->written_end_offset(), offset(7));
  log->abandon();
  log.reset();
  auto again = open(nullptr);
  EXPECT_EQ(again->log_end_offset(), offset(7));
  EXPECT_EQ(checkpoint_on_disk(dir), all);
  EXPECT_EQ(again->latest_epoch(), leader_epoch(5));
  ASSERT_TRUE(again->close());
}

INSTANTIATE_TEST_SUITE_P(io, queued_log_test, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "direct" : "buffered"; });

}  // namespace
}  // namespace gregor::storage

namespace gregor::storage {
namespace {

// flush.messages=1 with a disk writer: the append queues the sync and returns (with the writer
// held, an inline flush would never return); the writer syncs after the writes, and only then
// do the synced end and the recovery point move. A power cut keeps what was synced; the same
// appends without a due flush are lost to it.
TEST_P(queued_log_test, a_due_flush_is_synced_by_the_writer_after_the_writes) {
  for (const bool flush_each : {true, false}) {
    SCOPED_TRACE(flush_each ? "flush.messages=1" : "no flush due");
    fs::remove_all(tmp.path / "t-0");
    auto log = open(&writer, 1 << 30, flush_each ? 1 : INT64_MAX);
    ASSERT_TRUE(append(*log, test_env::batch_of(2, t0, 700), 1));
    log->settle_writes();
    ASSERT_TRUE(log->flush());  // the files and directory as they are now are durable
    ASSERT_EQ(log->recovery_point(), offset(2));
    power_fault::install();
    hold_writer();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(append(*log, test_env::batch_of(2, t0 + 1 + i, 700), 1));
    EXPECT_EQ(log->written_end_offset(), offset(2));
    EXPECT_EQ(log->recovery_point(), offset(2));
    EXPECT_EQ(log->synced_end_offset(), offset(2));
    EXPECT_EQ(log->sync_pending(offset(7)), flush_each);
    EXPECT_EQ(log->sync_requested_end(), flush_each ? offset(8) : offset(0));  // flush() asks none
    release_writer();
    log->settle_writes();
    EXPECT_EQ(log->written_end_offset(), offset(8));
    EXPECT_EQ(log->synced_end_offset(), flush_each ? offset(8) : offset(2));
    EXPECT_EQ(log->recovery_point(), flush_each ? offset(8) : offset(2));
    EXPECT_FALSE(log->sync_pending(offset(7)));
    log->abandon();
    log.reset();
    auto report = power_fault::power_cut(7, power_fault::cut_mode::drop_all);
    power_fault::uninstall();
    auto again = open(nullptr);
    EXPECT_EQ(again->log_end_offset(), flush_each ? offset(8) : offset(2)) << report.summary();
    ASSERT_TRUE(again->close());
  }
}

// The sync fails (the device goes away after the writes): the failure is sticky, the synced end
// and the recovery point stay, and appends are refused.
TEST_P(queued_log_test, a_failed_sync_is_a_write_failure) {
  auto log = open(&writer, 1 << 30, 1);
  ASSERT_TRUE(append(*log, test_env::batch_of(2, t0, 700), 1));
  log->settle_writes();
  ASSERT_EQ(log->synced_end_offset(), offset(2));
  hold_writer();
  ASSERT_TRUE(append(*log, test_env::batch_of(2, t0 + 1, 700), 1));
  power_fault::install();
  power_fault::arm_cut_after(1, 3, power_fault::cut_mode::keep_all);  // the write passes, the sync does not
  release_writer();
  log->settle_writes();
  power_fault::restore_power();
  power_fault::uninstall();
  auto failed = log->write_failure();
  ASSERT_TRUE(failed);
  EXPECT_NE(failed->message.find("fdatasync"), std::string::npos) << failed->message;
  EXPECT_EQ(log->written_end_offset(), offset(4));
  EXPECT_EQ(log->synced_end_offset(), offset(2));
  EXPECT_EQ(log->recovery_point(), offset(2));
  EXPECT_TRUE(log->sync_pending(offset(3)));
  EXPECT_FALSE(append(*log, test_env::batch_of(1, t0 + 2, 700), 1));
  log->abandon();
}

}  // namespace
}  // namespace gregor::storage
