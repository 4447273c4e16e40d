#include "fetch_waiters.h"

#include <algorithm>
#include <unordered_set>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gregor::server {
namespace asio = boost::asio;

asio::awaitable<fetch_waiters::woken> fetch_waiters::wait(const std::vector<topic_partition>& tps,
                                                          int64_t timeout_ms, node_id replica) {
  auto w = std::make_shared<waiter>(_io);
  w->timer.expires_after(std::chrono::milliseconds(timeout_ms));
  const auto park = [&w](std::vector<std::weak_ptr<waiter>>& list) {
    std::erase_if(list, [](const auto& e) { return e.expired(); });
    list.push_back(w);
  };
  for (const auto& tp : tps) park(_by_tp[tp]);
  if (replica != no_node) park(_by_replica[replica]);
  co_await w->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return w->replica_woken ? woken::replica : woken::data_or_timeout;
}

// Ends every wait still parked in `list` (replica: as woken::replica).
void fetch_waiters::wake(std::vector<std::weak_ptr<waiter>>& list, bool replica) {
  for (auto& w : list)
    if (auto t = w.lock()) {
      t->replica_woken = t->replica_woken || replica;
      t->timer.cancel();
    }
}

void fetch_waiters::notify(const topic_partition& tp) {
  if (auto it = _by_tp.find(tp); it != _by_tp.end()) wake(_by_tp.extract(it).mapped(), false);
}

void fetch_waiters::notify_replica(node_id replica) {
  if (auto it = _by_replica.find(replica); it != _by_replica.end()) wake(_by_replica.extract(it).mapped(), true);
}

void fetch_waiters::expect_join(node_id replica, const topic_partition& tp, int64_t now_ms) {
  _joins[replica][tp] = now_ms;
}

bool fetch_waiters::awaiting_join(node_id replica, const std::vector<topic_partition>& listed, int64_t now_ms) {
  auto it = _joins.find(replica);
  if (it == _joins.end()) return false;
  auto& expected = it->second;
  for (const auto& tp : listed) expected.erase(tp);
  std::erase_if(expected, [now_ms](const auto& e) { return now_ms - e.second >= join_expiry_ms; });
  if (!expected.empty()) return true;
  _joins.erase(it);
  return false;
}

void fetch_waiters::notify_all() {
  auto all = std::exchange(_by_tp, {});
  auto replicas = std::exchange(_by_replica, {});
  for (auto& [tp, list] : all) wake(list, false);
  for (auto& [r, list] : replicas) wake(list, false);
}

size_t fetch_waiters::parked() const {
  // Each parked fetch holds one waiter, listed once per partition and once under its replica.
  std::unordered_set<const waiter*> live;
  for (const auto& [tp, list] : _by_tp)
    for (const auto& w : list)
      if (auto p = w.lock()) live.insert(p.get());
  for (const auto& [r, list] : _by_replica)
    for (const auto& w : list)
      if (auto p = w.lock()) live.insert(p.get());
  return live.size();
}

}  // namespace gregor::server
