#pragma once
// file: a thin RAII wrapper over a POSIX file descriptor with positional I/O. Owns the fd. Used by
// segments and indexes; callers serialise access (a partition log is single-threaded), except
// that concurrent pread() calls are safe.
//
// Direct I/O (enable_direct): a second descriptor opened with O_DIRECT, so that reads and the
// segment's block-aligned appends bypass the page cache. On our VMs filling fresh page-cache pages
// costs ~2 CPU-seconds per GB (the hypervisor backs each new guest page on first touch), while
// O_DIRECT moves the same bytes at 2-2.7 GB/s for ~0.04 CPU-seconds per GB (bench/README.md).
// With it on, pread() reads whole aligned blocks through a per-thread bounce buffer; pwrite()
// stays buffered (indexes, the cleaner), and pwrite_direct() takes only aligned writes.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>
#include <string_view>
#include <system_error>

#include "gregor/storage/storage_error.h"

namespace gregor::storage {

class file {
 public:
  file() = default;
  ~file();
  file(file&& o) noexcept;
  file& operator=(file&& o) noexcept;
  file(const file&) = delete;
  file& operator=(const file&) = delete;

  // Opens read-write, creating the file if missing.
  static result<file, storage_error> open(const std::filesystem::path& path);
  // Opens an existing file read-only (never creates it).
  static result<file, storage_error> open_read(const std::filesystem::path& path);

  // Block size for direct I/O: offsets, lengths and buffer addresses of pwrite_direct() are
  // multiples of it (4096 satisfies every device's logical block size).
  static constexpr size_t direct_align = 4096;

  bool is_open() const { return _fd >= 0; }
  // Opens the O_DIRECT descriptor. Returns false (and leaves the file buffered) when the file
  // system refuses O_DIRECT; an error only for other failures.
  result<bool, storage_error> enable_direct();
  bool direct() const { return _dfd >= 0; }
  // The O_DIRECT descriptor (-1 without direct I/O), for readahead to duplicate.
  int direct_fd() const { return _dfd; }
  // The descriptor background reads duplicate: the O_DIRECT one when there is one.
  int read_fd() const { return _dfd >= 0 ? _dfd : _fd; }
  // Whether the page cache holds all of [pos, pos + len), so that pread() does not wait for the
  // device (false when the kernel cannot tell: cachestat(2) needs Linux 6.5).
  bool in_page_cache(uint64_t pos, size_t len) const;
  // Back to buffered I/O only.
  void disable_direct();
  // Writes `data` at `pos` through the O_DIRECT descriptor: pos, data.size() and data.data() must
  // be multiples of direct_align. Requires direct(). invalid_argument when the file system refuses
  // the write itself (EINVAL: it wants a larger alignment).
  result<void, storage_error> pwrite_direct(uint64_t pos, std::span<const uint8_t> data);
  const std::filesystem::path& path() const { return _path; }
  result<size_t, storage_error> size() const;
  // Reads up to out.size() bytes at pos; returns the number read (short only at end of file).
  result<size_t, storage_error> pread(uint64_t pos, std::span<uint8_t> out) const;
  // The whole file (index files, read once at open).
  result<std::vector<uint8_t>, storage_error> read_all() const;
  // Writes all of data at pos (loops over short writes).
  result<void, storage_error> pwrite(uint64_t pos, std::span<const uint8_t> data);
  result<void, storage_error> truncate(uint64_t size);
  result<void, storage_error> sync();
  // Starts writing back the dirty pages of [pos, pos + len) without waiting for them
  // (sync_file_range SYNC_FILE_RANGE_WRITE): no durability promise, best effort (errors ignored),
  // a no-op under the power-fault model. Appenders call it every few hundred KiB so that the
  // kernel's flusher does not find ~30 s of appends dirty at once (see segment.cc).
  void start_writeback(uint64_t pos, uint64_t len);
  // A duplicate descriptor, for an fsync on another thread that must not depend on this object's
  // lifetime (the caller closes it); -1 when closed or on failure.
  int dup_for_sync() const;
  // fdatasync of such a duplicate (named `what` in the error), with the power-fault model's
  // hooks as sync() has them; the descriptor stays open.
  static result<void, storage_error> sync_descriptor(int fd, const std::filesystem::path& what);
  void close();
  // Renames the file on disk and remembers the new path.
  result<void, storage_error> rename(const std::filesystem::path& to);

 private:
  result<size_t, storage_error> pread_direct(uint64_t pos, std::span<uint8_t> out) const;

  int _fd = -1;
  int _dfd = -1;  // O_DIRECT descriptor of the same file, or -1
  std::filesystem::path _path;
};

// A buffer aligned to file::direct_align, reused by one thread for direct writes and reads (grows,
// never shrinks; the segment's staging area for appends).
std::span<uint8_t> direct_scratch(size_t size);

// std::filesystem's operations on names (and a size change by name), routed through here so that
// the power-cut model (power_fault.h) sees them when a test installs it. Same contracts as
// fs::rename, fs::remove, fs::remove_all, fs::resize_file and fs::create_directories, except that
// create_dirs also fsyncs the parent of every directory it creates (a new partition directory
// must survive a power cut with the fsynced segments in it).
void rename_path(const std::filesystem::path& from, const std::filesystem::path& to,
                 std::error_code& ec);
bool remove_path(const std::filesystem::path& p, std::error_code& ec);
void remove_tree(const std::filesystem::path& p, std::error_code& ec);
void resize_path(const std::filesystem::path& p, uint64_t size, std::error_code& ec);
bool create_dirs(const std::filesystem::path& p, std::error_code& ec);

// fsync a directory so that creations/renames inside it are durable.
result<void, storage_error> sync_dir(const std::filesystem::path& dir);
// Atomically replaces `path` with `contents`: write path.tmp, fsync, rename, fsync the directory.
result<void, storage_error> write_file_atomic(const std::filesystem::path& path,
                                              std::string_view contents);
// Reads a whole (small) file.
result<std::string, storage_error> read_small_file(const std::filesystem::path& path,
                                                   size_t size_max = 1 << 20);

}  // namespace gregor::storage
