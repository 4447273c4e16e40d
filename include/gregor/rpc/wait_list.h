#pragma once
// wait_list: coroutines waiting, each until its own deadline, for something another coroutine on
// the same io_context thread announces with notify_all(). The building block of every wait in
// rpc (a response, an in-flight slot, a connection attempt, stop()).
//
// Thread: one io_context thread; not thread-safe. A notification is not remembered: a waiter
// checks its condition before waiting and again after waking (a deadline and a notification
// may land together). The owner keeps the list alive until no coroutine waits on it.
#include <chrono>
#include <list>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace gregor::rpc {

using steady_time = std::chrono::steady_clock::time_point;

class wait_list {
 public:
  wait_list() = default;
  wait_list(const wait_list&) = delete;
  wait_list& operator=(const wait_list&) = delete;

  // Suspends until notify_all() or `deadline`. True if notified (as far as can be told).
  boost::asio::awaitable<bool> wait_until(steady_time deadline);
  // Wakes every current waiter (they resume later, from the io_context).
  void notify_all();
  size_t size() const { return _timers.size(); }

 private:
  std::list<boost::asio::steady_timer*> _timers;
};

}  // namespace gregor::rpc
