#include "readahead.h"

#include <cerrno>
#include <cstdlib>
#include <deque>
#include <fcntl.h>
#include <thread>
#include <vector>

#include "gregor/base/assert.h"
#include <unistd.h>

#include "gregor/storage/file.h"

namespace gregor::storage::detail {
namespace {

// Job buffers are recycled: a fresh allocation costs page faults on first touch (expensive on our
// VMs), and glibc arenas fed from the worker thread and freed on the broker's grew without bound.
// Everything allocated, in use or free, stays within the budget (log.readahead.max.bytes).
class buffer_pool {
 public:
  static buffer_pool& get() {
    static buffer_pool* p = new buffer_pool();  // never destroyed, like the worker
    return *p;
  }
  // A buffer of at least n bytes (n rounded up to the granule), or {nullptr, 0} over the budget.
  // The granule is small next to a step: a 4 MiB step plus its alignment head takes 4 MiB +
  // 64 KiB, not 5 MiB (rounding to 1 MiB left a fifth of the budget unused).
  static constexpr size_t granule = size_t(64) << 10;
  std::pair<uint8_t*, size_t> take(size_t n) {
    n = (n + granule - 1) & ~(granule - 1);
    std::lock_guard lk(_m);
    size_t best = _free.size();
    for (size_t i = 0; i < _free.size(); ++i)
      if (_free[i].second >= n && (best == _free.size() || _free[i].second < _free[best].second))
        best = i;
    if (best != _free.size()) {
      auto b = _free[best];
      _free.erase(_free.begin() + std::ptrdiff_t(best));
      return b;
    }
    free_pooled_until(_max > n ? _max - n : 0);  // too small ones make room
    if (_total + n > _max) {
      ++_refused;
      return {nullptr, 0};
    }
    void* p = std::aligned_alloc(file::direct_align, n);
    if (!p) return {nullptr, 0};
    _total += n;
    return {static_cast<uint8_t*>(p), n};
  }
  void give(uint8_t* p, size_t cap) {
    std::lock_guard lk(_m);
    _free.emplace_back(p, cap);
  }
  // Bytes of the budget not held by jobs (free pooled buffers count as room).
  size_t room() {
    std::lock_guard lk(_m);
    size_t in_use = _total;
    for (const auto& f : _free) in_use -= f.second;
    return in_use > _max ? 0 : _max - in_use;
  }
  // A lower bound frees pooled buffers at once; buffers in use go back to the pool and are freed
  // when a take needs room.
  void set_max(size_t max) {
    std::lock_guard lk(_m);
    _max = max;
    free_pooled_until(_max);
  }
  size_t max() {
    std::lock_guard lk(_m);
    return _max;
  }
  size_t allocated() {
    std::lock_guard lk(_m);
    return _total;
  }
  uint64_t refused() {
    std::lock_guard lk(_m);
    return _refused;
  }

 private:
  // Frees pooled buffers, newest first, until at most `limit` bytes are allocated (or none is left
  // pooled). Called with _m held.
  void free_pooled_until(size_t limit) {
    while (_total > limit && !_free.empty()) {
      std::free(_free.back().first);
      _total -= _free.back().second;
      _free.pop_back();
    }
  }
  std::mutex _m;
  std::vector<std::pair<uint8_t*, size_t>> _free;
  size_t _total = 0;
  size_t _max = storage::readahead_default_max_bytes;
  uint64_t _refused = 0;
};

// One worker for the whole process, started on first use. Never destroyed: a detached thread may
// still wait on it while static destructors run at exit.
class worker {
 public:
  static worker& get() {
    static worker* w = new worker();
    return *w;
  }
  bool push(std::shared_ptr<readahead_job> job) {
    {
      std::lock_guard lk(_m);
      if (!_started) {
        try {
          std::thread([this] { loop(); }).detach();
        } catch (const std::system_error&) {
          return false;
        }
        _started = true;
      }
      _q.push_back(std::move(job));
    }
    _cv.notify_one();
    return true;
  }

 private:
  void loop() {
    for (;;) {
      std::shared_ptr<readahead_job> job;
      {
        std::unique_lock lk(_m);
        _cv.wait(lk, [&] { return !_q.empty(); });
        job = std::move(_q.front());
        _q.pop_front();
      }
      job->run();
    }
  }
  std::mutex _m;
  std::condition_variable _cv;
  std::deque<std::shared_ptr<readahead_job>> _q;
  bool _started = false;
};

}  // namespace

readahead_job::readahead_job(int fd, uint64_t pos, size_t len, uint8_t* buf, size_t cap)
    : _fd(fd), _pos(pos), _len(len), _buf(buf), _cap(cap) {
  constexpr size_t align = file::direct_align;
  _head = size_t(pos % align);
  _span = (_head + len + align - 1) / align * align;
  GREGOR_ASSERT(_span <= _cap);
}

readahead_job::~readahead_job() {
  if (_fd >= 0) ::close(_fd);
  if (_buf) buffer_pool::get().give(_buf, _cap);
}

bool readahead_job::may_share() const { return buffer_pool::get().room() >= 2 * _cap; }

void readahead_job::run() {
  size_t done = 0;
  if (_buf) {
    const uint64_t start = _pos - _head;
    while (done < _span) {
      ssize_t n = ::pread(_fd, _buf + done, _span - done, off_t(start + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += size_t(n);
      if (done % file::direct_align != 0) break;  // end of file
    }
  }
  ::close(_fd);
  _fd = -1;
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard lk(_m);
    _got = done > _head ? std::min(done - _head, _len) : 0;
    _done = true;
    waiters.swap(_waiters);
  }
  _cv.notify_all();
  for (auto& fn : waiters) fn();
}

std::optional<std::span<const uint8_t>> readahead_job::if_done() {
  std::lock_guard lk(_m);
  if (!_done) return std::nullopt;
  return std::span<const uint8_t>(_buf + _head, _got);
}

void readahead_job::on_done(std::function<void()> fn) {
  {
    std::lock_guard lk(_m);
    if (!_done) {
      _waiters.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

std::span<const uint8_t> readahead_job::wait() {
  std::unique_lock lk(_m);
  _cv.wait(lk, [&] { return _done; });
  return {_buf + _head, _got};
}

std::shared_ptr<readahead_job> schedule_readahead(int direct_fd, uint64_t pos, size_t len) {
  if (direct_fd < 0 || len == 0) return nullptr;
  constexpr size_t align = file::direct_align;
  auto [buf, cap] = buffer_pool::get().take((pos % align + len + align - 1) / align * align);
  if (!buf) return nullptr;
  int fd = ::fcntl(direct_fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {
    buffer_pool::get().give(buf, cap);
    return nullptr;
  }
  std::shared_ptr<readahead_job> job;
  try {
    job = std::make_shared<readahead_job>(fd, pos, len, buf, cap);  // owns fd and buf from here
  } catch (...) {
    ::close(fd);
    buffer_pool::get().give(buf, cap);
    return nullptr;
  }
  if (!worker::get().push(job)) return nullptr;
  return job;
}

}  // namespace gregor::storage::detail

namespace gregor::storage {

void set_readahead_max_bytes(size_t bytes) { detail::buffer_pool::get().set_max(bytes); }
size_t readahead_max_bytes() { return detail::buffer_pool::get().max(); }
size_t readahead_allocated_bytes() { return detail::buffer_pool::get().allocated(); }
uint64_t readahead_refused_reads() { return detail::buffer_pool::get().refused(); }

}  // namespace gregor::storage
