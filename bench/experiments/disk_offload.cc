// Issue 16, item 2: where should the broker's disk writes run? Compares three ways for an Asio
// event loop to append to a log file while it also has to stay responsive to other work:
//   inline  the loop thread calls pwrite (and fdatasync) itself, as Gregor does today;
//   pool    the loop hands each write to a disk thread (asio::thread_pool) and gets the completion
//           posted back;
//   group   the same thread, but it takes every write queued so far, writes them, syncs once
//           (group commit) and posts their completions back in one hand-off;
//   uring   the loop submits io_uring writes (linked fdatasync) and reaps completions when the
//           ring's eventfd becomes readable (an asio::posix::stream_descriptor on the loop).
// Load: one append of --block bytes every --interval-us (sequential, at most --inflight
// outstanding), for --seconds. A 1 ms heartbeat timer on the same loop measures how late the loop
// runs: what every other connection of the broker would feel. Reported: appends completed and MB/s,
// append latency (submit to completion seen on the loop) and heartbeat lateness, p50/p99/p99.9/max,
// and the loop thread's CPU time.
//
// Build and run: bench/experiments/disk_offload.sh (installs liburing-dev, builds with g++ -O2,
// runs every mode interleaved). Measure on a quiet machine: the figures are latencies.
#include <fcntl.h>
#include <liburing.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace asio = boost::asio;
using clk = std::chrono::steady_clock;

namespace {

struct options {
  std::string mode = "inline";
  std::string path = "/tmp/disk_offload.log";
  size_t block = 64 * 1024;
  int interval_us = 1000;
  int seconds = 10;
  int inflight = 64;
  bool sync = false;
  bool direct = false;
};

double us_since(clk::time_point t) { return std::chrono::duration<double, std::micro>(clk::now() - t).count(); }

struct stats {
  std::vector<double> v;
  void add(double x) { v.push_back(x); }
  double pct(double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, size_t(p / 100.0 * double(v.size())))];
  }
  double max() { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }
};

double thread_cpu_ms() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

void die(const char* what) {
  std::perror(what);
  std::exit(2);
}

class bench {
 public:
  explicit bench(const options& o) : _o(o), _hb(_loop), _tick(_loop), _ring_fd(_loop) {
    int flags = O_WRONLY | O_CREAT | O_TRUNC;
    if (o.direct) flags |= O_DIRECT;
    _fd = ::open(o.path.c_str(), flags, 0644);
    if (_fd < 0) die("open");
    if (posix_memalign(reinterpret_cast<void**>(&_buf), 4096, o.block) != 0) die("posix_memalign");
    std::memset(_buf, 'x', o.block);
    if (o.mode == "uring") {
      if (io_uring_queue_init(unsigned(o.inflight * 2), &_ring, 0) < 0) die("io_uring_queue_init");
      _efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (_efd < 0 || io_uring_register_eventfd(&_ring, _efd) < 0) die("io_uring_register_eventfd");
      _ring_fd.assign(_efd);
    }
  }
  ~bench() {
    _pool.join();  // nothing of the disk thread may outlive the buffer and the queue
    if (_o.mode == "uring") {
      _ring_fd.release();
      io_uring_queue_exit(&_ring);
      ::close(_efd);
    }
    ::close(_fd);
    std::free(_buf);
    ::unlink(_o.path.c_str());
  }

  void run() {
    _start = clk::now();
    _end = _start + std::chrono::seconds(_o.seconds);
    heartbeat(_start + std::chrono::milliseconds(1));
    tick(_start);
    if (_o.mode == "uring") wait_ring();
    const double cpu0 = thread_cpu_ms();
    _loop.run();
    const double cpu = thread_cpu_ms() - cpu0;
    const double secs = std::chrono::duration<double>(clk::now() - _start).count();
    std::printf(
        "mode=%s block=%zu interval_us=%d sync=%d direct=%d appends=%zu skipped=%zu MB/s=%.1f "
        "append_us p50=%.0f p99=%.0f p999=%.0f max=%.0f  loop_late_us p50=%.0f p99=%.0f p999=%.0f max=%.0f  "
        "loop_cpu_ms=%.0f\n",
        _o.mode.c_str(), _o.block, _o.interval_us, int(_o.sync), int(_o.direct), _done, _skipped,
        double(_done * _o.block) / secs / 1e6, _lat.pct(50), _lat.pct(99), _lat.pct(99.9), _lat.max(), _late.pct(50),
        _late.pct(99), _late.pct(99.9), _late.max(), cpu);
  }

 private:
  void heartbeat(clk::time_point due) {
    _hb.expires_at(due);
    _hb.async_wait([this, due](boost::system::error_code ec) {
      if (ec) return;
      _late.add(us_since(due));
      if (clk::now() < _end) heartbeat(due + std::chrono::milliseconds(1));
      else finish();
    });
  }

  void tick(clk::time_point due) {
    _tick.expires_at(due);
    _tick.async_wait([this, due](boost::system::error_code ec) {
      if (ec || clk::now() >= _end) return;
      if (_outstanding >= _o.inflight) ++_skipped;  // the device is behind: this append waits no queue
      else submit();
      tick(due + std::chrono::microseconds(_o.interval_us));
    });
  }

