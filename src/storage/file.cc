#include "gregor/storage/file.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gregor/base/assert.h"
#include "gregor/storage/power_fault.h"

namespace gregor::storage {

namespace {
failure<storage_error> io_fail(std::string_view what, const std::filesystem::path& p) {
  return fail(storage_errc::io_error, "{} {}: {}", what, p.string(), std::strerror(errno));
}
// Only while the power-cut model is installed (power_fault.h) and its simulated power is off.
failure<storage_error> power_cut_fail(std::string_view what, const std::filesystem::path& p) {
  return fail(storage_errc::io_error, "{} {}: power cut (simulated)", what, p.string());
}
bool power_is_off() { return power_fault::active() && !power_fault::gate(); }
}  // namespace

std::string_view to_string(storage_errc code) {
  switch (code) {
    case storage_errc::io_error: return "io_error";
    case storage_errc::offset_out_of_range: return "offset_out_of_range";
    case storage_errc::corrupt: return "corrupt";
    case storage_errc::not_found: return "not_found";
    case storage_errc::already_exists: return "already_exists";
    case storage_errc::invalid_argument: return "invalid_argument";
  }
  return "unknown";
}

file::~file() { close(); }

file::file(file&& o) noexcept : _fd(o._fd), _dfd(o._dfd), _path(std::move(o._path)) {
  o._fd = -1;
  o._dfd = -1;
}

file& file::operator=(file&& o) noexcept {
  if (this != &o) {
    close();
    _fd = o._fd;
    _dfd = o._dfd;
    _path = std::move(o._path);
    o._fd = -1;
    o._dfd = -1;
  }
  return *this;
}

namespace {
struct free_deleter {
  void operator()(uint8_t* p) const { std::free(p); }
};
}  // namespace

std::span<uint8_t> direct_scratch(size_t size) {
  thread_local std::unique_ptr<uint8_t, free_deleter> buf;
  thread_local size_t capacity = 0;
  if (size > capacity) {
    size_t want = std::max<size_t>(capacity * 2, 1 << 20);
    while (want < size) want *= 2;
    void* p = std::aligned_alloc(file::direct_align, want);
    if (!p) throw std::bad_alloc();
    buf.reset(static_cast<uint8_t*>(p));
    capacity = want;
  }
  return {buf.get(), size};
}

result<bool, storage_error> file::enable_direct() {
  if (_dfd >= 0) return true;
  int fd = ::open(_path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  if (fd < 0) {
    if (errno == EINVAL || errno == EOPNOTSUPP) return false;
    return io_fail("open O_DIRECT", _path);
  }
  _dfd = fd;
  return true;
}

result<void, storage_error> file::pwrite_direct(uint64_t pos, std::span<const uint8_t> data) {
  power_fault::operation_scope modelled;
  GREGOR_ASSERT(_dfd >= 0 && pos % direct_align == 0 && data.size() % direct_align == 0 &&
                reinterpret_cast<uintptr_t>(data.data()) % direct_align == 0);
  if (power_is_off()) return power_cut_fail("pwrite", _path);
  if (power_fault::active()) power_fault::note_write(_fd, _path, pos, data.size());
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(_dfd, data.data() + done, data.size() - done, off_t(pos + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EINVAL) {
        // The file system took O_DIRECT at open but not this write (a larger block size).
        return fail(storage_errc::invalid_argument, "direct pwrite {}: {}", _path.string(),
                    std::strerror(errno));
      }
      return io_fail("pwrite", _path);
    }
    if (n == 0 || size_t(n) % direct_align != 0) {
      // A direct write that stops mid-block (ENOSPC on the next block) leaves the position
      // unaligned; report it as the failure it is.
      errno = ENOSPC;
      return io_fail("pwrite", _path);
    }
    done += size_t(n);
  }
  return ok;
}

result<size_t, storage_error> file::pread_direct(uint64_t pos, std::span<uint8_t> out) const {
  // Whole aligned blocks into the bounce buffer, at most 1 MiB at a time, then the wanted bytes out.
  constexpr size_t chunk_max = size_t(1) << 20;
  size_t done = 0;
  while (done < out.size()) {
    const uint64_t at = pos + done;
    const uint64_t start = at - at % direct_align;
    const size_t head = size_t(at - start);
    size_t span_len = std::min(chunk_max, head + (out.size() - done));
    span_len = (span_len + direct_align - 1) / direct_align * direct_align;
    auto scratch = direct_scratch(span_len);
    ssize_t n;
    do {
      n = ::pread(_dfd, scratch.data(), span_len, off_t(start));
    } while (n < 0 && errno == EINTR);
    if (n < 0) return io_fail("pread", _path);
    if (size_t(n) <= head) break;  // end of file
    const size_t got = std::min(size_t(n) - head, out.size() - done);
    std::memcpy(out.data() + done, scratch.data() + head, got);
    done += got;
    if (size_t(n) < span_len) break;  // end of file
  }
  return done;
}

result<file, storage_error> file::open(const std::filesystem::path& path) {
  power_fault::operation_scope modelled;
  const bool model = power_fault::active();
  const bool existed = model && ::access(path.c_str(), F_OK) == 0;
  if (model && !existed && !power_fault::gate()) return power_cut_fail("create", path);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return io_fail("open", path);
  if (model && !existed) power_fault::note_created(fd, path);
  file f;
  f._fd = fd;
  f._path = path;
  return f;
}

result<file, storage_error> file::open_read(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_fail("open", path);
  file f;
  f._fd = fd;
  f._path = path;
  return f;
}

result<size_t, storage_error> file::size() const {
  struct stat st {};
  if (::fstat(_fd, &st) != 0) return io_fail("fstat", _path);
  return size_t(st.st_size);
}

namespace {
// cachestat(2) (Linux 6.5; not in Debian 12's headers): page-cache residency of a range, without
// side effects (a RWF_NOWAIT read would start readahead on a miss).
struct cachestat_range_arg {
  uint64_t off;
  uint64_t len;
};
struct cachestat_result {
  uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};
constexpr long sys_cachestat = 451;

bool all_in_page_cache(int fd, uint64_t pos, size_t len) {
  static std::atomic<bool> unsupported{false};
  if (len == 0 || unsupported.load(std::memory_order_relaxed)) return false;
  static const uint64_t page = uint64_t(::sysconf(_SC_PAGESIZE));
  cachestat_range_arg r{pos, len};
  cachestat_result cs{};
  if (::syscall(sys_cachestat, fd, &r, &cs, 0) != 0) {
    if (errno == ENOSYS) unsupported = true;
    return false;
  }
  const uint64_t pages = (pos + len - 1) / page - pos / page + 1;
  return cs.nr_cache >= pages;
}
}  // namespace

bool file::in_page_cache(uint64_t pos, size_t len) const { return _fd >= 0 && all_in_page_cache(_fd, pos, len); }

result<size_t, storage_error> file::pread(uint64_t pos, std::span<uint8_t> out) const {
  // Direct I/O reads what the page cache does not hold: appends below the segment's direct
  // threshold went through it, and reading them there skips a device round trip (and the
  // write-back a direct read of dirty pages would force first).
  if (_dfd >= 0 && !all_in_page_cache(_fd, pos, out.size())) return pread_direct(pos, out);
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(_fd, out.data() + done, out.size() - done, off_t(pos + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_fail("pread", _path);
    }
    if (n == 0) break;
    done += size_t(n);
  }
  return done;
}

result<void, storage_error> file::pwrite(uint64_t pos, std::span<const uint8_t> data) {
  power_fault::operation_scope modelled;
  if (power_is_off()) return power_cut_fail("pwrite", _path);
  if (power_fault::active()) power_fault::note_write(_fd, _path, pos, data.size());
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(_fd, data.data() + done, data.size() - done, off_t(pos + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_fail("pwrite", _path);
    }
    done += size_t(n);
  }
  return ok;
}

result<void, storage_error> file::truncate(uint64_t size) {
  power_fault::operation_scope modelled;
  if (power_is_off()) return power_cut_fail("ftruncate", _path);
  if (power_fault::active()) power_fault::note_truncate(_fd, _path, size);
  if (::ftruncate(_fd, off_t(size)) != 0) return io_fail("ftruncate", _path);
  return ok;
}

result<void, storage_error> file::sync() {
  power_fault::operation_scope modelled;
  if (_fd >= 0 && power_is_off()) return power_cut_fail("fdatasync", _path);
  if (_fd >= 0 && ::fdatasync(_fd) != 0) return io_fail("fdatasync", _path);
  if (_fd >= 0 && power_fault::active()) power_fault::note_synced(_fd);
  return ok;
}

void file::start_writeback(uint64_t pos, uint64_t len) {
  if (_fd < 0 || len == 0 || power_fault::active()) return;
  (void)::sync_file_range(_fd, off64_t(pos), off64_t(len), SYNC_FILE_RANGE_WRITE);
}

result<void, storage_error> file::sync_descriptor(int fd, const std::filesystem::path& what) {
  power_fault::operation_scope modelled;
  if (power_is_off()) return power_cut_fail("fdatasync", what);
  if (::fdatasync(fd) != 0) return io_fail("fdatasync", what);
  if (power_fault::active()) power_fault::note_synced(fd);
  return ok;
}

result<std::vector<uint8_t>, storage_error> file::read_all() const {
  auto size = this->size();
  if (!size) return failure{size.error()};
  std::vector<uint8_t> buf(*size);
  auto n = pread(0, buf);
  if (!n) return failure{n.error()};
  buf.resize(*n);
  return buf;
}

int file::dup_for_sync() const { return _fd >= 0 ? ::fcntl(_fd, F_DUPFD_CLOEXEC, 0) : -1; }

void file::disable_direct() {
  if (_dfd >= 0) ::close(_dfd);
  _dfd = -1;
}

void file::close() {
  if (_fd >= 0) ::close(_fd);
  if (_dfd >= 0) ::close(_dfd);
  _fd = -1;
  _dfd = -1;
}

result<void, storage_error> file::rename(const std::filesystem::path& to) {
  power_fault::operation_scope modelled;
  if (power_is_off()) return power_cut_fail("rename", _path);
  if (power_fault::active()) power_fault::note_rename(_path, to);
  if (::rename(_path.c_str(), to.c_str()) != 0) return io_fail("rename", _path);
  _path = to;
  return ok;
}

result<void, storage_error> sync_dir(const std::filesystem::path& dir) {
  power_fault::operation_scope modelled;
  if (power_is_off()) return power_cut_fail("fsync dir", dir);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_fail("open dir", dir);
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  errno = saved;
  if (rc != 0) return io_fail("fsync dir", dir);
  if (power_fault::active()) power_fault::note_dir_synced(dir);
  return ok;
}

void rename_path(const std::filesystem::path& from, const std::filesystem::path& to,
                 std::error_code& ec) {
  power_fault::operation_scope modelled;
  if (power_is_off()) {
    ec = std::make_error_code(std::errc::io_error);
    return;
  }
  if (power_fault::active()) power_fault::note_rename(from, to);
  std::filesystem::rename(from, to, ec);
}

bool remove_path(const std::filesystem::path& p, std::error_code& ec) {
  power_fault::operation_scope modelled;
  if (power_is_off()) {
    ec = std::make_error_code(std::errc::io_error);
    return false;
  }
  if (power_fault::active()) power_fault::note_remove(p);
  return std::filesystem::remove(p, ec);
}

void remove_tree(const std::filesystem::path& p, std::error_code& ec) {
  power_fault::operation_scope modelled;
  if (power_is_off()) {
    ec = std::make_error_code(std::errc::io_error);
    return;
  }
  if (power_fault::active()) power_fault::note_remove(p);
  std::filesystem::remove_all(p, ec);
}

void resize_path(const std::filesystem::path& p, uint64_t size, std::error_code& ec) {
  power_fault::operation_scope modelled;
  if (!power_fault::active()) {
    std::filesystem::resize_file(p, size, ec);
    return;
  }
  auto f = file::open(p);
  if (!f) {
    ec = std::make_error_code(std::errc::io_error);
    return;
  }
  if (auto t = f->truncate(size); !t) ec = std::make_error_code(std::errc::io_error);
}

bool create_dirs(const std::filesystem::path& p, std::error_code& ec) {
  power_fault::operation_scope modelled;
  // The missing components, outermost first.
  std::vector<std::filesystem::path> missing;
  for (auto at = p.lexically_normal(); !at.empty() && !std::filesystem::exists(at, ec);
       at = at.parent_path()) {
    missing.insert(missing.begin(), at);
    if (at == at.parent_path()) break;
  }
  ec.clear();
  if (missing.empty()) return false;
  if (power_is_off()) {
    ec = std::make_error_code(std::errc::io_error);
    return false;
  }
  bool made = std::filesystem::create_directories(p, ec);
  if (ec) return made;
  for (const auto& d : missing) {
    if (power_fault::active()) power_fault::note_mkdir(d);
  }
  // Each new directory's name is durable only once its parent is synced (else a power cut can
  // take the directory with every fsynced file in it).
  for (const auto& d : missing) {
    auto parent = d.parent_path().empty() ? std::filesystem::path(".") : d.parent_path();
    if (auto s = sync_dir(parent); !s) {
      ec = std::make_error_code(std::errc::io_error);
      return made;
    }
  }
  return made;
}

result<void, storage_error> write_file_atomic(const std::filesystem::path& path,
                                              std::string_view contents) {
  power_fault::operation_scope modelled;
  auto tmp = path;
  tmp += ".tmp";
  {
    const bool model = power_fault::active();
    const bool existed = model && ::access(tmp.c_str(), F_OK) == 0;
    if (model && !existed && !power_fault::gate()) return power_cut_fail("create", tmp);
    // Without O_TRUNC when modelled: the model sees the truncation of a leftover before it happens.
    const int flags = model ? O_RDWR | O_CREAT | O_CLOEXEC : O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
    int fd = ::open(tmp.c_str(), flags, 0644);
    if (fd < 0) return io_fail("open", tmp);
    if (model && !existed) power_fault::note_created(fd, tmp);
    if (model && !power_fault::gate()) {
      ::close(fd);
      return power_cut_fail("write", tmp);
    }
    if (model && existed) {
      power_fault::note_truncate(fd, tmp, 0);
      if (::ftruncate(fd, 0) != 0) {
        ::close(fd);
        return io_fail("ftruncate", tmp);
      }
    }
    if (model) power_fault::note_write(fd, tmp, 0, contents.size());
    size_t done = 0;
    while (done < contents.size()) {
      ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        int saved = errno;
        ::close(fd);
        errno = saved;
        return io_fail("write", tmp);
      }
      done += size_t(n);
    }
    if (model && !power_fault::gate()) {
      ::close(fd);
      return power_cut_fail("fsync", tmp);
    }
    if (::fsync(fd) != 0) {
      int saved = errno;
      ::close(fd);
      errno = saved;
      return io_fail("fsync", tmp);
    }
    if (model) power_fault::note_synced(fd);
    ::close(fd);
  }
  if (power_is_off()) return power_cut_fail("rename", tmp);
  if (power_fault::active()) power_fault::note_rename(tmp, path);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return io_fail("rename", tmp);
  return sync_dir(path.parent_path());
}

result<std::string, storage_error> read_small_file(const std::filesystem::path& path,
                                                   size_t size_max) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return fail(storage_errc::not_found, "{} does not exist", path.string());
    return io_fail("open", path);
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int saved = errno;
      ::close(fd);
      errno = saved;
      return io_fail("read", path);
    }
    if (n == 0) break;
    out.append(buf, size_t(n));
    if (out.size() > size_max) {
      ::close(fd);
      return fail(storage_errc::corrupt, "{} is larger than {} bytes", path.string(), size_max);
    }
  }
  ::close(fd);
  return out;
}

}  // namespace gregor::storage
