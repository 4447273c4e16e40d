#pragma once
// readahead (internal): background reads for direct-I/O segments. A consumer catching up reads a
// partition in large sequential steps; with O_DIRECT each step is a synchronous device read on the
// broker's thread, so the step after the one being sent is read here, on one shared worker
// thread, while the broker sends the previous response. segment::read takes the bytes when the
// next read starts where the job did.
//
// A job reads through its own duplicate of the segment's O_DIRECT descriptor, so a segment that is
// closed, deleted or swapped by the cleaner meanwhile is harmless: nobody takes the bytes. Jobs
// cover only bytes the segment already holds (below its size when scheduled), which appends never
// change. Job buffers come from a bounded pool (log.readahead.max.bytes); past it nothing is scheduled.
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "gregor/storage/readahead_budget.h"

namespace gregor::storage::detail {

class readahead_job {
 public:
  // Owns fd (closed after the read) and buf (back to the pool when the job goes).
  readahead_job(int fd, uint64_t pos, size_t len, uint8_t* buf, size_t cap);
  ~readahead_job();
  readahead_job(const readahead_job&) = delete;
  readahead_job& operator=(const readahead_job&) = delete;

  uint64_t position() const { return _pos; }
  // Whether the range asked for holds `pos` (the bytes read may end earlier: see wait()).
  bool covers(uint64_t pos) const { return pos >= _pos && pos - _pos < _len; }
  // One past the last byte asked for.
  uint64_t end_position() const { return _pos + _len; }
  // Waits for the read; the bytes read from position() on (fewer than asked at end of file or on
  // error, possibly none).
  std::span<const uint8_t> wait();
  // The bytes read, or nullopt while the read runs (never blocks).
  std::optional<std::span<const uint8_t>> if_done();
  // Calls fn once the read is done: at once on this thread when it already is, else on the
  // worker's thread (fn must only hand the news on, e.g. post to an executor).
  void on_done(std::function<void()> fn);
  // Whether a response may keep this buffer until it is written (segment::read_or_share): only
  // while the budget keeps room for the next steps (this job's size twice). A shared buffer stays
  // in the budget, so the readahead pool still bounds the broker's memory; pinned buffers that
  // left no room would refuse the next steps' readahead, and a consumer catching up then reads
  // synchronously (measured: slower than copying).
  bool may_share() const;
  // Worker side.
  void run();

 private:
  int _fd;
  uint64_t _pos;
  size_t _len;
  uint8_t* _buf;      // aligned, from the pool; holds the blocks around [pos, pos + len)
  size_t _cap;        // its size
  size_t _span = 0;   // bytes of whole blocks to read
  size_t _head = 0;   // pos - start of the first block
  size_t _got = 0;
  std::mutex _m;
  std::condition_variable _cv;
  bool _done = false;
  std::vector<std::function<void()>> _waiters;  // on_done() callbacks before the read finished
};

// All job buffers together, in use or pooled for reuse (they count towards the broker's RSS): the
// bound is storage::readahead_max_bytes() (log.readahead.max.bytes).

// Queues a read of [pos, pos + len) through a duplicate of `direct_fd`; nullptr when over budget
// or the descriptor cannot be duplicated.
std::shared_ptr<readahead_job> schedule_readahead(int direct_fd, uint64_t pos, size_t len);

}  // namespace gregor::storage::detail
