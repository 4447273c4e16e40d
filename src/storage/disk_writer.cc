#include "gregor/storage/disk_writer.h"

#include <algorithm>
#include <cstring>

#include <pthread.h>

#include "gregor/base/log.h"

namespace gregor::storage {

void write_queue::push(std::shared_ptr<write_target> to, uint64_t position, std::vector<uint8_t> bytes,
                       int64_t end_offset) {
  disk_writer& w = *_writer;
  const size_t n = bytes.size();
  std::unique_lock lk(w._mutex);
  if (w._unwritten_bytes.load(std::memory_order_relaxed) + n > w._max_unwritten &&
      w._unwritten_bytes.load(std::memory_order_relaxed) > 0) {
    w._full_waits.fetch_add(1, std::memory_order_relaxed);
    w._done.wait(lk, [&] {
      const size_t u = w._unwritten_bytes.load(std::memory_order_relaxed);
      return u == 0 || u + n <= w._max_unwritten;
    });
  }
  _ops.push_back(op{std::move(to), position, std::move(bytes), end_offset, {}});
  w._unwritten_bytes.fetch_add(n, std::memory_order_relaxed);
  schedule_locked();
}

void write_queue::schedule_locked() {
  if (_scheduled) return;
  _scheduled = true;
  _writer->_ready.push_back(shared_from_this());
  _writer->_work.notify_one();
}

void write_queue::push_action(std::function<result<void, storage_error>()> fn, int64_t end_offset) {
  disk_writer& w = *_writer;
  std::lock_guard lk(w._mutex);
  _ops.push_back(op{nullptr, 0, {}, end_offset, std::move(fn)});
  schedule_locked();
}

void write_queue::settle() {
  std::unique_lock lk(_writer->_mutex);
  _writer->_done.wait(lk, [&] { return _ops.empty(); });
}

bool write_queue::idle() const {
  std::lock_guard lk(_writer->_mutex);
  return _ops.empty();
}

void write_queue::reset_written_end(int64_t end) {
  std::lock_guard lk(_writer->_mutex);
  _written_end.store(end, std::memory_order_release);
}

std::optional<storage_error> write_queue::failure() const {
  std::lock_guard lk(_writer->_mutex);
  return _failure;
}

uint64_t write_queue::copy_unwritten(const write_target* t, uint64_t from, uint64_t end,
                                     std::vector<uint8_t>& out) const {
  std::lock_guard lk(_writer->_mutex);
  // Under the mutex no write is popped, and t->written() only grows: what the file lacks at this
  // moment is exactly the queued bytes of `t` at or above it.
  const uint64_t w = t->written();
  const uint64_t start = std::max(from, w);
  for (const op& o : _ops) {
    if (o.to.get() != t || o.action) continue;
    const uint64_t lo = std::max(start, o.position);
    const uint64_t hi = std::min<uint64_t>(end, o.position + o.bytes.size());
    if (lo >= hi) continue;
    // Ops of one target are contiguous and in order, so copies land back to back from `start`.
    const size_t old = out.size();
    out.resize(old + size_t(hi - lo));
    std::memcpy(out.data() + old, o.bytes.data() + (lo - o.position), size_t(hi - lo));
  }
  return start;
}

disk_writer::disk_writer(size_t max_unwritten_bytes)
    : _max_unwritten(std::max<size_t>(max_unwritten_bytes, 1)), _thread([this] { run(); }) {}

disk_writer::~disk_writer() {
  {
    std::lock_guard lk(_mutex);
    _stop = true;
  }
  _work.notify_all();
  if (_thread.joinable()) _thread.join();
}

std::shared_ptr<write_queue> disk_writer::make_queue(topic_partition tp, int64_t written_end) {
  return std::make_shared<write_queue>(*this, std::move(tp), written_end);
}

void disk_writer::set_listener(std::function<void(std::vector<topic_partition>)> fn) {
  std::lock_guard lk(_mutex);
  _listener = std::move(fn);
}

void disk_writer::run() {
  pthread_setname_np(pthread_self(), "gregor-disk");
  std::unique_lock lk(_mutex);
  for (;;) {
    _work.wait(lk, [&] { return _stop || !_ready.empty(); });
    if (_ready.empty()) return;  // stopping, and everything was written
    std::deque<std::shared_ptr<write_queue>> round;
    round.swap(_ready);
    std::vector<topic_partition> moved;
    for (auto& q : round) {
      q->_scheduled = false;
      // The ops queued now; more may be pushed while we write.
      // Pointers taken under the mutex: std::deque keeps its elements in place across the
      // push_backs of the owner meanwhile (indexing it then would race with them).
      std::vector<write_queue::op*> batch;
      batch.reserve(q->_ops.size());
      for (auto& o : q->_ops) batch.push_back(&o);
      const size_t count = batch.size();
      std::optional<storage_error> failed = q->_failure;
      size_t written_ops = 0, actions = 0;
      lk.unlock();
      for (size_t i = 0; i < count && !failed; ++i) {
        write_queue::op& o = *batch[i];
        auto r = o.action ? o.action() : o.to->write(o.bytes);
        if (!r) {
          failed = r.error();
          const auto what = o.action ? std::string("queued action")
                                     : fmt::format("write of {} bytes at position {}", o.bytes.size(), o.position);
          log::get("storage").error("{}: {} failed: {}; the partition takes no more appends until the broker restarts",
                                    q->_tp, what, r.error().message);
          break;
        }
        ++written_ops;
        if (o.action) ++actions;
      }
      lk.lock();
      size_t bytes = 0, done_bytes = 0;
      int64_t end = -1;
      for (size_t i = 0; i < count; ++i) {
        bytes += q->_ops.front().bytes.size();
        if (i < written_ops) {
          if (q->_ops.front().end_offset >= 0) end = q->_ops.front().end_offset;
          done_bytes += q->_ops.front().bytes.size();
        }
        q->_ops.pop_front();
      }
      if (end >= 0) q->_written_end.store(end, std::memory_order_release);
      if (failed && !q->_failure) {
        q->_failure = failed;
        q->_failed.store(true, std::memory_order_release);
        _failures.fetch_add(1, std::memory_order_relaxed);
      }
      _unwritten_bytes.fetch_sub(bytes, std::memory_order_relaxed);
      if (written_ops > 0) {
        _writes.fetch_add(written_ops - actions, std::memory_order_relaxed);
        _written_bytes.fetch_add(done_bytes, std::memory_order_relaxed);
      }
      if (!q->_ops.empty() && !q->_scheduled) {
        q->_scheduled = true;
        _ready.push_back(q);
      }
      moved.push_back(q->_tp);
      _done.notify_all();
    }
    _rounds.fetch_add(1, std::memory_order_relaxed);
    if (_listener) {
      auto fn = _listener;
      lk.unlock();
      fn(std::move(moved));
      lk.lock();
    }
  }
}

}  // namespace gregor::storage
