#pragma once
// io_time_meter: the time the io thread spends running one request's handler, Kafka's
// requestThreadTimeNanos, which request_percentage quotas (KIP-124) count.
//
// A handler is a coroutine that may suspend (a parked Fetch, a change waiting for the controller);
// the time it waits costs no thread, so wall-clock time would be wrong. The handler therefore runs
// on a metered_executor: every resumption of the coroutine goes through its execute(), which
// adds the time until the coroutine suspends again. The last slice ends with the handler, which
// `metered` marks (finish) before the caller reads the total.
//
// Threading: the io thread only (the meter is shared by the resumptions of one request).
#include <chrono>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/require.hpp>

namespace gregor::server {

class io_time_meter {
 public:
  using clock_t = std::chrono::steady_clock;
  void begin_slice() {
    if (_depth++ == 0) _slice_start = clock_t::now();
  }
  void end_slice() {
    if (--_depth == 0 && !_done) _nanos += elapsed();
  }
  // The handler returned (called inside its last slice): the total is final.
  void finish() {
    if (_done) return;
    if (_depth > 0) _nanos += elapsed();
    _done = true;
  }
  int64_t nanos() const { return _nanos; }

 private:
  int64_t elapsed() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_t::now() - _slice_start).count();
  }
  int64_t _nanos = 0;
  int _depth = 0;  // nested slices (a completion run inline inside another) count once
  bool _done = false;
  clock_t::time_point _slice_start{};
};

// An executor that runs everything through `Inner` and meters it (the meter outlives the
// request: work spawned on this executor may run after it).
template <class Inner>
class metered_executor {
 public:
  metered_executor(Inner inner, std::shared_ptr<io_time_meter> meter) noexcept
      : _inner(std::move(inner)), _meter(std::move(meter)) {}

  template <class F>
  void execute(F&& f) const {
    _inner.execute([meter = _meter, f = std::forward<F>(f)]() mutable {
      struct slice {
        io_time_meter& m;
        explicit slice(io_time_meter& m) : m(m) { m.begin_slice(); }
        ~slice() { m.end_slice(); }
      } s(*meter);
      std::move(f)();
    });
  }

  template <class Property>
  auto query(const Property& p) const noexcept
      -> decltype(boost::asio::query(std::declval<const Inner&>(), p)) {
    return boost::asio::query(_inner, p);
  }
  template <class Property>
  auto require(const Property& p) const
      -> metered_executor<std::decay_t<decltype(boost::asio::require(std::declval<const Inner&>(), p))>> {
    return {boost::asio::require(_inner, p), _meter};
  }
  template <class Property>
  auto prefer(const Property& p) const
      -> metered_executor<std::decay_t<decltype(boost::asio::prefer(std::declval<const Inner&>(), p))>> {
    return {boost::asio::prefer(_inner, p), _meter};
  }

  friend bool operator==(const metered_executor& a, const metered_executor& b) noexcept {
    return a._inner == b._inner && a._meter == b._meter;
  }
  friend bool operator!=(const metered_executor& a, const metered_executor& b) noexcept { return !(a == b); }

 private:
  template <class>
  friend class metered_executor;
  Inner _inner;
  std::shared_ptr<io_time_meter> _meter;
};

// Runs `inner` to completion and marks the meter's total final inside its last slice.
template <class T>
boost::asio::awaitable<T> metered(boost::asio::awaitable<T> inner, std::shared_ptr<io_time_meter> meter) {
  T value = co_await std::move(inner);
  meter->finish();
  co_return value;
}

}  // namespace gregor::server
