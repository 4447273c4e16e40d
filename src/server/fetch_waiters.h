#pragma once
// fetch_waiters: parks long-polling Fetch requests (max.wait.ms / min.bytes) until an append to one
// of their partitions or their deadline, whichever comes first. Appends call notify(tp).
//
// Threading: the broker's io thread only. Bounded: a parked fetch holds one timer; dead entries are
// pruned whenever a partition's list is touched.
#include <memory>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gregor/base/types.h"

namespace gregor::server {

class fetch_waiters {
 public:
  explicit fetch_waiters(boost::asio::io_context& io) : _io(io) {}

  // Returns after notify() on any of `tps`, after timeout_ms, or at shutdown.
  boost::asio::awaitable<void> wait(const std::vector<topic_partition>& tps, int64_t timeout_ms);
  void notify(const topic_partition& tp);
  // Wakes everybody (graceful stop).
  void notify_all();
  size_t parked() const;

 private:
  boost::asio::io_context& _io;
  std::unordered_map<topic_partition, std::vector<std::weak_ptr<boost::asio::steady_timer>>> _by_tp;
};

}  // namespace gregor::server