  void submit() {
    const off_t at = _offset;
    _offset += off_t(_o.block);
    ++_outstanding;
    const auto t = clk::now();
    if (_o.mode == "inline") {
      write_and_sync(at);
      completed(t);
    } else if (_o.mode == "group") {
      bool idle;
      {
        std::lock_guard g(_mu);
        idle = _queue.empty() && !_draining;
        _queue.push_back({at, t});
      }
      if (idle) asio::post(_pool, [this] { drain(); });
    } else if (_o.mode == "pool") {
      asio::post(_pool, [this, at, t] {
        write_and_sync(at);
        asio::post(_loop, [this, t] { completed(t); });
      });
    } else {
      io_uring_sqe* w = io_uring_get_sqe(&_ring);
      io_uring_prep_write(w, _fd, _buf, unsigned(_o.block), uint64_t(at));
      if (_o.sync) {
        w->flags |= IOSQE_IO_LINK;
        io_uring_sqe_set_data(w, nullptr);  // only the fsync's completion ends the append
        io_uring_sqe* s = io_uring_get_sqe(&_ring);
        io_uring_prep_fsync(s, _fd, IORING_FSYNC_DATASYNC);
        io_uring_sqe_set_data(s, new clk::time_point(t));
      } else {
        io_uring_sqe_set_data(w, new clk::time_point(t));
      }
      if (io_uring_submit(&_ring) < 0) die("io_uring_submit");
    }
  }

  struct queued {
    off_t at;
    clk::time_point t;
  };

  // The disk thread of "group": everything queued so far, one sync, one hand-off back.
  void drain() {
    std::vector<queued> batch;
    {
      std::lock_guard g(_mu);
      batch.assign(_queue.begin(), _queue.end());
      _queue.clear();
      _draining = true;
    }
    for (const auto& q : batch)
      if (::pwrite(_fd, _buf, _o.block, q.at) != ssize_t(_o.block)) die("pwrite");
    if (_o.sync && ::fdatasync(_fd) != 0) die("fdatasync");
    asio::post(_loop, [this, batch = std::move(batch)] {
      for (const auto& q : batch) completed(q.t);
    });
    bool more;
    {
      std::lock_guard g(_mu);
      _draining = false;
      more = !_queue.empty();
    }
    if (more) asio::post(_pool, [this] { drain(); });
  }

  void write_and_sync(off_t at) {
    if (::pwrite(_fd, _buf, _o.block, at) != ssize_t(_o.block)) die("pwrite");
    if (_o.sync && ::fdatasync(_fd) != 0) die("fdatasync");
  }

  void wait_ring() {
    _ring_fd.async_read_some(asio::buffer(&_efd_value, sizeof _efd_value), [this](boost::system::error_code ec, size_t) {
      if (ec) return;
      io_uring_cqe* cqe = nullptr;
      while (io_uring_peek_cqe(&_ring, &cqe) == 0) {
        if (cqe->res < 0) {
          errno = -cqe->res;
          die("io_uring completion");
        }
        if (auto* t = static_cast<clk::time_point*>(io_uring_cqe_get_data(cqe))) {
          completed(*t);
          delete t;
        }
        io_uring_cqe_seen(&_ring, cqe);
      }
      if (!_stopped || _outstanding > 0) wait_ring();
    });
  }

  void completed(clk::time_point t) {
    _lat.add(us_since(t));
    ++_done;
    --_outstanding;
    if (_stopped && _outstanding == 0) _loop.stop();
  }

  void finish() {
    _stopped = true;
    _tick.cancel();
    if (_outstanding == 0) _loop.stop();
  }

  options _o;
  asio::io_context _loop;
  // Keeps run() going while writes are out on the disk thread with nothing else queued on the
  // loop; finish() and completed() stop it once every append has completed.
  asio::executor_work_guard<asio::io_context::executor_type> _work{_loop.get_executor()};
  asio::thread_pool _pool{1};
  asio::steady_timer _hb, _tick;
  asio::posix::stream_descriptor _ring_fd;
  io_uring _ring{};
  int _fd = -1, _efd = -1;
  uint64_t _efd_value = 0;
  char* _buf = nullptr;
  off_t _offset = 0;
  int _outstanding = 0;
  size_t _done = 0, _skipped = 0;
  bool _stopped = false;
  clk::time_point _start, _end;
  stats _lat, _late;
  std::mutex _mu;
  std::deque<queued> _queue;
  bool _draining = false;
};

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&] {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return std::string(argv[++i]);
    };
    if (a == "--mode") o.mode = val();
    else if (a == "--path") o.path = val();
    else if (a == "--block") o.block = std::stoul(val());
    else if (a == "--interval-us") o.interval_us = std::stoi(val());
    else if (a == "--seconds") o.seconds = std::stoi(val());
    else if (a == "--inflight") o.inflight = std::stoi(val());
    else if (a == "--sync") o.sync = true;
    else if (a == "--direct") o.direct = true;
    else {
      std::fprintf(stderr,
                   "usage: disk_offload [--mode inline|pool|group|uring] [--path F] [--block BYTES] [--interval-us N] "
                   "[--seconds N] [--inflight N] [--sync] [--direct]\n");
      return 2;
    }
  }
  if (o.mode != "inline" && o.mode != "pool" && o.mode != "group" && o.mode != "uring") {
    std::fprintf(stderr, "unknown mode %s\n", o.mode.c_str());
    return 2;
  }
  if (o.direct && o.block % 4096 != 0) {
    std::fprintf(stderr, "--direct needs a block that is a multiple of 4096\n");
    return 2;
  }
  bench b(o);
  b.run();
  return 0;
}
