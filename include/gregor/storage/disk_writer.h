#pragma once
// disk_writer: the thread that writes appended bytes to segment files for one log directory, so
// the thread that owns the logs (the io thread) never waits on the device for an append (issue 16;
// bench/README.md "Where disk writes should run" has the measurements that chose it).
//
// Each partition log has a write_queue. An append on the owner thread assigns offsets, updates the
// segment's in-memory state and indexes, copies the bytes into the queue and returns; the writer
// thread writes the queued bytes in order, a round at a time (everything queued when the round
// starts, across all partitions), then tells the owner which partitions moved
// (set_listener; the server posts that to its io thread). So a log has two ends:
//   log_end_offset()     offsets assigned (readable by the owner: unwritten bytes are served from
//                        the queue, or from the tail cache);
//   written_end_offset() every byte below it is in the file (the page cache, or the device for
//                        direct appends): what acks=1 waits for, where a leader's high watermark
//                        and what it serves to followers stop (so no replica and no consumer sees
//                        a record that a crash of this process could still take).
// A flush that an append makes due (flush.messages / flush.ms) is queued too: the writer
// fdatasyncs the log's files after the writes before it (partition_log::request_sync; appends
// queued meanwhile share the next sync), and the produce answer waits for it. An explicit
// flush() (close, truncation) settles the queue and syncs on the caller's thread.
//
// A failed write is sticky: the queue drops its later writes unwritten, written_end stops, and the
// log refuses appends (io_error → KAFKA_STORAGE_ERROR) until the broker restarts and recovery cuts
// the torn tail. Kafka takes the whole log directory offline on an IOException; here the partition
// goes, and reads below written_end keep working.
//
// Back-pressure: push() blocks the owner while the writer holds more than `max_unwritten_bytes`
// unwritten bytes (all queues together), which bounds memory and makes a slow device slow the
// producers instead of growing without bound.
//
// Thread-safety: push/settle/reset/copy_unwritten from the log's owner thread; the writer thread
// runs write_target::write. One mutex per disk_writer guards every queue.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "gregor/base/types.h"
#include "gregor/storage/storage_error.h"

namespace gregor::storage {

// Where queued bytes go: a segment's file (segment.cc implements it). write() is called for the
// target's writes in push order, on the writer thread (or inline when the log has no queue), each
// at the end of the previous one.
class write_target {
 public:
  virtual ~write_target() = default;
  virtual result<void, storage_error> write(std::span<const uint8_t> bytes) = 0;
  // Bytes of the file that hold their final data (the writer advances it after each write).
  uint64_t written() const { return _written.load(std::memory_order_acquire); }

 protected:
  std::atomic<uint64_t> _written{0};
};

class disk_writer;

class write_queue : public std::enable_shared_from_this<write_queue> {
 public:
  write_queue(disk_writer& w, topic_partition tp, int64_t written_end)
      : _writer(&w), _tp(std::move(tp)), _written_end(written_end) {}

  const topic_partition& tp() const { return _tp; }
  // Queues `bytes`, which belong at file position `position` of `to` (its end after the writes
  // queued before), holding records up to `end_offset` - 1. May block (back-pressure, above).
  void push(std::shared_ptr<write_target> to, uint64_t position, std::vector<uint8_t> bytes, int64_t end_offset);
  // Queues `fn` to run on the writer thread once the writes queued before it are done (not at all
  // after a failed one); `end_offset` as for the last push (the written end it leaves), or -1 to
  // leave the written end to the writes. A failure it returns is a failed write: sticky, and the
  // writes queued after it are dropped.
  void push_action(std::function<result<void, storage_error>()> fn, int64_t end_offset);
  // Blocks until every queued write was done (or dropped after a failure).
  void settle();
  // Whether nothing is queued.
  bool idle() const;
  // One past the last offset of the last append written.
  int64_t written_end() const { return _written_end.load(std::memory_order_acquire); }
  // After a truncation or a reset of the log (the queue settled): everything below `end` is written.
  void reset_written_end(int64_t end);
  // The first failed write's error, if any (sticky).
  std::optional<storage_error> failure() const;
  // Whether a write failed: without the writer's mutex (every append asks).
  bool failed() const { return _failed.load(std::memory_order_acquire); }
  // Appends to `out` the queued bytes of `t` in [from, end) that the file does not hold yet, and
  // returns where they start: the file holds every byte of `t` below the returned position.
  uint64_t copy_unwritten(const write_target* t, uint64_t from, uint64_t end, std::vector<uint8_t>& out) const;

 private:
  friend class disk_writer;
  void schedule_locked();  // with the writer's mutex held: hands the queue to the writer once
  struct op {
    std::shared_ptr<write_target> to;
    uint64_t position;
    std::vector<uint8_t> bytes;
    int64_t end_offset;
    std::function<result<void, storage_error>()> action;  // instead of a write (push_action)
  };
  disk_writer* _writer;
  topic_partition _tp;
  std::atomic<int64_t> _written_end;
  // Guarded by the writer's mutex.
  std::deque<op> _ops;  // queued and in flight, oldest first; popped after they were written
  bool _scheduled = false;
  std::optional<storage_error> _failure;
  std::atomic<bool> _failed{false};  // set with _failure
};

class disk_writer {
 public:
  explicit disk_writer(size_t max_unwritten_bytes);
  // Writes what is queued, then stops the thread.
  ~disk_writer();
  disk_writer(const disk_writer&) = delete;
  disk_writer& operator=(const disk_writer&) = delete;

  std::shared_ptr<write_queue> make_queue(topic_partition tp, int64_t written_end);
  // Called on the writer thread after each round with the partitions whose written end moved or
  // whose write failed. Set before the first push.
  void set_listener(std::function<void(std::vector<topic_partition>)> fn);

  size_t max_unwritten_bytes() const { return _max_unwritten; }
  // Counters (any thread).
  size_t unwritten_bytes() const { return _unwritten_bytes.load(std::memory_order_relaxed); }
  uint64_t written_bytes() const { return _written_bytes.load(std::memory_order_relaxed); }
  uint64_t writes() const { return _writes.load(std::memory_order_relaxed); }
  uint64_t rounds() const { return _rounds.load(std::memory_order_relaxed); }
  // Times push() waited for room (back-pressure).
  uint64_t full_waits() const { return _full_waits.load(std::memory_order_relaxed); }
  uint64_t failures() const { return _failures.load(std::memory_order_relaxed); }

 private:
  friend class write_queue;
  void run();

  const size_t _max_unwritten;
  mutable std::mutex _mutex;
  std::condition_variable _work;  // writer: something to write, or stop
  std::condition_variable _done;  // owners: writes finished (settle, back-pressure)
  std::deque<std::shared_ptr<write_queue>> _ready;
  bool _stop = false;
  std::function<void(std::vector<topic_partition>)> _listener;
  std::atomic<size_t> _unwritten_bytes{0};
  std::atomic<uint64_t> _written_bytes{0};
  std::atomic<uint64_t> _writes{0};
  std::atomic<uint64_t> _rounds{0};
  std::atomic<uint64_t> _full_waits{0};
  std::atomic<uint64_t> _failures{0};
  std::thread _thread;  // last: started once everything above exists
};

}  // namespace gregor::storage
