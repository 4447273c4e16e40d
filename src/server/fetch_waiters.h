#pragma once
// fetch_waiters: parks long-polling Fetch requests (max.wait.ms / min.bytes) until an append to one
// of their partitions or their deadline, whichever comes first. Appends call notify(tp).
// A follower's parked Fetch also ends when this broker becomes the leader of another partition
// that follower replicates (notify_replica): the follower's fetch session lacks that partition
// until its next request, and a partition created for an acks=all producer would otherwise wait
// out replica.fetch.wait.max.ms (500 ms) before its first record is replicated. When the follower
// has not yet learnt of the partition itself (its metadata lags this broker's), it asks again
// without it: until its fetch lists the partition (or join_expiry_ms), its fetches park for at most
// join_poll_ms (expect_join / awaiting_join).
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

  enum class woken { data_or_timeout, replica };
  // Returns after notify() on any of `tps`, after timeout_ms, or at shutdown; `woken::replica`
  // after notify_replica(replica) (replica: the follower that sent the Fetch, or no_node).
  boost::asio::awaitable<woken> wait(const std::vector<topic_partition>& tps, int64_t timeout_ms,
                                     node_id replica = no_node);
  void notify(const topic_partition& tp);
  void notify_replica(node_id replica);

  static constexpr int64_t join_poll_ms = 10;
  static constexpr int64_t join_expiry_ms = 10'000;
  // `replica` replicates tp, which this broker began to lead at now_ms.
  void expect_join(node_id replica, const topic_partition& tp, int64_t now_ms);
  // Forgets the partitions `replica`'s fetch lists (and expired ones); whether any other
  // partition is still expected to join its fetches.
  bool awaiting_join(node_id replica, const std::vector<topic_partition>& listed, int64_t now_ms);
  // Wakes everybody (graceful stop).
  void notify_all();
  size_t parked() const;

 private:
  struct waiter {
    explicit waiter(boost::asio::io_context& io) : timer(io) {}
    boost::asio::steady_timer timer;
    bool replica_woken = false;
  };
  static void wake(std::vector<std::weak_ptr<waiter>>& list, bool replica);
  boost::asio::io_context& _io;
  std::unordered_map<topic_partition, std::vector<std::weak_ptr<waiter>>> _by_tp;
  std::unordered_map<node_id, std::vector<std::weak_ptr<waiter>>> _by_replica;
  std::unordered_map<node_id, std::unordered_map<topic_partition, int64_t>> _joins;  // -> since (ms)
};

}  // namespace gregor::server
