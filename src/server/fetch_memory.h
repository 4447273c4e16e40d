#pragma once
// server::fetch_memory: the broker-wide account of consumer Fetch records held in memory until
// their responses are written. Kafka sends Fetch records from the log files (zero-copy), so its
// memory does not grow with the fetches in flight; Gregor holds the records it answers in memory
// (copies, or the readahead and tail-cache buffers it shares with the response), so without a
// bound a few hundred consumers each fetching max_bytes 2^31-1 would hold their whole logs in
// memory at once. A consumer fetch reads no more than `available()`; what it
// read is leased and given back when the response is written (net::frame_outcome::lease). When the
// account is spent, consumer fetches answer without records (or wait as for no data, up to their
// max_wait_ms) and the consumer fetches again: Kafka allows any answer below max_bytes. Follower
// fetches are not bounded by it (replication must not starve; their count is the brokers').
// Pure (no Asio), one thread or many: the count is atomic.
#include <atomic>
#include <cstddef>
#include <memory>

namespace gregor::server {

class fetch_memory {
 public:
  explicit fetch_memory(size_t max_bytes) : _state(std::make_shared<state>(max_bytes)) {}

  size_t max_bytes() const { return _state->max; }
  size_t in_use() const { return _state->used.load(std::memory_order_relaxed); }
  // What a consumer fetch may still read now.
  size_t available() const {
    const size_t used = in_use();
    return used >= _state->max ? 0 : _state->max - used;
  }
  // Counts `bytes` as held until the last copy of the returned lease is destroyed (which may be
  // after this account: the lease keeps the count alive).
  std::shared_ptr<const void> lease(size_t bytes) {
    _state->used.fetch_add(bytes, std::memory_order_relaxed);
    auto st = _state;
    return std::shared_ptr<const void>(static_cast<const void*>(st.get()), [st, bytes](const void*) {
      st->used.fetch_sub(bytes, std::memory_order_relaxed);
    });
  }

 private:
  struct state {
    explicit state(size_t m) : max(m) {}
    const size_t max;
    std::atomic<size_t> used{0};
  };
  std::shared_ptr<state> _state;
};

}  // namespace gregor::server
