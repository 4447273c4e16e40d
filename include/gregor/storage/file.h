#pragma once
// file: a thin RAII wrapper over a POSIX file descriptor with positional I/O. Owns the fd. Used by
// segments and indexes; callers serialise access (a partition log is single-threaded), except
// that concurrent pread() calls are safe.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>
#include <string_view>

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

  bool is_open() const { return _fd >= 0; }
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
  // A duplicate descriptor, for an fsync on another thread that must not depend on this object's
  // lifetime (the caller closes it); -1 when closed or on failure.
  int dup_for_sync() const;
  void close();
  // Renames the file on disk and remembers the new path.
  result<void, storage_error> rename(const std::filesystem::path& to);

 private:
  int _fd = -1;
  std::filesystem::path _path;
};

// fsync a directory so that creations/renames inside it are durable.
result<void, storage_error> sync_dir(const std::filesystem::path& dir);
// Atomically replaces `path` with `contents`: write path.tmp, fsync, rename, fsync the directory.
result<void, storage_error> write_file_atomic(const std::filesystem::path& path,
                                              std::string_view contents);
// Reads a whole (small) file.
result<std::string, storage_error> read_small_file(const std::filesystem::path& path,
                                                   size_t size_max = 1 << 20);

}  // namespace gregor::storage
