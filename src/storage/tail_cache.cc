#include "gregor/storage/tail_cache.h"

#include <algorithm>
#include <cstring>

#include "gregor/base/assert.h"

namespace gregor::storage {
namespace {
// Chunks start small (a partition written rarely holds little) and double up to 4 MiB (at most a
// sixteenth of the bound, so eviction stays fine-grained) while its appends keep coming, so a busy
// partition costs one allocation per few MiB, and a Fetch of up to 1 MiB (Kafka's default
// max.partition.fetch.bytes) mostly fits one chunk: shared with the response, not copied.
constexpr size_t min_chunk_bytes = 4 << 10;
constexpr size_t max_chunk_bytes = 4 << 20;
}  // namespace

tail_cache::tail_cache(size_t max_bytes) : _max_bytes(max_bytes) {}

tail_cache::~tail_cache() {
  // Regions must not outlive their cache (their owner destroys them first).
  GREGOR_ASSERT(_live_chunks == 0);
}

std::shared_ptr<tail_cache::region> tail_cache::make_region(uint64_t end) {
  return std::make_shared<region>(*this, end);
}

void tail_cache::admit(const std::shared_ptr<region>& r, uint64_t chunk_id, size_t capacity) {
  _bytes.fetch_add(capacity, std::memory_order_relaxed);
  ++_live_chunks;
  _queue.push_back(queued{r, chunk_id});
  evict_to_fit();
  if (_queue.size() > 2 * _live_chunks + 64) compact_queue();
}

void tail_cache::release(size_t capacity, size_t chunks) {
  GREGOR_ASSERT(_live_chunks >= chunks);
  _bytes.fetch_sub(capacity, std::memory_order_relaxed);
  _live_chunks -= chunks;
}

void tail_cache::evict_to_fit() {
  while (bytes() > _max_bytes && !_queue.empty()) {
    queued q = std::move(_queue.front());
    _queue.pop_front();
    if (auto r = q.owner.lock()) {
      const size_t before = bytes();
      if (r->evict_through(q.chunk_id)) {
        _evicted_bytes.fetch_add(before - bytes(), std::memory_order_relaxed);
      }
    }
  }
}

void tail_cache::compact_queue() {
  std::deque<queued> kept;
  for (auto& q : _queue) {
    auto r = q.owner.lock();
    if (!r) continue;
    const bool live = std::any_of(r->_chunks.begin(), r->_chunks.end(),
                                  [&](const region::chunk& c) { return c.id == q.chunk_id; });
    if (live) kept.push_back(std::move(q));
  }
  _queue = std::move(kept);
}

tail_cache::region::~region() { drop_all(); }

void tail_cache::region::drop_all() {
  size_t capacity = 0;
  for (const auto& c : _chunks) capacity += c.data->capacity();
  if (!_chunks.empty()) _cache->release(capacity, _chunks.size());
  _chunks.clear();
  _start = _end;
}

void tail_cache::region::reset(uint64_t end) {
  drop_all();
  _start = _end = end;
}

void tail_cache::region::append(uint64_t position, std::span<const uint8_t> bytes) {
  if (position != _end) reset(position);
  if (bytes.empty()) return;
  if (_cache->_max_bytes == 0) {
    _start = _end = position + bytes.size();
    return;
  }
  size_t at = 0;
  if (!_chunks.empty()) {
    auto& last = *_chunks.back().data;
    const size_t room = last.capacity() - last.size();
    const size_t n = std::min(room, bytes.size());
    last.insert(last.end(), bytes.begin(), bytes.begin() + std::ptrdiff_t(n));
    at = n;
  }
  _end = position + bytes.size();
  if (at < bytes.size()) {
    const size_t rest = bytes.size() - at;
    const size_t largest = std::clamp(_cache->_max_bytes / 16, min_chunk_bytes, max_chunk_bytes);
    size_t cap = _chunks.empty() ? min_chunk_bytes
                                 : std::min(largest, 2 * _chunks.back().data->capacity());
    cap = std::max(cap, rest);
    chunk c{_cache->_next_chunk_id++, position + at, std::make_shared<std::vector<uint8_t>>()};
    c.data->reserve(cap);
    c.data->assign(bytes.begin() + std::ptrdiff_t(at), bytes.end());
    const size_t capacity = c.data->capacity();
    const uint64_t id = c.id;
    _chunks.push_back(std::move(c));
    // May evict this region's own oldest chunks, or (a single append larger than the whole
    // bound) even the new one.
    _cache->admit(shared_from_this(), id, capacity);
  }
  _start = _chunks.empty() ? _end : _chunks.front().position;
}

bool tail_cache::region::evict_through(uint64_t id) {
  size_t capacity = 0;
  size_t n = 0;
  while (!_chunks.empty() && _chunks.front().id <= id) {
    capacity += _chunks.front().data->capacity();
    _chunks.pop_front();
    ++n;
  }
  if (n == 0) return false;
  _cache->release(capacity, n);
  _start = _chunks.empty() ? _end : _chunks.front().position;
  return true;
}

std::deque<tail_cache::region::chunk>::const_iterator tail_cache::region::chunk_holding(uint64_t position) const {
  // The last chunk starting at or before `position`.
  auto it = std::upper_bound(_chunks.begin(), _chunks.end(), position,
                             [](uint64_t p, const chunk& c) { return p < c.position; });
  GREGOR_ASSERT(it != _chunks.begin());
  return --it;
}

void tail_cache::region::copy_out(uint64_t position, size_t len, uint8_t* dst) const {
  auto it = chunk_holding(position);
  for (size_t done = 0; done < len; ++it) {
    GREGOR_ASSERT(it != _chunks.end());
    const size_t from = size_t(position + done - it->position);
    const size_t n = std::min(len - done, it->data->size() - from);
    std::memcpy(dst + done, it->data->data() + from, n);
    done += n;
  }
}

template <class Buffer>
size_t tail_cache::region::read_into(uint64_t position, size_t len, Buffer& out) const {
  if (!holds(position) || len == 0) return 0;
  len = size_t(std::min<uint64_t>(len, _end - position));
  const size_t old = out.size();
  out.resize(old + len);
  copy_out(position, len, out.data() + old);
  _cache->_hit_bytes.fetch_add(len, std::memory_order_relaxed);
  return len;
}

size_t tail_cache::region::read(uint64_t position, size_t len, std::vector<uint8_t>& out) const {
  return read_into(position, len, out);
}

size_t tail_cache::region::read(uint64_t position, size_t len, byte_buffer& out) const {
  return read_into(position, len, out);
}

std::optional<shared_bytes> tail_cache::region::share(uint64_t position, size_t len) const {
  if (!holds(position) || len == 0 || len > _end - position) return std::nullopt;
  const auto it = chunk_holding(position);
  const size_t from = size_t(position - it->position);
  if (from + len > it->data->size()) return std::nullopt;  // spans two chunks
  _cache->_hit_bytes.fetch_add(len, std::memory_order_relaxed);
  return shared_bytes{it->data, std::span<const uint8_t>(it->data->data() + from, len)};
}

bool tail_cache::region::copy(uint64_t position, std::span<uint8_t> out) const {
  if (!holds(position) || out.size() > _end - position) return false;
  copy_out(position, out.size(), out.data());
  return true;
}

}  // namespace gregor::storage
