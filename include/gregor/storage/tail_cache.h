#pragma once
// tail_cache: the most recently appended bytes of the logs, kept in memory so that consumers and
// follower replicas reading near the end of a partition never touch the device (appends of 64 KiB
// and more bypass the page cache, see README "Direct I/O"). Bounded broker-wide in bytes
// (log.tail.cache.max.bytes); the oldest appends, across all partitions, are evicted first.
//
// Each segment that receives appends owns a `region`: the cached suffix [start(), end()) of its
// file, a list of chunks filled by copying each append's bytes after they were written. Eviction
// drops whole chunks from the front of a region, so a region always holds one contiguous range
// ending at the segment's end. A region dies with its segment (roll keeps it: a consumer may still
// be reading the end of the previous segment; truncation and deletion replace or drop it).
//
// Not thread-safe: one cache per owner thread (the thread that appends to and reads its logs).
// The counters are atomics so that another thread (/metrics) may read them.
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "gregor/base/byte_buffer.h"

namespace gregor::storage {

class tail_cache {
 public:
  class region;

  // max_bytes == 0 keeps nothing (every region stays empty).
  explicit tail_cache(size_t max_bytes);
  ~tail_cache();
  tail_cache(const tail_cache&) = delete;
  tail_cache& operator=(const tail_cache&) = delete;

  // A new, empty region for a segment whose next append lands at file position `end`.
  std::shared_ptr<region> make_region(uint64_t end);

  size_t max_bytes() const { return _max_bytes; }
  // Memory held by chunks (their capacity, what the process really holds).
  size_t bytes() const { return _bytes.load(std::memory_order_relaxed); }
  // Bytes reads took from memory / had to read from the file, and bytes evicted.
  uint64_t hit_bytes() const { return _hit_bytes.load(std::memory_order_relaxed); }
  uint64_t miss_bytes() const { return _miss_bytes.load(std::memory_order_relaxed); }
  uint64_t evicted_bytes() const { return _evicted_bytes.load(std::memory_order_relaxed); }
  void count_miss(size_t n) { _miss_bytes.fetch_add(n, std::memory_order_relaxed); }
  // Entries of the eviction queue (live chunks and stale ones not yet compacted away).
  size_t queued_chunks() const { return _queue.size(); }

 private:
  friend class region;
  struct queued {
    std::weak_ptr<region> owner;
    uint64_t chunk_id;
  };
  void admit(const std::shared_ptr<region>& r, uint64_t chunk_id, size_t capacity);
  void release(size_t capacity, size_t chunks);
  void evict_to_fit();
  void compact_queue();

  size_t _max_bytes;
  std::atomic<size_t> _bytes{0};
  std::atomic<uint64_t> _hit_bytes{0};
  std::atomic<uint64_t> _miss_bytes{0};
  std::atomic<uint64_t> _evicted_bytes{0};
  size_t _live_chunks = 0;
  uint64_t _next_chunk_id = 1;
  std::deque<queued> _queue;  // every chunk in allocation order (oldest first); may hold stale ones
};

class tail_cache::region : public std::enable_shared_from_this<region> {
 public:
  region(tail_cache& cache, uint64_t end) : _cache(&cache), _start(end), _end(end) {}
  ~region();
  region(const region&) = delete;
  region& operator=(const region&) = delete;

  // The cached range of the segment file: [start(), end()); empty when start() == end().
  uint64_t start() const { return _start; }
  uint64_t end() const { return _end; }
  bool holds(uint64_t position) const { return position >= _start && position < _end; }

  // `bytes` were written at file position `position`. Appending anywhere but end() (a write the
  // region missed) drops what it held and starts again there.
  void append(uint64_t position, std::span<const uint8_t> bytes);
  // Appends [position, position + len) to out when the region holds `position`; returns how many
  // bytes it copied (short when the range goes past end(); 0 when `position` is not held).
  size_t read(uint64_t position, size_t len, std::vector<uint8_t>& out) const;
  size_t read(uint64_t position, size_t len, byte_buffer& out) const;
  // A view of [position, position + len) when one chunk holds all of it (nullopt otherwise);
  // the view keeps the chunk's memory alive after eviction. Counts as a hit like read().
  std::optional<shared_bytes> share(uint64_t position, size_t len) const;
  // Copies [position, position + out.size()) into out; false (nothing copied) unless it is held.
  bool copy(uint64_t position, std::span<uint8_t> out) const;
  // Forgets everything; the next append starts at `end`.
  void reset(uint64_t end);

 private:
  friend class tail_cache;
  struct chunk {
    uint64_t id;
    uint64_t position;           // file position of data[0]
    // size() bytes used, capacity() accounted. Shared with the views share() hands out: appends
    // only fill the reserved capacity (never reallocate), so viewed bytes stay where they are.
    std::shared_ptr<std::vector<uint8_t>> data;
  };
  template <class Buffer>
  size_t read_into(uint64_t position, size_t len, Buffer& out) const;
  void copy_out(uint64_t position, size_t len, uint8_t* dst) const;  // the range must be held
  std::deque<chunk>::const_iterator chunk_holding(uint64_t position) const;  // it must be held
  // Drops the front chunks with id <= `id`; returns whether any went.
  bool evict_through(uint64_t id);
  void drop_all();

  tail_cache* _cache;
  uint64_t _start;
  uint64_t _end;
  std::deque<chunk> _chunks;
};

}  // namespace gregor::storage
