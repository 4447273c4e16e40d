#pragma once
// request_gate: the order of one connection's requests, and Kafka's one-at-a-time channel for a
// throttled client.
//
// Gregor handles a connection's requests concurrently (responses still go out in order); Kafka's
// broker reads a connection's next request only after it answered the previous one, and after the
// mute of a throttle (KIP-219). Concurrency is what a pipelining client's throughput rests on, but
// it also lets a client over its quota keep max.in.flight requests going at once, each recorded
// before the throttle of the one before is known. So once a request of the connection was
// throttled (leave() with a throttle time), the gate turns serial for the rest of the
// connection's life: a request enters only after every request that arrived before it has left
// and the throttle has run out, in arrival order (which idempotent producers' sequence numbers
// rely on).
//
// Use: arrive() when the frame comes in (before any suspension: tickets follow arrival order),
// co_await enter(ticket) before running the handler, leave(ticket, throttle_ms) once it answered
// (also when it never entered). close() lets every waiter through (the connection is gone).
// Threading: the io thread only.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gregor::server {

class request_gate {
 public:
  using clock = std::chrono::steady_clock;

  uint64_t arrive() {
    const uint64_t t = _next++;
    _pending.push_back(t);  // tickets grow: the list stays sorted
    return t;
  }

  boost::asio::awaitable<void> enter(uint64_t ticket) {
    while (!_closed && _serial && (_pending.front() < ticket || clock::now() < _held_until)) {
      boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
      timer.expires_at(_pending.front() < ticket ? clock::time_point::max() : _held_until);
      waiter w(*this, timer);
      co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
  }

  void leave(uint64_t ticket, int64_t throttle_ms) {
    if (auto it = std::find(_pending.begin(), _pending.end(), ticket); it != _pending.end()) _pending.erase(it);
    if (throttle_ms > 0) {
      _serial = true;
      _held_until = std::max(_held_until, clock::now() + std::chrono::milliseconds(throttle_ms));
    }
    wake_all();
  }

  void close() {
    _closed = true;
    wake_all();
  }

  bool serial() const { return _serial; }
  // Nothing in flight and never throttled: the gate remembers nothing.
  bool idle() const { return _pending.empty() && !_serial; }
  size_t waiting() const { return _waiters.size(); }

 private:
  // A waiting enter()'s timer, listed while its frame lives (also when the frame is destroyed
  // unresumed at shutdown).
  struct waiter {
    waiter(request_gate& g, boost::asio::steady_timer& t) : gate(g), timer(t) { gate._waiters.push_back(&timer); }
    ~waiter() { std::erase(gate._waiters, &timer); }
    request_gate& gate;
    boost::asio::steady_timer& timer;
  };
  void wake_all() {
    for (auto* t : _waiters) t->cancel();
  }

  uint64_t _next = 0;
  std::vector<uint64_t> _pending;  // arrived, not left, in arrival order (a few at most)
  bool _serial = false;
  bool _closed = false;
  clock::time_point _held_until{};
  std::vector<boost::asio::steady_timer*> _waiters;
};

}  // namespace gregor::server
