#pragma once
// server::fetch_deferrals: the consumer fetches that left a partition out because its bytes were
// still on the device (handlers/fetch.cc, "answer from memory first"), remembered by partition and
// fetch offset. A client that got nothing for a partition asks for it again at the same offset;
// that fetch finds the pair here and reads the partition (waiting for the device if it must), so
// no consumer has a partition left out of two fetches in a row, whatever order it lists them in
// and however many other consumers read the same partition meanwhile.
// Pure, one thread (the io thread that runs Fetch). Bounded: past `max_entries` pairs (consumers
// that went away after a deferral leave theirs behind) it forgets them all, which at worst lets
// each of those consumers be left out once more.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <unordered_set>

#include "gregor/base/types.h"

namespace gregor::server {

class fetch_deferrals {
 public:
  explicit fetch_deferrals(size_t max_entries = 4096) : _max(max_entries) {}

  // Whether a fetch of `tp` at `fetch_offset` may leave it out: not when the last fetch at this
  // offset did.
  bool may_defer(const topic_partition& tp, int64_t fetch_offset) const {
    return !_left_out.contains(key{tp, fetch_offset});
  }
  // A fetch left `tp` out at `fetch_offset`.
  void deferred(const topic_partition& tp, int64_t fetch_offset) {
    if (_left_out.size() >= _max) _left_out.clear();
    _left_out.insert(key{tp, fetch_offset});
  }
  // A fetch read `tp` at `fetch_offset` (records or not): the pair is settled.
  void read(const topic_partition& tp, int64_t fetch_offset) {
    if (!_left_out.empty()) _left_out.erase(key{tp, fetch_offset});
  }
  size_t size() const { return _left_out.size(); }

 private:
  struct key {
    topic_partition tp;
    int64_t offset;
    bool operator==(const key&) const = default;
  };
  struct key_hash {
    size_t operator()(const key& k) const noexcept {
      return std::hash<topic_partition>{}(k.tp) ^ (std::hash<int64_t>{}(k.offset) * 0x9e3779b97f4a7c15ULL);
    }
  };
  size_t _max;
  std::unordered_set<key, key_hash> _left_out;
};

}  // namespace gregor::server
