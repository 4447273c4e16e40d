#pragma once
// How ctest's variants of storage_tests set up every log the suites open (CMakeLists.txt):
//   GREGOR_TEST_DIRECT_IO=1   O_DIRECT segments, every append taking the direct path (the
//                             page-cache path for small appends is what the plain run covers);
//   GREGOR_TEST_TAIL_CACHE=1  the same, and every log keeps its appends in one small shared tail
//                             cache (tail_cache.h), so reads near the end come from memory and
//                             evictions happen in the middle of the tests;
//   GREGOR_TEST_DISK_WRITER=1 the tail-cache run, and every log (but those of the power-cut
//                             suites) has its appends written by one shared disk writer thread
//                             (disk_writer.h) with a 64 KiB bound, so reads, truncations, rolls
//                             and flushes meet queued, unwritten appends, and pushes wait for room.
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "gregor/protocol/record_batch.h"
#include "gregor/storage/disk_writer.h"
#include "gregor/storage/log_config.h"
#include "gregor/storage/partition_log.h"
#include "gregor/storage/tail_cache.h"

namespace gregor::storage::test_env {

inline bool disk_writer_run() { return std::getenv("GREGOR_TEST_DISK_WRITER") != nullptr; }
inline bool tail_cache_run() { return disk_writer_run() || std::getenv("GREGOR_TEST_TAIL_CACHE") != nullptr; }

// The writer of the disk-writer run, shared by every log of the process (never destroyed).
inline disk_writer* shared_writer() {
  static disk_writer* w = new disk_writer(64 << 10);
  return w;
}

// The cache of the tail-cache run: 256 KiB, shared by every log of the process (never destroyed:
// logs of a failed test may still hold regions).
inline tail_cache* shared_cache() {
  static tail_cache* cache = new tail_cache(256 << 10);
  return cache;
}

inline size_t log_manager_cache_bytes() { return tail_cache_run() ? (256 << 10) : 0; }
// log_manager::open's unwritten_bytes_max in the disk-writer run (the power-cut suites pass 0:
// their cut points count file operations, which must come in one order).
inline size_t log_manager_writer_bytes() { return disk_writer_run() ? (64 << 10) : 0; }

inline void apply(log_config& cfg, open_hints& hints) {
  if (std::getenv("GREGOR_TEST_DIRECT_IO") || tail_cache_run()) {
    cfg.direct_io = true;
    cfg.direct_append_min_bytes = 0;
  }
  if (tail_cache_run() && !hints.cache) hints.cache = shared_cache();
  if (disk_writer_run() && !hints.writer) hints.writer = shared_writer();
}

// One uncompressed batch of n records: keys "k<i>", values of value_bytes letters, timestamps ts + i.
inline std::vector<uint8_t> batch_of(int n, int64_t ts, size_t value_bytes = 10) {
  std::vector<protocol::record_input> recs;
  for (int i = 0; i < n; ++i) {
    protocol::record_input r;
    r.key = fmt::format("k{}", i);
    r.value = std::string(value_bytes, char('a' + i % 26));
    r.timestamp = ts + i;
    recs.push_back(std::move(r));
  }
  protocol::batch_options o;
  o.base_timestamp = ts;
  return protocol::build_batch(recs, o);
}

}  // namespace gregor::storage::test_env
